// SPDX-License-Identifier: GPL-2.0

//! The transports: each finds its devices on its bus, registers a virtio
//! device for each, and gives the SUSPEND engine access to the device.

pub(crate) mod mmio;
pub(crate) mod pci;

use kernel::{bindings, device, prelude::*};

use crate::logic::mmio::{check_queue_size, QueueSizeError, QUEUE_SIZE_MAX};
use crate::suspend::SuspendTransport;
use crate::virtio::{self, Vring};

/// The transport device behind `vdev`, if one of our transports
/// registered it.
pub(crate) fn lookup(vdev: &virtio::Device) -> Option<&dyn SuspendTransport> {
    if let Some(device) = vdev.transport::<mmio::MmioDevice>() {
        return Some(device);
    }
    vdev.transport::<pci::PciDevice>()
        .map(|device| device as &dyn SuspendTransport)
}

/// The size of a ring for queue `index`, whose device offers `offered`
/// entries at most; on `dev`, why there is none.
fn queue_size(dev: &device::Device, index: u16, offered: u32) -> Result<u32> {
    check_queue_size(offered).map_err(|e| match e {
        QueueSizeError::Unavailable => {
            dev_err!(dev, "queue {index} is not available (size 0)\n");
            ENOENT
        }
        QueueSizeError::TooLarge(n) => {
            dev_err!(
                dev,
                "queue {index}: device offers {n} entries, more than a ring can hold ({QUEUE_SIZE_MAX})\n"
            );
            EINVAL
        }
    })
}

/// A queue a transport set up, with its ring.
trait Queue {
    fn vring(&self) -> &Vring;
}

/// Sets up, with `setup`, a queue for each entry of `infos` that has a
/// name, numbered from 0 in order, and stores its ring in `vqs` (NULL for
/// an entry without a name), as `find_vqs` must: the queues, in order.
fn create_queues<Q: Queue>(
    vqs: &mut [*mut bindings::virtqueue],
    infos: &[bindings::virtqueue_info],
    mut setup: impl FnMut(u16, &bindings::virtqueue_info) -> Result<Q>,
) -> Result<KVec<Q>> {
    let mut queues = KVec::with_capacity(infos.len(), GFP_KERNEL)?;
    let mut index = 0u16;
    for (slot, info) in vqs.iter_mut().zip(infos) {
        *slot = core::ptr::null_mut();
        if info.name.is_null() {
            continue;
        }
        let queue = setup(index, info)?;
        *slot = queue.vring().as_ptr();
        queues.push(queue, GFP_KERNEL)?;
        index += 1;
    }
    Ok(queues)
}

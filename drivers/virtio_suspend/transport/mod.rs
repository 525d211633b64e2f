// SPDX-License-Identifier: GPL-2.0

//! The transports: each finds its devices on its bus, registers a virtio
//! device for each, and gives the SUSPEND engine access to the device.

pub(crate) mod mmio;
pub(crate) mod pci;

use kernel::{device, prelude::*};

use crate::compat::irq::IrqReturn;
use crate::logic::mmio::{check_queue_size, QueueSizeError, QUEUE_SIZE_MAX};
use crate::suspend::Driven;
use kernel::virtio::{transport::Queue, Device};

/// The transport device behind `vdev`, if one of our transports
/// registered it.
pub(crate) fn lookup(vdev: &Device) -> Option<Driven<'_>> {
    if let Some(device) = vdev.transport::<mmio::MmioDevice>() {
        return Some(device.into());
    }
    vdev.transport::<pci::PciDevice>().map(Driven::from)
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

/// Runs the interrupt handling of each of `queues`: whether any had work.
fn queues_interrupt<Q: Queue>(queues: &[Q], irq: u32) -> IrqReturn {
    let mut ret = IrqReturn::None;
    for q in queues {
        if q.vring().interrupt(irq) {
            ret = IrqReturn::Handled;
        }
    }
    ret
}

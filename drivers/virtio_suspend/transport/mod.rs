// SPDX-License-Identifier: GPL-2.0

//! The transports: each finds its devices on its bus, registers a virtio
//! device for each, and gives the SUSPEND engine access to the device.

pub(crate) mod mmio;
pub(crate) mod pci;

use core::ptr;

use kernel::bindings;

use crate::suspend::SuspendTransport;
use crate::virtio::Transport;

/// The transport device behind `vdev`, if one of our transports
/// registered it: the config operations table of each is a static, so its
/// address says whose a device is.
///
/// # Safety
///
/// `vdev` must be a virtio device that stays registered for `'a`.
pub(crate) unsafe fn lookup<'a>(
    vdev: *mut bindings::virtio_device,
) -> Option<&'a dyn SuspendTransport> {
    // SAFETY: `vdev` is live (caller); `config` is set before it was
    // registered and never changed after.
    let ops = unsafe { (*vdev).config };
    if ptr::eq(ops, mmio::CONFIG_OPS.as_raw()) {
        // SAFETY: the mmio transport's table is only given to the virtio
        // devices of `MmioDevice`s, and `vdev` is registered for `'a`.
        return Some(unsafe { mmio::MmioDevice::from_vdev(vdev) });
    }
    if ptr::eq(ops, pci::CONFIG_OPS.as_raw()) {
        // SAFETY: As for mmio.
        return Some(unsafe { pci::PciDevice::from_vdev(vdev) });
    }
    None
}

// SPDX-License-Identifier: GPL-2.0

//! Resumes one of our devices before its virtio driver is unbound.
//!
//! A device can be left suspended through the debugfs control file; a
//! driver's remove then finds its requests held (virtio_blk's
//! `del_gendisk()` waits for them forever) or its queues already freed by
//! a classic freeze. The driver core tells the bus's notifiers before it
//! calls remove (`BUS_NOTIFY_UNBIND_DRIVER`, with the device locked), so
//! the device is resumed there. The virtio bus is not exported: the
//! notifier goes onto it when the first device is registered.

use kernel::prelude::*;

use crate::transport;
use kernel::virtio::transport::{UnbindHandler, UnbindNotifier, UnbindNotifierOpen};
use kernel::virtio::{Device, Locked};

/// Resumes a device of ours that is being unbound.
pub(crate) struct ResumeBeforeUnbind;

impl UnbindHandler for ResumeBeforeUnbind {
    fn unbinding(locked: &Locked<'_>) {
        if let Some(device) = transport::lookup(locked.device()) {
            device.resume_before_unbind(locked);
        }
    }
}

static WATCH: UnbindNotifier<ResumeBeforeUnbind> = UnbindNotifier::new();

/// Opens the watch: [`watch`] works from now until the guard is dropped.
/// No device may be probed before.
pub(crate) fn open() -> Result<UnbindNotifierOpen<ResumeBeforeUnbind>> {
    WATCH.open()
}

/// Watches the bus `vdev` is on, the virtio bus, from now on.
pub(crate) fn watch(vdev: &Device) -> Result {
    WATCH.watch(vdev)
}

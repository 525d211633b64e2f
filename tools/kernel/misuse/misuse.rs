// SPDX-License-Identifier: GPL-2.0

//! Uses of `kernel::virtio` that must not compile: each line marked
//! `expect: <code>` must fail with that error, and no other line may
//! (`check.py` builds this against the guest kernel). A safe API that
//! stops refusing one of them has lost a guarantee its users rely on.

use kernel::prelude::*;
use kernel::virtio::transport::{
    EmbeddedDevice, EmbedsDevice, Registered, UnbindHandler, UnbindNotifier,
};
use kernel::virtio::{Device, Embedded, Locked};

module! {
    type: Misuse,
    name: "virtio_misuse",
    license: "GPL",
}

struct Misuse;

impl kernel::Module for Misuse {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Misuse)
    }
}

/// No device of the transport's own before it is registered: its
/// `struct device`, locks and queue list are zero until then.
fn embedded_device_before_registration() {
    let _ = Device::<Embedded>::new(); // expect: E0599
    let unregistered = EmbeddedDevice::new();
    unregistered.mark_broken(); // expect: E0599
    let _ = unregistered.as_dev(); // expect: E0599
}

/// A transport device that is not registered (yet) does not lead to its
/// virtio device.
fn unregistered_transport<T: EmbedsDevice>(transport: T) {
    let _ = transport.virtio(); // expect: E0599
    let _ = Registered::from_ref(&transport); // expect: E0624
    let _ = Registered(transport); // expect: E0423
}

/// Only the kernel crate makes a `Device` from a pointer.
fn device_from_pointer(ptr: *mut kernel::bindings::virtio_device) {
    // SAFETY: Never runs: the line must not compile.
    let _ = unsafe { Device::<Embedded>::from_raw(ptr) }; // expect: E0624
}

/// What calls into the driver needs the device's lock: the driver core
/// unbinds drivers under it.
fn driver_without_lock(vdev: &Device<Embedded>) {
    let _ = vdev.classic_freeze(); // expect: E0061
    let _ = vdev.classic_restore(); // expect: E0061
    let _ = vdev.driver_name(); // expect: E0599
}

/// Only the driver core's notification makes a lock its caller holds; a
/// lock stays with the task that took it; a driver does not lock.
fn lock_misuse(vdev: &Device<Embedded>, any: &Device) {
    // SAFETY: Never runs: the line must not compile.
    let _ = unsafe { Locked::held_by_caller(any) }; // expect: E0624
    let locked = vdev.lock();
    sent(locked); // expect: E0277
    let _ = any.lock(); // expect: E0599
}

fn sent<T: Send>(_: T) {}

/// Only the kernel crate's restore of a frozen driver runs after every
/// other unbind handler: one after it could freeze the driver again.
struct Late;

impl UnbindHandler for Late {
    fn unbinding(_locked: &Locked<'_>) {}
}

static LATE: UnbindNotifier<Late> = UnbindNotifier::last(); // expect: E0624

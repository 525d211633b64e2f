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

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::{
    bindings, container_of,
    ffi::{c_int, c_ulong, c_void},
    new_mutex,
    prelude::*,
    sync::Mutex,
    types::Opaque,
};

use crate::transport;

/// The bus the notifier is on.
struct Bus(NonNull<bindings::bus_type>);

// SAFETY: a `bus_type` is static data of the driver core, usable from
// any thread.
unsafe impl Send for Bus {}

/// The notifier; at most one per module, owned by the module.
#[pin_data(PinnedDrop)]
pub(crate) struct UnbindWatch {
    nb: Opaque<bindings::notifier_block>,
    /// Where `nb` is registered, once it is.
    #[pin]
    bus: Mutex<Option<Bus>>,
}

// SAFETY: the notifier block is only handed to the driver core, which
// may use it from any thread; the rest is a mutex.
unsafe impl Send for UnbindWatch {}
// SAFETY: As for `Send`.
unsafe impl Sync for UnbindWatch {}

/// The module's `UnbindWatch`, for `watch` (probe has no other way to it).
static WATCH: AtomicPtr<UnbindWatch> = AtomicPtr::new(ptr::null_mut());

impl UnbindWatch {
    /// Creates the module's watch; no device may be probed before.
    pub(crate) fn new() -> Result<Pin<KBox<Self>>> {
        // SAFETY: all-zero is a valid, unregistered `notifier_block`.
        let mut nb: bindings::notifier_block = unsafe { core::mem::zeroed() };
        nb.notifier_call = Some(notify);
        let watch = KBox::pin_init(
            pin_init!(Self {
                nb: Opaque::new(nb),
                bus <- new_mutex!(None, "virtio_suspend_unbind_watch"),
            }),
            GFP_KERNEL,
        )?;
        // The pinned box outlives every probe: the module drops it after
        // unregistering the driver.
        WATCH.store(ptr::from_ref(&*watch).cast_mut(), Ordering::Release);
        Ok(watch)
    }
}

#[pinned_drop]
impl PinnedDrop for UnbindWatch {
    fn drop(self: Pin<&mut Self>) {
        WATCH.store(ptr::null_mut(), Ordering::Release);
        if let Some(bus) = self.bus.lock().take() {
            // SAFETY: registered on `bus` in `watch`, with this `nb`.
            unsafe { bindings::bus_unregister_notifier(bus.0.as_ptr(), self.nb.get()) };
        }
    }
}

/// Watches the bus `vdev` is on, the virtio bus, from now on.
pub(crate) fn watch(vdev: &crate::virtio::Device) -> Result {
    // SAFETY: `vdev` is registered, so `bus` is the virtio bus.
    let bus = unsafe { (*vdev.as_raw()).dev.bus };
    let watch = WATCH.load(Ordering::Acquire);
    // SAFETY: set by `UnbindWatch::new` before the driver was registered
    // and cleared only after it was unregistered, so live during probe.
    let watch = unsafe { watch.as_ref() }.ok_or(ENODEV)?;
    let mut registered = watch.bus.lock();
    if registered.is_some() {
        return Ok(());
    }
    let bus = NonNull::new(bus.cast_mut()).ok_or(EINVAL)?;
    // SAFETY: `nb` is pinned in the module's `UnbindWatch`, which
    // unregisters it before it is freed; `bus` is the registered virtio
    // bus, which the virtio core (built in or our dependency) outlives us.
    kernel::error::to_result(unsafe {
        bindings::bus_register_notifier(bus.as_ptr(), watch.nb.get())
    })?;
    *registered = Some(Bus(bus));
    Ok(())
}

/// # Safety
///
/// Only for the virtio bus's notifier chain: `data` is a device of that
/// bus.
unsafe extern "C" fn notify(
    _nb: *mut bindings::notifier_block,
    action: c_ulong,
    data: *mut c_void,
) -> c_int {
    if action != bindings::bus_notifier_event_BUS_NOTIFY_UNBIND_DRIVER as c_ulong {
        return bindings::NOTIFY_DONE as c_int;
    }
    let dev = data.cast::<bindings::device>();
    // SAFETY: every device of the virtio bus is embedded in a
    // `virtio_device`, registered (it is being unbound, not released).
    let device =
        unsafe { transport::lookup(container_of!(dev, bindings::virtio_device, dev).cast_mut()) };
    match device {
        Some(device) => {
            device.resume_before_unbind();
            bindings::NOTIFY_OK as c_int
        }
        None => bindings::NOTIFY_DONE as c_int,
    }
}

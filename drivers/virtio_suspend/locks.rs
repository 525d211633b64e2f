// SPDX-License-Identifier: GPL-2.0

//! The locks the PM core and the driver core hold while they suspend,
//! resume, bind or unbind a device, for the paths that do the same
//! outside them (the debugfs control file).

use core::ptr::NonNull;

use kernel::{bindings, ffi::c_uint};

extern "C" {
    fn virtio_suspend_lock_system_sleep() -> c_uint;
    fn virtio_suspend_unlock_system_sleep(flags: c_uint);
}

/// `lock_system_sleep()`: no system sleep or hibernation starts while this
/// is held (`enter_state()` tries the same mutex and fails with `-EBUSY`),
/// and one in progress is waited for. Released on drop.
pub(crate) struct SystemSleepGuard(c_uint);

impl SystemSleepGuard {
    pub(crate) fn lock() -> Self {
        // SAFETY: callable in process context with no lock held that a
        // system transition takes: a debugfs write holds only its file
        // system's `sb_writers`, which no 6.12 transition takes.
        Self(unsafe { virtio_suspend_lock_system_sleep() })
    }
}

impl Drop for SystemSleepGuard {
    fn drop(&mut self) {
        // SAFETY: locked in `lock`, with these flags.
        unsafe { virtio_suspend_unlock_system_sleep(self.0) };
    }
}

/// `device_lock()` of a device, held: the driver core holds it while it
/// binds or unbinds a driver, and the PM core while it runs the device's
/// sleep callbacks. Released on drop.
///
/// # Invariants
///
/// `0` is a device whose `mutex` this guard holds.
pub(crate) struct DeviceLockGuard(NonNull<bindings::device>);

impl DeviceLockGuard {
    /// Takes the lock if nobody holds it.
    ///
    /// # Safety
    ///
    /// `dev` must point to a device that stays valid while the returned
    /// guard exists.
    pub(crate) unsafe fn try_lock(dev: NonNull<bindings::device>) -> Option<Self> {
        // SAFETY: `dev` is valid (caller); `device_trylock()` is this.
        let locked = unsafe { bindings::mutex_trylock(&raw mut (*dev.as_ptr()).mutex) } != 0;
        // INVARIANT: locked just above. Lazily: a guard made when the lock
        // was not taken would unlock it, someone else's, on drop.
        locked.then(|| Self(dev))
    }

    /// Whether a driver is bound to the device.
    pub(crate) fn has_driver(&self) -> bool {
        // SAFETY: `dev` is valid and locked (type invariant): the driver
        // core changes `driver` only with the lock held.
        !unsafe { (*self.0.as_ptr()).driver }.is_null()
    }
}

impl Drop for DeviceLockGuard {
    fn drop(&mut self) {
        // SAFETY: held by this guard (type invariant).
        unsafe { bindings::mutex_unlock(&raw mut (*self.0.as_ptr()).mutex) };
    }
}

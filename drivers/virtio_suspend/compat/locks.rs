// SPDX-License-Identifier: GPL-2.0

//! The locks the PM core and the driver core hold while they suspend,
//! resume, bind or unbind a device, for the paths that do the same
//! outside them (the debugfs control file).

use kernel::{bindings, device::Device, ffi::c_uint};

use super::device::as_raw;

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
/// The guard holds the `mutex` of `dev`.
pub(crate) struct DeviceLockGuard<'a> {
    dev: &'a Device,
}

impl<'a> DeviceLockGuard<'a> {
    /// Takes the lock of `dev` if nobody holds it.
    pub(crate) fn try_lock(dev: &'a Device) -> Option<Self> {
        // SAFETY: `dev` is a live device; `device_trylock()` is this.
        let locked = unsafe { bindings::mutex_trylock(&raw mut (*as_raw(dev)).mutex) } != 0;
        // INVARIANT: locked just above. Lazily: a guard made when the lock
        // was not taken would unlock it, someone else's, on drop.
        locked.then(|| Self { dev })
    }

    /// Whether a driver is bound to the device.
    pub(crate) fn has_driver(&self) -> bool {
        // SAFETY: a live device, locked (type invariant): the driver core
        // changes `driver` only with the lock held.
        !unsafe { (*as_raw(self.dev)).driver }.is_null()
    }
}

impl Drop for DeviceLockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: held by this guard (type invariant).
        unsafe { bindings::mutex_unlock(&raw mut (*as_raw(self.dev)).mutex) };
    }
}

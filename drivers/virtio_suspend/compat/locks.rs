// SPDX-License-Identifier: GPL-2.0

//! The lock the PM core holds across a system sleep, for the path that
//! suspends and resumes outside one (the debugfs control file); a
//! device's own lock is `kernel::virtio::Device::lock`.

use kernel::ffi::c_uint;

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

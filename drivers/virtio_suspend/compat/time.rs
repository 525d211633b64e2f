// SPDX-License-Identifier: GPL-2.0

//! The monotonic clock and sleeping, which 6.12's kernel crate does not
//! wrap (later kernels have `kernel::time::Ktime` and `fsleep`).

use kernel::bindings;

/// Microseconds on the monotonic clock.
pub(crate) fn now_us() -> u64 {
    // SAFETY: callable in any context.
    (unsafe { bindings::ktime_get() } / 1000) as u64
}

/// Sleeps `us` microseconds on a high-resolution timer with no slack
/// (`usleep_range` with equal bounds), uninterruptibly: a poll that must
/// see a change within its interval cannot have the timer deferred by
/// up to a quarter. Process context only (it may sleep).
pub(crate) fn sleep_us(us: u32) {
    let us = u64::from(us);
    // SAFETY: sleeping is valid in process context, the caller's.
    unsafe { bindings::usleep_range_state(us as _, us as _, bindings::TASK_UNINTERRUPTIBLE) };
}

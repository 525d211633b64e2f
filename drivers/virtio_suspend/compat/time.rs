// SPDX-License-Identifier: GPL-2.0

//! The monotonic clock and sleeping, which 6.12's kernel crate does not
//! wrap (later kernels have `kernel::time::Ktime` and `fsleep`).

use kernel::bindings;

/// Microseconds on the monotonic clock.
pub(crate) fn now_us() -> u64 {
    // SAFETY: callable in any context.
    (unsafe { bindings::ktime_get() } / 1000) as u64
}

/// Sleeps `us` microseconds, or up to a quarter more (`usleep_range`),
/// uninterruptibly. Process context only (it may sleep).
pub(crate) fn sleep_us(us: u32) {
    let us = u64::from(us);
    // SAFETY: sleeping is valid in process context, the caller's.
    unsafe {
        bindings::usleep_range_state(
            us as _,
            (us + us / 4 + 1) as _,
            bindings::TASK_UNINTERRUPTIBLE,
        )
    };
}

// SPDX-License-Identifier: GPL-2.0

//! Microseconds on the monotonic clock (6.12's `kernel::time::Ktime`),
//! and sleeping, which 6.12's kernel crate does not wrap (later kernels
//! have `fsleep`).

use kernel::{bindings, time::Ktime};

/// Microseconds on the monotonic clock (counted from boot: never negative).
pub(crate) fn now_us() -> u64 {
    (Ktime::ktime_get().to_ns() / 1000) as u64
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

// SPDX-License-Identifier: GPL-2.0

//! The context code runs in (later kernels: `kernel::task::might_sleep`).

use kernel::bindings;

/// Says the caller may sleep: a debugging kernel reports a call from
/// atomic context ("sleeping function called from invalid context").
pub(crate) fn might_sleep() {
    // SAFETY: only checks the context (guest-kernel patch 0011's helper).
    unsafe { bindings::might_sleep() };
}

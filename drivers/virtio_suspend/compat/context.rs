// SPDX-License-Identifier: GPL-2.0

//! The context code runs in (later kernels: `kernel::task::might_sleep`).

extern "C" {
    fn virtio_suspend_might_sleep();
}

/// Says the caller may sleep: a debugging kernel reports a call from
/// atomic context ("sleeping function called from invalid context").
pub(crate) fn might_sleep() {
    // SAFETY: only checks the context.
    unsafe { virtio_suspend_might_sleep() };
}

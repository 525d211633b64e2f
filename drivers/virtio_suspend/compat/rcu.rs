// SPDX-License-Identifier: GPL-2.0

//! RCU grace periods (later kernels: `kernel::sync::rcu`).

use kernel::bindings;

/// Waits for every RCU read-side critical section that started before,
/// expedited: a normal grace period costs scheduler ticks. Process
/// context only (it sleeps).
pub(crate) fn synchronize_rcu_expedited() {
    // SAFETY: sleeping is valid in process context, the caller's.
    unsafe { bindings::synchronize_rcu_expedited() };
}

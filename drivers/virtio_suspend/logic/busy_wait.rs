// SPDX-License-Identifier: GPL-2.0

//! Queues that a driver waits on synchronously.
//!
//! Some drivers add a buffer, notify, then spin in `virtqueue_get_buf()`
//! until the device has used it, holding their own locks and, for the
//! console, with interrupts off. While a device is suspended its queues
//! are held and nothing is used, so such a driver would spin until the
//! resume, or forever when the resume itself has to get past it (the
//! kernel console on `hvc0` prints during system sleep; a shell on `hvc0`
//! is where an administrator types `resume`). Those queues are refused
//! instead of held: adding fails as on a full ring, which each of these
//! drivers takes without waiting.
//!
//! The rule needs no list of drivers: a queue created without a callback
//! is one whose driver learns of used buffers only by polling it, so it
//! waits on each buffer it adds. In 6.12 those are `virtio_net`'s control
//! queue (`virtnet_send_command()`, under rtnl), `virtio_console`'s
//! `control-o` (`__send_control_msg()`) and `virtio_iommu`'s request queue
//! (`__viommu_sync_req()`, interrupts off). The rule refuses one queue
//! that is polled without a wait: `virtio_balloon`'s `free_page_vq`,
//! whose free page hints the driver drops when an add fails (hints are
//! advisory). Every other queue of the 6.12 drivers has a callback. One
//! driver also polls a queue that has one:
//! `virtio_console`'s `put_chars()` spins on its port's output queue (for
//! hvc; its other writers wait for the callback), and every port's output
//! queue is named `output`. That is the one exception, named below.

/// `(driver, queue name)`: the queues with a callback that their driver
/// polls all the same (see the module documentation).
const POLLED_DESPITE_CALLBACK: &[(&str, &str)] = &[("virtio_console", "output")];

/// Whether the driver `driver` waits on each buffer it adds to its queue
/// named `queue`, created with a callback or not (`has_callback`).
pub(crate) fn is_busy_waited(driver: &[u8], queue: &[u8], has_callback: bool) -> bool {
    !has_callback
        || POLLED_DESPITE_CALLBACK
            .iter()
            .any(|&(d, q)| d.as_bytes() == driver && q.as_bytes() == queue)
}

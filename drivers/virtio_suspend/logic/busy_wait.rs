// SPDX-License-Identifier: GPL-2.0

//! Queues that a stock driver waits on synchronously.
//!
//! Some 6.12 drivers add a buffer, notify, then spin in
//! `virtqueue_get_buf()` until the device has used it, holding their own
//! locks and, for the console, with interrupts off. While a device is
//! suspended its queues are held and nothing is used, so such a driver
//! would spin until the resume, or forever when the resume itself has to
//! get past it (the kernel console on `hvc0` prints during system sleep;
//! a shell on `hvc0` is where an administrator types `resume`). Those
//! queues are refused instead of held: adding fails as on a full ring,
//! which each of these drivers takes without waiting.

/// `(driver, queue name)`: the queues whose driver spins on each buffer.
/// virtio_console names every port's output queue `output`; only hvc's
/// spins, but the transport cannot tell the ports apart.
const BUSY_WAITED: &[(&str, &str)] = &[
    // `__send_to_port()` for hvc output (`put_chars()`): the console.
    ("virtio_console", "output"),
    // `__send_control_msg()`: port open, close and ready messages.
    ("virtio_console", "control-o"),
    // `virtnet_send_command()`, under rtnl.
    ("virtio_net", "control"),
];

/// Whether `driver` waits on each buffer it adds to its queue `queue`.
pub(crate) fn is_busy_waited(driver: &[u8], queue: &[u8]) -> bool {
    BUSY_WAITED
        .iter()
        .any(|&(d, q)| d.as_bytes() == driver && q.as_bytes() == queue)
}

// SPDX-License-Identifier: GPL-2.0

//! Which queues are refused instead of held while suspended.

use crate::logic::busy_wait::is_busy_waited;

#[test]
fn queues_without_a_callback_are_busy_waited_whatever_their_name() {
    // virtio_net's control queue, virtio_console's control-o and
    // virtio_iommu's request queue (6.12): no callback.
    assert!(is_busy_waited(b"virtio_net", b"control", false));
    assert!(is_busy_waited(b"virtio_console", b"control-o", false));
    assert!(is_busy_waited(b"virtio_iommu", b"request", false));
    // A driver not known to the rule, a queue renamed: the rule holds.
    assert!(is_busy_waited(b"some_future_driver", b"cmd", false));
    assert!(is_busy_waited(b"", b"", false));
}

#[test]
fn console_output_is_busy_waited_despite_its_callback() {
    assert!(is_busy_waited(b"virtio_console", b"output", true));
}

#[test]
fn queues_with_a_callback_are_held() {
    assert!(!is_busy_waited(b"virtio_console", b"input", true));
    assert!(!is_busy_waited(b"virtio_console", b"control-i", true));
    assert!(!is_busy_waited(b"virtio_net", b"input.0", true));
    assert!(!is_busy_waited(b"virtio_net", b"output.0", true));
    assert!(!is_busy_waited(b"virtio_blk", b"req.0", true));
    assert!(!is_busy_waited(b"virtio_iommu", b"event", true));
}

#[test]
fn the_exception_matches_driver_and_name_whole() {
    assert!(!is_busy_waited(b"virtio_blk", b"output", true));
    assert!(!is_busy_waited(b"virtio_console", b"output.1", true));
    assert!(!is_busy_waited(b"virtio_console", b"outpu", true));
    assert!(!is_busy_waited(b"virtio_consol", b"output", true));
    assert!(!is_busy_waited(b"", b"", true));
}

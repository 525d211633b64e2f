// SPDX-License-Identifier: GPL-2.0

//! Which queues are refused instead of held while suspended.

use crate::logic::busy_wait::is_busy_waited;

#[test]
fn console_output_and_control_out_are_busy_waited() {
    assert!(is_busy_waited(b"virtio_console", b"output"));
    assert!(is_busy_waited(b"virtio_console", b"control-o"));
}

#[test]
fn console_input_queues_are_held() {
    assert!(!is_busy_waited(b"virtio_console", b"input"));
    assert!(!is_busy_waited(b"virtio_console", b"control-i"));
}

#[test]
fn net_control_queue_is_busy_waited_but_not_its_data_queues() {
    assert!(is_busy_waited(b"virtio_net", b"control"));
    assert!(!is_busy_waited(b"virtio_net", b"input.0"));
    assert!(!is_busy_waited(b"virtio_net", b"output.0"));
}

#[test]
fn names_match_whole_not_by_prefix() {
    assert!(!is_busy_waited(b"virtio_blk", b"output"));
    assert!(!is_busy_waited(b"virtio_console", b"output.1"));
    assert!(!is_busy_waited(b"virtio_console", b"outpu"));
    assert!(!is_busy_waited(b"virtio_consol", b"output"));
    assert!(!is_busy_waited(b"", b""));
}

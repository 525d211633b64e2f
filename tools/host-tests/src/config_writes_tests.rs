// SPDX-License-Identifier: GPL-2.0

//! Config-space writes held while suspended.

use crate::logic::config_writes::*;

fn replay(held: &HeldWrites) -> Vec<(usize, Vec<u8>)> {
    held.as_slice()
        .iter()
        .map(|w| (w.offset, w.data().to_vec()))
        .collect()
}

#[test]
fn writes_replay_in_order() {
    let mut held = HeldWrites::new();
    held.hold(4, &[1, 0, 0, 0]).unwrap();
    held.hold(0, &[7]).unwrap();
    held.hold(8, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    assert_eq!(
        replay(&held),
        vec![
            (4, vec![1, 0, 0, 0]),
            (0, vec![7]),
            (8, vec![1, 2, 3, 4, 5, 6, 7, 8])
        ]
    );
}

#[test]
fn a_later_write_of_a_field_replaces_it_and_moves_last() {
    let mut held = HeldWrites::new();
    held.hold(4, &[1, 0, 0, 0]).unwrap();
    held.hold(0, &[7]).unwrap();
    held.hold(4, &[2, 0, 0, 0]).unwrap();
    assert_eq!(replay(&held), vec![(0, vec![7]), (4, vec![2, 0, 0, 0])]);
}

#[test]
fn a_write_of_another_size_at_the_same_offset_is_another_field() {
    let mut held = HeldWrites::new();
    held.hold(4, &[1, 0, 0, 0]).unwrap();
    held.hold(4, &[9]).unwrap();
    assert_eq!(replay(&held), vec![(4, vec![1, 0, 0, 0]), (4, vec![9])]);
}

#[test]
fn bad_lengths_and_overflow_are_refused_not_lost_silently() {
    let mut held = HeldWrites::new();
    assert_eq!(held.hold(0, &[]), Err(HoldError::BadLength(0)));
    assert_eq!(held.hold(0, &[0; 9]), Err(HoldError::BadLength(9)));
    for i in 0..MAX_HELD_WRITES {
        held.hold(i * 4, &[i as u8; 4]).unwrap();
    }
    assert_eq!(held.hold(1000, &[1]), Err(HoldError::Full));
    // An already held field can still be rewritten when full.
    held.hold(0, &[0xaa; 4]).unwrap();
    assert_eq!(held.as_slice().len(), MAX_HELD_WRITES);
    assert_eq!(held.as_slice().last().unwrap().data(), &[0xaa; 4]);
    held.clear();
    assert!(held.as_slice().is_empty());
}

#[test]
fn reads_see_the_held_writes_over_the_device() {
    let mut held = HeldWrites::new();
    // virtio_blk's cache_type store: wce (1 byte at 0x20), then read back.
    held.hold(0x20, &[1]).unwrap();
    let mut byte = [0u8];
    held.overlay(0x20, &mut byte);
    assert_eq!(byte, [1]);
    // A wider read around it: only the held byte changes.
    let mut word = [0xaa; 4];
    held.overlay(0x1f, &mut word);
    assert_eq!(word, [0xaa, 1, 0xaa, 0xaa]);
    // A read elsewhere, or just past it, sees the device.
    let mut other = [0x55; 2];
    held.overlay(0x21, &mut other);
    assert_eq!(other, [0x55; 2]);
    held.overlay(0x1e, &mut other);
    assert_eq!(other, [0x55; 2]);
    // Overlapping writes: the newest wins, whatever their order in a read.
    held.hold(0x10, &[1, 2, 3, 4]).unwrap();
    held.hold(0x12, &[9, 9]).unwrap();
    let mut all = [0u8; 8];
    held.overlay(0x10, &mut all);
    assert_eq!(all, [1, 2, 9, 9, 0, 0, 0, 0]);
    held.hold(0x10, &[5, 6, 7, 8]).unwrap();
    held.overlay(0x10, &mut all);
    assert_eq!(
        all[..4],
        [5, 6, 7, 8],
        "the rewrite of 0x10 is newer than 0x12's"
    );
}

// SPDX-License-Identifier: GPL-2.0

//! `samples/rust/rng_pool.rs`: handing out the entropy device's answers.

use crate::rng_pool::hand_out;

#[test]
fn hands_out_in_pieces_then_reports_used_up() {
    let answer: [u8; 64] = core::array::from_fn(|i| i as u8);
    let mut pos = 0;
    let mut out = [0u8; 24];
    assert_eq!(hand_out(&answer, &mut pos, &mut out), (24, false));
    assert_eq!(out[..], answer[..24]);
    assert_eq!(hand_out(&answer, &mut pos, &mut out), (24, false));
    assert_eq!(out[..], answer[24..48]);
    assert_eq!(hand_out(&answer, &mut pos, &mut out), (16, true));
    assert_eq!(out[..16], answer[48..]);
    assert_eq!(pos, 64);
}

#[test]
fn exact_fit_is_used_up() {
    let answer = [7u8; 32];
    let mut pos = 0;
    let mut out = [0u8; 32];
    assert_eq!(hand_out(&answer, &mut pos, &mut out), (32, true));
    assert_eq!(out, answer);
}

#[test]
fn empty_answer_is_used_up_at_once() {
    let mut pos = 0;
    let mut out = [0u8; 8];
    assert_eq!(hand_out(&[], &mut pos, &mut out), (0, true));
    assert_eq!(out, [0u8; 8]);
}

#[test]
fn position_past_the_answer_copies_nothing() {
    let answer = [1u8; 16];
    let mut pos = 40;
    let mut out = [0u8; 8];
    assert_eq!(hand_out(&answer, &mut pos, &mut out), (0, true));
    assert_eq!(pos, 40);
    assert_eq!(out, [0u8; 8]);
}

#[test]
fn empty_output_copies_nothing_and_keeps_the_answer() {
    let answer = [3u8; 16];
    let mut pos = 4;
    assert_eq!(hand_out(&answer, &mut pos, &mut []), (0, false));
    assert_eq!(pos, 4);
}

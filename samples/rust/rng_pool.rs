// SPDX-License-Identifier: GPL-2.0

//! How `rust_virtio_rng` hands out the bytes of the device's answers: pure logic, `core` only,
//! also compiled by `tools/host-tests`.

/// Copies the bytes of `answer` not yet handed out (from `*pos`) into `out`, as many as fit,
/// and advances `*pos`. Returns how many were copied and whether the answer is used up, which
/// is when the driver posts its next request.
///
/// A position past the answer (it cannot happen, but `pos` and the answer come from different
/// places) counts as used up; an empty answer (a device that wrote nothing) is used up at once.
pub(crate) fn hand_out(answer: &[u8], pos: &mut usize, out: &mut [u8]) -> (usize, bool) {
    let avail = answer.get(*pos..).unwrap_or(&[]);
    let n = avail.len().min(out.len());
    out[..n].copy_from_slice(&avail[..n]);
    *pos += n;
    (n, *pos >= answer.len())
}

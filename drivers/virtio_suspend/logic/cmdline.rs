// SPDX-License-Identifier: GPL-2.0

//! The `device=` module parameter: virtio-mmio devices on platforms that
//! describe them neither in ACPI nor in a devicetree.
//!
//! Same syntax as the C driver's `virtio_mmio.device=`:
//! `<size>@<base>:<irq>[:<id>]`, where size takes the K, M and G
//! suffixes of the kernel's `memparse()` and base is decimal, hex (0x) or
//! octal (leading 0), like `%lli`.

/// One device described on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CmdlineDevice {
    pub(crate) base: u64,
    pub(crate) size: u64,
    pub(crate) irq: u32,
    /// Platform device id; the next free one when absent.
    pub(crate) id: Option<u32>,
}

/// Why a `device=` entry was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmdlineError {
    BadSize,
    BadBase,
    BadIrq,
    BadId,
    /// Text left after the last field.
    TrailingText,
    /// The window wraps past the end of the address space.
    Overflow,
}

/// Splits a number in C notation off the front of `s`.
fn number(s: &str) -> Option<(u64, &str)> {
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, hex)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if end == 0 {
        // A lone "0" is zero in octal notation, as `%lli` reads it.
        return (radix == 8).then_some((0, digits));
    }
    let value = u64::from_str_radix(&digits[..end], radix).ok()?;
    Some((value, &digits[end..]))
}

/// Parses one `<size>@<base>:<irq>[:<id>]` entry.
pub(crate) fn parse(entry: &str) -> Result<CmdlineDevice, CmdlineError> {
    let (size, rest) = number(entry).ok_or(CmdlineError::BadSize)?;
    let (shift, rest) = match rest.as_bytes().first() {
        Some(b'K' | b'k') => (10, &rest[1..]),
        Some(b'M' | b'm') => (20, &rest[1..]),
        Some(b'G' | b'g') => (30, &rest[1..]),
        _ => (0, rest),
    };
    let size = size
        .checked_mul(1u64 << shift)
        .filter(|&s| s > 0)
        .ok_or(CmdlineError::BadSize)?;

    let rest = rest.strip_prefix('@').ok_or(CmdlineError::BadBase)?;
    let (base, rest) = number(rest).ok_or(CmdlineError::BadBase)?;
    base.checked_add(size - 1).ok_or(CmdlineError::Overflow)?;

    let rest = rest.strip_prefix(':').ok_or(CmdlineError::BadIrq)?;
    let (irq, rest) = number(rest).ok_or(CmdlineError::BadIrq)?;
    let irq = u32::try_from(irq)
        .ok()
        .filter(|&i| i != 0)
        .ok_or(CmdlineError::BadIrq)?;

    let (id, rest) = match rest.strip_prefix(':') {
        Some(r) => {
            let (id, r) = number(r).ok_or(CmdlineError::BadId)?;
            let id = u32::try_from(id)
                .ok()
                .filter(|&i| i <= i32::MAX as u32)
                .ok_or(CmdlineError::BadId)?;
            (Some(id), r)
        }
        None => (None, rest),
    };
    if !rest.is_empty() {
        return Err(CmdlineError::TrailingText);
    }
    Ok(CmdlineDevice {
        base,
        size,
        irq,
        id,
    })
}

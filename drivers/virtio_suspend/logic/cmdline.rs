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
///
/// Written without slicing by index: the parser runs in the kernel, where
/// a panicking path is not something to leave in for a bad parameter.
fn number(s: &str) -> Option<(u64, &str)> {
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, hex)
    } else if let Some(octal) = s.strip_prefix('0') {
        (8, octal)
    } else {
        (10, s)
    };
    let mut value: u64 = 0;
    let mut rest = digits;
    while let Some(d) = rest.chars().next().and_then(|c| c.to_digit(radix)) {
        value = value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(d))?;
        // Digits are ASCII, so byte 1 is a character boundary.
        rest = rest.get(1..)?;
    }
    if rest.len() == digits.len() {
        // A lone "0" is zero in octal notation, as `%lli` reads it.
        return (radix == 8).then_some((0, digits));
    }
    Some((value, rest))
}

/// The shift of a `memparse()` size suffix at the front of `s`.
fn size_suffix(s: &str) -> (u32, &str) {
    for (shift, suffix) in [(10, ['K', 'k']), (20, ['M', 'm']), (30, ['G', 'g'])] {
        if let Some(rest) = s.strip_prefix(suffix) {
            return (shift, rest);
        }
    }
    (0, s)
}

/// Parses one `<size>@<base>:<irq>[:<id>]` entry.
pub(crate) fn parse(entry: &str) -> Result<CmdlineDevice, CmdlineError> {
    let (size, rest) = number(entry).ok_or(CmdlineError::BadSize)?;
    let (shift, rest) = size_suffix(rest);
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

impl core::fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CmdlineError::BadSize => "size is missing, zero or too large",
            CmdlineError::BadBase => "expected @<base> after the size",
            CmdlineError::BadIrq => "expected :<irq> (1 or more) after the base",
            CmdlineError::BadId => "the :<id> after the irq is not a number up to 2147483647",
            CmdlineError::TrailingText => "unexpected text after the last field",
            CmdlineError::Overflow => "the window runs past the end of the address space",
        })?;
        f.write_str(" (format: <size>@<base>:<irq>[:<id>])")
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A typed view of one device's virtio-mmio register block.
//!
//! Register offsets come from [`Reg`], so a register access can only
//! land inside the register block; configuration-space accesses are
//! checked against the size of the window before they are made.

use crate::compat::io::IoMem;
use crate::logic::mmio::{check_window, config_access, ConfigAccessError, Reg, WindowTooSmall};

/// The register block and configuration space of one virtio-mmio device.
///
/// # Invariants
///
/// `window` holds at least the register block (`check_window`).
#[derive(Clone)]
pub(crate) struct MmioRegs {
    window: IoMem,
}

impl MmioRegs {
    /// Wraps a mapped window, refusing one too small to hold the registers.
    pub(crate) fn new(window: IoMem) -> Result<Self, WindowTooSmall> {
        check_window(window.maxsize())?;
        // INVARIANT: checked just above.
        Ok(Self { window })
    }

    /// Reads a 32-bit register.
    pub(crate) fn read(&self, reg: Reg) -> u32 {
        // Cannot fail: every `Reg` lies inside the register block, which
        // the window holds (type invariant).
        self.window.try_read32(reg.offset()).unwrap_or(u32::MAX)
    }

    /// Writes a 32-bit register.
    pub(crate) fn write(&self, reg: Reg, value: u32) {
        // Cannot fail: As for `read`.
        let _ = self.window.try_write32(reg.offset(), value);
    }

    /// Reads `buf.len()` bytes of configuration space at `offset`, in the
    /// access widths the spec prescribes (64-bit fields as two 32-bit
    /// reads, low word first).
    pub(crate) fn config_read(
        &self,
        offset: usize,
        buf: &mut [u8],
    ) -> Result<(), ConfigAccessError> {
        let at = config_access(self.window.maxsize(), offset, buf.len())?;
        let w = &self.window;
        // The accesses cannot fail: `config_access` checked that
        // `at..at + buf.len()` lies inside the window, aligned.
        let r32 = |at| w.try_read32(at).unwrap_or(u32::MAX).to_le_bytes();
        match buf.len() {
            1 => buf[0] = w.try_read8(at).unwrap_or(u8::MAX),
            2 => buf.copy_from_slice(&w.try_read16(at).unwrap_or(u16::MAX).to_le_bytes()),
            4 => buf.copy_from_slice(&r32(at)),
            _ => {
                buf[..4].copy_from_slice(&r32(at));
                buf[4..].copy_from_slice(&r32(at + 4));
            }
        }
        Ok(())
    }

    /// Writes `buf` to configuration space at `offset`.
    pub(crate) fn config_write(&self, offset: usize, buf: &[u8]) -> Result<(), ConfigAccessError> {
        let at = config_access(self.window.maxsize(), offset, buf.len())?;
        let w = &self.window;
        let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        // The accesses cannot fail: As for `config_read`.
        let _ = match buf.len() {
            1 => w.try_write8(at, buf[0]),
            2 => w.try_write16(at, u16::from_le_bytes([buf[0], buf[1]])),
            4 => w.try_write32(at, word(buf)),
            _ => w
                .try_write32(at, word(&buf[..4]))
                .and_then(|()| w.try_write32(at + 4, word(&buf[4..]))),
        };
        Ok(())
    }
}

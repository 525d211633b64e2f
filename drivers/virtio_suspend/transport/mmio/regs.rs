// SPDX-License-Identifier: GPL-2.0

//! A typed view of one device's virtio-mmio register block.
//!
//! Register offsets come from [`Reg`], so a register access can only
//! land inside the register block; configuration-space accesses are
//! checked against the size of the window before they are made.

use core::ptr::NonNull;

use kernel::{bindings, ffi::c_void};

use crate::logic::mmio::{check_window, config_access, ConfigAccessError, Reg, WindowTooSmall};

/// The register block and configuration space of one virtio-mmio device.
///
/// # Invariants
///
/// `base` is an ioremapped MMIO window of `len` bytes that stays mapped
/// while the platform device it belongs to is bound to this driver, and
/// `len` is at least the size of the register block.
#[derive(Clone)]
pub(crate) struct MmioRegs {
    base: NonNull<c_void>,
    len: usize,
}

// SAFETY: MMIO accessors may be used from any CPU and context; the
// register block itself has no Rust-visible state.
unsafe impl Send for MmioRegs {}
// SAFETY: See `Send`: concurrent accesses are ordered by the device.
unsafe impl Sync for MmioRegs {}

impl MmioRegs {
    /// Wraps a mapped window, refusing one too small to hold the registers.
    ///
    /// # Safety
    ///
    /// `base` must be an MMIO mapping of `len` bytes that stays mapped for
    /// as long as the returned value (and its clones) is used.
    pub(crate) unsafe fn new(base: NonNull<c_void>, len: usize) -> Result<Self, WindowTooSmall> {
        check_window(len)?;
        // INVARIANT: the caller guarantees the mapping; `check_window`
        // guarantees the length.
        Ok(Self { base, len })
    }

    fn addr(&self, offset: usize) -> *mut c_void {
        // Offsets are below `len` (see callers), so this stays inside the
        // mapping.
        self.base.as_ptr().cast::<u8>().wrapping_add(offset).cast()
    }

    /// Reads a 32-bit register.
    pub(crate) fn read(&self, reg: Reg) -> u32 {
        // SAFETY: every `Reg` lies inside the register block, which the
        // type invariant says is mapped.
        unsafe { bindings::readl(self.addr(reg.offset())) }
    }

    /// Writes a 32-bit register.
    pub(crate) fn write(&self, reg: Reg, value: u32) {
        // SAFETY: As for `read`.
        unsafe { bindings::writel(value, self.addr(reg.offset())) }
    }

    /// Reads `buf.len()` bytes of configuration space at `offset`, in the
    /// access widths the spec prescribes (64-bit fields as two 32-bit
    /// reads, low word first).
    pub(crate) fn config_read(
        &self,
        offset: usize,
        buf: &mut [u8],
    ) -> Result<(), ConfigAccessError> {
        let at = config_access(self.len, offset, buf.len())?;
        // SAFETY: `config_access` checked that `at..at + buf.len()` lies
        // inside the mapped window.
        unsafe {
            match buf.len() {
                1 => buf[0] = bindings::readb(self.addr(at)),
                2 => buf.copy_from_slice(&bindings::readw(self.addr(at)).to_le_bytes()),
                4 => buf.copy_from_slice(&bindings::readl(self.addr(at)).to_le_bytes()),
                _ => {
                    buf[..4].copy_from_slice(&bindings::readl(self.addr(at)).to_le_bytes());
                    buf[4..].copy_from_slice(&bindings::readl(self.addr(at + 4)).to_le_bytes());
                }
            }
        }
        Ok(())
    }

    /// Writes `buf` to configuration space at `offset`.
    pub(crate) fn config_write(&self, offset: usize, buf: &[u8]) -> Result<(), ConfigAccessError> {
        let at = config_access(self.len, offset, buf.len())?;
        let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        // SAFETY: As for `config_read`.
        unsafe {
            match buf.len() {
                1 => bindings::writeb(buf[0], self.addr(at)),
                2 => bindings::writew(u16::from_le_bytes([buf[0], buf[1]]), self.addr(at)),
                4 => bindings::writel(word(buf), self.addr(at)),
                _ => {
                    bindings::writel(word(&buf[..4]), self.addr(at));
                    bindings::writel(word(&buf[4..]), self.addr(at + 4));
                }
            }
        }
        Ok(())
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A mapped region of device memory or I/O ports (a PCI BAR, or part of
//! one), read and written with the `ioread`/`iowrite` accessors, which
//! take either.
//!
//! Shaped like later kernels' `kernel::io::Io<SIZE>`: `SIZE` is the size
//! known when the code is written, and accesses inside it are checked at
//! compile time (`read32::<OFFSET>()`); the rest of the region, whose
//! size only the device tells, is checked at run time (`try_read32`).

use core::ptr::NonNull;

use kernel::{bindings, ffi::c_void, prelude::*};

/// A mapped region of at least `SIZE` bytes.
///
/// # Invariants
///
/// `addr` is an `iomap` cookie for `maxsize` bytes, `maxsize >= SIZE`,
/// that stays mapped while the value is used (see [`IoMem::new`]).
#[derive(Clone)]
pub(crate) struct IoMem<const SIZE: usize = 0> {
    addr: NonNull<c_void>,
    maxsize: usize,
}

// SAFETY: I/O accessors may be used from any CPU and context; the region
// itself has no Rust-visible state.
unsafe impl<const SIZE: usize> Send for IoMem<SIZE> {}
// SAFETY: As for `Send`: concurrent accesses are ordered by the device.
unsafe impl<const SIZE: usize> Sync for IoMem<SIZE> {}

/// Whether an access of `width` bytes at `offset` lies in `size` bytes
/// and is naturally aligned.
const fn access_ok(offset: usize, width: usize, size: usize) -> bool {
    offset % width == 0 && offset <= size && width <= size - offset
}

macro_rules! accessors {
    ($read:ident, $try_read:ident, $write:ident, $try_write:ident, $ty:ty, $c_read:ident, $c_write:ident) => {
        /// Reads at `OFFSET`, which the compiler checks against `SIZE`.
        pub(crate) fn $read<const OFFSET: usize>(&self) -> $ty {
            const { assert!(access_ok(OFFSET, core::mem::size_of::<$ty>(), SIZE)) };
            // SAFETY: inside the mapped region (checked above, and
            // `SIZE <= maxsize` by the type invariant).
            unsafe { bindings::$c_read(self.at(OFFSET)) as $ty }
        }

        /// Reads at `offset`, checked against the region's size.
        pub(crate) fn $try_read(&self, offset: usize) -> Result<$ty> {
            self.check(offset, core::mem::size_of::<$ty>())?;
            // SAFETY: inside the mapped region (checked above).
            Ok(unsafe { bindings::$c_read(self.at(offset)) as $ty })
        }

        /// Writes at `OFFSET`, which the compiler checks against `SIZE`.
        pub(crate) fn $write<const OFFSET: usize>(&self, value: $ty) {
            const { assert!(access_ok(OFFSET, core::mem::size_of::<$ty>(), SIZE)) };
            // SAFETY: As for the read.
            unsafe { bindings::$c_write(value.into(), self.at(OFFSET)) }
        }

        /// Writes at `offset`, checked against the region's size.
        pub(crate) fn $try_write(&self, offset: usize, value: $ty) -> Result {
            self.check(offset, core::mem::size_of::<$ty>())?;
            // SAFETY: inside the mapped region (checked above).
            unsafe { bindings::$c_write(value.into(), self.at(offset)) };
            Ok(())
        }
    };
}

impl<const SIZE: usize> IoMem<SIZE> {
    /// Wraps `maxsize` mapped bytes at `addr`; `EINVAL` if fewer than
    /// `SIZE`.
    ///
    /// # Safety
    ///
    /// `addr` must be an `iomap` cookie (from `pci_iomap` and friends) for
    /// `maxsize` bytes that stays mapped as long as the returned value,
    /// and every region made from it, is used.
    pub(crate) unsafe fn new(addr: NonNull<c_void>, maxsize: usize) -> Result<Self> {
        if maxsize < SIZE {
            return Err(EINVAL);
        }
        // INVARIANT: the caller guarantees the mapping; checked the size.
        Ok(Self { addr, maxsize })
    }

    /// The region's size.
    pub(crate) fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// The `len` bytes at `offset` of this region, as a region of at
    /// least `N` bytes.
    pub(crate) fn subregion<const N: usize>(&self, offset: usize, len: usize) -> Result<IoMem<N>> {
        if offset > self.maxsize || len > self.maxsize - offset {
            return Err(ERANGE);
        }
        // SAFETY: inside this region, which is mapped as long as it is
        // used (type invariant), and so is every part of it.
        unsafe { IoMem::new(NonNull::new_unchecked(self.at(offset)), len) }
    }

    fn check(&self, offset: usize, width: usize) -> Result {
        if access_ok(offset, width, self.maxsize) {
            Ok(())
        } else {
            Err(ERANGE)
        }
    }

    fn at(&self, offset: usize) -> *mut c_void {
        // Inside the mapping (see callers), so this is the address of a
        // byte of it; `iomap` cookies are byte-addressed like pointers.
        self.addr.as_ptr().cast::<u8>().wrapping_add(offset).cast()
    }

    accessors!(read8, try_read8, write8, try_write8, u8, ioread8, iowrite8);
    accessors!(
        read16,
        try_read16,
        write16,
        try_write16,
        u16,
        ioread16,
        iowrite16
    );
    accessors!(
        read32,
        try_read32,
        write32,
        try_write32,
        u32,
        ioread32,
        iowrite32
    );
}

// SPDX-License-Identifier: GPL-2.0

//! A mapped region of device memory or I/O ports (a PCI BAR, or part of
//! one), read and written with the `ioread`/`iowrite` accessors, which
//! take either.
//!
//! Shaped like later kernels' `kernel::io::Io<SIZE>`: `SIZE` is the size
//! known when the code is written, and accesses inside it are checked at
//! compile time (`read32::<OFFSET>()`); the rest of the region, whose
//! size only the device tells, is checked at run time (`try_read32`).
//!
//! A region keeps its mapping and the claim on the device's resource: the
//! [`Mapping`] is counted, and unmapped and released when the last region
//! made from it goes. No access through a region can reach an unmapped
//! address, whoever holds it and whenever, and a region nobody may use
//! any more is not silently shared: while one is held past the driver's
//! unbind, the resource stays claimed, and binding the device again fails
//! with `EBUSY`. That nobody uses one after unbind (a device the driver
//! no longer owns may still do DMA into memory freed since) is kept by
//! the order of the drops at unbind (`suspend::Bound`), not by the type:
//! upstream's `Devres` revokes the access at unbind instead, at the cost
//! of an RCU read lock per access.

use core::ptr::NonNull;

use kernel::{bindings, ffi::c_void, prelude::*, sync::Arc};

use super::context::might_sleep;

/// How a [`Mapping`] is undone (`iounmap`, `pci_iounmap`), and what it
/// keeps alive until then.
pub(crate) trait Unmap: Send + Sync + 'static {
    /// Unmaps `base`.
    ///
    /// # Safety
    ///
    /// `base` is the mapping made for this value, used no more.
    unsafe fn unmap(&self, base: NonNull<c_void>);
}

/// Device memory or I/O ports, claimed and mapped; unmapped, then
/// released, on drop.
///
/// # Invariants
///
/// `base` is an `iomap` cookie for `len` bytes of the range `_claim`
/// holds, owned by this value, which `unmap` undoes.
///
/// # Context
///
/// Dropped only where the caller may sleep (unmapping does); the drop
/// says so to [`might_sleep`].
pub(crate) struct Mapping<U: Unmap> {
    base: NonNull<c_void>,
    len: usize,
    unmap: U,
    _claim: Claim,
}

// SAFETY: a mapping may be used and unmapped from any thread; `U` is
// `Send + Sync`.
unsafe impl<U: Unmap> Send for Mapping<U> {}
// SAFETY: As for `Send`; the mapping has no state of its own.
unsafe impl<U: Unmap> Sync for Mapping<U> {}

impl<U: Unmap> Mapping<U> {
    /// # Safety
    ///
    /// `base` is an `iomap` cookie (from `ioremap`, `pci_iomap` and
    /// friends) for `len` bytes of the range `claim` holds, given up to
    /// the new value, which `unmap` undoes.
    pub(crate) unsafe fn new(claim: Claim, base: NonNull<c_void>, len: usize, unmap: U) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            base,
            len,
            unmap,
            _claim: claim,
        }
    }
}

impl<U: Unmap> Drop for Mapping<U> {
    fn drop(&mut self) {
        might_sleep();
        // SAFETY: the mapping `unmap` undoes, owned (type invariant); no
        // region uses it any more (they hold it). The claim goes after.
        unsafe { self.unmap.unmap(self.base) };
    }
}

/// What a region keeps alive: its [`Mapping`], whatever its `Unmap`.
trait Mapped: Send + Sync {}

impl<U: Unmap> Mapped for Mapping<U> {}

/// A mapped region of at least `SIZE` bytes. Dropping the last region of
/// a mapping drops the mapping: only where the caller may sleep (see
/// [`Mapping`]).
///
/// # Invariants
///
/// `addr` is an `iomap` cookie for `maxsize` bytes, `maxsize >= SIZE`,
/// inside `mapping`, which keeps them mapped.
#[derive(Clone)]
pub(crate) struct IoMem<const SIZE: usize = 0> {
    addr: NonNull<c_void>,
    maxsize: usize,
    mapping: Arc<dyn Mapped>,
}

// SAFETY: I/O accessors may be used from any CPU and context; the region
// itself has no Rust-visible state, and the mapping is `Send + Sync`.
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
            // SAFETY: inside the region (checked above, and
            // `SIZE <= maxsize` by the type invariant), which its mapping
            // keeps mapped.
            unsafe { bindings::$c_read(self.at(OFFSET)) as $ty }
        }

        /// Reads at `offset`, checked against the region's size.
        pub(crate) fn $try_read(&self, offset: usize) -> Result<$ty> {
            self.check(offset, core::mem::size_of::<$ty>())?;
            // SAFETY: inside the region (checked above), kept mapped.
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
            // SAFETY: inside the region (checked above), kept mapped.
            unsafe { bindings::$c_write(value.into(), self.at(offset)) };
            Ok(())
        }
    };
}

impl<const SIZE: usize> IoMem<SIZE> {
    /// The whole of `mapping`; `EINVAL` if it is smaller than `SIZE`.
    pub(crate) fn new<U: Unmap>(mapping: Mapping<U>) -> Result<Self> {
        let (addr, maxsize) = (mapping.base, mapping.len);
        let mapping: Arc<dyn Mapped> = Arc::new(mapping, GFP_KERNEL)?;
        // SAFETY: all of the mapping (type invariant of `Mapping`).
        unsafe { Self::within(mapping, addr, maxsize) }
    }

    /// The `maxsize` bytes at `addr` of `mapping`; `EINVAL` if fewer than
    /// `SIZE`.
    ///
    /// # Safety
    ///
    /// `addr` is an `iomap` cookie for `maxsize` bytes inside `mapping`.
    unsafe fn within(
        mapping: Arc<dyn Mapped>,
        addr: NonNull<c_void>,
        maxsize: usize,
    ) -> Result<Self> {
        if maxsize < SIZE {
            return Err(EINVAL);
        }
        // INVARIANT: inside `mapping` (guaranteed by the caller), which
        // the region keeps; the size checked above.
        Ok(Self {
            addr,
            maxsize,
            mapping,
        })
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
        let addr = NonNull::new(self.at(offset)).ok_or(EINVAL)?;
        // SAFETY: inside this region (checked above), so inside its
        // mapping (type invariant).
        unsafe { IoMem::within(self.mapping.clone(), addr, len) }
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

/// Where a [`Claim`] is: the I/O memory or the I/O port space.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Space {
    Memory,
    Ports,
}

/// A claim on a range of device memory or I/O ports (`request_region`),
/// released on drop.
///
/// # Invariants
///
/// `start..start + len` is claimed in `space` by this value.
pub(crate) struct Claim {
    space: Space,
    start: u64,
    len: u64,
}

impl Claim {
    fn root(space: Space) -> *mut bindings::resource {
        match space {
            Space::Memory => &raw mut bindings::iomem_resource,
            Space::Ports => &raw mut bindings::ioport_resource,
        }
    }

    /// Claims the `len` bytes at `start` of `space` for `name` (shown in
    /// `/proc/iomem` or `/proc/ioports`); `EBUSY` if anything has them.
    ///
    /// # Safety
    ///
    /// `name` must outlive the claim (the resource tree keeps a pointer
    /// to it).
    pub(crate) unsafe fn new(space: Space, start: u64, len: u64, name: &CStr) -> Result<Self> {
        // SAFETY: the root of a resource tree, a static; `name` outlives
        // the claim (guaranteed by the caller).
        let res = unsafe {
            bindings::__request_region(Self::root(space), start, len, name.as_char_ptr(), 0)
        };
        if res.is_null() {
            return Err(EBUSY);
        }
        // INVARIANT: claimed just above.
        Ok(Self { space, start, len })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // SAFETY: claimed by this value (type invariant).
        unsafe { bindings::__release_region(Self::root(self.space), self.start, self.len) };
    }
}

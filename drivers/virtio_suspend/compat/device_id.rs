// SPDX-License-Identifier: GPL-2.0

//! Device ID tables as the C matching code walks them (later kernels:
//! `kernel::device_id`).

/// An entry of a device ID table, a newtype of the C entry type.
///
/// # Safety
///
/// `Self` must be `repr(transparent)` over [`RawDeviceId::RawType`];
/// all-zero bytes must be a valid value of it, and the entry that ends a
/// table of it for the kernel's matching code.
pub(crate) unsafe trait RawDeviceId: Copy {
    /// The C entry type.
    type RawType;
}

/// A device ID table: `N` entries and the all-zero terminator after them,
/// laid out as the C matching code expects. It is built only through
/// [`IdArray::new`], so it is always terminated.
#[repr(C)]
pub(crate) struct IdArray<T: RawDeviceId, const N: usize> {
    ids: [T; N],
    terminator: T,
}

impl<T: RawDeviceId, const N: usize> IdArray<T, N> {
    pub(crate) const fn new(ids: [T; N]) -> Self {
        Self {
            ids,
            // SAFETY: all-zero is a valid `T` and its table terminator
            // (`RawDeviceId`).
            terminator: unsafe { core::mem::zeroed() },
        }
    }
}

// SAFETY: the table is immutable; the pointers some entries hold (driver
// data) point to immutable statics, if anywhere.
unsafe impl<T: RawDeviceId, const N: usize> Sync for IdArray<T, N> {}

/// A terminated ID table of any length, as a driver names it.
pub(crate) trait IdTable<T: RawDeviceId>: Sync {
    /// The first entry, as the C code takes it; the entries up to and
    /// including the all-zero one are valid for as long as `self`.
    fn as_ptr(&self) -> *const T::RawType;
}

impl<T: RawDeviceId, const N: usize> IdTable<T> for IdArray<T, N> {
    fn as_ptr(&self) -> *const T::RawType {
        // `repr(C)`: `ids` is at offset 0 and `terminator` directly
        // follows it (an array of `T` has no padding after it), so the C
        // code walks into it; a `T` is a `T::RawType` (`RawDeviceId`). A
        // pointer to the whole table, not to `ids`: it must be valid for
        // the terminator too.
        core::ptr::from_ref(self).cast()
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A driver's system sleep callbacks as the PM core calls them
//! (`struct dev_pm_ops`), for any bus whose drivers keep their probe's
//! data as the device's driver data.

use core::marker::PhantomData;

use kernel::{bindings, error::from_result, ffi::c_int, prelude::*, types::ForeignOwnable};

/// System sleep callbacks, run on what the driver's probe left.
pub(crate) trait SleepCallbacks {
    /// What a successful probe leaves attached to the device.
    type Data: ForeignOwnable + 'static;

    /// System suspend (s2idle, S3).
    fn suspend(data: <Self::Data as ForeignOwnable>::Borrowed<'_>) -> Result;
    /// System resume.
    fn resume(data: <Self::Data as ForeignOwnable>::Borrowed<'_>) -> Result;
    /// Hibernation: freeze before the image is made, and poweroff.
    fn freeze(data: <Self::Data as ForeignOwnable>::Borrowed<'_>) -> Result;
    /// Hibernation: thaw after the image is made, and restore from it.
    fn restore(data: <Self::Data as ForeignOwnable>::Borrowed<'_>) -> Result;
}

/// The driver data of `dev`.
///
/// # Safety
///
/// `dev` must be bound to a driver whose probe stored a `T::Data` with
/// `into_foreign` as driver data, which its remove alone takes back; the
/// borrow must end before remove can run (PM callbacks never run
/// concurrently with remove).
pub(crate) unsafe fn borrow<'a, T: SleepCallbacks>(
    dev: *mut bindings::device,
) -> <T::Data as ForeignOwnable>::Borrowed<'a> {
    // SAFETY: guaranteed by the caller.
    unsafe { T::Data::borrow(bindings::dev_get_drvdata(dev)) }
}

/// The `dev_pm_ops` of a driver with callbacks `T`.
pub(crate) struct PmOps<T: SleepCallbacks>(PhantomData<T>);

impl<T: SleepCallbacks> PmOps<T> {
    /// # Safety
    ///
    /// Only for the PM core: `dev` must be a device bound to a driver
    /// with these callbacks (see [`borrow`]).
    unsafe extern "C" fn suspend(dev: *mut bindings::device) -> c_int {
        // SAFETY: the PM core calls this for bound devices only.
        from_result(|| T::suspend(unsafe { borrow::<T>(dev) }).map(|()| 0))
    }

    /// # Safety
    ///
    /// As for [`Self::suspend`].
    unsafe extern "C" fn resume(dev: *mut bindings::device) -> c_int {
        // SAFETY: As for `suspend`.
        from_result(|| T::resume(unsafe { borrow::<T>(dev) }).map(|()| 0))
    }

    /// # Safety
    ///
    /// As for [`Self::suspend`].
    unsafe extern "C" fn freeze(dev: *mut bindings::device) -> c_int {
        // SAFETY: As for `suspend`.
        from_result(|| T::freeze(unsafe { borrow::<T>(dev) }).map(|()| 0))
    }

    /// # Safety
    ///
    /// As for [`Self::suspend`].
    unsafe extern "C" fn restore(dev: *mut bindings::device) -> c_int {
        // SAFETY: As for `suspend`.
        from_result(|| T::restore(unsafe { borrow::<T>(dev) }).map(|()| 0))
    }

    /// Suspend and resume; freeze for hibernation's freeze and poweroff,
    /// restore for its thaw and restore.
    pub(crate) const OPS: bindings::dev_pm_ops = {
        // SAFETY: all-`None` callbacks are a valid `dev_pm_ops`.
        let mut ops: bindings::dev_pm_ops = unsafe { core::mem::zeroed() };
        ops.suspend = Some(Self::suspend);
        ops.resume = Some(Self::resume);
        ops.freeze = Some(Self::freeze);
        ops.thaw = Some(Self::restore);
        ops.poweroff = Some(Self::freeze);
        ops.restore = Some(Self::restore);
        ops
    };
}

// SPDX-License-Identifier: GPL-2.0

//! What the drivers of every bus share, in the shape of later kernels'
//! `kernel::driver`: the registration of a bus's C driver structure
//! (pinned, unregistered on drop), generic over [`RegistrationOps`], and
//! the driver data a probe leaves on its device.

use kernel::{
    bindings,
    prelude::*,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

/// The bus-specific half of a driver registration (upstream:
/// `kernel::driver::RegistrationOps`).
///
/// # Safety
///
/// `register` registers the structure it is given with the driver core
/// so that `unregister` undoes it, and the structure `driver` returns
/// points only to `'static` tables, names and operations.
pub(crate) unsafe trait RegistrationOps {
    /// The bus's C driver structure (`struct pci_driver`, ...).
    type RegType;

    /// The driver structure, filled in, not yet registered.
    fn driver() -> Self::RegType;

    /// # Safety
    ///
    /// `reg` is pinned and stays allocated until `unregister(reg)`.
    unsafe fn register(reg: *mut Self::RegType, module: &'static ThisModule) -> Result;

    /// # Safety
    ///
    /// `reg` was registered by `register`, and is not used afterwards.
    unsafe fn unregister(reg: *mut Self::RegType);
}

/// A registered driver; unregistered (unbinding every device) when
/// dropped.
///
/// # Invariants
///
/// `reg` is registered with the driver core by `T::register` and pinned
/// in memory.
pub(crate) struct Registration<T: RegistrationOps> {
    reg: Pin<KBox<Opaque<T::RegType>>>,
}

// SAFETY: the registration only hands the C structure to the driver core,
// which may be called from any thread.
unsafe impl<T: RegistrationOps> Send for Registration<T> {}
// SAFETY: `&Registration` exposes nothing.
unsafe impl<T: RegistrationOps> Sync for Registration<T> {}

impl<T: RegistrationOps> Registration<T> {
    pub(crate) fn register(module: &'static ThisModule) -> Result<Self> {
        let reg = KBox::pin(Opaque::new(T::driver()), GFP_KERNEL)?;
        // SAFETY: `reg` is pinned, and stays allocated until `drop`
        // unregisters it.
        unsafe { T::register(reg.get(), module) }?;
        // INVARIANT: registered just above; pinned by `KBox::pin`.
        Ok(Self { reg })
    }
}

impl<T: RegistrationOps> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant), and dropped with `self`.
        unsafe { T::unregister(self.reg.get()) };
    }
}

/// Attaches `data` to `dev` as its driver data, for [`take_drvdata`].
///
/// # Safety
///
/// `dev` must be a live device being probed by the caller's driver.
pub(crate) unsafe fn set_drvdata<D: ForeignOwnable>(dev: *mut bindings::device, data: D) {
    // SAFETY: `dev` is live (guaranteed by the caller).
    unsafe { bindings::dev_set_drvdata(dev, data.into_foreign().cast_mut()) };
}

/// Takes back the driver data [`set_drvdata`] attached to `dev`.
///
/// # Safety
///
/// `dev` must be a live device whose driver data a `set_drvdata::<D>`
/// attached, and which nothing else takes back or borrows any more (the
/// driver core's remove).
pub(crate) unsafe fn take_drvdata<D: ForeignOwnable>(dev: *mut bindings::device) -> D {
    // SAFETY: guaranteed by the caller: the pointer came from
    // `into_foreign` and is taken back once.
    unsafe { D::from_foreign(bindings::dev_get_drvdata(dev)) }
}

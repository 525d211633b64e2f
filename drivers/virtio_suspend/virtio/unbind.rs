// SPDX-License-Identifier: GPL-2.0

//! A notifier on the virtio bus that hears of a driver's unbind before its
//! remove runs (`BUS_NOTIFY_UNBIND_DRIVER`, sent by the driver core with
//! the device locked).
//!
//! The virtio bus is not exported: the notifier goes onto the bus of the
//! first device [`UnbindNotifier::watch`] is given. It is a static of the
//! module, open while an [`UnbindNotifierOpen`] guard lives; dropping the
//! guard takes it off the bus.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use kernel::{
    bindings, container_of,
    ffi::{c_int, c_ulong, c_void},
    prelude::*,
    types::Opaque,
};

use super::Device;
use crate::compat::time::sleep_us;

/// What to do when the driver of a virtio device is about to be unbound.
pub(crate) trait UnbindHandler {
    /// Called before the driver's remove, with the device locked; `vdev`
    /// is any device of the virtio bus, not only ours.
    fn unbinding(vdev: &Device);
}

/// The notifier is closed: `watch` does nothing.
const CLOSED: u8 = 0;
/// Open, not on a bus yet.
const OPEN: u8 = 1;
/// A `watch` is putting it onto a bus.
const REGISTERING: u8 = 2;
/// On the bus `UnbindNotifier::bus`.
const REGISTERED: u8 = 3;

/// A notifier for the unbinds of virtio drivers; see the module docs.
///
/// # Invariants
///
/// `nb` is on the bus `bus` points to exactly when `state` is
/// `REGISTERED`, and only between [`UnbindNotifier::open`] and the drop of
/// the guard it returned.
pub(crate) struct UnbindNotifier<H> {
    nb: Opaque<bindings::notifier_block>,
    bus: AtomicPtr<bindings::bus_type>,
    state: AtomicU8,
    _handler: PhantomData<H>,
}

// SAFETY: the notifier block is only handed to the driver core, which
// uses it from any thread; the rest is atomics. `H` is only a type.
unsafe impl<H> Sync for UnbindNotifier<H> {}

impl<H: UnbindHandler> UnbindNotifier<H> {
    pub(crate) const fn new() -> Self {
        // SAFETY: all-zero is a valid, unregistered `notifier_block`.
        let mut nb: bindings::notifier_block = unsafe { core::mem::zeroed() };
        nb.notifier_call = Some(notify::<H>);
        Self {
            nb: Opaque::new(nb),
            bus: AtomicPtr::new(core::ptr::null_mut()),
            state: AtomicU8::new(CLOSED),
            _handler: PhantomData,
        }
    }

    /// Opens the notifier: [`UnbindNotifier::watch`] puts it on the bus
    /// from now until the guard is dropped. `EBUSY` if it is open already
    /// (a second guard would take it off the bus under the first).
    pub(crate) fn open(&'static self) -> Result<UnbindNotifierOpen<H>> {
        self.state
            .compare_exchange(CLOSED, OPEN, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| EBUSY)?;
        Ok(UnbindNotifierOpen(self))
    }

    /// Puts the notifier on the bus `vdev` is on, the virtio bus, unless
    /// it is there already or a concurrent call is putting it there (the
    /// notifier may then miss an unbind of `vdev` until that call is
    /// done: none can happen before the probe of `vdev` returns).
    /// `ENODEV` if the notifier is not open.
    pub(crate) fn watch(&'static self, vdev: &Device) -> Result {
        match self
            .state
            .compare_exchange(OPEN, REGISTERING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {}
            Err(REGISTERING | REGISTERED) => return Ok(()),
            Err(_) => return Err(ENODEV),
        }
        let bus = vdev.bus().cast_mut();
        let ret = if bus.is_null() {
            Err(EINVAL)
        } else {
            // SAFETY: `nb` is a static, unregistered (state was `OPEN`);
            // `bus` is the bus of a registered virtio device, the virtio
            // bus, which the virtio core (built in or our dependency)
            // keeps as long as we are loaded.
            kernel::error::to_result(unsafe { bindings::bus_register_notifier(bus, self.nb.get()) })
        };
        // INVARIANT: on the bus exactly when registered.
        self.bus.store(bus, Ordering::Relaxed);
        let state = if ret.is_ok() { REGISTERED } else { OPEN };
        self.state.store(state, Ordering::Release);
        ret
    }
}

/// The notifier opened; closes it (off the bus) on drop.
pub(crate) struct UnbindNotifierOpen<H: UnbindHandler + 'static>(&'static UnbindNotifier<H>);

impl<H: UnbindHandler + 'static> Drop for UnbindNotifierOpen<H> {
    fn drop(&mut self) {
        let notifier = self.0;
        loop {
            if notifier
                .state
                .compare_exchange(REGISTERED, CLOSED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let bus = notifier.bus.load(Ordering::Relaxed);
                // SAFETY: registered on `bus` with this `nb` (type
                // invariant); closed now, so nothing registers it again.
                unsafe { bindings::bus_unregister_notifier(bus, notifier.nb.get()) };
                return;
            }
            match notifier
                .state
                .compare_exchange(OPEN, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) | Err(CLOSED) => return,
                // A probe is putting it on the bus (only that `watch`
                // changes the state from here): wait for it to finish,
                // then take it off.
                Err(_) => sleep_us(100),
            }
        }
    }
}

/// # Safety
///
/// Only for the virtio bus's notifier chain: `data` is a device of that
/// bus.
unsafe extern "C" fn notify<H: UnbindHandler>(
    _nb: *mut bindings::notifier_block,
    action: c_ulong,
    data: *mut c_void,
) -> c_int {
    if action != bindings::bus_notifier_event_BUS_NOTIFY_UNBIND_DRIVER as c_ulong {
        return bindings::NOTIFY_DONE as c_int;
    }
    let dev = data.cast::<bindings::device>();
    // SAFETY: every device of the virtio bus is embedded in a
    // `virtio_device`, registered (it is being unbound, not released);
    // `Device` is a transparent wrapper of it.
    let vdev = unsafe { &*container_of!(dev, bindings::virtio_device, dev).cast::<Device>() };
    H::unbinding(vdev);
    bindings::NOTIFY_DONE as c_int
}

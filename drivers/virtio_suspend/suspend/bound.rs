// SPDX-License-Identifier: GPL-2.0

//! A transport device under the engine's care from its registration to
//! its removal: its debugfs control file, the unbind watch, and a resume
//! before it goes.

use kernel::prelude::*;

use super::{control, unbind_watch, Driven, SuspendTransport};
use crate::compat::pm::SleepCallbacks;
use kernel::virtio::transport::{Registered, Registration, Transport};

/// A registered transport device with its control file; dropping it
/// removes the file, resumes the device if it was left suspended, and
/// unregisters it.
///
/// # Invariants
///
/// `control` is removed before `registration` unregisters the device: a
/// write to it drives the device, which the driver owns only while bound
/// (the mappings would keep its resources claimed, and rebinding would
/// fail, for as long as the file kept them).
pub(crate) struct Bound<T: SuspendTransport + Transport> {
    control: Option<control::ControlFile>,
    registration: Registration<T>,
}

impl<T: SuspendTransport + Transport> Bound<T> {
    pub(crate) fn new(registration: Registration<T>) -> Self {
        let vdev = registration.get().virtio();
        if let Err(e) = unbind_watch::watch(vdev) {
            dev_warn!(
                vdev.as_dev(),
                "cannot watch driver unbinds (error {}): unbinding a driver from a suspended device may hang\n",
                e.to_errno()
            );
        }
        let control = control::create_file(&registration)
            .inspect_err(|e| {
                dev_warn!(
                    vdev.as_dev(),
                    "no debugfs control file (error {}; is debugfs enabled?)\n",
                    e.to_errno()
                );
            })
            .ok();
        Self {
            control,
            registration,
        }
    }

    pub(crate) fn get(&self) -> &Registered<T> {
        self.registration.get()
    }

    /// The device, as the engine drives it.
    pub(crate) fn device(&self) -> Driven<'_> {
        self.registration.get().into()
    }
}

impl<T: SuspendTransport + Transport> Drop for Bound<T> {
    fn drop(&mut self) {
        // The control file first: removing it waits for a running write.
        drop(self.control.take());
        // The unbind watch resumes the device before its driver's remove;
        // this covers a probe that could not set the watch up.
        let device = Driven::from(self.registration.get());
        device.resume_before_unbind(&device.virtio().lock());
        // `registration` unregisters the device after this.
    }
}

/// A transport's driver, whose probe leaves a [`Bound`] device: its system
/// sleep callbacks are the engine's.
pub(crate) trait SuspendDriver {
    type Device: SuspendTransport + Transport;
}

impl<D: SuspendDriver> SleepCallbacks for D {
    type Data = KBox<Bound<D::Device>>;

    fn suspend(bound: &Bound<D::Device>) -> Result {
        bound.device().system_suspend()
    }

    fn resume(bound: &Bound<D::Device>) -> Result {
        bound.device().system_resume()
    }

    fn freeze(bound: &Bound<D::Device>) -> Result {
        bound.device().hibernation_freeze()
    }

    fn restore(bound: &Bound<D::Device>) -> Result {
        bound.device().hibernation_restore()
    }
}

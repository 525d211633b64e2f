// SPDX-License-Identifier: GPL-2.0

//! The `struct virtio_device` a transport embeds, and its registration
//! with the virtio core, which binds a stock driver to it.

use core::ptr::NonNull;

use kernel::{bindings, container_of, device, error::to_result, prelude::*, types::Opaque};

use super::{AttributeGroups, EmbedsDevice, Transport};
use crate::compat::time::sleep_us;

/// How long a reset may take to show status 0.
pub(crate) const RESET_TIMEOUT_MS: u32 = 1000;

pub(crate) use crate::logic::suspend::ResetWait;

/// A virtio device, embedded in a transport's device.
#[repr(transparent)]
pub(crate) struct Device(Opaque<bindings::virtio_device>);

// SAFETY: the virtio core and drivers use a `virtio_device` from any
// thread, under their own locking; the methods here read fields that are
// set before registration, or call functions the core allows from any
// thread.
unsafe impl Sync for Device {}
// SAFETY: As for `Sync`: nothing in it is tied to a thread.
unsafe impl Send for Device {}

impl Device {
    /// A device not registered yet, all zero as the C transports' kzalloc
    /// leaves it.
    pub(crate) fn new() -> Self {
        // SAFETY: all-zero is how a `virtio_device` starts.
        Self(Opaque::new(unsafe { core::mem::zeroed() }))
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::virtio_device {
        self.0.get()
    }

    /// The generic device, for messages and locking.
    pub(crate) fn as_dev(&self) -> &device::Device {
        // SAFETY: `dev` is embedded in a live virtio device.
        unsafe { device::Device::as_ref(&raw mut (*self.as_raw()).dev) }
    }

    /// The bus the device is on once registered, the virtio bus (NULL
    /// before).
    pub(super) fn bus(&self) -> *const bindings::bus_type {
        // SAFETY: a live device; the driver core sets `bus` before the
        // device is added and never changes it after.
        unsafe { (*self.as_raw()).dev.bus }
    }

    /// The transport device of type `T` that embeds this device, if it is
    /// one: whether its config operations are `T`'s says.
    pub(crate) fn transport<T: EmbedsDevice>(&self) -> Option<&T> {
        // SAFETY: a live device; `config` is set before it is registered
        // and never changed after.
        let ops = unsafe { (*self.as_raw()).config };
        // SAFETY: `T::config_ops()` is a static that only `Registration<T>`
        // gives to devices, each the `virtio()` of a `T`, which lives as
        // long as its device (it is freed by the device's release).
        core::ptr::eq(ops, T::config_ops().as_raw()).then(|| unsafe { T::from_vdev(self.as_raw()) })
    }

    /// Its name, `virtioN`, once registered (empty before).
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: a live device; `dev_name` is never NULL, and the name
        // lives as long as the device.
        unsafe { CStr::from_char_ptr(bindings::dev_name(&raw mut (*self.as_raw()).dev)) }
    }

    /// The features the driver accepted (final after feature negotiation).
    pub(crate) fn features(&self) -> u64 {
        // SAFETY: a live device; the core writes `features` only while
        // negotiating, serialized with every path that reads them here
        // (probe, restore and the sleep callbacks run one at a time).
        unsafe { (*self.as_raw()).features }
    }

    /// The name of the driver bound to the device, if any.
    pub(crate) fn driver_name(&self) -> Option<&CStr> {
        // SAFETY: a live device. Its driver does not change under a sleep
        // transition: the PM core blocks probing and has frozen user
        // space, and the debugfs path holds the device lock, as the driver
        // core does to bind or unbind.
        let driver = unsafe { (*self.as_raw()).dev.driver };
        // SAFETY: a bound driver is live, its name a string of its module,
        // which cannot go while the driver is bound.
        (!driver.is_null()).then(|| unsafe { CStr::from_char_ptr((*driver).name) })
    }

    /// The virtio core's reset-based freeze: the driver's `freeze`, then
    /// a reset. Process context, with the device's driver bound.
    pub(crate) fn classic_freeze(&self) -> Result {
        // SAFETY: a registered device; the PM core and the debugfs path
        // (device lock held) keep the driver bound meanwhile.
        to_result(unsafe { bindings::virtio_device_freeze(self.as_raw()) })
    }

    /// The virtio core's reset-based restore, after
    /// [`Device::classic_freeze`]: set-up from reset, then the driver's
    /// `restore`.
    pub(crate) fn classic_restore(&self) -> Result {
        // SAFETY: As for `classic_freeze`.
        to_result(unsafe { bindings::virtio_device_restore(self.as_raw()) })
    }

    /// Marks every virtqueue of the device broken (`virtio_break_device`):
    /// adding buffers fails from then on, for a device that is gone.
    pub(crate) fn mark_broken(&self) {
        // SAFETY: a registered device; the function takes the virtio
        // core's own lock.
        unsafe { bindings::virtio_break_device(self.as_raw()) };
    }

    /// After a reset was written: waits until `read_status` reads 0, as
    /// the spec has the driver do, at most [`RESET_TIMEOUT_MS`]; a status
    /// of all ones (nothing answers: the device is gone) ends the wait at
    /// once. Logs why a reset did not complete.
    pub(crate) fn wait_for_reset(&self, read_status: impl Fn() -> u8) -> ResetWait {
        for _ in 0..RESET_TIMEOUT_MS {
            match read_status() {
                0 => return ResetWait::Done,
                0xff => {
                    dev_err!(
                        self.as_dev(),
                        "device gone (status reads 0xff): nothing to reset\n"
                    );
                    return ResetWait::Gone;
                }
                _ => sleep_us(1000),
            }
        }
        dev_err!(
            self.as_dev(),
            "device did not finish reset (status {:#04x} after {RESET_TIMEOUT_MS} ms)\n",
            read_status()
        );
        ResetWait::TimedOut
    }

    /// Passes a config-change interrupt on to the driver.
    pub(crate) fn config_changed(&self) {
        // SAFETY: a live, registered device (interrupts are requested
        // from `find_vqs` to `del_vqs`, within registration).
        unsafe { bindings::virtio_config_changed(self.as_raw()) };
    }
}

/// A counted reference to a registered virtio device: it keeps the
/// device, and the transport device that embeds it, allocated (not
/// registered: the release of the last reference frees them).
///
/// # Invariants
///
/// `0` is a registered (or once registered) device, whose reference
/// count this value holds one of.
pub(crate) struct DeviceRef(NonNull<Device>);

// SAFETY: a `Device` is `Send + Sync`, and its count may be dropped from
// any thread that may sleep: the last `put_device` runs `release::<T>`,
// which drops the `T` (freeing memory, putting the references it holds,
// the parent's among them).
unsafe impl Send for DeviceRef {}
// SAFETY: As for `Send`.
unsafe impl Sync for DeviceRef {}

impl core::ops::Deref for DeviceRef {
    type Target = Device;

    fn deref(&self) -> &Device {
        // SAFETY: the reference this holds keeps the device (invariant).
        unsafe { self.0.as_ref() }
    }
}

impl Clone for DeviceRef {
    fn clone(&self) -> Self {
        // SAFETY: counted (type invariant), so registered once.
        unsafe { Self::new(self) }
    }
}

impl Drop for DeviceRef {
    fn drop(&mut self) {
        // SAFETY: gives back the reference this holds (type invariant).
        unsafe { bindings::put_device(&raw mut (*self.as_raw()).dev) };
    }
}

impl DeviceRef {
    /// A reference to `vdev`.
    ///
    /// # Safety
    ///
    /// `vdev` must be registered (its count initialized).
    pub(super) unsafe fn new(vdev: &Device) -> Self {
        // SAFETY: a registered device (guaranteed by the caller).
        unsafe { bindings::get_device(&raw mut (*vdev.as_raw()).dev) };
        // INVARIANT: counted just above.
        Self(NonNull::from(vdev))
    }
}

/// A counted reference to a registered virtio device known to be
/// embedded in a `T`: it keeps the `T` allocated.
///
/// # Invariants
///
/// `vdev.transport::<T>()` is `Some`.
pub(crate) struct TransportRef<T: EmbedsDevice> {
    vdev: DeviceRef,
    _transport: core::marker::PhantomData<&'static T>,
}

impl<T: EmbedsDevice> TransportRef<T> {
    /// `vdev` as the `T` that embeds it, if it is one.
    pub(crate) fn new(vdev: DeviceRef) -> Option<Self> {
        vdev.transport::<T>()?;
        // INVARIANT: checked just above.
        Some(Self {
            vdev,
            _transport: core::marker::PhantomData,
        })
    }
}

impl<T: EmbedsDevice> Clone for TransportRef<T> {
    fn clone(&self) -> Self {
        // INVARIANT: the same device.
        Self {
            vdev: self.vdev.clone(),
            _transport: core::marker::PhantomData,
        }
    }
}

impl<T: EmbedsDevice> core::ops::Deref for TransportRef<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: embedded in a `T` (type invariant), which the count held
        // keeps.
        unsafe { T::from_vdev(self.vdev.as_raw()) }
    }
}

/// Feature negotiation in progress: what `finalize_features` may do that
/// nothing else may (the virtio core reads and writes the features then,
/// and only then).
pub(crate) struct Negotiation<'a> {
    vdev: &'a Device,
}

impl<'a> Negotiation<'a> {
    /// # Safety
    ///
    /// Only inside the core's call of `finalize_features` for `vdev`.
    pub(super) unsafe fn new(vdev: &'a Device) -> Self {
        Self { vdev }
    }

    /// Keeps the transport features `virtio_ring` supports, clears the
    /// others in the transport range (the virtio core's
    /// `vring_transport_features`); bits above it stay as offered.
    pub(crate) fn keep_ring_features(&mut self) {
        // SAFETY: negotiating (type invariant of `Negotiation`).
        unsafe { bindings::vring_transport_features(self.vdev.as_raw()) };
    }

    /// The features the driver accepts so far.
    pub(crate) fn features(&self) -> u64 {
        self.vdev.features()
    }

    /// Accepts feature `bit` as well.
    pub(crate) fn accept(&mut self, bit: u32) {
        // SAFETY: negotiating: nothing reads `features` concurrently.
        unsafe { (*self.vdev.as_raw()).features |= 1u64 << bit };
    }
}

/// What a virtio device is, as the drivers' ID tables match it.
#[derive(Clone, Copy)]
pub(crate) struct DeviceId {
    pub(crate) device: u32,
    pub(crate) vendor: u32,
}

/// A transport device registered with the virtio core; dropping it
/// unregisters the virtio device, which unbinds its driver, and frees the
/// transport device once the last reference to it is gone.
///
/// # Invariants
///
/// `dev` was registered by [`Registration::register`] and is not
/// unregistered before `self` is dropped.
pub(crate) struct Registration<T: Transport> {
    dev: NonNull<T>,
}

// SAFETY: the transport device is shared with the driver core anyway, and
// `T: Transport` is `Sync`; dropping only unregisters, from any thread.
unsafe impl<T: Transport> Send for Registration<T> {}
// SAFETY: `&Registration` hands out only `&T`, and `T` is `Sync`.
unsafe impl<T: Transport> Sync for Registration<T> {}

/// # Safety
///
/// Only for the driver core: `dev` is the device of a `T`'s virtio device
/// that [`Registration::register`] registered, and its last reference was
/// just dropped.
unsafe extern "C" fn release<T: Transport>(dev: *mut bindings::device) {
    // SAFETY: `dev` is embedded in the virtio device of a `T` that
    // `register` leaked from a pinned `KBox`; this is the last reference,
    // so nobody uses the `T` any more. The parent's reference is the one
    // `register` took.
    unsafe {
        let parent = (*dev).parent;
        let vdev = container_of!(dev, bindings::virtio_device, dev).cast_mut();
        let this = core::ptr::from_ref(T::from_vdev(vdev)).cast_mut();
        drop(KBox::from_raw(this));
        bindings::put_device(parent);
    }
}

impl<T: Transport> Registration<T> {
    /// Registers the virtio device of `dev` under `parent`, as device `id`
    /// with the config operations of `T` and sysfs `groups`. From here the
    /// virtio device's reference count owns `dev`: it is freed when the
    /// last reference goes, after [`Registration`] is dropped. It keeps a
    /// reference to `parent` until then (the driver core's goes at
    /// unregistration).
    pub(crate) fn register<const N: usize>(
        dev: Pin<KBox<T>>,
        parent: &device::Device,
        id: DeviceId,
        groups: &'static AttributeGroups<N>,
    ) -> Result<Self> {
        // It is never moved: `release` drops it where `pin_init` put it.
        // SAFETY: `release` rebuilds the pinned box and drops it in place.
        let dev = KBox::into_raw(unsafe { Pin::into_inner_unchecked(dev) });
        // SAFETY: `dev` is valid and not yet shared with anyone.
        let vdev = unsafe { (*dev).virtio().as_raw() };
        // SAFETY: As above; `parent` is live, and counted from here until
        // `release`; the operations and groups are static.
        unsafe {
            (*vdev).dev.parent = bindings::get_device(crate::compat::device::as_raw(parent));
            (*vdev).dev.release = Some(release::<T>);
            (*vdev).dev.groups = groups.as_raw();
            (*vdev).config = T::config_ops().as_raw();
            (*vdev).id.device = id.device;
            (*vdev).id.vendor = id.vendor;
        }
        // SAFETY: `vdev` is fully set up. On failure the core still holds
        // the initial reference, and dropping it runs `release`.
        let ret = unsafe { bindings::register_virtio_device(vdev) };
        if let Err(e) = to_result(ret) {
            // SAFETY: see above.
            unsafe { bindings::put_device(&raw mut (*vdev).dev) };
            return Err(e);
        }
        // INVARIANT: registered just above; `KBox::into_raw` is not NULL.
        Ok(Self {
            // SAFETY: from `KBox::into_raw`.
            dev: unsafe { NonNull::new_unchecked(dev) },
        })
    }

    /// A counted reference to the registered virtio device.
    pub(crate) fn device(&self) -> DeviceRef {
        // SAFETY: registered (type invariant).
        unsafe { DeviceRef::new(self.get().virtio()) }
    }

    /// The transport device.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: registered until `self` is dropped (type invariant), so
        // the virtio core holds a reference that keeps it.
        unsafe { self.dev.as_ref() }
    }
}

impl<T: Transport> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered, and unregistered only here (type invariant).
        unsafe { bindings::unregister_virtio_device(self.get().virtio().as_raw()) };
    }
}

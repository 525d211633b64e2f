// SPDX-License-Identifier: GPL-2.0

//! The `virtio_config_ops` table that stock drivers call through, built
//! from a transport's implementation of [`Transport`].

use core::marker::PhantomData;

use kernel::{
    bindings,
    error::from_result,
    ffi::{c_char, c_int, c_uint, c_void},
    prelude::*,
};

use super::vring::release_core_refs;
use super::{Device, Negotiation, QueueSetup, ResetWait};

/// A transport device that embeds a virtio device, and the static config
/// operations of its type: implemented by [`embed_virtio_device!`].
///
/// # Safety
///
/// [`EmbedsDevice::virtio`] must return the virtio device embedded in
/// `self`, and [`EmbedsDevice::from_vdev`] must map that device back to
/// `self`: the ops table and the device's release rely on it.
/// [`EmbedsDevice::config_ops`] must return a static, the same each time:
/// [`Device::transport`] relies on it.
pub(crate) unsafe trait EmbedsDevice: Sync + 'static {
    /// The config operations of this transport's devices.
    fn config_ops() -> &'static ConfigOps<Self>
    where
        Self: Sized;

    /// The transport device that embeds `vdev`.
    ///
    /// # Safety
    ///
    /// `vdev` must be embedded in a live `Self`.
    unsafe fn from_vdev<'a>(vdev: *mut bindings::virtio_device) -> &'a Self
    where
        Self: Sized;

    /// The virtio device this transport registered.
    fn virtio(&self) -> &Device;

    /// The virtio device's generic device, for messages.
    fn dev(&self) -> &kernel::device::Device {
        self.virtio().as_dev()
    }
}

/// Implements [`EmbedsDevice`] for transport device `$ty`, which embeds
/// its virtio device in field `$field` (and implements [`Transport`]).
macro_rules! embed_virtio_device {
    ($ty:ty, $field:ident) => {
        // SAFETY: `virtio` returns field `$field`, which `from_vdev` maps
        // back; `config_ops` returns a static of this impl.
        unsafe impl $crate::virtio::EmbedsDevice for $ty {
            fn config_ops() -> &'static $crate::virtio::ConfigOps<Self> {
                static OPS: $crate::virtio::ConfigOps<$ty> = $crate::virtio::ConfigOps::new();
                &OPS
            }

            unsafe fn from_vdev<'a>(vdev: *mut ::kernel::bindings::virtio_device) -> &'a Self {
                let vdev = vdev.cast::<$crate::virtio::Device>();
                // SAFETY: the caller guarantees `vdev` is the `$field` of a
                // live `$ty`, which `virtio` checks is a `Device` itself.
                unsafe { &*::kernel::container_of!(vdev, $ty, $field) }
            }

            fn virtio(&self) -> &$crate::virtio::Device {
                // A raw pointer does not coerce: the field must be a
                // `Device`, not something that derefs to one.
                let field: *const $crate::virtio::Device = ::core::ptr::addr_of!(self.$field);
                // SAFETY: a field of `self`, borrowed as long as `self`.
                unsafe { &*field }
            }
        }
    };
}
pub(crate) use embed_virtio_device;

/// A virtio transport: the operations behind `struct virtio_config_ops`.
///
/// The virtio core calls these for one device at a time from process
/// context (probe, remove, config access, system sleep), except where a
/// method says otherwise.
///
/// The rings [`Transport::find_vqs`] creates (through its [`QueueSetup`])
/// live until the core is done with them, whatever the transport keeps:
/// the core holds a reference to each from `find_vqs` until after
/// [`Transport::del_vqs`], a failed `find_vqs`, or a `find_vqs` without
/// `del_vqs` before it; then the driver's callback is detached from each.
pub(crate) trait Transport: EmbedsDevice {
    /// Reads device configuration space at `offset` into `buf` (1, 2, 4
    /// or 8 bytes).
    fn get(&self, offset: usize, buf: &mut [u8]);
    /// Writes `buf` to device configuration space at `offset`.
    fn set(&self, offset: usize, buf: &[u8]);
    fn generation(&self) -> u32;
    fn get_status(&self) -> u8;
    fn set_status(&self, status: u8);
    /// Resets the device and waits until the reset is complete; says how
    /// the wait ended.
    fn reset(&self) -> ResetWait;
    /// Creates the virtqueues the driver asks for (`setup`); a ring for
    /// each, or it fails. Called after `del_vqs` if the driver asks for
    /// queues again without it.
    fn find_vqs(&self, setup: QueueSetup<'_>) -> Result;
    /// Frees the queues' interrupts and lets go of the rings (the driver's
    /// callbacks no longer run for them after this, whatever the
    /// transport keeps).
    fn del_vqs(&self);
    /// Waits for running virtqueue callbacks to finish.
    fn synchronize_cbs(&self);
    fn get_features(&self) -> u64;
    /// Settles the features (`virtio_device.features`, which the driver
    /// has chosen from `get_features`) and writes them to the device.
    fn finalize_features(&self, negotiation: &mut Negotiation<'_>) -> Result;
    /// The name of the device the transport found the device on.
    fn bus_name(&self) -> &CStr;
    /// The bus address and length of shared memory region `id`, if the
    /// device offers it.
    fn get_shm_region(&self, _id: u8) -> Option<(u64, u64)> {
        None
    }
}

struct Adapter<T: Transport>(PhantomData<T>);

impl<T: Transport> Adapter<T> {
    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn get(
        vdev: *mut bindings::virtio_device,
        offset: c_uint,
        buf: *mut c_void,
        len: c_uint,
    ) {
        // SAFETY: the virtio core passes a device of this transport and a
        // buffer of `len` bytes.
        let (dev, buf) = unsafe {
            (
                T::from_vdev(vdev),
                core::slice::from_raw_parts_mut(buf.cast(), len as usize),
            )
        };
        dev.get(offset as usize, buf);
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn set(
        vdev: *mut bindings::virtio_device,
        offset: c_uint,
        buf: *const c_void,
        len: c_uint,
    ) {
        // SAFETY: As for `get`.
        let (dev, buf) = unsafe {
            (
                T::from_vdev(vdev),
                core::slice::from_raw_parts(buf.cast(), len as usize),
            )
        };
        dev.set(offset as usize, buf);
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn generation(vdev: *mut bindings::virtio_device) -> u32 {
        // SAFETY: the virtio core passes a device of this transport.
        unsafe { T::from_vdev(vdev) }.generation()
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn get_status(vdev: *mut bindings::virtio_device) -> u8 {
        // SAFETY: As above.
        unsafe { T::from_vdev(vdev) }.get_status()
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn set_status(vdev: *mut bindings::virtio_device, status: u8) {
        // SAFETY: As above.
        unsafe { T::from_vdev(vdev) }.set_status(status)
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn reset(vdev: *mut bindings::virtio_device) {
        // The virtio core cannot act on a reset that did not complete:
        // the transport logged it, and a device gone is marked so.
        // SAFETY: As above.
        let _ = unsafe { T::from_vdev(vdev) }.reset();
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn find_vqs(
        vdev: *mut bindings::virtio_device,
        nvqs: c_uint,
        vqs: *mut *mut bindings::virtqueue,
        infos: *mut bindings::virtqueue_info,
        _desc: *mut bindings::irq_affinity,
    ) -> c_int {
        // SAFETY: the virtio core passes a device of this transport.
        let dev = unsafe { T::from_vdev(vdev) };
        let (vqs, infos) = if nvqs == 0 {
            (&mut [][..], &[][..])
        } else {
            // SAFETY: the core passes two arrays of `nvqs` entries.
            unsafe {
                (
                    core::slice::from_raw_parts_mut(vqs, nvqs as usize),
                    core::slice::from_raw_parts(infos, nvqs as usize),
                )
            }
        };
        if dev.virtio().has_queues() {
            // Released before the new ones are set up, which may reuse
            // their indices on the device.
            dev_warn!(dev.dev(), "find_vqs without del_vqs: old queues released\n");
            // SAFETY: the driver asks for new queues: it is done with the
            // old ones.
            unsafe { Self::delete_queues(dev) };
        }
        vqs.fill(core::ptr::null_mut());
        // SAFETY: the core's `find_vqs` of `dev`, with its arrays.
        let setup = unsafe { QueueSetup::new(dev.virtio(), vqs, infos) };
        let mut ret = dev.find_vqs(setup);
        let missing = infos
            .iter()
            .zip(vqs.iter())
            .position(|(info, vq)| !info.name.is_null() && vq.is_null());
        if let (Ok(()), Some(n)) = (&ret, missing) {
            dev_err!(dev.dev(), "find_vqs set up no ring for queue entry {n}\n");
            dev.del_vqs();
            ret = Err(EINVAL);
        }
        if ret.is_err() {
            // SAFETY: a failed `find_vqs`: the core uses none of its rings.
            unsafe { release_core_refs(dev.virtio()) };
        }
        from_result(|| ret.map(|()| 0))
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn del_vqs(vdev: *mut bindings::virtio_device) {
        // SAFETY: the virtio core passes a device of this transport, and
        // calls `del_vqs` once it and the driver are done with the rings.
        unsafe { Self::delete_queues(T::from_vdev(vdev)) };
    }

    /// The transport's `del_vqs`, then the core's references to the rings
    /// dropped.
    ///
    /// # Safety
    ///
    /// The core and the driver are done with the rings of `dev`.
    unsafe fn delete_queues(dev: &T) {
        dev.del_vqs();
        // SAFETY: guaranteed by the caller.
        unsafe { release_core_refs(dev.virtio()) };
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn synchronize_cbs(vdev: *mut bindings::virtio_device) {
        // SAFETY: As above.
        unsafe { T::from_vdev(vdev) }.synchronize_cbs()
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn get_features(vdev: *mut bindings::virtio_device) -> u64 {
        // SAFETY: As above.
        unsafe { T::from_vdev(vdev) }.get_features()
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn finalize_features(vdev: *mut bindings::virtio_device) -> c_int {
        // SAFETY: As above.
        let dev = unsafe { T::from_vdev(vdev) };
        // SAFETY: the virtio core calls this to finalize the features.
        let mut negotiation = unsafe { Negotiation::new(dev.virtio()) };
        from_result(|| dev.finalize_features(&mut negotiation).map(|()| 0))
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn bus_name(vdev: *mut bindings::virtio_device) -> *const c_char {
        // SAFETY: As above.
        unsafe { T::from_vdev(vdev) }.bus_name().as_char_ptr()
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, `region` valid for writes.
    unsafe extern "C" fn get_shm_region(
        vdev: *mut bindings::virtio_device,
        region: *mut bindings::virtio_shm_region,
        id: u8,
    ) -> bool {
        // SAFETY: the virtio core passes a device of this transport.
        let Some((addr, len)) = unsafe { T::from_vdev(vdev) }.get_shm_region(id) else {
            return false;
        };
        // SAFETY: the caller's `region` is valid for writes.
        unsafe { region.write(bindings::virtio_shm_region { addr, len }) };
        true
    }

    const OPS: bindings::virtio_config_ops = {
        // SAFETY: all-`None` is a valid `virtio_config_ops`; the optional
        // operations this transport does not provide stay `None`.
        let mut ops: bindings::virtio_config_ops = unsafe { core::mem::zeroed() };
        ops.get = Some(Self::get);
        ops.set = Some(Self::set);
        ops.generation = Some(Self::generation);
        ops.get_status = Some(Self::get_status);
        ops.set_status = Some(Self::set_status);
        ops.reset = Some(Self::reset);
        ops.find_vqs = Some(Self::find_vqs);
        ops.del_vqs = Some(Self::del_vqs);
        ops.synchronize_cbs = Some(Self::synchronize_cbs);
        ops.get_features = Some(Self::get_features);
        ops.finalize_features = Some(Self::finalize_features);
        ops.bus_name = Some(Self::bus_name);
        ops.get_shm_region = Some(Self::get_shm_region);
        ops
    };
}

/// The `virtio_config_ops` of transport `T`, to keep in a static of the
/// transport ([`EmbedsDevice::config_ops`]): its address tells the
/// transport's devices apart from others' (see [`Device::transport`]),
/// which a constant's would not (a constant may have a copy at every use).
#[repr(transparent)]
pub(crate) struct ConfigOps<T>(bindings::virtio_config_ops, PhantomData<T>);

// SAFETY: never written after initialization; the kernel only reads it,
// from any thread, and it holds nothing but function pointers.
unsafe impl<T> Sync for ConfigOps<T> {}

impl<T: Transport> ConfigOps<T> {
    pub(crate) const fn new() -> Self {
        Self(Adapter::<T>::OPS, PhantomData)
    }
}

impl<T> ConfigOps<T> {
    pub(super) fn as_raw(&'static self) -> *const bindings::virtio_config_ops {
        &self.0
    }
}

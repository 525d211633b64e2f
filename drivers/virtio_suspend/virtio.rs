// SPDX-License-Identifier: GPL-2.0

//! The virtio core, as a transport sees it: the `virtio_config_ops`
//! table that stock drivers call through, and the virtqueues of
//! `virtio_ring`.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::{
    bindings,
    error::from_result,
    ffi::{c_char, c_int, c_uint, c_void},
    prelude::*,
};

extern "C" {
    /// `vring_replay.c`: `vring_interrupt()` with interrupts and bottom
    /// halves disabled.
    fn virtio_suspend_vring_replay(vq: *mut c_void);
}

/// A virtio transport: the operations behind `struct virtio_config_ops`.
///
/// The virtio core calls these for one device at a time from process
/// context (probe, remove, config access, system sleep), except where a
/// method says otherwise.
pub(crate) trait Transport: Sized {
    /// The transport device that embeds `vdev`.
    ///
    /// # Safety
    ///
    /// `vdev` must be embedded in a live `Self`.
    unsafe fn from_vdev<'a>(vdev: *mut bindings::virtio_device) -> &'a Self;

    /// Reads device configuration space at `offset` into `buf` (1, 2, 4
    /// or 8 bytes).
    fn get(&self, offset: usize, buf: &mut [u8]);
    /// Writes `buf` to device configuration space at `offset`.
    fn set(&self, offset: usize, buf: &[u8]);
    fn generation(&self) -> u32;
    fn get_status(&self) -> u8;
    fn set_status(&self, status: u8);
    /// Resets the device and waits until the reset is complete.
    fn reset(&self);
    /// Creates the virtqueues `infos` describes, storing each in `vqs`
    /// (NULL for an entry without a name).
    fn find_vqs(
        &self,
        vqs: &mut [*mut bindings::virtqueue],
        infos: &[bindings::virtqueue_info],
    ) -> Result;
    fn del_vqs(&self);
    /// Waits for running virtqueue callbacks to finish.
    fn synchronize_cbs(&self);
    fn get_features(&self) -> u64;
    /// Writes the negotiated features (`virtio_device.features`).
    fn finalize_features(&self) -> Result;
    fn bus_name(&self) -> *const c_char;
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
        // SAFETY: As above.
        unsafe { T::from_vdev(vdev) }.reset()
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
        // SAFETY: the virtio core passes a device of this transport and
        // two arrays of `nvqs` entries.
        let (dev, vqs, infos) = unsafe {
            (
                T::from_vdev(vdev),
                core::slice::from_raw_parts_mut(vqs, nvqs as usize),
                core::slice::from_raw_parts(infos, nvqs as usize),
            )
        };
        from_result(|| dev.find_vqs(vqs, infos).map(|()| 0))
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn del_vqs(vdev: *mut bindings::virtio_device) {
        // SAFETY: the virtio core passes a device of this transport.
        unsafe { T::from_vdev(vdev) }.del_vqs()
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
        from_result(|| dev.finalize_features().map(|()| 0))
    }

    /// # Safety
    ///
    /// Only for the virtio core, through the ops table: `vdev` must be a
    /// registered device of transport `T`, and any buffer must be valid for
    /// its length.
    unsafe extern "C" fn bus_name(vdev: *mut bindings::virtio_device) -> *const c_char {
        // SAFETY: As above.
        unsafe { T::from_vdev(vdev) }.bus_name()
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
        ops
    };
}

/// The config ops table for transport `T`.
pub(crate) const fn config_ops<T: Transport>() -> &'static bindings::virtio_config_ops {
    &Adapter::<T>::OPS
}

/// A virtqueue created by `vring_create_virtqueue`, deleted on drop.
///
/// # Invariants
///
/// `0` is a live virtqueue owned by this value.
pub(crate) struct Vring(NonNull<bindings::virtqueue>);

// SAFETY: virtqueue operations used here may run on any CPU.
unsafe impl Send for Vring {}
// SAFETY: `vring_interrupt` may run concurrently on several CPUs.
unsafe impl Sync for Vring {}

/// What a queue needs from its creator, besides its size.
pub(crate) struct VringConfig {
    pub(crate) index: u32,
    pub(crate) num: u32,
    pub(crate) align: u32,
    pub(crate) ctx: bool,
    pub(crate) notify: unsafe extern "C" fn(*mut bindings::virtqueue) -> bool,
    pub(crate) callback: bindings::vq_callback_t,
    pub(crate) name: *const c_char,
}

impl Vring {
    /// Creates a split or packed ring, as the negotiated features say.
    ///
    /// # Safety
    ///
    /// `vdev` must be a registered virtio device whose features are
    /// final; `cfg.name` must live as long as the queue; `cfg.notify` must
    /// be safe to call for this queue from any context.
    pub(crate) unsafe fn create(
        vdev: *mut bindings::virtio_device,
        cfg: &VringConfig,
    ) -> Result<Self> {
        // SAFETY: guaranteed by the caller. `weak_barriers` because the
        // device is another CPU (a VMM thread), as for every virtio-mmio
        // device; `may_reduce_num` lets the ring shrink under memory
        // pressure, as the C transport allows.
        let vq = unsafe {
            bindings::vring_create_virtqueue(
                cfg.index,
                cfg.num,
                cfg.align,
                vdev,
                true,
                true,
                cfg.ctx,
                Some(cfg.notify),
                cfg.callback,
                cfg.name,
            )
        };
        // INVARIANT: a non-NULL result is a new queue we now own.
        NonNull::new(vq).map(Self).ok_or(ENOMEM)
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::virtqueue {
        self.0.as_ptr()
    }

    /// Entries in the ring (may be fewer than requested).
    pub(crate) fn size(&self) -> u32 {
        // SAFETY: live queue (type invariant).
        unsafe { bindings::virtqueue_get_vring_size(self.as_ptr()) }
    }

    /// Records the largest size the device supports, for later resizes.
    pub(crate) fn set_num_max(&mut self, num: u32) {
        // SAFETY: live queue that we own exclusively (`&mut self`).
        unsafe { (*self.as_ptr()).num_max = num };
    }

    /// Bus addresses of the descriptor, driver (avail) and device (used)
    /// areas.
    pub(crate) fn addresses(&self) -> [u64; 3] {
        // SAFETY: live queue (type invariant).
        unsafe {
            [
                bindings::virtqueue_get_desc_addr(self.as_ptr()),
                bindings::virtqueue_get_avail_addr(self.as_ptr()),
                bindings::virtqueue_get_used_addr(self.as_ptr()),
            ]
        }
    }

    /// Processes used buffers: runs the driver's callback if there are
    /// any. Safe in hard-IRQ context. Returns whether there was work.
    pub(crate) fn interrupt(&self, irq: u32) -> bool {
        // SAFETY: live queue (type invariant).
        unsafe {
            bindings::vring_interrupt(irq as _, self.as_ptr().cast())
                == bindings::irqreturn_IRQ_HANDLED
        }
    }
}

impl Vring {
    /// Stops showing new buffers to the device: the driver's buffers go
    /// into the ring but are not published, and notifications are
    /// deferred, until [`Vring::release`]. Call `synchronize_rcu()` after
    /// holding, before telling the device to stop.
    pub(crate) fn hold(&self) -> Result {
        // SAFETY: live queue (type invariant).
        kernel::error::to_result(unsafe { bindings::virtqueue_hold_avail(self.as_ptr()) })
    }

    /// Publishes what was held; returns whether anything was (buffers or
    /// a notification). Safe against the driver adding concurrently.
    pub(crate) fn release(&self) -> bool {
        // SAFETY: live queue (type invariant).
        unsafe { bindings::virtqueue_release_avail(self.as_ptr()) }
    }

    /// Like [`Vring::hold`], but adding fails with `ENOSPC` until the
    /// release, for a queue whose driver spins until each buffer it adds
    /// is used (see `logic::busy_wait`).
    pub(crate) fn refuse(&self) -> Result {
        // SAFETY: live queue (type invariant).
        kernel::error::to_result(unsafe { bindings::virtqueue_refuse_avail(self.as_ptr()) })
    }

    /// The name the driver gave the queue.
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: live queue (type invariant); its creator keeps the name
        // alive as long as the queue (`Vring::create`'s contract).
        unsafe { CStr::from_char_ptr((*self.as_ptr()).name) }
    }

    /// After a reset of the device while the queue is held: makes every
    /// buffer the device had not used available again from index 0, and
    /// keeps the used ones the driver has not taken (see
    /// `virtqueue_rewind_held`). The queue stays held. Call in process
    /// context, after the `synchronize_rcu()` that follows [`Vring::hold`].
    pub(crate) fn rewind(&self) -> Result {
        // SAFETY: live queue (type invariant); the function checks that
        // the queue is held and sleeps only to allocate.
        kernel::error::to_result(unsafe { bindings::virtqueue_rewind_held(self.as_ptr()) })
    }

    /// Runs the driver's callback if the ring has used buffers it has not
    /// taken, as an interrupt would. For process context: a device reset
    /// drops the interrupt it had pending.
    pub(crate) fn replay_interrupt(&self) {
        // SAFETY: live queue (type invariant); the glue disables
        // interrupts and bottom halves around `vring_interrupt`, which
        // ignores its irq number.
        unsafe { virtio_suspend_vring_replay(self.as_ptr().cast()) };
    }

    /// Notifies the device of the queue's available buffers.
    pub(crate) fn notify(&self) {
        // SAFETY: live queue (type invariant); notifying may be done at
        // any time and is harmless when nothing is new.
        unsafe { bindings::virtqueue_notify(self.as_ptr()) };
    }
}

impl Drop for Vring {
    fn drop(&mut self) {
        // SAFETY: we own the live queue (type invariant).
        unsafe { bindings::vring_del_virtqueue(self.as_ptr()) };
    }
}

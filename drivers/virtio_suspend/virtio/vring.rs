// SPDX-License-Identifier: GPL-2.0

//! The virtqueues of `virtio_ring`, as a transport creates, activates and,
//! for SUSPEND, holds and releases them.

use core::ptr::NonNull;

use kernel::{
    bindings,
    ffi::{c_char, c_int, c_void},
    prelude::*,
    types::Opaque,
};

extern "C" {
    fn virtio_suspend_vring_lock_init(lock: *mut bindings::spinlock_t);
    fn virtio_suspend_vring_interrupt(
        irq: c_int,
        vq: *mut c_void,
        lock: *mut bindings::spinlock_t,
    ) -> bool;
    fn virtio_suspend_vring_replay(vq: *mut c_void, lock: *mut bindings::spinlock_t);
}

/// A virtqueue created by `vring_create_virtqueue`, deleted on drop.
///
/// # Invariants
///
/// `vq` is a live virtqueue owned by this value; `interrupts` is an
/// initialized spinlock that every `vring_interrupt()` of `vq` runs under
/// (`vring_replay.c`).
pub(crate) struct Vring {
    vq: NonNull<bindings::virtqueue>,
    interrupts: Pin<KBox<Opaque<bindings::spinlock_t>>>,
}

// SAFETY: virtqueue operations used here may run on any CPU.
unsafe impl Send for Vring {}
// SAFETY: the operations on `&Vring` take the ring's own locks or are
// made for concurrent callers (hold, release, notify, rewind); the
// driver's callback runs under `interrupts`, so on one CPU at a time
// whether an interrupt or a replay runs it.
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
        let interrupts = KBox::pin(Opaque::uninit(), GFP_KERNEL)?;
        // SAFETY: a new spinlock, pinned, initialized before any use.
        unsafe { virtio_suspend_vring_lock_init(interrupts.get()) };
        // SAFETY: guaranteed by the caller. `weak_barriers` because the
        // device is another CPU (a VMM thread), as the C virtio-mmio and
        // virtio-pci transports assume; `may_reduce_num` lets the ring
        // shrink under memory pressure, as they allow.
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
        // INVARIANT: a non-NULL result is a new queue we now own; the lock
        // is initialized above.
        let vq = NonNull::new(vq).ok_or(ENOMEM)?;
        Ok(Self { vq, interrupts })
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::virtqueue {
        self.vq.as_ptr()
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

    /// Sets the queue's `priv`, which virtio_ring leaves to the transport
    /// (its notify function reads it).
    pub(crate) fn set_priv(&mut self, data: *const c_void) {
        // SAFETY: live queue that we own exclusively (`&mut self`).
        unsafe { (*self.as_ptr()).priv_ = data.cast_mut() };
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
        // SAFETY: live queue and its initialized lock (type invariant).
        unsafe {
            virtio_suspend_vring_interrupt(
                irq as c_int,
                self.as_ptr().cast(),
                self.interrupts.get(),
            )
        }
    }
}

impl Vring {
    /// Stops showing new buffers to the device: the driver's buffers go
    /// into the ring but are not published, and notifications are
    /// deferred, until [`Vring::release`]. Call [`hold_sync`] after
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

    /// Whether the driver gave the queue a callback (see
    /// `logic::busy_wait`: one without is polled).
    pub(crate) fn has_callback(&self) -> bool {
        // SAFETY: live queue (type invariant); `callback` is written only
        // when the queue is created (`__vring_new_virtqueue()`,
        // `vring_create_virtqueue_packed()`).
        unsafe { (*self.as_ptr()).callback.is_some() }
    }

    /// After a reset of the device while the queue is held: makes every
    /// buffer the device had not used available again from index 0, and
    /// keeps the used ones the driver has not taken (see
    /// `virtqueue_rewind_held`). The queue stays held. Call in process
    /// context, after the [`hold_sync`] that follows [`Vring::hold`].
    pub(crate) fn rewind(&self) -> Result {
        // SAFETY: live queue (type invariant); the function checks that
        // the queue is held and sleeps only to allocate.
        kernel::error::to_result(unsafe { bindings::virtqueue_rewind_held(self.as_ptr()) })
    }

    /// Runs the driver's callback if the ring has used buffers it has not
    /// taken, as an interrupt would. For process context: a device reset
    /// drops the interrupt it had pending. Serialized with
    /// [`Vring::interrupt`]: stock drivers' callbacks rely on never running
    /// on two CPUs at once (virtio_rng's takes used buffers without a
    /// lock).
    pub(crate) fn replay_interrupt(&self) {
        // SAFETY: live queue and its initialized lock (type invariant); the
        // glue disables bottom halves and, with the lock, interrupts
        // around `vring_interrupt`, which ignores its irq number.
        unsafe { virtio_suspend_vring_replay(self.as_ptr().cast(), self.interrupts.get()) };
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

/// Waits for the ring operations and notifications that started before
/// the holds (`virtqueue_hold_sync`): call after [`Vring::hold`] or
/// [`Vring::refuse`] on every queue, before telling the device to stop,
/// and before releasing queues whose hold was undone. Process context
/// only (it sleeps).
pub(crate) fn hold_sync() {
    // SAFETY: sleeping is valid in process context, the caller's.
    unsafe { bindings::virtqueue_hold_sync() };
}

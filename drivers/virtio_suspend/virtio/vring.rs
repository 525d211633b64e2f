// SPDX-License-Identifier: GPL-2.0

//! The virtqueues of `virtio_ring`, as a transport creates, activates and,
//! for SUSPEND, holds and releases them.
//!
//! A ring is shared: the transport holds references to it, and so does the
//! virtio core, from `find_vqs` until it is done with the ring (see
//! `Header`), so that what the driver points to lives as long as it needs
//! whatever the transport does; the last reference deletes the queue.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::{
    bindings, container_of,
    ffi::{c_int, c_void},
    prelude::*,
    str::CString,
    sync::Arc,
    types::Opaque,
};

use super::{Device, DeviceRef};

extern "C" {
    fn virtio_suspend_vring_lock_init(lock: *mut bindings::spinlock_t);
    fn virtio_suspend_vring_interrupt(
        irq: c_int,
        vq: *mut c_void,
        lock: *mut bindings::spinlock_t,
    ) -> bool;
    fn virtio_suspend_vring_replay(vq: *mut c_void, lock: *mut bindings::spinlock_t);
    fn virtio_suspend_vring_sync(lock: *mut bindings::spinlock_t);
    fn virtio_suspend_vring_detach(vq: *mut c_void, lock: *mut bindings::spinlock_t);
}

/// Where a queue's notifications go: the transport's part of a queue,
/// which its ring owns.
pub(crate) trait Notifier: Send + Sync + 'static {
    /// Tells the device that queue `n` has new buffers. Any context.
    fn notify(&self, n: &Notification<'_>);
}

/// A notification `virtio_ring` asks for.
pub(crate) struct Notification<'a> {
    vq: NonNull<bindings::virtqueue>,
    _queue: PhantomData<&'a Vring>,
}

impl Notification<'_> {
    /// The queue's index.
    pub(crate) fn index(&self) -> u16 {
        // SAFETY: a live queue (`notify` is called for live queues only);
        // `index` is set when it is created.
        unsafe { (*self.vq.as_ptr()).index as u16 }
    }

    /// The notification data of `VIRTIO_F_NOTIFICATION_DATA`: the index
    /// and where the driver is in the ring.
    pub(crate) fn data(&self) -> u32 {
        // SAFETY: a live queue, being notified by `virtio_ring`, which
        // calls this from `virtqueue_notify()` as the C transports do.
        unsafe { bindings::vring_notification_data(self.vq.as_ptr()) }
    }
}

/// `virtio_ring`'s notify callback for queues whose notifier is an `N`.
///
/// # Safety
///
/// Only for `virtio_ring`: `vq` is a live queue that
/// [`NewQueue::create_vring`] made with a notifier of type `N`.
unsafe extern "C" fn notify<N: Notifier>(vq: *mut bindings::virtqueue) -> bool {
    // SAFETY: `vq` is live and not NULL (see above).
    let vq = unsafe { NonNull::new_unchecked(vq) };
    // SAFETY: a live queue; its `priv` is its ring (a `Ring<N>`) while
    // the virtio core holds its reference, NULL before and after (see
    // `Header`), written under the device's list lock, hence read once.
    let ring = unsafe { core::ptr::read_volatile(&raw const (*vq.as_ptr()).priv_) };
    // SAFETY: if not NULL, the ring, alive while its queue is notified:
    // whoever notifies holds a reference to it (the driver through the
    // core's, or the transport), and its drop deletes the queue.
    let Some(ring) = (unsafe { ring.cast::<Ring<N>>().as_ref() }) else {
        // Not set up yet, or the core is done with it: nobody may add.
        return false;
    };
    ring.notifier.notify(&Notification {
        vq,
        _queue: PhantomData,
    });
    true
}

/// Drops the virtio core's reference to a ring (see [`Header`]).
///
/// # Safety
///
/// `header` is that of a `Ring<N>` whose core reference, from
/// `Arc::into_raw`, the caller owns and gives up.
unsafe fn drop_core_ref<N: Notifier>(header: NonNull<Header>) {
    // SAFETY: a `Ring<N>` starts with its header (`repr(C)`); the
    // reference is the caller's to give up.
    drop(unsafe { Arc::<Ring<N>>::from_raw(header.as_ptr().cast::<Ring<N>>()) });
}

/// What a ring is, whatever its notifier's type. Dropping it deletes the
/// queue.
///
/// The virtio core holds a reference to the ring (one count of the `Arc`
/// it lives in) from when it is made until the core is done with it,
/// after `del_vqs` or a failed `find_vqs` ([`release_core_refs`]): that
/// keeps the ring alive for the core and the driver whatever the
/// transport does with its own references. The queue's `priv` points to
/// the header while the core holds that reference, and is NULL before and
/// after.
///
/// # Invariants
///
/// `vq` is a live virtqueue owned by this header, whose name is `_name`
/// and whose `priv` is NULL or points to this header (the start of the
/// `Ring` that holds it); `interrupts` is an initialized spinlock that
/// every `vring_interrupt()` of `vq` runs under (`vring_replay.c`) once
/// `priv` has been set.
///
/// # Context
///
/// The last reference to a ring must be dropped in process context
/// (deleting the queue takes the device's list lock, frees DMA memory and
/// may drop the last reference to the device); the drop says so to
/// `might_sleep()`.
#[repr(C)]
struct Header {
    vq: NonNull<bindings::virtqueue>,
    interrupts: Opaque<bindings::spinlock_t>,
    drop_core_ref: unsafe fn(NonNull<Header>),
    _name: CString,
    /// The queue's `virtio_device` keeps it on its list until the queue
    /// is deleted.
    _device: DeviceRef,
}

// SAFETY: virtqueue operations used here may run on any CPU.
unsafe impl Send for Header {}
// SAFETY: the operations on `&Ring` take the ring's own locks or are
// made for concurrent callers (hold, release, notify, rewind); the
// driver's callback runs under `interrupts`, so on one CPU at a time
// whether an interrupt or a replay runs it.
unsafe impl Sync for Header {}

impl Drop for Header {
    fn drop(&mut self) {
        crate::compat::context::might_sleep();
        // SAFETY: we own the live queue (type invariant); nobody uses it
        // any more: the virtio core's reference was dropped (or never
        // taken), so the core and the driver are done with it, and so is
        // every other holder.
        unsafe { bindings::vring_del_virtqueue(self.vq.as_ptr()) };
    }
}

/// A virtqueue created by `vring_create_virtqueue`, with the transport's
/// notifier `N`; shared (`Arc`), and deleted when the last reference
/// goes, which is never before the virtio core is done with it (see
/// `Header`, also for the context of the last drop).
#[repr(C)]
pub(crate) struct Ring<N: ?Sized> {
    header: Header,
    notifier: N,
}

/// A ring, whatever its transport's notifier.
pub(crate) type Vring = Ring<dyn Notifier>;

/// Drops the virtio core's reference to each ring of `vdev` that it still
/// holds, after making sure the driver's callback never runs again for
/// it: a ring is deleted then, unless its transport still holds it.
///
/// # Safety
///
/// Only once the core and the driver are done with the rings: after the
/// transport's `del_vqs`, or its failed `find_vqs`, for `vdev`, a
/// registered device.
pub(super) unsafe fn release_core_refs(vdev: &Device) {
    // A ring's drop may put the last reference the rings hold on `vdev`,
    // whose list is walked again after it.
    // SAFETY: registered (guaranteed by the caller).
    let _device = unsafe { DeviceRef::new(vdev) };
    // One at a time: the reference is dropped without the list's lock,
    // which deleting the queue takes.
    while let Some(header) = vdev.take_core_ref() {
        // SAFETY: the ring is alive (we hold its core reference): its
        // live queue and initialized lock (type invariant of `Header`),
        // whose callback runs under that lock only; `drop_core_ref`
        // matches the ring's type, and the reference is ours to drop
        // (guaranteed by the caller).
        unsafe {
            let header = header.as_ptr();
            virtio_suspend_vring_detach((*header).vq.as_ptr().cast(), (*header).interrupts.get());
            ((*header).drop_core_ref)(NonNull::new_unchecked(header));
        }
    }
}

impl Device {
    /// Whether the device has virtqueues.
    pub(super) fn has_queues(&self) -> bool {
        self.with_queue_list(|head| {
            // SAFETY: the list, under its lock.
            unsafe { (*head).next != head }
        })
    }

    /// Takes the core's reference of the first ring of the device that
    /// still has it: its queue's `priv`, which it sets to NULL.
    fn take_core_ref(&self) -> Option<NonNull<Header>> {
        self.with_queue_list(|head| {
            // SAFETY: the list, under its lock: each entry is the `list` of
            // a live queue of the device, made by `create_vring` (this is a
            // transport's device), whose `priv` is NULL or its ring's
            // header while the core holds its reference, and is written
            // only under this lock once the queue is on the list.
            unsafe {
                let mut node = (*head).next;
                while node != head {
                    let vq = container_of!(node, bindings::virtqueue, list).cast_mut();
                    let header = (*vq).priv_.cast::<Header>();
                    if let Some(header) = NonNull::new(header) {
                        core::ptr::write_volatile(&raw mut (*vq).priv_, core::ptr::null_mut());
                        return Some(header);
                    }
                    node = (*node).next;
                }
                None
            }
        })
    }

    /// Runs `f` on the head of the device's queue list, with the list's
    /// lock held.
    fn with_queue_list<R>(&self, f: impl FnOnce(*mut bindings::list_head) -> R) -> R {
        // SAFETY: a live device, whose list lock `register_virtio_device`
        // initialized; queues are created only for registered devices.
        unsafe {
            let lock = &raw mut (*self.as_raw()).vqs_list_lock;
            bindings::spin_lock(lock);
            let ret = f(&raw mut (*self.as_raw()).vqs);
            bindings::spin_unlock(lock);
            ret
        }
    }
}

/// A queue a transport set up, with its ring.
pub(crate) trait Queue {
    fn vring(&self) -> &Vring;
}

/// `find_vqs` of a registered device, whose features are final: what
/// the virtio core asks for, and the right to create rings for it.
pub(crate) struct QueueSetup<'a> {
    vdev: &'a Device,
    vqs: &'a mut [*mut bindings::virtqueue],
    infos: &'a [bindings::virtqueue_info],
}

impl<'a> QueueSetup<'a> {
    /// # Safety
    ///
    /// Only inside the core's call of `find_vqs` for `vdev`, with its
    /// arrays.
    pub(super) unsafe fn new(
        vdev: &'a Device,
        vqs: &'a mut [*mut bindings::virtqueue],
        infos: &'a [bindings::virtqueue_info],
    ) -> Self {
        Self { vdev, vqs, infos }
    }

    /// A counted reference to the device, for interrupt handlers.
    pub(crate) fn device(&self) -> DeviceRef {
        // SAFETY: `find_vqs` is called for registered devices only.
        unsafe { DeviceRef::new(self.vdev) }
    }

    /// Sets up, with `setup`, a queue for each queue the driver asks for
    /// (an entry with a name), numbered from 0 in order: the queues, in
    /// order. The core gets the ring each [`NewQueue`] creates (a
    /// `find_vqs` that leaves a queue without one fails).
    pub(crate) fn create<Q>(
        self,
        mut setup: impl FnMut(NewQueue<'_>) -> Result<Q>,
    ) -> Result<KVec<Q>> {
        let mut queues = KVec::with_capacity(self.infos.len(), GFP_KERNEL)?;
        let mut index = 0u16;
        for (slot, info) in self.vqs.iter_mut().zip(self.infos) {
            if info.name.is_null() {
                continue;
            }
            let queue = setup(NewQueue {
                vdev: self.vdev,
                index,
                info,
                slot,
            })?;
            queues.push(queue, GFP_KERNEL)?;
            index = index.checked_add(1).ok_or(EINVAL)?;
        }
        Ok(queues)
    }
}

/// One queue the driver asks `find_vqs` for, and where its ring goes.
pub(crate) struct NewQueue<'a> {
    vdev: &'a Device,
    index: u16,
    info: &'a bindings::virtqueue_info,
    slot: &'a mut *mut bindings::virtqueue,
}

impl NewQueue<'_> {
    /// The queue's index on the device.
    pub(crate) fn index(&self) -> u16 {
        self.index
    }

    /// Creates the queue's ring, split or packed as the negotiated
    /// features say, of `num` entries (fewer under memory pressure) at
    /// most, aligned to `align`; `notifier` takes its notifications. The
    /// ring is the one the driver gets for this queue.
    pub(crate) fn create_vring<N: Notifier>(
        self,
        num: u32,
        align: u32,
        notifier: N,
    ) -> Result<Arc<Vring>> {
        // SAFETY: the driver's name is a C string, live during `find_vqs`.
        let name = unsafe { CStr::from_char_ptr(self.info.name) };
        let name = CString::try_from(name)?;
        // SAFETY: `find_vqs` is called for registered devices only.
        let device = unsafe { DeviceRef::new(self.vdev) };
        // SAFETY: `vdev` is registered and its features are final
        // (`find_vqs`); the name lives in the ring, as long as the queue;
        // `notify::<N>` does nothing while `priv` is NULL.
        // `weak_barriers` because the device is another CPU (a VMM
        // thread), as the C virtio-mmio and virtio-pci transports assume;
        // `may_reduce_num` lets the ring shrink under memory pressure, as
        // they allow.
        let vq = unsafe {
            bindings::vring_create_virtqueue(
                self.index.into(),
                num,
                align,
                self.vdev.as_raw(),
                true,
                true,
                self.info.ctx,
                Some(notify::<N>),
                self.info.callback,
                name.as_char_ptr(),
            )
        };
        let vq = NonNull::new(vq).ok_or(ENOMEM)?;
        // SAFETY: a new queue that nobody else uses yet (the list walks of
        // `find_vqs` and `del_vqs` are serialized with this one): `priv`
        // is left as `kmalloc` made it.
        unsafe {
            (*vq.as_ptr()).priv_ = core::ptr::null_mut();
            (*vq.as_ptr()).num_max = num;
        }
        // INVARIANT: a new queue we now own, named `name`, `priv` NULL;
        // dropped on failure, the header deletes it.
        let header = Header {
            vq,
            interrupts: Opaque::uninit(),
            drop_core_ref: drop_core_ref::<N>,
            _name: name,
            _device: device,
        };
        let ring = Arc::new(Ring { header, notifier }, GFP_KERNEL)?;
        // SAFETY: the lock in its place for good (an `Arc` does not move),
        // initialized before any use: nobody else knows the ring yet.
        unsafe { virtio_suspend_vring_lock_init(ring.header.interrupts.get()) };
        let core_ref = Arc::into_raw(ring.clone());
        self.vdev.with_queue_list(|_| {
            // SAFETY: the live queue, with the list's lock held, as every
            // write of `priv` once the queue is on the list. INVARIANT:
            // `priv` points to the header, the start of the ring
            // (`repr(C)`), whose lock is initialized; the core's
            // reference is `priv`.
            unsafe {
                core::ptr::write_volatile(&raw mut (*vq.as_ptr()).priv_, core_ref.cast_mut().cast())
            };
        });
        *self.slot = vq.as_ptr();
        Ok(ring)
    }
}

impl<N: ?Sized> Ring<N> {
    fn as_ptr(&self) -> *mut bindings::virtqueue {
        self.header.vq.as_ptr()
    }

    /// Entries in the ring (may be fewer than requested).
    pub(crate) fn size(&self) -> u32 {
        // SAFETY: live queue (type invariant).
        unsafe { bindings::virtqueue_get_vring_size(self.as_ptr()) }
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
                self.header.interrupts.get(),
            )
        }
    }
}

impl<N: ?Sized> Ring<N> {
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
        // SAFETY: live queue (type invariant); its name is `_name`.
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
        unsafe { virtio_suspend_vring_replay(self.as_ptr().cast(), self.header.interrupts.get()) };
    }

    /// Waits until no interrupt handling or replay of the queue runs (one
    /// that starts later sees what the caller did before). Process
    /// context, for `synchronize_cbs`.
    pub(crate) fn sync_interrupts(&self) {
        // SAFETY: the queue's initialized lock (type invariant).
        unsafe { virtio_suspend_vring_sync(self.header.interrupts.get()) };
    }

    /// Notifies the device of the queue's available buffers.
    pub(crate) fn notify(&self) {
        // SAFETY: live queue (type invariant); notifying may be done at
        // any time and is harmless when nothing is new.
        unsafe { bindings::virtqueue_notify(self.as_ptr()) };
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

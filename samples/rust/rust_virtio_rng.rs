// SPDX-License-Identifier: GPL-2.0

//! Rust virtio entropy device driver: a sample of a virtio driver written in Rust.
//!
//! It does what `drivers/char/hw_random/virtio-rng.c` does, on the `kernel::virtio` and
//! `kernel::hw_random` abstractions of `tools/kernel/patches/0007-*` and `0008-*`, with no
//! `unsafe` code. Read it top to bottom as a tutorial.
//!
//! # 1. Declare the driver
//!
//! A virtio driver is a type implementing [`virtio::Driver`]: a name, the device IDs it binds
//! to ([`virtio::DeviceId`]), the device feature bits it accepts (none here), and its data for a
//! bound device ([`virtio::Driver::Data`], here an [`Arc<Rng>`], shared with the hwrng core).
//! [`kernel::module_virtio_driver!`] makes the module that registers it; the `alias` lets udev
//! load it for an entropy device (`virtio:d00000004v*`).
//!
//! # 2. Probe: find the queues, post nothing yet
//!
//! [`virtio::Driver::probe`] runs with the features negotiated and the device not yet
//! `DRIVER_OK`. It finds the queues with [`virtio::Device::find_vqs`] (one queue, `"input"`,
//! whose used buffers are notified to [`virtio::Driver::queue_done`]) and returns the driver's
//! data. Buffers are posted in [`virtio::Driver::scan`], which runs once the device is live.
//!
//! # 3. Requests: owned buffers, a lock, a completion
//!
//! The device fills buffers the driver makes available. A buffer is a [`KVec<u8>`], given to
//! the ring by [`virtio::Virtqueue::add_inbuf`] and given back by
//! [`virtio::Virtqueue::get_buf`] with its length set to what the device wrote, so no byte
//! the device did not write is ever read, and the ring, not the driver, owns the memory in
//! between. Queue operations go through [`virtio::Queues::lock`] (the rings are not
//! thread-safe). The used-buffer callback runs in interrupt context: it only notes that the
//! answer came and signals a [`Completion`]; the reader takes the buffer in process context.
//! As in C, one request is outstanding at a time, posted as soon as the previous one is
//! consumed: the reader takes an answer, hands it out and posts the next request under one
//! lock, and takes none while no answer has come.
//!
//! # 4. Register with the subsystem
//!
//! [`hw_random::Registration::register`] makes the device an entropy source for `/dev/hwrng`
//! and `khwrngd`; [`hw_random::Operations::read`] serves it. The hwrng core runs one read at a
//! time, so what reads share (the bytes of an answer not handed out yet) is the registration's
//! [`hw_random::Operations::Reader`], which `read` gets mutably, with no lock. Dropping the
//! registration unregisters it, and returns only when no read runs any more.
//!
//! # 5. Remove and system sleep
//!
//! [`virtio::Driver::remove`] wakes a waiting reader, unregisters the source; afterwards the
//! abstraction resets the device, deletes the queue with the buffer still in it and drops the
//! driver's data. On the reset-based sleep path [`virtio::Driver::freeze`] does the same but
//! keeps the data, and [`virtio::Driver::restore`] finds the queue again and registers anew.
//! When the transport keeps the device alive with virtio device SUSPEND, neither is called: the
//! request outstanding at suspend completes after the resume.

mod rng_pool;

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    c_str, fmt, hw_random,
    prelude::*,
    str::CString,
    sync::{new_mutex, Arc, ArcBorrow, Completion, Mutex},
    virtio,
};

kernel::module_virtio_driver! {
    type: RngDriver,
    name: "rust_virtio_rng",
    author: "Rust for Linux Contributors",
    description: "Rust virtio entropy device driver (sample)",
    license: "GPL",
    alias: ["virtio:d00000004v*"],
}

/// The buffer size of a request: a cache line, as the C driver.
const REQUEST_SIZE: usize = 64;

/// The driver.
struct RngDriver;

/// The bytes the device returned, handed out from `pos`: the source's reader state.
#[derive(Default)]
struct Pool {
    /// The last buffer the device filled (its length is what it wrote), when a read took it
    /// and did not hand all of it out; `None` while a request is outstanding.
    buf: Option<KVec<u8>>,
    /// The bytes of `buf` already handed out.
    pos: usize,
}

/// One entropy device.
#[pin_data]
struct Rng {
    /// The index of the virtio device, for the source's name.
    index: i32,
    /// The device's queues (one).
    queues: virtio::Queues,
    /// Signalled by the device's used-buffer notification.
    #[pin]
    have_data: Completion,
    /// The device has used the outstanding request's buffer (set by the notification, cleared
    /// when the next request is posted): the reader takes the queue lock only then.
    answered: AtomicBool,
    /// The source is being unregistered: readers return at once.
    removed: AtomicBool,
    /// The registered source, while there is one.
    #[pin]
    hwrng: Mutex<Option<Pin<KBox<hw_random::Registration<RngDriver>>>>>,
}

impl Rng {
    /// Posts a request for `REQUEST_SIZE` bytes, reusing `buf` if given.
    fn request(&self, buf: Option<KVec<u8>>) -> Result {
        let buf = match buf {
            Some(buf) => buf,
            None => KVec::with_capacity(REQUEST_SIZE, GFP_KERNEL)?,
        };
        self.post(&mut self.queues.lock().vq(0)?, buf)
    }

    /// Posts `buf` as the next request on the locked queue `vq`.
    fn post(&self, vq: &mut virtio::Virtqueue<'_>, buf: KVec<u8>) -> Result {
        // Forget signals of earlier requests before this one can complete (the ring's barrier
        // before it makes the buffer available orders both before the device's answer).
        self.answered.store(false, Ordering::Relaxed);
        self.have_data.reinit();
        // Unless the source is being stopped: `stop` may have woken the reader just before
        // that `reinit`, which would leave it waiting for a device that may not answer soon.
        if self.removed.load(Ordering::Acquire) {
            self.have_data.complete_all();
        }
        vq.add_inbuf(buf)?;
        vq.kick();
        Ok(())
    }

    /// Copies received bytes into `out`: what is left of the answer in `pool`, else the answer
    /// to the outstanding request if it came. Posts the next request once an answer is used up.
    fn copy(&self, pool: &mut Pool, out: &mut [u8]) -> Result<usize> {
        if let Some(answer) = pool.buf.as_ref() {
            let (n, used_up) = rng_pool::hand_out(answer, &mut pool.pos, out);
            if used_up {
                self.request(pool.buf.take())?;
            }
            return Ok(n);
        }
        // Set before the completion is signalled (release), so a reader the signal woke sees it.
        if !self.answered.load(Ordering::Acquire) {
            return Ok(0);
        }
        let mut queues = self.queues.lock();
        let mut vq = queues.vq(0)?;
        // None if a notification came late, after the answer it announced was taken and the
        // next request posted: that request's answer is still to come.
        let Some(used) = vq.get_buf() else {
            return Ok(0);
        };
        pool.pos = 0;
        let (n, used_up) = rng_pool::hand_out(&used.buf, &mut pool.pos, out);
        if used_up {
            self.post(&mut vq, used.buf)?;
        } else {
            pool.buf = Some(used.buf);
        }
        Ok(n)
    }

    /// The device is live: posts the first request and registers the source.
    fn start(self: ArcBorrow<'_, Self>) -> Result {
        // Before the first request (see `request`); no reader comes before the registration.
        self.removed.store(false, Ordering::Release);
        self.request(None)?;
        let name = CString::try_from_fmt(fmt!("rust_virtio_rng.{}", self.index))?;
        let reg = hw_random::Registration::register(name, 0, self.into(), Pool::default())?;
        *self.hwrng.lock() = Some(reg);
        Ok(())
    }

    /// Wakes a waiting reader and unregisters the source; returns once no read runs.
    fn stop(&self) {
        self.removed.store(true, Ordering::Release);
        self.have_data.complete_all();
        let reg = self.hwrng.lock().take();
        drop(reg);
    }
}

#[vtable]
impl hw_random::Operations for RngDriver {
    type Data = Arc<Rng>;
    type Reader = Pool;

    fn read(rng: ArcBorrow<'_, Rng>, pool: &mut Pool, out: &mut [u8], wait: bool) -> Result<usize> {
        if rng.removed.load(Ordering::Acquire) {
            return Err(ENODEV);
        }
        let mut read = 0;
        loop {
            read += rng.copy(pool, &mut out[read..])?;
            if read == out.len() || !wait {
                return Ok(read);
            }
            // Nothing left and a request outstanding: wait for its completion.
            if let Err(e) = rng.have_data.wait_killable() {
                return if read > 0 { Ok(read) } else { Err(e) };
            }
            if rng.removed.load(Ordering::Acquire) {
                return Ok(read);
            }
        }
    }
}

#[vtable]
impl virtio::Driver for RngDriver {
    type Data = Arc<Rng>;

    const NAME: &'static CStr = c_str!("rust_virtio_rng");
    const ID_TABLE: &'static [virtio::DeviceId] = &[virtio::DeviceId::new(virtio::id::RNG)];

    fn probe(dev: &virtio::Device<virtio::Bound>) -> Result<Arc<Rng>> {
        let queues = dev.find_vqs(&[c_str!("input")])?;
        Arc::pin_init(
            pin_init!(Rng {
                index: dev.index(),
                queues,
                have_data <- Completion::new(),
                answered: AtomicBool::new(false),
                removed: AtomicBool::new(true),
                hwrng <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )
    }

    fn scan(_dev: &virtio::Device<virtio::Bound>, rng: ArcBorrow<'_, Rng>) {
        if let Err(e) = rng.start() {
            pr_err!("rust_virtio_rng.{}: not registered: {:?}\n", rng.index, e);
        }
    }

    fn queue_done(rng: ArcBorrow<'_, Rng>, _index: u32) {
        rng.answered.store(true, Ordering::Release);
        rng.have_data.complete();
    }

    fn remove(_dev: &virtio::Device<virtio::Bound>, rng: ArcBorrow<'_, Rng>) {
        rng.stop();
    }

    fn freeze(_dev: &virtio::Device<virtio::Bound>, rng: ArcBorrow<'_, Rng>) -> Result {
        rng.stop();
        rng.queues.delete();
        pr_info!("rust_virtio_rng.{}: frozen: queue deleted\n", rng.index);
        Ok(())
    }

    fn restore(dev: &virtio::Device<virtio::Bound>, rng: ArcBorrow<'_, Rng>) -> Result {
        dev.find_vqs(&[c_str!("input")])?;
        dev.ready();
        rng.start()?;
        pr_info!("rust_virtio_rng.{}: restored: queue rebuilt\n", rng.index);
        Ok(())
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Config changes and config writes while a device is suspended: a
//! suspended device must see no config write, and a driver must see no
//! config change before its device runs again. Both are held, and
//! delivered once the device runs.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::{new_mutex, prelude::*, sync::Mutex};

use crate::logic::config_writes::HeldWrites;
use kernel::virtio::{Device, Embedded};

/// Whether config writes are held, and those that were.
struct HeldWriteState {
    held: bool,
    writes: HeldWrites,
}

/// The held config changes and writes of one device.
#[pin_data]
pub(crate) struct ConfigHold {
    /// While set, config-change interrupts are recorded in `pending`
    /// instead of being passed to the driver.
    held: AtomicBool,
    pending: AtomicBool,
    /// A mutex, not a spinlock: drivers write config only where they may
    /// sleep (virtio_ccw's `set` does).
    #[pin]
    writes: Mutex<HeldWriteState>,
}

impl ConfigHold {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            held: AtomicBool::new(false),
            pending: AtomicBool::new(false),
            writes <- new_mutex!(
                HeldWriteState {
                    held: false,
                    writes: HeldWrites::new(),
                },
                "virtio_suspend_config_writes"
            ),
        })
    }

    /// A config-change interrupt: passed on to the driver, or held.
    pub(crate) fn changed(&self, vdev: &Device<Embedded>) {
        if self.held.load(Ordering::SeqCst) {
            self.pending.store(true, Ordering::SeqCst);
            // Released meanwhile? Then whoever clears `pending` first
            // delivers it.
            if self.held.load(Ordering::SeqCst) || !self.pending.swap(false, Ordering::SeqCst) {
                return;
            }
        }
        vdev.config_changed();
    }

    /// A driver's config write: made by `write_now`, or held. Held or
    /// made under the lock `hold` takes, so no write reaches the device
    /// once it has been asked to suspend.
    pub(crate) fn write(
        &self,
        vdev: &Device<Embedded>,
        offset: usize,
        data: &[u8],
        write_now: impl FnOnce(usize, &[u8]),
    ) {
        let mut state = self.writes.lock();
        if !state.held {
            write_now(offset, data);
            return;
        }
        if let Err(e) = state.writes.hold(offset, data) {
            dev_err!(
                vdev.as_dev(),
                "config write at {offset:#x} while suspended dropped: {e}\n"
            );
        }
    }

    /// A config read of `buf` at `offset`, as the device returned it:
    /// while writes are held, the held ones are laid over it, so that the
    /// driver reads back what it wrote. Takes the lock only while held
    /// (suspended), when no interrupt handler reads config: the device
    /// raises none.
    pub(crate) fn read(&self, offset: usize, buf: &mut [u8]) {
        if !self.held.load(Ordering::SeqCst) {
            return;
        }
        let state = self.writes.lock();
        if state.held {
            state.writes.overlay(offset, buf);
        }
    }

    /// Holds config changes and writes from now on.
    pub(crate) fn hold(&self) {
        self.held.store(true, Ordering::SeqCst);
        self.writes.lock().held = true;
    }

    /// Stops holding: makes the writes held meanwhile with `write_now`,
    /// oldest first, then delivers a change that came. Call once the
    /// device runs.
    pub(crate) fn release(&self, vdev: &Device<Embedded>, write_now: &dyn Fn(usize, &[u8])) {
        {
            let mut state = self.writes.lock();
            for write in state.writes.as_slice() {
                write_now(write.offset, write.data());
            }
            state.writes.clear();
            state.held = false;
        }
        self.held.store(false, Ordering::SeqCst);
        if self.pending.swap(false, Ordering::SeqCst) {
            vdev.config_changed();
        }
    }

    /// Stops holding for a device that will not run again (gone, or
    /// broken by a failed recovery): the held writes cannot be made and
    /// are dropped, saying so, and a held change is not passed on.
    pub(crate) fn drop_held(&self, vdev: &Device<Embedded>) {
        {
            let mut state = self.writes.lock();
            let dropped = state.writes.as_slice().len();
            if dropped > 0 {
                dev_err!(
                    vdev.as_dev(),
                    "{dropped} config writes held while suspended dropped: the device does not run\n"
                );
            }
            state.writes.clear();
            state.held = false;
        }
        self.held.store(false, Ordering::SeqCst);
        self.pending.store(false, Ordering::SeqCst);
    }
}

// SPDX-License-Identifier: GPL-2.0

//! System sleep for a virtio-mmio device: device SUSPEND when it was
//! negotiated, the virtio core's reset-based freeze/restore otherwise and
//! whenever SUSPEND fails. The decisions are `logic::suspend::Machine`'s;
//! this file carries them out on the device.

use core::fmt::Write;
use core::ptr::NonNull;

use kernel::{bindings, error::to_result, prelude::*};

use crate::debugfs::Command;
use crate::locks::{DeviceLockGuard, SystemSleepGuard};
use crate::logic::busy_wait::is_busy_waited;
use crate::logic::dialect::{S_ACKNOWLEDGE, S_DRIVER, S_FEATURES_OK, S_RUNNING};
use crate::logic::suspend::{Machine, Reason, State, Step};
use crate::mmio_transport::{MmioQueue, VmDevice};
use crate::virtio::Transport;

/// Microseconds on the monotonic clock.
fn now_us() -> u64 {
    // SAFETY: callable in any context.
    (unsafe { bindings::ktime_get() } / 1000) as u64
}

fn sleep_us(us: u32) {
    let us = u64::from(us);
    // SAFETY: suspend and resume run in process context.
    unsafe {
        bindings::usleep_range_state(
            us as _,
            (us + us / 4 + 1) as _,
            bindings::TASK_UNINTERRUPTIBLE,
        )
    };
}

impl VmDevice {
    /// Reads the status and feeds it to the machine after `step` is done.
    fn carry_out(&self, machine: &mut Machine, step: Step) -> Result<Step> {
        match step {
            Step::Write(value) => self.set_status(value),
            Step::Sleep(us) => sleep_us(us),
            // A failed re-initialisation is a failed resume: it must end
            // in the classic recovery, which releases the held queues,
            // not in an error that leaves them held.
            Step::Reinit => {
                if self.reinit_keeping_queues().is_err() {
                    return Ok(machine.reinit_failed());
                }
            }
            Step::Done | Step::Classic(_) => return Ok(step),
        }
        Ok(machine.poll(self.status(), now_us()))
    }

    /// Runs `f` on the device's active queues (none before `find_vqs`),
    /// with `find_vqs` and `del_vqs` kept out meanwhile.
    fn with_queues<R>(&self, f: impl FnOnce(&[MmioQueue]) -> R) -> R {
        let queues = self.queues.lock();
        f(queues.as_ref().map_or(&[], |r| &r.data().queues[..]))
    }

    /// The name of the driver bound to the virtio device, if any.
    fn driver_name(&self) -> Option<&CStr> {
        // SAFETY: `vdev` is registered while `self` is bound. Its driver
        // does not change under a sleep transition: the PM core blocks
        // probing and has frozen user space, and the debugfs path holds
        // the device lock, as the driver core does to bind or unbind.
        let driver = unsafe { (*self.vdev()).dev.driver };
        // SAFETY: a bound driver is live, its name a string of its module,
        // which cannot go while the driver is bound.
        (!driver.is_null()).then(|| unsafe { CStr::from_char_ptr((*driver).name) })
    }

    /// Holds every queue (see `Vring::hold`), refusing instead those the
    /// driver waits on synchronously (see `logic::busy_wait`). On failure
    /// nothing stays held.
    fn hold_queues(&self) -> Result {
        let driver = self.driver_name().map_or(&b""[..], CStr::as_bytes);
        self.with_queues(|list| {
            for (n, q) in list.iter().enumerate() {
                let held = if is_busy_waited(driver, q.vring.name().as_bytes()) {
                    q.vring.refuse()
                } else {
                    q.vring.hold()
                };
                if let Err(e) = held {
                    // A release must not overtake a publisher that missed
                    // the hold: it would move the index back.
                    // SAFETY: process context.
                    unsafe { bindings::synchronize_rcu_expedited() };
                    for held in &list[..n] {
                        held.vring.release();
                    }
                    return Err(e);
                }
            }
            Ok(())
        })
    }

    /// Publishes what every queue held and notifies the device of each
    /// queue: a notification the driver sent while held, or one it will
    /// never send because its buffers went in while held, must not be lost.
    fn release_queues(&self) {
        self.with_queues(|list| {
            for q in list {
                q.vring.release();
                q.vring.notify();
            }
        })
    }

    /// Writes QueueNotify for every queue, bypassing the hold.
    fn notify_all_now(&self) {
        self.with_queues(|list| list.iter().for_each(MmioQueue::notify_device))
    }

    /// The reset-based freeze of the virtio core.
    pub(crate) fn classic_freeze(&self) -> Result {
        // SAFETY: `vdev` is registered while the platform device is bound.
        to_result(unsafe { bindings::virtio_device_freeze(self.vdev()) })
    }

    /// The reset-based restore of the virtio core.
    pub(crate) fn classic_restore(&self) -> Result {
        // SAFETY: As for `classic_freeze`, after it.
        to_result(unsafe { bindings::virtio_device_restore(self.vdev()) })
    }

    /// System suspend: SUSPEND, or the classic freeze.
    pub(crate) fn system_suspend(&self) -> Result {
        let mut machine = self.sleep.lock();
        machine.set_dialect(self.negotiated());
        let mut step = machine.begin_suspend(self.status(), now_us());
        if let Step::Write(_) = step {
            // From the request on, the device must see no new buffer and
            // no notification: hold the queues, then wait for publishers
            // that started before the hold. Expedited: a normal grace
            // period costs ticks, more than the whole SUSPEND handshake.
            match self.hold_queues() {
                Ok(()) => {
                    // SAFETY: process context.
                    unsafe { bindings::synchronize_rcu_expedited() };
                    self.hold_config();
                }
                Err(_) => step = machine.queues_not_holdable(),
            }
        }
        loop {
            step = match self.carry_out(&mut machine, step)? {
                Step::Done => return Ok(()),
                Step::Classic(reason) => return self.suspend_classically(reason),
                next => next,
            };
        }
    }

    fn suspend_classically(&self, reason: Reason) -> Result {
        match reason {
            Reason::NotNegotiated => {}
            Reason::QueueNotHoldable | Reason::NotRunning(_) => {
                dev_warn!(
                    self.dev(),
                    "no SUSPEND: {reason}; using reset-based suspend\n"
                );
            }
            _ => {
                dev_warn!(
                    self.dev(),
                    "SUSPEND failed: {reason}; falling back to reset-based suspend\n"
                );
                self.abandon_suspend();
            }
        }
        self.classic_freeze()
    }

    /// Leaves a suspend or resume the device did not complete, with the
    /// device running again and every buffer the driver added on its way
    /// to completion, so that the classic path that follows (a driver's
    /// freeze waits for its requests) finds a working device.
    ///
    /// The spec leaves the driver one way out, a reset, and the reset
    /// device forgets the buffers it had not used: while the queues are
    /// still held, each is rewound to give them back, then the device is
    /// set up again on the same queues, and only once it runs are the
    /// queues released and notified. The reset also dropped any interrupt
    /// the device had pending: each queue's callback runs for the used
    /// buffers the driver had not taken.
    fn abandon_suspend(&self) {
        self.reset();
        let rewound = self.with_queues(|list| list.iter().try_for_each(|q| q.vring.rewind()));
        if let Err(e) = rewound {
            dev_err!(
                self.dev(),
                "cannot give the reset device back the buffers in flight (error {}); they may never complete\n",
                e.to_errno()
            );
        }
        if self.run_on_same_queues().is_err() {
            dev_err!(
                self.dev(),
                "device did not run again after the reset; buffers in flight may never complete\n"
            );
        }
        self.release_queues();
        self.with_queues(|list| list.iter().for_each(|q| q.vring.replay_interrupt()));
        self.release_config();
    }

    /// System resume: from SUSPEND, or the classic restore.
    pub(crate) fn system_resume(&self) -> Result {
        let mut machine = self.sleep.lock();
        let mut step = machine.begin_resume(self.status(), now_us());
        loop {
            step = match self.carry_out(&mut machine, step)? {
                Step::Done => {
                    self.release_queues();
                    self.release_config();
                    return Ok(());
                }
                Step::Classic(Reason::FrozenClassically) => return self.classic_restore(),
                Step::Classic(reason) => {
                    dev_err!(
                        self.dev(),
                        "resume from SUSPEND failed: {reason}; resetting and restoring the device\n"
                    );
                    self.abandon_suspend();
                    self.classic_freeze()?;
                    self.classic_restore()?;
                    machine.classic_done();
                    return Ok(());
                }
                next => next,
            };
        }
    }

    /// The STOP draft's resume: reset, then set the device up again on the
    /// same queues, which the device resumes from the state it kept.
    fn reinit_keeping_queues(&self) -> Result {
        self.reset();
        self.run_on_same_queues()
    }

    /// Sets a device fresh from reset up again, on the queues the driver
    /// has, with the features it had accepted, and lets it run.
    fn run_on_same_queues(&self) -> Result {
        let mut status = S_ACKNOWLEDGE | S_DRIVER;
        self.set_status(S_ACKNOWLEDGE);
        self.set_status(status);
        self.write_features(self.features());
        status |= S_FEATURES_OK;
        self.set_status(status);
        if self.status() & S_FEATURES_OK == 0 {
            dev_err!(
                self.dev(),
                "device refused the features it had accepted before STOP\n"
            );
            return Err(EIO);
        }
        self.with_queues(|list| list.iter().for_each(MmioQueue::activate));
        self.set_status(S_RUNNING);
        Ok(())
    }

    /// Before the device goes away or its driver is unbound: a device left
    /// suspended, or frozen by the classic path, through debugfs is
    /// resumed first. Drivers' remove expects a live device (virtio_blk's
    /// waits for the requests SUSPEND holds, and would free queues a
    /// classic freeze already freed).
    pub(crate) fn resume_if_suspended(&self, why: &str) {
        if self.sleep.lock().state() == State::Running {
            return;
        }
        dev_warn!(self.dev(), "{why} while suspended: resuming it first\n");
        if let Err(e) = self.system_resume() {
            dev_err!(self.dev(), "resume failed: error {}\n", e.to_errno());
        }
    }

    /// A command written to the debugfs control file.
    ///
    /// Suspend and resume run as the PM core runs them: with system sleep
    /// locked out and the virtio device locked, so they never overlap a
    /// system sleep, a driver's probe or remove, or each other. A command
    /// that finds the device locked (a driver binding or unbinding) is
    /// refused with `EBUSY`, one for a device without a driver with
    /// `ENODEV`; suspending a device that is not running is refused with
    /// `EBUSY`, resuming one that is with `EINVAL`.
    pub(crate) fn control(&self, command: Command) -> Result {
        if command == Command::Notify {
            self.notify_all_now();
            return Ok(());
        }
        let _sleep = SystemSleepGuard::lock();
        // SAFETY: `vdev` is live while `self` is, and `self` outlives the
        // guard, a local; a field address of a live struct is not NULL.
        let device = unsafe {
            DeviceLockGuard::try_lock(NonNull::new_unchecked(&raw mut (*self.vdev()).dev))
        }
        .ok_or(EBUSY)?;
        if !device.has_driver() {
            return Err(ENODEV);
        }
        let running = self.sleep.lock().state() == State::Running;
        match command {
            Command::Suspend if !running => Err(EBUSY),
            Command::Resume if running => Err(EINVAL),
            Command::Suspend => self.system_suspend(),
            Command::Resume => self.system_resume(),
            Command::Cycle => {
                self.system_suspend()?;
                self.system_resume()
            }
            Command::Notify => Ok(()),
        }
    }

    /// The value of sysfs attribute `name`.
    pub(crate) fn sysfs_show(&self, name: &str, out: &mut impl Write) -> core::fmt::Result {
        let machine = self.sleep.lock();
        let c = machine.counters();
        match name {
            "dialect" => writeln!(out, "{}", self.negotiated().map_or("none", |d| d.name())),
            "state" => writeln!(out, "{}", machine.state().name()),
            "suspends" => writeln!(out, "{}", c.suspends),
            "resumes" => writeln!(out, "{}", c.resumes),
            "fallbacks" => writeln!(out, "{}", c.fallbacks),
            "timeouts" => writeln!(out, "{}", c.timeouts),
            "needs_reset" => writeln!(out, "{}", c.needs_reset),
            "last_suspend_us" => writeln!(out, "{}", c.last_suspend_us),
            "last_resume_us" => writeln!(out, "{}", c.last_resume_us),
            "last_path" => match machine.last_reason() {
                None if c.suspends > 0 => writeln!(out, "suspend"),
                None => writeln!(out, "none"),
                Some(reason) => writeln!(out, "classic: {reason}"),
            },
            _ => Err(core::fmt::Error),
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! System sleep for a virtio device of any transport: device SUSPEND
//! when it was negotiated, the virtio core's reset-based freeze/restore
//! otherwise and whenever SUSPEND fails. The decisions are
//! `logic::suspend::Machine`'s; this file carries them out on the device
//! through [`SuspendTransport`].

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use kernel::{new_mutex, prelude::*, sync::Mutex};

use super::config_hold::ConfigHold;
use super::control::Command;
use crate::compat::locks::SystemSleepGuard;
use crate::compat::time::{now_us, sleep_us};
use crate::logic::busy_wait::is_busy_waited;
use crate::logic::dialect::{Dialect, S_ACKNOWLEDGE, S_DRIVER, S_FEATURES_OK, S_RUNNING};
use crate::logic::mmio::F_VERSION_1;
use crate::logic::suspend::{self as machine, Event, Machine, Outcome, Owner, State, Step};
use crate::params::SuspendParams;
use kernel::virtio::transport::{
    self, EmbedsDevice, Negotiation, QueueSetup, Registered, ResetWait, Vring,
};
use kernel::virtio::{Device, Embedded, Locked};

/// How a reset wait ended, as the pure machine (`logic`, which the
/// kernel crate does not reach) takes it.
fn machine_reset_wait(wait: ResetWait) -> machine::ResetWait {
    match wait {
        ResetWait::Done => machine::ResetWait::Done,
        ResetWait::Gone => machine::ResetWait::Gone,
        ResetWait::TimedOut => machine::ResetWait::TimedOut,
    }
}

/// A transport device under the engine: its hardware access. The virtio
/// config operations of every such device are the engine's
/// (`transport_ops.rs`), on top of these.
///
/// The engine calls these with the device's sleep lock held, from process
/// context, while the virtio driver stays bound (see [`Driven::control`]);
/// the virtio core calls them through the config operations.
pub(crate) trait SuspendTransport: EmbedsDevice {
    /// The engine the transport device embeds.
    fn engine(&self) -> &Engine;

    /// Reads device configuration at `offset` into `buf` (1, 2, 4 or 8
    /// bytes) from the device; logs a refused access.
    fn read_config(&self, offset: usize, buf: &mut [u8]) -> Result;

    /// Writes device configuration, bypassing the hold; logs a refusal.
    fn config_write_now(&self, offset: usize, data: &[u8]);

    /// The configuration generation.
    fn config_generation(&self) -> u32;

    /// The status register, as the device shows it.
    fn read_status(&self) -> u8;

    /// Writes the status register.
    fn write_status(&self, status: u8);

    /// After a reset whose wait ended `wait` (see [`Driven::reset_device`]).
    fn after_reset(&self, _wait: ResetWait) {}

    /// `find_vqs`: creates the queues the driver asks for, with their
    /// interrupts.
    fn setup_queues(&self, setup: QueueSetup<'_>) -> Result;

    /// `del_vqs`: frees the queues' interrupts, then lets go of the
    /// queues.
    fn delete_queues(&self);

    /// Waits for running interrupt handlers of the device.
    fn synchronize_irqs(&self);

    /// The features the device offers.
    fn device_features(&self) -> u64;

    /// The name of the bus device the transport found the device on.
    fn bus_device_name(&self) -> &CStr;

    /// The bus address and length of shared memory region `id`, if the
    /// device offers it.
    fn shm_region(&self, _id: u8) -> Option<(u64, u64)> {
        None
    }

    /// Runs `f` on each active virtqueue (none before `find_vqs`), in
    /// index order, with `find_vqs` and `del_vqs` kept out meanwhile;
    /// stops at the first error and returns it.
    fn for_each_vring(&self, f: &mut dyn FnMut(&Vring) -> Result) -> Result;

    /// Writes driver features `features` to the device.
    fn write_features(&self, features: u64);

    /// Tells the device where each active queue's rings are, and enables
    /// it, as `find_vqs` did.
    fn activate_queues(&self) -> Result;

    /// Notifies the device of every active queue, bypassing the hold.
    fn notify_queues_now(&self);

    /// The device status: for a detached device the one kept in memory
    /// (see [`Engine::detach`]); 0, reset, for a device that is gone (see
    /// [`Engine::is_gone`]).
    fn status(&self) -> u8 {
        let engine = self.engine();
        if let Some(status) = engine.detached_status() {
            return status;
        }
        if engine.is_gone() {
            return 0;
        }
        self.read_status()
    }

    /// Writes the device status: for a detached device, in memory.
    fn set_status(&self, status: u8) {
        if !self.engine().set_detached_status(status) {
            self.write_status(status);
        }
    }

    /// The features the device offers: for a detached device, those the
    /// driver accepted before.
    fn offered_features(&self) -> u64 {
        self.engine()
            .detached_features()
            .unwrap_or_else(|| self.device_features())
    }

    /// Waits for a running replay of the engine's (or handling of an
    /// interrupt) on each queue to end (see [`Vring::sync_interrupts`]).
    fn wait_for_replays(&self) {
        let _ = self.for_each_vring(&mut |vring| {
            vring.sync_interrupts();
            Ok(())
        });
    }
}

/// The entries of each ring of a detached device (see [`Engine::detach`]):
/// the device has none to offer, the driver's restore needs some; no
/// buffer is ever added to them.
pub(crate) const DETACHED_QUEUE_SIZE: u32 = 256;

/// The SUSPEND state of one device, embedded in its transport device.
#[pin_data]
pub(crate) struct Engine {
    params: SuspendParams,
    /// The dialect the last feature negotiation agreed on, as
    /// [`encode_dialect`] stores it; written by `finalize_features`, which
    /// also runs inside a classic restore, so it cannot share `sleep`.
    negotiated: AtomicU8,
    /// The device is gone (its status read all ones): a separate flag,
    /// since `SuspendTransport::status` reads it, with `sleep` held.
    gone: AtomicBool,
    /// The device is detached (see [`Engine::detach`]), never touched
    /// again; its status and offered features are these.
    detached: AtomicBool,
    detached_status: AtomicU8,
    detached_features: AtomicU64,
    /// The detached device shows FEATURES_OK when written: only during
    /// the restore onto it.
    detached_setup: AtomicBool,
    /// Held for a whole suspend or resume.
    #[pin]
    sleep: Mutex<Machine>,
    #[pin]
    config: ConfigHold,
}

const fn encode_dialect(dialect: Option<Dialect>) -> u8 {
    match dialect {
        None => 0,
        Some(Dialect::Spec) => 1,
        Some(Dialect::V5) => 2,
        Some(Dialect::Stop) => 3,
    }
}

const fn decode_dialect(value: u8) -> Option<Dialect> {
    match value {
        1 => Some(Dialect::Spec),
        2 => Some(Dialect::V5),
        3 => Some(Dialect::Stop),
        _ => None,
    }
}

impl Engine {
    pub(crate) fn new(params: SuspendParams) -> impl PinInit<Self> {
        pin_init!(Self {
            params,
            negotiated: AtomicU8::new(0),
            gone: AtomicBool::new(false),
            detached: AtomicBool::new(false),
            detached_status: AtomicU8::new(0),
            detached_features: AtomicU64::new(0),
            detached_setup: AtomicBool::new(false),
            sleep <- new_mutex!(
                Machine::new(None, params.timeout_us).with_control_classic(params.control_classic),
                "virtio_suspend_sleep"
            ),
            config <- ConfigHold::new(),
        })
    }

    /// Whether the device is suspended through SUSPEND (not frozen by
    /// the classic path, and not running).
    pub(crate) fn is_suspended(&self) -> bool {
        self.sleep.lock().state() == State::Suspended
    }

    /// Whether the device is known to be gone (surprise removal).
    ///
    /// From then on its transport reports its status as 0, reset: that
    /// is all a driver can make of a device that is not there, and what
    /// the virtio core expects of a device its driver has let go of
    /// (`virtio_dev_remove` warns about any other status). A probe or
    /// restore sees FEATURES_OK refused and fails.
    pub(crate) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// The device's status read all ones: it is gone.
    pub(crate) fn mark_gone(&self) {
        self.gone.store(true, Ordering::Release);
    }

    /// Detaches the device, whose driver accepted `features`: from then
    /// on nothing is written to it. Its status is kept in memory, its
    /// configuration is read from it as before (a read changes nothing,
    /// and a driver's restore needs what it reads there, as virtio_blk
    /// its number of queues) but takes no write, its queues are set up in
    /// memory only and marked broken, so that a driver restored onto it
    /// fails its requests at once and frees its queues once at its
    /// remove. It shows FEATURES_OK only while `setup` runs (the restore
    /// onto it), so no later probe sets it up.
    pub(crate) fn detach<R>(&self, features: u64, setup: impl FnOnce() -> R) -> R {
        self.detached_features.store(features, Ordering::Relaxed);
        self.detached_status.store(0, Ordering::Relaxed);
        self.detached.store(true, Ordering::Release);
        self.detached_setup.store(true, Ordering::Release);
        let result = setup();
        self.detached_setup.store(false, Ordering::Release);
        result
    }

    /// Whether the device is detached (see [`Engine::detach`]).
    pub(crate) fn is_detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }

    /// The status of a detached device, `None` for any other.
    fn detached_status(&self) -> Option<u8> {
        self.is_detached()
            .then(|| self.detached_status.load(Ordering::Acquire))
    }

    /// Keeps `status` as a detached device's (FEATURES_OK only while it
    /// is set up, see [`Engine::detach`]); false if the device is not
    /// detached.
    fn set_detached_status(&self, status: u8) -> bool {
        if !self.is_detached() {
            return false;
        }
        let status = if self.detached_setup.load(Ordering::Acquire) {
            status
        } else {
            status & !S_FEATURES_OK
        };
        self.detached_status.store(status, Ordering::Release);
        true
    }

    /// The features a detached device offers, `None` for any other.
    fn detached_features(&self) -> Option<u64> {
        self.is_detached()
            .then(|| self.detached_features.load(Ordering::Relaxed))
    }

    /// The SUSPEND dialect negotiated, if any.
    pub(crate) fn negotiated(&self) -> Option<Dialect> {
        decode_dialect(self.negotiated.load(Ordering::Acquire))
    }

    /// Accepts the SUSPEND feature of the configured dialect if `offered`
    /// has it. Only the chosen dialect's bit: bit 42 means another thing
    /// in the merged spec (a legacy net feature). The virtio core leaves
    /// bits above the transport range and clears unknown ones inside it,
    /// so SUSPEND is the transport's to accept.
    pub(crate) fn negotiate(&self, offered: u64, negotiation: &mut Negotiation<'_>) {
        let offers = |bit: u32| offered.checked_shr(bit).is_some_and(|v| v & 1 != 0);
        let mut dialect = self
            .params
            .dialect
            .filter(|&d| offers(self.params.feature_bit(d)));
        // `accept` refuses a bit above 63, which the parameters never
        // give (`feature_bit` is 42 or 43, or a checked stop_feature_bit).
        if let Some(d) = dialect {
            if negotiation.accept(self.params.feature_bit(d)).is_err() {
                dialect = None;
            }
        }
        self.negotiated
            .store(encode_dialect(dialect), Ordering::Release);
    }

    /// A config-change interrupt: passed on, or held while suspended.
    pub(crate) fn config_changed(&self, vdev: &Device<Embedded>) {
        self.config.changed(vdev);
    }

    /// A driver's config read of `buf` at `offset`, after the transport
    /// read it from the device: writes held while suspended read back.
    pub(crate) fn config_read(&self, offset: usize, buf: &mut [u8]) {
        self.config.read(offset, buf);
    }

    /// A driver's config write: made by `write_now`, or held while
    /// suspended and made at resume.
    pub(crate) fn config_write(
        &self,
        vdev: &Device<Embedded>,
        offset: usize,
        data: &[u8],
        write_now: impl FnOnce(usize, &[u8]),
    ) {
        self.config.write(vdev, offset, data, write_now);
    }
}

/// A registered transport device, as the engine drives it: the transport's
/// hardware access, and the virtio device registered for it (which only a
/// registered device has).
#[derive(Clone, Copy)]
pub(crate) struct Driven<'a>(&'a Registered<dyn SuspendTransport>);

impl<'a, T: SuspendTransport> From<&'a Registered<T>> for Driven<'a> {
    fn from(device: &'a Registered<T>) -> Self {
        Self(device)
    }
}

impl<'a> core::ops::Deref for Driven<'a> {
    type Target = Registered<dyn SuspendTransport>;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl Driven<'_> {
    /// Resets the device and waits until the reset is complete; says how
    /// the wait ended. A device found gone is marked so. Then, unless the
    /// device may still be raising interrupts (the reset timed out), no
    /// handling of the device as it was runs any more: the transport's
    /// handlers ([`SuspendTransport::after_reset`]) and the engine's
    /// replays (as the C transports flush callbacks in their reset).
    pub(crate) fn reset_device(&self) -> ResetWait {
        if self.engine().set_detached_status(0) {
            // Nothing of it runs: no handler, no replay.
            return ResetWait::Done;
        }
        self.write_status(0);
        let wait = self.virtio().wait_for_reset(|| self.status());
        if wait == ResetWait::Gone {
            self.engine().mark_gone();
        }
        self.after_reset(wait);
        if wait != ResetWait::TimedOut {
            self.wait_for_replays();
        }
        wait
    }

    /// Feature negotiation for a modern device: the ring features
    /// `virtio_ring` supports, `VIRTIO_F_VERSION_1` required, SUSPEND if
    /// the device offers the configured dialect's bit; written to the
    /// device.
    pub(crate) fn negotiate_modern(&self, negotiation: &mut Negotiation<'_>) -> Result {
        negotiation.keep_ring_features();
        if negotiation.features() & (1u64 << F_VERSION_1) == 0 {
            dev_err!(
                self.dev(),
                "device does not offer VIRTIO_F_VERSION_1, which modern devices must\n"
            );
            return Err(EINVAL);
        }
        self.engine()
            .negotiate(self.offered_features(), negotiation);
        if !self.engine().is_detached() {
            self.write_features(negotiation.features());
        }
        Ok(())
    }

    /// Runs the transition `event` to its end: carries out each step the
    /// machine gives and reports how it went, with the machine locked
    /// throughout, and the device (`locked`: its driver stays bound).
    /// Every decision is the machine's (`logic::suspend`); this only does
    /// what it says.
    fn run(&self, event: Event, locked: &Locked<'_>) -> Result {
        let engine = self.engine();
        let mut machine = engine.sleep.lock();
        machine.set_dialect(engine.negotiated());
        let mut step = machine.begin(event, self.status(), now_us());
        loop {
            let outcome = match step {
                Step::Finish(result) => return result.map_err(Error::from_errno),
                step => self.carry_out(step, locked),
            };
            step = machine.next(outcome, now_us());
        }
    }

    /// Carries out one step of a transition.
    fn carry_out(&self, step: Step, locked: &Locked<'_>) -> Outcome {
        let failed = |e: Error| Outcome::Failed(e.to_errno());
        match step {
            Step::HoldQueues => match self.hold_queues(locked) {
                // From the request on, the device must see no new buffer
                // and no notification: wait for publishers and notifiers
                // that started before the hold.
                Ok(()) => {
                    transport::hold_sync();
                    Outcome::Done
                }
                Err(e) => failed(e),
            },
            Step::HoldConfig => {
                self.engine().config.hold();
                Outcome::Done
            }
            Step::Write(value) => {
                self.write_status(value);
                Outcome::Status(self.status())
            }
            Step::Sleep(us) => {
                sleep_us(us);
                Outcome::Status(self.status())
            }
            Step::Reinit => match self.reinit_keeping_queues() {
                Ok(()) => Outcome::Status(self.status()),
                Err(e) => failed(e),
            },
            Step::Reset => Outcome::Reset(machine_reset_wait(self.reset_device())),
            Step::Rewind => self.rewind_queues().map_or_else(failed, |()| Outcome::Done),
            Step::ReplayInterrupts => {
                let _ = self.for_each_vring(&mut |vring| {
                    vring.replay_interrupt();
                    Ok(())
                });
                Outcome::Done
            }
            Step::RunOnSameQueues => self
                .run_on_same_queues()
                .map_or_else(failed, |()| Outcome::Done),
            Step::ReleaseQueues => {
                self.release_queues(true);
                Outcome::Done
            }
            Step::ReleaseQueuesQuietly => {
                self.release_queues(false);
                Outcome::Done
            }
            Step::ReleaseConfig => {
                self.engine()
                    .config
                    .release(self.virtio(), &|offset, data| {
                        self.config_write_now(offset, data)
                    });
                Outcome::Done
            }
            Step::DropConfig => {
                self.engine().config.drop_held(self.virtio());
                Outcome::Done
            }
            Step::AnnounceConfigChange => {
                self.virtio().config_changed();
                Outcome::Done
            }
            Step::MarkBroken => {
                self.virtio().mark_broken();
                Outcome::Done
            }
            Step::MarkGone => {
                self.engine().mark_gone();
                self.virtio().mark_broken();
                Outcome::Done
            }
            Step::Freeze => self
                .virtio()
                .classic_freeze(locked)
                .map_or_else(failed, |()| Outcome::Done),
            Step::Restore => self
                .virtio()
                .classic_restore(locked)
                .map_or_else(failed, |()| Outcome::Done),
            Step::ResetToDetach => Outcome::Reset(machine_reset_wait(self.reset_device())),
            Step::Detach => self
                .detach(|| Ok(()))
                .map_or_else(failed, |()| Outcome::Done),
            Step::RestoreDetached => self
                .detach(|| self.virtio().classic_restore(locked))
                .map_or_else(failed, |()| Outcome::Done),
            Step::Report(report) => {
                if report.is_error() {
                    dev_err!(self.dev(), "{report}\n");
                } else {
                    dev_warn!(self.dev(), "{report}\n");
                }
                Outcome::Done
            }
            // `run` ends there; nothing to carry out.
            Step::Finish(_) => Outcome::Done,
        }
    }

    /// The machine's [`Step::Detach`] and [`Step::RestoreDetached`]:
    /// detaches the device, runs `setup` on it (the restore onto it, or
    /// nothing), and marks every queue broken, also those of a driver
    /// without `restore`, which keeps its queues.
    fn detach(&self, setup: impl FnOnce() -> Result) -> Result {
        let vdev = self.virtio();
        let result = self.engine().detach(vdev.features(), setup);
        vdev.mark_broken();
        result
    }

    /// Holds every queue (see `Vring::hold`), refusing instead those the
    /// driver waits on synchronously (see `logic::busy_wait`). On failure
    /// nothing stays held.
    fn hold_queues(&self, locked: &Locked<'_>) -> Result {
        let driver = locked.driver_name().map_or(&b""[..], CStr::as_bytes);
        let mut held = 0usize;
        let result = self.for_each_vring(&mut |vring| {
            if is_busy_waited(driver, vring.name().as_bytes(), vring.has_callback()) {
                vring.refuse()?;
            } else {
                vring.hold()?;
            }
            held += 1;
            Ok(())
        });
        if result.is_err() {
            // A release must not overtake a publisher that missed the
            // hold: it would move the index back.
            transport::hold_sync();
            // The same queues: `find_vqs` and `del_vqs` run only in the
            // driver's probe, remove, freeze and restore, which the device
            // lock and the PM core keep apart from us.
            let mut index = 0;
            let _ = self.for_each_vring(&mut |vring| {
                if index < held {
                    vring.release();
                }
                index += 1;
                Ok(())
            });
        }
        result
    }

    /// Rewinds every queue, all of them even after one failed (a queue
    /// left unrewound would be re-read from stale indices); returns the
    /// first error.
    fn rewind_queues(&self) -> Result {
        let mut first = Ok(());
        let _ = self.for_each_vring(&mut |vring| {
            if let Err(e) = vring.rewind() {
                first = first.and(Err(e));
            }
            Ok(())
        });
        first
    }

    /// Publishes what every queue held and, if `notify`, notifies the
    /// device of each queue: a notification the driver sent while held,
    /// or one it will never send because its buffers went in while held,
    /// must not be lost.
    fn release_queues(&self, notify: bool) {
        let _ = self.for_each_vring(&mut |vring| {
            vring.release();
            if notify {
                vring.notify();
            }
            Ok(())
        });
    }

    /// Runs `event` with the device locked: the PM core's callbacks of
    /// the transport's device hold that device's lock, not its child's,
    /// the virtio device (taken after its parent's, as the driver core
    /// does).
    fn run_locked(&self, event: Event) -> Result {
        let locked = self.virtio().lock();
        self.run(event, &locked)
    }

    /// System suspend: SUSPEND, or the classic freeze.
    pub(crate) fn system_suspend(&self) -> Result {
        self.run_locked(Event::SystemSuspend)
    }

    /// System resume: from SUSPEND, or the classic restore.
    pub(crate) fn system_resume(&self) -> Result {
        self.run_locked(Event::SystemResume)
    }

    /// Hibernation's freeze and poweroff keep the reset-based path: the
    /// image is restored by a new boot, after which the device's state
    /// no longer matches the driver's, and poweroff ends the device's
    /// state anyway. Refused for a device the control file suspended.
    pub(crate) fn hibernation_freeze(&self) -> Result {
        self.run_locked(Event::HibernationFreeze)
    }

    /// Hibernation's thaw and restore: see [`Self::hibernation_freeze`].
    pub(crate) fn hibernation_restore(&self) -> Result {
        self.run_locked(Event::HibernationRestore)
    }

    /// The STOP draft's resume: reset, then set the device up again on the
    /// same queues, which the device resumes from the state it kept.
    fn reinit_keeping_queues(&self) -> Result {
        match self.reset_device() {
            ResetWait::Done => self.run_on_same_queues(),
            ResetWait::Gone => Err(ENODEV),
            ResetWait::TimedOut => Err(EIO),
        }
    }

    /// Sets a device fresh from reset up again, on the queues the driver
    /// has, with the features it had accepted, and lets it run.
    fn run_on_same_queues(&self) -> Result {
        let mut status = S_ACKNOWLEDGE | S_DRIVER;
        self.write_status(S_ACKNOWLEDGE);
        self.write_status(status);
        self.write_features(self.virtio().features());
        status |= S_FEATURES_OK;
        self.write_status(status);
        if self.status() & S_FEATURES_OK == 0 {
            dev_err!(
                self.dev(),
                "device refused the features it had accepted before\n"
            );
            return Err(EIO);
        }
        self.activate_queues()?;
        self.write_status(S_RUNNING);
        Ok(())
    }

    /// Before the device goes away or its driver is unbound: a device left
    /// suspended, or frozen by the classic path, through debugfs is
    /// resumed first. Drivers' remove expects a live device (virtio_blk's
    /// waits for the requests SUSPEND holds, and would free queues a
    /// classic freeze already freed).
    /// `locked`: the device's lock, which the driver core holds around
    /// an unbind.
    pub(crate) fn resume_before_unbind(&self, locked: &Locked<'_>) {
        if let Err(e) = self.run(Event::Unbind, locked) {
            dev_err!(
                self.dev(),
                "resume before unbind failed: error {}\n",
                e.to_errno()
            );
        }
    }

    /// The transport found the device gone (a PCI function no longer
    /// present at remove): its queues are marked broken, so that drivers
    /// waiting on them give up, as the C transports do; a driver frozen
    /// then is first restored onto the detached device, so that its
    /// remove does not free again what its freeze freed.
    pub(crate) fn vanished(&self) {
        let _ = self.run_locked(Event::Vanished);
    }

    /// A command written to the debugfs control file.
    ///
    /// Suspend and resume run as the PM core runs them: with system sleep
    /// locked out and the virtio device locked, so they never overlap a
    /// system sleep, a driver's probe or remove, or each other. A command
    /// that finds the device locked (a driver binding or unbinding) is
    /// refused with `EBUSY`, one for a device without a driver with
    /// `ENODEV`; the machine refuses suspending a device that is not
    /// running with `EBUSY`, one SUSPEND cannot suspend with `EOPNOTSUPP`
    /// (unless `control_classic`), resuming one that is running with
    /// `EINVAL`, and every command to a device that is gone with
    /// `ENODEV` (`notify` to a detached one too).
    pub(crate) fn control(&self, command: Command) -> Result {
        if command == Command::Notify {
            // With the machine locked: no transition detaches the device
            // meanwhile.
            let _machine = self.engine().sleep.lock();
            if self.engine().is_gone() || self.engine().is_detached() {
                return Err(ENODEV);
            }
            self.notify_queues_now();
            return Ok(());
        }
        let _sleep = SystemSleepGuard::lock();
        let locked = self.virtio().try_lock().ok_or(EBUSY)?;
        if !locked.has_driver() {
            return Err(ENODEV);
        }
        match command {
            Command::Suspend => self.run(Event::ControlSuspend, &locked),
            Command::Resume => self.run(Event::ControlResume, &locked),
            Command::Cycle => {
                self.run(Event::ControlSuspend, &locked)?;
                self.run(Event::ControlResume, &locked)
            }
            Command::Notify => Ok(()),
        }
    }

    /// The value of sysfs attribute `name`.
    pub(crate) fn sysfs_show(&self, name: &str, out: &mut dyn Write) -> core::fmt::Result {
        let engine = self.engine();
        let machine = engine.sleep.lock();
        let c = machine.counters();
        match name {
            "dialect" => writeln!(out, "{}", engine.negotiated().map_or("none", |d| d.name())),
            "state" => writeln!(out, "{}", machine.state().name()),
            "held_by" => writeln!(
                out,
                "{}",
                match machine.owner() {
                    None => "none",
                    Some(Owner::System) => "system",
                    Some(Owner::Control) => "control",
                    Some(Owner::Hibernation) => "hibernation",
                }
            ),
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

// SPDX-License-Identifier: GPL-2.0

//! The per-device sleep state machine: every decision of a suspend,
//! resume, hibernation, debugfs command or unbind.
//!
//! Pure: the engine starts a transition with [`Machine::begin`], carries
//! out each [`Step`] the machine returns, and reports how it went with
//! [`Machine::next`], until [`Step::Finish`]. The machine alone decides
//! what is done to the device, its queues, the config hold and the
//! driver, and it records what was done, so that what it says about the
//! device (frozen, suspended, held) is what was really done.
//! `tools/host-tests` explores every sequence of events and outcomes to a
//! fixed depth against a model of the device, the driver and the PM core.
//!
//! ```text
//!              suspend: SUSPEND acknowledged
//!   Running -----------------------------------> Suspended
//!    ^  ^  |                                        |
//!    |  |  | suspend: no SUSPEND, or it failed      | resume: running again
//!    |  |  v         (freeze)                       |  (or failed: recover,
//!    |  | Fallback ---------------------------------+   freeze, restore)
//!    |  |    | resume, thaw: restore                |
//!    |  +----+                                      v
//!    +--------------------------------------------Running
//!
//!   any transition: the device reads all ones -> Gone (for good)
//!   a recovery or restore that fails           -> Broken (for good)
//! ```
//!
//! A suspended or frozen device remembers who put it there ([`Owner`]): a
//! system sleep leaves a device the debugfs control file suspended as it
//! is, and hibernation, which would freeze it a second time, is refused.

use super::dialect::{device_broken, Dialect, ResumeBy};

/// First sleep between two status reads; doubled after each read up to
/// [`POLL_SLEEP_MAX_US`]. A device that acknowledges at once costs no
/// sleep (the first read follows the write directly); a slow one is read
/// at most one [`POLL_MAX_US`] after it acknowledged.
pub(crate) const POLL_FIRST_US: u32 = 10;
/// Longest time between two status reads: the poll interval.
pub(crate) const POLL_MAX_US: u32 = 1000;
/// Longest sleep between two status reads: the poll interval less what a
/// sleeper takes to run again after its timer fired (the transport
/// sleeps on a high-resolution timer without slack; the rest is wake-up
/// latency, up to a few hundred microseconds in a TCG guest).
pub(crate) const POLL_SLEEP_MAX_US: u32 = POLL_MAX_US / 2;

/// Errors a transition ends with, as the kernel numbers them (negative).
pub(crate) const EIO: i32 = -5;
pub(crate) const EBUSY: i32 = -16;
pub(crate) const ENODEV: i32 = -19;
pub(crate) const EINVAL: i32 = -22;
pub(crate) const EOPNOTSUPP: i32 = -95;

/// Where a device is between transitions (and, inside one, in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum State {
    Running,
    Suspending,
    Suspended,
    Resuming,
    /// Frozen by the reset-based path: its driver's freeze ran, and its
    /// restore is due.
    Fallback,
    /// The device is gone (its status reads all ones): nothing is done
    /// to it again, and its driver is not frozen, so no restore is due
    /// (a stock driver removed after a freeze without its restore frees
    /// what the freeze freed): one frozen when the device went is
    /// restored onto the detached device first.
    Gone,
    /// A recovery or a reset-based restore failed: its queues are marked
    /// broken where the device could not be made to run again, and
    /// nothing is tried on the device again. Its driver is not frozen:
    /// after a failed restore it is restored onto the detached device
    /// (see [`Step::RestoreDetached`]), unless the device did not reset
    /// or the driver's own restore fails there ([`Machine::driver_frozen`]).
    Broken,
}

impl State {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Suspending => "suspending",
            State::Suspended => "suspended",
            State::Resuming => "resuming",
            State::Fallback => "fallback",
            State::Gone => "gone",
            State::Broken => "broken",
        }
    }
}

/// Who suspended or froze a device: only the same party resumes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Owner {
    /// System suspend (s2idle, S3).
    System,
    /// The debugfs control file.
    Control,
    /// Hibernation's freeze (and poweroff).
    Hibernation,
}

/// What starts a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Event {
    /// The PM core's `suspend` (s2idle, S3).
    SystemSuspend,
    /// The PM core's `resume`, after a `suspend` that succeeded.
    SystemResume,
    /// Hibernation's `freeze` and `poweroff`.
    HibernationFreeze,
    /// Hibernation's `thaw` and `restore`, after a `freeze` that succeeded.
    HibernationRestore,
    /// `suspend` written to the debugfs control file.
    ControlSuspend,
    /// `resume` written to the debugfs control file.
    ControlResume,
    /// The driver is about to be unbound, or the device unregistered: a
    /// device left suspended or frozen is resumed first (drivers' remove
    /// expects a live device, and frees again what a freeze freed).
    Unbind,
    /// The transport found the device gone outside a transition (a PCI
    /// function no longer present at remove).
    Vanished,
}

impl Event {
    /// Who owns what the event suspends, or may resume.
    const fn owner(self) -> Option<Owner> {
        match self {
            Event::SystemSuspend | Event::SystemResume => Some(Owner::System),
            Event::ControlSuspend | Event::ControlResume => Some(Owner::Control),
            Event::HibernationFreeze | Event::HibernationRestore => Some(Owner::Hibernation),
            Event::Unbind | Event::Vanished => None,
        }
    }
}

/// Why a device took, or is taking, the classic path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Reason {
    /// SUSPEND was not negotiated (not offered, or `suspend=off`).
    NotNegotiated,
    /// The device was not running when system sleep began.
    NotRunning(u8),
    /// A queue cannot be held back (packed ring).
    QueueNotHoldable,
    /// The device set DEVICE_NEEDS_RESET, FAILED, or reset itself.
    NeedsReset(u8),
    /// The status reads all ones: the device is gone (surprise removal),
    /// or its registers no longer decode.
    Gone,
    /// The device did not acknowledge within the timeout; last status.
    Timeout(u8),
    /// The device left the suspended state on its own.
    Lied(u8),
    /// The STOP dialect's reset and re-initialisation on resume failed.
    ReinitFailed,
}

impl core::fmt::Display for Reason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Reason::NotNegotiated => f.write_str("SUSPEND not negotiated"),
            Reason::NotRunning(s) => write!(f, "device not running (status {s:#04x})"),
            Reason::QueueNotHoldable => f.write_str("a packed virtqueue cannot be held"),
            Reason::NeedsReset(s) => write!(f, "device needs a reset (status {s:#04x})"),
            Reason::Gone => f.write_str("device gone (status reads 0xff)"),
            Reason::Timeout(s) => write!(f, "no acknowledgement in time (status {s:#04x})"),
            Reason::Lied(s) => write!(
                f,
                "device left the suspended state by itself (status {s:#04x})"
            ),
            Reason::ReinitFailed => f.write_str("re-initialisation after STOP failed"),
        }
    }
}

/// Why a device whose status shows it broken cannot go on: a status of
/// all ones is no status at all (every bit set, DEVICE_NEEDS_RESET
/// among them) but a device that is gone, seen at the first read
/// instead of polled until the timeout.
const fn broken(status: u8) -> Reason {
    if status == 0xff {
        Reason::Gone
    } else {
        Reason::NeedsReset(status)
    }
}

/// How a wait for a reset ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ResetWait {
    /// The status read 0.
    Done,
    /// The status read all ones: the device is gone.
    Gone,
    /// Still not 0 when the transport stopped waiting.
    TimedOut,
}

/// The step of a recovery that failed, leaving the device broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Unrecoverable {
    ResetTimedOut,
    RewindFailed(i32),
    RunFailed(i32),
}

/// What the engine tells the kernel log; the machine decides what and
/// when, the engine how (an error or a warning, see [`Report::is_error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Report {
    /// SUSPEND is negotiated but cannot be tried: reset-based suspend.
    NoSuspend(Reason),
    /// SUSPEND failed: the device is recovered, then frozen classically.
    SuspendFailed(Reason),
    /// Resume from SUSPEND failed: recovered, frozen and restored.
    ResumeFailed(Reason),
    /// The device is gone: its queues are marked broken.
    Gone,
    /// A recovery failed: the device is marked broken.
    Unrecoverable(Unrecoverable),
    /// The control file cannot suspend without SUSPEND: it does not run
    /// a driver's freeze unless allowed to (see [`Machine::new`]).
    ControlNeedsSuspend(Reason),
    /// SUSPEND failed under the control file: the device is recovered,
    /// its driver frozen and restored at once.
    ControlSuspendFailed(Reason),
    /// The driver refused the reset-based freeze after a recovery: the
    /// device runs on.
    FreezeRefused(i32),
    /// The reset-based restore failed: the device is to be detached and
    /// the driver restored onto it.
    RestoreFailed(i32),
    /// The device did not reset, or the driver's own restore failed on
    /// the detached device: it stays frozen.
    DetachedRestoreFailed(i32),
    /// The device vanished with its driver frozen: the driver was
    /// restored onto the detached device, for its remove.
    VanishedRestored,
    /// The device vanished with its driver frozen, and the driver's own
    /// restore onto the detached device failed: its remove, which
    /// follows, runs frozen.
    VanishedFrozen(i32),
    /// Hibernation would freeze a device the control file suspended.
    HibernationRefused,
    /// Resumed before its driver is unbound.
    ResumingBeforeUnbind,
}

impl Report {
    pub(crate) const fn is_error(self) -> bool {
        !matches!(
            self,
            Report::NoSuspend(_)
                | Report::SuspendFailed(_)
                | Report::ControlNeedsSuspend(_)
                | Report::ControlSuspendFailed(_)
                | Report::FreezeRefused(_)
                | Report::ResumingBeforeUnbind
        )
    }
}

impl core::fmt::Display for Report {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Report::NoSuspend(r) => write!(f, "no SUSPEND: {r}; using reset-based suspend"),
            Report::SuspendFailed(r) => write!(
                f,
                "SUSPEND failed: {r}; falling back to reset-based suspend"
            ),
            Report::ControlNeedsSuspend(r) => write!(
                f,
                "debugfs suspend refused: {r}; the reset-based path would run the driver's freeze beside user space (control_classic=Y allows it)"
            ),
            Report::ControlSuspendFailed(r) => write!(
                f,
                "debugfs suspend failed: {r}; resetting the device, freezing and restoring its driver"
            ),
            Report::ResumeFailed(r) => write!(
                f,
                "resume from SUSPEND failed: {r}; resetting and restoring the device"
            ),
            Report::Gone => f.write_str(
                "device gone (status reads 0xff): its queues are marked broken, its driver is not frozen",
            ),
            Report::Unrecoverable(u) => {
                f.write_str("cannot recover the device: ")?;
                match u {
                    Unrecoverable::ResetTimedOut => f.write_str("its reset did not complete")?,
                    Unrecoverable::RewindFailed(e) => write!(
                        f,
                        "cannot give it back the buffers in flight (error {e})"
                    )?,
                    Unrecoverable::RunFailed(e) => {
                        write!(f, "it did not run again after the reset (error {e})")?
                    }
                }
                f.write_str("; its queues are marked broken")
            }
            Report::FreezeRefused(e) => write!(
                f,
                "the driver refused the reset-based freeze (error {e}); the device runs on"
            ),
            Report::RestoreFailed(e) => write!(
                f,
                "reset-based restore failed (error {e}); detaching the device, left broken, to restore the driver onto it: its requests will fail"
            ),
            Report::DetachedRestoreFailed(e) => write!(
                f,
                "cannot restore the driver onto the detached device (error {e}); the driver stays frozen: do not unbind it"
            ),
            Report::VanishedRestored => f.write_str(
                "device gone with its driver frozen: the driver is restored onto the detached device, for its remove",
            ),
            Report::VanishedFrozen(e) => write!(
                f,
                "device gone with its driver frozen, and the driver cannot be restored onto the detached device (error {e}): its remove may free again what its freeze freed"
            ),
            Report::HibernationRefused => f.write_str(
                "suspended through the debugfs control file: hibernation refused; write resume to it first",
            ),
            Report::ResumingBeforeUnbind => {
                f.write_str("driver unbound while suspended: resuming it first")
            }
        }
    }
}

/// What the engine does next, then reports with [`Machine::next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    /// Hold every queue: no buffer reaches the device, no notification.
    /// [`Outcome::Done`], or [`Outcome::Failed`] with nothing held.
    HoldQueues,
    /// Hold config changes and config writes. Cannot fail.
    HoldConfig,
    /// Write this value to the status register, then read the status:
    /// [`Outcome::Status`].
    Write(u8),
    /// Sleep this many microseconds, then read the status.
    Sleep(u32),
    /// The STOP dialect's resume: reset the device and set it up again on
    /// the same queues, then read the status; [`Outcome::Failed`] if the
    /// set-up failed.
    Reinit,
    /// Reset the device and wait for it: [`Outcome::Reset`].
    Reset,
    /// Give the reset device back, on every held queue (all of them, even
    /// after one failed), the buffers it had not used.
    Rewind,
    /// Run each held queue's callback for the used buffers the driver
    /// has not taken: the reset dropped any interrupt pending for them.
    /// While the queues are held and the device is not running, so no
    /// interrupt handler runs the same callback meanwhile.
    ReplayInterrupts,
    /// Set the reset device up again on the queues the driver has, with
    /// its features, and let it run (DRIVER_OK).
    RunOnSameQueues,
    /// Publish what every queue held and notify the device of each.
    ReleaseQueues,
    /// Publish what every queue held without notifying: the device does
    /// not run.
    ReleaseQueuesQuietly,
    /// End the config hold: make the held writes, pass on a held change.
    ReleaseConfig,
    /// End the config hold of a device that does not run: the held
    /// writes are dropped.
    DropConfig,
    /// Tell the driver its device's configuration may have changed: a
    /// device resumed by a reset (the STOP dialect) lost the change it
    /// deferred while stopped.
    AnnounceConfigChange,
    /// Mark every queue broken (`virtio_break_device`).
    MarkBroken,
    /// Record the device as gone (its status reads 0 from then on), and
    /// mark every queue broken.
    MarkGone,
    /// The virtio core's reset-based freeze (`virtio_device_freeze`).
    Freeze,
    /// The virtio core's reset-based restore (`virtio_device_restore`).
    Restore,
    /// After a reset-based restore that failed, before
    /// [`Step::RestoreDetached`]: reset the device and wait for it
    /// ([`Outcome::Reset`]), since the failed restore may have set it
    /// running on queues the next restore frees. A device found gone is
    /// marked so.
    ResetToDetach,
    /// After a reset that did not complete, with the driver still
    /// frozen: detach the device (see [`Step::RestoreDetached`]) without
    /// restoring the driver, and mark every queue broken.
    Detach,
    /// After a reset-based restore that failed, with the driver still
    /// frozen and the device reset or gone (and when the device vanishes
    /// with its driver frozen, see [`Event::Vanished`]): detach the
    /// device (from then on nothing is written to it: its status is kept
    /// in memory, its configuration only read, its queues set up in
    /// memory only and marked broken), then the same restore onto it, so
    /// that the driver's requests fail and its remove frees once what its
    /// freeze freed; then mark every queue broken (those a driver without
    /// `restore` kept too). The detached device accepts no set-up after
    /// this one. [`Outcome::Failed`] if the driver's own restore failed:
    /// it stays frozen.
    RestoreDetached,
    /// Log this.
    Report(Report),
    /// The transition is over, with this result (a negative errno).
    Finish(Result<(), i32>),
}

/// How a [`Step`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Outcome {
    /// Done (every step that cannot fail reports this).
    Done,
    /// Failed with this (negative) errno.
    Failed(i32),
    /// The status read after a `Write`, `Sleep` or `Reinit`.
    Status(u8),
    /// How the wait after a `Reset` ended.
    Reset(ResetWait),
}

/// What sysfs reports about a device's cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Counters {
    /// Suspends the device acknowledged.
    pub(crate) suspends: u64,
    /// Resumes the device acknowledged.
    pub(crate) resumes: u64,
    /// Cycles that took the classic path after trying SUSPEND.
    pub(crate) fallbacks: u64,
    pub(crate) timeouts: u64,
    pub(crate) needs_reset: u64,
    /// Microseconds from the suspend request to the acknowledgement, of
    /// the last successful suspend.
    pub(crate) last_suspend_us: u64,
    /// Likewise for resume.
    pub(crate) last_resume_us: u64,
    /// Status reads of the last transition.
    pub(crate) last_polls: u32,
}

/// An item of the plan of a transition: a step for the engine, or what
/// the machine records once the steps before it are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Item {
    Do(Step),
    /// The device is now in this state (with this owner, where it
    /// matters).
    Become(State),
}

/// Room for the longest plan: a failed resume's report, recovery,
/// freeze, restore, before an unbind's report.
const PLAN_LEN: usize = 12;

/// The steps still to take in a transition, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Plan {
    items: [Option<Item>; PLAN_LEN],
    len: usize,
    next: usize,
}

impl Plan {
    const EMPTY: Plan = Plan {
        items: [None; PLAN_LEN],
        len: 0,
        next: 0,
    };

    fn of(items: &[Item]) -> Plan {
        let mut plan = Plan::EMPTY;
        for &item in items {
            plan.push(item);
        }
        plan
    }

    /// Appends `item`. Every plan this file makes fits, which the host
    /// tests' exploration of every transition checks: a plan that did
    /// not would be a bug here, so it panics rather than drop a step.
    fn push(&mut self, item: Item) {
        self.items[self.len] = Some(item);
        self.len += 1;
    }

    /// `self`, then the items of `rest` not taken yet.
    fn then(mut self, mut rest: Plan) -> Plan {
        while let Some(item) = rest.pop() {
            self.push(item);
        }
        self
    }

    fn pop(&mut self) -> Option<Item> {
        if self.next == self.len {
            return None;
        }
        self.next += 1;
        self.items[self.next - 1]
    }
}

use Item::{Become, Do};

/// One device's sleep state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Machine {
    dialect: Option<Dialect>,
    timeout_us: u64,
    /// Whether the control file may take the reset-based path and leave
    /// a driver frozen (see [`Machine::new`]).
    control_classic: bool,
    state: State,
    /// Who suspended or froze the device (meaningful in `Suspended` and
    /// `Fallback`).
    owner: Owner,
    /// The transition in progress, and its result if it succeeds.
    event: Option<Event>,
    /// The step the engine is carrying out.
    issued: Option<Step>,
    plan: Plan,
    queues_held: bool,
    config_held: bool,
    started_us: u64,
    sleep_us: u32,
    last_reason: Option<Reason>,
    counters: Counters,
    /// The driver could not be restored onto the detached device (the
    /// device did not reset, or the driver's own restore failed there):
    /// it stays frozen, in `Broken`.
    driver_left_frozen: bool,
}

impl Machine {
    /// `dialect` is what was negotiated, `None` if SUSPEND was not.
    ///
    /// The control file suspends only with SUSPEND: where system sleep
    /// would take the reset-based path it refuses and does nothing
    /// (`EOPNOTSUPP`, or `EIO` for a device that is not running), and a
    /// SUSPEND that fails under it ends in the driver's freeze and
    /// restore back to back (`EIO`), so that no control file command
    /// leaves a driver frozen. A driver's freeze expects user space
    /// frozen, as system sleep leaves it; the control file's runs beside
    /// it (`virtio_net` frees the queues its statistics are read from),
    /// which a failed SUSPEND or resume still does for that moment: the
    /// reset lost the device's state, and only the driver's restore sets
    /// it again. Tests that want the reset-based path with work in flight
    /// across it allow it with [`Machine::with_control_classic`].
    pub(crate) const fn new(dialect: Option<Dialect>, timeout_us: u64) -> Self {
        Self {
            dialect,
            timeout_us,
            control_classic: false,
            state: State::Running,
            owner: Owner::System,
            event: None,
            issued: None,
            plan: Plan::EMPTY,
            queues_held: false,
            config_held: false,
            started_us: 0,
            sleep_us: POLL_FIRST_US,
            last_reason: None,
            counters: Counters {
                suspends: 0,
                resumes: 0,
                fallbacks: 0,
                timeouts: 0,
                needs_reset: 0,
                last_suspend_us: 0,
                last_resume_us: 0,
                last_polls: 0,
            },
            driver_left_frozen: false,
        }
    }

    /// Lets the control file take the reset-based path as system sleep
    /// does, leaving the driver frozen until its `resume`.
    pub(crate) const fn with_control_classic(mut self, allowed: bool) -> Self {
        self.control_classic = allowed;
        self
    }

    pub(crate) const fn state(&self) -> State {
        self.state
    }

    /// Who suspended or froze the device, while it is.
    pub(crate) const fn owner(&self) -> Option<Owner> {
        match self.state {
            State::Suspended | State::Fallback => Some(self.owner),
            _ => None,
        }
    }

    /// Whether the device's driver is frozen: in `Fallback`, or for good
    /// where it could not be restored onto the detached device.
    #[cfg(test)]
    pub(crate) const fn driver_frozen(&self) -> bool {
        matches!(self.state, State::Fallback) || self.driver_left_frozen
    }

    /// Whether the machine holds the queues, or the config, now.
    #[cfg(test)]
    pub(crate) const fn holds(&self) -> (bool, bool) {
        (self.queues_held, self.config_held)
    }

    pub(crate) const fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Why the last cycle took the classic path, if it did.
    pub(crate) const fn last_reason(&self) -> Option<Reason> {
        self.last_reason
    }

    /// Renegotiation (a classic restore) may change the dialect: set
    /// before each transition.
    pub(crate) fn set_dialect(&mut self, dialect: Option<Dialect>) {
        self.dialect = dialect;
    }

    /// Starts the transition for `event`, with the device at `status`.
    pub(crate) fn begin(&mut self, event: Event, status: u8, now_us: u64) -> Step {
        self.event = Some(event);
        self.plan = Plan::EMPTY;
        let first = match event {
            Event::SystemSuspend | Event::ControlSuspend => self.begin_suspend(event, status),
            Event::SystemResume | Event::ControlResume | Event::Unbind => {
                self.begin_resume(event, status)
            }
            Event::HibernationFreeze => self.begin_hibernation_freeze(status),
            Event::HibernationRestore => match (self.state, self.owner) {
                (State::Fallback, Owner::Hibernation) => self.restore_plan(),
                // Nothing of hibernation's to undo: a device left as it
                // was (see `begin_hibernation_freeze`).
                _ => Plan::of(&[Do(Step::Finish(Ok(())))]),
            },
            Event::Vanished => match self.state {
                State::Gone => Plan::of(&[Do(Step::Finish(Ok(())))]),
                // Its driver's freeze ran (Fallback), or its restore
                // failed before (left frozen): restored onto the detached
                // device first, so that its remove, which follows, frees
                // once (see `next`). A device gone uses nothing of the
                // driver's any more, even one whose reset did not
                // complete.
                State::Fallback => {
                    self.state = State::Broken;
                    Plan::of(&[Do(Step::RestoreDetached)])
                }
                State::Broken if self.driver_left_frozen => Plan::of(&[Do(Step::RestoreDetached)]),
                _ => self.gone_plan(Ok(())),
            },
        };
        self.plan = first;
        self.advance(now_us)
    }

    /// The step the engine was given went as `outcome`; at `now_us`.
    pub(crate) fn next(&mut self, outcome: Outcome, now_us: u64) -> Step {
        let Some(step) = self.issued.take() else {
            // No step was given out: a bug of the engine, not a device's.
            return Step::Finish(Err(EINVAL));
        };
        match (step, outcome) {
            (Step::HoldQueues, Outcome::Done) => self.queues_held = true,
            (Step::HoldQueues, _) if self.refuses_control_freeze() => {
                self.plan = control_refusal(Reason::QueueNotHoldable, EOPNOTSUPP);
            }
            (Step::HoldQueues, _) => {
                self.plan = self.freeze_plan(Some(Report::NoSuspend(Reason::QueueNotHoldable)));
                self.count_fallback(Reason::QueueNotHoldable);
            }
            (Step::HoldConfig, _) => self.config_held = true,
            (Step::Write(_) | Step::Sleep(_), Outcome::Status(status)) => {
                return self.poll(status, now_us);
            }
            (Step::Reinit, Outcome::Status(status)) => return self.poll(status, now_us),
            (Step::Reinit, _) => self.fail_resume(Reason::ReinitFailed),
            (Step::Reset, Outcome::Reset(ResetWait::Done)) => {}
            (Step::Reset, Outcome::Reset(ResetWait::Gone)) => {
                self.plan = self.gone_plan(self.gone_result());
            }
            (Step::Reset, _) => self.plan = self.broken_plan(Unrecoverable::ResetTimedOut),
            (Step::Rewind, Outcome::Failed(e)) => {
                self.plan = self.broken_plan(Unrecoverable::RewindFailed(e));
            }
            (Step::RunOnSameQueues, Outcome::Failed(e)) => {
                self.plan = self.broken_plan(Unrecoverable::RunFailed(e));
            }
            (Step::ReleaseQueues | Step::ReleaseQueuesQuietly, _) => self.queues_held = false,
            (Step::ReleaseConfig | Step::DropConfig, _) => self.config_held = false,
            (Step::Freeze, Outcome::Failed(e)) => {
                // Nothing was frozen: the device runs as before, and the
                // PM core, told of the refusal, resumes nothing here. A
                // control file suspend that failed (the only one that
                // freezes without `control_classic`) says so, whatever
                // the driver's reason (virtio_fs's is EOPNOTSUPP, the
                // refusal's that did nothing).
                self.state = State::Running;
                let result = if self.refuses_control_freeze() {
                    EIO
                } else {
                    e
                };
                self.plan = Plan::of(&[
                    Do(Step::Report(Report::FreezeRefused(e))),
                    Do(Step::Finish(Err(result))),
                ]);
            }
            (Step::Restore, Outcome::Failed(e)) => {
                // The driver is still frozen: its remove would free again
                // what its freeze freed, its requests would wait for good.
                self.state = State::Broken;
                self.plan = Plan::of(&[
                    Do(Step::Report(Report::RestoreFailed(e))),
                    Do(Step::ResetToDetach),
                    Do(Step::RestoreDetached),
                    Do(Step::Finish(Err(e))),
                ]);
            }
            (Step::ResetToDetach, Outcome::Reset(ResetWait::Done | ResetWait::Gone)) => {}
            (Step::ResetToDetach, _) => {
                // The device may still use what the driver holds: no
                // restore may free it. Detached, so that nothing reaches
                // it again (a restore before unbind included).
                self.driver_left_frozen = true;
                self.plan = Plan::of(&[
                    Do(Step::Detach),
                    Do(Step::Report(Report::DetachedRestoreFailed(EIO))),
                    Do(Step::Finish(Err(EIO))),
                ]);
            }
            // The device vanished with its driver frozen (`begin`).
            (Step::RestoreDetached, outcome) if self.event == Some(Event::Vanished) => {
                self.plan = match outcome {
                    Outcome::Failed(e) => {
                        self.driver_left_frozen = true;
                        Plan::of(&[
                            Do(Step::MarkGone),
                            Do(Step::Report(Report::VanishedFrozen(e))),
                            Do(Step::Finish(Ok(()))),
                        ])
                    }
                    _ => {
                        self.driver_left_frozen = false;
                        Plan::of(&[Do(Step::Report(Report::VanishedRestored))])
                            .then(self.gone_plan(Ok(())))
                    }
                };
            }
            (Step::RestoreDetached, Outcome::Failed(e)) => {
                self.driver_left_frozen = true;
                self.plan =
                    Plan::of(&[Do(Step::Report(Report::DetachedRestoreFailed(e)))]).then(self.plan);
            }
            _ => {}
        }
        self.advance(now_us)
    }

    /// Takes the next item of the plan: records states, gives out steps.
    fn advance(&mut self, now_us: u64) -> Step {
        loop {
            match self.plan.pop() {
                Some(Become(state)) => {
                    self.state = state;
                    if let Some(owner) = self.event.and_then(Event::owner) {
                        if matches!(state, State::Suspended | State::Fallback) {
                            self.owner = owner;
                        }
                    }
                }
                Some(Do(Step::Finish(result))) => return self.finish(result),
                Some(Do(step)) => {
                    if let Step::Write(_) | Step::Reinit = step {
                        // The device's time to acknowledge, and the
                        // timeout, count from the request, not from the
                        // holding of the queues before it.
                        self.start(now_us);
                    }
                    self.issued = Some(step);
                    return step;
                }
                None => return self.finish(Ok(())),
            }
        }
    }

    fn finish(&mut self, result: Result<(), i32>) -> Step {
        self.event = None;
        self.issued = None;
        self.plan = Plan::EMPTY;
        Step::Finish(result)
    }

    fn begin_suspend(&mut self, event: Event, status: u8) -> Plan {
        let control = event == Event::ControlSuspend;
        match self.state {
            State::Running => {}
            // Gone or broken: nothing to suspend, and system sleep must
            // not fail for it; the control file says why not.
            State::Gone if control => return Plan::of(&[Do(Step::Finish(Err(ENODEV)))]),
            State::Broken if control => return Plan::of(&[Do(Step::Finish(Err(EIO)))]),
            // Suspended or frozen already: by the control file, which
            // alone resumes it, when system sleep comes.
            _ if control => return Plan::of(&[Do(Step::Finish(Err(EBUSY)))]),
            _ => return Plan::of(&[Do(Step::Finish(Ok(())))]),
        }
        if status == 0xff {
            // With or without SUSPEND: a driver's freeze would wait for
            // requests a device that is gone never completes.
            if self.dialect.is_some() {
                self.count_fallback(Reason::Gone);
            } else {
                self.last_reason = Some(Reason::Gone);
            }
            return self.gone_plan(Ok(()));
        }
        let Some(dialect) = self.dialect else {
            if self.refuses_control_freeze() {
                return control_refusal(Reason::NotNegotiated, EOPNOTSUPP);
            }
            self.last_reason = Some(Reason::NotNegotiated);
            return self.freeze_plan(None);
        };
        if !dialect.is_running(status) || device_broken(status) {
            let reason = Reason::NotRunning(status);
            if self.refuses_control_freeze() {
                // SUSPEND is there; the device is what fails.
                return control_refusal(reason, EIO);
            }
            self.count_fallback(reason);
            return self.freeze_plan(Some(Report::NoSuspend(reason)));
        }
        Plan::of(&[
            Do(Step::HoldQueues),
            Do(Step::HoldConfig),
            Become(State::Suspending),
            Do(Step::Write(dialect.suspend_request(status))),
        ])
    }

    fn begin_resume(&mut self, event: Event, status: u8) -> Plan {
        let finish = |result| Plan::of(&[Do(Step::Finish(result))]);
        let mine = match (event.owner(), self.state) {
            (_, State::Running) if event == Event::ControlResume => return finish(Err(EINVAL)),
            (_, State::Gone) if event == Event::ControlResume => return finish(Err(ENODEV)),
            (_, State::Broken) if event == Event::ControlResume => return finish(Err(EIO)),
            (_, State::Running | State::Gone | State::Broken) => return finish(Ok(())),
            (Some(owner), _) => owner == self.owner,
            (None, _) => true,
        };
        if !mine {
            // A system resume leaves what the control file suspended;
            // the control file cannot resume what system sleep holds
            // (it is locked out of system sleep anyway).
            return finish(if event == Event::ControlResume {
                Err(EBUSY)
            } else {
                Ok(())
            });
        }
        let mut plan = match self.state {
            State::Fallback => self.restore_plan(),
            _ => self.resume_plan(status),
        };
        if event == Event::Unbind {
            plan = prepend(Do(Step::Report(Report::ResumingBeforeUnbind)), plan);
        }
        plan
    }

    fn begin_hibernation_freeze(&mut self, status: u8) -> Plan {
        match (self.state, self.owner) {
            (State::Running, _) if status == 0xff => {
                self.last_reason = Some(Reason::Gone);
                self.gone_plan(Ok(()))
            }
            (State::Running, _) => self.freeze_plan(None),
            // Frozen by hibernation already (poweroff without a thaw), or
            // nothing that can be frozen.
            (State::Fallback, Owner::Hibernation) | (State::Gone | State::Broken, _) => {
                Plan::of(&[Do(Step::Finish(Ok(())))])
            }
            // The control file's: a freeze would free a frozen driver's
            // queues again, or delete queues SUSPEND holds. The debugfs
            // user decides, not hibernation.
            _ => Plan::of(&[
                Do(Step::Report(Report::HibernationRefused)),
                Do(Step::Finish(Err(EBUSY))),
            ]),
        }
    }

    /// From `Suspended`: resume, or recover if the device is not
    /// suspended (any more).
    fn resume_plan(&mut self, status: u8) -> Plan {
        let Some(dialect) = self.dialect else {
            // Renegotiation cannot drop SUSPEND while suspended; a device
            // that did is recovered like one that lied.
            return self.recover_plan_for_resume(Reason::Lied(status));
        };
        if device_broken(status) {
            if status == 0xff {
                self.count_fallback(Reason::Gone);
                return self.gone_plan(Err(ENODEV));
            }
            return self.recover_plan_for_resume(broken(status));
        }
        if !dialect.is_suspended(status) {
            return self.recover_plan_for_resume(Reason::Lied(status));
        }
        let request = match dialect.resume(status) {
            ResumeBy::Status(value) => Step::Write(value),
            ResumeBy::Reinit => Step::Reinit,
        };
        Plan::of(&[Become(State::Resuming), Do(request)])
    }

    /// The status read after a request, a sleep or a re-initialisation.
    fn poll(&mut self, status: u8, now_us: u64) -> Step {
        let elapsed = now_us.saturating_sub(self.started_us);
        self.counters.last_polls += 1;
        let Some(dialect) = self.dialect else {
            return self.fail(Reason::NotNegotiated, now_us);
        };
        let suspending = self.state == State::Suspending;
        if device_broken(status) {
            self.counters.needs_reset += 1;
            return self.fail(broken(status), now_us);
        }
        let arrived = if suspending {
            dialect.is_suspended(status)
        } else {
            dialect.is_running(status)
        };
        if arrived {
            self.plan = if suspending {
                self.counters.suspends += 1;
                self.counters.last_suspend_us = elapsed;
                Plan::of(&[Become(State::Suspended)])
            } else {
                self.counters.resumes += 1;
                self.counters.last_resume_us = elapsed;
                self.last_reason = None;
                let mut plan = Plan::of(&[Do(Step::ReleaseQueues), Do(Step::ReleaseConfig)]);
                if dialect.resume(status) == ResumeBy::Reinit {
                    plan.push(Do(Step::AnnounceConfigChange));
                }
                plan.push(Become(State::Running));
                plan
            };
            return self.advance(now_us);
        }
        if elapsed >= self.timeout_us {
            self.counters.timeouts += 1;
            return self.fail(Reason::Timeout(status), now_us);
        }
        let left = self.timeout_us - elapsed;
        let sleep = u64::from(self.sleep_us).min(left) as u32;
        self.sleep_us = (self.sleep_us * 2).min(POLL_SLEEP_MAX_US);
        let step = Step::Sleep(sleep.max(1));
        self.issued = Some(step);
        step
    }

    /// The suspend or resume in progress failed for `reason`.
    fn fail(&mut self, reason: Reason, now_us: u64) -> Step {
        if self.state == State::Suspending {
            self.count_fallback(reason);
            self.plan = if reason == Reason::Gone {
                self.gone_plan(Ok(()))
            } else if self.refuses_control_freeze() {
                // The device runs again, as after a failed resume, and
                // the command fails: the device is not suspended.
                let then = Plan::of(&[
                    Do(Step::Freeze),
                    Do(Step::Restore),
                    Become(State::Running),
                    Do(Step::Finish(Err(EIO))),
                ]);
                prepend(
                    Do(Step::Report(Report::ControlSuspendFailed(reason))),
                    self.recover_plan(then),
                )
            } else {
                let mut plan = self.recover_plan(self.freeze_plan(None));
                plan = prepend(Do(Step::Report(Report::SuspendFailed(reason))), plan);
                plan
            };
        } else {
            self.fail_resume(reason);
        }
        self.advance(now_us)
    }

    fn fail_resume(&mut self, reason: Reason) {
        self.plan = if reason == Reason::Gone {
            self.count_fallback(reason);
            self.gone_plan(Err(ENODEV))
        } else {
            self.recover_plan_for_resume(reason)
        };
    }

    fn recover_plan_for_resume(&mut self, reason: Reason) -> Plan {
        self.count_fallback(reason);
        let then = Plan::of(&[Do(Step::Freeze), Do(Step::Restore), Become(State::Running)]);
        prepend(
            Do(Step::Report(Report::ResumeFailed(reason))),
            self.recover_plan(then),
        )
    }

    /// The reset-based freeze, then `Fallback`; `report` first.
    fn freeze_plan(&self, report: Option<Report>) -> Plan {
        let plan = Plan::of(&[Do(Step::Freeze), Become(State::Fallback)]);
        match report {
            Some(report) => prepend(Do(Step::Report(report)), plan),
            None => plan,
        }
    }

    fn restore_plan(&self) -> Plan {
        Plan::of(&[Do(Step::Restore), Become(State::Running)])
    }

    /// Leaves a suspend or resume the device did not complete, then
    /// `then`: the spec leaves the driver one way out, a reset, and the
    /// reset device forgets the buffers it had not used. While the queues
    /// are held each is rewound to give them back, and the callbacks run
    /// for what the device used before (the reset dropped those
    /// interrupts); then the device is set up again on the same queues,
    /// and only once it runs are the queues released and notified.
    fn recover_plan(&self, then: Plan) -> Plan {
        Plan::of(&[
            Do(Step::Reset),
            Do(Step::Rewind),
            Do(Step::ReplayInterrupts),
            Do(Step::RunOnSameQueues),
            Do(Step::ReleaseQueues),
            Do(Step::ReleaseConfig),
        ])
        .then(then)
    }

    /// The device is gone: nothing it held will complete, and no reset
    /// brings it back. Its queues are marked broken, so that new requests
    /// fail instead of waiting, then released without a notification;
    /// its driver is neither frozen nor restored (its remove is all that
    /// is left to run).
    fn gone_plan(&self, result: Result<(), i32>) -> Plan {
        self.give_up(Step::MarkGone, Report::Gone, State::Gone, result)
    }

    /// A recovery failed: the device cannot be trusted with the queues
    /// (its reset did not complete, or the rings no longer match what it
    /// will read). No notification, no freeze (it would wait for requests
    /// that cannot complete); the PM core is told.
    fn broken_plan(&self, why: Unrecoverable) -> Plan {
        self.give_up(
            Step::MarkBroken,
            Report::Unrecoverable(why),
            State::Broken,
            Err(EIO),
        )
    }

    /// `mark` the queues, release what is held without a word to the
    /// device, `report`, and end in `state` with `result`.
    fn give_up(&self, mark: Step, report: Report, state: State, result: Result<(), i32>) -> Plan {
        let mut plan = Plan::of(&[Do(mark)]);
        if self.queues_held {
            plan.push(Do(Step::ReleaseQueuesQuietly));
        }
        if self.config_held {
            plan.push(Do(Step::DropConfig));
        }
        plan.then(Plan::of(&[
            Do(Step::Report(report)),
            Become(state),
            Do(Step::Finish(result)),
        ]))
    }

    /// What a transition that finds the device gone during a reset ends
    /// with: a suspend succeeds (the device needs nothing more), a resume
    /// says the device is gone.
    fn gone_result(&self) -> Result<(), i32> {
        match self.event {
            Some(Event::SystemSuspend | Event::ControlSuspend) => Ok(()),
            _ => Err(ENODEV),
        }
    }

    fn start(&mut self, now_us: u64) {
        self.started_us = now_us;
        self.sleep_us = POLL_FIRST_US;
        self.counters.last_polls = 0;
    }

    /// Whether the transition is a control file suspend that may not
    /// leave the driver frozen.
    fn refuses_control_freeze(&self) -> bool {
        self.event == Some(Event::ControlSuspend) && !self.control_classic
    }

    /// A suspend or resume that tried SUSPEND takes another path.
    fn count_fallback(&mut self, reason: Reason) {
        self.counters.fallbacks += 1;
        self.last_reason = Some(reason);
    }
}

/// The control file's refusal of a suspend that SUSPEND cannot do, with
/// `error`: nothing was done.
fn control_refusal(reason: Reason, error: i32) -> Plan {
    Plan::of(&[
        Do(Step::Report(Report::ControlNeedsSuspend(reason))),
        Do(Step::Finish(Err(error))),
    ])
}

/// `item`, then `plan`.
fn prepend(item: Item, plan: Plan) -> Plan {
    Plan::of(&[item]).then(plan)
}

// SPDX-License-Identifier: GPL-2.0

//! The per-device SUSPEND state machine.
//!
//! Pure: the transport feeds it the device status it reads and a
//! monotonic clock, and does what each returned [`Step`] says (write the
//! status register, sleep, reinitialize, or take the classic path). This
//! keeps every decision testable on the host against a fake device.
//!
//! ```text
//!             begin_suspend                 poll: acknowledged
//!   Running ---------------> Suspending ------------------------> Suspended
//!     ^  |                       |                                    |
//!     |  | not negotiated        | NEEDS_RESET, timeout               | begin_resume
//!     |  v                       v                                    v
//!     |  Fallback <--------------+            Running <------------ Resuming
//!     |     |                                (poll: running)          |
//!     +-----+ begin_resume: classic restore                           |
//!     +---------------------------------------------------------------+
//!                   NEEDS_RESET, timeout, lie: classic freeze + restore
//! ```

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

/// Where a device is in the cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    Suspending,
    Suspended,
    Resuming,
    /// Frozen by the classic path; resume restores it classically.
    Fallback,
    /// The device is gone (its status reads all ones): nothing is done
    /// to it again, and its driver was not frozen, so no restore is due
    /// (a stock driver removed after a freeze without its restore frees
    /// what the freeze freed).
    Gone,
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
        }
    }
}

/// Why a device took, or is taking, the classic path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// Frozen classically at suspend: restored classically at resume.
    FrozenClassically,
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
            Reason::FrozenClassically => f.write_str("frozen by the classic path"),
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

/// What the transport does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write this value to the status register, then read it and `poll`.
    Write(u8),
    /// Sleep this many microseconds, then read the status and `poll`.
    Sleep(u32),
    /// Reset the device and set it up again on the same queues, then
    /// read the status and `poll`.
    Reinit,
    /// The transition is complete.
    Done,
    /// Take the classic path. From `begin_suspend` and a suspend `poll`:
    /// freeze classically (after undoing a started suspend). From
    /// `begin_resume` in [`State::Fallback`]: restore classically. From a
    /// failed resume: freeze and restore classically, then `classic_done`.
    Classic(Reason),
}

/// What sysfs reports about a device's cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

/// One device's SUSPEND state.
#[derive(Clone, Debug)]
pub(crate) struct Machine {
    dialect: Option<Dialect>,
    timeout_us: u64,
    state: State,
    started_us: u64,
    sleep_us: u32,
    last_reason: Option<Reason>,
    counters: Counters,
}

impl Machine {
    /// `dialect` is what was negotiated, `None` if SUSPEND was not.
    pub(crate) const fn new(dialect: Option<Dialect>, timeout_us: u64) -> Self {
        Self {
            dialect,
            timeout_us,
            state: State::Running,
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
        }
    }

    pub(crate) const fn state(&self) -> State {
        self.state
    }

    pub(crate) const fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Why the last cycle took the classic path, if it did.
    pub(crate) const fn last_reason(&self) -> Option<Reason> {
        self.last_reason
    }

    /// Renegotiation (a classic restore) may change the dialect.
    pub(crate) fn set_dialect(&mut self, dialect: Option<Dialect>) {
        self.dialect = dialect;
    }

    /// System suspend begins with the device at `status`.
    /// Already suspended (or frozen classically): nothing to do.
    pub(crate) fn begin_suspend(&mut self, status: u8, now_us: u64) -> Step {
        if self.state != State::Running {
            return Step::Done;
        }
        let Some(dialect) = self.dialect else {
            self.last_reason = Some(Reason::NotNegotiated);
            self.state = State::Fallback;
            return Step::Classic(Reason::NotNegotiated);
        };
        if status == 0xff {
            return self.classic(Reason::Gone);
        }
        if !dialect.is_running(status) || device_broken(status) {
            return self.classic(Reason::NotRunning(status));
        }
        self.start(State::Suspending, now_us);
        Step::Write(dialect.suspend_request(status))
    }

    /// A queue could not be held: suspend classically instead.
    pub(crate) fn queues_not_holdable(&mut self) -> Step {
        self.classic(Reason::QueueNotHoldable)
    }

    /// System resume begins with the device at `status`. A device that
    /// was not suspended is left alone.
    pub(crate) fn begin_resume(&mut self, status: u8, now_us: u64) -> Step {
        match (self.state, self.dialect) {
            (State::Running | State::Gone, _) => Step::Done,
            (State::Suspended, Some(dialect)) => {
                if !dialect.is_suspended(status) || device_broken(status) {
                    return self.fail_resume(if device_broken(status) {
                        broken(status)
                    } else {
                        Reason::Lied(status)
                    });
                }
                self.start(State::Resuming, now_us);
                match dialect.resume(status) {
                    ResumeBy::Status(value) => Step::Write(value),
                    ResumeBy::Reinit => Step::Reinit,
                }
            }
            _ => {
                self.state = State::Running;
                Step::Classic(Reason::FrozenClassically)
            }
        }
    }

    /// The status write a `Step::Write` asked for was made at `now_us`:
    /// the device's time to acknowledge, and the timeout, count from
    /// there, not from the holding of the queues before it.
    pub(crate) fn requested(&mut self, now_us: u64) {
        if matches!(self.state, State::Suspending | State::Resuming) {
            self.started_us = now_us;
        }
    }

    /// The status read after a `Write`, `Sleep` or `Reinit`.
    pub(crate) fn poll(&mut self, status: u8, now_us: u64) -> Step {
        let Some(dialect) = self.dialect else {
            return Step::Done;
        };
        let elapsed = now_us.saturating_sub(self.started_us);
        self.counters.last_polls += 1;
        match self.state {
            State::Suspending => {
                if device_broken(status) {
                    self.counters.needs_reset += 1;
                    return self.classic(broken(status));
                }
                if dialect.is_suspended(status) {
                    self.state = State::Suspended;
                    self.counters.suspends += 1;
                    self.counters.last_suspend_us = elapsed;
                    return Step::Done;
                }
                if elapsed >= self.timeout_us {
                    self.counters.timeouts += 1;
                    return self.classic(Reason::Timeout(status));
                }
                self.backoff(elapsed)
            }
            State::Resuming => {
                if device_broken(status) {
                    self.counters.needs_reset += 1;
                    return self.fail_resume(broken(status));
                }
                if dialect.is_running(status) {
                    self.state = State::Running;
                    self.counters.resumes += 1;
                    self.counters.last_resume_us = elapsed;
                    self.last_reason = None;
                    return Step::Done;
                }
                if elapsed >= self.timeout_us {
                    self.counters.timeouts += 1;
                    return self.fail_resume(Reason::Timeout(status));
                }
                self.backoff(elapsed)
            }
            State::Running | State::Suspended | State::Fallback | State::Gone => Step::Done,
        }
    }

    /// The STOP dialect's re-initialisation (`Step::Reinit`) failed: the
    /// device takes the classic recovery like any failed resume, which
    /// also releases the queues held since the suspend.
    pub(crate) fn reinit_failed(&mut self) -> Step {
        self.fail_resume(Reason::ReinitFailed)
    }

    /// The classic freeze and restore after a failed resume are done.
    pub(crate) fn classic_done(&mut self) {
        if self.state != State::Gone {
            self.state = State::Running;
        }
    }

    fn start(&mut self, state: State, now_us: u64) {
        self.state = state;
        self.started_us = now_us;
        self.sleep_us = POLL_FIRST_US;
        self.counters.last_polls = 0;
    }

    fn backoff(&mut self, elapsed: u64) -> Step {
        let left = self.timeout_us - elapsed;
        let sleep = u64::from(self.sleep_us).min(left) as u32;
        self.sleep_us = (self.sleep_us * 2).min(POLL_SLEEP_MAX_US);
        Step::Sleep(sleep.max(1))
    }

    fn classic(&mut self, reason: Reason) -> Step {
        if self.dialect.is_some() && !matches!(reason, Reason::NotNegotiated) {
            self.counters.fallbacks += 1;
        }
        self.last_reason = Some(reason);
        self.state = if reason == Reason::Gone {
            State::Gone
        } else {
            State::Fallback
        };
        Step::Classic(reason)
    }

    fn fail_resume(&mut self, reason: Reason) -> Step {
        self.counters.fallbacks += 1;
        self.last_reason = Some(reason);
        // Stays here until `classic_done`; a device that is gone, for good.
        self.state = if reason == Reason::Gone {
            State::Gone
        } else {
            State::Resuming
        };
        Step::Classic(reason)
    }
}

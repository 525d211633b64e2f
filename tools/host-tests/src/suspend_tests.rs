// SPDX-License-Identifier: GPL-2.0

//! The SUSPEND state machine against a fake device on a simulated clock.

use crate::logic::dialect::*;
use crate::logic::suspend::*;

const TIMEOUT_US: u64 = 500_000;

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    NeverAck,
    NeedsResetOnSuspend,
    NeedsResetOnResume,
    /// Clears DRIVER_OK without setting SUSPEND for the first reads.
    SpuriousFlips,
    /// Drops SUSPEND on its own while suspended.
    LiesWhileSuspended,
    /// Resets itself (status 0) when asked to suspend.
    ResetsItself,
}

/// A device that implements a dialect, acknowledging `delay_us` after a
/// request, unless a fault says otherwise.
struct FakeDevice {
    dialect: Dialect,
    status: u8,
    delay_us: u64,
    fault: Fault,
    /// (time it takes effect, status it then shows)
    pending: Option<(u64, u8)>,
    reads: u32,
}

impl FakeDevice {
    fn new(dialect: Dialect, delay_us: u64, fault: Fault) -> Self {
        FakeDevice {
            dialect,
            status: S_RUNNING,
            delay_us,
            fault,
            pending: None,
            reads: 0,
        }
    }

    fn write(&mut self, value: u8, now: u64) {
        let bit = self.dialect.status_bit();
        let target = if value & bit != 0 {
            // Suspend request.
            match self.fault {
                Fault::NeverAck => None,
                Fault::NeedsResetOnSuspend => Some(self.status | S_NEEDS_RESET),
                Fault::ResetsItself => Some(0),
                _ if self.dialect == Dialect::Spec => Some((value | bit) & !S_DRIVER_OK),
                _ => Some(value | bit),
            }
        } else {
            // Resume request.
            match self.fault {
                Fault::NeedsResetOnResume => Some(self.status | S_NEEDS_RESET),
                Fault::NeverAck => None,
                _ => Some(S_RUNNING),
            }
        };
        self.status = value & !bit | (self.status & bit);
        if self.dialect == Dialect::Spec && value & bit != 0 {
            // DRIVER_OK still reads 1 until the device acknowledges.
            self.status = value & !bit;
        }
        self.pending = target.map(|t| (now + self.delay_us, t));
    }

    /// The transport resets the device and sets it up again, ending with
    /// DRIVER_OK, before it reads the status.
    fn reinit(&mut self) {
        self.status = S_RUNNING;
        self.pending = None;
    }

    fn read(&mut self, now: u64) -> u8 {
        self.reads += 1;
        if let Some((at, status)) = self.pending {
            if now >= at {
                self.status = status;
                self.pending = None;
            }
        }
        if self.fault == Fault::SpuriousFlips && self.reads <= 3 && self.pending.is_some() {
            return self.status & !S_DRIVER_OK;
        }
        self.status
    }
}

/// What an engine did for one transition: the steps, the statuses
/// written, the result.
struct Run {
    steps: Vec<Step>,
    written: Vec<u8>,
    result: Result<(), i32>,
}

impl Run {
    fn did(&self, step: Step) -> bool {
        self.steps.contains(&step)
    }

    fn reports(&self) -> Vec<Report> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Report(r) => Some(*r),
                _ => None,
            })
            .collect()
    }
}

/// Carries out `event` as the engine does, against `dev`, every step
/// succeeding but those `fail` names.
fn drive_failing(
    m: &mut Machine,
    dev: &mut FakeDevice,
    now: &mut u64,
    event: Event,
    fail: &[Step],
) -> Run {
    let mut run = Run {
        steps: Vec::new(),
        written: Vec::new(),
        result: Ok(()),
    };
    let mut step = m.begin(event, dev.read(*now), *now);
    for _ in 0..100_000 {
        run.steps.push(step);
        if fail.contains(&step) && !matches!(step, Step::Reset | Step::ResetToDetach) {
            step = m.next(Outcome::Failed(-12), *now);
            continue;
        }
        let outcome = match step {
            Step::Write(v) => {
                run.written.push(v);
                dev.write(v, *now);
                Outcome::Status(dev.read(*now))
            }
            Step::Sleep(us) => {
                *now += u64::from(us);
                Outcome::Status(dev.read(*now))
            }
            Step::Reinit => {
                dev.reinit();
                Outcome::Status(dev.read(*now))
            }
            Step::Reset if fail.contains(&Step::Reset) => Outcome::Reset(ResetWait::TimedOut),
            Step::ResetToDetach if fail.contains(&step) => Outcome::Reset(ResetWait::TimedOut),
            Step::ResetToDetach if dev.status == 0xff => Outcome::Reset(ResetWait::Gone),
            Step::ResetToDetach => Outcome::Reset(ResetWait::Done),
            Step::Reset => {
                dev.status = 0;
                dev.pending = None;
                Outcome::Reset(ResetWait::Done)
            }
            Step::RunOnSameQueues | Step::Restore => {
                dev.reinit();
                Outcome::Done
            }
            Step::Finish(result) => {
                run.result = result;
                return run;
            }
            _ => Outcome::Done,
        };
        step = m.next(outcome, *now);
    }
    panic!("machine never finished");
}

fn drive(m: &mut Machine, dev: &mut FakeDevice, now: &mut u64, event: Event) -> Run {
    drive_failing(m, dev, now, event, &[])
}

fn suspend(m: &mut Machine, dev: &mut FakeDevice, now: &mut u64) -> Run {
    drive(m, dev, now, Event::SystemSuspend)
}

fn resume(m: &mut Machine, dev: &mut FakeDevice, now: &mut u64) -> Run {
    drive(m, dev, now, Event::SystemResume)
}

/// The steps of a SUSPEND that gave up and recovered, in order.
const RECOVERY: [Step; 6] = [
    Step::Reset,
    Step::Rewind,
    Step::ReplayInterrupts,
    Step::RunOnSameQueues,
    Step::ReleaseQueues,
    Step::ReleaseConfig,
];

fn recovered_then(run: &Run, then: &[Step]) -> bool {
    let want: Vec<Step> = RECOVERY.iter().chain(then).copied().collect();
    run.steps.windows(want.len()).any(|w| w == want.as_slice())
}

#[test]
fn dialect_table() {
    assert_eq!(Dialect::Spec.feature_bit(), Some(43));
    assert_eq!(Dialect::V5.feature_bit(), Some(42));
    assert_eq!(Dialect::Stop.feature_bit(), None);
    // The draft's 41 is VIRTIO_F_ADMIN_VQ now; 42 and 43 are taken; 50 and
    // up belong to the device type (virtio-net's DEVICE_STATS is 50).
    for bit in [0, 23, 32, 41, 42, 43, 50, 63, 64] {
        assert!(!STOP_FEATURE_BITS.contains(&bit), "{bit}");
    }
    assert!(STOP_FEATURE_BITS.contains(&44) && STOP_FEATURE_BITS.contains(&49));
    assert_eq!(Dialect::Spec.status_bit(), 16);
    assert_eq!(Dialect::V5.status_bit(), 16);
    assert_eq!(Dialect::Stop.status_bit(), 32);
    for d in [Dialect::Spec, Dialect::V5, Dialect::Stop] {
        assert_eq!(Dialect::parse(d.name()), Some(d));
    }
    assert_eq!(Dialect::parse("SPEC"), None);
    assert_eq!(Dialect::parse(""), None);
}

#[test]
fn spec_acknowledgement_needs_driver_ok_cleared() {
    let d = Dialect::Spec;
    assert!(!d.is_suspended(S_RUNNING | S_SUSPEND));
    assert!(d.is_suspended((S_RUNNING | S_SUSPEND) & !S_DRIVER_OK));
    assert!(!d.is_suspended(S_RUNNING & !S_DRIVER_OK));
    assert!(d.is_running(S_RUNNING));
    assert!(!d.is_running(S_RUNNING | S_SUSPEND));
    // v5 keeps DRIVER_OK set while suspended.
    assert!(Dialect::V5.is_suspended(S_RUNNING | S_SUSPEND));
}

#[test]
fn spec_cycle_with_immediate_ack() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 1000;
    let run = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(run.result, Ok(()));
    assert_eq!(
        run.steps,
        vec![
            Step::HoldQueues,
            Step::HoldConfig,
            Step::Write(S_RUNNING | S_SUSPEND),
            Step::Finish(Ok(()))
        ],
        "queues and config held before the request"
    );
    assert_eq!(m.state(), State::Suspended);
    assert_eq!(m.owner(), Some(Owner::System));
    assert_eq!(m.holds(), (true, true));
    assert_eq!(now, 1000, "an immediate acknowledgement costs no sleep");
    assert_eq!(m.counters().last_polls, 1);

    let run = resume(&mut m, &mut dev, &mut now);
    // DRIVER_OK back, SUSPEND cleared; released only once it runs.
    assert_eq!(
        run.steps,
        vec![
            Step::Write(S_RUNNING),
            Step::ReleaseQueues,
            Step::ReleaseConfig,
            Step::Finish(Ok(()))
        ]
    );
    assert_eq!(m.state(), State::Running);
    assert_eq!(m.holds(), (false, false));
    let c = m.counters();
    assert_eq!((c.suspends, c.resumes, c.fallbacks), (1, 1, 0));
}

#[test]
fn delayed_ack_is_polled_within_one_interval() {
    for delay in [1, 9, 10, 11, 150, 1_000, 37_000, 200_000] {
        let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
        let mut dev = FakeDevice::new(Dialect::Spec, delay, Fault::None);
        let mut now = 0;
        assert_eq!(suspend(&mut m, &mut dev, &mut now).result, Ok(()));
        assert_eq!(m.state(), State::Suspended, "delay {delay}");
        let latency = m.counters().last_suspend_us;
        assert!(latency >= delay, "acknowledged before the device did");
        assert!(
            latency <= delay + u64::from(POLL_MAX_US),
            "delay {delay}: polling added {} us",
            latency - delay
        );
        assert_eq!(resume(&mut m, &mut dev, &mut now).result, Ok(()));
        assert!(m.counters().last_resume_us >= delay);
    }
}

#[test]
fn backoff_doubles_to_the_cap() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    assert_eq!(
        m.begin(Event::SystemSuspend, S_RUNNING, 0),
        Step::HoldQueues
    );
    assert_eq!(m.next(Outcome::Done, 0), Step::HoldConfig);
    assert_eq!(m.next(Outcome::Done, 0), Step::Write(S_RUNNING | S_SUSPEND));
    let status = S_RUNNING | S_SUSPEND;
    let mut now = 0;
    let mut sleeps = Vec::new();
    for _ in 0..9 {
        match m.next(Outcome::Status(status), now) {
            Step::Sleep(us) => {
                sleeps.push(us);
                now += u64::from(us);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sleeps, vec![10, 20, 40, 80, 160, 320, 500, 500, 500]);
    assert!(POLL_SLEEP_MAX_US < POLL_MAX_US);
}

#[test]
fn never_ack_times_out_recovers_and_freezes() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::NeverAck);
    let mut now = 0;
    let run = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(run.result, Ok(()));
    assert!(now >= TIMEOUT_US, "gave up early, at {now}");
    assert!(
        now <= TIMEOUT_US + u64::from(POLL_MAX_US),
        "overshot to {now}"
    );
    assert!(matches!(
        run.reports()[..],
        [Report::SuspendFailed(Reason::Timeout(_))]
    ));
    assert!(recovered_then(&run, &[Step::Freeze]), "{:?}", run.steps);
    assert_eq!(m.state(), State::Fallback);
    assert_eq!(m.holds(), (false, false));
    let c = *m.counters();
    assert_eq!((c.suspends, c.timeouts, c.fallbacks), (0, 1, 1));

    // Resume then restores classically and the device runs again.
    let run = resume(&mut m, &mut dev, &mut now);
    assert_eq!(run.steps, vec![Step::Restore, Step::Finish(Ok(()))]);
    assert_eq!(m.state(), State::Running);
}

#[test]
fn needs_reset_on_suspend_falls_back() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 3_000, Fault::NeedsResetOnSuspend);
    let mut now = 0;
    let run = suspend(&mut m, &mut dev, &mut now);
    assert!(matches!(
        run.reports()[..],
        [Report::SuspendFailed(Reason::NeedsReset(s))] if s & S_NEEDS_RESET != 0
    ));
    assert_eq!(m.counters().needs_reset, 1);
    assert_eq!(m.counters().fallbacks, 1);
    assert_eq!(m.state(), State::Fallback);
    assert_eq!(
        m.last_reason(),
        Some(Reason::NeedsReset(S_RUNNING | S_NEEDS_RESET))
    );
}

#[test]
fn device_resetting_itself_falls_back() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::ResetsItself);
    let mut now = 0;
    let run = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(
        run.reports(),
        vec![Report::SuspendFailed(Reason::NeedsReset(0))]
    );
}

#[test]
fn needs_reset_on_resume_recovers_freezes_and_restores() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::NeedsResetOnResume);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).result, Ok(()));
    let run = resume(&mut m, &mut dev, &mut now);
    assert_eq!(run.result, Ok(()));
    assert!(matches!(
        run.reports()[..],
        [Report::ResumeFailed(Reason::NeedsReset(_))]
    ));
    assert!(recovered_then(&run, &[Step::Freeze, Step::Restore]));
    assert_eq!(m.state(), State::Running);
    let c = m.counters();
    assert_eq!(
        (c.suspends, c.resumes, c.fallbacks, c.needs_reset),
        (1, 0, 1, 1)
    );
}

#[test]
fn resume_timeout_recovers() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).result, Ok(()));
    dev.fault = Fault::NeverAck;
    let run = resume(&mut m, &mut dev, &mut now);
    assert!(matches!(
        run.reports()[..],
        [Report::ResumeFailed(Reason::Timeout(_))]
    ));
    assert_eq!(m.counters().timeouts, 1);
    assert_eq!(m.state(), State::Running);
}

#[test]
fn spurious_status_reads_do_not_fool_it() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 2_000, Fault::SpuriousFlips);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).result, Ok(()));
    assert_eq!(m.state(), State::Suspended);
    assert!(
        m.counters().last_suspend_us >= 2_000,
        "took DRIVER_OK=0 alone for an ack"
    );
}

#[test]
fn device_that_leaves_suspend_by_itself_is_caught() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::LiesWhileSuspended);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).result, Ok(()));
    // The lie: SUSPEND cleared although nobody resumed it.
    dev.status = S_RUNNING;
    let run = resume(&mut m, &mut dev, &mut now);
    assert_eq!(
        run.reports(),
        vec![Report::ResumeFailed(Reason::Lied(S_RUNNING))]
    );
    assert!(run.written.is_empty(), "wrote to a device that lies");
    assert_eq!(m.counters().fallbacks, 1);
}

#[test]
fn not_negotiated_goes_classic_without_counting_a_fallback() {
    let mut m = Machine::new(None, TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    let run = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(run.steps, vec![Step::Freeze, Step::Finish(Ok(()))]);
    assert_eq!(m.state(), State::Fallback);
    let run = resume(&mut m, &mut dev, &mut now);
    assert_eq!(run.steps, vec![Step::Restore, Step::Finish(Ok(()))]);
    assert_eq!(m.state(), State::Running);
    assert_eq!(*m.counters(), Counters::default());
}

#[test]
fn a_failed_restore_restores_the_driver_onto_the_detached_device() {
    // The device refused FEATURES_OK after the reset-based freeze: the
    // driver, still frozen, is restored onto the detached device, which
    // is left broken (bug: left frozen, its remove freed its queues twice).
    let mut m = Machine::new(None, TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    suspend(&mut m, &mut dev, &mut now);
    let run = drive_failing(
        &mut m,
        &mut dev,
        &mut now,
        Event::SystemResume,
        &[Step::Restore],
    );
    assert_eq!(
        run.steps,
        vec![
            Step::Restore,
            Step::Report(Report::RestoreFailed(-12)),
            Step::ResetToDetach,
            Step::RestoreDetached,
            Step::Finish(Err(-12)),
        ]
    );
    assert_eq!(m.state(), State::Broken);
    assert!(!m.driver_frozen());
    // Nothing is tried on it again.
    for event in [Event::SystemSuspend, Event::SystemResume, Event::Unbind] {
        let run = drive(&mut m, &mut dev, &mut now, event);
        assert_eq!(run.steps, vec![Step::Finish(Ok(()))], "{event:?}");
    }
}

#[test]
fn a_device_gone_at_the_reset_before_detaching_still_gets_its_driver_restored() {
    // It vanished after the restore's own reset, which found it there
    // (one gone by then reads 0 from that reset on, and this reset is
    // Done): the reset before the detach finds it gone, which leaves
    // nothing running on the driver's rings.
    let mut m = Machine::new(None, TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    suspend(&mut m, &mut dev, &mut now);
    dev.status = 0xff;
    let run = drive_failing(
        &mut m,
        &mut dev,
        &mut now,
        Event::SystemResume,
        &[Step::Restore],
    );
    assert!(run.did(Step::ResetToDetach));
    assert!(run.did(Step::RestoreDetached));
    assert_eq!(run.reports(), vec![Report::RestoreFailed(-12)]);
    assert_eq!(m.state(), State::Broken);
    assert!(!m.driver_frozen());
}

#[test]
fn a_device_that_does_not_reset_is_detached_without_a_restore() {
    // The failed restore may have set it running: a restore onto the
    // detached device would free rings it uses. Detached all the same,
    // so that nothing reaches it again.
    let mut m = Machine::new(None, TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    suspend(&mut m, &mut dev, &mut now);
    let failing = [Step::Restore, Step::ResetToDetach];
    let run = drive_failing(&mut m, &mut dev, &mut now, Event::SystemResume, &failing);
    assert!(!run.did(Step::RestoreDetached));
    assert!(run.did(Step::Detach));
    assert_eq!(
        run.reports(),
        vec![
            Report::RestoreFailed(-12),
            Report::DetachedRestoreFailed(-5)
        ]
    );
    assert_eq!(run.result, Err(-5));
    assert_eq!(m.state(), State::Broken);
    assert!(m.driver_frozen());
}

#[test]
fn a_driver_whose_restore_fails_on_the_detached_device_stays_frozen() {
    let mut m = Machine::new(None, TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    suspend(&mut m, &mut dev, &mut now);
    let failing = [Step::Restore, Step::RestoreDetached];
    let run = drive_failing(&mut m, &mut dev, &mut now, Event::SystemResume, &failing);
    assert_eq!(
        run.reports(),
        vec![
            Report::RestoreFailed(-12),
            Report::DetachedRestoreFailed(-12)
        ]
    );
    assert_eq!(run.result, Err(-12));
    assert_eq!(m.state(), State::Broken);
    assert!(m.driver_frozen());
    // Its PCI function then vanishes, and its remove follows: the driver
    // is restored onto the detached device again (it may succeed now),
    // so that the remove does not run frozen.
    let run = drive(&mut m, &mut dev, &mut now, Event::Vanished);
    assert_eq!(run.steps[0], Step::RestoreDetached);
    assert_eq!(run.reports(), vec![Report::VanishedRestored, Report::Gone]);
    assert_eq!(m.state(), State::Gone);
    assert!(!m.driver_frozen());
}

#[test]
fn a_running_device_that_vanishes_is_gone_with_its_driver_not_frozen() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    let run = drive(&mut m, &mut dev, &mut now, Event::Vanished);
    assert!(!run.did(Step::RestoreDetached));
    assert_eq!(run.reports(), vec![Report::Gone]);
    assert_eq!(m.state(), State::Gone);
    assert!(!m.driver_frozen());
}

#[test]
fn a_device_that_vanishes_with_its_driver_frozen_gets_it_restored_first() {
    // Frozen through the control file (control_classic), then
    // surprise-removed: its driver's remove follows, which would free
    // again what its freeze freed. It is restored onto the detached
    // device first.
    let mut m = Machine::new(None, TIMEOUT_US).with_control_classic(true);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    let run = drive(&mut m, &mut dev, &mut now, Event::ControlSuspend);
    assert_eq!(run.result, Ok(()));
    assert_eq!(m.state(), State::Fallback);
    dev.status = 0xff;
    let run = drive(&mut m, &mut dev, &mut now, Event::Vanished);
    assert_eq!(run.steps[0], Step::RestoreDetached);
    assert!(run.did(Step::MarkGone));
    assert_eq!(run.reports(), vec![Report::VanishedRestored, Report::Gone]);
    assert_eq!(run.result, Ok(()));
    assert_eq!(m.state(), State::Gone);
    assert!(!m.driver_frozen());
    // Its driver's restore fails even there: it stays frozen, Broken.
    let mut m = Machine::new(None, TIMEOUT_US).with_control_classic(true);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    drive(&mut m, &mut dev, &mut now, Event::ControlSuspend);
    assert_eq!(m.state(), State::Fallback);
    dev.status = 0xff;
    let failing = [Step::RestoreDetached];
    let run = drive_failing(&mut m, &mut dev, &mut now, Event::Vanished, &failing);
    assert_eq!(run.reports(), vec![Report::VanishedFrozen(-12)]);
    assert!(!Report::VanishedFrozen(-12)
        .to_string()
        .contains("do not unbind"));
    assert_eq!(run.result, Ok(()));
    assert_eq!(m.state(), State::Broken);
    assert!(m.driver_frozen());
}

#[test]
fn a_refused_freeze_leaves_the_device_running() {
    // virtio_fs refuses every freeze: each sleep is refused, and no
    // restore follows (bug: the second sleep went through unfrozen).
    for dialect in [None, Some(Dialect::Spec)] {
        let mut m = Machine::new(dialect, TIMEOUT_US).with_control_classic(true);
        let fault = if dialect.is_some() {
            Fault::NeverAck
        } else {
            Fault::None
        };
        let mut dev = FakeDevice::new(Dialect::Spec, 0, fault);
        let mut now = 0;
        for event in [
            Event::SystemSuspend,
            Event::SystemSuspend,
            Event::ControlSuspend,
        ] {
            let run = drive_failing(&mut m, &mut dev, &mut now, event, &[Step::Freeze]);
            assert_eq!(run.result, Err(-12), "{dialect:?} {event:?}");
            assert_eq!(m.state(), State::Running);
            assert_eq!(m.holds(), (false, false));
        }
        let run = drive(&mut m, &mut dev, &mut now, Event::ControlResume);
        assert_eq!(run.result, Err(EINVAL), "resume of a running device");
        assert!(!run.did(Step::Restore));
    }
}

#[test]
fn device_not_running_goes_classic() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let status = S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK;
    assert_eq!(
        m.begin(Event::SystemSuspend, status, 0),
        Step::Report(Report::NoSuspend(Reason::NotRunning(status)))
    );
    assert_eq!(m.next(Outcome::Done, 0), Step::Freeze);
    assert_eq!(m.next(Outcome::Done, 0), Step::Finish(Ok(())));
    assert_eq!(m.begin(Event::SystemResume, status, 1), Step::Restore);
}

#[test]
fn device_running_but_broken_goes_classic() {
    // DRIVER_OK still set, but the device wants a reset (or failed): no
    // SUSPEND request is written to it (found by `make mutants`).
    for bad in [S_NEEDS_RESET, S_FAILED] {
        let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
        let status = S_RUNNING | bad;
        assert_eq!(
            m.begin(Event::SystemSuspend, status, 0),
            Step::Report(Report::NoSuspend(Reason::NotRunning(status)))
        );
        assert_eq!(m.next(Outcome::Done, 0), Step::Freeze);
        assert_eq!(m.next(Outcome::Done, 0), Step::Finish(Ok(())));
        assert_eq!(m.state(), State::Fallback);
    }
}

#[test]
fn timeout_is_reached_at_exactly_the_limit() {
    // A poll at exactly the timeout gives up; it does not sleep once more
    // (found by `make mutants`).
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    assert_eq!(
        m.begin(Event::SystemSuspend, S_RUNNING, 0),
        Step::HoldQueues
    );
    assert_eq!(m.next(Outcome::Done, 0), Step::HoldConfig);
    assert_eq!(m.next(Outcome::Done, 0), Step::Write(S_RUNNING | S_SUSPEND));
    let status = S_RUNNING | S_SUSPEND;
    assert!(matches!(
        m.next(Outcome::Status(status), TIMEOUT_US - 1),
        Step::Sleep(1)
    ));
    assert_eq!(
        m.next(Outcome::Status(status), TIMEOUT_US),
        Step::Report(Report::SuspendFailed(Reason::Timeout(status)))
    );
    assert_eq!(m.counters().timeouts, 1);
}

#[test]
fn packed_queue_goes_classic() {
    // System sleep freezes the driver; the control file refuses, by
    // default, and changes nothing.
    let system: &[Step] = &[
        Step::HoldQueues,
        Step::Report(Report::NoSuspend(Reason::QueueNotHoldable)),
        Step::Freeze,
        Step::Finish(Ok(())),
    ];
    let control: &[Step] = &[
        Step::HoldQueues,
        Step::Report(Report::ControlNeedsSuspend(Reason::QueueNotHoldable)),
        Step::Finish(Err(EOPNOTSUPP)),
    ];
    for (event, steps, state) in [
        (Event::SystemSuspend, system, State::Fallback),
        (Event::ControlSuspend, control, State::Running),
    ] {
        let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
        let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
        let mut now = 0;
        let run = drive_failing(&mut m, &mut dev, &mut now, event, &[Step::HoldQueues]);
        assert_eq!(run.steps, steps, "{event:?}");
        assert!(run.written.is_empty());
        assert_eq!(m.state(), state);
        assert_eq!(m.holds(), (false, false));
    }
}

#[test]
fn the_control_file_does_not_freeze_without_suspend() {
    // A driver's freeze with user space running: virtio_net's frees the
    // queues /proc/net/dev reads the statistics of.
    let mut m = Machine::new(None, TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    for event in [Event::ControlSuspend, Event::ControlResume] {
        let run = drive(&mut m, &mut dev, &mut now, event);
        assert!(!run.did(Step::Freeze) && !run.did(Step::Restore));
        assert!(run.written.is_empty());
        assert_eq!(m.state(), State::Running);
    }
    let run = drive(&mut m, &mut dev, &mut now, Event::ControlSuspend);
    assert_eq!(
        run.steps,
        vec![
            Step::Report(Report::ControlNeedsSuspend(Reason::NotNegotiated)),
            Step::Finish(Err(EOPNOTSUPP))
        ]
    );
    assert_eq!(m.last_reason(), None);
    assert_eq!(*m.counters(), Counters::default());
    // System sleep still takes the reset-based path.
    let run = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(run.steps, vec![Step::Freeze, Step::Finish(Ok(()))]);
    assert_eq!(m.state(), State::Fallback);
}

#[test]
fn the_control_file_does_not_freeze_a_device_not_running() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    // SUSPEND is there, the device does not run: an I/O error.
    dev.status = S_ACKNOWLEDGE | S_DRIVER;
    let run = drive(&mut m, &mut dev, &mut now, Event::ControlSuspend);
    assert_eq!(
        run.steps,
        vec![
            Step::Report(Report::ControlNeedsSuspend(Reason::NotRunning(
                S_ACKNOWLEDGE | S_DRIVER
            ))),
            Step::Finish(Err(EIO))
        ]
    );
    assert_eq!(m.state(), State::Running);
    assert_eq!(*m.counters(), Counters::default());
}

#[test]
fn a_control_suspend_that_fails_leaves_no_driver_frozen() {
    for fault in [Fault::NeverAck, Fault::NeedsResetOnSuspend] {
        let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
        let mut dev = FakeDevice::new(Dialect::Spec, 0, fault);
        let mut now = 0;
        let run = drive(&mut m, &mut dev, &mut now, Event::ControlSuspend);
        assert_eq!(run.result, Err(EIO));
        assert!(matches!(
            run.reports()[..],
            [Report::ControlSuspendFailed(_)]
        ));
        assert!(
            recovered_then(&run, &[Step::Freeze, Step::Restore]),
            "{:?}",
            run.steps
        );
        assert_eq!(m.state(), State::Running);
        assert_eq!(m.holds(), (false, false));
        assert_eq!(m.counters().fallbacks, 1);
        // The driver refuses the freeze (virtio_fs, with EOPNOTSUPP):
        // still EIO, not the refusal's EOPNOTSUPP; the device runs.
        let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
        let mut dev = FakeDevice::new(Dialect::Spec, 0, fault);
        let run = drive_failing(
            &mut m,
            &mut dev,
            &mut now,
            Event::ControlSuspend,
            &[Step::Freeze],
        );
        assert_eq!(run.result, Err(EIO));
        assert!(run.reports().contains(&Report::FreezeRefused(-12)));
        assert!(!run.did(Step::Restore));
        assert_eq!(m.state(), State::Running);
        // With control_classic, it is left frozen until its resume.
        let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US).with_control_classic(true);
        let mut dev = FakeDevice::new(Dialect::Spec, 0, fault);
        let run = drive(&mut m, &mut dev, &mut now, Event::ControlSuspend);
        assert_eq!(run.result, Ok(()));
        assert!(recovered_then(&run, &[Step::Freeze]), "{:?}", run.steps);
        assert_eq!(m.state(), State::Fallback);
    }
}

#[test]
fn second_suspend_without_resume_does_nothing() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).result, Ok(()));
    let run = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(run.steps, vec![Step::Finish(Ok(()))]);
    assert_eq!(m.state(), State::Suspended);
    assert_eq!(m.counters().suspends, 1);
}

#[test]
fn resume_without_suspend_does_nothing() {
    for dialect in [None, Some(Dialect::Spec)] {
        let mut m = Machine::new(dialect, TIMEOUT_US);
        assert_eq!(
            m.begin(Event::SystemResume, S_RUNNING, 0),
            Step::Finish(Ok(()))
        );
        assert_eq!(m.state(), State::Running);
        assert_eq!(*m.counters(), Counters::default());
    }
}

#[test]
fn system_sleep_leaves_what_the_control_file_suspended() {
    for dialect in [None, Some(Dialect::Spec)] {
        let mut m = Machine::new(dialect, TIMEOUT_US).with_control_classic(true);
        let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
        let mut now = 0;
        assert_eq!(
            drive(&mut m, &mut dev, &mut now, Event::ControlSuspend).result,
            Ok(())
        );
        let held = m.state();
        assert_eq!(m.owner(), Some(Owner::Control));
        for event in [Event::SystemSuspend, Event::SystemResume] {
            let run = drive(&mut m, &mut dev, &mut now, event);
            assert_eq!(run.steps, vec![Step::Finish(Ok(()))], "{event:?}");
            assert_eq!(m.state(), held);
        }
        // Hibernation is refused: a freeze would free what the first
        // freeze freed, or delete held queues.
        let run = drive(&mut m, &mut dev, &mut now, Event::HibernationFreeze);
        assert_eq!(run.result, Err(EBUSY));
        assert_eq!(run.reports(), vec![Report::HibernationRefused]);
        assert_eq!(m.state(), held);
        let run = drive(&mut m, &mut dev, &mut now, Event::ControlResume);
        assert_eq!(run.result, Ok(()));
        assert_eq!(m.state(), State::Running);
        let run = drive(&mut m, &mut dev, &mut now, Event::HibernationFreeze);
        assert_eq!(run.steps, vec![Step::Freeze, Step::Finish(Ok(()))]);
        let run = drive(&mut m, &mut dev, &mut now, Event::HibernationRestore);
        assert_eq!(run.steps, vec![Step::Restore, Step::Finish(Ok(()))]);
    }
}

#[test]
fn recovery_that_fails_marks_the_device_broken_and_notifies_nothing() {
    for failing in [Step::Reset, Step::Rewind, Step::RunOnSameQueues] {
        let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
        let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::NeverAck);
        let mut now = 0;
        let run = drive_failing(&mut m, &mut dev, &mut now, Event::SystemSuspend, &[failing]);
        assert_eq!(run.result, Err(EIO), "{failing:?}");
        assert!(run.did(Step::MarkBroken));
        assert!(run.did(Step::ReleaseQueuesQuietly) && run.did(Step::DropConfig));
        for never in [Step::ReleaseQueues, Step::ReleaseConfig, Step::Freeze] {
            assert!(!run.did(never), "{failing:?} then {never:?}");
        }
        assert_eq!(m.state(), State::Broken);
        assert_eq!(m.holds(), (false, false));
        // Nothing is tried on it again.
        let run = suspend(&mut m, &mut dev, &mut now);
        assert_eq!(run.steps, vec![Step::Finish(Ok(()))]);
    }
}

#[test]
fn interrupts_are_replayed_while_the_queues_are_held() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::NeverAck);
    let mut now = 0;
    let run = suspend(&mut m, &mut dev, &mut now);
    let at = |s| run.steps.iter().position(|&x| x == s).unwrap();
    assert!(at(Step::ReplayInterrupts) < at(Step::RunOnSameQueues));
    assert!(at(Step::ReplayInterrupts) < at(Step::ReleaseQueues));
}

#[test]
fn v5_cycle() {
    let mut m = Machine::new(Some(Dialect::V5), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::V5, 300, Fault::None);
    let mut now = 0;
    let run = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(run.written, vec![S_RUNNING | S_SUSPEND]);
    assert_eq!(m.state(), State::Suspended);
    let run = resume(&mut m, &mut dev, &mut now);
    // v5 resumes by clearing SUSPEND, DRIVER_OK untouched.
    assert_eq!(run.written, vec![S_RUNNING]);
    assert_eq!(m.counters().resumes, 1);
}

#[test]
fn stop_cycle_resumes_by_reinit() {
    let mut m = Machine::new(Some(Dialect::Stop), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Stop, 50, Fault::None);
    let mut now = 0;
    let run = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(run.written, vec![S_RUNNING | S_STOP]);
    let run = resume(&mut m, &mut dev, &mut now);
    // The reset lost any config change the device deferred: one is
    // announced (found by make mutants: a resize made while stopped was
    // never seen).
    assert_eq!(
        run.steps,
        vec![
            Step::Reinit,
            Step::ReleaseQueues,
            Step::ReleaseConfig,
            Step::AnnounceConfigChange,
            Step::Finish(Ok(()))
        ]
    );
    assert_eq!(m.state(), State::Running);
}

#[test]
fn stop_reinit_failure_recovers() {
    let mut m = Machine::new(Some(Dialect::Stop), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Stop, 0, Fault::None);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).result, Ok(()));
    let run = drive_failing(
        &mut m,
        &mut dev,
        &mut now,
        Event::SystemResume,
        &[Step::Reinit],
    );
    assert_eq!(
        run.reports(),
        vec![Report::ResumeFailed(Reason::ReinitFailed)]
    );
    assert!(recovered_then(&run, &[Step::Freeze, Step::Restore]));
    assert_eq!(m.state(), State::Running);
    assert_eq!(m.last_reason(), Some(Reason::ReinitFailed));
    assert_eq!((m.counters().resumes, m.counters().fallbacks), (0, 1));
}

#[test]
fn many_cycles_count_up() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 20, Fault::None);
    let mut now = 0;
    for _ in 0..1000 {
        assert_eq!(suspend(&mut m, &mut dev, &mut now).result, Ok(()));
        assert_eq!(resume(&mut m, &mut dev, &mut now).result, Ok(()));
    }
    let c = m.counters();
    assert_eq!(
        (c.suspends, c.resumes, c.fallbacks, c.timeouts),
        (1000, 1000, 0, 0)
    );
}

#[test]
fn state_and_reason_names() {
    let names: Vec<_> = [
        State::Running,
        State::Suspending,
        State::Suspended,
        State::Resuming,
        State::Fallback,
        State::Gone,
        State::Broken,
    ]
    .iter()
    .map(|s| s.name())
    .collect();
    assert_eq!(
        names,
        [
            "running",
            "suspending",
            "suspended",
            "resuming",
            "fallback",
            "gone",
            "broken"
        ]
    );
    assert_eq!(
        Reason::Timeout(0x1f).to_string(),
        "no acknowledgement in time (status 0x1f)"
    );
}

#[test]
fn a_device_that_is_gone_is_seen_at_the_first_read() {
    // Before the request: no SUSPEND is even asked.
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    assert_eq!(m.begin(Event::SystemSuspend, 0xff, 0), Step::MarkGone);
    // Gone while suspending: the first poll says so, at time 0.
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    m.begin(Event::SystemSuspend, S_RUNNING, 0);
    m.next(Outcome::Done, 0);
    assert_eq!(m.next(Outcome::Done, 0), Step::Write(S_RUNNING | S_SUSPEND));
    assert_eq!(m.next(Outcome::Status(0xff), 0), Step::MarkGone);
    assert_eq!(m.next(Outcome::Done, 0), Step::ReleaseQueuesQuietly);
    assert_eq!(m.last_reason(), Some(Reason::Gone));
    // Gone while suspended: the resume fails at once.
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).result, Ok(()));
    assert_eq!(m.begin(Event::SystemResume, 0xff, 0), Step::MarkGone);
    assert_eq!(Reason::Gone.to_string(), "device gone (status reads 0xff)");
}

#[test]
fn a_device_that_is_gone_stays_gone() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    dev.status = 0xff;
    dev.fault = Fault::NeverAck;
    let run = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(run.result, Ok(()), "system sleep goes on without it");
    assert_eq!(m.state(), State::Gone);
    for event in [Event::SystemResume, Event::SystemSuspend, Event::Unbind] {
        let run = drive(&mut m, &mut dev, &mut now, event);
        assert_eq!(run.steps, vec![Step::Finish(Ok(()))]);
    }
    for event in [Event::ControlSuspend, Event::ControlResume] {
        let run = drive(&mut m, &mut dev, &mut now, event);
        assert_eq!(run.result, Err(ENODEV));
    }
    assert_eq!(m.state(), State::Gone);
    assert_eq!(m.counters().timeouts, 0);
}

#[test]
fn latency_counts_from_the_status_write() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    m.begin(Event::SystemSuspend, S_RUNNING, 0);
    // Holding the queues took 700 us before the write.
    m.next(Outcome::Done, 600);
    assert_eq!(
        m.next(Outcome::Done, 700),
        Step::Write(S_RUNNING | S_SUSPEND)
    );
    let acknowledged = (S_RUNNING & !S_DRIVER_OK) | S_SUSPEND;
    assert_eq!(
        m.next(Outcome::Status(acknowledged), 1_000),
        Step::Finish(Ok(()))
    );
    assert_eq!(m.counters().last_suspend_us, 300);
}

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

/// Runs the transport's loop until the machine says Done or Classic.
/// Returns the final step, the statuses written and the time taken.
fn drive(m: &mut Machine, dev: &mut FakeDevice, now: &mut u64, first: Step) -> (Step, Vec<u8>) {
    let mut written = Vec::new();
    let mut step = first;
    for _ in 0..100_000 {
        step = match step {
            Step::Write(v) => {
                written.push(v);
                dev.write(v, *now);
                m.poll(dev.read(*now), *now)
            }
            Step::Sleep(us) => {
                *now += u64::from(us);
                m.poll(dev.read(*now), *now)
            }
            Step::Reinit => {
                dev.reinit();
                m.poll(dev.read(*now), *now)
            }
            Step::Done | Step::Classic(_) => return (step, written),
        };
    }
    panic!("machine never finished");
}

fn suspend(m: &mut Machine, dev: &mut FakeDevice, now: &mut u64) -> (Step, Vec<u8>) {
    let first = m.begin_suspend(dev.read(*now), *now);
    drive(m, dev, now, first)
}

fn resume(m: &mut Machine, dev: &mut FakeDevice, now: &mut u64) -> (Step, Vec<u8>) {
    let first = m.begin_resume(dev.read(*now), *now);
    drive(m, dev, now, first)
}

#[test]
fn dialect_table() {
    assert_eq!(Dialect::Spec.feature_bit(), Some(43));
    assert_eq!(Dialect::V5.feature_bit(), Some(42));
    assert_eq!(Dialect::Stop.feature_bit(), None);
    // The draft's 41 is VIRTIO_F_ADMIN_VQ now; 42 and 43 are taken.
    for bit in [0, 23, 32, 41, 42, 43, 64] {
        assert!(!STOP_FEATURE_BITS.contains(&bit), "{bit}");
    }
    assert!(STOP_FEATURE_BITS.contains(&44) && STOP_FEATURE_BITS.contains(&63));
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
    let (step, written) = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(step, Step::Done);
    assert_eq!(written, vec![S_RUNNING | S_SUSPEND]);
    assert_eq!(m.state(), State::Suspended);
    assert_eq!(now, 1000, "an immediate acknowledgement costs no sleep");
    assert_eq!(m.counters().last_polls, 1);

    let (step, written) = resume(&mut m, &mut dev, &mut now);
    assert_eq!(step, Step::Done);
    // DRIVER_OK back, SUSPEND cleared.
    assert_eq!(written, vec![S_RUNNING]);
    assert_eq!(m.state(), State::Running);
    let c = m.counters();
    assert_eq!((c.suspends, c.resumes, c.fallbacks), (1, 1, 0));
}

#[test]
fn delayed_ack_is_polled_within_one_interval() {
    for delay in [1, 9, 10, 11, 150, 1_000, 37_000, 200_000] {
        let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
        let mut dev = FakeDevice::new(Dialect::Spec, delay, Fault::None);
        let mut now = 0;
        let (step, _) = suspend(&mut m, &mut dev, &mut now);
        assert_eq!(step, Step::Done, "delay {delay}");
        let latency = m.counters().last_suspend_us;
        assert!(latency >= delay, "acknowledged before the device did");
        assert!(
            latency <= delay + u64::from(POLL_MAX_US),
            "delay {delay}: polling added {} us",
            latency - delay
        );
        let (step, _) = resume(&mut m, &mut dev, &mut now);
        assert_eq!(step, Step::Done);
        assert!(m.counters().last_resume_us >= delay);
    }
}

#[test]
fn backoff_doubles_to_the_cap() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut status = S_RUNNING;
    assert_eq!(
        m.begin_suspend(status, 0),
        Step::Write(S_RUNNING | S_SUSPEND)
    );
    status |= S_SUSPEND;
    let mut now = 0;
    let mut sleeps = Vec::new();
    for _ in 0..9 {
        match m.poll(status, now) {
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
fn never_ack_times_out_and_falls_back() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::NeverAck);
    let mut now = 0;
    let (step, _) = suspend(&mut m, &mut dev, &mut now);
    assert!(
        matches!(step, Step::Classic(Reason::Timeout(_))),
        "{step:?}"
    );
    assert!(now >= TIMEOUT_US, "gave up early, at {now}");
    assert!(
        now <= TIMEOUT_US + u64::from(POLL_MAX_US),
        "overshot to {now}"
    );
    assert_eq!(m.state(), State::Fallback);
    let c = *m.counters();
    assert_eq!((c.suspends, c.timeouts, c.fallbacks), (0, 1, 1));

    // Resume then restores classically and the device runs again.
    assert_eq!(
        m.begin_resume(S_RUNNING, now),
        Step::Classic(Reason::FrozenClassically)
    );
    assert_eq!(m.state(), State::Running);
}

#[test]
fn needs_reset_on_suspend_falls_back() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 3_000, Fault::NeedsResetOnSuspend);
    let mut now = 0;
    let (step, _) = suspend(&mut m, &mut dev, &mut now);
    assert!(matches!(step, Step::Classic(Reason::NeedsReset(s)) if s & S_NEEDS_RESET != 0));
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
    let (step, _) = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(step, Step::Classic(Reason::NeedsReset(0)));
}

#[test]
fn needs_reset_on_resume_asks_for_classic_recovery() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::NeedsResetOnResume);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).0, Step::Done);
    let (step, _) = resume(&mut m, &mut dev, &mut now);
    assert!(
        matches!(step, Step::Classic(Reason::NeedsReset(_))),
        "{step:?}"
    );
    assert_eq!(
        m.state(),
        State::Resuming,
        "stays until the recovery is done"
    );
    m.classic_done();
    assert_eq!(m.state(), State::Running);
    let c = m.counters();
    assert_eq!(
        (c.suspends, c.resumes, c.fallbacks, c.needs_reset),
        (1, 0, 1, 1)
    );
}

#[test]
fn resume_timeout_asks_for_classic_recovery() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let status = (S_RUNNING | S_SUSPEND) & !S_DRIVER_OK;
    assert!(matches!(m.begin_suspend(S_RUNNING, 0), Step::Write(_)));
    assert_eq!(m.poll(status, 5), Step::Done);
    assert_eq!(m.begin_resume(status, 10), Step::Write(S_RUNNING));
    let mut now = 10;
    let step = loop {
        match m.poll(status, now) {
            Step::Sleep(us) => now += u64::from(us),
            other => break other,
        }
    };
    assert_eq!(step, Step::Classic(Reason::Timeout(status)));
    assert_eq!(m.counters().timeouts, 1);
}

#[test]
fn spurious_status_reads_do_not_fool_it() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 2_000, Fault::SpuriousFlips);
    let mut now = 0;
    let (step, _) = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(step, Step::Done);
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
    assert_eq!(suspend(&mut m, &mut dev, &mut now).0, Step::Done);
    // The lie: SUSPEND cleared although nobody resumed it.
    dev.status = S_RUNNING;
    let (step, written) = resume(&mut m, &mut dev, &mut now);
    assert_eq!(step, Step::Classic(Reason::Lied(S_RUNNING)));
    assert!(written.is_empty(), "wrote to a device that lies");
    assert_eq!(m.counters().fallbacks, 1);
}

#[test]
fn not_negotiated_goes_classic_without_counting_a_fallback() {
    let mut m = Machine::new(None, TIMEOUT_US);
    assert_eq!(
        m.begin_suspend(S_RUNNING, 0),
        Step::Classic(Reason::NotNegotiated)
    );
    assert_eq!(m.state(), State::Fallback);
    assert_eq!(
        m.begin_resume(S_RUNNING, 1),
        Step::Classic(Reason::FrozenClassically)
    );
    assert_eq!(m.state(), State::Running);
    assert_eq!(*m.counters(), Counters::default());
}

#[test]
fn device_not_running_goes_classic() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let status = S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK;
    assert_eq!(
        m.begin_suspend(status, 0),
        Step::Classic(Reason::NotRunning(status))
    );
    assert_eq!(
        m.begin_resume(status, 1),
        Step::Classic(Reason::FrozenClassically)
    );
}

#[test]
fn packed_queue_goes_classic() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    assert!(matches!(m.begin_suspend(S_RUNNING, 0), Step::Write(_)));
    assert_eq!(
        m.queues_not_holdable(),
        Step::Classic(Reason::QueueNotHoldable)
    );
    assert_eq!(m.state(), State::Fallback);
    assert_eq!(
        m.begin_resume(S_RUNNING, 1),
        Step::Classic(Reason::FrozenClassically)
    );
}

#[test]
fn second_suspend_without_resume_does_nothing() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).0, Step::Done);
    assert_eq!(m.begin_suspend(dev.read(now), now), Step::Done);
    assert_eq!(m.state(), State::Suspended);
    assert_eq!(m.counters().suspends, 1);
    // Also after a classic freeze.
    let mut m = Machine::new(None, TIMEOUT_US);
    assert!(matches!(m.begin_suspend(S_RUNNING, 0), Step::Classic(_)));
    assert_eq!(m.begin_suspend(S_RUNNING, 1), Step::Done);
    assert_eq!(m.state(), State::Fallback);
}

#[test]
fn resume_without_suspend_does_nothing() {
    for dialect in [None, Some(Dialect::Spec)] {
        let mut m = Machine::new(dialect, TIMEOUT_US);
        assert_eq!(m.begin_resume(S_RUNNING, 0), Step::Done);
        assert_eq!(m.state(), State::Running);
        assert_eq!(*m.counters(), Counters::default());
    }
}

#[test]
fn v5_cycle() {
    let mut m = Machine::new(Some(Dialect::V5), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::V5, 300, Fault::None);
    let mut now = 0;
    let (step, written) = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(step, Step::Done);
    assert_eq!(written, vec![S_RUNNING | S_SUSPEND]);
    let (step, written) = resume(&mut m, &mut dev, &mut now);
    assert_eq!(step, Step::Done);
    // v5 resumes by clearing SUSPEND, DRIVER_OK untouched.
    assert_eq!(written, vec![S_RUNNING]);
    assert_eq!(m.counters().resumes, 1);
}

#[test]
fn stop_cycle_resumes_by_reinit() {
    let mut m = Machine::new(Some(Dialect::Stop), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Stop, 50, Fault::None);
    let mut now = 0;
    let (step, written) = suspend(&mut m, &mut dev, &mut now);
    assert_eq!(step, Step::Done);
    assert_eq!(written, vec![S_RUNNING | S_STOP]);
    assert_eq!(m.begin_resume(dev.read(now), now), Step::Reinit);
    let (step, _) = drive(&mut m, &mut dev, &mut now, Step::Reinit);
    assert_eq!(step, Step::Done);
    assert_eq!(m.state(), State::Running);
}

#[test]
fn stop_reinit_failure_asks_for_classic_recovery() {
    let mut m = Machine::new(Some(Dialect::Stop), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Stop, 0, Fault::None);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).0, Step::Done);
    assert_eq!(m.begin_resume(dev.read(now), now), Step::Reinit);
    // The transport could not set the device up again.
    assert_eq!(m.reinit_failed(), Step::Classic(Reason::ReinitFailed));
    assert_eq!(
        m.state(),
        State::Resuming,
        "stays until the recovery is done"
    );
    assert_eq!(m.last_reason(), Some(Reason::ReinitFailed));
    m.classic_done();
    assert_eq!(m.state(), State::Running);
    assert_eq!((m.counters().resumes, m.counters().fallbacks), (0, 1));
}

#[test]
fn many_cycles_count_up() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 20, Fault::None);
    let mut now = 0;
    for _ in 0..1000 {
        assert_eq!(suspend(&mut m, &mut dev, &mut now).0, Step::Done);
        assert_eq!(resume(&mut m, &mut dev, &mut now).0, Step::Done);
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
            "gone"
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
    assert_eq!(m.begin_suspend(0xff, 0), Step::Classic(Reason::Gone));
    // Gone while suspending: the first poll says so, at time 0.
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    assert_eq!(
        m.begin_suspend(S_RUNNING, 0),
        Step::Write(S_RUNNING | S_SUSPEND)
    );
    assert_eq!(m.poll(0xff, 0), Step::Classic(Reason::Gone));
    assert_eq!(m.last_reason(), Some(Reason::Gone));
    // Gone while suspended: the resume fails at once.
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).0, Step::Done);
    assert!(matches!(
        m.begin_resume(0xff, 0),
        Step::Classic(Reason::Gone)
    ));
    assert_eq!(Reason::Gone.to_string(), "device gone (status reads 0xff)");
}

#[test]
fn a_device_that_is_gone_stays_gone() {
    // Gone at the suspend request: no classic restore is due at resume
    // (the driver was not frozen), and nothing is asked of it again.
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    assert_eq!(
        m.begin_suspend(S_RUNNING, 0),
        Step::Write(S_RUNNING | S_SUSPEND)
    );
    assert_eq!(m.poll(0xff, 0), Step::Classic(Reason::Gone));
    assert_eq!(m.state(), State::Gone);
    assert_eq!(m.begin_resume(0xff, 0), Step::Done);
    assert_eq!(m.begin_suspend(S_RUNNING, 0), Step::Done);
    assert_eq!(m.poll(0xff, 0), Step::Done);
    assert_eq!(m.state(), State::Gone);
    assert_eq!(m.counters().timeouts, 0);
    // Gone at the resume: the same, and classic_done does not revive it.
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    let mut dev = FakeDevice::new(Dialect::Spec, 0, Fault::None);
    let mut now = 0;
    assert_eq!(suspend(&mut m, &mut dev, &mut now).0, Step::Done);
    assert!(matches!(m.begin_resume(dev.status, 0), Step::Write(_)));
    assert_eq!(m.poll(0xff, 0), Step::Classic(Reason::Gone));
    m.classic_done();
    assert_eq!(m.state(), State::Gone);
    assert_eq!(m.begin_resume(0xff, 0), Step::Done);
    assert_eq!(m.counters().timeouts, 0);
}

#[test]
fn latency_counts_from_the_status_write() {
    let mut m = Machine::new(Some(Dialect::Spec), TIMEOUT_US);
    assert_eq!(
        m.begin_suspend(S_RUNNING, 0),
        Step::Write(S_RUNNING | S_SUSPEND)
    );
    // Holding the queues took 700 us before the write.
    m.requested(700);
    let acknowledged = (S_RUNNING & !S_DRIVER_OK) | S_SUSPEND;
    assert_eq!(m.poll(acknowledged, 1_000), Step::Done);
    assert_eq!(m.counters().last_suspend_us, 300);
    // Not while running: nothing to time.
    m.requested(5_000);
    assert_eq!(m.state(), State::Suspended);
}

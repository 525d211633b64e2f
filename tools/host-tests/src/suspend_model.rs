// SPDX-License-Identifier: GPL-2.0

//! Every sequence of events and outcomes, to a fixed depth, through the
//! sleep state machine, against a model of what the engine's steps do to
//! the device, its queues, the config hold and the driver.
//!
//! The model is the second view: it records what was done (the driver
//! frozen, the queues held, a notification sent to a device that does
//! not run), not what the machine says, and it checks after every step
//! that the step was allowed, and after every transition that the
//! machine's account matches it. Events come as the kernel can send them:
//! the PM core's callbacks in its order (a resume only after a suspend
//! that succeeded), the debugfs control file only between system sleeps,
//! an unbind last; the device acknowledges, stalls, sets NEEDS_RESET,
//! leaves the suspended state by itself, is reset by the platform while
//! the system sleeps, or vanishes, at any point; every step that can fail
//! fails in one branch.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use crate::logic::dialect::*;
use crate::logic::suspend::*;

/// Depth of the exploration: events per sequence.
const DEPTH: usize = 8;
/// A short timeout keeps the polls per transition few (0, 10, 30 us).
const TIMEOUT_US: u64 = 30;

/// rustc's FxHash: the exploration hashes millions of small nodes, and
/// with std's SipHash the hashing took half its time.
#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(i.into());
    }

    fn write_u32(&mut self, i: u32) {
        self.add(i.into());
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The nodes the exploration reached.
type Seen = HashSet<Node, BuildHasherDefault<FxHasher>>;

/// The device, as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Dev {
    Running,
    /// A suspend request written, not acknowledged yet.
    Requested,
    Suspended,
    /// A resume request written, not acknowledged yet.
    ResumeRequested,
    NeedsReset,
    /// Status 0: reset by the driver, the engine or the platform.
    Reset,
    /// A reset that never completed.
    Stuck,
    Gone,
}

/// Where the PM core is, as far as this device can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Phase {
    Awake,
    /// The device's `suspend` succeeded; `resume` is due.
    SystemAsleep,
    /// The device's `freeze` succeeded; `thaw` or `restore` is due.
    Hibernating,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct World {
    dialect: Option<Dialect>,
    /// The control file may leave the driver frozen (the machine's
    /// `with_control_classic`).
    control_classic: bool,
    dev: Dev,
    phase: Phase,
    driver_frozen: bool,
    queues_held: bool,
    queues_broken: bool,
    /// The device was reset under held queues and forgot what they hold:
    /// until they are rewound, the rings and the device disagree.
    rings_stale: bool,
    config_held: bool,
    /// A config change arrived while held and was not passed on yet.
    change_pending: bool,
    /// Suspends and resumes the device acknowledged and the machine took.
    acked_suspends: u64,
    acked_resumes: u64,
    /// The last event was an unbind: the driver's remove runs, nothing
    /// follows.
    unbound: bool,
}

/// What can happen next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    /// A transition of the machine.
    Event(Event),
    /// The device drops SUSPEND by itself.
    SelfResume,
    /// The platform resets the device while the system sleeps.
    PlatformReset,
    /// The device disappears; nobody is told.
    Vanish,
    /// The PCI function is gone at remove: `Vanished`, then the unbind.
    SurpriseRemoval,
    /// The device changes its configuration.
    ConfigChange,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Node {
    machine: Machine,
    world: World,
}

/// A rule the model found broken, with where.
type Violation = String;

impl World {
    fn status(&self) -> u8 {
        let bit = self.dialect.map_or(S_SUSPEND, |d| d.status_bit());
        let spec = self.dialect == Some(Dialect::Spec);
        match self.dev {
            Dev::Running => S_RUNNING,
            // Spec: DRIVER_OK reads 1 until the acknowledgement; the
            // drafts: the bit reads back only once suspended.
            Dev::Requested if spec => S_RUNNING | bit,
            Dev::Requested => S_RUNNING,
            Dev::Suspended | Dev::ResumeRequested if spec => (S_RUNNING | bit) & !S_DRIVER_OK,
            Dev::Suspended | Dev::ResumeRequested => S_RUNNING | bit,
            Dev::NeedsReset => S_RUNNING | S_NEEDS_RESET,
            Dev::Reset => 0,
            Dev::Stuck => S_ACKNOWLEDGE | S_DRIVER,
            Dev::Gone => 0xff,
        }
    }

    /// What the device may do when its status is read: each is a branch.
    fn reads(&self) -> Vec<Dev> {
        match self.dev {
            Dev::Requested => vec![Dev::Requested, Dev::Suspended, Dev::NeedsReset, Dev::Gone],
            Dev::ResumeRequested => vec![
                Dev::ResumeRequested,
                Dev::Running,
                Dev::NeedsReset,
                Dev::Gone,
            ],
            other => vec![other],
        }
    }
}

/// Carries out `step` on the world; each returned pair is one possible
/// outcome. A step that is not allowed in the world's state is a
/// violation.
fn perform(w: &World, step: Step) -> Result<Vec<(Outcome, World)>, Violation> {
    let mut next = w.clone();
    let one = |o, w| Ok(vec![(o, w)]);
    let check = |ok: bool, what: &str| -> Result<(), Violation> {
        if ok {
            Ok(())
        } else {
            Err(format!("{step:?}: {what} (world {w:?})"))
        }
    };
    match step {
        Step::HoldQueues => {
            check(!w.queues_held, "queues held twice")?;
            check(!w.driver_frozen, "hold of a frozen driver's queues")?;
            next.queues_held = true;
            let failed = w.clone();
            Ok(vec![(Outcome::Done, next), (Outcome::Failed(-95), failed)])
        }
        Step::HoldConfig => {
            check(w.queues_held && !w.config_held, "config hold out of order")?;
            next.config_held = true;
            one(Outcome::Done, next)
        }
        Step::Write(value) => {
            let bit = w.dialect.map_or(0, |d| d.status_bit());
            if value & bit != 0 {
                check(
                    w.dev == Dev::Running,
                    "suspend request to a device not running",
                )?;
                check(
                    w.queues_held && w.config_held,
                    "suspend request with queues or config not held",
                )?;
                next.dev = Dev::Requested;
            } else {
                check(
                    w.dev == Dev::Suspended,
                    "resume request to a device not suspended",
                )?;
                next.dev = Dev::ResumeRequested;
            }
            Ok(status_reads(&next))
        }
        Step::Sleep(_) => {
            check(
                matches!(w.dev, Dev::Requested | Dev::ResumeRequested),
                "polling a device that was asked nothing",
            )?;
            Ok(status_reads(w))
        }
        Step::Reinit => {
            check(w.queues_held, "re-initialisation on released queues")?;
            check(
                w.dev == Dev::Suspended,
                "STOP resume of a device not stopped",
            )?;
            let failed = w.clone();
            next.dev = Dev::Running;
            next.acked_resumes += 1;
            let mut outs = vec![(Outcome::Failed(-5), failed)];
            outs.extend(status_reads(&next));
            Ok(outs)
        }
        Step::Reset => {
            check(w.queues_held, "recovery reset with queues released")?;
            if w.dev == Dev::Gone {
                return one(Outcome::Reset(ResetWait::Gone), next);
            }
            let mut stuck = w.clone();
            stuck.dev = Dev::Stuck;
            next.dev = Dev::Reset;
            next.rings_stale = true;
            let mut gone = w.clone();
            gone.dev = Dev::Gone;
            Ok(vec![
                (Outcome::Reset(ResetWait::Done), next),
                (Outcome::Reset(ResetWait::TimedOut), stuck),
                (Outcome::Reset(ResetWait::Gone), gone),
            ])
        }
        Step::Rewind => {
            check(w.queues_held, "rewind of released queues")?;
            check(w.dev == Dev::Reset, "rewind with the device not reset")?;
            let failed = w.clone();
            next.rings_stale = false;
            Ok(vec![(Outcome::Done, next), (Outcome::Failed(-12), failed)])
        }
        Step::ReplayInterrupts => {
            check(
                w.queues_held && w.dev == Dev::Reset,
                "interrupt replay while the device may raise the same interrupts",
            )?;
            one(Outcome::Done, next)
        }
        Step::RunOnSameQueues => {
            check(w.dev == Dev::Reset, "set-up of a device not reset")?;
            check(!w.rings_stale, "set-up on rings the device would misread")?;
            let failed = w.clone();
            next.dev = Dev::Running;
            Ok(vec![(Outcome::Done, next), (Outcome::Failed(-5), failed)])
        }
        Step::ReleaseQueues => {
            check(w.queues_held, "release of queues not held")?;
            check(
                w.dev == Dev::Running,
                "notification to a device not running",
            )?;
            next.queues_held = false;
            one(Outcome::Done, next)
        }
        Step::ReleaseQueuesQuietly => {
            check(w.queues_held, "release of queues not held")?;
            next.queues_held = false;
            one(Outcome::Done, next)
        }
        Step::ReleaseConfig => {
            check(w.config_held, "release of a config not held")?;
            check(
                w.dev == Dev::Running,
                "held config writes to a device not running",
            )?;
            next.config_held = false;
            next.change_pending = false;
            one(Outcome::Done, next)
        }
        Step::DropConfig => {
            check(w.config_held, "release of a config not held")?;
            next.config_held = false;
            next.change_pending = false;
            one(Outcome::Done, next)
        }
        Step::AnnounceConfigChange => {
            check(
                w.dev == Dev::Running && !w.config_held,
                "config change announced to a driver whose device does not run",
            )?;
            one(Outcome::Done, next)
        }
        Step::MarkBroken | Step::MarkGone => {
            next.queues_broken = true;
            one(Outcome::Done, next)
        }
        Step::Freeze => {
            check(!w.driver_frozen, "driver frozen twice (double free)")?;
            check(!w.queues_held, "freeze deletes held queues")?;
            check(!w.config_held, "freeze with the config held")?;
            check(
                w.dev == Dev::Running,
                "freeze waits on a device that does not run",
            )?;
            let refused = w.clone();
            next.driver_frozen = true;
            next.dev = Dev::Reset;
            Ok(vec![(Outcome::Done, next), (Outcome::Failed(-95), refused)])
        }
        Step::Restore => {
            check(w.driver_frozen, "restore of a driver not frozen")?;
            check(!w.queues_held && !w.config_held, "restore with holds")?;
            // A restore that fails (the device gone, FEATURES_OK refused,
            // the driver's own restore failing) leaves the driver frozen.
            let mut failed = next.clone();
            if w.dev == Dev::Gone {
                return one(Outcome::Failed(-5), failed);
            }
            // Failed before the device ran (FEATURES_OK refused), or in
            // the driver's restore after it did (DRIVER_OK written).
            failed.dev = Dev::Reset;
            let mut failed_running = failed.clone();
            failed_running.dev = Dev::Running;
            next.driver_frozen = false;
            next.dev = Dev::Running;
            Ok(vec![
                (Outcome::Done, next),
                (Outcome::Failed(-12), failed),
                (Outcome::Failed(-22), failed_running),
            ])
        }
        Step::ResetToDetach => {
            check(w.driver_frozen, "reset to detach a driver not frozen")?;
            if w.dev == Dev::Gone {
                return one(Outcome::Reset(ResetWait::Gone), next);
            }
            let mut stuck = w.clone();
            stuck.dev = Dev::Stuck;
            next.dev = Dev::Reset;
            Ok(vec![
                (Outcome::Reset(ResetWait::Done), next),
                (Outcome::Reset(ResetWait::TimedOut), stuck),
            ])
        }
        Step::Detach => {
            check(w.driver_frozen, "detach without a frozen driver to keep")?;
            next.queues_broken = true;
            one(Outcome::Done, next)
        }
        Step::RestoreDetached => {
            check(w.driver_frozen, "restore of a driver not frozen")?;
            check(!w.queues_held && !w.config_held, "restore with holds")?;
            // The next restore frees the queues a failed restore set up:
            // the device must not use them.
            check(
                matches!(w.dev, Dev::Reset | Dev::Gone),
                "detached while the device may run",
            )?;
            // The driver gets queues in memory, all broken, unless its
            // own restore fails.
            next.queues_broken = true;
            let failed = next.clone();
            next.driver_frozen = false;
            Ok(vec![(Outcome::Done, next), (Outcome::Failed(-12), failed)])
        }
        Step::Report(_) => one(Outcome::Done, next),
        Step::Finish(_) => unreachable!(),
    }
}

/// The status reads the device may answer with after a request; an
/// acknowledgement is counted where the device gives it.
fn status_reads(w: &World) -> Vec<(Outcome, World)> {
    w.reads()
        .into_iter()
        .map(|dev| {
            let mut next = w.clone();
            next.dev = dev;
            match (w.dev, dev) {
                (Dev::Requested, Dev::Suspended) => next.acked_suspends += 1,
                (Dev::ResumeRequested, Dev::Running) => next.acked_resumes += 1,
                _ => {}
            }
            (Outcome::Status(next.status()), next)
        })
        .collect()
}

/// Every way transition `event` can go from `node`: the nodes it ends
/// in, each with its result.
fn transition(node: &Node, event: Event) -> Result<Vec<(Node, Result<(), i32>)>, Violation> {
    let mut m = node.machine.clone();
    m.set_dialect(node.world.dialect);
    let first = m.begin(event, node.world.status(), 0);
    let mut ends = Vec::new();
    // (machine, world, step given out, time, steps taken)
    let mut stack = vec![(m, node.world.clone(), first, 0u64, 0usize)];
    while let Some((m, w, step, now, taken)) = stack.pop() {
        if taken > 100 {
            return Err(format!("{event:?}: no end after 100 steps"));
        }
        if let Step::Finish(result) = step {
            ends.push((
                Node {
                    machine: m,
                    world: w,
                },
                result,
            ));
            continue;
        }
        let now = match step {
            Step::Sleep(us) => now + u64::from(us),
            _ => now,
        };
        for (outcome, w) in perform(&w, step).map_err(|e| format!("{event:?}: {e}"))? {
            let mut m = m.clone();
            let next = m.next(outcome, now);
            stack.push((m, w, next, now, taken + 1));
        }
    }
    Ok(ends)
}

/// What the kernel may send next.
fn inputs(w: &World) -> Vec<Input> {
    if w.unbound {
        return Vec::new();
    }
    let mut inputs = vec![Input::ConfigChange];
    if w.dev != Dev::Gone {
        inputs.push(Input::Vanish);
    }
    match w.phase {
        Phase::Awake => {
            inputs.extend(
                [
                    Event::SystemSuspend,
                    Event::HibernationFreeze,
                    Event::ControlSuspend,
                    Event::ControlResume,
                    Event::Unbind,
                ]
                .map(Input::Event),
            );
            // Also with the driver frozen (a control file freeze with
            // control_classic): the C transports then remove it frozen.
            inputs.push(Input::SurpriseRemoval);
        }
        // A removal the port's resume finds (pciehp) comes while the
        // system sleeps or hibernates too.
        Phase::SystemAsleep => {
            inputs.push(Input::Event(Event::SystemResume));
            inputs.push(Input::PlatformReset);
            inputs.push(Input::SurpriseRemoval);
        }
        Phase::Hibernating => {
            inputs.push(Input::Event(Event::HibernationRestore));
            inputs.push(Input::PlatformReset);
            inputs.push(Input::SurpriseRemoval);
        }
    }
    if w.dev == Dev::Suspended {
        inputs.push(Input::SelfResume);
    }
    inputs
}

/// The machine's account against the model's, after a transition.
fn check_transition(
    before: &Node,
    event: Event,
    after: &Node,
    result: Result<(), i32>,
) -> Result<(), Violation> {
    let m = &after.machine;
    let w = &after.world;
    let state = m.state();
    let fail = |what: &str| {
        Err(format!(
            "{event:?} -> {result:?}: {what}; machine {state:?} owner {:?} holds {:?}, world {w:?}",
            m.owner(),
            m.holds()
        ))
    };
    if matches!(state, State::Suspending | State::Resuming) {
        return fail("a transition left half done");
    }
    if m.driver_frozen() != w.driver_frozen {
        return fail("the driver is frozen exactly when the machine says so");
    }
    if w.driver_frozen && state != State::Fallback && state != State::Broken {
        return fail("the driver is frozen in neither Fallback nor Broken");
    }
    // Frozen in Broken: its own restore failed even on the detached
    // device, which nothing can restore. No check below can ask more.
    let frozen = w.driver_frozen && state != State::Broken;
    if m.holds() != (w.queues_held, w.config_held) {
        return fail("the machine's holds are not what was done");
    }
    if (state == State::Suspended) != w.queues_held || w.queues_held != w.config_held {
        return fail("queues and config held exactly while suspended");
    }
    if !w.config_held && w.change_pending {
        return fail("a config change held after the hold ended");
    }
    if state == State::Running && !matches!(w.dev, Dev::Running | Dev::Gone) {
        return fail("running, says the machine, but the device does not run");
    }
    if state == State::Gone && !w.queues_broken {
        return fail("a gone device's queues are not marked broken");
    }
    if state == State::Broken && !w.queues_broken {
        return fail("a broken device's queues are not marked broken");
    }
    if m.counters().suspends != w.acked_suspends || m.counters().resumes != w.acked_resumes {
        return fail("acknowledged suspends or resumes miscounted");
    }
    let was = before.machine.state();
    let owned = before.machine.owner();
    match event {
        // The PM core resumes nothing that failed: nothing may be left
        // frozen or held.
        Event::SystemSuspend | Event::ControlSuspend if result.is_err() => {
            if was == State::Running && (frozen || w.queues_held) {
                return fail("a failed suspend left the driver frozen or queues held");
            }
        }
        Event::HibernationFreeze if result.is_err() => {
            if was == State::Running && (frozen || w.queues_held) {
                return fail("a failed freeze left the driver frozen or queues held");
            }
            if was != State::Running && state != was {
                return fail("a refused freeze changed the state");
            }
        }
        Event::SystemResume | Event::ControlResume | Event::HibernationRestore | Event::Unbind
            if result.is_ok() =>
        {
            let resumer = match event {
                Event::SystemResume => Some(Owner::System),
                Event::ControlResume => Some(Owner::Control),
                Event::HibernationRestore => Some(Owner::Hibernation),
                _ => None,
            };
            let due = owned.is_some() && (resumer.is_none() || resumer == owned);
            if due && state != State::Running {
                return fail("a resume that succeeded left the device not running");
            }
            if !due && state != was {
                return fail("a resume changed a device it does not own");
            }
        }
        _ => {}
    }
    if matches!(event, Event::ControlSuspend | Event::ControlResume) && !w.control_classic && frozen
    {
        return fail("the control file left the driver frozen");
    }
    if event == Event::ControlSuspend
        && !w.control_classic
        && before.world.dialect.is_none()
        && was == State::Running
        && before.world.dev != Dev::Gone
        && (result != Err(EOPNOTSUPP) || after.world != before.world)
    {
        return fail("the control file suspended without SUSPEND");
    }
    if event == Event::ControlSuspend
        && !w.control_classic
        && result == Err(EOPNOTSUPP)
        && after.world != before.world
    {
        return fail("the control file said EOPNOTSUPP, but did something");
    }
    // A driver frozen at its remove frees again what its freeze freed.
    if event == Event::Unbind && (frozen || w.queues_held || w.config_held) {
        return fail("the driver's remove would run frozen or with holds");
    }
    Ok(())
}

/// The nodes `input` leads to from `node`.
fn step_input(node: &Node, input: Input) -> Result<Vec<Node>, Violation> {
    let mut world = node.world.clone();
    match input {
        Input::SelfResume => {
            world.dev = Dev::Running;
            return Ok(vec![Node {
                machine: node.machine.clone(),
                world,
            }]);
        }
        Input::PlatformReset => {
            if world.dev != Dev::Gone {
                world.dev = Dev::Reset;
            }
            return Ok(vec![Node {
                machine: node.machine.clone(),
                world,
            }]);
        }
        Input::Vanish => {
            world.dev = Dev::Gone;
            return Ok(vec![Node {
                machine: node.machine.clone(),
                world,
            }]);
        }
        Input::ConfigChange => {
            if world.config_held {
                world.change_pending = true;
            }
            return Ok(vec![Node {
                machine: node.machine.clone(),
                world,
            }]);
        }
        Input::SurpriseRemoval => {
            world.dev = Dev::Gone;
            let gone = Node {
                machine: node.machine.clone(),
                world,
            };
            let mut out = Vec::new();
            for (after, result) in transition(&gone, Event::Vanished)? {
                check_transition(&gone, Event::Vanished, &after, result)?;
                for node in step_input(&after, Input::Event(Event::Unbind))? {
                    out.push(node);
                }
            }
            return Ok(out);
        }
        Input::Event(event) => {
            let mut out = Vec::new();
            for (mut after, result) in transition(node, event)? {
                check_transition(node, event, &after, result)?;
                after.world.phase = match (event, result) {
                    (Event::SystemSuspend, Ok(())) => Phase::SystemAsleep,
                    (Event::HibernationFreeze, Ok(())) => Phase::Hibernating,
                    (Event::SystemResume | Event::HibernationRestore, _) => Phase::Awake,
                    _ => after.world.phase,
                };
                after.world.unbound = event == Event::Unbind;
                out.push(after);
            }
            Ok(out)
        }
    }
}

struct Explored {
    states: usize,
    transitions: u64,
}

/// Every node within `DEPTH` inputs of the start, each expanded once
/// (breadth first): what a node leads to, and every check on the way,
/// depends on the node alone, so a node reached again (by another
/// sequence, or at another depth) has nothing new to show. Every
/// sequence of `DEPTH` inputs is thereby checked, each of its transitions
/// once for all the sequences that share it.
fn explore(dialect: Option<Dialect>, control_classic: bool) -> Result<Explored, Violation> {
    let world = World {
        dialect,
        control_classic,
        dev: Dev::Running,
        phase: Phase::Awake,
        driver_frozen: false,
        queues_held: false,
        queues_broken: false,
        rings_stale: false,
        config_held: false,
        change_pending: false,
        acked_suspends: 0,
        acked_resumes: 0,
        unbound: false,
    };
    let start = Node {
        machine: Machine::new(dialect, TIMEOUT_US).with_control_classic(control_classic),
        world,
    };
    let mut seen = Seen::default();
    seen.insert(start.clone());
    let mut frontier = vec![start];
    let mut transitions = 0;
    for depth in 0..DEPTH {
        let mut next = Vec::new();
        for node in &frontier {
            for input in inputs(&node.world) {
                let successors = step_input(node, input).map_err(|e| {
                    format!(
                        "{dialect:?}, control_classic {control_classic}, depth {}, {input:?}: {e}",
                        depth + 1
                    )
                })?;
                for after in successors {
                    transitions += 1;
                    if seen.insert(after.clone()) {
                        next.push(after);
                    }
                }
            }
        }
        frontier = next;
    }
    Ok(Explored {
        states: seen.len(),
        transitions,
    })
}

fn explore_and_print(dialect: Option<Dialect>, control_classic: bool) {
    match explore(dialect, control_classic) {
        Ok(e) => println!(
            "{dialect:?}, control_classic {control_classic}: {} states within {DEPTH} events and outcomes, {} transitions checked",
            e.states, e.transitions
        ),
        Err(violation) => panic!("{violation}"),
    }
}

// Each dialect with the control file as the module loads by default, and
// as the tests that cross the reset-based path with work in flight allow
// it (`control_classic=1`).

#[test]
fn every_sequence_to_depth_8_without_suspend() {
    explore_and_print(None, false);
}

#[test]
fn every_sequence_to_depth_8_without_suspend_control_classic() {
    explore_and_print(None, true);
}

#[test]
fn every_sequence_to_depth_8_spec() {
    explore_and_print(Some(Dialect::Spec), false);
}

#[test]
fn every_sequence_to_depth_8_spec_control_classic() {
    explore_and_print(Some(Dialect::Spec), true);
}

#[test]
fn every_sequence_to_depth_8_v5() {
    explore_and_print(Some(Dialect::V5), false);
}

#[test]
fn every_sequence_to_depth_8_v5_control_classic() {
    explore_and_print(Some(Dialect::V5), true);
}

#[test]
fn every_sequence_to_depth_8_stop() {
    explore_and_print(Some(Dialect::Stop), false);
}

#[test]
fn every_sequence_to_depth_8_stop_control_classic() {
    explore_and_print(Some(Dialect::Stop), true);
}

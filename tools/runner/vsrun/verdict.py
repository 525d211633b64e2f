# SPDX-License-Identifier: GPL-2.0
"""The pass rule (tools/scenarios/README.md): verdict() turns a guest run
into test results, and the checks whose problems it counts look at what
the run left: QEMU's log and stderr, the backends' logs, the traced
device resets, the real sleeps, and QEMU's device counters against the
module's (device accounting)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import config
from .config import boot_timeout, scenario_timeout
from .model import DeviceStats, Problem, Result, Scenario, ScenarioRun
from .scenario import BROKEN_PATHS, vhost_user_devices

# QEMU's log (-d guest_errors -D qemu.log).  The patch (tools/qemu/patches)
# writes "virtio-suspend: violation: <device>: ..." when the driver breaks
# a rule of the suspend protocol, and "virtio-suspend: <device>: ..." for
# the other guest errors of the suspend path (a SUSPEND bit written before
# DRIVER_OK, a status written while suspended).  Every line of the log
# that is not a trace event of ours is a problem.
QEMU_VIOLATION = "virtio-suspend: violation:"
QEMU_GUEST_ERROR = "virtio-suspend: "
QEMU_TRACE = re.compile(r"^(?:\d+@\d+\.\d+:)?virtio_set_status ")

# QEMU's stderr: any line fails the scenario (an assertion, an abort, a
# virtio_error() of a device model, "qemu-system-x86_64: ..."), except
# these, which are expected.
QEMU_STDERR_HARMLESS = [
    # The net scenarios' hub has no host port on purpose.
    re.compile(r"^[\w.-]+: warning: hub \d+ is not connected to host network$"),
    # Linux tells a keyboard its autorepeat settings (EV_REP, type 20) on
    # its status queue; QEMU 7.2's virtio-input-hid handles EV_LED only.
    re.compile(r"^virtio_input_hid_handle_status: unknown type 20$"),
]
# A device's injected fault (the suspend-fail and resume-fail properties)
# is reported through virtio_error(); expected only where the scenario
# set the property.
QEMU_FAULT_INJECTED = re.compile(
    r"^[\w.-]+: virtio-suspend: \S+: (suspend|resume) failed "
    r"\(fault injected by the (suspend|resume)-fail property\)$")
# A device made to refuse its set-up after the driver reset it out of a
# SUSPEND request (x-fault-recovery=features) or after setting it up
# (x-fault-recovery=reset) says so once.
QEMU_RECOVERY_INJECTED = re.compile(
    r"^[\w.-]+: warning: virtio-suspend: .*: the driver reset the device "
    r"(?:while its SUSPEND request was pending|after setting it up): it refuses "
    r"FEATURES_OK from now on \(fault injected by the x-fault-recovery property\)$")
# A device made to vanish (x-fault-vanish=suspend|resume|reset|
# reset-function|notify:N) says so once.
QEMU_VANISH_INJECTED = re.compile(
    r"^[\w.-]+: warning: virtio-suspend: \S+: the device .* vanished at the "
    r"(?:(suspend|resume|reset|reset-function) request, status 0x[0-9a-f]{2}|notification of queue (\d+)) "
    r"\(fault injected by the x-fault-vanish property\)$")


def s3_problems(sc: Scenario, run: ScenarioRun) -> list[Problem]:
    """The guest's count of its real S3 sleeps against QEMU's: a guest
    whose sleep request reaches no register returns at once and its
    kernel counts a success all the same; only QEMU's run state shows
    that the machine slept."""
    problems: list[Problem] = []
    mem = run.sleeps.count("mem")
    if run.s3_wakeups != mem:
        problems.append(Problem("s3", f"the guest reported {mem} real sleeps (vs-sleep: mem), "
                                      f"QEMU was suspended and woken {run.s3_wakeups} times"))
    if mem < sc["s3_wakeups"]:
        problems.append(Problem("s3", f"{mem} real sleeps, the scenario declares s3_wakeups = "
                                      f"{sc['s3_wakeups']} at least"))
    return problems


def s2idle_problems(sc: Scenario, run: ScenarioRun) -> list[Problem]:
    """The guest's real s2idle sleeps against the runner's presses: the
    guest counts one only when a wake-up interrupt ended it, and every
    one needs at least one press (QEMU has no run state to show it)."""
    problems: list[Problem] = []
    freeze = run.sleeps.count("freeze")
    if run.button_presses < freeze:
        problems.append(Problem("s2idle", f"the guest reported {freeze} real s2idle sleeps "
                                          f"(vs-sleep: freeze), the runner pressed the power "
                                          f"button {run.button_presses} times"))
    if freeze < sc["s2idle_wakeups"]:
        problems.append(Problem("s2idle", f"{freeze} real s2idle sleeps, the scenario declares "
                                          f"s2idle_wakeups = {sc['s2idle_wakeups']} at least"))
    return problems


def qemu_log_problems(path: Path, allow: Iterable[str] = ()) -> list[Problem]:
    """Every line of QEMU's log but our trace events and the lines a
    regular expression of allow matches whole: a driver violation (kind
    "violation", never allowed), another guest error of the suspend path
    or any other guest error (kind "qemu-log")."""
    text = path.read_text(errors="replace") if path.exists() else ""
    allowed = [re.compile(a) for a in allow]
    problems: list[Problem] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or QEMU_TRACE.match(line):
            continue
        if not line.startswith(QEMU_VIOLATION) and any(a.fullmatch(line) for a in allowed):
            continue
        if line.startswith(QEMU_VIOLATION):
            problems.append(Problem("violation", line))
        else:
            problems.append(Problem("qemu-log", line))
    return problems


def qemu_stderr_problems(sc: Scenario, path: Path) -> list[Problem]:
    """Every line QEMU wrote to stderr, but the harmless ones."""
    text = path.read_text(errors="replace") if path.exists() else ""
    injected = {k[:-len("-fail")] for dev in sc.get("devices", [])
                for k, v in dev.get("props", {}).items()
                if k in ("suspend-fail", "resume-fail") and str(v) in ("on", "true")}
    vanish = {str(dev["props"]["x-fault-vanish"]) for dev in sc.get("devices", [])
              if dev.get("props", {}).get("x-fault-vanish")}
    recovery = any(dev.get("props", {}).get("x-fault-recovery")
                   for dev in sc.get("devices", []))
    problems: list[Problem] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or any(p.match(line) for p in QEMU_STDERR_HARMLESS):
            continue
        m = QEMU_FAULT_INJECTED.match(line)
        if m and m.group(1) == m.group(2) and m.group(1) in injected:
            continue
        m = QEMU_VANISH_INJECTED.match(line)
        if m and (m.group(1) or f"notify:{m.group(2)}") in vanish:
            continue
        if recovery and QEMU_RECOVERY_INJECTED.match(line):
            continue
        problems.append(Problem("qemu-stderr", line))
    return problems


def backend_problems(sc: Scenario, rundir: Path) -> list[Problem]:
    """Every error a vhost-user backend logged (" ERROR ", the rust-vmm
    backends' log level)."""
    problems: list[Problem] = []
    for kind, n, _ in vhost_user_devices(sc):
        log = rundir / f"{kind}-backend{n}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        problems += [Problem("backend", f"{kind}{n} backend: {line.strip()}")
                     for line in text.splitlines() if " ERROR " in line]
    return problems


STATUS_TRACE = re.compile(r"virtio_set_status vdev (0x[0-9a-f]+) val (\d+)\b")


def check_resets(sc: Scenario, qemu_log: Path) -> list[Problem]:
    """QEMU's view of device resets: every status write is traced
    (virtio_set_status). On the SUSPEND path a device, once set up (its
    first DRIVER_OK), must see no reset (a status 0 write) until its last
    status write; the resets of machine start-up and of the final reboot
    are outside that span.

    A scenario may put devices that do not offer SUSPEND (no suspend=on
    in their props) beside the others, to show the reset-based path in
    the same guest: as many devices as it declares so may be reset, if
    the driver never set SUSPEND (status bit 16) on them."""
    text = qemu_log.read_text(errors="replace") if qemu_log.exists() else ""
    writes: dict[str, list[int]] = {}
    for m in STATUS_TRACE.finditer(text):
        writes.setdefault(m.group(1), []).append(int(m.group(2)))
    if not writes:
        return [Problem("resets", "no virtio_set_status trace: cannot count device resets")]
    classic = sum(1 for d in sc.get("devices", [])
                  if str(d.get("props", {}).get("suspend", "off")) != "on")
    problems: list[Problem] = []
    for vdev, values in sorted(writes.items()):
        set_up = [i for i, v in enumerate(values) if v & 4]
        if not set_up:
            continue
        last = max(i for i, v in enumerate(values) if v)
        resets = sum(1 for v in values[set_up[0]:last] if v == 0)
        if resets and classic and not any(v & 16 for v in values):
            classic -= 1
            continue
        if resets:
            problems.append(Problem("resets",
                                    f"device {vdev} was reset {resets} times after set-up"))
    return problems


def accounting_problems(sc: Scenario, run: ScenarioRun) -> list[Problem]:
    """Device accounting: what QEMU counted for each device (its
    x-suspend-stats, read once the guest had shut down) against the
    module's sysfs counters of the same device (init.sh's "vdev" lines,
    matched by transport key) and the path the scenario declares for it
    (expect_path).  Both were read after the tests, before the guest's
    shutdown.

    A device on our transport with SUSPEND negotiated: the device
    acknowledged as many suspends and resumes as the module counted, and
    saw no more SUSPEND requests than the module counted suspends and
    fallbacks (resumes not in the stop dialect, whose restart is a
    reset).  expect_path "suspend": every cycle on the SUSPEND path,
    at least one, no reset after set-up, no fallback, no failed or
    abandoned request; "reset": no SUSPEND request, at least one reset
    after set-up (the reset-based path); "fault": at least one request
    that failed or was abandoned (and a fallback counted by the
    module); "broken": the same as "fault", the module left the device
    broken, and the device saw no queue notification while its status
    had no DRIVER_OK (a device its driver could not set up again);
    "restore-failed": no SUSPEND request, a reset after DRIVER_OK (the
    reset-based freeze), a FEATURES_OK refused (its restore failed), the
    module left it broken, and the device saw no queue notification
    while its status had no DRIVER_OK (the driver, restored onto no
    device, reached it with none); "vanished" (x-fault-vanish=reset: the
    device vanished at the reset-based freeze, after which QEMU counts
    nothing of it): no SUSPEND request, and the module left it broken."""
    if run.device_stats is None:
        return [Problem("accounting", "QEMU's device counters were not read "
                                      "(no \"vs-runner: accounting\" from the guest)")]
    problems = [Problem("accounting", f"{g['name']}: the guest could not tell where the "
                                      f"device sits (key {key})")
                for key, g in run.guest_devices.items() if key.startswith("?")]

    def bad(entry: DeviceStats, text: str) -> None:
        problems.append(Problem("accounting", f"{entry['label']} ({entry['id']}): {text}"))

    for entry in run.device_stats:
        st = entry["stats"]
        if st is None:
            bad(entry, f"x-suspend-stats not read: {entry['error']}")
            continue
        guest = run.guest_devices.get(entry["key"]) if entry["key"] else None
        expect = entry["device"].get("expect_path")
        acks, requests = st["suspend-acks"], st["suspend-requests"]
        firmware_resets = entry["device"].get("firmware_resets", 0)
        resets = st["resets-after-driver-ok"] - firmware_resets
        if resets < 0:
            bad(entry, f"declared {firmware_resets} resets by the firmware, the device saw "
                       f"{st['resets-after-driver-ok']} resets after DRIVER_OK in all")
        failed = st["suspend-failures"] + st["suspend-aborts"] + st["resume-failures"]
        if guest and guest.get("dialect", "none") != "none":
            name = guest["name"]
            suspends, resumes = guest.get("suspends", 0), guest.get("resumes", 0)
            fallbacks = guest.get("fallbacks", 0)
            if acks != suspends:
                bad(entry, f"the device acknowledged {acks} suspends, the module ({name}) "
                           f"counted {suspends}")
            # The stop draft has no resume: the driver resets the stopped
            # device and sets it up again (counted as a reset).
            if st["resumes"] != resumes and guest["dialect"] != "stop":
                bad(entry, f"the device resumed {st['resumes']} times, the module ({name}) "
                           f"counted {resumes}")
            if requests > suspends + fallbacks:
                bad(entry, f"the device saw {requests} SUSPEND requests, the module ({name}) "
                           f"counted {suspends} suspends and {fallbacks} fallbacks")
        if expect == "suspend":
            if not guest:
                bad(entry, "declared on the SUSPEND path, but no device of our transport "
                           f"at {entry['key']} in the guest")
            elif guest.get("fallbacks", 0):
                bad(entry, f"declared on the SUSPEND path, the module ({guest['name']}) "
                           f"counted {guest['fallbacks']} fallbacks")
            if acks == 0:
                bad(entry, "declared on the SUSPEND path, the device acknowledged no suspend")
            if resets:
                bad(entry, f"declared on the SUSPEND path, the device was reset {resets} "
                           "times after DRIVER_OK")
            if failed:
                bad(entry, f"declared on the SUSPEND path, {failed} suspends or resumes "
                           "failed or were abandoned")
        elif expect == "vanished":
            if requests:
                bad(entry, f"declared vanished, the device saw {requests} SUSPEND requests")
        elif expect in ("reset", "restore-failed"):
            what = "on the reset path" if expect == "reset" else "a failed restore"
            if requests:
                bad(entry, f"declared {what}, the device saw {requests} SUSPEND requests")
            if not resets:
                bad(entry, f"declared {what}, the device was never reset after DRIVER_OK")
            if expect == "restore-failed" and not st["features-refused"]:
                bad(entry, "declared a failed restore, the device refused no FEATURES_OK")
        elif expect in ("fault", "broken"):
            what = "faulty" if expect == "fault" else "broken"
            if not failed:
                bad(entry, f"declared {what}, no suspend or resume failed or was abandoned "
                           f"({requests} requests, {acks} acknowledged)")
            if guest and not guest.get("fallbacks", 0):
                bad(entry, f"declared {what}, the module ({guest['name']}) counted no "
                           "fallback")
        if expect in BROKEN_PATHS:
            if not guest:
                bad(entry, "declared broken, but no device of our transport at "
                           f"{entry['key']} in the guest")
            elif guest.get("state") != "broken":
                bad(entry, f"declared broken, the module ({guest['name']}) left it "
                           f"{guest.get('state', 'in no state')}")
            if st["notifies-before-driver-ok"]:
                bad(entry, f"declared broken, the device got {st['notifies-before-driver-ok']} "
                           "queue notifications while its status had no DRIVER_OK")
    return problems


def inflight_notes(run: ScenarioRun) -> list[str]:
    """One line per device that saw SUSPEND requests: how many elements
    the device model had in flight at them, so that a scenario shows
    whether its requests really were in flight."""
    notes: list[str] = []
    for entry in run.device_stats or []:
        st = entry["stats"]
        if not st or not st["suspend-requests"]:
            continue
        requests = st["suspend-requests"]
        guest = run.guest_devices.get(entry["key"]) if entry["key"] else None
        where = f" = {guest['name']}" if guest else ""
        notes.append(
            f"device {entry['label']}{where}: {requests} SUSPEND requests, "
            f"{st['suspend-acks']} acknowledged, {st['suspends-with-inflight']} "
            f"({100 * st['suspends-with-inflight'] / requests:.1f}%) with elements in flight, "
            f"{st['inflight-total']} in flight in all (max {st['inflight-max']}), "
            f"{st['pending-total']} available not taken; "
            f"{st['resets-after-driver-ok']} resets after DRIVER_OK")
    return notes


def verdict(sc: Scenario, run: ScenarioRun) -> list[Result]:
    """The pass rule of tools/scenarios/README.md, the only place it is
    implemented: a guest run becomes test results, and the scenario
    passed if and only if every result is "pass".

    expect = "pass" (default): the tests' TAP results, plus a failure
    for each problem recorded (kernel, TAP, guest, kmemleak, QEMU log,
    QEMU stderr, resets, test binaries) and for a guest that did not
    finish every test, reach "vs-runner: done" and end QEMU with exit
    status 0 after it; no result at all is a failure too.

    expect = "violation": the same, except that QEMU's violation lines
    are what must be there: one result passes if and only if there is
    at least one, and every other problem still fails.  With
    expect_violation, every violation line must contain that text (the
    kind of violation the test commits), or it fails.

    expect_fail: negative controls.  Each named test result must be
    there and fail (it passes as "failed as it must"); one that passes
    or is missing fails.

    expect = "timeout" (the runner's own hang check): passes only if the
    guest booted, started the scenario's last test, which never ended,
    and was stopped at its timeout, with nothing else wrong."""
    name = sc["name"]
    expect = sc.get("expect", "pass")
    timeout = scenario_timeout(sc)
    fails: list[Result] = []

    def fail(text: str) -> None:
        fails.append(Result(f"{name}: {text}", "fail"))

    stuck = None
    if run.outcome == "not-run":
        fail("guest not started")
    elif run.outcome == "stopped":
        fail("guest stopped by an interrupt")
    elif run.outcome == "boot":
        fail(f"guest did not reach /init within {boot_timeout():.0f} s, "
             f"{run.boot_stalls + 1} times")
    elif run.outcome == "timeout":
        stuck = run.current
        if expect != "timeout":
            fail(f"guest timed out after {timeout:.0f} s"
                 + (f" in test {stuck}" if stuck else ""))
    elif not run.done:
        fail(f"guest stopped before it finished (QEMU exit {run.exit_code})")
    elif run.outcome == "no-exit":
        fail(f"QEMU still running {config.EXIT_GRACE} s after the guest finished")
    elif run.exit_code != 0:
        fail(f"QEMU exited with status {run.exit_code} after the guest finished")
    if run.current is not None and run.outcome != "timeout":
        fail(f"{run.current}: never finished")
    if run.done:
        missing = [t for t in sc["tests"] if t not in run.ended]
        if missing:
            fail("tests that did not run: " + ", ".join(missing))
        if run.begun != [t for t in sc["tests"] if t in run.begun]:
            fail("tests ran out of order: " + ", ".join(run.begun))
    violations = [p for p in run.problems if p.kind == "violation"]
    others = [p for p in run.problems if p.kind != "violation"]
    for p in run.problems if expect != "violation" else others:
        fail(str(p))

    if expect == "timeout":
        check = f"{name}: hung guest stopped at its timeout"
        hang = sc["tests"][-1]
        if not run.booted:
            why = "the guest never reached /init"
        elif hang not in run.begun:
            why = f"test {hang} never started"
        elif run.outcome != "timeout":
            why = f"the guest did not hang (outcome {run.outcome})"
        elif stuck != hang:
            why = f"the guest hung in {stuck or 'no test'}, not in {hang}"
        else:
            why = None
        return fails + [Result(check, "fail" if why else "pass", why or "")]
    must_fail = sc.get("expect_fail", [])
    results = [r for r in run.results if r.name not in must_fail]
    for want in must_fail:
        got = [r for r in run.results if r.name == want]
        if not got:
            results.append(Result(f"{want}: negative control never ran", "fail"))
        elif any(r.status != "fail" for r in got):
            results.append(Result(f"{want}: negative control did not fail", "fail"))
        else:
            results.append(Result(f"{want}: failed as it must (negative control)", "pass"))
    if expect == "violation":
        kind = sc.get("expect_violation")
        other = [v for v in violations if kind is not None and kind not in v.text]
        results.append(Result(f"{name}: QEMU reported the driver's violation",
                              "pass" if violations else "fail",
                              violations[0].text if violations
                              else "no violation line in the QEMU log"))
        for v in other:
            results.append(Result(f"{name}: a violation other than {kind!r}", "fail", v.text))
    results += fails
    if not results:
        results.append(Result(f"{name}: no test reported a result", "fail"))
    return results


def scenario_passed(results: Sequence[Result]) -> bool:
    return bool(results) and all(r.status == "pass" for r in results)

# SPDX-License-Identifier: GPL-2.0
"""A guest's console: GuestOutput parses it line by line as it streams
(TAP per test binary, init.sh's "vs-runner:" markers, kernel problems,
kmemleak's reports) into the ScenarioRun, and stream_console() feeds it
from QEMU under the guest's time limits."""

from __future__ import annotations

import os
import re
import select
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from . import config
from .config import boot_timeout
from .model import DeviceStats, Echo, Problem, Result, ScenarioRun
from .scenario import BROKEN_PATHS
from .qmp import qmp_command

# Kernel messages that fail a scenario whatever its tests said: warnings
# and BUGs (KFENCE, soft lockup and "scheduling while atomic" among them),
# lockdep, RCU stalls, hung tasks, SLUB's red zone and poison checks,
# debugobjects, kmemleak's own failures, block I/O errors, virtio_ring's
# ring errors and any stack trace; and a local APIC timer that failed its
# calibration at boot (seen once, under load), without which a guest's
# s2idle hung.
KERNEL_PROBLEMS = re.compile(
    r"WARNING:|BUG:|BUG [\w.:-]+ \(|Oops|Kernel panic|"
    r"possible circular locking|inconsistent lock state|"
    r"possible recursive locking|suspicious RCU usage|"
    r"sleeping function called from invalid context|"
    r"rust_panic|general protection fault|"
    r"rcu_\w+ self-detected stall|rcu_\w+ detected stalls|rcu: INFO:|"
    r"INFO: rcu|rcu: .*[Ss]tall|"
    r"blocked for more than \d+ seconds|soft lockup|hard LOCKUP|"
    r"Poison overwritten|Redzone|Object already free|Freepointer corrupt|"
    r"Object padding overwritten|Padding overwritten|"
    r"ODEBUG:|unreferenced object 0x|kmemleak: .*(disabled|pool empty|Cannot)|"
    r"\bI/O error\b|Call Trace:|APIC frequency too slow|"
    # virtio_ring's BAD_RING(): a used buffer the ring does not know (the
    # queue is then broken).
    r":id \d+ (?:is not a head!|out of range)")
# A block I/O error names its disk ("I/O error, dev vdb, sector ...",
# "Buffer I/O error on dev vdb, logical block ..."): a kernel problem,
# except on the disk of a device the scenario breaks on purpose, where
# it is what the tests wait for (see broken_disks()).
IO_ERROR_DISK = re.compile(r"\bI/O error,? (?:on )?dev (\w+),")
# A "Call Trace:" this many lines after a reported line belongs to it.
CALL_TRACE_SPAN = 60
# Past this many, kernel lines are counted, not listed one by one.
MAX_KERNEL_LINES = 20
# A failed test case's last this many "# " lines go with its result.
MAX_DIAGNOSTICS = 12


TAP_RESULT = re.compile(r"^(ok|not ok) (\d+)(?: (.*?))?(?:\s+#\s*(SKIP|XFAIL)\b.*)?$")
# init.sh's markers of fixed text, and its test-end, followed on the same
# line by something else: a kernel message that reached the console
# between the marker's text and its newline ("vs-runner: kmemleak
# scannedhrtimer: interrupt took 98780981 ns", seen under host load).
# A kernel line that starts with a digit, glued to a test-end, reads as
# part of its exit code; one that lands inside a marker's text is not
# undone.
GLUED_MARKER = re.compile(r"^(vs-runner: (?:kmemleak missing|kmemleak scanned|accounting|done"
                          r"|test-end \S+ rc=-?\d+(?!\d)))(\S.*)$")
TAP_PLAN = re.compile(r"^1\.\.(\d+)(?:\s+#\s*(.*))?$")


def broken_disks(run: ScenarioRun) -> set[str]:
    """The disks on which block I/O may fail: those of the devices the
    scenario declares broken (expect_path in BROKEN_PATHS)
    that the guest reported broken (init.sh's vdev line: state=broken,
    disk=vdX), read at its "accounting" marker.  Without device
    accounting, none."""
    disks = set()
    for entry in run.device_stats or []:
        guest = run.guest_devices.get(entry["key"]) if entry["key"] else None
        if entry["device"].get("expect_path") in BROKEN_PATHS and guest \
                and guest.get("state") == "broken" and guest.get("disk"):
            disks.add(guest["disk"])
    return disks


class GuestOutput:
    """Parses the console as it streams: TAP per test binary, the
    runner markers of init.sh, kernel problems.  Records what it saw in
    the ScenarioRun; verdict() judges."""

    def __init__(self, run: ScenarioRun, tests: Iterable[str], qmp_socket: Path | None = None,
                 kmemleak: bool = False, kcsan: bool = False) -> None:
        self.run = run
        self.qmp_socket = qmp_socket
        self.expected = list(tests)
        # CONFIG_DEBUG_KMEMLEAK=y: the guest must report a scan.
        self.kmemleak_expected = kmemleak
        # CONFIG_KCSAN=y: the guest must report KCSAN's counters, with
        # watchpoints set up (a KCSAN that never watched finds nothing).
        self.kcsan_expected = kcsan
        self.plan: int | None = None
        # The current test case's "# " lines since the last result.
        self.diagnostics: list[str] = []
        self.count = 0
        self.next = 1
        self.lineno = 0
        self.last_problem: int | None = None
        self.kernel_lines = 0
        self.leak_first: list[str] | None = None
        self.done_at: float | None = None
        # Block I/O errors, (disk, line): judged by finish(), once the
        # guest has said which disks are broken.
        self.io_errors: list[tuple[str, str]] = []
        # Called at init.sh's "accounting" marker: returns QEMU's device
        # counters (read_device_stats()), None without device accounting.
        self.read_device_stats: Callable[[], list[DeviceStats]] | None = None
        # Set from a guest's "vs-sleep-enter: freeze" (it is about to
        # enter a real s2idle) to its next "vs-sleep: " line (or
        # "vs-sleep-failed: ", a sleep refused, or "vs-sleep-unidled: ",
        # a press that ended it before it idled): while set, the
        # PowerButtonWaker presses.
        self.entering_s2idle = threading.Event()
        # Returns the CPU time QEMU has used so far (process_cpu_seconds());
        # read at /init and at each test's end, to split a guest's CPU
        # time into boot, tests and the rest.
        self.cpu_now: Callable[[], float | None] | None = None

    def problem(self, kind: str, text: str) -> None:
        self.run.problems.append(Problem(kind, text))

    def kernel_problem(self, text: str) -> None:
        self.last_problem = self.lineno
        self.kernel_lines += 1
        if self.kernel_lines <= MAX_KERNEL_LINES:
            self.problem("kernel", text)

    def line(self, text: str) -> None:
        text = text.rstrip("\r\n")
        glued = GLUED_MARKER.match(text)
        if glued:
            # The kernel printed a line (printk writes the console
            # itself, not through the tty) after the marker's text but
            # before its newline: the marker, then the kernel's line.
            self.line(glued.group(1))
            self.line(glued.group(2))
            return
        self.lineno += 1
        if text.startswith("vs-kmemleak: "):
            self.kmemleak_line(text[len("vs-kmemleak: "):])
            return
        m = KERNEL_PROBLEMS.search(text)
        disk = IO_ERROR_DISK.search(text) if m else None
        if disk:
            self.io_errors.append((disk.group(1), text.strip()))
        elif m:
            # A stack trace right after a reported line is part of it.
            if not (m.group(0) == "Call Trace:" and self.last_problem is not None
                    and self.lineno - self.last_problem <= CALL_TRACE_SPAN):
                self.kernel_problem(text.strip())
        if text.startswith("vs-runner: "):
            self.marker(text[len("vs-runner: "):])
            return
        if text.startswith("vs-report: "):
            self.run.report.append(text[len("vs-report: "):])
            return
        if text.startswith("vs-bench: "):
            self.run.bench.append(text[len("vs-bench: "):])
            return
        if text.startswith("vs-sleep-enter: freeze"):
            self.entering_s2idle.set()
            return
        if text.startswith(("vs-sleep-failed: ", "vs-sleep-unidled: ")):
            self.entering_s2idle.clear()
            return
        if text.startswith("vs-sleep: "):
            self.entering_s2idle.clear()
            self.run.sleeps.append(text[len("vs-sleep: "):].strip())
            return
        if self.run.current is None:
            return
        self.tap_line(text)

    def tap_line(self, text: str) -> None:
        name = self.run.current
        m = TAP_PLAN.match(text)
        if m:
            if self.plan is not None:
                self.problem("tap", f"{name}: a second TAP plan 1..{m.group(1)}")
            self.plan = int(m.group(1))
            if self.plan == 0:
                self.problem("tap", f"{name}: planned no tests"
                             + (f" ({m.group(2)})" if m.group(2) else ""))
            return
        m = TAP_RESULT.match(text)
        if not m:
            if text.startswith("# "):
                self.diagnostics = self.diagnostics[-(MAX_DIAGNOSTICS - 1):] + [text]
            return
        diagnostics, self.diagnostics = self.diagnostics, []
        number = int(m.group(2))
        self.count += 1
        if number != self.next:
            self.problem("tap", f"{name}: result numbered {number} where "
                                f"{self.next} was due")
        elif self.plan is not None and number > self.plan:
            self.problem("tap", f"{name}: result {number} beyond the plan 1..{self.plan}")
        self.next = number + 1
        if m.group(4) == "SKIP":
            status = "skip"
        elif m.group(1) == "ok":
            status = "pass"  # an expected failure (# XFAIL) included
        else:
            status = "fail"
        self.run.results.append(Result(f"{name}: {m.group(3) or number}", status,
                                       log=diagnostics if status == "fail" else []))

    def marker(self, text: str) -> None:
        run = self.run
        if text.startswith("init "):
            run.booted = True
            if self.cpu_now:
                run.cpu_at_init = self.cpu_now()
        elif text.startswith("test-begin "):
            if run.current is not None:
                self.problem("tap", f"{run.current}: never ended")
            run.current = text.split()[1]
            run.begun.append(run.current)
            self.plan = None
            self.count = 0
            self.next = 1
        elif text.startswith("test-end "):
            name, rc = text.split()[1], text.split("rc=")[-1]
            if name != run.current:
                self.problem("tap", f"test-end {name} without its test-begin")
            if self.plan is None:
                self.problem("tap", f"{name}: printed no TAP plan (rc={rc})")
            elif self.count != self.plan:
                self.problem("tap", f"{name}: {self.count} of {self.plan} planned results")
            if rc != "0" and not any(r.status == "fail" for r in run.results
                                     if r.name.startswith(name + ": ")):
                self.problem("tap", f"{name}: exited {rc} with no failed test")
            run.ended.append(name)
            run.current = None
            if self.cpu_now:
                run.cpu_at_tests_end = self.cpu_now()
                if run.cpu_at_tests_end is not None:
                    run.cpu_at_test_ends.append((name, run.cpu_at_tests_end))
        elif text.startswith("error: "):
            self.problem("guest", text[len("error: "):])
        elif text.startswith("kernel-problem: "):
            self.kernel_problem(text[len("kernel-problem: "):])
        elif text == "kmemleak missing":
            run.kmemleak = "missing"
        elif text == "kmemleak scanned":
            run.kmemleak = "scanned"
        elif text.startswith("kcsan "):
            run.kcsan = {k: int(v) for k, _, v in
                         (w.partition("=") for w in text.split()[1:]) if v.lstrip("-").isdigit()}
        elif text.startswith("qmp "):
            # A test asks the host for a device change (for example a
            # block_resize) at a point of its choosing.
            reply = qmp_command(self.qmp_socket, text[len("qmp "):])
            if "error" in reply or reply.startswith("QMP failed"):
                self.problem("qmp", f"guest's QMP command failed: {reply}")
        elif text == "done":
            run.done = True
            self.done_at = time.monotonic()
        elif text.startswith("vdev "):
            self.vdev_line(text[len("vdev "):])
        elif text == "accounting" and self.read_device_stats:
            run.device_stats = self.read_device_stats()

    def vdev_line(self, text: str) -> None:
        """init.sh's account of one device on our transport: "virtioN
        key=<transport key> dialect=spec suspends=3 ..." (the module's
        sysfs values)."""
        name, _, rest = text.partition(" ")
        fields = {"name": name}
        for word in rest.split():
            k, sep, v = word.partition("=")
            if sep:
                fields[k] = int(v) if v.isdigit() else v
        # A key starting with "?": the guest could not place the device
        # (see accounting_problems()).
        self.run.guest_devices[fields.get("key") or f"?{name}"] = fields

    def kmemleak_line(self, text: str) -> None:
        if text.startswith("unreferenced object"):
            self.run.leaks += 1
            if self.leak_first is None:
                self.leak_first = [text.strip()]
        elif self.leak_first is not None and len(self.leak_first) < 4 and \
                re.match(r"\s+\[<[0-9a-f]+>\] ", text):
            # The allocation's first frames say whose leak it is.
            self.leak_first.append(text.split("] ", 1)[-1].strip())

    def finish(self) -> None:
        run = self.run
        broken = broken_disks(run)
        for disk, text in self.io_errors:
            if disk not in broken:
                self.kernel_problem(text)
        if run.leaks:
            self.problem("kmemleak", f"{run.leaks} unreferenced object"
                         f"{'s' if run.leaks > 1 else ''} (first: "
                         + "; ".join(self.leak_first) + ")")
        if self.kmemleak_expected and run.done:
            if run.kmemleak == "missing":
                self.problem("kmemleak", "the guest kernel has CONFIG_DEBUG_KMEMLEAK "
                                         "but no /sys/kernel/debug/kmemleak")
            elif run.kmemleak != "scanned":
                self.problem("kmemleak", "the guest reported no kmemleak scan")
        if self.kcsan_expected and run.done:
            if run.kcsan is None:
                self.problem("kcsan", "the guest kernel has CONFIG_KCSAN but the guest "
                                      "reported no KCSAN counters")
            elif run.kcsan.get("enabled") != 1 or not run.kcsan.get("setup_watchpoints"):
                self.problem("kcsan", "KCSAN did not watch: "
                             + " ".join(f"{k}={v}" for k, v in run.kcsan.items()))
        if self.kernel_lines > MAX_KERNEL_LINES:
            self.problem("kernel", f"{self.kernel_lines - MAX_KERNEL_LINES} more kernel "
                                   "problem lines (see the console log)")


def stream_console(proc: subprocess.Popen[bytes], deadline: float, log: IO[bytes],
                   parser: GuestOutput, echo: Echo | None) -> str:
    """Feeds the guest console to the log and the parser until QEMU
    closes it (returns "exited"), the guest has not reached /init in
    BOOT_TIMEOUT s ("boot"), the deadline passes before the guest is done
    ("timeout"), QEMU is still there EXIT_GRACE s after done ("no-exit"),
    or STOP is set ("stopped").  After done the console is still read:
    a problem during shutdown fails the scenario too."""
    buf = b""
    boot_deadline = time.monotonic() + boot_timeout()
    while True:
        now = time.monotonic()
        if config.STOP.is_set():
            return "stopped"
        if parser.run.done:
            limit, outcome = parser.done_at + config.EXIT_GRACE, "no-exit"
        elif not parser.run.booted:
            limit, outcome = min(deadline, boot_deadline), (
                "boot" if boot_deadline < deadline else "timeout")
        else:
            limit, outcome = deadline, "timeout"
        if now >= limit:
            return outcome
        ready, _, _ = select.select([proc.stdout], [], [], min(limit - now, 1.0))
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        log.write(chunk)
        log.flush()
        buf += chunk
        while b"\n" in buf:
            raw, buf = buf.split(b"\n", 1)
            text = raw.decode("utf-8", "replace")
            parser.line(text)
            if echo:
                echo(text)
    if buf:
        parser.line(buf.decode("utf-8", "replace"))
    return "exited"

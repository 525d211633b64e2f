# SPDX-License-Identifier: GPL-2.0
"""What the runner's parts pass around: a scenario (the table of its
TOML file), the record of one guest run (ScenarioRun), the problems
seen in it and the test results verdict() makes of them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

# A scenario as load_scenario() returns it: its file's keys and "name".
Scenario = dict[str, Any]
# One of a scenario's devices (a table of its "devices").
Device = dict[str, Any]
# One device as read_device_stats() reads it: label, QEMU id, device,
# transport key and x-suspend-stats (or the error that kept them).
DeviceStats = dict[str, Any]
# Where a guest's console lines are echoed as they come.
Echo = Callable[[str], None]


@dataclass
class Result:
    name: str
    status: str  # "pass", "fail" or "skip"
    detail: str = ""
    # A failed test's own diagnostic lines (the kselftest harness's "# "
    # lines before its result): what a CI log keeps of a guest's console.
    log: list[str] = field(default_factory=list)


@dataclass
class Problem:
    """Something seen in a guest run that fails it (see verdict())."""
    kind: str  # kernel, tap, guest, kmemleak, violation, qemu-log, qemu-stderr, backend, resets,
    # tests, qmp, accounting, s3
    text: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


@dataclass
class ScenarioRun:
    name: str
    results: list[Result] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    report: list[str] = field(default_factory=list)
    bench: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log: Path | None = None
    seconds: float = 0.0
    # User and system CPU time of QEMU (the guest's vCPUs and devices).
    cpu_seconds: float = 0.0
    # QEMU's CPU time when the guest reached /init and when its last test
    # ended (None: not read): what booting, the tests and the rest (the
    # kmemleak scans, the shutdown) cost.
    cpu_at_init: float | None = None
    cpu_at_tests_end: float | None = None
    # QEMU's CPU time at each test's end, in order: (test, seconds).
    cpu_at_test_ends: list[tuple[str, float]] = field(default_factory=list)
    # What happened to the guest: "exited" (QEMU ended by itself),
    # "timeout", "boot" (no /init in BOOT_TIMEOUT), "no-exit" (QEMU
    # still running EXIT_GRACE s after done), "stopped" (interrupted),
    # "not-run".
    outcome: str = "not-run"
    exit_code: int | None = None
    boot_stalls: int = 0
    booted: bool = False
    begun: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    current: str | None = None
    done: bool = False
    kmemleak: str | None = None  # None, "scanned" or "missing"
    # The KCSAN kernel's counters (/sys/kernel/debug/kcsan) at the end.
    kcsan: dict[str, int] | None = None
    leaks: int = 0
    # The guest stopped at its timeout (expect = "timeout").
    timed_out: bool = False
    # Device accounting (see accounting_problems()): the module's sysfs
    # counters of each device on our transport, by transport key, as the
    # guest printed them ("vdev" lines), and what QEMU counted for each
    # of the scenario's devices once the guest had shut down (None: not
    # read).
    guest_devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    device_stats: list[DeviceStats] | None = None
    # Times the runner found QEMU suspended (S3) and woke the guest
    # (scenarios with s3_wakeups), and the real sleeps the guest reported
    # ("vs-sleep: <state>" lines: VS_PM_TEST=none).
    s3_wakeups: int = 0
    sleeps: list[str] = field(default_factory=list)
    # Power button presses the runner sent while the guest was entering
    # or in a real s2idle (scenarios with s2idle_wakeups).
    button_presses: int = 0


def print_results(results: Iterable[Result], out: TextIO | None = None) -> None:
    for r in results:
        tag = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[r.status]
        print(f"{tag} {r.name}" + (f" ({r.detail})" if r.detail else ""), file=out)
        for line in r.log:
            print(f"     {line}", file=out)

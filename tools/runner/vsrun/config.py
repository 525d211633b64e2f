# SPDX-License-Identifier: GPL-2.0
"""What every part of the runner shares: the checkout's and the cache's
paths, the guests' time limits, the STOP event, die() and
die_with_parent().  Read the settings as config.NAME when used: main()
and the tests change them."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn

from .model import Scenario

TOP = Path(__file__).resolve().parents[3]
SCENARIOS = TOP / "tools" / "scenarios"
SELFTESTS = TOP / "tools" / "testing" / "selftests" / "drivers" / "virtio_suspend"
# Where `make selftests` leaves the test binaries: in the checkout, copies
# of the cached build of its sources (tools/testing/build-selftests.sh),
# so two checkouts sharing a cache never run each other's tests.
SELFTEST_BUILD = TOP / ".build" / "selftests"
CACHE = Path(os.environ.get("VS_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
             / "virtio-suspend")
# Seconds each scenario took last time: the longest start first.
DURATIONS = CACHE / "durations.json"


# A guest reaches /init in a few seconds under TCG.  A guest that has not
# within BOOT_TIMEOUT is booted again, at most BOOT_RETRIES times; every
# retry is printed and counted.  (The old cause of such stalls, the
# kernel's PIT-based TSC calibration failing under host load, is gone:
# qemu_command() passes tsc_early_khz.)  Nothing of ours runs before
# /init, so a retry never hides a driver hang.
BOOT_TIMEOUT = 40
BOOT_RETRIES = 2
# After "vs-runner: done" the guest reboots, which ends QEMU
# (-no-reboot); it must within this many seconds, with exit status 0.
EXIT_GRACE: float = 30
# --timeout-scale: a slower guest kernel (make check-kcsan's KCSAN
# variant) stretches every guest's time limits, its boot's and each
# scenario's timeout, by this factor, instead of each scenario's file
# knowing every kernel it may run on.
TIMEOUT_SCALE = 1.0


def boot_timeout() -> float:
    return BOOT_TIMEOUT * TIMEOUT_SCALE


def scenario_timeout(sc: Scenario) -> float:
    return float(sc.get("timeout", 300)) * TIMEOUT_SCALE


# Set to stop every running guest (Ctrl-C, SIGTERM).
STOP = threading.Event()


def die(msg: str) -> NoReturn:
    print(f"run.py: {msg}", file=sys.stderr)
    sys.exit(2)


def die_with_parent() -> None:
    """Runs in the QEMU child before exec: the kernel kills it when the
    thread that started it ends, so an interrupted or killed run leaves
    no guest behind."""
    PR_SET_PDEATHSIG = 1
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def qemu_child() -> None:
    """Runs in the QEMU child before exec: die_with_parent(), and a core
    dump allowed (QEMU runs with dump-guest-core=off, so without the
    guest's memory), which a crash leaves in its run directory: QEMU died
    of SIGSEGV once in a day of runs, early in a guest's boot, with
    nothing to show where but the kernel's one line."""
    die_with_parent()
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


# Loaded once: the child between fork and exec only calls it.
_LIBC = ctypes.CDLL(None, use_errno=True)

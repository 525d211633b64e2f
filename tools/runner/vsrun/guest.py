# SPDX-License-Identifier: GPL-2.0
"""One guest, booted to its end: QEMU and its backends started, the
console streamed to the parser, the guest woken from its real sleeps
(S3Waker, PowerButtonWaker), QEMU reaped, a stalled boot retried, and
every problem of the run recorded for verdict()."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from . import config
from .backends import start_backends, stop_backends
from .config import boot_timeout, qemu_child, scenario_timeout
from .console import GuestOutput, stream_console
from .initramfs import scenario_initrd
from .kernel import kernel_config
from .model import Echo, Problem, Scenario, ScenarioRun
from .qemu import qemu_command
from .qmp import device_accounting, qmp_command, read_device_stats
from .verdict import (accounting_problems, backend_problems, check_resets, inflight_notes,
                      qemu_log_problems, qemu_stderr_problems, s2idle_problems, s3_problems)


class S3Waker(threading.Thread):
    """The host's side of a real S3: while the guest runs, asks QEMU its
    run state every POLL s and, each time it is "suspended" (the guest
    wrote its sleep type to PM1_CNT), wakes it with QMP system_wakeup, as
    `virsh dompmwakeup` does.  `wakeups` counts them; `errors` keeps what
    went wrong with QMP.  One QMP connection a command: the runner's other
    QMP users (device accounting) get theirs in between."""

    POLL = 0.2

    def __init__(self, sock: Path, echo: Echo | None) -> None:
        super().__init__(daemon=True)
        self.sock, self.echo = sock, echo
        self.wakeups = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.POLL):
            if not self.sock.exists():
                continue
            reply = qmp_command(self.sock, '{"execute": "query-status"}')
            if '"status": "suspended"' not in reply:
                continue
            woke = qmp_command(self.sock, '{"execute": "system_wakeup"}')
            if '"return"' in woke:
                self.wakeups += 1
                if self.echo:
                    self.echo(f"runner: S3 {self.wakeups}: QEMU suspended, "
                              "system_wakeup sent")
            elif len(self.errors) < 5:
                self.errors.append(woke)


class PowerButtonWaker(threading.Thread):
    """The host's side of a real s2idle: QEMU's run state does not change
    (the vCPUs idle), so the guest says when it goes to sleep
    ("vs-sleep-enter: freeze", GuestOutput.entering_s2idle) and, until it
    reports the sleep done, this presses the ACPI power button (QMP
    system_powerdown) every PRESS_EVERY s: the SCI is a wake-up interrupt
    in s2idle.  A press before the guest idles is an ordinary key press
    (nothing in the guest acts on KEY_POWER), the next one wakes it.
    `presses` counts them; `errors` keeps what went wrong with QMP."""

    PRESS_EVERY = 1.0

    def __init__(self, sock: Path, entering: threading.Event, echo: Echo | None) -> None:
        super().__init__(daemon=True)
        self.sock, self.entering, self.echo = sock, entering, echo
        self.presses = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.entering.wait(S3Waker.POLL) or self.stop.wait(self.PRESS_EVERY):
                continue
            if not self.entering.is_set():
                continue
            reply = qmp_command(self.sock, '{"execute": "system_powerdown"}')
            if '"return"' in reply:
                self.presses += 1
                if self.echo:
                    self.echo(f"runner: power button press {self.presses}")
            elif len(self.errors) < 5:
                self.errors.append(reply)


def sleep_wakers(sc: Scenario, rundir: Path, parser: GuestOutput,
                 echo: Echo | None) -> list[S3Waker | PowerButtonWaker]:
    """The threads that wake a guest from the real sleeps its scenario
    declares."""
    wakers: list[S3Waker | PowerButtonWaker] = []
    if "s3_wakeups" in sc:
        wakers.append(S3Waker(rundir / "qmp.sock", echo))
    if "s2idle_wakeups" in sc:
        wakers.append(PowerButtonWaker(rundir / "qmp.sock", parser.entering_s2idle, echo))
    return wakers


def boot_guest(sc: Scenario, kdir: Path, initrd: Path, rundir: Path, accel: str,
               echo: Echo | None) -> tuple[ScenarioRun, GuestOutput]:
    """Runs one guest to its end; returns (run, parser)."""
    run = ScenarioRun(sc["name"], log=rundir / "console.log")
    parser = GuestOutput(run, sc["tests"], rundir / "qmp.sock",
                         kmemleak=kernel_config(kdir, "CONFIG_DEBUG_KMEMLEAK") == "y",
                         kcsan=kernel_config(kdir, "CONFIG_KCSAN") == "y")
    if device_accounting(sc):
        parser.read_device_stats = lambda: read_device_stats(sc, rundir / "qmp.sock")
    cmd = qemu_command(sc, kdir, initrd, rundir, accel)
    (rundir / "qemu.cmd").write_text(" ".join(cmd) + "\n")
    backends = start_backends(sc, rundir)
    start = time.monotonic()
    with open(run.log, "wb") as log, open(rundir / "qemu.stderr", "wb") as err:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err, start_new_session=True, cwd=rundir,
                                    preexec_fn=qemu_child)
        except BaseException:
            stop_backends(backends)
            raise
        parser.cpu_now = lambda: process_cpu_seconds(proc.pid)
        wakers = sleep_wakers(sc, rundir, parser, echo)
        for waker in wakers:
            waker.start()
        try:
            run.outcome = stream_console(proc, start + scenario_timeout(sc),
                                         log, parser, echo)
            if run.outcome == "exited" and not reap(proc, run, config.EXIT_GRACE):
                run.outcome = "no-exit"
        finally:
            for waker in wakers:
                waker.stop.set()
                waker.join()
                if isinstance(waker, S3Waker):
                    run.s3_wakeups = waker.wakeups
                    what = "system_wakeup"
                else:
                    run.button_presses = waker.presses
                    what = "system_powerdown"
                run.problems += [Problem("sleep", f"QMP {what} failed: {e}")
                                 for e in waker.errors]
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)
                reap(proc, run, None)
            stop_backends(backends)
    run.exit_code = proc.returncode
    run.seconds = time.monotonic() - start
    core = rundir / "core"
    if proc.returncode is not None and proc.returncode < 0 and core.exists():
        run.notes.append(f"QEMU died of signal {-proc.returncode}: core dump {core} "
                         f"(gdb {cmd[0]} {core})")
    return run, parser


def process_cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) process pid has used so far, all
    its threads; None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces: count after it.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reap(proc: subprocess.Popen[bytes], run: ScenarioRun, timeout: float | None) -> bool:
    """Waits up to timeout s (None: for ever) for QEMU to exit, and
    records its exit code and the CPU time it used (what bounds make
    check on a 2-core machine, more than the guests' wall time).
    Returns whether it exited."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            run.cpu_seconds = usage.ru_utime + usage.ru_stime
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def run_guest(sc: Scenario, kdir: Path, initrd: Path, rundir: Path, accel: str,
              echo: Echo | bool | None = None) -> ScenarioRun:
    """Boots one guest and returns its ScenarioRun, with every problem
    of its console, QEMU log and QEMU stderr recorded."""
    if echo is True:
        echo = print
    stalls = 0
    notes: list[str] = []
    initrd = scenario_initrd(sc, initrd, rundir)
    while True:
        run, parser = boot_guest(sc, kdir, initrd, rundir, accel, echo)
        if run.outcome != "boot" or stalls == config.BOOT_RETRIES:
            break
        stalls += 1
        stalled = rundir / f"console-boot-stall-{stalls}.log"
        run.log.rename(stalled)
        for f in ("qemu.log", "qemu.stderr"):
            if (rundir / f).exists():
                (rundir / f).rename(rundir / f"{f}-boot-stall-{stalls}")
        note = (f"note: boot stall {stalls}: guest did not reach /init in {boot_timeout():.0f} s; "
                f"booting again (stalled console: {stalled})")
        notes.append(note)
        if echo:
            echo(note)
    # 10 MiB a guest; the common initramfs stays in the run directory.
    initrd.unlink()
    run.notes = notes + run.notes
    run.boot_stalls = stalls
    parser.finish()
    if run.kcsan:
        # What KCSAN did: a scenario with no report watched this much.
        run.notes.append("kcsan: " + ", ".join(
            f"{run.kcsan.get(k, '?')} {label}" for k, label in (
                ("setup_watchpoints", "watchpoints set up"),
                ("data_races", "data races"),
                ("races_unknown_origin", "races of unknown origin"),
                ("assert_failures", "assertion failures"))))
    run.timed_out = run.outcome == "timeout"
    qemu_log = rundir / "qemu.log"
    run.problems += qemu_log_problems(qemu_log, sc.get("qemu_log_allow", []))
    run.problems += qemu_stderr_problems(sc, rundir / "qemu.stderr")
    run.problems += backend_problems(sc, rundir)
    if sc.get("no_reset_after_setup"):
        run.problems += check_resets(sc, qemu_log)
    if "s3_wakeups" in sc:
        run.problems += s3_problems(sc, run)
    if "s2idle_wakeups" in sc:
        run.problems += s2idle_problems(sc, run)
    if device_accounting(sc) and run.done:
        run.problems += accounting_problems(sc, run)
        run.notes += inflight_notes(run)
    return run

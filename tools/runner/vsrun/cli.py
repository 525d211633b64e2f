# SPDX-License-Identifier: GPL-2.0
"""Run the virtio-suspend guest scenarios under QEMU and the host tests.

    run.py check [--scenario NAME ...] [--jobs N] --kdir KDIR
    run.py demo --kdir KDIR
    run.py shell --scenario NAME --kdir KDIR

A scenario is a TOML file in tools/scenarios/ (see README.md there): the
QEMU binary, the devices, the modules to load and the kselftests to run.
Every guest runs under a hard timeout; verdict() decides whether a guest
run passed, by the rule README.md states, and a failed scenario's console
log is kept and its path printed.  Guests run --jobs at a time (4 by
default, VS_JOBS: on 2 cores, three at a time left a third of the CPU
idle, the guests waiting on throttled disks, sleep cycles and
kmemleak), each scenario's output printed whole, in name order;
the host-side suites run beside them.  The last
line of `check` is "N passed, N failed" (", N skipped" when there are
skips); the exit status is non-zero unless every test ran and passed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fcntl
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from . import config, scenario
from .config import die
from .guest import run_guest
from .initramfs import build_initramfs, scenario_initrd, test_binary_problems
from .model import Echo, Result, Scenario, ScenarioRun, print_results
from .qemu import kernel_image, qemu_command
from .suites import run_host_suites
from .verdict import scenario_passed, verdict

# One scenario, its guest run and its results, as run_scenarios() returns them.
ScenarioResults = tuple[Scenario, ScenarioRun, list[Result]]


FEATURE_NAMES = {
    24: "NOTIFY_ON_EMPTY", 27: "ANY_LAYOUT", 28: "RING_INDIRECT_DESC",
    29: "RING_EVENT_IDX", 32: "VERSION_1", 33: "ACCESS_PLATFORM",
    34: "RING_PACKED", 35: "IN_ORDER", 36: "ORDER_PLATFORM", 37: "SR_IOV",
    38: "NOTIFICATION_DATA", 39: "NOTIF_CONFIG_DATA", 40: "RING_RESET",
    41: "ADMIN_VQ", 42: "SUSPEND(v5 draft)", 43: "SUSPEND",
}


# A run directory is in use while its lock is held: pruning skips it.
_run_locks: list[IO[str]] = []


def new_run_dir(parent: Path) -> Path:
    """A fresh directory under parent, named by date and unique even
    against another run.py starting in the same second; locked for the
    life of this process.  parent/latest points at it; the ten newest
    are kept, and none that another process still holds."""
    parent.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=parent))
    lock = open(base / ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        die(f"{base}: run directory already in use")
    _run_locks.append(lock)
    tmp = parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(base.name)
    os.replace(tmp, parent / "latest")
    runs = sorted(p for p in parent.iterdir()
                  if p.is_dir() and not p.is_symlink() and p.name[:1].isdigit())
    for old in runs[:-10]:
        if old == base:
            continue
        try:
            with open(old / ".lock", "a") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(old, ignore_errors=True)
        except BlockingIOError:
            continue  # another run.py is using it
        except OSError:
            shutil.rmtree(old, ignore_errors=True)
    return base


def prepare(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    kdir = Path(args.kdir).resolve()
    for image in {kernel_image(kdir, "microvm"), kernel_image(kdir, "q35")}:
        if not image.exists():
            die(f"{kdir}: no {image.name}: run 'make kernel'")
    selftest_dir = Path(getattr(args, "selftests", None) or config.SELFTEST_BUILD).resolve()
    if not selftest_dir.is_dir():
        die(f"{selftest_dir}: no test binaries: run 'make selftests'")
    base = new_run_dir(config.CACHE / "runs")
    initrd = base / "initramfs.cpio"
    build_initramfs(kdir, selftest_dir, initrd)
    return kdir, base, initrd


def load_durations() -> dict[str, float]:
    try:
        return json.loads(config.DURATIONS.read_text())
    except (OSError, ValueError):
        return {}


def save_durations(runs: Iterable[ScenarioResults]) -> None:
    durations = load_durations()
    durations.update({sc["name"]: round(run.seconds, 1) for sc, run, _ in runs
                      if run.outcome == "exited"})
    tmp = config.DURATIONS.with_name(f".durations-{os.getpid()}")
    tmp.write_text(json.dumps(durations, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, config.DURATIONS)


def cpu_phases(run: ScenarioRun) -> str:
    """What of a guest's CPU time went to booting (to /init), its tests
    (each, where there are several) and the rest (kmemleak's scans, the
    shutdown): " (boot B, tests T: t1 T1, t2 T2, after A)", or nothing
    where the guest did not get that far."""
    if run.cpu_at_init is None or run.cpu_at_tests_end is None or not run.cpu_seconds:
        return ""
    each = ""
    if len(run.cpu_at_test_ends) > 1:
        marks = [run.cpu_at_init] + [cpu for _, cpu in run.cpu_at_test_ends]
        each = ": " + ", ".join(f"{name} {cpu - before:.1f}" for (name, cpu), before
                                in zip(run.cpu_at_test_ends, marks))
    return (f" (boot {run.cpu_at_init:.1f}, tests {run.cpu_at_tests_end - run.cpu_at_init:.1f}"
            f"{each}, after {run.cpu_seconds - run.cpu_at_tests_end:.1f})")


def run_one(sc: Scenario, args: argparse.Namespace, kdir: Path, initrd: Path, base: Path,
            echo: Echo | None) -> tuple[ScenarioRun, list[Result], str]:
    """One scenario's guest, its verdict and its output (a string)."""
    out = io.StringIO()
    name = sc["name"]
    print(f"== {name}: {sc['description']}", file=out)
    rundir = base / name
    rundir.mkdir()
    selftest_dir = Path(getattr(args, "selftests", None) or config.SELFTEST_BUILD).resolve()
    missing = test_binary_problems(sc, selftest_dir)
    if missing:
        run = ScenarioRun(name, problems=missing, log=rundir / "console.log")
    else:
        run = run_guest(sc, kdir, initrd, rundir, args.accel, echo)
    results = verdict(sc, run)
    for note in run.notes:
        print(f"   {note}", file=out)
    print_results(results, out)
    if not scenario_passed(results) or sc.get("expect") == "timeout":
        print(f"   console log: {run.log}", file=out)
    print(f"   {run.seconds:.1f} s, {run.cpu_seconds:.1f} CPU-s{cpu_phases(run)}", file=out)
    return run, results, out.getvalue()


def run_scenarios(names: Sequence[str], args: argparse.Namespace,
                  echo: bool = False) -> list[ScenarioResults]:
    """Runs the scenarios args.jobs guests at a time, the longest (by
    their last run) first; prints each scenario's output whole, in the
    order of names, as soon as it and those before it are done."""
    scenarios = [scenario.load_scenario(n) for n in names]
    kdir, base, initrd = prepare(args)
    jobs = max(1, getattr(args, "jobs", 1))
    durations = load_durations()
    order = sorted(scenarios, key=lambda sc: -durations.get(sc["name"],
                                                          float(sc.get("timeout", 300))))

    def echo_for(name: str) -> Echo | None:
        if not echo:
            return None
        if jobs == 1:
            return lambda text: print(text, flush=True)
        return lambda text: print(f"[{name}] {text}", flush=True)

    runs: list[ScenarioResults] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {sc["name"]: pool.submit(run_one, sc, args, kdir, initrd, base,
                                           echo_for(sc["name"]))
                   for sc in order}
        for sc in scenarios:
            run, results, text = futures[sc["name"]].result()
            print(text, end="", flush=True)
            runs.append((sc, run, results))
    except BaseException:
        config.STOP.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    # A slowed kernel's times would misorder the everyday runs.
    if config.TIMEOUT_SCALE == 1.0:
        save_durations(runs)
    stalls = sum(run.boot_stalls for _, run, _ in runs)
    if stalls:
        print(f"note: {stalls} guest boot{'s' if stalls > 1 else ''} stalled before "
              f"/init and {'were' if stalls > 1 else 'was'} retried", flush=True)
    return runs


def cmd_check(args: argparse.Namespace) -> int:
    if args.scenario:
        names = args.scenario
    else:
        names = sorted(p.stem for p in config.SCENARIOS.glob("*.toml")
                       if scenario.load_scenario(p.stem).get("check", True))
    results: list[Result] = []
    # The host-side suites run beside the guests: the guests leave CPU
    # idle while they boot, sleep and wait for kmemleak's minimum age.
    host = None
    if not args.scenario:
        host = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        host_done = host.submit(run_host_suites, Path(args.kdir).resolve())
    try:
        for _, _, res in run_scenarios(names, args, echo=args.verbose):
            results += res
    finally:
        if host is not None:
            text, host_results = host_done.result()
            host.shutdown()
            print(text, end="", flush=True)
            results = host_results + results
    passed = sum(r.status == "pass" for r in results)
    failed = sum(r.status == "fail" for r in results)
    skipped = sum(r.status == "skip" for r in results)
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 0 if failed == 0 and skipped == 0 and passed > 0 else 1


def decode_features(bits: str) -> str:
    on = [i for i, c in enumerate(bits) if c == "1"]
    names = [FEATURE_NAMES.get(i, str(i)) for i in on]
    return " ".join(names) if names else "none"


def cmd_demo(args: argparse.Namespace) -> int:
    [(sc, run, results)] = run_scenarios(["demo"], args)
    print()
    print("virtio-suspend demo report")
    print(f"  guest: QEMU microvm, {args.accel.upper()}, run took {run.seconds:.1f} s")
    for line in run.report:
        key, _, rest = line.partition(" ")
        if key == "device":
            fields = dict(kv.split("=", 1) for kv in rest.split()[1:])
            print(f"  device {rest.split()[0]}: id {fields.get('id')} "
                  f"driver {fields.get('driver')} via {fields.get('transport')}")
            print(f"    features: {decode_features(fields.get('features', ''))}")
            print(f"    SUSPEND dialect negotiated: {fields.get('dialect')}")
            print(f"    sleep path of the last cycle: {fields.get('path', '').replace('_', ' ')}")
            if fields.get("path") == "suspend":
                print(f"    device acknowledged suspend in {fields.get('suspend_us')} us, "
                      f"resume in {fields.get('resume_us')} us")
        elif key.startswith("devices-"):
            print(f"  PM core: {key.split('-')[1]} of all devices took {rest} ms")
        else:
            print(f"  {key}: {rest}")
    # gpu_sleep's account of each card: the same device type on the two
    # paths, side by side.
    console = Path(run.log).read_text(errors="replace") if run.log else ""
    cards = re.findall(r":(card\d+ \(virtio\d+\), (?:SUSPEND|reset-based) path.*)", console)
    if cards:
        print("  virtio-gpu (6.12 driver: no freeze/restore) on both paths:")
        for line in cards:
            print(f"    {line}")
    ok = scenario_passed(results)
    print(f"  every check passed (data verified, each gpu as expected): {'yes' if ok else 'NO'}")
    print(f"  console log: {run.log}")
    return 0 if ok else 1


def cmd_shell(args: argparse.Namespace) -> int:
    if not args.scenario or len(args.scenario) != 1:
        die("shell needs one --scenario")
    sc = scenario.load_scenario(args.scenario[0])
    sc["shell"] = True
    kdir, base, initrd = prepare(args)
    rundir = base / sc["name"]
    rundir.mkdir()
    cmd = qemu_command(sc, kdir, scenario_initrd(sc, initrd, rundir), rundir,
                      args.accel)
    # Interactive: the console is this terminal; Ctrl-A X quits QEMU.
    cmd[cmd.index("stdio")] = "mon:stdio"
    return subprocess.call(cmd)


def main() -> int:
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, through the
    # cleanup that kills the guests.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["check", "demo", "shell"])
    ap.add_argument("--kdir", required=True, help="built guest kernel tree")
    ap.add_argument("--selftests", default=str(config.SELFTEST_BUILD),
                    help="the test binaries (make selftests builds them in %(default)s)")
    ap.add_argument("--scenario", action="append", help="run only this scenario")
    # 4 on 2 cores: fewer leave CPU idle, more make the guests' vCPUs spin
    # on locks whose holder is not running (README.md, make check).
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("VS_JOBS", 4)),
                    help="guests at a time (default %(default)s)")
    ap.add_argument("--accel", default=os.environ.get("VS_ACCEL", "tcg"),
                    help="tcg (default) or kvm (nested KVM hangs on some hosts)")
    ap.add_argument("--timeout-scale", type=float,
                    default=float(os.environ.get("VS_TIMEOUT_SCALE", 1)),
                    help="multiply the boot and scenario timeouts, for a slower "
                         "guest kernel (default %(default)s)")
    ap.add_argument("-v", "--verbose", action="store_true", help="echo the console")
    args = ap.parse_args()
    if args.jobs < 1:
        die("--jobs must be at least 1")
    if args.timeout_scale < 1:
        die("--timeout-scale must be at least 1")
    config.TIMEOUT_SCALE = args.timeout_scale
    return {"check": cmd_check, "demo": cmd_demo, "shell": cmd_shell}[args.command](args)

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run the virtio-suspend guest scenarios under QEMU and the host tests.

    run.py check [--scenario NAME ...] [--jobs N] --kdir KDIR
    run.py demo --kdir KDIR
    run.py shell --scenario NAME --kdir KDIR

A scenario is a TOML file in tools/scenarios/ (see README.md there): the
QEMU binary, the devices, the modules to load and the kselftests to run.
Every guest runs under a hard timeout; verdict() decides whether a guest
run passed, by the rule README.md states, and a failed scenario's console
log is kept and its path printed.  Guests run --jobs at a time (5 by
default: on 2 cores, three at a time left a third of the CPU idle, the
guests waiting on throttled disks, sleep cycles and kmemleak), each scenario's output printed whole, in name order;
the host-side suites run beside them.  The last
line of `check` is "N passed, N failed" (", N skipped" when there are
skips); the exit status is non-zero unless every test ran and passed.
"""

import argparse
import concurrent.futures
import ctypes
import difflib
import fcntl
import hashlib
import io
import json
import mmap
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
SCENARIOS = TOP / "tools" / "scenarios"
SELFTESTS = TOP / "tools" / "testing" / "selftests" / "drivers" / "virtio_suspend"
# Where `make selftests` builds the test binaries: inside the checkout,
# so two checkouts sharing a kernel cache never run each other's tests.
SELFTEST_BUILD = TOP / ".build" / "selftests"
CACHE = Path(os.environ.get("VS_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
             / "virtio-suspend")

# Kernel messages that fail a scenario whatever its tests said: warnings
# and BUGs (KFENCE, soft lockup and "scheduling while atomic" among them),
# lockdep, RCU stalls, hung tasks, SLUB's red zone and poison checks,
# debugobjects, kmemleak's own failures, block I/O errors, virtio_ring's
# ring errors and any stack trace.
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
    r"\bI/O error\b|Call Trace:|"
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
# SUSPEND request (x-fault-recovery=features) says so once.
QEMU_RECOVERY_INJECTED = re.compile(
    r"^[\w.-]+: warning: virtio-suspend: .*: the driver reset the device while "
    r"its SUSPEND request was pending: it refuses FEATURES_OK from now on "
    r"\(fault injected by the x-fault-recovery property\)$")
# A device made to vanish (x-fault-vanish=suspend|resume|notify:N) says
# so once.
QEMU_VANISH_INJECTED = re.compile(
    r"^[\w.-]+: warning: virtio-suspend: \S+: the device .* vanished at the "
    r"(?:(suspend|resume) request, status 0x[0-9a-f]{2}|notification of queue (\d+)) "
    r"\(fault injected by the x-fault-vanish property\)$")

TAP_RESULT = re.compile(r"^(ok|not ok) (\d+)(?: (.*?))?(?:\s+#\s*(SKIP|XFAIL)\b.*)?$")
TAP_PLAN = re.compile(r"^1\.\.(\d+)(?:\s+#\s*(.*))?$")
LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

FEATURE_NAMES = {
    24: "NOTIFY_ON_EMPTY", 27: "ANY_LAYOUT", 28: "RING_INDIRECT_DESC",
    29: "RING_EVENT_IDX", 32: "VERSION_1", 33: "ACCESS_PLATFORM",
    34: "RING_PACKED", 35: "IN_ORDER", 36: "ORDER_PLATFORM", 37: "SR_IOV",
    38: "NOTIFICATION_DATA", 39: "NOTIF_CONFIG_DATA", 40: "RING_RESET",
    41: "ADMIN_VQ", 42: "SUSPEND(v5 draft)", 43: "SUSPEND",
}

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
EXIT_GRACE = 30
# --timeout-scale: a slower guest kernel (make check-kcsan's KCSAN
# variant) stretches every guest's time limits, its boot's and each
# scenario's timeout, by this factor, instead of each scenario's file
# knowing every kernel it may run on.
TIMEOUT_SCALE = 1.0


def boot_timeout():
    return BOOT_TIMEOUT * TIMEOUT_SCALE


def scenario_timeout(sc):
    return float(sc.get("timeout", 300)) * TIMEOUT_SCALE

# Set to stop every running guest (Ctrl-C, SIGTERM).
STOP = threading.Event()


@dataclass
class Result:
    name: str
    status: str  # "pass", "fail" or "skip"
    detail: str = ""


@dataclass
class Problem:
    """Something seen in a guest run that fails it (see verdict())."""
    kind: str  # kernel, tap, guest, kmemleak, violation, qemu-log, qemu-stderr, backend, resets,
    # tests, qmp, accounting, s3
    text: str

    def __str__(self):
        return f"{self.kind}: {self.text}"


@dataclass
class ScenarioRun:
    name: str
    results: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    report: list = field(default_factory=list)
    bench: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    log: Path = None
    seconds: float = 0.0
    # User and system CPU time of QEMU (the guest's vCPUs and devices).
    cpu_seconds: float = 0.0
    # What happened to the guest: "exited" (QEMU ended by itself),
    # "timeout", "boot" (no /init in BOOT_TIMEOUT), "no-exit" (QEMU
    # still running EXIT_GRACE s after done), "stopped" (interrupted),
    # "not-run".
    outcome: str = "not-run"
    exit_code: int = None
    boot_stalls: int = 0
    booted: bool = False
    begun: list = field(default_factory=list)
    ended: list = field(default_factory=list)
    current: str = None
    done: bool = False
    kmemleak: str = None  # None, "scanned" or "missing"
    # The KCSAN kernel's counters (/sys/kernel/debug/kcsan) at the end.
    kcsan: dict = None
    leaks: int = 0
    # The guest stopped at its timeout (expect = "timeout").
    timed_out: bool = False
    # Device accounting (see accounting_problems()): the module's sysfs
    # counters of each device on our transport, by transport key, as the
    # guest printed them ("vdev" lines), and what QEMU counted for each
    # of the scenario's devices once the guest had shut down (None: not
    # read).
    guest_devices: dict = field(default_factory=dict)
    device_stats: list = None
    # Times the runner found QEMU suspended (S3) and woke the guest
    # (scenarios with s3_wakeups), and the real sleeps the guest reported
    # ("vs-sleep: <state>" lines: VS_PM_TEST=none).
    s3_wakeups: int = 0
    sleeps: list = field(default_factory=list)
    # Power button presses the runner sent while the guest was entering
    # or in a real s2idle (scenarios with s2idle_wakeups).
    button_presses: int = 0


def die(msg):
    print(f"run.py: {msg}", file=sys.stderr)
    sys.exit(2)


# Scenario keys and the types of their values (tools/scenarios/README.md).
def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_scalar(v):
    return isinstance(v, (str, bool, int, float))


def _str_list(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _scalar_table(v):
    return isinstance(v, dict) and all(_is_scalar(x) for x in v.values())


DEVICE_KINDS = ("blk", "rng", "net", "console", "gpu", "scsi", "input", "balloon", "9p", "fs",
                "vsock")
# What a device's cycles must have been, as QEMU counted them (see
# accounting_problems()).
EXPECT_PATHS = ("suspend", "reset", "fault", "broken")
DEVICE_KEYS = {
    "kind": (lambda v: v in DEVICE_KINDS, "one of " + ", ".join(DEVICE_KINDS)),
    "size_mib": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "image": (lambda v: isinstance(v, str), "a path (string)"),
    "props": (_scalar_table, "a table of QEMU properties"),
    "drive": (_scalar_table, "a table of QEMU -drive options"),
    "bus": (lambda v: v in ("mmio", "pci"), '"mmio" or "pci"'),
    "expect_path": (lambda v: v in EXPECT_PATHS, " or ".join(f'"{p}"' for p in EXPECT_PATHS)),
    # Resets after DRIVER_OK that come before the guest's set-up: SeaBIOS
    # (q35) drives virtio disks at boot, the kernel's probe resets them.
    "firmware_resets": (lambda v: _is_int(v) and v >= 0, "an integer, at least 0"),
}


def _devices(v):
    return isinstance(v, list) and all(isinstance(d, dict) for d in v)


SCENARIO_KEYS = {
    "description": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "tests": (_str_list, "a list of strings"),
    "modules": (_str_list, "a list of strings"),
    "env": (_scalar_table, "a table of strings, numbers or booleans"),
    "devices": (_devices, "a list of tables"),
    "qemu": (lambda v: v in ("system", "patched"), '"system" or "patched"'),
    "timeout": (lambda v: (_is_int(v) or isinstance(v, float)) and v > BOOT_TIMEOUT,
                f"a number of seconds above BOOT_TIMEOUT ({BOOT_TIMEOUT})"),
    "cmdline": (_str_list, "a list of strings"),
    "memory_mib": (lambda v: _is_int(v) and v >= 64, "an integer (MiB, at least 64)"),
    "cpus": (lambda v: _is_int(v) and 1 <= v <= 4, "an integer from 1 to 4 (NR_CPUS)"),
    "machine": (lambda v: isinstance(v, str), "a string"),
    "qemu_args": (_str_list, "a list of strings"),
    "mmio_version": (lambda v: v in (1, 2) and _is_int(v), "1 or 2"),
    "bus": (lambda v: v in ("mmio", "pci"), '"mmio" or "pci"'),
    "expect": (lambda v: v in ("pass", "timeout", "violation"),
               '"pass", "timeout" or "violation"'),
    "expect_violation": (lambda v: isinstance(v, str) and v != "",
                         "a non-empty string (text every violation line contains)"),
    "expect_fail": (_str_list, 'a list of test results ("binary: case") that must fail'),
    "report": (lambda v: isinstance(v, bool), "true or false"),
    "check": (lambda v: isinstance(v, bool), "true or false"),
    "no_reset_after_setup": (lambda v: isinstance(v, bool), "true or false"),
    "device_accounting": (lambda v: isinstance(v, bool), "true or false"),
    "s3_wakeups": (lambda v: _is_int(v) and v >= 1, "an integer, at least 1"),
    "s2idle_wakeups": (lambda v: _is_int(v) and v >= 1, "an integer, at least 1"),
    # QEMU log lines that are not the scenario's to fail on: regular
    # expressions matched against the whole line, each with its reason
    # in a comment next to it (the firmware's, for example).
    "qemu_log_allow": (_str_list, "a list of regular expressions (strings)"),
}
REQUIRED_KEYS = ("description", "tests")


def scenario_errors(sc):
    """What is wrong with a scenario's keys and values: unknown keys (a
    typo must not silently drop a setting), missing ones, wrong types."""
    errors = []

    def check(table, known, where):
        for key, value in table.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, 1)
                errors.append(f"{where}unknown key {key!r}"
                              + (f" (did you mean {close[0]!r}?)" if close else ""))
            elif not known[key][0](value):
                errors.append(f"{where}{key} = {value!r}: must be {known[key][1]}")

    check(sc, SCENARIO_KEYS, "")
    for key in REQUIRED_KEYS:
        if key not in sc:
            errors.append(f"missing key {key!r}")
    if _devices(sc.get("devices")):
        for i, dev in enumerate(sc["devices"]):
            check(dev, DEVICE_KEYS, f"devices[{i}]: ")
            if "kind" not in dev:
                errors.append(f"devices[{i}]: missing key 'kind'")
            elif "drive" in dev and dev["kind"] not in ("blk", "scsi"):
                errors.append(f"devices[{i}]: drive is for disks (blk, scsi), not "
                              f"{dev['kind']}")
    if sc.get("expect") == "timeout" and not sc.get("tests"):
        errors.append('expect = "timeout" needs the test that hangs in tests')
    if "expect_violation" in sc and sc.get("expect") != "violation":
        errors.append('expect_violation needs expect = "violation"')
    for result in sc.get("expect_fail", []) if _str_list(sc.get("expect_fail", [])) else []:
        if result.split(": ", 1)[0] not in sc.get("tests", []):
            errors.append(f"expect_fail: {result!r} names no test of the scenario "
                          '(a result is "binary: case")')
    return errors


def load_scenario(name):
    path = SCENARIOS / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCENARIOS.glob("*.toml")))
        die(f"no scenario {name!r} (known: {known})")
    with open(path, "rb") as f:
        try:
            sc = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            die(f"{path}: {e}")
    errors = scenario_errors(sc)
    if errors:
        die(f"{path}: " + "; ".join(errors))
    sc["name"] = name
    return sc


def kernel_release(kdir):
    return (kdir / "include" / "config" / "kernel.release").read_text().strip()


def kernel_config(kdir, option):
    """The value of a CONFIG_ option in the guest kernel's .config, or None."""
    try:
        text = (kdir / ".config").read_text()
    except OSError:
        return None
    m = re.search(rf"^{option}=(.*)$", text, re.M)
    return m.group(1) if m else None


_qemu_lock = threading.Lock()
_qemu_paths = {}


def qemu_binary(kind):
    """The QEMU of a kind; built (tools/qemu/build.sh) once per run."""
    with _qemu_lock:
        if kind not in _qemu_paths:
            _qemu_paths[kind] = _qemu_binary(kind)
        return _qemu_paths[kind]


def _qemu_binary(kind):
    if kind == "system":
        return shutil.which("qemu-system-x86_64") or die(
            "qemu-system-x86_64 not found: run 'make deps'")
    if kind == "patched":
        build = TOP / "tools" / "qemu" / "build.sh"
        out = subprocess.run(["bash", str(build)], check=True,
                             stdout=subprocess.PIPE, text=True).stdout.strip()
        return out
    die(f"unknown qemu kind {kind!r} (system or patched)")


_backend_lock = threading.Lock()
_backend_paths = {}


def backend_binary(name):
    """A vhost-user backend (virtiofsd, vhost-device-vsock); built
    (tools/vhost-user/build.sh) once per run."""
    with _backend_lock:
        if name not in _backend_paths:
            build = TOP / "tools" / "vhost-user" / "build.sh"
            _backend_paths[name] = subprocess.run(["bash", str(build), name], check=True,
                                                  stdout=subprocess.PIPE,
                                                  text=True).stdout.strip()
        return _backend_paths[name]


# The device kinds whose queues a vhost-user backend processes.
VHOST_USER_KINDS = ("fs", "vsock")
# The host's port the guest's vsock tests connect to (an echo service).
VSOCK_ECHO_PORT = 1234


def numbered_devices(devices):
    """The devices, in order, as (kind, n, device): n counts the devices
    of a kind from 0, the number in their QEMU ids and file names."""
    counts = {}
    for dev in devices:
        kind = dev["kind"]
        n = counts.get(kind, 0)
        counts[kind] = n + 1
        yield kind, n, dev


def vhost_user_devices(sc):
    """The scenario's vhost-user devices (see numbered_devices()). Device
    fs<n> is served by virtiofsd on socket vfs<n>.sock, exporting
    directory fs<n>; vsock<n> by vhost-device-vsock on vsock<n>.sock,
    guest CID 3 + n, with the host side of its connections on Unix
    sockets vsock<n>.uds_<port>."""
    return [d for d in numbered_devices(sc.get("devices", [])) if d[0] in VHOST_USER_KINDS]


def backend_command(kind, n, rundir):
    """The backend's command line and the socket QEMU connects to."""
    if kind == "fs":
        export = rundir / f"fs{n}"
        export.mkdir(exist_ok=True)
        sock = rundir / f"vfs{n}.sock"
        # No sandbox: the runner is not always root, and the export is
        # the run's own scratch directory.  cache=never: every read and
        # write of the guest is a request on the device.  Serial (no
        # thread pool): its GET_VRING_BASE waits for the requests in
        # flight (see QEMU patch 0019).
        return [backend_binary("virtiofsd"), f"--socket-path={sock}",
                f"--shared-dir={export}", "--sandbox=none", "--seccomp=none",
                "--cache=never", "--thread-pool-size=0"], sock
    sock = rundir / f"vsock{n}.sock"
    return [backend_binary("vhost-device-vsock"), f"--guest-cid={3 + n}",
            f"--socket={sock}", f"--uds-path={rundir}/vsock{n}.uds"], sock


class EchoService:
    """The host side of the guest's vsock connections to port
    VSOCK_ECHO_PORT: vhost-device-vsock connects to the Unix socket
    <uds-path>_<port> for each; every byte is sent back."""

    def __init__(self, path):
        import socket
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(8)
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass

    def close(self):
        import socket
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for c in self.conns:
            c.close()


# How long a backend is given to listen on its socket.
BACKEND_START_TIMEOUT = 20


def start_backends(sc, rundir):
    """Starts a backend for each vhost-user device of the scenario (and
    the echo service of each vsock device) and waits until each listens;
    returns what stop_backends() stops. Each backend serves one QEMU and
    exits when that QEMU disconnects."""
    procs = []
    try:
        for kind, n, _ in vhost_user_devices(sc):
            cmd, sock = backend_command(kind, n, rundir)
            sock.unlink(missing_ok=True)
            if kind == "vsock":
                echo = rundir / f"vsock{n}.uds_{VSOCK_ECHO_PORT}"
                echo.unlink(missing_ok=True)
                procs.append(EchoService(echo))
            logname = rundir / f"{kind}-backend{n}.log"
            with open(logname, "ab") as log:
                procs.append(subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    start_new_session=True, preexec_fn=die_with_parent))
            deadline = time.monotonic() + BACKEND_START_TIMEOUT
            while not sock.exists():
                if procs[-1].poll() is not None or time.monotonic() > deadline:
                    die(f"{sc['name']}: {Path(cmd[0]).name} for {kind}{n} did not "
                        f"start (see {logname})")
                time.sleep(0.05)
    except BaseException:
        stop_backends(procs)
        raise
    return procs


def stop_backends(procs):
    for p in procs:
        if isinstance(p, EchoService):
            p.close()
            continue
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


_tsc_lock = threading.Lock()
_tsc_khz = []


def host_tsc_khz():
    """The host's TSC rate in kHz, measured against CLOCK_MONOTONIC_RAW,
    or None where it cannot be (not x86-64, no executable memory).

    Under TCG the guest's TSC is the host's (QEMU's cpu_get_ticks() reads
    the host TSC), but the guest kernel has no way to learn its rate: no
    CPUID leaf 0x15 under TCG, and microvm has neither HPET nor PM timer.
    It calibrates against the PIT, in a loop that gives up when the vCPU
    thread is preempted between two PIT reads; then it retries without
    the TSC, and under host load that boot stalled before /init.  Given
    tsc_early_khz the kernel skips the calibration."""
    with _tsc_lock:
        if _tsc_khz:
            return _tsc_khz[0]
        _tsc_khz.append(_measure_tsc_khz())
        return _tsc_khz[0]


def _measure_tsc_khz():
    if platform.machine() != "x86_64":
        return None
    # rdtsc; shl $32, %rdx; or %rdx, %rax; ret
    code = bytes.fromhex("0f3148c1e2204809d0c3")
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError):
        return None
    page.write(code)
    buf = ctypes.c_char.from_buffer(page)
    rdtsc = ctypes.CFUNCTYPE(ctypes.c_uint64)(ctypes.addressof(buf))
    clock = time.CLOCK_MONOTONIC_RAW

    def sample():
        # The tightest of a few (ns, tsc) pairs: a preemption between
        # the reads only widens its own bracket.
        best = None
        for _ in range(20):
            t0 = time.clock_gettime_ns(clock)
            tsc = rdtsc()
            t1 = time.clock_gettime_ns(clock)
            if best is None or t1 - t0 < best[0]:
                best = (t1 - t0, (t0 + t1) / 2, tsc)
        return best[1], best[2]

    rates = []
    for _ in range(3):
        ns0, tsc0 = sample()
        time.sleep(0.1)
        ns1, tsc1 = sample()
        rates.append((tsc1 - tsc0) * 1e6 / (ns1 - ns0))
    del rdtsc, buf
    page.close()
    khz = round(statistics.median(rates))
    # Agreement within 0.1 % or no answer: better the kernel's own
    # calibration than a wrong rate.
    if khz <= 0 or (max(rates) - min(rates)) > khz / 1000:
        return None
    return khz


def scenario_binaries(sc):
    """The test binaries a scenario's init runs: its tests, and vs_bench
    for make bench's VS_BENCH."""
    return list(sc["tests"]) + (["vs_bench"] if "VS_BENCH" in sc.get("env", {}) else [])


def test_binary_problems(sc, selftest_dir):
    """The test binaries a scenario runs must exist in this checkout's
    build and be newer than their sources (the .c and the local headers
    it includes)."""
    problems = []
    for name in scenario_binaries(sc):
        binary = selftest_dir / name
        source = SELFTESTS / f"{name}.c"
        if not source.is_file():
            problems.append(Problem("tests", f"test {name!r} has no source {source}"))
            continue
        if not binary.is_file() or not os.access(binary, os.X_OK):
            problems.append(Problem("tests", f"test binary {binary} is missing: "
                                             "run 'make selftests'"))
            continue
        built = binary.stat().st_mtime
        for src in sorted(source_files(source)):
            if src.stat().st_mtime > built:
                problems.append(Problem("tests", f"test binary {binary} is older than "
                                                 f"{src.name}: run 'make selftests'"))
                break
    return problems


def source_files(source, seen=None):
    """A C file and the headers of its directory it includes, transitively."""
    seen = set() if seen is None else seen
    if source in seen or not source.is_file():
        return seen
    seen.add(source)
    for inc in LOCAL_INCLUDE.findall(source.read_text(errors="replace")):
        source_files(source.parent / inc, seen)
    return seen


def build_initramfs(kdir, selftest_dir, out):

    """A busybox initramfs with every module of the guest kernel, ours,
    and the init scripts, and beside it one archive a selftest
    (selftests/<name>.cpio), which scenario_initrd() appends for the
    scenario's tests.  Rebuilt on every run: it takes a second, and a
    stale one would test the wrong module."""
    stage = out.parent / "initramfs"
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "tmp", "selftests"):
        (stage / d).mkdir(parents=True)
    shutil.copy("/bin/busybox", stage / "bin" / "busybox")
    # fio, static, for the tests and benchmarks that drive block I/O.
    fio = subprocess.run(["bash", str(TOP / "tools" / "fio" / "build.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    shutil.copy(fio, stage / "bin" / "fio")
    shutil.copy(TOP / "tools" / "runner" / "init.sh", stage / "init")
    shutil.copy(TOP / "tools" / "runner" / "report.sh", stage / "report.sh")
    moddir = stage / "lib" / "modules" / kernel_release(kdir)
    for ko in kdir.rglob("*.ko"):
        dst = moddir / "kernel" / ko.relative_to(kdir)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ko, dst)
    ours = sorted(TOP.glob("*.ko"))
    if not ours:
        die("virtio_suspend.ko is not built: run 'make modules'")
    # The Rust samples (samples/rust/Kbuild), modules of their own, and
    # the selftests' test modules.
    ours += sorted((TOP / "samples").rglob("*.ko"))
    ours += sorted((TOP / "tools" / "testing").rglob("*.ko"))
    (moddir / "extra").mkdir(parents=True, exist_ok=True)
    for ko in ours:
        shutil.copy(ko, moddir / "extra" / ko.name)
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (kdir / f).exists():
            shutil.copy(kdir / f, moddir / f)
    subprocess.run(["depmod", "-b", str(stage), kernel_release(kdir)], check=True)
    for f in (stage / "init", stage / "report.sh"):
        f.chmod(0o755)
    files = subprocess.run(["find", ".", "-print0"], cwd=stage, check=True,
                           stdout=subprocess.PIPE).stdout
    with open(out, "wb") as f:
        subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"],
                       cwd=stage, input=files, stdout=f, check=True)
    # The selftests are static binaries of about 800 KiB each: all of
    # them in every guest made each boot unpack 26 MiB more, some 0.7 s
    # of CPU under TCG.
    archives = out.parent / "selftests"
    archives.mkdir()
    for t in selftest_dir.iterdir():
        if t.is_file() and os.access(t, os.X_OK):
            shutil.copy(t, stage / "selftests" / t.name)
            with open(archives / f"{t.name}.cpio", "wb") as f:
                subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"],
                               cwd=stage, input=f"selftests/{t.name}\0".encode(),
                               stdout=f, check=True)
    shutil.rmtree(stage)


def scenario_initrd(sc, initrd, rundir):
    """The initramfs of one scenario's guest, in its run directory: the
    common one and the archives of the test binaries it runs, one after
    another (the kernel unpacks concatenated cpio archives in turn)."""
    path = rundir / "initramfs.cpio"
    with open(path, "wb") as out:
        for part in [initrd] + [initrd.parent / "selftests" / f"{name}.cpio"
                                for name in scenario_binaries(sc)]:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    return path


# virtio-mmio models whose virtio-pci version is modern only.
MODERN_ONLY = ("vhost-user-fs-device",)


# The QEMU id of each device kind's virtio device (the virtio-pci proxy
# on bus "pci"), with the device's number n in place of {n}.
DEVICE_IDS = {"blk": "vblk{n}", "rng": "vrng{n}", "net": "vnet{n}", "console": "vser{n}",
              "gpu": "vgpu{n}", "scsi": "vscsi{n}", "input": "kbd{n}", "balloon": "balloon{n}",
              "9p": "v9p{n}", "fs": "vhfs{n}", "vsock": "vvsock{n}"}


def device_id(kind, n):
    return DEVICE_IDS[kind].format(n=n)


def device_args(devices, rundir, bus="mmio"):
    """QEMU arguments for a scenario's devices, on virtio-mmio slots or,
    with bus "pci" (the scenario's, or a device's own), as modern
    virtio-pci devices, each behind a PCIe root port of its own (where
    QEMU gives it a PM capability)."""
    args = []
    ports = 0

    def virtio(model, rest):
        # `model` is the virtio-mmio device's name, virtio-X-device.
        nonlocal ports
        if dev.get("bus", bus) == "mmio":
            return ["-device", model + rest]
        ports += 1
        pci = model.removesuffix("-device") + "-pci"
        # No option ROM: microvm boots the kernel directly, and the dfsg
        # QEMU has no ROM files (virtio-net-pci would look for one).
        # Modern only, unless the device's props say otherwise; the
        # types that never had a legacy interface have no such property.
        modern = "" if "disable-legacy=" in rest or model in MODERN_ONLY \
            else ",disable-legacy=on"
        return ["-device", f"pcie-root-port,id=rp{ports},chassis={ports}",
                "-device", f"{pci},bus=rp{ports}{modern},romfile={rest}"]

    for kind, n, dev in numbered_devices(devices):
        props = "".join(f",{k}={v}" for k, v in dev.get("props", {}).items())
        # Every virtio device has an id, for QMP (device accounting).
        if kind not in ("scsi", "console", "input", "balloon"):
            props = f",id={device_id(kind, n)}" + props
        if kind in ("blk", "scsi"):
            img = Path(dev["image"]) if "image" in dev else rundir / f"{kind}{n}.img"
            if "image" not in dev:
                with open(img, "wb") as f:
                    f.truncate(int(dev.get("size_mib", 16)) << 20)
            drive = "".join(f",{k}={v}" for k, v in dev.get("drive", {}).items())
            args += ["-drive", f"if=none,id={kind}{n},format=raw,file={img}{drive}"]
            if kind == "blk":
                args += virtio("virtio-blk-device", f",drive=blk{n}{props}")
            else:
                # One disk on its own controller: the props are the
                # controller's (the virtio device).
                args += virtio("virtio-scsi-device", f",id=vscsi{n}{props}")
                args += ["-device", f"scsi-hd,drive=scsi{n},bus=vscsi{n}.0"]
        elif kind == "rng":
            args += ["-object", f"rng-random,id=rng{n},filename=/dev/urandom"]
            args += virtio("virtio-rng-device", f",rng=rng{n}{props}")
        elif kind == "net":
            # A hub port: frames go to the other ports of the hub and
            # nowhere else, so no packet leaves QEMU.
            args += ["-netdev", f"hubport,id=net{n},hubid=0"]
            args += virtio("virtio-net-device",
                           f",netdev=net{n},mac=52:54:00:00:00:{n + 1:02x}{props}")
        elif kind == "console":
            args += ["-chardev", f"file,id=con{n},path={rundir}/console{n}.out"]
            args += virtio("virtio-serial-device", f",id=vser{n}{props}")
            args += ["-device", f"virtconsole,chardev=con{n},bus=vser{n}.0"]
        elif kind == "gpu":
            # 2D, headless: the guest sees the device, nothing is shown.
            args += virtio("virtio-gpu-device", props)
        elif kind == "input":
            args += virtio("virtio-keyboard-device", f",id=kbd{n}{props}")
        elif kind == "balloon":
            args += virtio("virtio-balloon-device", f",id=balloon{n}{props}")
        elif kind == "9p":
            # A scratch directory of the run, exported as mount tag vs9p<n>.
            export = rundir / f"9p{n}"
            export.mkdir(exist_ok=True)
            args += ["-fsdev", f"local,id=fs{n},path={export},security_model=none"]
            args += virtio("virtio-9p-device", f",fsdev=fs{n},mount_tag=vs9p{n}{props}")
        elif kind == "fs":
            # virtio-fs, served by the virtiofsd start_backends() started:
            # mount tag vsfs<n>.
            args += ["-chardev", f"socket,id=vfs{n},path={rundir}/vfs{n}.sock"]
            args += virtio("vhost-user-fs-device", f",chardev=vfs{n},tag=vsfs{n}{props}")
        elif kind == "vsock":
            # vsock, served by the vhost-device-vsock start_backends()
            # started (guest CID 3 + n).
            args += ["-chardev", f"socket,id=vsk{n},path={rundir}/vsock{n}.sock"]
            args += virtio("vhost-user-vsock-device", f",chardev=vsk{n}{props}")
        else:
            die(f"unknown device kind {kind!r}")
    return args


def mmio_version_args(sc):
    """QEMU's virtio-mmio presents the legacy (version 1) register layout
    unless told otherwise; scenarios get the modern one by default."""
    version = sc.get("mmio_version", 2)
    if version not in (1, 2):
        die(f"{sc['name']}: mmio_version must be 1 or 2")
    return ["-global", f"virtio-mmio.force-legacy={'on' if version == 1 else 'off'}"]


def default_machine(sc):
    """microvm: no firmware, no legacy devices; with PCIe where a device
    is on bus "pci" (its virtio-mmio slots stay)."""
    buses = {d.get("bus", sc.get("bus", "mmio")) for d in sc.get("devices", [])}
    return "microvm,acpi=on,pcie=on" if sc.get("bus") == "pci" or "pci" in buses \
        else "microvm,acpi=on"


# A guest's memory unless its scenario says otherwise.  Every boot
# initialises, and every kmemleak scan reads, a struct page per 4 KiB:
# 256 MiB rather than 512 saves about half a second of CPU a guest under
# TCG.  Guests that hibernate ask for 512 (memory_mib): the image is
# copied in memory, which must be about half free.
MEMORY_MIB = 256


def qemu_command(sc, kdir, initrd, rundir, accel):
    env = dict(sc.get("env", {}))
    # The tests' own timeouts stretch with the runner's (vs_timeout.c).
    if TIMEOUT_SCALE != 1:
        env["VS_TIMEOUT_SCALE"] = f"{TIMEOUT_SCALE:g}"
    # slub_debug=FZPU: SLUB sanity checks, red zones, poisoning and
    # owner tracking on every cache (CONFIG_SLUB_DEBUG).
    # The last console= is /dev/console, where init and the tests write
    # what the runner reads: a scenario's own console= words (the kernel
    # console on hvc0 too) go before ttyS0, its other words last.
    extra = sc.get("cmdline", [])
    consoles = [w for w in extra if w.startswith("console=")]
    cmdline = consoles + ["console=ttyS0", "panic=-1", "reboot=t", "loglevel=5", "slub_debug=FZPU",
               "vs_modules=" + ",".join(sc.get("modules", [])),
               "vs_tests=" + ",".join(sc["tests"])]
    # The kernel strips double quotes around a value, spaces and all.
    cmdline += [f'{k}="{v}"' if " " in str(v) else f"{k}={v}" for k, v in env.items()]
    # Under TCG the guest's TSC is the host's: give the kernel its rate
    # (see host_tsc_khz()), and trust it.  The clocksource watchdog would
    # compare it with jiffies, which fall behind when the host is busy,
    # mark the TSC unstable and leave the guest on jiffies, its clock
    # slower than the host's (a 200 ms device delay measured as 190 ms).
    tsc_khz = host_tsc_khz() if accel == "tcg" else None
    if tsc_khz:
        cmdline += [f"tsc_early_khz={tsc_khz}", "tsc=reliable"]
    if sc.get("report"):
        cmdline.append("vs_report=1")
    if sc.get("shell"):
        cmdline.append("vs_shell=1")
    cmdline += [w for w in extra if not w.startswith("console=")]
    for word in cmdline:
        if '"' in word.partition('="')[2].rstrip('"'):
            die(f"{sc['name']}: kernel command line word {word!r} has a stray quote")
    machine = sc.get("machine", default_machine(sc))
    memory_mib = sc.get("memory_mib", MEMORY_MIB)
    memory = []
    if vhost_user_devices(sc):
        # vhost-user: the backend maps the guest's memory, which must be
        # shared with it.
        memory = ["-object", f"memory-backend-memfd,id=mem,size={memory_mib}M,"
                  "share=on"]
        machine += ",memory-backend=mem"
    return [
        qemu_binary(sc.get("qemu", "system")), "-L", "/usr/share/qemu",
        "-M", machine, "-accel", accel, "-cpu", "max",
        "-m", str(memory_mib), "-smp", str(sc.get("cpus", 1))] + memory + [
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-serial", "stdio",
        "-qmp", f"unix:{rundir}/qmp.sock,server=on,wait=off",
        "-d", "guest_errors", "-D", str(rundir / "qemu.log"),
        "-kernel", str(kdir / "arch" / "x86" / "boot" / "bzImage"),
        "-initrd", str(initrd),
        "-append", " ".join(cmdline),
    ] + mmio_version_args(sc) + device_args(sc.get("devices", []), rundir, sc.get("bus", "mmio")) \
        + sc.get("qemu_args", []) \
        + (["-trace", "virtio_set_status"] if sc.get("no_reset_after_setup") else [])


def device_accounting(sc):
    """Whether the runner reads QEMU's device counters at the end of the
    guest (our QEMU only: x-suspend-stats, QEMU patch 0022), when init.sh
    says "accounting": after the tests and the "vdev" lines, before the
    kmemleak scans, whose at least 5 s leave QEMU's counters still while
    they are read (the shutdown after done resets every bound device:
    virtio_dev_shutdown())."""
    return sc.get("qemu") == "patched" and sc.get("device_accounting", True) \
        and not sc.get("shell")


def qmp_command(sock_path, command):
    """Sends one QMP command (a JSON text) to a running QEMU; returns the
    reply's text, or why it failed."""
    import json
    import socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sk:
            sk.settimeout(10)
            sk.connect(str(sock_path))
            stream = sk.makefile("rw")
            stream.readline()  # greeting
            for text in ('{"execute": "qmp_capabilities"}', command):
                stream.write(text + "\n")
                stream.flush()
                while True:
                    reply = json.loads(stream.readline())
                    if "return" in reply or "error" in reply:
                        break
            return json.dumps(reply)
    except (OSError, ValueError) as e:
        return f"QMP failed: {e}"


def qmp_session(sock_path, commands, timeout=10):
    """Runs QMP commands ({"execute": ..., "arguments": ...}) in one
    session; returns their "return" values.  Raises OSError or
    ValueError (with QEMU's error) on failure."""
    import json
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sk:
        sk.settimeout(timeout)
        sk.connect(str(sock_path))
        stream = sk.makefile("rw")
        stream.readline()  # greeting
        replies = []
        for cmd in [{"execute": "qmp_capabilities"}] + list(commands):
            stream.write(json.dumps(cmd) + "\n")
            stream.flush()
            while True:
                line = stream.readline()
                if not line:
                    raise OSError("QMP connection closed")
                reply = json.loads(line)
                if "error" in reply:
                    raise ValueError(f"QMP {cmd['execute']}: {reply['error']}")
                if "return" in reply:
                    break
            replies.append(reply["return"])
        return replies[1:]


QTREE_DEV = re.compile(r'^(\s*)dev: ([\w.-]+), id "([^"]*)"')
QTREE_MMIO = re.compile(r"^\s*mmio ([0-9a-f]+)/")
QTREE_ADDR = re.compile(r"^\s*addr = ([0-9a-f]+\.[0-9a-f]+)")


def qtree_transport_keys(text):
    """Device id -> where the guest finds it, from HMP "info qtree": the
    base of the virtio-mmio transport it sits on ("mmio:feb00e00") or the
    PCI address of the PCIe root port it sits behind ("pci:01.0"), the
    same keys as init.sh's "vdev" lines."""
    keys = {}
    stack = []  # (indent, type, key of that device as a transport)
    for line in text.splitlines():
        m = QTREE_DEV.match(line)
        if m:
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            inherited = next((k for _, _, k in reversed(stack) if k), None)
            if m.group(3) and inherited:
                keys.setdefault(m.group(3), inherited)
            stack.append([indent, m.group(2), None])
            continue
        if not stack:
            continue
        top = stack[-1]
        m = QTREE_MMIO.match(line)
        if m and top[1] == "virtio-mmio" and top[2] is None:
            top[2] = f"mmio:{int(m.group(1), 16):x}"
        m = QTREE_ADDR.match(line)
        if m and top[1] == "pcie-root-port" and top[2] is None:
            top[2] = f"pci:{m.group(1)}"
    return keys


def read_device_stats(sc, sock_path):
    """What QEMU counts for each of the scenario's devices: a list of
    dicts with the device's label (kind and number), QEMU id, transport
    key and x-suspend-stats (or the error that kept it from being read)."""
    devices = list(numbered_devices(sc.get("devices", [])))
    paths = []
    for kind, n, dev in devices:
        path = f"/machine/peripheral/{device_id(kind, n)}"
        if dev.get("bus", sc.get("bus", "mmio")) == "pci":
            path += "/virtio-backend"
        paths.append(path)
    try:
        qtree = qmp_session(sock_path, [{"execute": "human-monitor-command",
                                         "arguments": {"command-line": "info qtree"}}])[0]
    except (OSError, ValueError) as e:
        qtree = ""
        error = str(e)
    else:
        error = None
    keys = qtree_transport_keys(qtree)
    stats = []
    for (kind, n, dev), path in zip(devices, paths):
        entry = {"label": f"{kind}{n}", "id": device_id(kind, n), "device": dev,
                 "key": keys.get(device_id(kind, n)), "stats": None, "error": error}
        if error is None:
            try:
                entry["stats"] = qmp_session(sock_path, [{
                    "execute": "qom-get",
                    "arguments": {"path": path, "property": "x-suspend-stats"}}])[0]
            except (OSError, ValueError) as e:
                entry["error"] = str(e)
        stats.append(entry)
    return stats


def broken_disks(run):
    """The disks on which block I/O may fail: those of the devices the
    scenario declares broken (expect_path = "broken") that the guest
    reported broken (init.sh's vdev line: state=broken, disk=vdX), read
    at its "accounting" marker.  Without device accounting, none."""
    disks = set()
    for entry in run.device_stats or []:
        guest = run.guest_devices.get(entry["key"]) if entry["key"] else None
        if entry["device"].get("expect_path") == "broken" and guest \
                and guest.get("state") == "broken" and guest.get("disk"):
            disks.add(guest["disk"])
    return disks


class GuestOutput:
    """Parses the console as it streams: TAP per test binary, the
    runner markers of init.sh, kernel problems.  Records what it saw in
    the ScenarioRun; verdict() judges."""

    def __init__(self, run, tests, qmp_socket=None, kmemleak=False, kcsan=False):
        self.run = run
        self.qmp_socket = qmp_socket
        self.expected = list(tests)
        # CONFIG_DEBUG_KMEMLEAK=y: the guest must report a scan.
        self.kmemleak_expected = kmemleak
        # CONFIG_KCSAN=y: the guest must report KCSAN's counters, with
        # watchpoints set up (a KCSAN that never watched finds nothing).
        self.kcsan_expected = kcsan
        self.plan = None
        self.count = 0
        self.next = 1
        self.lineno = 0
        self.last_problem = None
        self.kernel_lines = 0
        self.leak_first = None
        self.done_at = None
        # Block I/O errors, (disk, line): judged by finish(), once the
        # guest has said which disks are broken.
        self.io_errors = []
        # Called at init.sh's "accounting" marker: returns QEMU's device
        # counters (read_device_stats()), None without device accounting.
        self.read_device_stats = None
        # Set from a guest's "vs-sleep-enter: freeze" (it is about to
        # enter a real s2idle) to its next "vs-sleep: " line (or
        # "vs-sleep-failed: ", a sleep refused): while set, the
        # PowerButtonWaker presses.
        self.entering_s2idle = threading.Event()

    def problem(self, kind, text):
        self.run.problems.append(Problem(kind, text))

    def kernel_problem(self, text):
        self.last_problem = self.lineno
        self.kernel_lines += 1
        if self.kernel_lines <= MAX_KERNEL_LINES:
            self.problem("kernel", text)

    def line(self, text):
        text = text.rstrip("\r\n")
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
        if text.startswith("vs-sleep-failed: "):
            self.entering_s2idle.clear()
            return
        if text.startswith("vs-sleep: "):
            self.entering_s2idle.clear()
            self.run.sleeps.append(text[len("vs-sleep: "):].strip())
            return
        if self.run.current is None:
            return
        self.tap_line(text)

    def tap_line(self, text):
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
            return
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
        self.run.results.append(Result(f"{name}: {m.group(3) or number}", status))

    def marker(self, text):
        run = self.run
        if text.startswith("init "):
            run.booted = True
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

    def vdev_line(self, text):
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

    def kmemleak_line(self, text):
        if text.startswith("unreferenced object"):
            self.run.leaks += 1
            if self.leak_first is None:
                self.leak_first = [text.strip()]
        elif self.leak_first is not None and len(self.leak_first) < 4 and \
                re.match(r"\s+\[<[0-9a-f]+>\] ", text):
            # The allocation's first frames say whose leak it is.
            self.leak_first.append(text.split("] ", 1)[-1].strip())

    def finish(self):
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


def die_with_parent():
    """Runs in the QEMU child before exec: the kernel kills it when the
    thread that started it ends, so an interrupted or killed run leaves
    no guest behind."""
    PR_SET_PDEATHSIG = 1
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# Loaded once: the child between fork and exec only calls it.
_LIBC = ctypes.CDLL(None, use_errno=True)


def stream_console(proc, deadline, log, parser, echo):
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
        if STOP.is_set():
            return "stopped"
        if parser.run.done:
            limit, outcome = parser.done_at + EXIT_GRACE, "no-exit"
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


class S3Waker(threading.Thread):
    """The host's side of a real S3: while the guest runs, asks QEMU its
    run state every POLL s and, each time it is "suspended" (the guest
    wrote its sleep type to PM1_CNT), wakes it with QMP system_wakeup, as
    `virsh dompmwakeup` does.  `wakeups` counts them; `errors` keeps what
    went wrong with QMP.  One QMP connection a command: the runner's other
    QMP users (device accounting) get theirs in between."""

    POLL = 0.2

    def __init__(self, sock, echo):
        super().__init__(daemon=True)
        self.sock, self.echo = sock, echo
        self.wakeups = 0
        self.errors = []
        self.stop = threading.Event()

    def run(self):
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

    def __init__(self, sock, entering, echo):
        super().__init__(daemon=True)
        self.sock, self.entering, self.echo = sock, entering, echo
        self.presses = 0
        self.errors = []
        self.stop = threading.Event()

    def run(self):
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


def sleep_wakers(sc, rundir, parser, echo):
    """The threads that wake a guest from the real sleeps its scenario
    declares."""
    wakers = []
    if "s3_wakeups" in sc:
        wakers.append(S3Waker(rundir / "qmp.sock", echo))
    if "s2idle_wakeups" in sc:
        wakers.append(PowerButtonWaker(rundir / "qmp.sock", parser.entering_s2idle, echo))
    return wakers


def boot_guest(sc, kdir, initrd, rundir, accel, echo):
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
                                    stderr=err, start_new_session=True,
                                    preexec_fn=die_with_parent)
        except BaseException:
            stop_backends(backends)
            raise
        wakers = sleep_wakers(sc, rundir, parser, echo)
        for waker in wakers:
            waker.start()
        try:
            run.outcome = stream_console(proc, start + scenario_timeout(sc),
                                         log, parser, echo)
            if run.outcome == "exited" and not reap(proc, run, EXIT_GRACE):
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
    return run, parser


def reap(proc, run, timeout):
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


def run_guest(sc, kdir, initrd, rundir, accel, echo=None):
    """Boots one guest and returns its ScenarioRun, with every problem
    of its console, QEMU log and QEMU stderr recorded."""
    if echo is True:
        echo = print
    stalls = 0
    notes = []
    initrd = scenario_initrd(sc, initrd, rundir)
    while True:
        run, parser = boot_guest(sc, kdir, initrd, rundir, accel, echo)
        if run.outcome != "boot" or stalls == BOOT_RETRIES:
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
    run.notes = notes
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


def s3_problems(sc, run):
    """The guest's count of its real S3 sleeps against QEMU's: a guest
    whose sleep request reaches no register returns at once and its
    kernel counts a success all the same; only QEMU's run state shows
    that the machine slept."""
    problems = []
    mem = run.sleeps.count("mem")
    if run.s3_wakeups != mem:
        problems.append(Problem("s3", f"the guest reported {mem} real sleeps (vs-sleep: mem), "
                                      f"QEMU was suspended and woken {run.s3_wakeups} times"))
    if mem < sc["s3_wakeups"]:
        problems.append(Problem("s3", f"{mem} real sleeps, the scenario declares s3_wakeups = "
                                      f"{sc['s3_wakeups']} at least"))
    return problems


def s2idle_problems(sc, run):
    """The guest's real s2idle sleeps against the runner's presses: the
    guest counts one only when a wake-up interrupt ended it, and every
    one needs at least one press (QEMU has no run state to show it)."""
    problems = []
    freeze = run.sleeps.count("freeze")
    if run.button_presses < freeze:
        problems.append(Problem("s2idle", f"the guest reported {freeze} real s2idle sleeps "
                                          f"(vs-sleep: freeze), the runner pressed the power "
                                          f"button {run.button_presses} times"))
    if freeze < sc["s2idle_wakeups"]:
        problems.append(Problem("s2idle", f"{freeze} real s2idle sleeps, the scenario declares "
                                          f"s2idle_wakeups = {sc['s2idle_wakeups']} at least"))
    return problems


def qemu_log_problems(path, allow=()):
    """Every line of QEMU's log but our trace events and the lines a
    regular expression of allow matches whole: a driver violation (kind
    "violation", never allowed), another guest error of the suspend path
    or any other guest error (kind "qemu-log")."""
    text = path.read_text(errors="replace") if path.exists() else ""
    allowed = [re.compile(a) for a in allow]
    problems = []
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


def qemu_stderr_problems(sc, path):
    """Every line QEMU wrote to stderr, but the harmless ones."""
    text = path.read_text(errors="replace") if path.exists() else ""
    injected = {k[:-len("-fail")] for dev in sc.get("devices", [])
                for k, v in dev.get("props", {}).items()
                if k in ("suspend-fail", "resume-fail") and str(v) in ("on", "true")}
    vanish = {str(dev["props"]["x-fault-vanish"]) for dev in sc.get("devices", [])
              if dev.get("props", {}).get("x-fault-vanish")}
    recovery = any(dev.get("props", {}).get("x-fault-recovery")
                   for dev in sc.get("devices", []))
    problems = []
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


def backend_problems(sc, rundir):
    """Every error a vhost-user backend logged (" ERROR ", the rust-vmm
    backends' log level)."""
    problems = []
    for kind, n, _ in vhost_user_devices(sc):
        log = rundir / f"{kind}-backend{n}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        problems += [Problem("backend", f"{kind}{n} backend: {line.strip()}")
                     for line in text.splitlines() if " ERROR " in line]
    return problems


STATUS_TRACE = re.compile(r"virtio_set_status vdev (0x[0-9a-f]+) val (\d+)\b")


def check_resets(sc, qemu_log):
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
    writes = {}
    for m in STATUS_TRACE.finditer(text):
        writes.setdefault(m.group(1), []).append(int(m.group(2)))
    if not writes:
        return [Problem("resets", "no virtio_set_status trace: cannot count device resets")]
    classic = sum(1 for d in sc.get("devices", [])
                  if str(d.get("props", {}).get("suspend", "off")) != "on")
    problems = []
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


def accounting_problems(sc, run):
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
    had no DRIVER_OK (a device its driver could not set up again)."""
    if run.device_stats is None:
        return [Problem("accounting", "QEMU's device counters were not read "
                                      "(no \"vs-runner: accounting\" from the guest)")]
    problems = [Problem("accounting", f"{g['name']}: the guest could not tell where the "
                                      f"device sits (key {key})")
                for key, g in run.guest_devices.items() if key.startswith("?")]

    def bad(entry, text):
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
        elif expect == "reset":
            if requests:
                bad(entry, f"declared on the reset path, the device saw {requests} SUSPEND "
                           "requests")
            if not resets:
                bad(entry, "declared on the reset path, the device was never reset after "
                           "DRIVER_OK")
        elif expect in ("fault", "broken"):
            what = "faulty" if expect == "fault" else "broken"
            if not failed:
                bad(entry, f"declared {what}, no suspend or resume failed or was abandoned "
                           f"({requests} requests, {acks} acknowledged)")
            if guest and not guest.get("fallbacks", 0):
                bad(entry, f"declared {what}, the module ({guest['name']}) counted no "
                           "fallback")
        if expect == "broken":
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


def inflight_notes(run):
    """One line per device that saw SUSPEND requests: how many elements
    the device model had in flight at them, so that a scenario shows
    whether its requests really were in flight."""
    notes = []
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


def verdict(sc, run):
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
    fails = []

    def fail(text):
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
        fail(f"QEMU still running {EXIT_GRACE} s after the guest finished")
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


def scenario_passed(results):
    return bool(results) and all(r.status == "pass" for r in results)


def host_tests_target(top=TOP):
    """cargo's target directory for the host tests of checkout top: in
    the cache (the module's Kbuild "clean" deletes every *.o below the
    checkout, cargo's included), one per checkout.  cargo records the
    files the tests include from outside their package (drivers/,
    samples/) by absolute path, so a target directory shared by two
    checkouts judges one's sources by the other's mtimes: after a make
    check in another checkout, a mutation of logic/ here went unbuilt and
    survived."""
    return CACHE / "host-tests" / hashlib.sha256(str(top).encode()).hexdigest()[:16]


def host_tests():
    """cargo test of the pure-logic crate, as results."""
    crate = TOP / "tools" / "host-tests"
    if not (crate / "Cargo.toml").exists():
        return []
    env = dict(os.environ, CARGO_TARGET_DIR=str(host_tests_target()))
    proc = subprocess.run(["cargo", "test", "--color", "never"], cwd=crate, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = []
    for m in re.finditer(r"^test (\S+) \.\.\. (ok|FAILED|ignored)$", proc.stdout, re.M):
        status = {"ok": "pass", "FAILED": "fail", "ignored": "skip"}[m.group(2)]
        results.append(Result(f"host: {m.group(1)}", status))
    summary = re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed", proc.stdout)
    if proc.returncode != 0 or not summary:
        print(proc.stdout)
        results.append(Result("host: cargo test", "fail", f"exit {proc.returncode}"))
    return results


def tap_suite(prefix, cmd):
    """A host-side program that prints TAP, as results named
    "<prefix>: <test>"; a non-zero exit with no failed test, or no
    result at all, is a failure of its own."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = []
    for m in re.finditer(r"^(ok|not ok) \d+ - (.*?)(\s+#\s*SKIP\b.*)?$", proc.stdout, re.M):
        status = "fail" if m.group(1) == "not ok" else "skip" if m.group(3) else "pass"
        results.append(Result(f"{prefix}: {m.group(2)}", status))
    if (proc.returncode != 0 and not any(r.status == "fail" for r in results)) or not results:
        print(proc.stdout[-3000:])
        results.append(Result(f"{prefix}: {Path(cmd[-1]).name}", "fail",
                              f"exit {proc.returncode}, {len(results)} results"))
    return results


def install_tests():
    """tools/deps.sh against stand-ins for dpkg-query, apt-get, apt-cache
    and cargo: the install path of a fresh machine, which CI's machine,
    having every package, never takes."""
    return tap_suite("install", [sys.executable,
                                 str(TOP / "tools" / "testing" / "install" / "test_deps.py")])


def qemu_device_tests():
    """The device side of SUSPEND in our QEMU, driven through the qtest
    protocol, no guest (tools/qemu/test_device.py)."""
    return tap_suite("qemu", [sys.executable, str(TOP / "tools" / "qemu" / "test_device.py"),
                              qemu_binary("patched")])


def runner_tests():
    """tools/runner/test_run.py: the pass rule and the parsers of this
    file, against synthetic consoles, QEMU logs and scenarios."""
    return tap_suite("runner", [sys.executable, str(TOP / "tools" / "runner" / "test_run.py")])


def qemu_qtests():
    """QEMU's own virtio qtests (qos-test's virtio paths and more) on our
    patched QEMU: a device-side patch that breaks one fails make check."""
    return tap_suite("qemu-qtest", ["bash", str(TOP / "tools" / "qemu" / "qtest.sh")])


def print_results(results, out=None):
    for r in results:
        tag = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[r.status]
        print(f"{tag} {r.name}" + (f" ({r.detail})" if r.detail else ""), file=out)


# A run directory is in use while its lock is held: pruning skips it.
_run_locks = []


def new_run_dir(parent):
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


def prepare(args):
    kdir = Path(args.kdir).resolve()
    if not (kdir / "arch" / "x86" / "boot" / "bzImage").exists():
        die(f"{kdir}: no bzImage: run 'make kernel'")
    selftest_dir = Path(getattr(args, "selftests", None) or SELFTEST_BUILD).resolve()
    if not selftest_dir.is_dir():
        die(f"{selftest_dir}: no test binaries: run 'make selftests'")
    base = new_run_dir(CACHE / "runs")
    initrd = base / "initramfs.cpio"
    build_initramfs(kdir, selftest_dir, initrd)
    return kdir, base, initrd


# Seconds each scenario took last time: the longest start first.
DURATIONS = CACHE / "durations.json"


def load_durations():
    try:
        return json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}


def save_durations(runs):
    durations = load_durations()
    durations.update({sc["name"]: round(run.seconds, 1) for sc, run, _ in runs
                      if run.outcome == "exited"})
    tmp = DURATIONS.with_name(f".durations-{os.getpid()}")
    tmp.write_text(json.dumps(durations, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, DURATIONS)


def run_one(sc, args, kdir, initrd, base, echo):
    """One scenario's guest, its verdict and its output (a string)."""
    import io
    out = io.StringIO()
    name = sc["name"]
    print(f"== {name}: {sc['description']}", file=out)
    rundir = base / name
    rundir.mkdir()
    selftest_dir = Path(getattr(args, "selftests", None) or SELFTEST_BUILD).resolve()
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
    print(f"   {run.seconds:.1f} s, {run.cpu_seconds:.1f} CPU-s", file=out)
    return run, results, out.getvalue()


def run_scenarios(names, args, echo=False):
    """Runs the scenarios args.jobs guests at a time, the longest (by
    their last run) first; prints each scenario's output whole, in the
    order of names, as soon as it and those before it are done."""
    scenarios = [load_scenario(n) for n in names]
    kdir, base, initrd = prepare(args)
    jobs = max(1, getattr(args, "jobs", 1))
    durations = load_durations()
    order = sorted(scenarios, key=lambda sc: -durations.get(sc["name"],
                                                          float(sc.get("timeout", 300))))

    def echo_for(name):
        if not echo:
            return None
        if jobs == 1:
            return lambda text: print(text, flush=True)
        return lambda text: print(f"[{name}] {text}", flush=True)

    runs = []
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
        STOP.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    # A slowed kernel's times would misorder the everyday runs.
    if TIMEOUT_SCALE == 1.0:
        save_durations(runs)
    stalls = sum(run.boot_stalls for _, run, _ in runs)
    if stalls:
        print(f"note: {stalls} guest boot{'s' if stalls > 1 else ''} stalled before "
              f"/init and {'were' if stalls > 1 else 'was'} retried", flush=True)
    return runs


HOST_SUITES = (
    ("install: tools/deps.sh on a fresh machine (stand-ins)", lambda: install_tests()),
    ("runner: the pass rule and parsers of run.py (tools/runner/test_run.py)",
     lambda: runner_tests()),
    ("host: cargo test of the pure-logic crate", lambda: host_tests()),
    ("qemu: device-side SUSPEND tests over qtest (tools/qemu)",
     lambda: qemu_device_tests()),
    ("qemu-qtest: QEMU's own virtio qtests on our QEMU (tools/qemu/qtest.sh)",
     lambda: qemu_qtests()),
)


def run_host_suites():
    """Every host-side suite, in order; returns their printed results
    and the results."""
    out = io.StringIO()
    results = []
    for title, suite in HOST_SUITES:
        print(f"== {title}", file=out)
        res = suite()
        print_results(res, out)
        results += res
    return out.getvalue(), results


def cmd_check(args):
    if args.scenario:
        names = args.scenario
    else:
        names = sorted(p.stem for p in SCENARIOS.glob("*.toml")
                       if load_scenario(p.stem).get("check", True))
    results = []
    # The host-side suites run beside the guests: the guests leave CPU
    # idle while they boot, sleep and wait for kmemleak's minimum age.
    host = None
    if not args.scenario:
        host = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        host_done = host.submit(run_host_suites)
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


def decode_features(bits):
    on = [i for i, c in enumerate(bits) if c == "1"]
    names = [FEATURE_NAMES.get(i, str(i)) for i in on]
    return " ".join(names) if names else "none"


def cmd_demo(args):
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


def cmd_shell(args):
    if not args.scenario or len(args.scenario) != 1:
        die("shell needs one --scenario")
    sc = load_scenario(args.scenario[0])
    sc["shell"] = True
    kdir, base, initrd = prepare(args)
    rundir = base / sc["name"]
    rundir.mkdir()
    cmd = qemu_command(sc, kdir, scenario_initrd(sc, initrd, rundir), rundir,
                      args.accel)
    # Interactive: the console is this terminal; Ctrl-A X quits QEMU.
    cmd[cmd.index("stdio")] = "mon:stdio"
    return subprocess.call(cmd)


def main():
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, through the
    # cleanup that kills the guests.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["check", "demo", "shell"])
    ap.add_argument("--kdir", required=True, help="built guest kernel tree")
    ap.add_argument("--selftests", default=str(SELFTEST_BUILD),
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
    global TIMEOUT_SCALE
    TIMEOUT_SCALE = args.timeout_scale
    return {"check": cmd_check, "demo": cmd_demo, "shell": cmd_shell}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run the virtio-suspend guest scenarios under QEMU and the host tests.

    run.py check [--scenario NAME ...] --kdir KDIR
    run.py demo --kdir KDIR
    run.py shell --scenario NAME --kdir KDIR

A scenario is a TOML file in tools/scenarios/ (see README.md there): the
QEMU binary, the devices, the modules to load and the kselftests to run.
Every guest runs under a hard timeout; a guest that hangs, crashes or stops
before all its tests reported is a failed scenario, with its console log
kept and its path printed.  The last line of `check` is
"N passed, N failed" (", N skipped" when there are skips); the exit status
is non-zero unless every test ran and passed.
"""

import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
SCENARIOS = TOP / "tools" / "scenarios"
SELFTESTS = TOP / "tools" / "testing" / "selftests" / "drivers" / "virtio_suspend"
CACHE = Path(os.environ.get("VS_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
             / "virtio-suspend")

# Kernel messages that fail a scenario whatever its tests said.
KERNEL_PROBLEMS = re.compile(
    r"WARNING:|BUG:|Oops|Kernel panic|possible circular locking|"
    r"inconsistent lock state|possible recursive locking|"
    r"suspicious RCU usage|sleeping function called from invalid context|"
    r"rust_panic|general protection fault")

# What the QEMU patch logs when the guest breaks a driver rule.
QEMU_VIOLATION = "virtio-suspend: violation:"

TAP_RESULT = re.compile(r"^(ok|not ok) (\d+) (.*?)(?:\s+#\s*(SKIP|XFAIL)\b.*)?$")
TAP_PLAN = re.compile(r"^1\.\.(\d+)$")

FEATURE_NAMES = {
    24: "NOTIFY_ON_EMPTY", 27: "ANY_LAYOUT", 28: "RING_INDIRECT_DESC",
    29: "RING_EVENT_IDX", 32: "VERSION_1", 33: "ACCESS_PLATFORM",
    34: "RING_PACKED", 35: "IN_ORDER", 36: "ORDER_PLATFORM", 37: "SR_IOV",
    38: "NOTIFICATION_DATA", 39: "NOTIF_CONFIG_DATA", 40: "RING_RESET",
    41: "ADMIN_VQ", 42: "SUSPEND(v5 draft)", 43: "SUSPEND",
}


@dataclass
class Result:
    name: str
    status: str  # "pass", "fail" or "skip"
    detail: str = ""


@dataclass
class ScenarioRun:
    name: str
    results: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    report: list = field(default_factory=list)
    bench: list = field(default_factory=list)
    log: Path = None
    seconds: float = 0.0


def die(msg):
    print(f"run.py: {msg}", file=sys.stderr)
    sys.exit(2)


def load_scenario(name):
    path = SCENARIOS / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCENARIOS.glob("*.toml")))
        die(f"no scenario {name!r} (known: {known})")
    with open(path, "rb") as f:
        sc = tomllib.load(f)
    for key in ("description", "tests"):
        if key not in sc:
            die(f"{path}: missing key {key!r}")
    sc["name"] = name
    return sc


def kernel_release(kdir):
    return (kdir / "include" / "config" / "kernel.release").read_text().strip()


def qemu_binary(kind):
    if kind == "system":
        return shutil.which("qemu-system-x86_64") or die(
            "qemu-system-x86_64 not found: run 'make deps'")
    if kind == "patched":
        build = TOP / "tools" / "qemu" / "build.sh"
        out = subprocess.run(["bash", str(build)], check=True,
                             stdout=subprocess.PIPE, text=True).stdout.strip()
        return out
    die(f"unknown qemu kind {kind!r} (system or patched)")


def build_initramfs(kdir, selftest_dir, out):
    """A busybox initramfs with every module of the guest kernel, ours,
    the selftests and the init scripts.  Rebuilt on every run: it takes
    a second, and a stale one would test the wrong module."""
    stage = out.parent / "initramfs"
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "tmp", "selftests"):
        (stage / d).mkdir(parents=True)
    shutil.copy("/bin/busybox", stage / "bin" / "busybox")
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
    (moddir / "extra").mkdir(parents=True, exist_ok=True)
    for ko in ours:
        shutil.copy(ko, moddir / "extra" / ko.name)
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (kdir / f).exists():
            shutil.copy(kdir / f, moddir / f)
    subprocess.run(["depmod", "-b", str(stage), kernel_release(kdir)], check=True)
    for t in selftest_dir.iterdir():
        if t.is_file() and os.access(t, os.X_OK):
            shutil.copy(t, stage / "selftests" / t.name)
    for f in (stage / "init", stage / "report.sh"):
        f.chmod(0o755)
    files = subprocess.run(["find", ".", "-print0"], cwd=stage, check=True,
                           stdout=subprocess.PIPE).stdout
    with open(out, "wb") as f:
        subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"],
                       cwd=stage, input=files, stdout=f, check=True)
    shutil.rmtree(stage)


def device_args(devices, rundir):
    args = []
    counts = {}
    for dev in devices:
        kind = dev["kind"]
        n = counts.get(kind, 0)
        counts[kind] = n + 1
        props = "".join(f",{k}={v}" for k, v in dev.get("props", {}).items())
        if kind == "blk":
            img = Path(dev["image"]) if "image" in dev else rundir / f"blk{n}.img"
            if "image" not in dev:
                with open(img, "wb") as f:
                    f.truncate(int(dev.get("size_mib", 16)) << 20)
            args += ["-drive", f"if=none,id=blk{n},format=raw,file={img}",
                     "-device", f"virtio-blk-device,drive=blk{n}{props}"]
        elif kind == "rng":
            args += ["-object", f"rng-random,id=rng{n},filename=/dev/urandom",
                     "-device", f"virtio-rng-device,rng=rng{n}{props}"]
        elif kind == "net":
            # A hub port: frames go to the other ports of the hub and
            # nowhere else, so no packet leaves QEMU.
            args += ["-netdev", f"hubport,id=net{n},hubid=0",
                     "-device", f"virtio-net-device,netdev=net{n},"
                     f"mac=52:54:00:00:00:{n + 1:02x}{props}"]
        elif kind == "console":
            args += ["-chardev", f"file,id=con{n},path={rundir}/console{n}.out",
                     "-device", f"virtio-serial-device{props}",
                     "-device", f"virtconsole,chardev=con{n}"]
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


def qemu_command(sc, kdir, initrd, rundir, accel):
    env = dict(sc.get("env", {}))
    cmdline = ["console=ttyS0", "panic=-1", "reboot=t", "loglevel=5",
               "vs_modules=" + ",".join(sc.get("modules", [])),
               "vs_tests=" + ",".join(sc["tests"])]
    # The kernel strips double quotes around a value, spaces and all.
    cmdline += [f'{k}="{v}"' if " " in str(v) else f"{k}={v}" for k, v in env.items()]
    if sc.get("report"):
        cmdline.append("vs_report=1")
    if sc.get("shell"):
        cmdline.append("vs_shell=1")
    cmdline += sc.get("cmdline", [])
    for word in cmdline:
        if '"' in word.partition('="')[2].rstrip('"'):
            die(f"{sc['name']}: kernel command line word {word!r} has a stray quote")
    return [
        qemu_binary(sc.get("qemu", "system")), "-L", "/usr/share/qemu",
        "-M", sc.get("machine", "microvm,acpi=on"), "-accel", accel, "-cpu", "max",
        "-m", str(sc.get("memory_mib", 512)), "-smp", str(sc.get("cpus", 1)),
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-serial", "stdio",
        "-qmp", f"unix:{rundir}/qmp.sock,server=on,wait=off",
        "-d", "guest_errors", "-D", str(rundir / "qemu.log"),
        "-kernel", str(kdir / "arch" / "x86" / "boot" / "bzImage"),
        "-initrd", str(initrd),
        "-append", " ".join(cmdline),
    ] + mmio_version_args(sc) + device_args(sc.get("devices", []), rundir) \
        + sc.get("qemu_args", []) \
        + (["-trace", "virtio_set_status"] if sc.get("no_reset_after_setup") else [])


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


class GuestOutput:
    """Parses the console as it streams: TAP per test binary, the
    runner markers of init.sh, kernel problems."""

    def __init__(self, run, tests, qmp_socket=None):
        self.run = run
        self.qmp_socket = qmp_socket
        self.expected = list(tests)
        self.current = None
        self.plan = None
        self.count = 0
        self.ended = []
        self.done = False
        self.booted = False

    def line(self, text):
        text = text.rstrip("\r\n")
        if KERNEL_PROBLEMS.search(text):
            self.run.problems.append(f"kernel: {text.strip()}")
        if text.startswith("vs-runner: "):
            self.booted = True
            self.marker(text[len("vs-runner: "):])
            return
        if text.startswith("vs-report: "):
            self.run.report.append(text[len("vs-report: "):])
            return
        if text.startswith("vs-bench: "):
            self.run.bench.append(text[len("vs-bench: "):])
            return
        if self.current is None:
            return
        m = TAP_PLAN.match(text)
        if m:
            self.plan = int(m.group(1))
            return
        m = TAP_RESULT.match(text)
        if m:
            self.count += 1
            name = f"{self.current}: {m.group(3)}"
            if m.group(4) == "SKIP":
                status = "skip"
            elif m.group(1) == "ok":
                status = "pass"
            else:
                status = "fail"
            self.run.results.append(Result(name, status))

    def marker(self, text):
        if text.startswith("test-begin "):
            self.current = text.split()[1]
            self.plan = None
            self.count = 0
        elif text.startswith("test-end "):
            name, rc = text.split()[1], text.split("rc=")[-1]
            if self.plan is None:
                self.run.problems.append(f"{name}: printed no TAP plan (rc={rc})")
            elif self.count != self.plan:
                self.run.problems.append(
                    f"{name}: {self.count} of {self.plan} planned results")
            if rc != "0" and not any(r.status == "fail" for r in self.run.results
                                     if r.name.startswith(name + ": ")):
                self.run.problems.append(f"{name}: exited {rc} with no failed test")
            self.ended.append(name)
            self.current = None
        elif text.startswith("error: "):
            self.run.problems.append(f"guest: {text[len('error: '):]}")
        elif text.startswith("kernel-problem: "):
            self.run.problems.append(f"kernel: {text[len('kernel-problem: '):]}")
        elif text.startswith("init ") or text.startswith("bench "):
            pass
        elif text.startswith("qmp "):
            # A test asks the host for a device change (for example a
            # block_resize) at a point of its choosing.
            reply = qmp_command(self.qmp_socket, text[len("qmp "):])
            if "error" in reply or reply.startswith("QMP failed"):
                self.run.problems.append(f"guest's QMP command failed: {reply}")
        elif text == "done":
            self.done = True
            self.done_at = time.monotonic()

    def finish(self):
        missing = [t for t in self.expected if t not in self.ended]
        if self.current is not None:
            self.run.problems.append(f"{self.current}: never finished")
        if missing and self.done:
            self.run.problems.append("tests that did not run: " + ", ".join(missing))


def die_with_parent():
    """Runs in the QEMU child before exec: the kernel kills it when the
    runner dies, so an interrupted or killed run leaves no guest behind."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# A guest reaches /init in about 3 s under TCG. Under host load the
# kernel's PIT-based TSC calibration sometimes fails and the boot stalls
# before /init ("tsc: Unable to calibrate against PIT" is the last line);
# such a boot is retried, at most BOOT_RETRIES times, and reported. Nothing
# of ours runs before /init, so this never hides a driver hang.
BOOT_TIMEOUT = 25
BOOT_RETRIES = 2


def stream_console(proc, deadline, log, parser, echo):
    """Feeds the guest console to the log and the parser until QEMU
    exits or a deadline passes; returns None, "timeout" or "boot"."""
    buf = b""
    boot_deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        now = time.monotonic()
        if parser.done:
            # Everything is reported; a guest that then fails to stop is
            # not worth the rest of its timeout.
            deadline = min(deadline, parser.done_at + 10)
            if now >= deadline:
                return None
        if now >= deadline:
            return "timeout"
        if not parser.booted and now >= boot_deadline:
            return "boot"
        left = min(deadline, boot_deadline if not parser.booted else deadline) - now
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
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
                print(text, flush=True)
    if buf:
        parser.line(buf.decode("utf-8", "replace"))
    return None


def boot_guest(sc, kdir, initrd, rundir, accel, echo):
    """Runs one guest to its end; returns (run, parser, outcome, exit code)."""
    run = ScenarioRun(sc["name"], log=rundir / "console.log")
    parser = GuestOutput(run, sc["tests"], rundir / "qmp.sock")
    cmd = qemu_command(sc, kdir, initrd, rundir, accel)
    (rundir / "qemu.cmd").write_text(" ".join(cmd) + "\n")
    start = time.monotonic()
    with open(run.log, "wb") as log, open(rundir / "qemu.stderr", "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, start_new_session=True,
                                preexec_fn=die_with_parent)
        try:
            outcome = stream_console(proc, start + float(sc.get("timeout", 300)),
                                     log, parser, echo)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    run.seconds = time.monotonic() - start
    return run, parser, outcome, proc.returncode


def run_guest(sc, kdir, initrd, rundir, accel, echo):
    """Boots one guest and returns its ScenarioRun."""
    run, parser, outcome, rc = boot_guest(sc, kdir, initrd, rundir, accel, echo)
    for attempt in range(1, BOOT_RETRIES + 1):
        if outcome != "boot":
            break
        stalled = rundir / f"console-boot-stall-{attempt}.log"
        run.log.rename(stalled)
        print(f"   note: guest did not reach /init in {BOOT_TIMEOUT} s; booting again "
              f"(stalled console: {stalled})", flush=True)
        run, parser, outcome, rc = boot_guest(sc, kdir, initrd, rundir, accel, echo)
    parser.finish()
    timeout = float(sc.get("timeout", 300))
    timed_out = outcome is not None
    if outcome == "boot":
        run.problems.append(f"guest did not reach /init within {BOOT_TIMEOUT} s, "
                            f"{BOOT_RETRIES + 1} times")
    elif timed_out:
        run.problems.append(f"guest timed out after {timeout:.0f} s")
    elif not parser.done:
        run.problems.append(f"guest stopped before it finished (QEMU exit {rc})")
    qemu_log = rundir / "qemu.log"
    if qemu_log.exists():
        for text in qemu_log.read_text(errors="replace").splitlines():
            if QEMU_VIOLATION in text:
                run.problems.append(f"qemu: {text.strip()}")
    run.timed_out = timed_out
    if sc.get("no_reset_after_setup"):
        run.problems += check_resets(sc, qemu_log)
    return run


STATUS_TRACE = re.compile(r"virtio_set_status vdev (0x[0-9a-f]+) val (\d+)\b")


def check_resets(sc, qemu_log):
    """QEMU's view of device resets: every status write is traced
    (virtio_set_status). On the SUSPEND path a device, once set up (its
    first DRIVER_OK), must see no reset (a status 0 write) until its last
    status write; the resets of machine start-up and of the final reboot
    are outside that span."""
    text = qemu_log.read_text(errors="replace") if qemu_log.exists() else ""
    writes = {}
    for m in STATUS_TRACE.finditer(text):
        writes.setdefault(m.group(1), []).append(int(m.group(2)))
    if not writes:
        return ["qemu: no virtio_set_status trace: cannot count device resets"]
    problems = []
    for vdev, values in sorted(writes.items()):
        set_up = [i for i, v in enumerate(values) if v & 4]
        if not set_up:
            continue
        last = max(i for i, v in enumerate(values) if v)
        resets = sum(1 for v in values[set_up[0]:last] if v == 0)
        if resets:
            problems.append(f"qemu: device {vdev} was reset {resets} times after set-up")
    return problems


def scenario_results(sc, run):
    """Turns a guest run into test results, honouring what the scenario
    expects.  An `expect = "timeout"` scenario checks the runner itself:
    it passes only if the guest really hung and was stopped."""
    if sc.get("expect", "pass") == "timeout":
        if run.timed_out:
            return [Result(f"{sc['name']}: hung guest stopped at its timeout", "pass")]
        return [Result(f"{sc['name']}: hung guest stopped at its timeout", "fail",
                       "the guest did not hang: " + "; ".join(run.problems))]
    if sc.get("expect", "pass") == "violation":
        # A check of QEMU's detector: the guest breaks a rule on purpose.
        name = f"{sc['name']}: QEMU reported the driver's violation"
        found = [p for p in run.problems if p.startswith("qemu: ")]
        others = [p for p in run.problems if not p.startswith("qemu: ")]
        results = [r for r in run.results]
        results.append(Result(name, "pass" if found else "fail",
                              found[0] if found else "no violation line in the QEMU log"))
        results += [Result(f"{sc['name']}: {p}", "fail") for p in others]
        return results
    results = list(run.results)
    for p in run.problems:
        results.append(Result(f"{sc['name']}: {p}", "fail"))
    if not run.results and not run.problems:
        results.append(Result(f"{sc['name']}: no test reported a result", "fail"))
    return results


def host_tests():
    """cargo test of the pure-logic crate, as results."""
    crate = TOP / "tools" / "host-tests"
    if not (crate / "Cargo.toml").exists():
        return []
    # The target directory lives in the cache: the module's Kbuild "clean"
    # deletes every *.o below the checkout, cargo's included.
    env = dict(os.environ, CARGO_TARGET_DIR=str(CACHE / "host-tests-target"))
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


def qemu_device_tests():
    """The device side of SUSPEND in our QEMU, driven through the qtest
    protocol, no guest (tools/qemu/test_device.py)."""
    binary = qemu_binary("patched")
    proc = subprocess.run([sys.executable, str(TOP / "tools" / "qemu" / "test_device.py"), binary],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = []
    for m in re.finditer(r"^(ok|not ok) \d+ - (.*)$", proc.stdout, re.M):
        results.append(Result(f"qemu: {m.group(2)}", "pass" if m.group(1) == "ok" else "fail"))
    if proc.returncode != 0 and not any(r.status == "fail" for r in results):
        print(proc.stdout[-3000:])
        results.append(Result("qemu: test_device.py", "fail", f"exit {proc.returncode}"))
    return results


def print_results(results):
    for r in results:
        tag = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[r.status]
        print(f"{tag} {r.name}" + (f" ({r.detail})" if r.detail else ""))


def prepare(args):
    kdir = Path(args.kdir).resolve()
    if not (kdir / "arch" / "x86" / "boot" / "bzImage").exists():
        die(f"{kdir}: no bzImage: run 'make kernel'")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = CACHE / "runs" / stamp
    base.mkdir(parents=True, exist_ok=True)
    latest = CACHE / "runs" / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(base)
    # Keep the last ten runs' logs.
    runs = sorted(p for p in (CACHE / "runs").iterdir() if p.name != "latest")
    for old in runs[:-10]:
        shutil.rmtree(old, ignore_errors=True)
    initrd = base / "initramfs.cpio"
    build_initramfs(kdir, kdir.parent / "selftests", initrd)
    return kdir, base, initrd


def run_scenarios(names, args, echo=False):
    kdir, base, initrd = prepare(args)
    runs = []
    for name in names:
        sc = load_scenario(name)
        rundir = base / name
        rundir.mkdir()
        print(f"== {name}: {sc['description']}", flush=True)
        run = run_guest(sc, kdir, initrd, rundir, args.accel, echo)
        results = scenario_results(sc, run)
        print_results(results)
        bad = [r for r in results if r.status != "pass"]
        if bad or sc.get("expect") == "timeout":
            print(f"   console log: {run.log}")
        print(f"   {run.seconds:.1f} s", flush=True)
        runs.append((sc, run, results))
    return runs


def cmd_check(args):
    if args.scenario:
        names = args.scenario
    else:
        names = sorted(p.stem for p in SCENARIOS.glob("*.toml")
                       if load_scenario(p.stem).get("check", True))
    results = []
    if not args.scenario:
        print("== host: cargo test of the pure-logic crate", flush=True)
        host = host_tests()
        print_results(host)
        results += host
        print("== qemu: device-side SUSPEND tests over qtest (tools/qemu)", flush=True)
        device = qemu_device_tests()
        print_results(device)
        results += device
    for _, _, res in run_scenarios(names, args, echo=args.verbose):
        results += res
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
    ok = all(r.status == "pass" for r in results)
    print(f"  data verified across suspend/resume: {'yes' if ok else 'NO'}")
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
    cmd = qemu_command(sc, kdir, initrd, rundir, args.accel)
    # Interactive: the console is this terminal; Ctrl-A X quits QEMU.
    cmd[cmd.index("stdio")] = "mon:stdio"
    return subprocess.call(cmd)


def main():
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, through the
    # cleanup that kills the guest.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["check", "demo", "shell"])
    ap.add_argument("--kdir", required=True, help="built guest kernel tree")
    ap.add_argument("--scenario", action="append", help="run only this scenario")
    ap.add_argument("--accel", default=os.environ.get("VS_ACCEL", "tcg"),
                    help="tcg (default) or kvm (nested KVM hangs on some hosts)")
    ap.add_argument("-v", "--verbose", action="store_true", help="echo the console")
    args = ap.parse_args()
    return {"check": cmd_check, "demo": cmd_demo, "shell": cmd_shell}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

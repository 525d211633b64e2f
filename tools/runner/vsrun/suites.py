# SPDX-License-Identifier: GPL-2.0
"""The host-side suites of make check, run beside the guests: the
install-path test, the runner's own tests, cargo test of the pure logic,
the uses of the kernel crate that must not compile, our QEMU's device
tests and QEMU's own virtio qtests, as results."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import config
from .model import Result, print_results
from .qemu import qemu_binary


def host_tests_target(top: Path = config.TOP) -> Path:
    """cargo's target directory for the host tests of checkout top: in
    the cache (the module's Kbuild "clean" deletes every *.o below the
    checkout, cargo's included), one per checkout.  cargo records the
    files the tests include from outside their package (drivers/,
    samples/) by absolute path, so a target directory shared by two
    checkouts judges one's sources by the other's mtimes: after a make
    check in another checkout, a mutation of logic/ here went unbuilt and
    survived."""
    return config.CACHE / "host-tests" / hashlib.sha256(str(top).encode()).hexdigest()[:16]


def host_tests() -> list[Result]:
    """cargo test of the pure-logic crate, as results."""
    crate = config.TOP / "tools" / "host-tests"
    if not (crate / "Cargo.toml").exists():
        return []
    env = dict(os.environ, CARGO_TARGET_DIR=str(host_tests_target()))
    proc = subprocess.run(["cargo", "test", "--color", "never"], cwd=crate, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results: list[Result] = []
    for m in re.finditer(r"^test (\S+) \.\.\. (ok|FAILED|ignored)$", proc.stdout, re.M):
        status = {"ok": "pass", "FAILED": "fail", "ignored": "skip"}[m.group(2)]
        results.append(Result(f"host: {m.group(1)}", status))
    summary = re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed", proc.stdout)
    if proc.returncode != 0 or not summary:
        print(proc.stdout)
        results.append(Result("host: cargo test", "fail", f"exit {proc.returncode}"))
    return results


def tap_suite(prefix: str, cmd: Sequence[str]) -> list[Result]:
    """A host-side program that prints TAP, as results named
    "<prefix>: <test>"; a non-zero exit with no failed test, or no
    result at all, is a failure of its own."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = tap_results(prefix, proc.stdout)
    if (proc.returncode != 0 and not any(r.status == "fail" for r in results)) or not results:
        print(proc.stdout[-3000:])
        results.append(Result(f"{prefix}: {Path(cmd[-1]).name}", "fail",
                              f"exit {proc.returncode}, {len(results)} results"))
    return results


# A group's title, not a diagnostic: test_device.py's "# <case>" before
# each case's checks, GLib's "# Start of <path> tests" and "# End of ...".
TAP_GROUP_TITLE = re.compile(r"^# (\w+|(Start|End) of \S+ tests)$")


def tap_results(prefix: str, text: str) -> list[Result]:
    """TAP text as results named "<prefix>: <test>", a failed test with
    the diagnostic lines ("# ...") that follow it as its log, a group's
    title excepted: a CI log must say why a host test failed, as it does
    for a guest's."""
    results: list[Result] = []
    for line in text.splitlines():
        m = re.match(r"^(ok|not ok) \d+ - (.*?)(\s+#\s*SKIP\b.*)?$", line)
        if m:
            status = "fail" if m.group(1) == "not ok" else "skip" if m.group(3) else "pass"
            results.append(Result(f"{prefix}: {m.group(2)}", status))
        elif (line.startswith("#") and not TAP_GROUP_TITLE.match(line)
              and results and results[-1].status == "fail"):
            results[-1].log.append(line)
    return results


def install_tests() -> list[Result]:
    """tools/deps.sh against stand-ins for dpkg-query, apt-get, apt-cache
    and cargo: the install path of a fresh machine, which CI's machine,
    having every package, never takes."""
    return tap_suite("install", [
        sys.executable, str(config.TOP / "tools" / "testing" / "install" / "test_deps.py")])


def misuse_tests(kdir: Path) -> list[Result]:
    """tools/kernel/misuse: uses of kernel::virtio that must not compile
    against the guest kernel kdir, each with the error it must give."""
    return tap_suite("misuse", [sys.executable,
                                str(config.TOP / "tools" / "kernel" / "misuse" / "check.py"),
                                str(kdir)])


def qemu_device_tests() -> list[Result]:
    """The device side of SUSPEND in our QEMU, driven through the qtest
    protocol, no guest (tools/qemu/test_device.py)."""
    return tap_suite("qemu", [sys.executable,
                              str(config.TOP / "tools" / "qemu" / "test_device.py"),
                              qemu_binary("patched")])


def runner_tests() -> list[Result]:
    """tools/runner/test_run.py: the pass rule and the parsers of this
    package, against synthetic consoles, QEMU logs and scenarios."""
    return tap_suite("runner", [sys.executable,
                                str(config.TOP / "tools" / "runner" / "test_run.py")])


def qemu_qtests() -> list[Result]:
    """QEMU's own virtio qtests (qos-test's virtio paths and more) on our
    patched QEMU: a device-side patch that breaks one fails make check."""
    return tap_suite("qemu-qtest", ["bash", str(config.TOP / "tools" / "qemu" / "qtest.sh")])


HOST_SUITES: tuple[tuple[str, Callable[[Path], list[Result]]], ...] = (
    ("install: tools/deps.sh on a fresh machine (stand-ins)", lambda _: install_tests()),
    ("runner: the pass rule and parsers of run.py (tools/runner/test_run.py)",
     lambda _: runner_tests()),
    ("host: cargo test of the pure-logic crate", lambda _: host_tests()),
    ("misuse: uses of kernel::virtio that must not compile (tools/kernel/misuse)",
     misuse_tests),
    ("qemu: device-side SUSPEND tests over qtest (tools/qemu)",
     lambda _: qemu_device_tests()),
    ("qemu-qtest: QEMU's own virtio qtests on our QEMU (tools/qemu/qtest.sh)",
     lambda _: qemu_qtests()),
)


def run_host_suites(kdir: Path) -> tuple[str, list[Result]]:
    """Every host-side suite, in order, those that build against the
    guest kernel against kdir; returns their printed results and the
    results."""
    out = io.StringIO()
    results: list[Result] = []
    for title, suite in HOST_SUITES:
        print(f"== {title}", file=out)
        res = suite(kdir)
        print_results(res, out)
        results += res
    return out.getvalue(), results

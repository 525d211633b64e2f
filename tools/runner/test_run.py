#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side tests of the guest runner (run.py and its package vsrun):
its pass rule (verdict()), the console parser, the QEMU log and stderr
checks, the scenario validation and the test-binary checks, fed
synthetic consoles, logs and scenarios.  Prints TAP ("ok N - name");
`make check` counts the results as "runner: ...".

    python3 tools/runner/test_run.py
"""

import importlib
import importlib.util
import io
import os
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vsrun  # noqa: E402
from vsrun import backends, cli, config, initramfs, model, qemu, qmp, verdict  # noqa: E402
# Here "scenario" is a scenario (scenario() below) and "console" a
# console's text: the modules of those names go by others.
from vsrun import scenario as scenarios  # noqa: E402
from vsrun.console import GuestOutput, stream_console  # noqa: E402


def scenario(**keys):
    """A scenario as load_scenario() returns it."""
    return dict(keys_of(**keys), name="t")


def keys_of(**keys):
    """A scenario's keys as its file has them."""
    sc = {"description": "a test scenario", "tests": ["alpha"]}
    sc.update(keys)
    return sc


def parse(console, sc=None, kmemleak=False, outcome="exited", exit_code=0, problems=(),
          kcsan=False):
    """A ScenarioRun as run_guest() leaves it, from a console text."""
    sc = sc or scenario()
    r = model.ScenarioRun(sc["name"])
    parser = GuestOutput(r, sc["tests"], kmemleak=kmemleak, kcsan=kcsan)
    for line in console.splitlines():
        parser.line(line)
    r.outcome = outcome
    r.exit_code = exit_code
    parser.finish()
    r.timed_out = outcome == "timeout"
    r.problems += list(problems)
    return r


def tap(name, n, failed=()):
    lines = [f"vs-runner: test-begin {name}", "TAP version 13", f"1..{n}"]
    for i in range(1, n + 1):
        lines.append(f"{'not ok' if i in failed else 'ok'} {i} case_{i}")
    lines.append(f"vs-runner: test-end {name} rc={1 if failed else 0}")
    return "\n".join(lines)


GOOD = "\n".join([
    "Linux version 6.12",
    "vs-runner: init 6.12.117",
    "vs-runner: modprobe virtio_suspend",
    tap("alpha", 3),
    "vs-runner: kmemleak scanned",
    "vs-runner: done",
    "reboot: Restarting system",
])


def passed(sc, r):
    return verdict.scenario_passed(verdict.verdict(sc, r))


def failures(sc, r):
    return [x.name for x in verdict.verdict(sc, r) if x.status != "pass"]


class PassRule(unittest.TestCase):
    """verdict(): one function, the rule of tools/scenarios/README.md."""

    def test_clean_run_passes(self):
        self.assertTrue(passed(scenario(), parse(GOOD, kmemleak=True)))

    def test_failed_tap_result_fails(self):
        console = GOOD.replace(tap("alpha", 3), tap("alpha", 3, failed={2}))
        self.assertFalse(passed(scenario(), parse(console)))

    def test_failed_result_keeps_its_diagnostics(self):
        lines = ["#  RUN           net.first ...", "#            OK  net.first",
                 "ok 1 net.first", "#  RUN           net.second ...",
                 "# net_loop.c:222:second:3 frames sent, 2 received, 1 lost",
                 "[   12.3] virtio_net virtio1: a kernel line",
                 "#      FAIL  net.second", "not ok 2 net.second"]
        console = GOOD.replace(tap("alpha", 3), "\n".join(
            ["vs-runner: test-begin alpha", "1..2"] + lines + ["vs-runner: test-end alpha rc=1"]))
        results = {r.name: r for r in parse(console).results}
        self.assertEqual([], results["alpha: net.first"].log)
        self.assertEqual(["#  RUN           net.second ...",
                          "# net_loop.c:222:second:3 frames sent, 2 received, 1 lost",
                          "#      FAIL  net.second"], results["alpha: net.second"].log)
        out = io.StringIO()
        model.print_results(results.values(), out)
        self.assertIn("FAIL alpha: net.second\n     #  RUN", out.getvalue())

    def test_diagnostics_are_bounded(self):
        many = [f"# line {i}" for i in range(100)]
        console = GOOD.replace(tap("alpha", 3), "\n".join(
            ["vs-runner: test-begin alpha", "1..1"] + many
            + ["not ok 1 x", "vs-runner: test-end alpha rc=1"]))
        log = parse(console).results[0].log
        self.assertEqual(many[-len(log):], log)
        self.assertLess(len(log), 100)

    def test_skip_is_not_a_pass(self):
        console = GOOD.replace("ok 2 case_2", "ok 2 case_2 # SKIP no device")
        self.assertFalse(passed(scenario(), parse(console)))

    def test_no_result_at_all_fails(self):
        sc = scenario(tests=[])
        console = "vs-runner: init x\nvs-runner: done"
        self.assertFalse(passed(sc, parse(console, sc)))

    def test_every_problem_kind_fails(self):
        for kind in ("kernel", "tap", "guest", "kmemleak", "violation", "qemu-log",
                     "qemu-stderr", "resets", "tests", "qmp", "accounting"):
            with self.subTest(kind=kind):
                r = parse(GOOD, problems=[model.Problem(kind, "something")])
                self.assertFalse(passed(scenario(), r))

    def test_timeout_fails(self):
        console = GOOD.split("vs-runner: done")[0]
        self.assertFalse(passed(scenario(), parse(console, outcome="timeout", exit_code=-9)))

    def test_boot_stall_fails(self):
        self.assertFalse(passed(scenario(), parse("Linux version", outcome="boot")))

    def test_test_that_never_ran_fails(self):
        sc = scenario(tests=["alpha", "beta"])
        self.assertIn("t: tests that did not run: beta", failures(sc, parse(GOOD, sc)))

    def test_stopped_before_done_fails(self):
        console = GOOD.split("vs-runner: done")[0]
        self.assertFalse(passed(scenario(), parse(console)))

    def test_guest_error_marker_fails(self):
        console = GOOD.replace("vs-runner: done", "vs-runner: error: modprobe x failed\n"
                               "vs-runner: done")
        self.assertFalse(passed(scenario(), parse(console)))

    def test_everything_uses_verdict(self):
        # The old per-caller rules are gone: one implementation.
        package = Path(vsrun.__file__).parent
        sources = [package.parent / "run.py"] + sorted(package.glob("*.py"))
        for module in sorted(package.glob("*.py")):
            name = "vsrun" if module.stem == "__init__" else f"vsrun.{module.stem}"
            self.assertFalse(hasattr(importlib.import_module(name), "scenario_results"), name)
        text = "".join(p.read_text() for p in sources)
        self.assertEqual(text.count("def verdict("), 1)
        for caller in ("def run_one(", "def cmd_demo("):
            body = text.split(caller, 1)[1].split("\ndef ", 1)[0]
            self.assertIn("verdict(" if caller == "def run_one(" else "scenario_passed(",
                          body, caller)


class AfterDone(unittest.TestCase):
    """The guest is watched until QEMU exits, and QEMU must exit 0."""

    def test_kernel_problem_during_shutdown_fails(self):
        console = GOOD + "\nWARNING: CPU: 0 PID: 1 at kernel/reboot.c:1 x\n"
        self.assertFalse(passed(scenario(), parse(console)))

    def test_qemu_abort_after_done_fails(self):
        self.assertFalse(passed(scenario(), parse(GOOD, exit_code=-6)))

    def test_qemu_nonzero_exit_after_done_fails(self):
        self.assertFalse(passed(scenario(), parse(GOOD, exit_code=1)))

    def test_qemu_that_never_exits_fails(self):
        self.assertFalse(passed(scenario(), parse(GOOD, outcome="no-exit", exit_code=-9)))

    def test_stream_keeps_reading_after_done(self):
        # A real child: prints done, then a warning, then exits 0.
        script = ("import sys,time; print('vs-runner: init x'); print('vs-runner: done');"
                  "sys.stdout.flush(); time.sleep(0.3); print('BUG: late'); sys.exit(0)")
        r = model.ScenarioRun("t")
        parser = GuestOutput(r, [])
        import subprocess
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        with tempfile.TemporaryFile() as log:
            outcome = stream_console(proc, time.monotonic() + 20, log, parser, None)
        proc.wait()
        self.assertEqual(outcome, "exited")
        self.assertTrue(any("BUG: late" in p.text for p in r.problems))

    def test_stream_no_exit_after_done(self):
        script = ("import sys,time; print('vs-runner: init x'); print('vs-runner: done');"
                  "sys.stdout.flush(); time.sleep(30)")
        r = model.ScenarioRun("t")
        parser = GuestOutput(r, [])
        import subprocess
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        saved = config.EXIT_GRACE
        config.EXIT_GRACE = 0.5
        try:
            with tempfile.TemporaryFile() as log:
                outcome = stream_console(proc, time.monotonic() + 20, log, parser, None)
        finally:
            config.EXIT_GRACE = saved
            proc.kill()
            proc.wait()
        self.assertEqual(outcome, "no-exit")


class QemuStderr(unittest.TestCase):
    def problems(self, text, sc=None):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "qemu.stderr"
            p.write_text(text)
            return verdict.qemu_stderr_problems(sc or scenario(), p)

    def test_assertion_fails(self):
        text = ("qemu-system-x86_64: ../hw/virtio/virtio.c:123: virtqueue_pop: "
                "Assertion `x' failed.\n")
        self.assertEqual(len(self.problems(text)), 1)

    def test_error_line_fails(self):
        self.assertEqual(len(self.problems("qemu-system-x86_64: Looped descriptor\n")), 1)

    def test_hub_warning_is_harmless(self):
        text = "qemu-system-x86_64: warning: hub 0 is not connected to host network\n"
        self.assertEqual(self.problems(text), [])

    def test_keyboard_autorepeat_status_is_harmless_other_types_not(self):
        self.assertEqual(self.problems("virtio_input_hid_handle_status: unknown type 20\n"), [])
        self.assertEqual(
            len(self.problems("virtio_input_hid_handle_status: unknown type 21\n")), 1)

    def test_injected_fault_harmless_only_where_set(self):
        line = ("qemu-system-x86_64: virtio-suspend: virtio-blk: suspend failed "
                "(fault injected by the suspend-fail property)\n")
        with_prop = scenario(devices=[{"kind": "blk", "props": {"suspend-fail": "on"}}])
        other_prop = scenario(devices=[{"kind": "blk", "props": {"resume-fail": "on"}}])
        self.assertEqual(self.problems(line, with_prop), [])
        self.assertEqual(len(self.problems(line, other_prop)), 1)
        self.assertEqual(len(self.problems(line, scenario())), 1)

    def test_vanish_harmless_only_where_set(self):
        line = ("qemu-system-x86_64: warning: virtio-suspend: virtio-rng: the device "
                "dev0 at 0000:00:02.0:00.0 vanished at the suspend request, status 0x1f "
                "(fault injected by the x-fault-vanish property)\n")
        with_prop = scenario(devices=[{"kind": "rng", "props": {"x-fault-vanish": "suspend"}}])
        other_prop = scenario(devices=[{"kind": "rng", "props": {"x-fault-vanish": "resume"}}])
        self.assertEqual(self.problems(line, with_prop), [])
        self.assertEqual(len(self.problems(line, other_prop)), 1)
        self.assertEqual(len(self.problems(line, scenario())), 1)
        # x-fault-vanish=reset and reset-function: at the reset of a
        # device set up.
        for mode in ("reset", "reset-function"):
            at = line.replace("suspend request, status 0x1f", f"{mode} request, status 0x00")
            with_prop = scenario(devices=[{"kind": "blk", "props": {"x-fault-vanish": mode}}])
            self.assertEqual(self.problems(at, with_prop), [])
            self.assertEqual(len(self.problems(at, other_prop)), 1)
        at = line.replace("suspend request, status 0x1f", "reset-function request, status 0x00")
        reset = scenario(devices=[{"kind": "blk", "props": {"x-fault-vanish": "reset"}}])
        self.assertEqual(len(self.problems(at, reset)), 1)

    def test_vanish_at_notification_harmless_only_for_that_queue(self):
        line = ("qemu-system-x86_64: warning: virtio-suspend: virtio-net: the device "
                "vnet0 at 0000:00:02.0:00.0 vanished at the notification of queue 2 "
                "(fault injected by the x-fault-vanish property)\n")
        with_prop = scenario(devices=[{"kind": "net", "props": {"x-fault-vanish": "notify:2"}}])
        other_queue = scenario(devices=[{"kind": "net", "props": {"x-fault-vanish": "notify:1"}}])
        self.assertEqual(self.problems(line, with_prop), [])
        self.assertEqual(len(self.problems(line, other_queue)), 1)

    def test_recovery_fault_harmless_only_where_set(self):
        line = ("qemu-system-x86_64: warning: virtio-suspend: virtio-blk id vblk0 at "
                "virtio-mmio@00000000feb02e00: the driver reset the device while its "
                "SUSPEND request was pending: it refuses FEATURES_OK from now on (fault "
                "injected by the x-fault-recovery property)\n")
        with_prop = scenario(devices=[{"kind": "blk", "props": {"x-fault-recovery": "features"}}])
        self.assertEqual(self.problems(line, with_prop), [])
        self.assertEqual(len(self.problems(line, scenario())), 1)
        # x-fault-recovery=reset: fired by the reset of a device set up.
        line = line.replace("while its SUSPEND request was pending", "after setting it up")
        with_prop = scenario(devices=[{"kind": "blk", "props": {"x-fault-recovery": "reset"}}])
        self.assertEqual(self.problems(line, with_prop), [])
        self.assertEqual(len(self.problems(line, scenario())), 1)

    def test_stderr_problem_fails_verdict(self):
        r = parse(GOOD, problems=self.problems("qemu-system-x86_64: something broke\n"))
        self.assertFalse(passed(scenario(), r))


class Resets(unittest.TestCase):
    """check_resets(): no device reset after set-up on the SUSPEND path."""

    def problems(self, writes, devices):
        sc = scenario(no_reset_after_setup=True, devices=devices)
        text = "".join(f"virtio_set_status vdev {vdev} val {v}\n" for vdev, v in writes)
        with tempfile.TemporaryDirectory() as d:
            log = Path(d) / "qemu.log"
            log.write_text(text)
            return verdict.check_resets(sc, log)

    SUSPENDED = [("0x1", v) for v in (0, 1, 3, 11, 15, 31, 15, 0)]
    RESET = [("0x2", v) for v in (0, 1, 3, 11, 15, 0, 1, 3, 11, 15, 0)]
    RESET_SUSPENDED = [("0x3", v) for v in (0, 1, 3, 11, 15, 31, 0, 15, 0)]
    ON = {"kind": "gpu", "props": {"suspend": "on"}}
    OFF = {"kind": "gpu"}

    def test_suspend_cycles_pass(self):
        self.assertEqual([], self.problems(self.SUSPENDED, [self.ON]))

    def test_reset_after_setup_fails(self):
        self.assertEqual(1, len(self.problems(self.RESET, [self.ON, self.ON])))

    def test_declared_classic_device_may_be_reset(self):
        self.assertEqual([], self.problems(self.SUSPENDED + self.RESET, [self.ON, self.OFF]))

    def test_only_as_many_classic_devices_as_declared(self):
        two = self.RESET + [("0x4", v) for _, v in self.RESET]
        self.assertEqual(1, len(self.problems(two, [self.ON, self.OFF])))

    def test_reset_after_suspend_is_never_classic(self):
        self.assertEqual(1, len(self.problems(self.RESET_SUSPENDED, [self.OFF])))


QTREE = """\
bus: main-system-bus
  type System
  dev: virtio-mmio, id ""
    gpio-out "sysbus-irq" 1
    mmio 00000000feb00e00/0000000000000200
    bus: virtio-mmio-bus.31
      type virtio-mmio-bus
      dev: virtio-blk-device, id "vblk0"
        drive = "blk0"
  dev: virtio-mmio, id ""
    mmio 00000000feb00c00/0000000000000200
    bus: virtio-mmio-bus.30
      type virtio-mmio-bus
  dev: gpex-pcihost, id ""
    bus: pcie.0
      type PCIE
      dev: pcie-root-port, id "rp1"
        chassis = 1 (0x1)
        addr = 01.0
        bus: rp1
          type PCIE
          dev: virtio-net-pci, id "vnet0"
            addr = 00.0
            bus: virtio-bus
              type virtio-pci-bus
              dev: virtio-net-device, id ""
  dev: virtio-mmio, id ""
    mmio 00000000feb00a00/0000000000000200
    bus: virtio-mmio-bus.29
      type virtio-mmio-bus
      dev: virtio-rng-device, id "vrng0"
"""


def stats(**kw):
    """An x-suspend-stats value: every counter 0 but those given."""
    names = ("suspend-requests", "suspend-acks", "suspend-failures", "suspend-aborts",
             "resume-requests", "resumes", "resume-failures", "resets-after-driver-ok",
             "inflight-last", "inflight-total", "inflight-max", "suspends-with-inflight",
             "pending-total", "notifications-held", "notifications-released",
             "config-changes-deferred", "features-refused", "notifies-before-driver-ok",
             "violations", "device-bugs")
    st = dict.fromkeys(names, 0)
    for k, v in kw.items():
        st[k.replace("_", "-")] = v
    return st


CLEAN = stats(suspend_requests=3, suspend_acks=3, resume_requests=3, resumes=3,
              inflight_total=4, inflight_max=2, inflight_last=1, suspends_with_inflight=2)


class DeviceAccounting(unittest.TestCase):
    """accounting_problems(): QEMU's x-suspend-stats of each device against
    the module's sysfs counters (init.sh's "vdev" lines) and the
    scenario's expect_path."""

    def vdev(self, name="virtio0", key="mmio:feb00e00", **kw):
        fields = dict(dialect="spec", suspends=3, resumes=3, fallbacks=0, timeouts=0,
                      needs_reset=0)
        fields.update(kw)
        return (f"vs-runner: vdev {name} key={key} "
                + " ".join(f"{k}={v}" for k, v in fields.items()))

    def problems(self, st, vdev=None, expect=None, key="mmio:feb00e00", done=True):
        dev = {"kind": "blk", "props": {"suspend": "on"}}
        if expect:
            dev["expect_path"] = expect
        sc = scenario(qemu="patched", devices=[dev])
        console = GOOD.replace("vs-runner: kmemleak scanned",
                               (vdev if vdev is not None else self.vdev())
                               + "\nvs-runner: kmemleak scanned")
        r = parse(console, sc)
        if done:
            r.device_stats = [{"label": "blk0", "id": "vblk0", "device": dev, "key": key,
                               "stats": st, "error": None}]
        return r.problems + verdict.accounting_problems(sc, r)

    def assertFails(self, problems, text):
        self.assertTrue(any(text in str(p) for p in problems),
                        f"no problem with {text!r} in {[str(p) for p in problems]}")

    def test_qtree_gives_every_device_its_transport(self):
        self.assertEqual(qmp.qtree_transport_keys(QTREE),
                         {"vblk0": "mmio:feb00e00", "vnet0": "pci:01.0",
                          "vrng0": "mmio:feb00a00"})

    def test_vdev_line_parsed(self):
        r = parse(GOOD.replace("vs-runner: done", self.vdev(suspends=7) + "\nvs-runner: done"))
        self.assertEqual(r.guest_devices["mmio:feb00e00"]["suspends"], 7)
        self.assertEqual(r.guest_devices["mmio:feb00e00"]["name"], "virtio0")
        self.assertEqual(r.problems, [])

    def test_accounting_marker_reads_the_counters(self):
        sc = scenario(qemu="patched")
        r = model.ScenarioRun("t")
        parser = GuestOutput(r, sc["tests"])
        parser.read_device_stats = lambda: ["read"]
        for line in GOOD.replace("vs-runner: kmemleak scanned",
                                 self.vdev() + "\nvs-runner: accounting\n"
                                 "vs-runner: kmemleak scanned").splitlines():
            parser.line(line)
        self.assertEqual(r.device_stats, ["read"])
        self.assertIn("mmio:feb00e00", r.guest_devices)

    def test_kernel_line_glued_to_a_marker(self):
        # printk reached the console between init.sh's marker and its
        # newline (a CI-like run: "the guest reported no kmemleak scan").
        hrtimer = "hrtimer: interrupt took 98780981 ns"
        for marker in ("vs-runner: kmemleak scanned", "vs-runner: done",
                       "vs-runner: test-end alpha rc=0"):
            with self.subTest(marker=marker):
                r = parse(GOOD.replace(marker, marker + hrtimer + "\n"), kmemleak=True)
                self.assertEqual(r.problems, [])
                self.assertEqual(r.kmemleak, "scanned")
                self.assertTrue(r.done)
                self.assertEqual(r.ended, ["alpha"])
                self.assertTrue(passed(scenario(), r))

    def test_kernel_problem_glued_to_a_marker_is_seen_once(self):
        r = parse(GOOD.replace("vs-runner: done",
                               "vs-runner: doneBUG: kernel NULL pointer dereference"))
        self.assertTrue(r.done)
        self.assertEqual(["BUG: kernel NULL pointer dereference"], [p.text for p in r.problems])

    def test_exit_code_of_several_digits_is_not_split(self):
        r = parse(GOOD.replace("vs-runner: test-end alpha rc=0", "vs-runner: test-end alpha rc=124"))
        self.assertIn("alpha: exited 124 with no failed test", [p.text for p in r.problems])

    def test_device_the_guest_cannot_place_fails(self):
        r = parse(GOOD.replace("vs-runner: done", self.vdev(key="?(/sys/devices/x/virtio0)")
                               + "\nvs-runner: done"))
        r.device_stats = []
        self.assertEqual([p.kind for p in verdict.accounting_problems(scenario(), r)],
                         ["accounting"])

    def test_agreeing_counters_pass(self):
        self.assertEqual(self.problems(CLEAN), [])
        self.assertEqual(self.problems(CLEAN, expect="suspend"), [])

    def test_counters_not_read_fail(self):
        self.assertFails(self.problems(CLEAN, done=False), "counters were not read")
        st = None
        r = self.problems(st)
        self.assertFails(r, "x-suspend-stats not read")

    def test_silent_reset_path_fails(self):
        # The module counts suspends it never did: the device acknowledged
        # none and was reset at each cycle instead.
        st = stats(resets_after_driver_ok=3)
        self.assertFails(self.problems(st), "the device acknowledged 0 suspends, the module "
                                            "(virtio0) counted 3")
        # The module counts nothing at all: only the declared path catches it.
        quiet = self.vdev(suspends=0, resumes=0)
        self.assertEqual(self.problems(st, quiet), [])
        problems = self.problems(st, quiet, expect="suspend")
        self.assertFails(problems, "the device acknowledged no suspend")
        self.assertFails(problems, "reset 3 times after DRIVER_OK")

    def test_reset_while_declared_suspend_path_fails(self):
        st = dict(CLEAN, **{"resets-after-driver-ok": 1})
        self.assertEqual(self.problems(st), [])
        self.assertFails(self.problems(st, expect="suspend"),
                         "declared on the SUSPEND path, the device was reset 1 times")

    def test_firmware_resets_are_not_the_modules(self):
        dev = {"kind": "blk", "props": {"suspend": "on"}, "expect_path": "suspend",
               "firmware_resets": 1}
        sc = scenario(qemu="patched", devices=[dev])
        console = GOOD.replace("vs-runner: kmemleak scanned",
                               self.vdev() + "\nvs-runner: kmemleak scanned")

        def problems(resets):
            r = parse(console, sc)
            r.device_stats = [{"label": "blk0", "id": "vblk0", "device": dev,
                               "key": "mmio:feb00e00", "error": None,
                               "stats": dict(CLEAN, **{"resets-after-driver-ok": resets})}]
            return verdict.accounting_problems(sc, r)
        self.assertEqual(problems(1), [])
        self.assertFails(problems(2), "declared on the SUSPEND path, the device was reset "
                                      "1 times")
        self.assertFails(problems(0), "declared 1 resets by the firmware, the device saw 0")

    def test_fallback_while_declared_suspend_path_fails(self):
        self.assertFails(self.problems(CLEAN, self.vdev(fallbacks=1), expect="suspend"),
                         "counted 1 fallbacks")

    def test_suspend_request_the_module_did_not_count_fails(self):
        st = dict(CLEAN, **{"suspend-requests": 4, "suspend-aborts": 1})
        self.assertFails(self.problems(st), "the device saw 4 SUSPEND requests, the module "
                                            "(virtio0) counted 3 suspends and 0 fallbacks")
        # Counted as a fallback: fine.
        self.assertEqual(self.problems(st, self.vdev(fallbacks=1, timeouts=1)), [])

    def test_resume_the_module_did_not_count_fails(self):
        self.assertFails(self.problems(CLEAN, self.vdev(resumes=2)),
                         "the device resumed 3 times, the module (virtio0) counted 2")

    def test_stop_dialect_restarts_by_reset(self):
        st = dict(CLEAN, resumes=0, **{"resume-requests": 0, "resets-after-driver-ok": 3})
        self.assertEqual(self.problems(st, self.vdev(dialect="stop")), [])
        self.assertFails(self.problems(st), "the device resumed 0 times")

    def test_suspend_path_device_missing_in_guest_fails(self):
        self.assertFails(self.problems(CLEAN, "", expect="suspend"),
                         "no device of our transport at mmio:feb00e00")

    def test_reset_path(self):
        st = stats(resets_after_driver_ok=2)
        none = self.vdev(dialect="none", suspends=0, resumes=0)
        self.assertEqual(self.problems(st, none, expect="reset"), [])
        self.assertFails(self.problems(stats(), none, expect="reset"), "never reset")
        self.assertFails(self.problems(CLEAN, expect="reset"), "saw 3 SUSPEND requests")

    def test_fault_path(self):
        st = stats(suspend_requests=2, suspend_failures=2, resets_after_driver_ok=2)
        faulty = self.vdev(suspends=0, resumes=0, fallbacks=2, needs_reset=2)
        self.assertEqual(self.problems(st, faulty, expect="fault"), [])
        self.assertFails(self.problems(CLEAN, expect="fault"), "declared faulty, no suspend")
        self.assertFails(self.problems(st, self.vdev(suspends=0, resumes=0), expect="fault"),
                         "counted no fallback")

    def test_broken_path(self):
        st = stats(suspend_requests=1, suspend_aborts=1, resets_after_driver_ok=1,
                   features_refused=1)
        broken = self.vdev(suspends=0, resumes=0, fallbacks=1, timeouts=1, state="broken",
                           disk="vdb")
        self.assertEqual(self.problems(st, broken, expect="broken"), [])
        self.assertFails(self.problems(st, broken.replace("state=broken", "state=running"),
                                       expect="broken"),
                         "declared broken, the module (virtio0) left it running")
        self.assertFails(self.problems(st, "", expect="broken"),
                         "declared broken, but no device of our transport")
        self.assertFails(self.problems(stats(suspend_requests=1, suspend_acks=1), broken,
                                       expect="broken"),
                         "declared broken, no suspend or resume failed")
        # The driver went on after the refused set-up: it notified a
        # device that does not run.
        self.assertFails(self.problems(dict(st, **{"notifies-before-driver-ok": 2}), broken,
                                       expect="broken"),
                         "declared broken, the device got 2 queue notifications while its "
                         "status had no DRIVER_OK")

    def test_restore_failed_path(self):
        st = stats(resets_after_driver_ok=1, features_refused=1)
        broken = self.vdev(dialect="none", suspends=0, resumes=0, state="broken")
        self.assertEqual(self.problems(st, broken, expect="restore-failed"), [])
        self.assertFails(self.problems(st, broken.replace("state=broken", "state=running"),
                                       expect="restore-failed"),
                         "declared broken, the module (virtio0) left it running")
        self.assertFails(self.problems(stats(resets_after_driver_ok=1), broken,
                                       expect="restore-failed"),
                         "declared a failed restore, the device refused no FEATURES_OK")
        self.assertFails(self.problems(stats(features_refused=1), broken,
                                       expect="restore-failed"),
                         "declared a failed restore, the device was never reset")
        self.assertFails(self.problems(dict(st, **{"suspend-requests": 1}), broken,
                                       expect="restore-failed"),
                         "declared a failed restore, the device saw 1 SUSPEND requests")
        # The driver, restored onto the detached device, reached it.
        self.assertFails(self.problems(dict(st, **{"notifies-before-driver-ok": 1}), broken,
                                       expect="restore-failed"),
                         "the device got 1 queue notifications while its status had no "
                         "DRIVER_OK")

    def test_vanished_path(self):
        # QEMU counts nothing of a device once it vanished.
        broken = self.vdev(dialect="none", suspends=0, resumes=0, state="broken")
        self.assertEqual(self.problems(stats(), broken, expect="vanished"), [])
        self.assertFails(self.problems(stats(), broken.replace("state=broken", "state=running"),
                                       expect="vanished"),
                         "declared broken, the module (virtio0) left it running")
        self.assertFails(self.problems(stats(suspend_requests=1), broken, expect="vanished"),
                         "declared vanished, the device saw 1 SUSPEND requests")

    def test_accounting_problem_fails_verdict(self):
        sc = scenario(qemu="patched")
        r = parse(GOOD, sc, problems=self.problems(stats(suspend_requests=1, suspend_acks=1)))
        self.assertFalse(passed(sc, r))

    def test_inflight_notes(self):
        r = parse(GOOD.replace("vs-runner: done", self.vdev() + "\nvs-runner: done"))
        r.device_stats = [{"label": "blk0", "id": "vblk0", "device": {}, "key": "mmio:feb00e00",
                           "stats": CLEAN, "error": None},
                          {"label": "rng0", "id": "vrng0", "device": {}, "key": None,
                           "stats": stats(), "error": None}]
        self.assertEqual(verdict.inflight_notes(r), [
            "device blk0 = virtio0: 3 SUSPEND requests, 3 acknowledged, 2 (66.7%) with elements "
            "in flight, 4 in flight in all (max 2), 0 available not taken; 0 resets after "
            "DRIVER_OK"])

    def test_accounting_only_on_our_qemu(self):
        self.assertTrue(qmp.device_accounting(scenario(qemu="patched")))
        self.assertFalse(qmp.device_accounting(scenario()))
        self.assertFalse(qmp.device_accounting(scenario(qemu="patched", device_accounting=False)))
        self.assertFalse(qmp.device_accounting(scenario(qemu="patched", shell=True)))

    def test_expect_path_is_validated(self):
        self.assertEqual(scenarios.scenario_errors(keys_of(devices=[
            {"kind": "blk", "expect_path": "suspend"}])), [])
        self.assertNotEqual(scenarios.scenario_errors(keys_of(devices=[
            {"kind": "blk", "expect_path": "classic"}])), [])


class BrokenDiskIoErrors(unittest.TestCase):
    """Block I/O errors fail a scenario, except on the disk of a device
    it declares broken (or its restore failed) that the guest reported
    broken (broken_disks())."""

    IO_ERRORS = ("[   20.1] I/O error, dev vdb, sector 0 op 0x1:(WRITE) flags 0x8800 "
                 "phys_seg 1 prio class 2\n"
                 "[   20.2] Buffer I/O error on dev vdb, logical block 0, async page read")

    def run_with(self, state="broken", expect="broken", disk="vdb", errors=IO_ERRORS):
        dev = {"kind": "blk", "props": {"suspend": "on"}, "expect_path": expect}
        sc = scenario(qemu="patched", devices=[dev])
        r = model.ScenarioRun("t")
        parser = GuestOutput(r, sc["tests"])
        parser.read_device_stats = lambda: [{
            "label": "blk0", "id": "vblk0", "device": dev, "key": "mmio:feb00e00",
            "stats": stats(suspend_requests=1, suspend_aborts=1), "error": None}]
        vdev = ("vs-runner: vdev virtio0 key=mmio:feb00e00 dialect=spec suspends=0 "
                f"resumes=0 fallbacks=1 timeouts=1 needs_reset=0 state={state} disk={disk}")
        console = GOOD.replace("vs-runner: init 6.12.117", "vs-runner: init 6.12.117\n" + errors)
        console = console.replace("vs-runner: kmemleak scanned",
                                  vdev + "\nvs-runner: accounting\nvs-runner: kmemleak scanned")
        for line in console.splitlines():
            parser.line(line)
        r.outcome, r.exit_code = "exited", 0
        parser.finish()
        return [p for p in r.problems if p.kind == "kernel"]

    def test_io_errors_on_the_broken_disk_pass(self):
        self.assertEqual(self.run_with(), [])
        # A device whose restore failed is broken too, and one that
        # vanished.
        self.assertEqual(self.run_with(expect="restore-failed"), [])
        self.assertEqual(self.run_with(expect="vanished"), [])

    def test_io_errors_on_another_disk_fail(self):
        self.assertEqual(len(self.run_with(disk="vda")), 2)

    def test_io_errors_on_a_disk_the_guest_left_running_fail(self):
        self.assertEqual(len(self.run_with(state="running")), 2)

    def test_io_errors_on_a_disk_not_declared_broken_fail(self):
        self.assertEqual(len(self.run_with(expect="fault")), 2)

    def test_io_errors_without_device_accounting_fail(self):
        r = parse(GOOD + "\n" + self.IO_ERRORS)
        self.assertEqual(len([p for p in r.problems if p.kind == "kernel"]), 2)

    def test_other_kernel_problems_still_fail(self):
        self.assertEqual(len(self.run_with(errors="WARNING: CPU: 0 PID: 1 at x")), 1)


class QemuLog(unittest.TestCase):
    LINES = {
        "violation": "virtio-suspend: violation: virtio-rng at /virtio-mmio@feb00e00: "
                     "queue 0 notified while suspended",
        "before_driver_ok": "virtio-suspend: virtio-blk at /x: status 0x17: SUSPEND written "
                            "before DRIVER_OK, ignored",
        "while_suspended": "virtio-suspend: virtio-blk at /x: status 0x0f written while "
                           "suspended, ignored",
        "config_write": "virtio-suspend: virtio-blk at /x: 4-byte configuration space write "
                        "at offset 0x0 while suspended, ignored",
        "other_guest_error": "virtio_mmio: wrong register offset 0x999",
    }

    def problems(self, text):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "qemu.log"
            p.write_text(text)
            return verdict.qemu_log_problems(p)

    def test_every_virtio_suspend_wording_fails(self):
        for key, line in self.LINES.items():
            with self.subTest(line=key):
                r = parse(GOOD, problems=self.problems(line + "\n"))
                self.assertFalse(passed(scenario(), r))

    def test_allowed_lines_are_not_problems_but_violations_are(self):
        allow = [r"Invalid write at addr 0xB0[0-9A-F]{6}, size \d, region '\(null\)', "
                 r"reason: rejected"]
        seabios = "Invalid write at addr 0xB00F8040, size 4, region '(null)', reason: rejected"
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "qemu.log"
            p.write_text(seabios + "\n" + self.LINES["violation"] + "\n"
                         + seabios.replace("0xB0", "0xC0") + "\n")
            problems = verdict.qemu_log_problems(p, allow)
        self.assertEqual([pr.kind for pr in problems], ["violation", "qemu-log"])
        self.assertIn("0xC00F8040", problems[1].text)

    def test_trace_lines_are_not_problems(self):
        text = "virtio_set_status vdev 0x5603 val 0\n123@1700000000.000001:virtio_set_status vdev 0x1 val 15\n"
        self.assertEqual(self.problems(text), [])

    def test_expect_violation_passes_on_violation_line(self):
        sc = scenario(expect="violation")
        r = parse(GOOD, problems=self.problems(self.LINES["violation"] + "\n"))
        self.assertTrue(passed(sc, r))

    def test_expect_violation_needs_a_violation_line(self):
        sc = scenario(expect="violation")
        check = "t: QEMU reported the driver's violation"
        resets = [model.Problem("resets", "device 0x1 was reset 1 times after set-up")]
        cases = {key: self.problems(self.LINES[key] + "\n")
                 for key in ("before_driver_ok", "while_suspended", "other_guest_error")}
        cases.update(resets=resets, nothing=[])
        for key, problems in cases.items():
            with self.subTest(case=key):
                results = verdict.verdict(sc, parse(GOOD, problems=problems))
                self.assertFalse(verdict.scenario_passed(results))
                [result] = [r for r in results if r.name == check]
                self.assertEqual(result.status, "fail")

    def test_expect_violation_of_a_named_kind(self):
        sc = scenario(expect="violation", expect_violation="queue 0 notified while suspended")
        r = parse(GOOD, problems=self.problems(self.LINES["violation"] + "\n"))
        self.assertTrue(passed(sc, r))
        other = self.LINES["violation"].replace("queue 0 notified", "queue 1 notified")
        for text in (other, self.LINES["violation"] + "\n" + other):
            with self.subTest(text=text):
                r = parse(GOOD, problems=self.problems(text + "\n"))
                self.assertIn("t: a violation other than 'queue 0 notified while suspended'",
                              failures(sc, r))

    def test_expect_violation_needs_expect_violation(self):
        self.assertEqual(scenarios.scenario_errors(keys_of(expect_violation="x")),
                         ['expect_violation needs expect = "violation"'])

    def test_expect_violation_still_fails_other_problems(self):
        sc = scenario(expect="violation")
        text = self.LINES["violation"] + "\n" + self.LINES["while_suspended"] + "\n"
        self.assertFalse(passed(sc, parse(GOOD, problems=self.problems(text))))
        console = GOOD + "\nBUG: unable to handle page fault"
        self.assertFalse(passed(sc, parse(console, problems=self.problems(
            self.LINES["violation"] + "\n"))))


class NegativeControls(unittest.TestCase):
    """expect_fail: named results must be there and fail."""

    SC = scenario(expect_fail=["alpha: case_2"])

    def test_the_named_failure_passes(self):
        console = GOOD.replace(tap("alpha", 3), tap("alpha", 3, failed=(2,)))
        results = verdict.verdict(self.SC, parse(console))
        self.assertTrue(verdict.scenario_passed(results), results)
        self.assertIn("alpha: case_2: failed as it must (negative control)",
                      [r.name for r in results])

    def test_a_control_that_passes_fails(self):
        self.assertEqual(failures(self.SC, parse(GOOD)),
                         ["alpha: case_2: negative control did not fail"])

    def test_a_control_that_never_ran_fails(self):
        console = GOOD.replace(tap("alpha", 3), tap("alpha", 1))
        self.assertEqual(failures(self.SC, parse(console)),
                         ["alpha: case_2: negative control never ran"])

    def test_other_failures_still_fail(self):
        console = GOOD.replace(tap("alpha", 3), tap("alpha", 3, failed=(1, 2)))
        self.assertEqual(failures(self.SC, parse(console)), ["alpha: case_1"])

    def test_a_control_must_name_a_test_of_the_scenario(self):
        self.assertEqual(scenarios.scenario_errors(keys_of(expect_fail=["beta: case_1"])),
                         ["expect_fail: 'beta: case_1' names no test of the scenario "
                          '(a result is "binary: case")'])


class KernelProblems(unittest.TestCase):
    CAUGHT = [
        "rcu: INFO: rcu_sched self-detected stall on CPU",
        "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
        "rcu_sched self-detected stall on CPU",
        "I/O error, dev vda, sector 0 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2",
        "Buffer I/O error on dev vda, logical block 0, lost async page write",
        "INFO: task kworker/0:1:12 blocked for more than 30 seconds.",
        "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [stress:80]",
        "BUG: KFENCE: use-after-free read in virtio_suspend_remove+0x1/0x2",
        # The KCSAN kernel (make check-kcsan): a data race, an assertion.
        "BUG: KCSAN: data-race in virtqueue_add_split / virtqueue_resume_held",
        "BUG: KCSAN: assert: race in virtqueue_hold_check+0x1/0x2",
        "BUG kmalloc-64 (Tainted: G           O      ): Poison overwritten",
        "BUG kmalloc-rnd-05-128 (Not tainted): Object already free",
        "Poison overwritten",
        "Redzone overwritten",
        "ODEBUG: free active (active state 0) object: 0000 object type: timer_list",
        "unreferenced object 0xffff888003a1c000 (size 64):",
        "Call Trace:",
        "WARNING: CPU: 1 PID: 7 at drivers/virtio/virtio.c:1 f+0x1/0x2",
        "kmemleak: Kernel memory leak detector disabled",
        "virtio_rng virtio1: input:id 0 is not a head!",
        "virtio_net virtio2: output.0:id 300 out of range",
        "APIC frequency too slow, disabling apic timer",
    ]
    CLEAN = [
        "virtio_blk virtio0: [vda] 16384 512-byte logical blocks (8.39 MB/8.00 MiB)",
        "PM: suspend entry (s2idle)",
        "clocksource: Switched to clocksource tsc",
        "kmemleak: Kernel memory leak detector initialized (mem pool available: 15798)",
        "kcsan: enabled early",
        "kcsan: selftest: 3/3 tests passed",
    ]

    def test_caught(self):
        for line in self.CAUGHT:
            with self.subTest(line=line):
                self.assertFalse(passed(scenario(), parse(GOOD + "\n" + line)))

    def test_clean_lines(self):
        for line in self.CLEAN:
            with self.subTest(line=line):
                self.assertTrue(passed(scenario(), parse(GOOD + "\n" + line)))

    def test_call_trace_of_a_warning_counts_once(self):
        console = GOOD + "\nWARNING: CPU: 0 at x\nModules linked in:\nCall Trace:\n <TASK>"
        r = parse(console)
        self.assertEqual(len([p for p in r.problems if p.kind == "kernel"]), 1)


class Kmemleak(unittest.TestCase):
    REPORT = "\n".join([
        "vs-kmemleak: unreferenced object 0xffff888003a1c000 (size 64):",
        'vs-kmemleak:   comm "modprobe", pid 80, jiffies 4294893000',
        "vs-kmemleak:   hex dump (first 32 bytes):",
        "vs-kmemleak:     00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................",
        "vs-kmemleak:   backtrace (crc 0):",
        "vs-kmemleak:     [<ffffffff8123>] __kmalloc_noprof+0x1/0x2",
        "vs-kmemleak:     [<ffffffffa000>] virtio_suspend_probe+0x10/0x20 [virtio_suspend]",
        "vs-kmemleak: unreferenced object 0xffff888003a1d000 (size 32):",
    ])

    def test_leak_fails_with_count(self):
        console = GOOD.replace("vs-runner: kmemleak scanned",
                               self.REPORT + "\nvs-runner: kmemleak scanned")
        r = parse(console, kmemleak=True)
        self.assertFalse(passed(scenario(), r))
        [p] = [p for p in r.problems if p.kind == "kmemleak"]
        self.assertIn("2 unreferenced objects", p.text)
        self.assertIn("virtio_suspend_probe", p.text)

    def test_missing_kmemleak_fails_where_expected(self):
        console = GOOD.replace("vs-runner: kmemleak scanned", "vs-runner: kmemleak missing")
        self.assertFalse(passed(scenario(), parse(console, kmemleak=True)))
        self.assertTrue(passed(scenario(), parse(console, kmemleak=False)))

    def test_no_scan_reported_fails_where_expected(self):
        console = GOOD.replace("vs-runner: kmemleak scanned\n", "")
        self.assertFalse(passed(scenario(), parse(console, kmemleak=True)))

    def test_init_scans_twice_then_reports(self):
        init = (config.TOP / "tools" / "runner" / "init.sh").read_text()
        body = init.split("kmemleak_check() {", 1)[1].split("\n}\n", 1)[0]
        self.assertEqual(body.count("echo scan > $f"), 2)
        self.assertIn("vs-kmemleak: ", body)
        finish = init.split("finish() {", 1)[1].split("\n}\n", 1)[0]
        self.assertLess(finish.index("kmemleak_check"), finish.index('echo "vs-runner: done"'))

    def test_scenario_console_goes_before_the_runners(self):
        sc = scenario(cmdline=["console=hvc0", "no_console_suspend"])
        with tempfile.TemporaryDirectory() as d:
            cmd = qemu.qemu_command(sc, Path(d), Path(d) / "i", Path(d), "tcg")
        words = cmd[cmd.index("-append") + 1].split()
        consoles = [w for w in words if w.startswith("console=")]
        self.assertEqual(consoles, ["console=hvc0", "console=ttyS0"])
        self.assertIn("no_console_suspend", words)

    def test_kernel_with_pvh_boots_its_elf_on_microvm(self):
        with tempfile.TemporaryDirectory() as d:
            kdir = Path(d)

            def image(**keys: str) -> str:
                cmd = qemu.qemu_command(scenario(**keys), kdir, kdir / "i", kdir, "tcg")
                return cmd[cmd.index("-kernel") + 1]
            bzimage = str(kdir / "arch" / "x86" / "boot" / "bzImage")
            (kdir / ".config").write_text("CONFIG_PVH=y\n")
            self.assertEqual(image(), str(kdir / "vmlinux"))
            self.assertEqual(image(bus="pci"), str(kdir / "vmlinux"))
            # q35's S3 wake-up resets a PVH-booted guest.
            self.assertEqual(image(machine="q35"), bzimage)
            (kdir / ".config").write_text("# CONFIG_PVH is not set\n")
            self.assertEqual(image(), bzimage)

    def test_slub_debug_on_command_line(self):
        with tempfile.TemporaryDirectory() as d:
            cmd = qemu.qemu_command(scenario(), Path(d), Path(d) / "i", Path(d), "tcg")
        self.assertIn("slub_debug=FZP", cmd[cmd.index("-append") + 1].split())

    def test_control_file_takes_the_reset_based_path(self):
        # The tests cross the reset-based path through debugfs: without
        # the word, the control file refuses where SUSPEND cannot do.
        with tempfile.TemporaryDirectory() as d:
            cmd = qemu.qemu_command(scenario(), Path(d), Path(d) / "i", Path(d), "tcg")
        self.assertIn("virtio_suspend.control_classic=Y",
                      cmd[cmd.index("-append") + 1].split())


class Kcsan(unittest.TestCase):
    """The KCSAN kernel (make check-kcsan): its counters prove it watched."""
    WATCHED = ("vs-runner: kcsan enabled=1 used_watchpoints=0 setup_watchpoints=81234 "
               "data_races=3 assert_failures=0 no_capacity=0 report_races=0")

    def console(self, line):
        return GOOD.replace("vs-runner: done", line + "\nvs-runner: done")

    def test_watched_passes_with_counters(self):
        r = parse(self.console(self.WATCHED), kcsan=True)
        self.assertTrue(passed(scenario(), r))
        self.assertEqual(r.kcsan["setup_watchpoints"], 81234)
        self.assertEqual(r.kcsan["data_races"], 3)

    def test_no_counters_fails_where_expected(self):
        self.assertFalse(passed(scenario(), parse(GOOD, kcsan=True)))
        self.assertTrue(passed(scenario(), parse(GOOD, kcsan=False)))

    def test_kcsan_that_never_watched_fails(self):
        for line in (self.WATCHED.replace("enabled=1", "enabled=0"),
                     self.WATCHED.replace("setup_watchpoints=81234", "setup_watchpoints=0")):
            with self.subTest(line=line):
                r = parse(self.console(line), kcsan=True)
                self.assertFalse(passed(scenario(), r))
                self.assertIn("KCSAN did not watch", str(r.problems))

    def test_init_reports_before_done(self):
        init = (config.TOP / "tools" / "runner" / "init.sh").read_text()
        finish = init.split("finish() {", 1)[1].split("\n}\n", 1)[0]
        self.assertLess(finish.index("kcsan_report"), finish.index('echo "vs-runner: done"'))


class HangCheck(unittest.TestCase):
    HANG = scenario(tests=["hang"], expect="timeout", timeout=70)
    BOOTED = "vs-runner: init x\nvs-runner: test-begin hang\nTAP version 13\n1..1\n"

    def test_hang_in_test_passes(self):
        self.assertTrue(passed(self.HANG, parse(self.BOOTED, self.HANG, outcome="timeout")))

    def test_guest_that_never_boots_fails(self):
        r = parse("Linux version 6.12\ntsc: Unable to calibrate", self.HANG, outcome="timeout")
        self.assertFalse(passed(self.HANG, r))
        r = parse("Linux version 6.12", self.HANG, outcome="boot")
        self.assertFalse(passed(self.HANG, r))

    def test_hang_before_the_test_fails(self):
        r = parse("vs-runner: init x\nvs-runner: modprobe foo", self.HANG, outcome="timeout")
        self.assertFalse(passed(self.HANG, r))

    def test_guest_that_finishes_fails(self):
        console = self.BOOTED + "ok 1 x\nvs-runner: test-end hang rc=0\nvs-runner: done"
        self.assertFalse(passed(self.HANG, parse(console, self.HANG)))

    def test_kernel_problem_while_hanging_fails(self):
        r = parse(self.BOOTED + "BUG: oops", self.HANG, outcome="timeout")
        self.assertFalse(passed(self.HANG, r))

    def test_hang_scenario_outlives_boot_timeout(self):
        sc = scenarios.load_scenario("hang")
        self.assertGreater(sc["timeout"], config.BOOT_TIMEOUT + 10)
        self.assertEqual(sc["expect"], "timeout")
        del sc["name"]
        self.assertEqual(scenarios.scenario_errors(sc), [])
        self.assertIn("timeout", str(scenarios.scenario_errors(dict(sc, timeout=config.BOOT_TIMEOUT))))


class TimeoutScale(unittest.TestCase):
    """--timeout-scale (make check-kcsan) stretches the boot limit and
    every scenario's timeout, not the scenario files."""

    def setUp(self):
        self.addCleanup(setattr, config, "TIMEOUT_SCALE", config.TIMEOUT_SCALE)

    def test_unscaled(self):
        self.assertEqual(config.scenario_timeout(scenario(timeout=240)), 240)
        self.assertEqual(config.scenario_timeout(scenario()), 300)
        self.assertEqual(config.boot_timeout(), config.BOOT_TIMEOUT)

    def test_scaled(self):
        config.TIMEOUT_SCALE = 4
        self.assertEqual(config.scenario_timeout(scenario(timeout=240)), 960)
        self.assertEqual(config.boot_timeout(), 4 * config.BOOT_TIMEOUT)
        r = parse("vs-runner: init x\nvs-runner: test-begin alpha", outcome="timeout")
        self.assertIn("t: guest timed out after 1200 s in test alpha",
                      failures(scenario(), r))

    def test_guest_tests_get_the_scale(self):
        """vs_timeout.c scales the tests' alarm()s by VS_TIMEOUT_SCALE."""
        def words():
            with tempfile.TemporaryDirectory() as d:
                cmd = qemu.qemu_command(scenario(), Path(d), Path(d) / "i", Path(d), "tcg")
            return cmd[cmd.index("-append") + 1].split()
        self.assertNotIn("VS_TIMEOUT_SCALE", " ".join(words()))
        config.TIMEOUT_SCALE = 4
        self.assertIn("VS_TIMEOUT_SCALE=4", words())


class ScenarioInitrd(unittest.TestCase):
    """Each guest's initramfs is the common one and the archives of
    exactly the binaries its init runs, the tests and vs_bench."""

    def test_common_part_and_the_scenarios_tests(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            (d / "selftests").mkdir()
            (d / "initramfs.cpio").write_bytes(b"common;")
            (d / "fio.cpio").write_bytes(b"fio;")
            for name in ("alpha", "beta", "gamma", "vs_bench"):
                (d / "selftests" / f"{name}.cpio").write_bytes(f"{name};".encode())
            rundir = d / "run"
            rundir.mkdir()
            sc = scenario(tests=["gamma", "alpha"])
            path = initramfs.scenario_initrd(sc, d / "initramfs.cpio", rundir)
            self.assertEqual(path.read_bytes(), b"common;gamma;alpha;")
            sc["env"] = {"VS_BENCH": "latency:all:10"}
            path = initramfs.scenario_initrd(sc, d / "initramfs.cpio", rundir)
            # vs_bench runs fio.
            self.assertEqual(path.read_bytes(), b"common;fio;gamma;alpha;vs_bench;")

    def test_fio_only_for_tests_that_run_it(self):
        """fio's archive comes after the common one when a test binary's
        sources (a header it includes among them) name /bin/fio, or the
        guest is a shell."""
        saved = config.SELFTESTS
        self.addCleanup(setattr, config, "SELFTESTS", saved)
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            config.SELFTESTS = d / "src"
            config.SELFTESTS.mkdir()
            (config.SELFTESTS / "plain.c").write_text('#include "util.h"\n')
            (config.SELFTESTS / "util.h").write_text("int x;\n")
            (config.SELFTESTS / "direct.c").write_text('char *f = "/bin/fio";\n')
            (config.SELFTESTS / "via.c").write_text('#include "runs_fio.h"\n')
            (config.SELFTESTS / "runs_fio.h").write_text('#define FIO "/bin/fio"\n')
            (d / "selftests").mkdir()
            (d / "initramfs.cpio").write_bytes(b"common;")
            (d / "fio.cpio").write_bytes(b"fio;")
            for name in ("plain", "direct", "via"):
                (d / "selftests" / f"{name}.cpio").write_bytes(f"{name};".encode())
            rundir = d / "run"
            rundir.mkdir()
            for tests, want in ((["plain"], b"common;plain;"),
                                (["plain", "direct"], b"common;fio;plain;direct;"),
                                (["via"], b"common;fio;via;")):
                path = initramfs.scenario_initrd(scenario(tests=tests), d / "initramfs.cpio",
                                                 rundir)
                self.assertEqual(path.read_bytes(), want, tests)
            sc = scenario(tests=["plain"])
            sc["shell"] = True
            path = initramfs.scenario_initrd(sc, d / "initramfs.cpio", rundir)
            self.assertEqual(path.read_bytes(), b"common;fio;plain;")


class RealSleep(unittest.TestCase):
    """s3_problems(): the real sleeps the guest reported against the times
    the runner found QEMU suspended and woke it."""

    def run_with(self, sleeps, wakeups):
        r = parse(GOOD.replace("vs-runner: done",
                               "vs-sleep: mem\n" * sleeps + "vs-runner: done"))
        r.s3_wakeups = wakeups
        return r

    def test_sleep_lines_parsed(self):
        r = self.run_with(3, 0)
        self.assertEqual(r.sleeps, ["mem"] * 3)
        self.assertEqual(r.problems, [])

    def test_every_sleep_seen_by_qemu_passes(self):
        self.assertEqual(verdict.s3_problems({"s3_wakeups": 3}, self.run_with(3, 3)), [])

    def test_sleep_qemu_never_saw_fails(self):
        # The guest's sleep request reached no register: it came back at
        # once, its kernel counting a success (q35 after the first S3
        # without QEMU patch 0034).
        problems = verdict.s3_problems({"s3_wakeups": 3}, self.run_with(21, 1))
        self.assertTrue(any("the guest reported 21 real sleeps" in str(p) and
                            "woken 1 times" in str(p) for p in problems), problems)

    def test_fewer_sleeps_than_declared_fails(self):
        problems = verdict.s3_problems({"s3_wakeups": 4}, self.run_with(3, 3))
        self.assertTrue(any("3 real sleeps, the scenario declares s3_wakeups = 4" in str(p)
                            for p in problems), problems)

    def test_scenario_key_checked(self):
        for bad in (0, "4", True):
            with self.subTest(s3_wakeups=bad):
                self.assertNotEqual(scenarios.scenario_errors(keys_of(s3_wakeups=bad)), [])
        self.assertEqual(scenarios.scenario_errors(keys_of(s3_wakeups=4)), [])


class RealS2idle(unittest.TestCase):
    """s2idle_problems() and the parser's entering_s2idle, which starts
    and stops the runner's power button presses."""

    def run_with(self, sleeps, presses):
        r = parse(GOOD.replace("vs-runner: done",
                               "vs-sleep-enter: freeze\nvs-sleep: freeze\n" * sleeps
                               + "vs-runner: done"))
        r.button_presses = presses
        return r

    def test_presses_only_while_entering(self):
        r = model.ScenarioRun("x", log=None)
        p = GuestOutput(r, [])
        self.assertFalse(p.entering_s2idle.is_set())
        p.line("vs-sleep-enter: freeze")
        self.assertTrue(p.entering_s2idle.is_set())
        p.line("vs-sleep: freeze")
        self.assertFalse(p.entering_s2idle.is_set())
        self.assertEqual(r.sleeps, ["freeze"])
        # A refused sleep stops the presses too, and is no sleep.
        p.line("vs-sleep-enter: freeze")
        p.line("vs-sleep-failed: freeze")
        self.assertFalse(p.entering_s2idle.is_set())
        self.assertEqual(r.sleeps, ["freeze"])
        # So does a sleep a press ended before it idled, no real sleep.
        p.line("vs-sleep-enter: freeze")
        p.line("vs-sleep-unidled: freeze")
        self.assertFalse(p.entering_s2idle.is_set())
        self.assertEqual(r.sleeps, ["freeze"])

    def test_every_sleep_pressed_passes(self):
        self.assertEqual(verdict.s2idle_problems({"s2idle_wakeups": 3}, self.run_with(3, 5)), [])

    def test_sleep_without_press_fails(self):
        # Something else woke the guest (or it never idled): not the
        # sleep the scenario is about.
        problems = verdict.s2idle_problems({"s2idle_wakeups": 3}, self.run_with(3, 2))
        self.assertTrue(any("3 real s2idle sleeps" in str(p) and "2 times" in str(p)
                            for p in problems), problems)

    def test_fewer_sleeps_than_declared_fails(self):
        problems = verdict.s2idle_problems({"s2idle_wakeups": 4}, self.run_with(3, 3))
        self.assertTrue(any("s2idle_wakeups = 4" in str(p) for p in problems), problems)

    def test_mem_sleeps_do_not_count(self):
        r = self.run_with(0, 0)
        r.sleeps = ["mem"] * 4
        self.assertNotEqual(verdict.s2idle_problems({"s2idle_wakeups": 1}, r), [])

    def test_scenario_key_checked(self):
        for bad in (0, "4", True):
            with self.subTest(s2idle_wakeups=bad):
                self.assertNotEqual(scenarios.scenario_errors(keys_of(s2idle_wakeups=bad)), [])
        self.assertEqual(scenarios.scenario_errors(keys_of(s2idle_wakeups=4)), [])


class ScenarioKeys(unittest.TestCase):
    def test_every_scenario_is_valid(self):
        for p in sorted(config.SCENARIOS.glob("*.toml")):
            with self.subTest(scenario=p.stem):
                import tomllib
                self.assertEqual(scenarios.scenario_errors(tomllib.loads(p.read_text())), [])

    def test_unknown_key_is_named(self):
        errors = scenarios.scenario_errors(keys_of(timout=300))
        self.assertEqual(len(errors), 1)
        self.assertIn("'timout'", errors[0])
        self.assertIn("'timeout'", errors[0])

    def test_unknown_device_key_is_named(self):
        errors = scenarios.scenario_errors(keys_of(devices=[{"kind": "blk", "size": 8}]))
        self.assertTrue(any("'size'" in e for e in errors), errors)

    def test_types_checked(self):
        bad = [dict(timeout="300"), dict(tests="alpha"), dict(cpus=8), dict(cpus=True),
               dict(check="no"), dict(expect="fail"), dict(env={"A": [1]}),
               dict(devices=[{"kind": "disk"}]), dict(devices=[{"size_mib": 8}]),
               dict(mmio_version=3), dict(qemu="mine"), dict(memory_mib=1.5),
               dict(description=""), dict(bus="isa")]
        for keys in bad:
            with self.subTest(keys=keys):
                self.assertNotEqual(scenarios.scenario_errors(keys_of(**keys)), [])

    def test_pci_devices_sit_behind_root_ports_of_their_own(self):
        with tempfile.TemporaryDirectory() as d:
            args = qemu.device_args([{"kind": "rng", "props": {"vectors": 0}},
                                    {"kind": "console"}], Path(d), bus="pci")
        devices = [args[i + 1] for i, a in enumerate(args) if a == "-device"]
        self.assertEqual(devices, [
            "pcie-root-port,id=rp1,chassis=1",
            "virtio-rng-pci,bus=rp1,disable-legacy=on,romfile=,rng=rng0,id=vrng0,vectors=0",
            "pcie-root-port,id=rp2,chassis=2",
            "virtio-serial-pci,bus=rp2,disable-legacy=on,romfile=,id=vser0",
            "virtconsole,chardev=con0,bus=vser0.0",
        ])
        self.assertEqual(qemu.default_machine({"bus": "pci"}), "microvm,acpi=on,pcie=on")
        self.assertEqual(qemu.default_machine({"devices": [{"kind": "blk"}, {"kind": "blk", "bus": "pci"}]}),
                         "microvm,acpi=on,pcie=on")
        self.assertEqual(qemu.default_machine({}), "microvm,acpi=on")

    def test_drive_options_go_to_the_disk(self):
        with tempfile.TemporaryDirectory() as d:
            args = qemu.device_args([{"kind": "blk", "size_mib": 1,
                                     "drive": {"throttling.iops-total": 200}}], Path(d))
        self.assertIn(f"if=none,id=blk0,format=raw,file={d}/blk0.img,"
                      "throttling.iops-total=200", args)
        self.assertEqual(scenarios.scenario_errors(keys_of(devices=[
            {"kind": "blk", "drive": {"cache": "none"}}])), [])
        self.assertNotEqual(scenarios.scenario_errors(keys_of(devices=[
            {"kind": "rng", "drive": {"cache": "none"}}])), [])

    def test_a_device_may_choose_its_bus(self):
        with tempfile.TemporaryDirectory() as d:
            args = qemu.device_args([{"kind": "gpu"}, {"kind": "gpu", "bus": "pci"}], Path(d))
        devices = [args[i + 1] for i, a in enumerate(args) if a == "-device"]
        self.assertEqual(devices, ["virtio-gpu-device,id=vgpu0", "pcie-root-port,id=rp1,chassis=1",
                                   "virtio-gpu-pci,bus=rp1,disable-legacy=on,romfile=,id=vgpu1"])

    def test_virtio_fs_shares_the_guest_memory_with_its_backend(self):
        sc = scenario(memory_mib=256, devices=[{"kind": "fs", "props": {"suspend": "on"}},
                                               {"kind": "fs", "bus": "pci"}])
        with tempfile.TemporaryDirectory() as d:
            cmd = qemu.qemu_command(sc, Path(d), Path(d) / "i", Path(d), "tcg")
        self.assertEqual(cmd[cmd.index("-M") + 1],
                         "microvm,acpi=on,pcie=on,memory-backend=mem,dump-guest-core=off")
        self.assertEqual(cmd[cmd.index("-object") + 1],
                         "memory-backend-memfd,id=mem,size=256M,share=on")
        devices = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-device"]
        self.assertEqual(devices, ["vhost-user-fs-device,chardev=vfs0,tag=vsfs0,id=vhfs0,suspend=on",
                                   "pcie-root-port,id=rp1,chassis=1",
                                   "vhost-user-fs-pci,bus=rp1,romfile=,"
                                   "chardev=vfs1,tag=vsfs1,id=vhfs1"])
        chardevs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-chardev"]
        self.assertEqual(chardevs, [f"socket,id=vfs0,path={d}/vfs0.sock",
                                    f"socket,id=vfs1,path={d}/vfs1.sock"])

    def test_backend_errors_are_problems(self):
        sc = scenario(devices=[{"kind": "fs"}, {"kind": "fs"}])
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "fs-backend0.log").write_text(
                "[2026-11-23T23:27:20Z INFO  virtiofsd] Client connected, servicing requests\n")
            (Path(d) / "fs-backend1.log").write_text(
                "[2026-11-23T23:27:26Z ERROR virtiofsd] Waiting for daemon failed: x\n")
            problems = verdict.backend_problems(sc, Path(d))
        self.assertEqual([(p.kind, p.text) for p in problems], [
            ("backend", "fs1 backend: [2026-11-23T23:27:26Z ERROR virtiofsd] "
             "Waiting for daemon failed: x")])

    def test_vsock_devices_get_a_cid_each(self):
        sc = scenario(devices=[{"kind": "fs"}, {"kind": "vsock"}, {"kind": "vsock"}])
        self.assertEqual([(k, n) for k, n, _ in scenarios.vhost_user_devices(sc)],
                         [("fs", 0), ("vsock", 0), ("vsock", 1)])
        with tempfile.TemporaryDirectory() as d:
            saved = backends._backend_paths.copy()
            backends._backend_paths["vhost-device-vsock"] = "/bin/vdv"
            try:
                cmd, sock = backends.backend_command("vsock", 1, Path(d))
            finally:
                backends._backend_paths.clear()
                backends._backend_paths.update(saved)
        self.assertEqual(cmd, ["/bin/vdv", "--guest-cid=4", f"--socket={d}/vsock1.sock",
                               f"--uds-path={d}/vsock1.uds"])
        self.assertEqual(sock, Path(d) / "vsock1.sock")

    def test_echo_service_echoes(self):
        import socket
        with tempfile.TemporaryDirectory() as d:
            echo = backends.EchoService(Path(d) / "e")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                    c.connect(str(Path(d) / "e"))
                    c.sendall(b"hello")
                    c.settimeout(5)
                    self.assertEqual(c.recv(5), b"hello")
            finally:
                echo.close()

    def test_no_shared_memory_without_virtio_fs(self):
        with tempfile.TemporaryDirectory() as d:
            cmd = qemu.qemu_command(scenario(devices=[{"kind": "9p"}]), Path(d), Path(d) / "i",
                                   Path(d), "tcg")
        self.assertNotIn("-object", cmd)
        # A core dump of a crashed QEMU leaves the guest's memory out.
        self.assertEqual(cmd[cmd.index("-M") + 1], "microvm,acpi=on,dump-guest-core=off")

    def test_missing_required_key(self):
        sc = keys_of()
        del sc["tests"]
        self.assertEqual(scenarios.scenario_errors(sc), ["missing key 'tests'"])

    def test_load_scenario_dies_on_error(self):
        with tempfile.TemporaryDirectory() as d:
            saved = config.SCENARIOS
            config.SCENARIOS = Path(d)
            (Path(d) / "typo.toml").write_text('description = "x"\ntests = []\ntimout = 9\n')
            try:
                import contextlib
                import io
                err = io.StringIO()
                with self.assertRaises(SystemExit), contextlib.redirect_stderr(err):
                    scenarios.load_scenario("typo")
                self.assertIn("unknown key 'timout'", err.getvalue())
            finally:
                config.SCENARIOS = saved

    def test_smp_scenarios(self):
        for name in ("suspend-stress", "rebind",
                     "suspend-unload", "admin-race", "suspend-spec"):
            with self.subTest(scenario=name):
                self.assertEqual(scenarios.load_scenario(name).get("cpus"), 2)


class TapNumbers(unittest.TestCase):
    def tap_problems(self, body, plan=3):
        console = "\n".join(["vs-runner: init x", "vs-runner: test-begin alpha",
                             f"1..{plan}", body, "vs-runner: test-end alpha rc=0",
                             "vs-runner: done"])
        return parse(console)

    def test_in_order_passes(self):
        self.assertTrue(passed(scenario(), self.tap_problems("ok 1 a\nok 2 b\nok 3 c")))

    def test_duplicate_fails(self):
        self.assertFalse(passed(scenario(), self.tap_problems("ok 1 a\nok 1 a\nok 3 c")))

    def test_gap_fails(self):
        r = self.tap_problems("ok 1 a\nok 3 c\nok 4 d")
        self.assertFalse(passed(scenario(), r))

    def test_out_of_order_fails(self):
        self.assertFalse(passed(scenario(), self.tap_problems("ok 2 b\nok 1 a\nok 3 c")))

    def test_beyond_plan_fails(self):
        self.assertFalse(passed(scenario(), self.tap_problems("ok 1 a\nok 2 b", plan=1)))

    def test_short_of_plan_fails(self):
        self.assertFalse(passed(scenario(), self.tap_problems("ok 1 a\nok 2 b")))

    def test_numbers_restart_per_test(self):
        sc = scenario(tests=["alpha", "beta"])
        console = "\n".join(["vs-runner: init x", tap("alpha", 2), tap("beta", 2),
                             "vs-runner: done"])
        self.assertTrue(passed(sc, parse(console, sc)))

    def test_xfail_is_a_pass(self):
        self.assertTrue(passed(scenario(), self.tap_problems(
            "ok 1 a\nok 2 b # XFAIL known\nok 3 c")))


class TestBinaries(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.build = Path(self.dir.name)

    def tearDown(self):
        self.dir.cleanup()

    def make(self, name, age):
        p = self.build / name
        p.write_text("#!/bin/sh\n")
        p.chmod(0o755)
        t = time.time() + age
        os.utime(p, (t, t))

    def test_missing_binary_fails(self):
        problems = initramfs.test_binary_problems(scenario(tests=["transport"]), self.build)
        self.assertEqual(len(problems), 1)
        self.assertIn("missing", problems[0].text)
        self.assertFalse(passed(scenario(), parse(GOOD, problems=problems)))

    def test_stale_binary_fails(self):
        src = config.SELFTESTS / "transport.c"
        self.make("transport", src.stat().st_mtime - time.time() - 100)
        problems = initramfs.test_binary_problems(scenario(tests=["transport"]), self.build)
        self.assertEqual(len(problems), 1)
        self.assertIn("older than", problems[0].text)

    def test_header_newer_than_binary_fails(self):
        srcs = initramfs.source_files(config.SELFTESTS / "net_loop.c")
        self.assertIn(config.SELFTESTS / "vs_util.h", srcs)
        newest = max(p.stat().st_mtime for p in srcs)
        self.make("net_loop", newest - time.time() - 1)
        self.assertTrue(initramfs.test_binary_problems(scenario(tests=["net_loop"]), self.build))

    def test_fresh_binary_passes(self):
        self.make("transport", 100)
        self.assertEqual(initramfs.test_binary_problems(scenario(tests=["transport"]), self.build), [])

    def test_unknown_test_fails(self):
        self.make("nosuchtest", 100)
        self.assertTrue(initramfs.test_binary_problems(scenario(tests=["nosuchtest"]), self.build))

    def manifest(self, **changes):
        digests = initramfs.current_sources()
        digests.update(changes)
        (self.build / initramfs.SOURCES_MANIFEST).write_text(
            "".join(f"{d}  ./{n}\n" for n, d in digests.items() if d is not None))

    def test_manifest_of_the_sources_passes_an_old_binary(self):
        # A fresh clone's sources are newer than the cached binaries.
        self.make("net_loop", -10 ** 9)
        self.manifest()
        self.assertEqual(initramfs.test_binary_problems(scenario(tests=["net_loop"]), self.build), [])

    def test_manifest_of_another_header_fails_a_new_binary(self):
        self.make("net_loop", 100)
        self.manifest(**{"vs_util.h": "0" * 64})
        problems = initramfs.test_binary_problems(scenario(tests=["net_loop"]), self.build)
        self.assertEqual(len(problems), 1)
        self.assertIn("built from other sources (vs_util.h)", problems[0].text)

    def test_manifest_of_another_file_any_binary_links_fails(self):
        # vs_timeout.c is linked into every binary; no #include names it.
        self.make("transport", 100)
        self.manifest(**{"vs_timeout.c": "0" * 64})
        self.assertTrue(initramfs.test_binary_problems(scenario(tests=["transport"]), self.build))

    def test_manifest_without_a_file_fails(self):
        self.make("transport", 100)
        self.manifest(**{"transport.c": None})
        self.assertTrue(initramfs.test_binary_problems(scenario(tests=["transport"]), self.build))

    def test_malformed_manifest_line_is_no_crash(self):
        self.make("transport", 100)
        self.manifest()
        with open(self.build / initramfs.SOURCES_MANIFEST, "a") as f:
            f.write("garbage\n")
        self.assertEqual(initramfs.test_binary_problems(scenario(tests=["transport"]), self.build), [])

    def test_build_dir_is_per_checkout(self):
        self.assertTrue(str(config.SELFTEST_BUILD).startswith(str(config.TOP) + os.sep))
        makefile = (config.TOP / "Makefile").read_text()
        self.assertIn("build-selftests.sh $(KDIR) $(TOP)/.build/selftests", makefile)
        self.assertEqual(config.SELFTEST_BUILD, config.TOP / ".build" / "selftests")


class RunDirs(unittest.TestCase):
    def test_concurrent_runs_do_not_collide(self):
        with tempfile.TemporaryDirectory() as d:
            a = cli.new_run_dir(Path(d))
            b = cli.new_run_dir(Path(d))
            self.assertNotEqual(a, b)
            self.assertEqual((Path(d) / "latest").resolve(), b.resolve())

    def test_pruning_skips_locked_runs(self):
        with tempfile.TemporaryDirectory() as d:
            first = cli.new_run_dir(Path(d))  # locked by this process
            for i in range(12):
                (Path(d) / f"2000010{i:02d}-000000-x").mkdir()
            cli.new_run_dir(Path(d))
            self.assertTrue(first.exists())
            left = [p for p in Path(d).iterdir() if p.name.startswith("2000")]
            self.assertLess(len(left), 12)


class Parallel(unittest.TestCase):
    """--jobs: guests at a time, output whole and in name order."""

    def test_jobs_and_output_order(self):
        import argparse
        import contextlib
        import io
        import threading
        names = ["a", "b", "c", "d", "e"]
        sleep = {"a": 0.4, "b": 0.05, "c": 0.3, "d": 0.05, "e": 0.1}
        lock = threading.Lock()
        state = {"now": 0, "max": 0}

        def fake_run_one(sc, args, kdir, initrd, base, echo):
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            time.sleep(sleep[sc["name"]])
            with lock:
                state["now"] -= 1
            r = model.ScenarioRun(sc["name"], outcome="exited", seconds=1.0)
            return r, [model.Result(sc["name"], "pass")], f"== {sc['name']}\nline 2 of {sc['name']}\n"

        saved = (cli.run_one, cli.prepare, scenarios.load_scenario, config.DURATIONS)
        with tempfile.TemporaryDirectory() as d:
            cli.run_one = fake_run_one
            cli.prepare = lambda args: (Path(d), Path(d), Path(d) / "i")
            scenarios.load_scenario = lambda n: dict(scenario(), name=n)
            config.DURATIONS = Path(d) / "durations.json"
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    runs = cli.run_scenarios(names, argparse.Namespace(jobs=2))
            finally:
                cli.run_one, cli.prepare, scenarios.load_scenario, config.DURATIONS = saved
        self.assertEqual(state["max"], 2)
        self.assertEqual([sc["name"] for sc, _, _ in runs], names)
        expected = "".join(f"== {n}\nline 2 of {n}\n" for n in names)
        self.assertEqual(out.getvalue(), expected)

    def test_tcg_command_line_has_the_tsc_rate(self):
        saved = qemu.host_tsc_khz
        qemu.host_tsc_khz = lambda: 2596140
        try:
            with tempfile.TemporaryDirectory() as d:
                tcg = qemu.qemu_command(scenario(), Path(d), Path(d) / "i", Path(d), "tcg")
                kvm = qemu.qemu_command(scenario(), Path(d), Path(d) / "i", Path(d), "kvm")
        finally:
            qemu.host_tsc_khz = saved
        words = tcg[tcg.index("-append") + 1].split()
        self.assertIn("tsc_early_khz=2596140", words)
        self.assertIn("tsc=reliable", words)
        self.assertNotIn("tsc_early_khz=2596140", kvm[kvm.index("-append") + 1].split())

    def test_tsc_measurement_is_sane(self):
        khz = qemu.host_tsc_khz()
        if khz is None:
            self.skipTest("no TSC measurement on this host")
        self.assertTrue(100_000 < khz < 10_000_000, khz)


class CpuPhases(unittest.TestCase):
    """A guest's CPU time split at /init and at its last test's end, as
    QEMU's /proc stat says (guest.process_cpu_seconds)."""

    def test_read_at_init_and_each_test_end(self):
        r = model.ScenarioRun("x")
        parser = GuestOutput(r, ["a", "b"])
        readings = iter([2.0, 5.0, 9.0])
        parser.cpu_now = lambda: next(readings)
        for line in ["vs-runner: init 6.12", "vs-runner: test-begin a", "1..1", "ok 1 t",
                     "vs-runner: test-end a rc=0", "vs-runner: test-begin b", "1..1",
                     "ok 1 t", "vs-runner: test-end b rc=0"]:
            parser.line(line)
        self.assertEqual((r.cpu_at_init, r.cpu_at_tests_end), (2.0, 9.0))
        r.cpu_seconds = 10.5
        self.assertEqual(r.cpu_at_test_ends, [("a", 5.0), ("b", 9.0)])
        self.assertEqual(cli.cpu_phases(r), " (boot 2.0, tests 7.0: a 3.0, b 4.0, after 1.5)")

    def test_one_test_is_not_split(self):
        r = model.ScenarioRun("x")
        r.cpu_at_init, r.cpu_at_tests_end, r.cpu_seconds = 2.0, 5.0, 6.0
        r.cpu_at_test_ends = [("a", 5.0)]
        self.assertEqual(cli.cpu_phases(r), " (boot 2.0, tests 3.0, after 1.0)")

    def test_nothing_before_the_tests_end(self):
        r = model.ScenarioRun("x")
        r.cpu_seconds, r.cpu_at_init = 3.0, 2.0
        self.assertEqual(cli.cpu_phases(r), "")

    def test_process_cpu_seconds_of_a_busy_process(self):
        from vsrun.guest import process_cpu_seconds
        import subprocess
        proc = subprocess.Popen([sys.executable, "-c",
                                 "import time\nt=time.process_time()\n"
                                 "while time.process_time()-t<0.3: pass\nprint(1, flush=True)\n"
                                 "time.sleep(5)"], stdout=subprocess.PIPE)
        try:
            proc.stdout.readline()
            self.assertGreaterEqual(process_cpu_seconds(proc.pid), 0.25)
        finally:
            proc.kill()
            proc.wait()
        self.assertIsNone(process_cpu_seconds(proc.pid))


class MisuseCheck(unittest.TestCase):
    """tools/kernel/misuse/check.py's verdict: a marked line that
    compiles, or fails with another error, fails; so does an error on an
    unmarked line (a typo would otherwise pass for a refused use)."""

    @classmethod
    def setUpClass(cls):
        path = config.TOP / "tools" / "kernel" / "misuse" / "check.py"
        spec = importlib.util.spec_from_file_location("misuse_check", path)
        cls.check = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.check)

    SOURCE = "fn a() {\n    x.y(); // expect: E0599\n    z(); // expect: E0624\n}\n"

    def rustc(self, *errors):
        return "".join(f"error[{code}]: {msg}\n  --> /tmp/m/misuse.rs:{line}:5\n"
                       for line, code, msg in errors)

    def verdict(self, output):
        c = self.check
        return c.verdict(c.expected(self.SOURCE), c.errors(output), self.SOURCE.splitlines())

    def test_every_marked_line_failing_as_expected_passes(self):
        out = self.rustc((2, "E0599", "no method"), (3, "E0624", "private"))
        self.assertEqual([ok for ok, _ in self.verdict(out)], [True, True, True])

    def test_a_marked_line_that_compiles_fails(self):
        out = self.rustc((2, "E0599", "no method"))
        self.assertEqual([ok for ok, _ in self.verdict(out)], [True, False, True])

    def test_a_marked_line_failing_otherwise_fails(self):
        out = self.rustc((2, "E0599", "no method"), (3, "E0133", "unsafe"))
        self.assertEqual([ok for ok, _ in self.verdict(out)], [True, False, True])

    def test_an_error_on_an_unmarked_line_fails(self):
        out = self.rustc((2, "E0599", "no method"), (3, "E0624", "private"),
                         (1, "E0432", "unresolved import"))
        self.assertEqual([ok for ok, _ in self.verdict(out)], [True, True, False])

    def test_errors_of_other_files_are_not_the_checks(self):
        out = self.rustc((2, "E0599", "x")) + "error[E0624]: y\n  --> rust/kernel/lib.rs:3:1\n"
        self.assertEqual([ok for ok, _ in self.verdict(out)], [True, False, True])


class HostSuiteTap(unittest.TestCase):
    """suites.tap_results(): a host suite's TAP as results; a failed
    check keeps the lines that say why (test_device.py's "#   got ...,
    want ..."), which a CI log otherwise loses."""

    TEXT = ("ok 1 - first\n# a note of a passed check\nnot ok 2 - second\n"
            "#   got [0, 2], want [0, 1, 2]\n# net_tx_to_full_socket\n"
            "ok 3 - third # SKIP no socket\nnot ok 4 - fourth\n"
            "# End of virtio tests\n# ERROR: assertion failed\n")

    def test_a_failure_keeps_its_diagnostics(self):
        from vsrun import suites
        results = suites.tap_results("qemu", self.TEXT)
        self.assertEqual([(r.name, r.status) for r in results],
                         [("qemu: first", "pass"), ("qemu: second", "fail"),
                          ("qemu: third", "skip"), ("qemu: fourth", "fail")])
        self.assertEqual([r.log for r in results],
                         [[], ["#   got [0, 2], want [0, 1, 2]"], [],
                          ["# ERROR: assertion failed"]])
        out = io.StringIO()
        model.print_results(results, out)
        self.assertIn("FAIL qemu: second\n     #   got [0, 2]", out.getvalue())


class TAPResult(unittest.TextTestResult):
    """Prints each test as one TAP line, a test with a failed subtest
    as "not ok"."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.n = 0

    def startTest(self, test):
        super().startTest(test)
        self.ok, self.why, self.notes = True, "", []

    def _failed(self, test, err):
        self.ok = False
        self.notes.append(self._exc_info_to_string(err, test))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._failed(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._failed(test, err)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._failed(subtest, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.ok, self.why = False, f" # SKIP {reason}"

    def stopTest(self, test):
        super().stopTest(test)
        self.n += 1
        name = f"{type(test).__name__}.{test._testMethodName}"
        print(f"{'ok' if self.ok else 'not ok'} {self.n} - {name}{self.why}")
        for note in self.notes:
            print("# " + note.rstrip().replace("\n", "\n# "))
        sys.stdout.flush()


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    print(f"TAP version 13\n1..{suite.countTestCases()}", flush=True)
    with open(os.devnull, "w") as null:
        result = unittest.TextTestRunner(stream=null, resultclass=TAPResult).run(suite)
    return 0 if result.wasSuccessful() and not result.skipped else 1


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: GPL-2.0
"""The harness of the device tests: results, QEMU instances, polling and the
helpers more than one device type uses."""

import sys
import tempfile
import time

from .harness import (
    Qemu, QemuError, find_devices)


class TestBase:
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="vs-qtest-")
        self.passed = 0
        self.failed = 0
        self.n = 0
        self.live = []
        # vhost-user backends: (process, log path)
        self.backends = []

    # -- plumbing ------------------------------------------------------
    def check(self, cond, what, detail=""):
        self.n += 1
        if cond:
            self.passed += 1
            print(f"ok {self.n} - {what}")
        else:
            self.failed += 1
            print(f"not ok {self.n} - {what}")
            if detail:
                for line in str(detail).splitlines():
                    print(f"#   {line}")
        sys.stdout.flush()
        return cond

    def eq(self, got, want, what):
        return self.check(got == want, what,
                          f"got {got:#x}, want {want:#x}"
                          if isinstance(got, int) and isinstance(want, int)
                          else f"got {got!r}, want {want!r}")

    def start(self, args, qmp=False, **kw):
        q = Qemu(self.binary, args, self.tmp, qmp=qmp, **kw)
        self.live.append(q)
        return q

    def device(self, args, dev_id=None, qmp=False, **kw):
        q = self.start(args, qmp=qmp, **kw)
        devs = find_devices(q)
        if dev_id is not None:
            devs = [d for d in devs if d[0] == dev_id]
        if not devs:
            raise QemuError("no virtio device found; stderr: " + q.stderr())
        return q, devs[0][1]

    def rng(self, props="", qmp=False):
        return self.device(["-device", "virtio-rng-device,id=dev0" + props],
                           dev_id=4, qmp=qmp)

    def stop_all(self):
        for q in self.live:
            q.close()
        self.live = []
        for proc, _ in self.backends:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.backends = []

    def no_violation(self, q, what):
        v = q.violations()
        self.check(not v, what + ": no violation line", "\n".join(v))

    def has_violation(self, q, text, what):
        v = q.violations()
        self.check(any(text in l for l in v), what, q.log() or "(empty log)")

    def run(self, name, fn):
        print(f"# {name}")
        try:
            fn()
        except (QemuError, OSError, ValueError) as e:
            self.check(False, f"{name}: {e}")
        finally:
            self.stop_all()

    def wait_qmp(self, q, cmd, done, timeout=20, **args):
        end = time.monotonic() + timeout
        while True:
            r = q.qmp_cmd(cmd, **args)
            if done(r):
                return r
            if time.monotonic() > end:
                raise QemuError(f"QMP {cmd}: still {r!r}")
            time.sleep(0.02)

    STATS = ("suspend-requests", "suspend-acks", "suspend-failures",
             "suspend-aborts", "resume-requests", "resumes",
             "resume-failures", "resets-after-driver-ok", "inflight-last",
             "inflight-total", "inflight-max", "suspends-with-inflight",
             "pending-total", "notifications-held",
             "notifications-released", "config-changes-deferred",
             "features-refused", "notifies-before-driver-ok",
             "violations", "device-bugs")

    def stats(self, q, path="/machine/peripheral/dev0"):
        return q.qom_get(path, "x-suspend-stats")

    def stats_eq(self, q, want, what, path="/machine/peripheral/dev0"):
        """The fields of x-suspend-stats named in want have those values,
        every other field is 0."""
        got = self.stats(q, path)
        expect = {k: want.get(k, 0) for k in self.STATS}
        self.check(got == expect, what, "\n".join(
            f"{k}: got {got.get(k)!r}, want {expect.get(k)!r}"
            for k in sorted(set(got) | set(expect))
            if got.get(k) != expect.get(k)))

    def device_bugs(self, q, what):
        bugs = [l for l in q.log().splitlines()
                if l.startswith("virtio-suspend: device bug: ")]
        self.check(not bugs, what + ": no used ring write while suspended "
                   "(device bug line)", "\n".join(bugs))

    def poll_status(self, d, old, timeout=5.0):
        end = time.monotonic() + timeout
        while d.status == old and time.monotonic() < end:
            time.sleep(0.005)
        return d.status

    def poll(self, cond, timeout=5.0):
        """The interrupt of a request may follow its used index by a few
        milliseconds: wait for cond() to become true."""
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                return False
            time.sleep(0.005)
        return True

# SPDX-License-Identifier: GPL-2.0
"""The SUSPEND state machine on virtio-rng over virtio-mmio: negotiation, the
three dialects, delays, faults, the driver-violation detector, stats."""

import struct
import subprocess
import time

from .harness import (
    ACKNOWLEDGE, CONFIG, DRIVER, FEATURES_OK, F_ADMIN_VQ, F_STOP, F_SUSPEND,
    F_SUSPEND_V5, F_VERSION_1, NEEDS_RESET, QemuError, RUNNING, STOP,
    STOP_PROPS, SUSPEND, find_devices)
from .base import TestBase


class SpecTests(TestBase):
    # -- tests ---------------------------------------------------------
    def t_features(self):
        cases = [("", []), (",suspend=on", [F_SUSPEND]),
                 (",suspend=on,suspend-dialect=spec", [F_SUSPEND]),
                 (",suspend=on,suspend-dialect=v5", [F_SUSPEND_V5]),
                 (STOP_PROPS, [F_STOP]),
                 (",suspend=on,suspend-dialect=stop,suspend-feature-bit=49",
                  [49])]
        for props, want in cases:
            q, d = self.rng(props)
            feats = d.offered()
            got = [b for b in (F_ADMIN_VQ, F_SUSPEND_V5, F_SUSPEND, F_STOP, 49)
                   if feats & (1 << b)]
            self.eq(got, want, f"virtio-rng-device{props or ' (default)'} "
                    f"offers suspend feature bits {want}")
            self.check(feats & (1 << F_VERSION_1), "VERSION_1 still offered")
            q.close()

    def t_realize_errors(self):
        cases = [
            (",suspend=on,suspend-dialect=bogus", "suspend-dialect must be"),
            (",suspend-fail=on", "need suspend=on"),
            (",suspend-dialect=v5", "need suspend=on"),
            (",suspend=on,suspend-never-ack=on,suspend-fail=on",
             "exclude each other"),
            (",suspend=on,suspend-never-ack=on,suspend-ack-delay-ms=5",
             "means nothing"),
            (",suspend=on,suspend-feature-bit=45", "only applies"),
            (STOP_PROPS + ",resume-fail=on", "has no resume"),
            # Only the bits the specification reserves for future
            # extensions: not the transport's (24 to 41), not the device
            # type's (0 to 23, 50 and up: virtio-net's DEVICE_STATS is 50)
            (",suspend=on,suspend-dialect=stop,suspend-feature-bit=7",
             "between 44 and 49"),
            (",suspend=on,suspend-dialect=stop,suspend-feature-bit=24",
             "between 44 and 49"),
            (",suspend=on,suspend-dialect=stop,suspend-feature-bit=32",
             "between 44 and 49"),
            (",suspend=on,suspend-dialect=stop,suspend-feature-bit=50",
             "between 44 and 49"),
            (",suspend=on,suspend-dialect=stop,suspend-feature-bit=63",
             "between 44 and 49"),
            (",suspend=on,suspend-ack-delay-ms=4000000", "at most"),
            (",x-fault-notify-at-resume=on",
             "x-fault-notify-at-resume needs suspend=on"),
            (STOP_PROPS + ",x-fault-notify-at-resume=on",
             "x-fault-notify-at-resume: suspend-dialect=stop has no resume"),
            (",suspend=on,x-fault-recovery=bogus",
             "x-fault-recovery: unknown value 'bogus' (allowed: features, "
             "reset)"),
            (",x-fault-recovery=features",
             "x-fault-recovery=features needs suspend=on"),
        ]
        self.realize_refuses("virtio-rng-device", cases)

    def realize_refuses(self, device, cases, extra=(), **kw):
        """cases: (properties, part of the error message)."""
        for props, msg in cases:
            q = self.start(list(extra) + ["-device", device + props], **kw)
            try:
                rc = q.proc.wait(20)
            except subprocess.TimeoutExpired:
                rc = None
            err = q.stderr()
            self.check(rc not in (0, None) and msg in err,
                       f"realize refuses {device}{props}",
                       f"rc {rc}, stderr: {err}")
            q.close()

    def t_stop_feature_bit(self):
        """The stop dialect needs an explicit bit, not one of the others'."""
        self.realize_refuses("virtio-rng-device", [
            (",suspend=on,suspend-dialect=stop",
             "suspend-dialect=stop needs suspend-feature-bit"),
            (",suspend=on,suspend-dialect=stop,suspend-feature-bit=41",
             "suspend-feature-bit=41 is VIRTIO_F_ADMIN_VQ"),
            (",suspend=on,suspend-dialect=stop,suspend-feature-bit=42",
             "suspend-feature-bit=42 is the feature bit of "
             "suspend-dialect=v5"),
            (",suspend=on,suspend-dialect=stop,suspend-feature-bit=43",
             "suspend-feature-bit=43 is VIRTIO_F_SUSPEND"),
            (",suspend-feature-bit=45", "need suspend=on"),
        ])

    def t_unaudited_refused(self):
        """suspend=on only where the device model was audited for it."""
        msg = "suspend=on is not supported by {}: its asynchronous paths"
        # virtio-pmem: its flush completes from a thread pool, and its
        # queue handler takes the resume's empty queue for an error
        self.realize_refuses(
            "virtio-pmem-pci",
            [(",memdev=m0,suspend=on", msg.format("virtio-pmem"))],
            extra=["-L", "/usr/share/seabios", "-m", "64,slots=2,maxmem=1G",
                   "-object", "memory-backend-ram,id=m0,size=4M"],
            machine="q35")
        self.realize_refuses(
            "virtio-crypto-device",
            [(",cryptodev=c0,suspend=on", msg.format("virtio-crypto"))],
            extra=["-object", "cryptodev-backend-builtin,id=c0"])
        # and without suspend=on it realizes
        q = self.start(["-object", "cryptodev-backend-builtin,id=c0",
                        "-device", "virtio-crypto-device,cryptodev=c0"])
        self.check(find_devices(q), "virtio-crypto-device realizes",
                   q.stderr())
        q.close()

    def t_iothread_refused(self):
        """The suspend runs in the main loop: no iothread (dataplane)."""
        # virtio-pci: its ioeventfds work under qtest, as an iothread needs
        machine = "microvm,acpi=on,pcie=on"
        args = ["-object", "iothread,id=io0",
                "-drive", "if=none,id=d0,file=null-co://,format=raw"]
        msg = "suspend=on is not supported with iothread=: {}'s suspend"
        for dev, props in (("virtio-blk", ",drive=d0"), ("virtio-scsi", "")):
            self.realize_refuses(
                dev + "-pci", [(props + ",iothread=io0,suspend=on",
                                msg.format(dev + "-device"))],
                extra=args, machine=machine)
            # suspend=on without an iothread, and an iothread without it
            for more in (",suspend=on", ",iothread=io0"):
                q = self.start(args + ["-device", dev + "-pci" + props + more],
                               qmp=True, machine=machine)
                try:
                    status = q.qmp_cmd("query-status")
                except (QemuError, OSError) as e:
                    status = e
                self.check(isinstance(status, dict),
                           f"{dev}-pci{props}{more} realizes",
                           f"{status}; stderr: {q.stderr()}")
                q.close()

    def t_spec_cycle(self):
        q, d = self.rng(",suspend=on", qmp=True)
        path = "/machine/peripheral/dev0"
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        self.check(feats & (1 << F_SUSPEND), "driver negotiated bit 43")
        self.eq(d.status, RUNNING, "status after DRIVER_OK")
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "request served before suspend")
        d.ack_isr()
        self.eq(q.qom_get(path, "suspend-state"), "running",
                "suspend-state running")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "SUSPEND acknowledged at once: SUSPEND=1 DRIVER_OK=0")
        self.eq(q.qom_get(path, "suspend-state"), "suspended",
                "suspend-state suspended")
        self.eq(d.isr(), 0, "no interrupt from suspending")
        d.set_status(d.status)     # the driver writing back what it read
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "writing the suspended status back changes nothing")
        d.set_status(RUNNING | SUSPEND)     # DRIVER_OK with SUSPEND still set
        self.eq(d.status, RUNNING, "DRIVER_OK resumes: SUSPEND=0 DRIVER_OK=1")
        self.eq(d.used_idx(0), 1, "ring state kept across the cycle")
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 2), "request served after resume")
        # a second cycle, resuming with SUSPEND cleared
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "second suspend")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "second resume")
        self.no_violation(q, "clean suspend/resume")
        self.eq(q.qom_get(path, "suspend-violations"), 0,
                "suspend-violations is 0")
        self.check("virtio-suspend" not in q.log(), "nothing logged",
                   q.log())

    def t_delays(self):
        q, d = self.rng(",suspend=on,suspend-ack-delay-ms=100,"
                        "resume-ack-delay-ms=30")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        suspended = ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING, "status unchanged right after SUSPEND")
        q.clock_step_ms(98)
        self.eq(d.status, RUNNING, "status unchanged after 98 ms")
        q.clock_step_ms(3)
        self.eq(d.status, suspended, "suspended after 101 ms")
        d.set_status(RUNNING)
        self.eq(d.status, suspended, "still suspended right after DRIVER_OK")
        q.clock_step_ms(28)
        self.eq(d.status, suspended, "still suspended after 28 ms")
        q.clock_step_ms(3)
        self.eq(d.status, RUNNING, "running after 31 ms")
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "request served after delayed resume")
        self.no_violation(q, "delayed cycle")

    def t_never_ack(self):
        q, d = self.rng(",suspend=on,suspend-never-ack=on")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        q.clock_step_ms(10000)
        self.eq(d.status, RUNNING, "never-ack: status unchanged after 10 s")
        d.set_status(0)
        self.eq(d.status, 0, "reset while suspending")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "device works after the reset")
        self.no_violation(q, "never-ack")

    def t_suspend_fail(self):
        q, d = self.rng(",suspend=on,suspend-fail=on")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING | NEEDS_RESET,
                "suspend-fail: DEVICE_NEEDS_RESET instead of SUSPEND")
        self.check(d.isr() & 2, "config interrupt for DEVICE_NEEDS_RESET")
        d.set_status(0)
        self.eq(d.status, 0, "reset clears DEVICE_NEEDS_RESET")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "device works after the reset")
        self.no_violation(q, "suspend-fail")

    def t_resume_fail(self):
        q, d = self.rng(",suspend=on,resume-fail=on")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        suspended = ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, suspended, "resume-fail: suspend works")
        d.set_status(RUNNING)
        self.eq(d.status, suspended | NEEDS_RESET,
                "resume-fail: DEVICE_NEEDS_RESET instead of DRIVER_OK")
        d.set_status(0)
        self.eq(d.status, 0, "reset after failed resume")
        self.no_violation(q, "resume-fail")

    def t_not_negotiated(self):
        q, d = self.rng(",suspend=on")
        d.init(1 << F_VERSION_1, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING, "SUSPEND without the feature is ignored")
        self.has_violation(q, "SUSPEND written without feature bit 43",
                           "violation logged for SUSPEND without the feature")
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "device keeps running")

        q, d = self.rng("")
        d.init(1 << F_VERSION_1, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        self.has_violation(q, "SUSPEND written but the device offers no "
                           "feature", "violation logged on a suspend=off device")

        q, d = self.rng(",suspend=on")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0], driver_ok=False)
        before = d.status
        d.set_status(before | SUSPEND)
        self.eq(d.status, before, "SUSPEND before DRIVER_OK is ignored")
        self.check("before DRIVER_OK, ignored" in q.log(),
                   "guest error logged for SUSPEND before DRIVER_OK", q.log())
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING,
                "SUSPEND together with the first DRIVER_OK: only DRIVER_OK")
        self.no_violation(q, "SUSPEND before DRIVER_OK")

    def t_notify_violation(self):
        q, d = self.rng(",suspend=on", qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        d.rng_request()
        d.kick(0)
        time.sleep(0.1)
        self.eq(d.used_idx(0), 0, "buffer not consumed while suspended")
        self.eq(d.isr(), 0, "no interrupt while suspended")
        self.has_violation(q, "queue 0 notified while suspended",
                           "QUEUE_NOTIFY while suspended: violation line")
        self.check(not any("available index" in l for l in q.violations()),
                   "the kick does not make the device read the ring while "
                   "suspended", "\n".join(q.violations()))
        d.w(CONFIG, 1)
        self.has_violation(q, "configuration space write at offset 0x0",
                           "config write while suspended: violation line")
        n = len(q.violations())
        self.eq(q.qom_get("/machine/peripheral/dev0", "suspend-violations"),
                n, f"suspend-violations counts {n}")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "resumed")
        self.has_violation(q, "queue 0: available index moved from 0 to 1",
                           "available index moved: violation line at resume")
        self.check(d.wait_used(0, 1),
                   "the kicked buffer is processed after resume")
        self.check(d.isr() & 1, "used buffer interrupt after resume")
        self.eq(len(q.violations()), n + 1, "nothing logged twice")
        for line in q.violations():
            print(f"#   {line}")

    def t_avail_at_resume(self):
        q, d = self.rng(",suspend=on")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        d.rng_request()            # no kick
        self.check(not q.violations(), "no line before the check")
        d.set_status(RUNNING)
        self.has_violation(q, "available index moved",
                           "buffer made available while suspended: "
                           "violation at resume")
        self.check(d.wait_used(0, 1), "the buffer is processed after resume")

    def t_reset_suspended(self):
        q, d = self.rng(",suspend=on,suspend-ack-delay-ms=20", qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        q.clock_step_ms(25)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "suspended")
        d.set_status(0)
        self.eq(d.status, 0, "reset while suspended")
        self.eq(q.qom_get("/machine/peripheral/dev0", "suspend-state"),
                "running", "suspend state cleared by the reset")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        d.set_status(0)           # reset while suspending (timer pending)
        q.clock_step_ms(50)
        self.eq(d.status, 0, "reset while suspending cancels the ack")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "device works after the resets")
        self.no_violation(q, "reset while suspended")

    def t_v5(self):
        q, d = self.rng(",suspend=on,suspend-dialect=v5")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND_V5, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING | SUSPEND,
                "v5: suspended reads SUSPEND=1 with DRIVER_OK still set")
        d.rng_request()
        d.kick(0)
        self.has_violation(q, "queue 0 notified while suspended",
                           "v5: notify while suspended is a violation")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "v5: clearing SUSPEND resumes")
        self.check(d.wait_used(0, 1), "v5: request served after resume")

    def t_stop(self):
        q, d = self.rng(STOP_PROPS)
        d.init(1 << F_VERSION_1 | 1 << F_STOP, queues=[0])
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "stop: request served")
        d.set_status(RUNNING | STOP)
        self.eq(d.status, RUNNING | STOP, "stop: STOP=1 when stopped")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING | STOP, "stop: clearing STOP does not resume")
        self.check("reset the device to restart it" in q.log(),
                   "stop: guest error for the ignored write", q.log())
        d.set_status(0)
        self.eq(d.status, 0, "stop: reset")
        d.init(1 << F_VERSION_1 | 1 << F_STOP, queues=[0])
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "stop: works after reset + init")
        self.no_violation(q, "stop dialect")

    def stopped_rng(self, qmp=False):
        """A stop-dialect virtio-rng that served one request, STOPped."""
        q, d = self.rng(STOP_PROPS, qmp=qmp)
        d.init(1 << F_VERSION_1 | 1 << F_STOP, queues=[0])
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "stop: request served before STOP")
        d.set_status(RUNNING | STOP)
        self.eq(d.status, RUNNING | STOP, "stop: stopped")
        return q, d

    def t_stop_restart(self):
        """Only the driver's reset of a STOPped device keeps the queue
        positions, and only the same rings set up again get them."""
        feats = 1 << F_VERSION_1 | 1 << F_STOP
        # the draft's restart: reset, the same rings set up again
        q, d = self.stopped_rng()
        d.set_status(0)
        self.eq(d.status, 0, "stop: the driver's reset")
        d.init(feats, queues=[0], reset=False, same_rings=True)
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 2),
                   "same rings: the device goes on where it stopped "
                   "(used index 2)", f"used index {d.used_idx(0)}")
        self.no_violation(q, "stop restart on the same rings")
        q.close()

        # a driver that sets up new rings after the reset
        q, d = self.stopped_rng()
        d.set_status(0)
        d.init(feats, queues=[0], reset=False, rings=0x300000)
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1),
                   "other rings after the driver's reset: the first request "
                   "is served", f"used index {d.used_idx(0)}")
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 2), "other rings: the second one too")
        q.close()

        # the driver resets once more before the set-up: the second reset
        # drops what the first kept
        q, d = self.stopped_rng()
        d.set_status(0)
        d.init(feats, queues=[0])        # resets once more, fresh rings
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1),
                   "reset twice: the rings start at 0 again",
                   f"used index {d.used_idx(0)}")
        q.close()

        # a system reset is no restart
        q, d = self.stopped_rng(qmp=True)
        q.qmp_cmd("system_reset")
        end = time.monotonic() + 5
        while d.status and time.monotonic() < end:
            time.sleep(0.01)
        self.eq(d.status, 0, "stop: system_reset resets the device")
        d.init(feats, queues=[0], reset=False)
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1),
                   "after system_reset a normal set-up serves the first "
                   "request", f"used index {d.used_idx(0)}")

    def t_needs_reset_kept(self):
        """A DEVICE_NEEDS_RESET the device model raises (virtio_error())
        while a suspend or resume is pending, or while suspended, stays.

        The error: the memory under the rings changes and the virtio core
        can no longer map them ("Cannot map desc", from its memory
        listener).  The rings start 64 bytes before the middle of a 2 MiB
        ivshmem BAR; a second ivshmem device's 1 MiB BAR mapped over the
        upper half cuts the descriptor table in two.
        """
        ecam_a, ecam_b = 0xe0000000 + (2 << 15), 0xe0000000 + (3 << 15)
        bar_a, rings = 0xc0000000, 0xc0100000 - 0x40
        feats = 1 << F_VERSION_1 | 1 << F_SUSPEND
        suspended = ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND

        def setup(props):
            q, d = self.device(
                ["-object", "memory-backend-ram,id=shm0,size=2M",
                 "-object", "memory-backend-ram,id=shm1,size=1M",
                 "-device", "ivshmem-plain,memdev=shm0,addr=0x2",
                 "-device", "ivshmem-plain,memdev=shm1,addr=0x3",
                 "-device", "virtio-rng-device,id=dev0,suspend=on" + props],
                dev_id=4, qmp=True, machine="microvm,acpi=on,pcie=on")
            q.writel(ecam_a + 0x18, bar_a)       # BAR2, 64-bit
            q.writel(ecam_a + 0x1c, 0)
            q.writew(ecam_a + 0x04, 0x2)         # memory space on
            d.init(feats, queues=[0], rings=rings)
            d.rng_request()
            d.kick(0)
            self.check(d.wait_used(0, 1), "rings in the BAR work")
            return q, d

        def break_rings(q):
            q.writel(ecam_b + 0x18, bar_a + 0x100000)
            q.writel(ecam_b + 0x1c, 0)
            q.writew(ecam_b + 0x04, 0x2)

        # while suspending (acknowledgement delayed)
        q, d = setup(",suspend-ack-delay-ms=100")
        d.set_status(RUNNING | SUSPEND)
        break_rings(q)
        self.check("Cannot map desc" in q.stderr(),
                   "suspending: virtio_error() hit", q.stderr())
        self.eq(d.status, RUNNING | NEEDS_RESET,
                "suspending: DEVICE_NEEDS_RESET shown at once")
        q.clock_step_ms(150)
        self.eq(d.status, RUNNING | NEEDS_RESET,
                "suspending: DEVICE_NEEDS_RESET kept when the suspend would "
                "have been acknowledged, no SUSPEND")
        self.check(d.isr() & 2, "suspending: config interrupt for it")
        self.eq(q.qom_get("/machine/peripheral/dev0", "suspend-state"),
                "running", "suspending: the device is not suspended")
        d.set_status(0)
        self.eq(d.status, 0, "suspending: the reset clears it")
        q.close()

        # while suspended
        q, d = setup("")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, suspended, "suspended")
        break_rings(q)
        self.eq(d.status, suspended | NEEDS_RESET,
                "suspended: DEVICE_NEEDS_RESET shown")
        d.set_status(RUNNING)
        self.eq(d.status, suspended | NEEDS_RESET,
                "suspended: DEVICE_NEEDS_RESET kept by the resume request, "
                "no DRIVER_OK")
        q.close()

        # while resuming (acknowledgement delayed)
        q, d = setup(",resume-ack-delay-ms=100")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, suspended, "suspended at once")
        d.set_status(RUNNING)
        break_rings(q)
        self.eq(d.status, suspended | NEEDS_RESET,
                "resuming: DEVICE_NEEDS_RESET shown at once")
        q.clock_step_ms(150)
        self.eq(d.status, suspended | NEEDS_RESET,
                "resuming: DEVICE_NEEDS_RESET kept when the resume would "
                "have been acknowledged, no DRIVER_OK")
        self.eq(q.qom_get("/machine/peripheral/dev0", "suspend-state"),
                "running", "resuming: the suspend state is over")
        d.set_status(0)
        self.eq(d.status, 0, "resuming: the reset clears it")

    def t_model_status(self):
        """The device model keeps seeing DRIVER_OK while the driver reads
        the suspended status: a virtio-scsi hotplug while suspended is
        not dropped for want of DRIVER_OK, the driver hears of it (events
        missed: rescan) once resumed."""
        q, d = self.device(["-device", "virtio-scsi-device,id=dev0,"
                            "suspend=on"], dev_id=8, qmp=True)
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND | 1 << 1,
                       queues=[0, 1, 2])
        self.check(feats & 2, "scsi: VIRTIO_SCSI_F_HOTPLUG negotiated")
        evt = d.queues[1]["buf"]
        q.write(evt, b"\xee" * 16)
        d.add_buffer(1, [(evt, 16, True)])
        d.kick(1)
        self.eq(d.used_idx(1), 0, "scsi: event buffer waits for an event")
        d.set_status(RUNNING | SUSPEND)
        suspended = ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND
        self.eq(d.status, suspended, "scsi: suspended")
        st = q.qmp_cmd("x-query-virtio-status", path="/machine/peripheral/dev0")
        shown = " ".join(st["status"]["statuses"])
        self.check("DRIVER_OK" in shown and "SUSPEND" not in shown,
                   "device model status keeps DRIVER_OK while the driver "
                   "reads SUSPEND", shown)
        q.qmp_cmd("blockdev-add", driver="null-co", **{"node-name": "null0"})
        q.qmp_cmd("device_add", driver="scsi-hd", drive="null0",
                  bus="dev0.0", id="hd0")
        self.eq(d.used_idx(1), 0, "scsi: no event while suspended")
        self.eq(d.isr(), 0, "scsi: no interrupt while suspended")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "scsi: resumed")
        self.check(d.wait_used(1, 1, timeout=2),
                   "scsi: the hotplug reaches the driver after resume")
        ev = struct.unpack("<I", q.read(evt, 4))[0]
        self.check(ev in (1, 0x80000000 | 1, 0x80000000),
                   "scsi: event is TRANSPORT_RESET or EVENTS_MISSED",
                   f"event {ev:#x}")
        self.no_violation(q, "scsi hotplug while suspended")

    def t_no_ring_read(self):
        """The detector reads the available ring only where the device may:
        not while suspended, whatever the driver does meanwhile (trace
        event virtio_suspend_avail_read)."""
        q, d = self.device(["-device", "virtio-rng-device,id=dev0,suspend=on",
                            "-trace", "virtio_suspend_avail_read"], dev_id=4)
        reads = lambda: [l for l in q.log().splitlines()
                         if "virtio_suspend_avail_read" in l]
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "no-read: suspended")
        before = reads()
        self.check(before and all("request" in l or "suspend ack" in l
                                  for l in before),
                   "no-read: the ring read at the request", "\n".join(before))
        d.rng_request()
        d.kick(0)
        d.rng_request()
        d.w(CONFIG, 1)
        q.clock_step_ms(1000)
        self.eq(reads(), before, "no-read: no ring read while suspended")
        self.check(not any("available index" in l for l in q.violations()),
                   "no-read: nothing reported from the ring yet")
        d.set_status(RUNNING)
        after = reads()[len(before):]
        self.check(any("resume" in l for l in after),
                   "no-read: the ring read again at resume",
                   "\n".join(after))
        self.has_violation(q, "available index moved from 0 to 2",
                           "no-read: the buffers made available while "
                           "suspended reported at resume")
        self.check(d.wait_used(0, 2), "no-read: both served after resume")
        # and at a reset of a suspended device
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        n = len(reads())
        d.rng_request()
        self.eq(len(reads()), n, "no-read: none while suspended (2)")
        d.set_status(0)
        self.check(any("reset" in l for l in reads()[n:]),
                   "no-read: the ring read at reset")
        self.check(sum("available index moved from 0 to 1" in l
                       for l in q.violations()) == 1,
                   "no-read: buffer made available while suspended "
                   "reported at reset", "\n".join(q.violations()))

    def t_suspend_stats(self):
        """x-suspend-stats: what the device saw of the suspend protocol,
        the numbers a test harness compares with the driver's."""
        q, d = self.rng(",suspend=on", qmp=True)
        self.stats_eq(q, {}, "stats: all 0 at start")
        try:
            q.qmp_cmd("qom-set", path="/machine/peripheral/dev0",
                      property="x-suspend-stats", value={})
            self.check(False, "stats: qom-set refused (read-only)")
        except QemuError as e:
            self.check("Insufficient permission" in str(e) or
                       "read-only" in str(e) or "not" in str(e),
                       "stats: qom-set refused (read-only)", str(e))
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        self.stats_eq(q, {}, "stats: the set-up counts no reset")
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "stats: request served")
        d.rng_request()     # made available, not kicked: pending
        d.set_status(RUNNING | SUSPEND)
        self.stats_eq(q, {"suspend-requests": 1, "suspend-acks": 1,
                          "pending-total": 1},
                      "stats: one request, acknowledged, one buffer pending")
        d.set_status(RUNNING)
        self.check(d.wait_used(0, 2), "stats: pending buffer served at "
                   "resume")
        self.stats_eq(q, {"suspend-requests": 1, "suspend-acks": 1,
                          "pending-total": 1, "resume-requests": 1,
                          "resumes": 1}, "stats: one resume")
        d.set_status(RUNNING | SUSPEND)
        d.kick(0)                            # a violation
        d.set_status(RUNNING)
        self.stats_eq(q, {"suspend-requests": 2, "suspend-acks": 2,
                          "pending-total": 1, "resume-requests": 2,
                          "resumes": 2, "violations": 1},
                      "stats: second cycle, the kick counted as a violation")
        d.set_status(0)
        self.stats_eq(q, {"suspend-requests": 2, "suspend-acks": 2,
                          "pending-total": 1, "resume-requests": 2,
                          "resumes": 2, "violations": 1,
                          "resets-after-driver-ok": 1},
                      "stats: the driver's reset after DRIVER_OK counted")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        d.set_status(0)                      # reset while suspended
        q.qmp_cmd("system_reset")            # status 0: not counted
        self.stats_eq(q, {"suspend-requests": 3, "suspend-acks": 3,
                          "pending-total": 1, "resume-requests": 2,
                          "resumes": 2, "violations": 1,
                          "resets-after-driver-ok": 2},
                      "stats: reset while suspended counted, a reset "
                      "before DRIVER_OK not")
        q.close()

        for props, want, what in (
                (",suspend-never-ack=on", {"suspend-requests": 1,
                                           "suspend-aborts": 1,
                                           "resets-after-driver-ok": 1},
                 "never-ack: the reset aborts the request"),
                (",suspend-fail=on", {"suspend-requests": 1,
                                      "suspend-failures": 1,
                                      "resets-after-driver-ok": 1},
                 "suspend-fail: a failure, no acknowledgement"),
                (",resume-fail=on", {"suspend-requests": 1,
                                     "suspend-acks": 1, "resume-requests": 1,
                                     "resume-failures": 1,
                                     "resets-after-driver-ok": 1},
                 "resume-fail: a failed resume")):
            q, d = self.rng(",suspend=on" + props, qmp=True)
            d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
            d.set_status(RUNNING | SUSPEND)
            if "resume" in props:
                d.set_status(RUNNING)
            d.set_status(0)
            self.stats_eq(q, want, "stats: " + what)
            q.close()

        # Two virtio-blk requests in flight at the SUSPEND write (a
        # throttled drive), a config change held while suspended.
        img = self.blk_image()
        q, d = self.device(["-drive", f"if=none,id=blk0,format=raw,file={img},"
                            "throttling.iops-total=1",
                            "-device", "virtio-blk-device,drive=blk0,id=dev0,"
                            "suspend=on"], dev_id=2, qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.blk_read()
        d.kick(0)
        q.clock_step_ms(2000)
        self.check(d.wait_used(0, 1), "stats blk: first request served")
        d.blk_read()
        d.blk_read()
        d.kick(0)
        d.set_status(RUNNING | SUSPEND)
        d.set_status(RUNNING | SUSPEND)      # repeated: one request
        self.stats_eq(q, {"suspend-requests": 1, "inflight-last": 2,
                          "inflight-total": 2, "inflight-max": 2,
                          "suspends-with-inflight": 1},
                      "stats blk: two requests in flight at the request, "
                      "not acknowledged yet")
        for _ in range(40):
            q.clock_step_ms(100)
            if self.poll_status(d, RUNNING, 0.3) != RUNNING:
                break
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "stats blk: suspended")
        q.qmp_cmd("block_resize", device="blk0", size=2 << 20)
        q.qmp_cmd("block_resize", device="blk0", size=3 << 20)
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "stats blk: resumed")
        d.set_status(RUNNING | SUSPEND)      # nothing in flight now
        d.set_status(RUNNING)
        self.stats_eq(q, {"suspend-requests": 2, "suspend-acks": 2,
                          "resume-requests": 2, "resumes": 2,
                          "inflight-last": 0, "inflight-total": 2,
                          "inflight-max": 2, "suspends-with-inflight": 1,
                          "config-changes-deferred": 1},
                      "stats blk: second cycle with nothing in flight, one "
                      "deferred config change for two resizes")

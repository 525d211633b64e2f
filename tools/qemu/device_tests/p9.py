# SPDX-License-Identifier: GPL-2.0
"""virtio-9p: requests in flight across SUSPEND, resume, migration."""

import os
import struct
import time

from .harness import (
    CONFIG, F_9P_MOUNT_TAG, F_SUSPEND, F_VERSION_1, P9_DATA, P9_MSIZE,
    P9_NOFID, P9_NOTAG, QemuError, RUNNING, SUSPEND, TATTACH, TCLUNK, TFLUSH,
    TLOPEN, TREAD, TVERSION, TWALK, p9_str)
from .base import TestBase


class P9Tests(TestBase):
    # -- virtio-9p -----------------------------------------------------
    def p9_dir(self):
        """The exported directory: a file to read."""
        path = os.path.join(self.tmp, "9p-export")
        if not os.path.isdir(path):
            os.mkdir(path)
            with open(os.path.join(path, "hello"), "wb") as f:
                f.write(P9_DATA)
        return path

    def p9_args(self, props="", throttle=True):
        """virtio-9p over a local export; throttle: one read a second
        (fsdev throttling runs on the real-time clock, not qtest's), so
        that a read stays in flight for about a second."""
        fsdev = f"local,id=fs0,path={self.p9_dir()},security_model=none"
        if throttle:
            fsdev += ",throttling.iops-total=1"
        return ["-fsdev", fsdev, "-device", "virtio-9p-device,id=dev0,"
                f"fsdev=fs0,mount_tag=vs9p,suspend=on{props}"]

    def p9_call(self, d, kind, tag, body, what, timeout=5.0):
        """Send one 9P request and wait for its reply: (type, body)."""
        used = d.used_idx(0)
        reply = d.p9_request(kind, tag, body)
        d.kick(0)
        if not d.wait_used(0, (used + 1) & 0xffff, timeout):
            self.check(False, f"{what}: no reply")
            return None, b""
        r = d.p9_reply(reply)
        if r is None or r[1] != tag:
            self.check(False, f"{what}: reply", repr(r))
            return None, b""
        return r[0], r[2]

    def p9_version(self, d, what):
        kind, body = self.p9_call(
            d, TVERSION, P9_NOTAG,
            struct.pack("<I", P9_MSIZE) + p9_str("9P2000.L"), what)
        self.check(kind == TVERSION + 1 and
                   body[4:] == p9_str("9P2000.L"),
                   f"{what}: Rversion 9P2000.L", f"{kind} {body!r}")

    def p9_session(self, d, what):
        """Tversion, Tattach (fid 0), walk to hello (fid 1), open it, one
        read (which takes the throttle's first second)."""
        self.p9_version(d, what)
        kind, body = self.p9_call(
            d, TATTACH, 1, struct.pack("<II", 0, P9_NOFID) + p9_str("") +
            p9_str("") + struct.pack("<I", 0), what)
        self.eq(kind, TATTACH + 1, f"{what}: Rattach")
        kind, body = self.p9_call(
            d, TWALK, 2, struct.pack("<IIH", 0, 1, 1) + p9_str("hello"), what)
        self.eq(kind, TWALK + 1, f"{what}: Rwalk to hello")
        kind, body = self.p9_call(d, TLOPEN, 3, struct.pack("<II", 1, 0),
                                  what)
        self.eq(kind, TLOPEN + 1, f"{what}: Rlopen")
        self.p9_read_ok(*self.p9_call(d, TREAD, 4,
                                      struct.pack("<IQI", 1, 0, 64), what),
                        what + ": read before suspend")

    def p9_read_ok(self, kind, body, what):
        self.check(kind == TREAD + 1 and body[:4] ==
                   struct.pack("<I", len(P9_DATA)) and body[4:] == P9_DATA,
                   f"{what}: Rread with the file's data", f"{kind} {body!r}")

    def p9_in_flight(self, q, d, what):
        """A throttled Tread (tag 10) and a Tflush of it (tag 11), which
        waits for it: both in flight.  Right after another read, so that
        the throttle holds this one for about a second.  Returns the used
        index and their reply addresses."""
        used = d.used_idx(0)
        # The whole file: read at once (a longer count would read again
        # after the flush came, and that read would be cancelled)
        rd = d.p9_request(TREAD, 10, struct.pack("<IQI", 1, 0, len(P9_DATA)))
        fl = d.p9_request(TFLUSH, 11, struct.pack("<H", 10))
        d.kick(0)
        time.sleep(0.05)
        self.eq(d.used_idx(0), used, f"{what}: throttled Tread and its "
                "Tflush in flight")
        d.ack_isr()
        return used, rd, fl

    def p9_wait_reply(self, q, d, addr, seconds=3.0, step=True):
        """Wait (real time) until the reply at addr is written, stepping
        qtest's clock only if step."""
        end = time.monotonic() + seconds
        while d.p9_reply(addr) is None and time.monotonic() < end:
            if step:
                q.clock_step_ms(50)
            time.sleep(0.05)
        return d.p9_reply(addr) is not None

    def p9_replies_used(self, q, d, used, rd, fl, what):
        """After the resume: both replies used, read before flush."""
        ok = d.wait_used(0, used + 2, timeout=1.0)
        self.check(ok, f"{what}: both replies used after the resume",
                   f"used index {d.used_idx(0)}, want {used + 2}")
        if ok:
            heads = d.used_ids(0, used, 2)
            bufs = [a - 0x1000 for a in (rd, fl)]
            descs = [struct.unpack("<Q", q.read(d.queues[0]["desc"] + 16 * h,
                                                8))[0] for h in heads]
            self.eq(descs, bufs, f"{what}: used in completion order, "
                    "Rread then Rflush")
        self.check(d.isr() & 1, f"{what}: used buffer interrupt after "
                   "the resume")
        r = d.p9_reply(rd)
        self.p9_read_ok(r and r[0], r and r[2], f"{what}: held Rread")
        r = d.p9_reply(fl)
        self.check(r is not None and r[:2] == (TFLUSH + 1, 11),
                   f"{what}: held Rflush", repr(r))

    def t_9p(self):
        """virtio-9p completes its requests in coroutines, at any time: a
        request in flight at the SUSPEND write (a throttled read, and a
        Tflush waiting for it) completes while the device is suspended;
        its used element and interrupt wait for the resume (patch 18).
        The acknowledgement does not wait for it: a 9P request may never
        complete (a read on a pipe, a flush of one)."""
        q, d = self.device(self.p9_args(), dev_id=9, qmp=True)
        path = "/machine/peripheral/dev0"
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND |
                       1 << F_9P_MOUNT_TAG, queues=[0])
        self.check(feats & (1 << F_SUSPEND) and feats & 1,
                   "9p: bits 43 and MOUNT_TAG negotiated")
        tag = bytes(d.q.readb(d.base + CONFIG + i) for i in range(6))
        self.eq(tag, struct.pack("<H", 4) + b"vs9p", "9p: mount tag in "
                "the configuration space")
        self.p9_session(d, "9p")
        used, rd, fl = self.p9_in_flight(q, d, "9p")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "9p: acknowledged at once, "
                "requests still in flight")
        self.eq(q.qom_get(path, "suspend-state"), "suspended",
                "9p: suspend-state suspended")
        self.check(self.p9_wait_reply(q, d, rd),
                   "9p: the read completed while suspended (its reply is "
                   "in its buffer)")
        self.p9_wait_reply(q, d, fl, 1.0)
        q.clock_step_ms(100)
        time.sleep(0.1)
        self.eq(d.used_idx(0), used, "9p: used ring still while suspended")
        self.eq(d.isr(), 0, "9p: no interrupt while suspended")
        self.device_bugs(q, "9p")
        self.eq(q.qom_get(path, "suspend-device-bugs"), 0,
                "9p: suspend-device-bugs is 0")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "9p: resumed")
        self.p9_replies_used(q, d, used, rd, fl, "9p")
        d.ack_isr()
        self.p9_read_ok(*self.p9_call(d, TREAD, 12,
                                      struct.pack("<IQI", 1, 0, 64), "9p"),
                        "9p: read after the resume")
        # a second cycle with nothing in flight
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "9p: second suspend")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "9p: second resume")
        self.p9_version(d, "9p: after the second cycle")
        self.device_bugs(q, "9p (end)")
        self.no_violation(q, "9p")

    def t_9p_resuming(self):
        """A reply completing while the resume acknowledgement is delayed
        (resuming) is held until the device runs, a reply held across a
        reset is dropped, and one completing while suspending is used at
        once."""
        q, d = self.device(self.p9_args(",resume-ack-delay-ms=100,"
                                        "suspend-ack-delay-ms=2000"),
                           dev_id=9, qmp=True)
        path = "/machine/peripheral/dev0"
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND | 1 << F_9P_MOUNT_TAG,
               queues=[0])
        self.p9_session(d, "9p-resuming")
        # suspending (2 s on qtest's clock, not stepped): used at once
        used, rd, fl = self.p9_in_flight(q, d, "9p-suspending")
        d.set_status(RUNNING | SUSPEND)
        self.eq(q.qom_get(path, "suspend-state"), "suspending",
                "9p-suspending: suspending")
        self.check(d.wait_used(0, used + 2, timeout=3.0),
                   "9p-suspending: both replies used before the "
                   "acknowledgement")
        self.check(d.isr() & 1, "9p-suspending: with their interrupt")
        d.ack_isr()
        q.clock_step_ms(2001)
        self.eq(d.status, self.SUSPENDED, "9p-suspending: acknowledged")
        d.set_status(RUNNING)
        q.clock_step_ms(101)
        self.eq(d.status, RUNNING, "9p-suspending: resumed")
        # resuming: held until the acknowledgement
        used, rd, fl = self.p9_in_flight(q, d, "9p-resuming")
        d.set_status(RUNNING | SUSPEND)
        q.clock_step_ms(2001)
        self.eq(d.status, self.SUSPENDED, "9p-resuming: suspended")
        d.set_status(RUNNING)
        self.eq(q.qom_get(path, "suspend-state"), "resuming",
                "9p-resuming: resuming")
        self.check(self.p9_wait_reply(q, d, rd, step=False),
                   "9p-resuming: the read completed while resuming")
        self.p9_wait_reply(q, d, fl, 1.0, step=False)
        time.sleep(0.1)
        self.eq(d.used_idx(0), used, "9p-resuming: used ring still while "
                "resuming")
        self.eq(d.isr(), 0, "9p-resuming: no interrupt while resuming")
        q.clock_step_ms(101)
        self.eq(d.status, RUNNING, "9p-resuming: resumed")
        self.p9_replies_used(q, d, used, rd, fl, "9p-resuming")
        self.device_bugs(q, "9p-resuming")
        d.ack_isr()
        # a reset drops the replies held
        used, rd, fl = self.p9_in_flight(q, d, "9p-reset")
        d.set_status(RUNNING | SUSPEND)
        q.clock_step_ms(2001)
        self.eq(d.status, self.SUSPENDED, "9p-reset: suspended")
        self.check(self.p9_wait_reply(q, d, rd, step=False) and
                   self.p9_wait_reply(q, d, fl, 1.0, step=False),
                   "9p-reset: both replies completed while suspended")
        d.set_status(0)
        self.eq(d.status, 0, "9p-reset: reset")
        self.eq(d.used_idx(0), used, "9p-reset: the held replies were not "
                "used")
        self.eq(d.isr(), 0, "9p-reset: no interrupt")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND | 1 << F_9P_MOUNT_TAG,
               queues=[0], reset=False)
        self.p9_version(d, "9p-reset: after the reset")
        self.device_bugs(q, "9p-reset")
        self.no_violation(q, "9p-resuming")

    def t_9p_detector(self):
        """The detector on virtio-9p: a request made available and kicked
        while suspended is reported, not processed, and served after the
        resume."""
        q, d = self.device(self.p9_args(throttle=False), dev_id=9)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND | 1 << F_9P_MOUNT_TAG,
               queues=[0])
        self.p9_version(d, "9p-detector")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "9p-detector: suspended")
        reply = d.p9_request(TVERSION, P9_NOTAG, struct.pack("<I", P9_MSIZE) +
                             p9_str("9P2000.L"))
        d.kick(0)
        time.sleep(0.1)
        self.eq(d.used_idx(0), 1, "9p-detector: not processed while "
                "suspended")
        self.check(d.p9_reply(reply) is None, "9p-detector: no reply "
                   "written while suspended")
        self.has_violation(q, "queue 0 notified while suspended",
                           "9p-detector: the kick reported")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "9p-detector: resumed")
        self.has_violation(q, "available index moved from 1 to 2",
                           "9p-detector: the request reported at resume")
        self.check(d.wait_used(0, 2), "9p-detector: served after the resume")
        self.device_bugs(q, "9p-detector")

    def t_9p_migrate(self):
        """A suspended virtio-9p device migrates (not mounted: Tattach
        adds QEMU's migration blocker) and resumes on the destination."""
        args = self.p9_args(throttle=False)
        q, d = self.device(args, dev_id=9, qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND | 1 << F_9P_MOUNT_TAG,
               queues=[0])
        self.p9_version(d, "9p-migrate")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "9p-migrate: suspended")
        queues = d.queues
        q2, d2 = self.migrate(q, args, 9, "9p-migrate")
        d2.queues = queues
        self.eq(d2.status, self.SUSPENDED, "9p-migrate: suspended on the "
                "destination")
        self.eq(q2.qom_get("/machine/peripheral/dev0", "suspend-state"),
                "suspended", "9p-migrate: suspend-state on the destination")
        d2.set_status(RUNNING)
        self.eq(d2.status, RUNNING, "9p-migrate: resumed on the destination")
        self.eq(d2.used_idx(0), 1, "9p-migrate: used ring kept")
        self.p9_version(d2, "9p-migrate: on the destination")
        kind, _ = self.p9_call(
            d2, TATTACH, 1, struct.pack("<II", 0, P9_NOFID) + p9_str("") +
            p9_str("") + struct.pack("<I", 0), "9p-migrate")
        self.eq(kind, TATTACH + 1, "9p-migrate: Rattach on the destination")
        d2.set_status(RUNNING | SUSPEND)
        self.eq(d2.status, self.SUSPENDED, "9p-migrate: suspended, mounted")
        try:
            q2.qmp_cmd("migrate", uri="exec:cat > /dev/null")
            r = self.wait_qmp(q2, "query-migrate",
                              lambda r: r.get("status") in ("completed",
                                                            "failed"))
            refused = r.get("status") == "failed"
        except QemuError as e:
            refused = "Migration is disabled when VirtFS" in str(e)
        self.check(refused, "9p-migrate: mounted, migration refused (QEMU's "
                   "VirtFS migration blocker)")
        self.no_violation(q2, "9p-migrate")
        q2.close()
        # Replies held while suspended are not in the stream: the
        # migration fails and the source goes on.  Clunking the root fid
        # (the file stays open) lifts QEMU's blocker.
        q, d = self.device(self.p9_args(), dev_id=9, qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND | 1 << F_9P_MOUNT_TAG,
               queues=[0])
        self.p9_session(d, "9p-migrate-held")
        kind, _ = self.p9_call(d, TCLUNK, 5, struct.pack("<I", 0),
                               "9p-migrate-held")
        self.eq(kind, TCLUNK + 1, "9p-migrate-held: root fid clunked")
        self.p9_read_ok(*self.p9_call(d, TREAD, 6, struct.pack(
            "<IQI", 1, 0, len(P9_DATA)), "9p-migrate-held", timeout=3.0),
            "9p-migrate-held: read")
        used, rd, fl = self.p9_in_flight(q, d, "9p-migrate-held")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "9p-migrate-held: suspended")
        self.check(self.p9_wait_reply(q, d, rd) and
                   self.p9_wait_reply(q, d, fl, 1.0),
                   "9p-migrate-held: both completed while suspended")
        q.qmp_cmd("migrate", uri="exec:cat > /dev/null")
        r = self.wait_qmp(q, "query-migrate",
                          lambda r: r.get("status") in ("completed",
                                                        "failed"))
        self.eq(r.get("status"), "failed", "9p-migrate-held: migration "
                "with held replies fails")
        self.check("replies held while the device is suspended" in
                   q.stderr(), "9p-migrate-held: saying why", q.stderr())
        self.wait_qmp(q, "query-status",
                      lambda r: r.get("status") == "running")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "9p-migrate-held: resumed on the source")
        self.p9_replies_used(q, d, used, rd, fl, "9p-migrate-held")
        self.device_bugs(q, "9p-migrate-held")

    def t_9p_pci(self):
        """virtio-9p-pci: the same held replies over virtio-pci."""
        q, d = self.pci(",fsdev=fs0,mount_tag=vs9p",
                        args=self.p9_args()[:2], device="virtio-9p-pci")
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND |
                       1 << F_9P_MOUNT_TAG, queues=[0])
        self.check(feats & (1 << F_SUSPEND), "9p-pci: bit 43 negotiated")
        self.p9_session(d, "9p-pci")
        used, rd, fl = self.p9_in_flight(q, d, "9p-pci")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "9p-pci: acknowledged at once")
        self.check(self.p9_wait_reply(q, d, rd) and
                   self.p9_wait_reply(q, d, fl, 1.0),
                   "9p-pci: both completed while suspended")
        time.sleep(0.1)
        self.eq(d.used_idx(0), used, "9p-pci: used ring still while "
                "suspended")
        self.eq(d.isr(), 0, "9p-pci: no interrupt while suspended")
        self.device_bugs(q, "9p-pci")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "9p-pci: resumed")
        self.p9_replies_used(q, d, used, rd, fl, "9p-pci")
        self.no_violation(q, "9p-pci")

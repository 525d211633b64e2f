# SPDX-License-Identifier: GPL-2.0
"""virtio-blk: requests in flight across SUSPEND, asynchronous
acknowledgement, notifications at resume."""

import os
import time

from .harness import (
    ACKNOWLEDGE, CONFIG, CONFIG_GENERATION, DRIVER, FEATURES_OK, F_SUSPEND,
    F_VERSION_1, NEEDS_RESET, RUNNING, SUSPEND)
from .base import TestBase


class BlkTests(TestBase):
    def t_blk(self):
        img = os.path.join(self.tmp, "blk.img")
        with open(img, "wb") as f:
            f.write(b"VSUSPEND-SECTOR0".ljust(512, b"\0"))
            f.truncate(1 << 20)
        q, d = self.device(["-drive", f"if=none,id=blk0,format=raw,file={img}",
                            "-device", "virtio-blk-device,drive=blk0,id=dev0,"
                            "suspend=on"], dev_id=2, qmp=True)
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        self.check(feats & (1 << F_SUSPEND), "blk: bit 43 negotiated")
        gen = d.r(CONFIG_GENERATION)
        old_capacity = d.r(CONFIG) | d.r(CONFIG + 4) << 32
        self.eq(old_capacity, (1 << 20) // 512, "blk: capacity 1 MiB")
        req = d.blk_read()
        d.kick(0)
        d.set_status(RUNNING | SUSPEND)      # right behind the request
        end = time.monotonic() + 5          # acked once the request is done
        while d.status == RUNNING and time.monotonic() < end:
            time.sleep(0.005)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "blk: suspended")
        self.eq(d.used_idx(0), 1,
                "blk: in-flight request completed before the ack")
        status, data = d.blk_result(req)
        self.check(status == 0 and data == b"VSUSPEND-SECTOR0",
                   "blk: request data correct", f"{status} {data!r}")
        self.check(d.isr() & 1, "blk: its interrupt came before the ack")
        d.ack_isr()
        q.qmp_cmd("block_resize", device="blk0", size=2 << 20)
        time.sleep(0.05)
        self.eq(d.isr(), 0, "blk: config change held while suspended")
        self.eq(d.r(CONFIG_GENERATION), gen, "blk: generation unchanged")
        capacity = d.r(CONFIG) | d.r(CONFIG + 4) << 32
        self.eq(capacity, old_capacity,
                "blk: configuration space unchanged while suspended "
                "(old capacity)")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "blk: resumed")
        self.check(d.isr() & 2, "blk: held config interrupt sent at resume")
        self.check(d.r(CONFIG_GENERATION) != gen, "blk: generation moved")
        capacity = d.r(CONFIG) | d.r(CONFIG + 4) << 32
        self.eq(capacity, (2 << 20) // 512, "blk: new capacity visible")
        d.ack_isr()
        req = d.blk_read()
        d.kick(0)
        self.check(d.wait_used(0, 2), "blk: request after resume")
        self.no_violation(q, "blk cycle")

    def blk_args(self, img, extra=()):
        return ["-drive", f"if=none,id=blk0,format=raw,file={img}",
                "-device", "virtio-blk-device,drive=blk0,id=dev0,suspend=on"
                ] + list(extra)

    def blk_image(self, name="blk.img"):
        img = os.path.join(self.tmp, name)
        with open(img, "wb") as f:
            f.write(b"VSUSPEND-SECTOR0".ljust(512, b"\0"))
            f.truncate(1 << 20)
        return img

    def t_blk_async_ack(self):
        """The SUSPEND write does not wait for virtio-blk's requests in
        flight: the device acknowledges once they have completed (a
        throttled drive, whose throttle timer runs on qtest's clock)."""
        img = self.blk_image()
        q, d = self.device(["-drive", f"if=none,id=blk0,format=raw,file={img},"
                            "throttling.iops-total=1",
                            "-device", "virtio-blk-device,drive=blk0,id=dev0,"
                            "suspend=on"], dev_id=2, qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.blk_read()
        d.kick(0)
        q.clock_step_ms(2000)
        self.check(d.wait_used(0, 1), "async-ack: first request served")
        d.ack_isr()
        reqs = [d.blk_read(), d.blk_read()]
        d.kick(0)
        self.eq(d.used_idx(0), 1, "async-ack: two requests throttled")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING, "async-ack: the status write returned "
                "without acknowledging (requests in flight)")
        self.eq(q.qom_get("/machine/peripheral/dev0", "suspend-state"),
                "suspending", "async-ack: suspending")
        d.set_status(RUNNING | SUSPEND)      # the driver may repeat it
        self.eq(d.status, RUNNING, "async-ack: still suspending")
        acked_used = None
        for _ in range(40):             # the I/O itself takes real time
            q.clock_step_ms(100)
            end = time.monotonic() + 0.3
            while d.status == RUNNING and time.monotonic() < end:
                time.sleep(0.01)
            if d.status != RUNNING:
                acked_used = d.used_idx(0)
                break
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "async-ack: acknowledged once the requests completed")
        self.eq(acked_used, 3, "async-ack: both requests used before the "
                "acknowledgement")
        self.check(d.isr() & 1, "async-ack: their interrupt came before the "
                   "acknowledgement")
        for r in reqs:
            status, data = d.blk_result(r)
            self.check(status == 0 and data == b"VSUSPEND-SECTOR0",
                       "async-ack: request data", f"{status} {data!r}")
        d.ack_isr()
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "async-ack: resumed")
        d.blk_read()
        d.kick(0)
        q.clock_step_ms(2000)
        self.check(d.wait_used(0, 4), "async-ack: request after resume")
        self.no_violation(q, "async-ack")

    def t_blk_notify_at_resume(self):
        """x-fault-notify-at-resume: the request in flight at the SUSPEND
        write is used before the acknowledgement, as always, but its
        interrupt waits for the resume; a failed resume (resume-fail)
        drops it, leaving a used buffer no interrupt announces."""
        for resume_fail in (False, True):
            what = "notify-at-resume" + (" resume-fail" if resume_fail
                                         else "")
            img = self.blk_image(f"blk-late{int(resume_fail)}.img")
            q, d = self.device([
                "-drive", f"if=none,id=blk0,format=raw,file={img},"
                "throttling.iops-total=1",
                "-device", "virtio-blk-device,drive=blk0,id=dev0,suspend=on,"
                "x-fault-notify-at-resume=on" +
                (",resume-fail=on" if resume_fail else "")],
                dev_id=2, qmp=True)
            d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
            d.blk_read()
            d.kick(0)
            q.clock_step_ms(2000)
            self.check(d.wait_used(0, 1), f"{what}: first request served")
            self.check(d.isr() & 1, f"{what}: its interrupt while running")
            d.ack_isr()
            req = d.blk_read()
            d.kick(0)
            self.eq(d.used_idx(0), 1, f"{what}: second request throttled")
            d.set_status(RUNNING | SUSPEND)
            for _ in range(40):             # the I/O itself takes real time
                q.clock_step_ms(100)
                if self.poll_status(d, RUNNING, 0.3) != RUNNING:
                    break
            suspended = ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND
            self.eq(d.status, suspended, f"{what}: acknowledged once the "
                    "request completed")
            self.eq(d.used_idx(0), 2, f"{what}: the request used before the "
                    "acknowledgement")
            status, data = d.blk_result(req)
            self.check(status == 0 and data == b"VSUSPEND-SECTOR0",
                       f"{what}: request data", f"{status} {data!r}")
            self.eq(d.isr(), 0, f"{what}: no interrupt for it before the "
                    "resume")
            d.set_status(RUNNING)
            if resume_fail:
                self.eq(d.status, suspended | NEEDS_RESET,
                        f"{what}: the resume failed")
                # DEVICE_NEEDS_RESET is a configuration change, for which
                # QEMU sets both ISR bits: what tells that the held
                # interrupt was dropped is its count.
                self.check(d.isr() & 2, f"{what}: the configuration "
                           "interrupt of DEVICE_NEEDS_RESET")
                want = {"notifications-held": 1, "notifications-released": 0}
            else:
                self.eq(d.status, RUNNING, f"{what}: resumed")
                self.check(d.isr() & 1, f"{what}: the interrupt comes at "
                           "the resume")
                want = {"notifications-held": 1, "notifications-released": 1}
            got = self.stats(q)
            self.eq({k: got[k] for k in want}, want,
                    f"{what}: notifications held, and released only by a "
                    "resume that worked")
            self.no_violation(q, what)
            q.close()

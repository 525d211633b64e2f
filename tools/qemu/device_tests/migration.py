# SPDX-License-Identifier: GPL-2.0
"""stop/cont and migration of suspended devices, both transports."""

import os
import time

from .harness import (
    ACKNOWLEDGE, CONFIG, CONFIG_GENERATION, DRIVER, FEATURES_OK, F_SUSPEND,
    F_VERSION_1, PciDevice, QemuError, RUNNING, SUSPEND, find_devices)
from .base import TestBase


class MigrationTests(TestBase):
    def t_stop_cont(self):
        """QMP stop and cont with a device suspended: nothing changes for
        the driver, the device resumes after cont."""
        q, d = self.device(self.blk_args(self.blk_image()), dev_id=2,
                           qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        req = d.blk_read()
        d.kick(0)
        self.check(d.wait_used(0, 1), "stop/cont: request before suspend")
        d.ack_isr()
        d.set_status(RUNNING | SUSPEND)
        suspended = ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND
        self.eq(d.status, suspended, "stop/cont: suspended")
        q.qmp_cmd("stop")
        self.eq(d.status, suspended, "stop/cont: suspended after stop")
        self.eq(q.qom_get("/machine/peripheral/dev0", "suspend-state"),
                "suspended", "stop/cont: suspend-state after stop")
        q.qmp_cmd("cont")
        self.eq(d.status, suspended, "stop/cont: suspended after cont")
        self.eq(d.isr(), 0, "stop/cont: no interrupt")
        self.eq(d.used_idx(0), 1, "stop/cont: used ring untouched")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "stop/cont: resumed after cont")
        req = d.blk_read()
        d.kick(0)
        self.check(d.wait_used(0, 2), "stop/cont: request after resume")
        status, data = d.blk_result(req)
        self.check(status == 0 and data == b"VSUSPEND-SECTOR0",
                   "stop/cont: request data", f"{status} {data!r}")
        self.no_violation(q, "stop/cont")

    def t_pci_stop_cont(self):
        """QMP stop and cont with a virtio-pci device suspended, its
        ioeventfds in use (virtio-pci assigns them under qtest too): cont
        restarts them and QEMU signals each queue's eventfd itself, to
        catch the kicks of the stop; on a suspended device that is no
        notification of the driver's, and nothing is processed until the
        resume."""
        q, d, _ = self.pci_running()
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "pci stop/cont: suspended")
        q.qmp_cmd("stop")
        q.qmp_cmd("cont")
        time.sleep(0.2)                 # the main loop reads the eventfds
        self.eq(d.status, self.SUSPENDED, "pci stop/cont: still suspended")
        self.eq(d.used_idx(0), 1, "pci stop/cont: used ring untouched")
        self.no_violation(q, "pci stop/cont")
        # a kick of the driver's while suspended is still one
        d.rng_request()
        d.kick(0)
        time.sleep(0.2)
        kicks = [v for v in q.violations()
                 if "queue 0 notified while suspended" in v]
        self.eq(len(kicks), 1, "pci stop/cont: the driver's own kick "
                "reported, once")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "pci stop/cont: resumed")
        self.check(d.wait_used(0, 2), "pci stop/cont: the request made "
                   "available while suspended served after the resume")
        self.pci_works(d, "pci stop/cont: after the resume", 3)

    def t_pci_migrate(self):
        """A suspended virtio-pci device migrated with its ioeventfds in
        use: the destination starts them when it runs, which signals each
        queue's eventfd; no notification of the driver's, nothing
        processed until the resume, which serves what was made available
        before the migration."""
        q, d, _ = self.pci_running()
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "pci migrate: suspended")
        d.rng_request()                 # made available, not notified
        q2, d2 = self.pci_migrate_to(q, d, "pci migrate")
        self.eq(d2.status, self.SUSPENDED, "pci migrate: still suspended")
        self.eq(d2.used_idx(0), 1, "pci migrate: used ring untouched")
        self.no_violation(q2, "pci migrate: destination")
        d2.set_status(RUNNING)
        self.eq(d2.status, RUNNING, "pci migrate: resumed")
        self.check(d2.wait_used(0, 2), "pci migrate: the request made "
                   "available before the migration served at the resume")
        self.pci_works(d2, "pci migrate: after the resume", 3)

    def pci_migrate_to(self, q, d, what):
        """Migrates q (from pci()) through a file to a new QEMU with the
        same devices, which runs once it has loaded the state; q is
        closed.  Returns the new QEMU and d as seen there."""
        status, state = self.migrate_out(q)
        self.eq(status, "completed", f"{what}: saved")
        args = q.proc.args[q.proc.args.index("-device"):]
        args = [a for a in args if not a.startswith("unix:")
                and a != "-qmp"]
        q.close()
        q2 = self.start(args + ["-incoming", "defer"], qmp=True,
                        machine="microvm,acpi=on,pcie=on")
        q2.qmp_cmd("migrate-incoming", uri=f"exec:cat {state}")
        r = self.wait_qmp(q2, "query-status",
                          lambda r: r.get("status") != "inmigrate")
        self.eq(r.get("status"), "running", f"{what}: destination runs")
        time.sleep(0.2)                 # the main loop reads the eventfds
        d2 = PciDevice.__new__(PciDevice)
        d2.__dict__.update(d.__dict__)
        d2.q = q2
        return q2, d2

    def suspended_through_stop_cont(self, q, d, what):
        """Suspends d, then QMP stop and cont, which start the device's
        ioeventfds again (signalling them): d stays suspended, with no
        notification of the driver's reported."""
        d.set_status(RUNNING | SUSPEND)
        self.eq(self.poll_status(d, RUNNING), self.SUSPENDED, what)
        q.qmp_cmd("stop")
        q.qmp_cmd("cont")
        time.sleep(0.2)             # the main loop reads the eventfds
        self.eq(d.status, self.SUSPENDED, f"{what}: after stop and cont")
        self.no_violation(q, f"{what}: stop and cont")

    def t_pci_types_stop_cont_migrate(self):
        """Every device type that offers SUSPEND and needs no vhost-user
        backend, on virtio-pci with its ioeventfds in use: suspended, it
        stays suspended through QMP stop and cont and through a migration
        (both start the ioeventfds again, which signals them), with no
        notification of the driver's reported, and resumes on the
        destination."""
        img = os.path.join(self.tmp, "pci-types.img")
        with open(img, "wb") as f:
            f.truncate(1 << 20)
        share = os.path.join(self.tmp, "pci-types-9p")
        os.makedirs(share, exist_ok=True)
        types = [
            ("virtio-blk-pci", ",drive=d0",
             ["-drive", f"if=none,id=d0,file={img},format=raw"]),
            ("virtio-net-pci", ",romfile=", []),
            ("virtio-scsi-pci", "", []),
            ("virtio-serial-pci", "", []),
            ("virtio-keyboard-pci", "", []),
            ("virtio-balloon-pci", "", []),
            ("virtio-gpu-pci", "", []),
            ("virtio-9p-pci", ",fsdev=f0,mount_tag=t",
             ["-fsdev", f"local,id=f0,path={share},security_model=none"]),
        ]
        for device, props, args in types:
            what = f"{device} suspended"
            q, d = self.pci(props, args, device=device,
                            vectors=None if "balloon" in device else 2)
            d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
            self.suspended_through_stop_cont(q, d, what)
            q2, d2 = self.pci_migrate_to(q, d, f"{what}: migration")
            self.eq(d2.status, self.SUSPENDED, f"{what}: on the destination")
            self.no_violation(q2, f"{what}: migration")
            d2.set_status(RUNNING)
            self.eq(self.poll_status(d2, self.SUSPENDED), RUNNING,
                    f"{what}: resumed on the destination")
            q2.close()

    def migrate_out(self, q):
        """Migrate q into a file: returns (the migration's end status,
        "completed" or "failed", the file)."""
        state = os.path.join(self.tmp, f"migrate{len(self.live)}")
        q.qmp_cmd("migrate", uri=f"exec:cat > {state}")
        r = self.wait_qmp(q, "query-migrate",
                          lambda r: r.get("status") in ("completed",
                                                        "failed"))
        return r.get("status"), state

    def migrate(self, q, args, dev_id, what):
        """Migrate q through a file to a new QEMU with args: returns the
        new QEMU and its device."""
        status, state = self.migrate_out(q)
        self.eq(status, "completed", f"{what}: migration saved")
        q.close()
        q2 = self.start(args + ["-incoming", "defer"], qmp=True)
        q2.qmp_cmd("migrate-incoming", uri=f"exec:cat {state}")
        r = self.wait_qmp(q2, "query-status",
                          lambda r: r.get("status") != "inmigrate")
        self.eq(r.get("status"), "running", f"{what}: destination runs")
        devs = [dv for i, dv in find_devices(q2) if i == dev_id]
        if not devs:
            raise QemuError("no device on the destination: " + q2.stderr())
        d2 = devs[0]
        d2.queues = {}
        return q2, d2

    def t_migrate(self):
        """A device suspended on the source is suspended on the
        destination, with its held configuration change."""
        img = self.blk_image()
        args = self.blk_args(img)
        q, d = self.device(args, dev_id=2, qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        gen = d.r(CONFIG_GENERATION)
        req = d.blk_read()
        d.kick(0)
        self.check(d.wait_used(0, 1), "migrate: request before suspend")
        d.ack_isr()
        d.set_status(RUNNING | SUSPEND)
        suspended = ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND
        self.eq(d.status, suspended, "migrate: suspended on the source")
        q.qmp_cmd("block_resize", device="blk0", size=2 << 20)
        self.eq(d.isr(), 0, "migrate: config change held on the source")
        queues = d.queues
        q2, d2 = self.migrate(q, args, 2, "migrate")
        d2.queues = queues
        self.eq(d2.status, suspended, "migrate: destination status reads "
                "suspended")
        self.eq(q2.qom_get("/machine/peripheral/dev0", "suspend-state"),
                "suspended", "migrate: suspend-state on the destination")
        capacity = d2.r(CONFIG) | d2.r(CONFIG + 4) << 32
        self.eq(capacity, (1 << 20) // 512,
                "migrate: configuration space still frozen (old capacity)")
        self.eq(d2.r(CONFIG_GENERATION), gen, "migrate: generation unchanged")
        self.eq(d2.isr(), 0, "migrate: no interrupt while suspended")
        d2.set_status(RUNNING)
        self.eq(d2.status, RUNNING, "migrate: resumed on the destination")
        self.check(d2.isr() & 2, "migrate: held config change delivered "
                   "at resume")
        capacity = d2.r(CONFIG) | d2.r(CONFIG + 4) << 32
        self.eq(capacity, (2 << 20) // 512, "migrate: new capacity")
        d2.ack_isr()
        self.eq(d2.used_idx(0), 1, "migrate: used ring kept")
        req = d2.blk_read()
        d2.kick(0)
        self.check(d2.wait_used(0, 2), "migrate: request served on the "
                   "destination")
        status, data = d2.blk_result(req)
        self.check(status == 0 and data == b"VSUSPEND-SECTOR0",
                   "migrate: request data", f"{status} {data!r}")
        self.no_violation(q2, "migrate")

    def t_migrate_delay(self):
        """A suspend request pending (acknowledgement delay running) is
        migrated with the time it has left."""
        args = ["-device", "virtio-rng-device,id=dev0,suspend=on,"
                "suspend-ack-delay-ms=100"]
        q, d = self.device(args, dev_id=4, qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        t0 = int(q.cmd("clock_step 0"))
        d.set_status(RUNNING | SUSPEND)
        q.clock_step_ms(60)
        self.eq(d.status, RUNNING, "migrate-delay: not acknowledged yet")
        queues = d.queues
        q2, d2 = self.migrate(q, args, 4, "migrate-delay")
        d2.queues = queues
        self.eq(q2.qom_get("/machine/peripheral/dev0", "suspend-state"),
                "suspending", "migrate-delay: suspending on the destination")
        self.eq(d2.status, RUNNING, "migrate-delay: still not acknowledged")
        # qtest's clock is not migrated (a real VM's virtual clock is): the
        # deadline is, step from timer to timer until it acknowledges
        for _ in range(100):
            now = int(q2.cmd("clock_step"))
            if d2.status != RUNNING or now > t0 + 200 * 1000000:
                break
        self.eq(d2.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "migrate-delay: acknowledged on the destination")
        self.eq(now, t0 + 100 * 1000000, "migrate-delay: at the deadline "
                "set on the source (request + 100 ms)")
        d2.set_status(RUNNING)
        self.eq(d2.status, RUNNING, "migrate-delay: resumed")
        d2.rng_request()
        d2.kick(0)
        self.check(d2.wait_used(0, 1), "migrate-delay: request served")
        self.no_violation(q2, "migrate-delay")

    def migration_refused(self, q, what):
        """A migration of q fails and the source goes on running."""
        self.eq(self.migrate_out(q)[0], "failed",
                f"{what}: migration refused")
        self.eq(self.wait_qmp(q, "query-status",
                              lambda r: r.get("status") == "running")
                .get("status"), "running", f"{what}: the source goes on")

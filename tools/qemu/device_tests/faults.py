# SPDX-License-Identifier: GPL-2.0
"""Injected faults: devices that vanish (x-fault-vanish) and a recovery
that fails (x-fault-recovery)."""

import time

from .harness import (
    ACKNOWLEDGE, CAP_ID_EXP, CAP_ID_MSIX, C_CFGGEN, C_DF, C_DFSELECT, C_GF,
    C_GFSELECT, C_MSIX, C_NUMQ, C_Q_DESC, C_Q_DEVICE, C_Q_DRIVER, C_Q_ENABLE,
    C_Q_MSIX, C_Q_NOFF, C_Q_RESET, C_Q_SELECT, C_Q_SIZE, C_STATUS, DRIVER,
    EXP_SLTCTL, FEATURES_OK, F_STOP, F_SUSPEND, F_SUSPEND_V5, F_VERSION_1,
    NO_VECTOR, PCI_CAP_COMMON, PCI_CAP_DEVICE, PCI_CAP_ISR, PCI_CAP_NOTIFY,
    PCI_CAP_PTR, PCI_COMMAND, PCI_STATUS_INTERRUPT, PCI_STATUS_REG, PciDevice,
    QemuError, RUNNING, SLTCTL_PCC_OFF, SLTCTL_PIC_OFF, STOP, SUSPEND)
from .base import TestBase


class FaultTests(TestBase):
    # -- x-fault-vanish ------------------------------------------------
    F_BLK_CONFIG_WCE = 11
    BLK_CFG_WCE = 0x20          # offsetof(struct virtio_blk_config, wce)
    # MSI-X: BAR 1 in the port's non-prefetchable window, each vector's
    # message a write of 0x4000 + vector to guest RAM at MSI_RAM + 0x10 *
    # vector, where the test sees it
    MSIX_BAR, MSI_RAM = 0xc1000000, 0x300000
    VANISH_TIMEOUT = 1.0        # a request not used by then never is

    def vanish_blk(self, props, msix):
        """virtio-blk-pci (modern, suspend=on, two MSI-X vectors) behind
        the root port, running with CONFIG_WCE: queue 0 on vector 0 and
        configuration changes on vector 1 with MSI-X enabled, INTx
        otherwise."""
        img = self.blk_image()
        args = ["-drive", f"if=none,id=blk0,format=raw,file={img}",
                "-device", "pcie-root-port,id=rp0,bus=pcie.0,addr=0x2,"
                "chassis=1",
                "-device", "virtio-blk-pci,id=dev0,bus=rp0,drive=blk0,"
                "disable-legacy=on,vectors=2,num-queues=1,suspend=on" + props]
        q = self.start(args, qmp=True, machine="microvm,acpi=on,pcie=on")
        d = PciDevice(q, required=(PCI_CAP_COMMON, PCI_CAP_NOTIFY,
                                   PCI_CAP_ISR, PCI_CAP_DEVICE))
        if msix:
            self.msix_on(d)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND | 1 << self.F_BLK_CONFIG_WCE,
               queues=[0], driver_ok=False)
        d.cw(C_MSIX, 1 if msix else NO_VECTOR)
        d.cw(C_Q_SELECT, 0)
        d.cw(C_Q_MSIX, 0 if msix else NO_VECTOR)
        d.set_status(RUNNING)
        return q, d

    def t_pci_unplug_suspending(self):
        """A virtio-blk-pci unplugged while its suspend waits for the
        requests in flight: the unplug completes them (the block layer's
        drain) after the device's suspend state is gone, and QEMU goes
        on."""
        q, d, _ = self.pci_blk_throttled("unplug")
        d.set_status(RUNNING | SUSPEND)
        self.eq(q.qom_get(self.VDEV, "suspend-state"), "suspending",
                "unplug: suspending, requests in flight")
        # What the guest's pciehp does after device_del's attention
        # button: power indicator and power controller off
        port = PciDevice.PORT
        pos = q.readb(port + PCI_CAP_PTR)
        while pos and q.readb(port + pos) != CAP_ID_EXP:
            pos = q.readb(port + pos + 1)
        self.check(pos, "unplug: the root port has a PCI Express capability")
        q.qmp_cmd("device_del", id="dev0")
        ctl = q.readw(port + pos + EXP_SLTCTL)
        q.writew(port + pos + EXP_SLTCTL,
                 ctl | SLTCTL_PIC_OFF | SLTCTL_PCC_OFF)
        q.clock_step_ms(2000)
        try:
            devs = q.qmp_cmd("qom-list", path="/machine/peripheral")
            alive = True
        except (QemuError, OSError, ValueError) as e:
            devs, alive = [], e
        self.check(alive is True, "unplug: QEMU survives the unplug",
                   f"{alive}; stderr: {q.stderr()}")
        self.check(not any(p["name"] == "dev0" for p in devs),
                   "unplug: the device is gone", devs)
        self.check("device bug" not in q.log(),
                   "unplug: no device bug line", q.log())

    def msix_on(self, d):
        q = d.q
        pos = d.cfg_r(PCI_CAP_PTR, 1)
        while pos and d.cfg_r(pos, 1) != CAP_ID_MSIX:
            pos = d.cfg_r(pos + 1, 1)
        if not pos:
            raise QemuError("virtio-pci: no MSI-X capability")
        table = d.cfg_r(pos + 4)
        q.writew(d.PORT + 0x20, self.MSIX_BAR >> 16)    # memory base
        q.writew(d.PORT + 0x22, self.MSIX_BAR >> 16)    # limit: +1 MiB
        d.cfg_w(0x10 + 4 * (table & 7), self.MSIX_BAR)
        for v in (0, 1):
            entry = self.MSIX_BAR + (table & ~7) + 16 * v
            q.writel(entry, self.MSI_RAM + 0x10 * v)
            q.writel(entry + 4, 0)
            q.writel(entry + 8, 0x4000 + v)
            q.writel(entry + 12, 0)                     # unmasked
            q.writel(self.MSI_RAM + 0x10 * v, 0)
        d.cfg_w(pos + 2, 0x8000, 2)                     # MSI-X enable

    def msi_seen(self, d, vector):
        """The vector's message since the last call (cleared)."""
        addr = self.MSI_RAM + 0x10 * vector
        seen = d.q.readl(addr) == 0x4000 + vector
        d.q.writel(addr, 0)
        return seen

    def intx(self, d):
        return bool(d.cfg_r(PCI_STATUS_REG, 2) & PCI_STATUS_INTERRUPT)

    def writeback(self, q):
        return [b for b in q.qmp_cmd("query-block")
                if b["device"] == "blk0"][0]["inserted"]["cache"]["writeback"]

    def vanished_reads(self, d, what, ids=0x10421af4):
        """Every register of the modern regions reads all ones of the
        access size, the PCI configuration space is still there (its
        device and vendor IDs, ids: virtio-blk's by default)."""
        q = d.q
        self.eq(d.status, 0xff, f"{what}: device status reads 0xff")
        common = [(off, size, d.cr(off, size)) for off, size in
                  ((C_DFSELECT, 4), (C_DF, 4), (C_GF, 4), (C_MSIX, 2),
                   (C_NUMQ, 2), (C_STATUS, 1), (C_CFGGEN, 1),
                   (C_Q_SELECT, 2), (C_Q_SIZE, 2), (C_Q_MSIX, 2),
                   (C_Q_ENABLE, 2), (C_Q_NOFF, 2), (C_Q_DESC, 4),
                   (C_Q_DESC + 4, 4), (C_Q_DRIVER, 4), (C_Q_DEVICE, 4),
                   (C_Q_RESET, 2), (0x11, 1), (0x2a, 2))]
        self.check(all(val == (1 << 8 * size) - 1
                       for _, size, val in common),
                   f"{what}: common configuration reads all ones",
                   " ".join(f"{off:#x}/{size}={val:#x}"
                            for off, size, val in common))
        isr = d.caps[PCI_CAP_ISR][0]
        self.eq((q.readb(isr), q.readw(isr), q.readl(isr)),
                (0xff, 0xffff, 0xffffffff), f"{what}: ISR reads all ones")
        dev = d.caps[PCI_CAP_DEVICE][0]
        self.eq((q.readl(dev), q.readl(dev + 4), q.readw(dev + 0x14),
                 q.readb(dev + self.BLK_CFG_WCE)),
                (0xffffffff, 0xffffffff, 0xffff, 0xff),
                f"{what}: device configuration reads all ones")
        notify = d.caps[PCI_CAP_NOTIFY][0]
        self.eq((q.readb(notify), q.readw(notify), q.readl(notify)),
                (0xff, 0xffff, 0xffffffff),
                f"{what}: notify region reads all ones")
        self.eq(d.cfg_r(0), ids,
                f"{what}: PCI configuration space still shows the function")

    def vanish_case(self, mode, msix):
        irq = "MSI-X" if msix else "INTx"
        what = f"vanish={mode} {irq}"
        q, d = self.vanish_blk(",x-fault-vanish=" + mode, msix)
        dev = d.caps[PCI_CAP_DEVICE][0]

        def capacity():
            return q.readl(dev) | q.readl(dev + 4) << 32

        def irq_seen(bit):
            if msix:
                return self.poll(lambda: self.msi_seen(d, 0 if bit == 1
                                                       else 1))
            return self.poll(lambda: self.intx(d)) and bool(d.isr() & bit)

        # before the trigger, everything works
        self.eq(d.status, RUNNING, f"{what}: running")
        self.eq(capacity(), 2048, f"{what}: capacity read")
        req = d.blk_read()
        d.kick(0)
        self.check(d.wait_used(0, 1), f"{what}: request served before")
        self.eq(d.blk_result(req), (0, b"VSUSPEND-SECTOR0"),
                f"{what}: request data before")
        self.check(irq_seen(1), f"{what}: {irq} for the request before")
        q.qmp_cmd("block_resize", device="blk0", size=2 << 20)
        self.check(irq_seen(2), f"{what}: {irq} for the configuration "
                   "change before")
        self.eq(capacity(), 4096, f"{what}: new capacity read before")
        q.writeb(dev + self.BLK_CFG_WCE, 0)
        self.eq(self.writeback(q), False,
                f"{what}: device configuration write before (wce=0)")
        q.writeb(dev + self.BLK_CFG_WCE, 1)
        self.eq(self.writeback(q), True, f"{what}: wce=1 before")
        if not msix:
            # an interrupt still pending when the device vanishes
            d.blk_read()
            d.kick(0)
            self.check(d.wait_used(0, 2), f"{what}: second request served")
            self.check(self.poll(lambda: self.intx(d)),
                       f"{what}: INTx asserted, ISR not read")
        if mode == "resume":
            d.set_status(RUNNING | SUSPEND)
            self.eq(d.status, self.SUSPENDED,
                    f"{what}: suspended (no vanishing at the suspend)")
            d.set_status(self.SUSPENDED)
            self.eq(d.status, self.SUSPENDED, f"{what}: the suspended "
                    "status written back is no resume")
        used = d.used_idx(0)
        st0 = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        qs0 = q.qmp_cmd("x-query-virtio-queue-status", path=self.VDEV,
                        queue=0)
        state0 = q.qom_get(self.VDEV, "suspend-state")
        self.check(not st0["disabled"], f"{what}: not disabled before", st0)

        # the trigger
        d.set_status(RUNNING | SUSPEND if mode == "suspend" else RUNNING)
        if not msix:
            # (before any ISR read, which deasserts it)
            self.check(not self.intx(d), f"{what}: INTx deasserted")
        self.vanished_reads(d, what)
        self.one_warning(q, what, f"vanished at the {mode} request",
                         "x-fault-vanish")
        self.eq(q.qom_get(self.VDEV, "suspend-state"), state0,
                f"{what}: the status write never reached the device")

        # nothing reaches the device (a resume for the device that
        # vanished at the suspend, a request, a configuration change),
        # nothing raises an interrupt
        d.set_status(RUNNING)
        req = d.blk_read()
        d.kick(0)
        q.qmp_cmd("block_resize", device="blk0", size=3 << 20)
        self.check(not d.wait_used(0, used + 1, self.VANISH_TIMEOUT),
                   f"{what}: kick after vanishing: no buffer used")
        self.eq(d.q.read(req + 0x200, 1), b"\xff",
                f"{what}: kick after vanishing: no DMA")
        if msix:
            self.check(not self.msi_seen(d, 0) and not self.msi_seen(d, 1),
                       f"{what}: no MSI-X message after vanishing")
        else:
            self.check(not self.intx(d), f"{what}: no INTx after vanishing")
        self.eq(q.qom_get(self.VDEV, "suspend-state"), state0,
                f"{what}: suspend state unchanged")

        # writes to the other registers have no effect either
        d.cw(C_GFSELECT, 0, 4)
        d.cw(C_GF, 0, 4)
        d.cw(C_MSIX, NO_VECTOR)
        d.cw(C_Q_SELECT, 0)
        d.cw(C_Q_DESC, 0x200000, 4)
        d.cw(C_Q_MSIX, NO_VECTOR)
        d.cw(C_Q_ENABLE, 0)
        q.writeb(dev + self.BLK_CFG_WCE, 0)
        self.eq(self.writeback(q), True,
                f"{what}: device configuration write dropped")
        st = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        self.eq((st["status"], st["guest-features"]),
                (st0["status"], st0["guest-features"]),
                f"{what}: status and driver feature writes dropped")
        qs = q.qmp_cmd("x-query-virtio-queue-status", path=self.VDEV,
                       queue=0)
        self.eq((qs["vring-desc"], qs["last-avail-idx"]),
                (qs0["vring-desc"], qs0["last-avail-idx"]),
                f"{what}: queue writes dropped")
        self.check(st["disabled"], f"{what}: device disabled (no DMA)", st)
        self.vanished_reads(d, f"{what}: after writes")
        d.set_status(0)
        st = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        self.eq(st["status"], st0["status"], f"{what}: reset write dropped")
        self.no_violation(q, what)

        # a system reset does not bring it back
        q.qmp_cmd("system_reset")
        end = time.monotonic() + 5      # done by the main loop, soon
        while q.readl(d.PORT + 0x18) and time.monotonic() < end:
            time.sleep(0.01)
        d.map()
        self.vanished_reads(d, f"{what}: after system_reset")
        st = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        self.check(st["disabled"] and not st["status"]["statuses"],
                   f"{what}: system_reset: reset, still disabled", st)
        d.set_status(ACKNOWLEDGE)
        st = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        self.check(not st["status"]["statuses"],
                   f"{what}: system_reset: status write dropped", st)
        self.check(not self.intx(d), f"{what}: system_reset: no INTx")
        self.eq(len(q.stderr().splitlines()), 1,
                f"{what}: nothing more on stderr")

    # -- x-fault-recovery ----------------------------------------------
    def refused_setup(self, d, what, feats=1 << F_VERSION_1 | 1 << F_SUSPEND):
        """The driver sets the reset device up again: FEATURES_OK must be
        refused, the status reading ACKNOWLEDGE | DRIVER."""
        queues = dict(d.queues)
        try:
            d.init(feats, queues=[0], reset=False)
            refused = False
        except QemuError:
            refused = True
        d.queues = queues
        self.check(refused, f"{what}: FEATURES_OK refused")
        self.eq(d.status, ACKNOWLEDGE | DRIVER, f"{what}: status without "
                "FEATURES_OK")

    def rng_on(self, bus, props, suspend=True):
        """A virtio-rng device with props on bus ("mmio" or "pci"), with
        or without suspend=on; returns QEMU, the device and the QOM path
        of its x-suspend-stats."""
        if bus == "mmio":
            q, d = self.rng((",suspend=on" if suspend else "") + props, qmp=True)
            return q, d, "/machine/peripheral/dev0"
        q, d = self.pci(("" if suspend else ",suspend=off") + props)
        return q, d, self.VDEV

    def one_warning(self, q, what, *parts):
        """QEMU wrote one line on stderr since it was last read, holding
        each of parts."""
        err = q.stderr().strip()
        self.check(all(part in err for part in parts)
                   and len(err.splitlines()) == 1,
                   f"{what}: one line on stderr", err)

    def system_reset(self, q, d, bus):
        """QMP system_reset, and on virtio-pci the BARs mapped again."""
        q.qmp_cmd("system_reset")
        if bus == "pci":
            end = time.monotonic() + 5      # done by the main loop, soon
            while q.readl(d.PORT + 0x18) and time.monotonic() < end:
                time.sleep(0.01)
            d.map()         # the bus reset cleared the port and the BARs

    def serves(self, q, d, what):
        """The set-up device serves an entropy request, and QEMU said
        nothing on stderr so far."""
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), f"{what}: serves a request")
        self.eq(q.stderr(), "", f"{what}: nothing on stderr")

    def recovery_case(self, bus):
        feats = 1 << F_VERSION_1 | 1 << F_SUSPEND
        what = f"recovery {bus}"
        q, d, path = self.rng_on(bus, ",suspend-never-ack=on,x-fault-recovery=features")
        d.init(feats, queues=[0])
        d.set_status(0)
        self.eq(d.status, 0, f"{what}: reset while running")
        d.init(feats, queues=[0])
        self.serves(q, d, f"{what}: set up again after a reset while running")
        d.set_status(RUNNING | SUSPEND)
        q.clock_step_ms(1000)
        self.eq(d.status, RUNNING, f"{what}: SUSPEND not acknowledged")
        d.set_status(0)
        self.eq(d.status, 0, f"{what}: the reset while suspending completes")
        self.refused_setup(d, f"{what}: after the reset")
        d.kick(0)
        d.set_status(0)
        self.refused_setup(d, f"{what}: after a second reset")
        self.system_reset(q, d, bus)
        self.refused_setup(d, f"{what}: after system_reset")
        self.one_warning(q, what, "the driver reset the device while its "
                         "SUSPEND request was pending: it refuses FEATURES_OK "
                         "from now on (fault injected by the x-fault-recovery "
                         "property)")
        self.stats_eq(q, {"suspend-requests": 1, "suspend-aborts": 1,
                          "resets-after-driver-ok": 2, "features-refused": 3,
                          "notifies-before-driver-ok": 1},
                      f"{what}: stats: one aborted request, three refused "
                      "set-ups, the kick without DRIVER_OK", path=path)
        self.no_violation(q, what)
        q.close()

    def t_fault_recovery_reset(self):
        """x-fault-recovery=reset, without suspend=on: the driver's reset
        of a device it had set up (DRIVER_OK), as a reset-based freeze
        does, makes it refuse FEATURES_OK until QEMU exits, on virtio-mmio
        and virtio-pci; the reset that starts an initialisation does not,
        nor does a reset of the bus or system."""
        feats = 1 << F_VERSION_1
        for bus in ("mmio", "pci"):
            what = f"recovery=reset {bus}"
            q, d, path = self.rng_on(bus, ",x-fault-recovery=reset",
                                     suspend=False)
            d.set_status(0)
            d.init(feats, queues=[0], reset=False)
            self.system_reset(q, d, bus)
            d.init(feats, queues=[0])
            self.serves(q, d, f"{what}: set up again after the reset of an "
                        "initialisation and a system_reset")
            d.set_status(0)
            self.eq(d.status, 0, f"{what}: the reset of the device set up "
                    "completes")
            self.refused_setup(d, f"{what}: after that reset", feats)
            d.set_status(0)
            self.refused_setup(d, f"{what}: after a second reset", feats)
            self.one_warning(q, what, "the driver reset the device after "
                             "setting it up: it refuses FEATURES_OK from now "
                             "on (fault injected by the x-fault-recovery "
                             "property)")
            self.stats_eq(q, {"features-refused": 2,
                              "resets-after-driver-ok": 2},
                          f"{what}: stats: two refused set-ups, after the "
                          "system_reset and the reset", path=path)
            self.no_violation(q, what)
            q.close()
            self.stop_all()

    def t_fault_recovery(self):
        """x-fault-recovery=features: once the driver resets the device
        while its SUSPEND request is pending, the device refuses
        FEATURES_OK until QEMU exits, on virtio-mmio and virtio-pci; a
        reset of a running or suspended device does not fire it."""
        for bus in ("mmio", "pci"):
            self.recovery_case(bus)
            self.stop_all()

        feats = 1 << F_VERSION_1 | 1 << F_SUSPEND
        # Before suspend-ack-delay-ms ran out: fired.
        q, d = self.rng(",suspend=on,suspend-ack-delay-ms=100,"
                        "x-fault-recovery=features")
        d.init(feats, queues=[0])
        d.set_status(RUNNING | SUSPEND)
        q.clock_step_ms(50)
        d.set_status(0)
        self.refused_setup(d, "recovery ack-delay: reset before the "
                           "acknowledgement")
        q.close()
        # A reset while suspended (acknowledged), and an empty value: not.
        for props in (",x-fault-recovery=features",
                      ",suspend-never-ack=on,x-fault-recovery="):
            q, d = self.rng(",suspend=on" + props)
            d.init(feats, queues=[0])
            d.set_status(RUNNING | SUSPEND)
            d.set_status(0)
            d.init(feats, queues=[0], reset=False)
            d.rng_request()
            d.kick(0)
            self.check(d.wait_used(0, 1), f"recovery{props}: set up again "
                       "and works after the reset")
            self.eq(q.stderr(), "", f"recovery{props}: nothing on stderr")
            q.close()

    def t_pci_vanish(self):
        """x-fault-vanish: at the SUSPEND write or at the resume, the
        device is gone as after a surprise removal: its virtio registers
        read all ones, writes do nothing, no interrupt, even after a
        system reset; the PCI configuration space stays."""
        for mode in ("suspend", "resume"):
            for msix in (True, False):
                self.vanish_case(mode, msix)
                self.stop_all()

        # empty: off
        q, d, _ = self.pci_running(",x-fault-vanish=")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "vanish empty: suspended")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "vanish empty: resumed")
        self.pci_works(d, "vanish empty: after resume", 2)
        self.eq(q.stderr(), "", "vanish empty: nothing on stderr")
        q.close()

        # resume: a reset of the suspended device is no resume; DRIVER_OK
        # written with SUSPEND still set is one in the spec dialect
        q, d, _ = self.pci_running(",x-fault-vanish=resume")
        d.set_status(RUNNING | SUSPEND)
        d.set_status(0)
        self.eq(d.status, 0, "vanish=resume: a reset is no resume")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0], reset=False)
        self.pci_works(d, "vanish=resume: after the reset", 1)
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "vanish=resume: suspended again")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, 0xff, "vanish=resume: vanished at DRIVER_OK with "
                "SUSPEND kept")
        q.close()

        # the v5 dialect: DRIVER_OK kept while suspended, SUSPEND cleared
        # to resume
        q, d = self.pci(",suspend-dialect=v5,x-fault-vanish=resume")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND_V5, queues=[0])
        self.pci_works(d, "vanish=resume v5: before", 1)
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING | SUSPEND, "vanish=resume v5: suspended")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING | SUSPEND, "vanish=resume v5: the "
                "suspended status written back is no resume")
        d.set_status(RUNNING)
        self.eq(d.status, 0xff, "vanish=resume v5: vanished at the resume")
        q.close()

        # the stop dialect: STOP is its suspend bit
        q, d = self.pci(f",suspend-dialect=stop,suspend-feature-bit={F_STOP}"
                        ",x-fault-vanish=suspend")
        d.init(1 << F_VERSION_1 | 1 << F_STOP, queues=[0])
        self.pci_works(d, "vanish=suspend stop: before", 1)
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING, "vanish=suspend stop: SUSPEND is not "
                "the stop dialect's bit")
        d.set_status(RUNNING | STOP)
        self.eq(d.status, 0xff, "vanish=suspend stop: vanished at STOP")
        q.close()

        # migrated: still gone on the destination
        args = ["-device", "pcie-root-port,id=rp0,bus=pcie.0,addr=0x2,"
                "chassis=1",
                "-device", "virtio-rng-pci,id=dev0,bus=rp0,disable-legacy=on,"
                "vectors=2,suspend=on,x-fault-vanish=suspend"]
        machine = "microvm,acpi=on,pcie=on"
        q = self.start(args, qmp=True, machine=machine)
        d = PciDevice(q)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        self.pci_works(d, "vanish migrate: before", 1)
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, 0xff, "vanish migrate: vanished on the source")
        status, state = self.migrate_out(q)
        self.eq(status, "completed", "vanish migrate: saved")
        q.close()
        q2 = self.start(args + ["-incoming", "defer"], qmp=True,
                        machine=machine)
        q2.qmp_cmd("migrate-incoming", uri=f"exec:cat {state}")
        r = self.wait_qmp(q2, "query-status",
                          lambda r: r.get("status") != "inmigrate")
        self.eq(r.get("status"), "running", "vanish migrate: destination "
                "runs")
        d2 = PciDevice(q2)
        d2.queues = d.queues
        self.eq(d2.status, 0xff, "vanish migrate: destination status reads "
                "0xff")
        self.eq((d2.cr(C_DF, 4), d2.isr()), (0xffffffff, 0xff),
                "vanish migrate: destination registers read all ones")
        d2.set_status(RUNNING)
        d2.rng_request()
        d2.kick(0)
        self.check(not d2.wait_used(0, 2, self.VANISH_TIMEOUT),
                   "vanish migrate: no buffer used on the destination")
        st = q2.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        self.check(st["disabled"], "vanish migrate: disabled on the "
                   "destination", st)
        q2.close()

        self.realize_refuses(
            "virtio-rng-pci", [
                (",disable-legacy=on,suspend=on,x-fault-vanish=bogus",
                 "x-fault-vanish: unknown value 'bogus' (allowed: suspend, "
                 "resume, reset, reset-function, notify:<queue>)"),
                (",disable-legacy=on,suspend=on,x-fault-vanish=SUSPEND",
                 "x-fault-vanish: unknown value 'SUSPEND'"),
                (",disable-modern=on,suspend=on,x-fault-vanish=suspend",
                 "x-fault-vanish needs the modern interface"),
                (",disable-legacy=on,x-fault-vanish=suspend",
                 "x-fault-vanish=suspend needs suspend=on"),
                (",disable-legacy=on,suspend=on,suspend-dialect=stop,"
                 f"suspend-feature-bit={F_STOP},x-fault-vanish=resume",
                 "x-fault-vanish=resume: suspend-dialect=stop has no "
                 "resume")],
            machine="microvm,acpi=on,pcie=on")

    def t_pci_vanish_reset(self):
        """x-fault-vanish=reset: the device vanishes at the driver's reset
        of a device it set up (DRIVER_OK written since the last reset), as
        a reset-based freeze does; not at the reset that starts an
        initialisation, nor at one before DRIVER_OK, nor at a driver's
        reset after a system reset of the set-up device.  It needs no
        suspend=on.  reset-function: the whole function vanishes then,
        its PCI configuration space too."""
        q, d, _ = self.rng_on("pci", ",x-fault-vanish=reset", suspend=False)
        d.set_status(ACKNOWLEDGE)
        d.set_status(0)
        self.eq(d.status, 0, "vanish=reset: a reset before DRIVER_OK is no "
                "trigger")
        # init() starts with another reset of a device never set up
        d.init(1 << F_VERSION_1, queues=[0])
        self.pci_works(d, "vanish=reset: set up", 1)
        # a system reset forgets the set-up: the driver's reset that
        # starts the next initialisation is no trigger
        self.system_reset(q, d, "pci")
        d.init(1 << F_VERSION_1, queues=[0])
        self.pci_works(d, "vanish=reset: set up after system_reset", 1)
        self.eq(q.stderr(), "", "vanish=reset: nothing on stderr before")
        st0 = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        d.set_status(0)
        self.vanished_reads(d, "vanish=reset", ids=0x10441af4)
        self.one_warning(q, "vanish=reset", "vanished at the reset request, "
                         "status 0x00", "x-fault-vanish")
        st = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        self.eq(st["status"], st0["status"], "vanish=reset: the reset never "
                "reached the device")
        d.init(1 << F_VERSION_1, queues=[0], reset=False)
        st = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        self.eq(st["status"], st0["status"], "vanish=reset: no set-up "
                "reaches it again")
        self.eq(d.cfg_r(0), 0x10441af4, "vanish=reset: the function stays")
        q.close()

        # reset-function: the same trigger, and the whole function goes
        q, d, _ = self.rng_on("pci", ",x-fault-vanish=reset-function",
                              suspend=False)
        d.init(1 << F_VERSION_1, queues=[0])
        self.pci_works(d, "vanish=reset-function: set up", 1)
        self.eq(q.stderr(), "", "vanish=reset-function: nothing on stderr "
                "before")
        d.set_status(0)
        self.eq(d.status, 0xff, "vanish=reset-function: status reads 0xff")
        self.eq((d.cfg_r(0), d.cfg_r(4)), (0xffffffff, 0xffffffff),
                "vanish=reset-function: the configuration space reads all "
                "ones")
        self.one_warning(q, "vanish=reset-function", "vanished at the "
                         "reset-function request, status 0x00",
                         "x-fault-vanish")
        q.close()

    RNG_PERIOD_MS = 1 << 16     # virtio-rng's default rate-limit period

    def t_pci_vanish_inert(self):
        """x-fault-vanish: the device model of a device that vanished is
        inert.  A virtio-rng re-checks its queue from its rate-limit timer
        every period (65.5 s): once gone, it reads nothing of the rings
        the driver has freed and filled with garbage meanwhile (without
        the fix QEMU reads the available index and prints "Guest moved
        used index"), writes nothing and raises no interrupt; the vanish
        is counted as nothing in x-suspend-stats, a reset least of all."""
        for mode in ("suspend", "notify:0"):
            what = f"vanish={mode} inert"
            q, d = self.pci(",x-fault-vanish=" + mode)
            self.msix_on(d)
            d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0],
                   driver_ok=False)
            d.cw(C_MSIX, 1)
            d.cw(C_Q_SELECT, 0)
            d.cw(C_Q_MSIX, 0)
            # DRIVER_OK arms the rate-limit timer
            d.set_status(RUNNING)
            if mode == "suspend":
                d.rng_request()
                d.kick(0)
                self.check(d.wait_used(0, 1), f"{what}: request served")
                self.check(self.poll(lambda: self.msi_seen(d, 0)),
                           f"{what}: MSI-X message for the request")
                d.set_status(RUNNING | SUSPEND)
            else:
                d.rng_request()
                d.kick(0)
            self.eq(d.status, 0xff, f"{what}: vanished")
            qs0 = q.qmp_cmd("x-query-virtio-queue-status", path=self.VDEV,
                            queue=0)

            # the driver gives the device up and frees its memory: the
            # rings and the buffers now hold anything
            vq = d.queues[0]
            garbage = b"\xa5" * 0x5000     # desc, avail, used, buffers
            q.cmd(f"memset {vq['desc']:#x} {len(garbage):#x} 0xa5")
            # the timer fires, twice; then a kick through the notify region
            q.clock_step_ms(self.RNG_PERIOD_MS + 1000)
            q.clock_step_ms(self.RNG_PERIOD_MS)
            d.kick(0)
            err = q.stderr().splitlines()
            self.check(len(err) == 1 and "x-fault-vanish" in err[0],
                       f"{what}: nothing on stderr but the vanish (no ring "
                       "read)", "\n".join(err))
            self.check(q.read(vq["desc"], len(garbage)) == garbage,
                       f"{what}: rings and buffers untouched (no write)")
            self.check(not self.msi_seen(d, 0) and not self.msi_seen(d, 1),
                       f"{what}: no MSI-X message")
            qs = q.qmp_cmd("x-query-virtio-queue-status", path=self.VDEV,
                           queue=0)
            self.eq((qs["last-avail-idx"], qs["used-idx"]),
                    (qs0["last-avail-idx"], qs0["used-idx"]),
                    f"{what}: the queue did not move")
            st = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
            self.check(st["disabled"] and not st["broken"],
                       f"{what}: disabled, not broken", st)
            self.stats_eq(q, {}, f"{what}: x-suspend-stats: no suspend "
                          "request, no reset", path=self.VDEV)
            self.no_violation(q, what)
            q.close()

        # the core leaves a vanished device alone because it is disabled
        self.realize_refuses(
            "virtio-rng-pci", [
                (",disable-legacy=on,suspend=on,x-fault-vanish=suspend",
                 "x-fault-vanish needs use-disabled-flag=on")],
            extra=["-global", "virtio-rng-device.use-disabled-flag=off"],
            machine="microvm,acpi=on,pcie=on")

    def bar4_address(self, q):
        """Where QEMU has BAR 4 of dev0 (behind the root port): its own
        view of the configuration space, not a guest's read."""
        for dev in q.qmp_cmd("query-pci")[0]["devices"]:
            for sub in dev.get("pci_bridge", {}).get("devices", []):
                if sub.get("qdev_id") == "dev0":
                    return [r["address"] for r in sub["regions"]
                            if r["bar"] == 4][0]
        raise QemuError("query-pci: no dev0")

    def t_pci_vanish_notify(self):
        """x-fault-vanish=notify:N: the device vanishes at a notification
        of queue N after DRIVER_OK (not before, not at another queue's),
        which never reaches the queue; the whole function goes, its PCI
        configuration space too (reads all ones, writes dropped), even
        after a system reset.  No suspend=on needed."""
        what = "vanish=notify:1"
        img = self.blk_image()
        q = self.start(["-drive", f"if=none,id=blk0,format=raw,file={img}",
                        "-device", "pcie-root-port,id=rp0,bus=pcie.0,"
                        "addr=0x2,chassis=1",
                        "-device", "virtio-blk-pci,id=dev0,bus=rp0,drive=blk0,"
                        "disable-legacy=on,vectors=2,num-queues=2,"
                        "x-fault-vanish=notify:1"],
                       qmp=True, machine="microvm,acpi=on,pcie=on")
        d = PciDevice(q, required=(PCI_CAP_COMMON, PCI_CAP_NOTIFY,
                                   PCI_CAP_ISR, PCI_CAP_DEVICE))
        d.init(1 << F_VERSION_1, queues=[0, 1], driver_ok=False)
        d.kick(1)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK,
                f"{what}: a notification before DRIVER_OK does not count")
        d.set_status(RUNNING)
        req = d.blk_read(0)
        d.kick(0)
        self.check(d.wait_used(0, 1), f"{what}: queue 0's request served")
        self.eq(d.blk_result(req), (0, b"VSUSPEND-SECTOR0"),
                f"{what}: queue 0's request data")
        self.eq(q.stderr(), "", f"{what}: nothing on stderr before")
        bar4 = self.bar4_address(q)

        # the trigger: a request on queue 1, never served
        req = d.blk_read(1)
        d.kick(1)
        self.eq(d.status, 0xff, f"{what}: gone at the notification")
        self.check(not d.wait_used(1, 1, self.VANISH_TIMEOUT),
                   f"{what}: the notification never reached the queue")
        self.eq(q.read(req + 0x200, 1), b"\xff", f"{what}: no DMA")
        self.one_warning(q, what, "vanished at the notification of queue 1",
                         "x-fault-vanish")
        self.eq((d.cr(C_DF, 4), d.isr()), (0xffffffff, 0xff),
                f"{what}: registers read all ones")

        def config_gone(when):
            self.eq((d.cfg_r(0), d.cfg_r(0, 2), d.cfg_r(PCI_COMMAND, 2),
                     d.cfg_r(0x20), d.cfg_r(PCI_CAP_PTR, 1)),
                    (0xffffffff, 0xffff, 0xffff, 0xffffffff, 0xff),
                    f"{what}: {when}: configuration space reads all ones")

        config_gone("vanished")
        d.cfg_w(0x20, bar4 + 0x100000)
        d.set_command(0)
        self.eq(self.bar4_address(q), bar4,
                f"{what}: configuration writes dropped (BAR 4 unmoved)")
        config_gone("after writes")

        # nothing reaches the device through the other queue either
        d.blk_read(0)
        d.kick(0)
        self.check(not d.wait_used(0, 2, self.VANISH_TIMEOUT),
                   f"{what}: queue 0 no longer served")
        st = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        self.check(st["disabled"], f"{what}: device disabled (no DMA)", st)

        q.qmp_cmd("system_reset")
        end = time.monotonic() + 5      # done by the main loop, soon
        while q.readl(d.PORT + 0x18) and time.monotonic() < end:
            time.sleep(0.01)
        q.writel(d.PORT + 0x18, 0x00010100)     # buses again
        config_gone("after system_reset")
        self.eq(len(q.stderr().splitlines()), 1,
                f"{what}: nothing more on stderr")
        self.no_violation(q, what)
        q.close()

        self.realize_refuses(
            "virtio-rng-pci", [
                (",disable-legacy=on,x-fault-vanish=notify:1",
                 "x-fault-vanish=notify:1: virtio-rng has no queue 1"),
                (",disable-legacy=on,x-fault-vanish=notify:1024",
                 "x-fault-vanish=notify:1024: virtio-rng has no queue 1024"),
                (",disable-legacy=on,x-fault-vanish=notify:",
                 "x-fault-vanish: unknown value 'notify:'"),
                (",disable-legacy=on,x-fault-vanish=notify:-1",
                 "x-fault-vanish: unknown value 'notify:-1'"),
                (",disable-legacy=on,x-fault-vanish=notify:0x1",
                 "x-fault-vanish: unknown value 'notify:0x1'"),
                (",disable-legacy=on,x-fault-vanish=notify:99999999999",
                 "x-fault-vanish: unknown value 'notify:99999999999'"),
                (",disable-legacy=on,x-fault-vanish=notify",
                 "x-fault-vanish: unknown value 'notify'"),
                (",disable-modern=on,x-fault-vanish=notify:0",
                 "x-fault-vanish needs the modern interface")],
            machine="microvm,acpi=on,pcie=on")

# SPDX-License-Identifier: GPL-2.0
"""virtio-pci: the SUSPEND cycle, soft reset, S3 wake-up, refused writes, bus
mastering, ioeventfd, refused capabilities."""

import time

from .harness import (
    ACKNOWLEDGE, CAP_ID_EXP, CMD_MASTER, CMD_MEMORY, COMMON_CFG_SIZE, C_CFGGEN,
    C_DF, C_DFSELECT, C_GF, C_GFSELECT, C_MSIX, C_NUMQ, C_Q_DESC, C_Q_DEVICE,
    C_Q_DRIVER, C_Q_ENABLE, C_Q_MSIX, C_Q_NOFF, C_Q_RESET, C_Q_SELECT,
    C_Q_SIZE, C_STATUS, D0, D3HOT, DEVCTL_BCR_FLR, DRIVER, ECAM_BASE,
    EXP_DEVCTL, FEATURES_OK, F_SUSPEND, F_VERSION_1, ICH9_ACPI_CTRL,
    ICH9_ACPI_EN, ICH9_PMBASE, NO_VECTOR, PCI_CAP_COMMON, PCI_CAP_DEVICE,
    PCI_CAP_ISR, PCI_CAP_NOTIFY, PCI_CAP_PCI_CFG, PCI_CAP_PTR, PCI_COMMAND,
    PM1_CNT, PM_BASE, PM_NO_SOFT_RESET, PciDevice, Q35_LPC, Q35_PCIEXBAR,
    QSIZE, RUNNING, SLP_EN, SLP_TYP_S3, SUSPEND, ecam)
from .base import TestBase


class PciTests(TestBase):
    # -- virtio-pci ----------------------------------------------------
    VDEV = "/machine/peripheral/dev0/virtio-backend"
    SUSPENDED = ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND     # 0x1b

    def pci(self, props="", args=(), device="virtio-rng-pci", vectors=2,
            machine="microvm,acpi=on,pcie=on", **kw):
        """virtio-rng-pci (or device: modern only, suspend=on, two MSI-X
        vectors, or none: the device's own number, virtio-balloon-pci has
        no property) behind a pcie-root-port on machine (microvm,pcie=on),
        QMP on.  The vhost-user devices are modern only by type (no
        disable-legacy)."""
        vecs = f",vectors={vectors}" if vectors is not None else ""
        legacy = "" if device.startswith("vhost-user-") else "disable-legacy=on,"
        q = self.start(["-device", "pcie-root-port,id=rp0,bus=pcie.0,"
                        "addr=0x2,chassis=1",
                        "-device", f"{device},id=dev0,bus=rp0,"
                        f"{legacy}suspend=on{vecs}" + props]
                       + list(args), qmp=True, machine=machine)
        return q, PciDevice(q, **kw)

    def pci_running(self, props="", args=()):
        q, d = self.pci(props, args)
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), "pci: request served before suspend")
        d.ack_isr()
        return q, d, feats

    def pci_works(self, d, what, idx=None):
        """One more request served; idx: the used index it must reach."""
        idx = d.used_idx(0) + 1 if idx is None else idx
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, idx), f"{what}: request served")

    def t_pci_cycle(self):
        q, d, feats = self.pci_running()
        self.check(feats & (1 << F_SUSPEND), "pci: bit 43 negotiated")
        self.check(d.pm is not None, "pci: PM capability behind the port")
        self.eq(d.pmcsr & PM_NO_SOFT_RESET, 0,
                "pci: No_Soft_Reset clear by default")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "pci: SUSPEND acknowledged")
        self.eq(q.qom_get(self.VDEV, "suspend-state"), "suspended",
                "pci: suspend-state suspended")
        d.cw(C_Q_SELECT, 0)
        self.eq(d.cr(C_Q_ENABLE), 1, "pci: queue_enable still reads 1")
        self.eq(d.cr64(C_Q_DESC), d.queues[0]["desc"],
                "pci: queue_desc reads back while suspended")
        self.eq(d.driver_features(), feats,
                "pci: driver features read back while suspended")
        d.set_status(d.status)
        self.eq(d.status, self.SUSPENDED,
                "pci: writing the suspended status back changes nothing")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "pci: resumed")
        self.eq(d.used_idx(0), 1, "pci: ring state kept across the cycle")
        self.pci_works(d, "pci: after resume", 2)
        self.no_violation(q, "pci: clean cycle")

    def t_pci_no_soft_reset(self):
        """x-pcie-pm-no-soft-reset=on: the device keeps its state from
        D3hot to D0."""
        q, d, _ = self.pci_running(",x-pcie-pm-no-soft-reset=on")
        self.eq(d.pmcsr, PM_NO_SOFT_RESET | D0, "nsr: PMCSR D0, No_Soft_Reset")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "nsr: suspended")
        d.set_power(D3HOT)
        self.eq(d.pmcsr, PM_NO_SOFT_RESET | D3HOT, "nsr: D3hot")
        d.set_power(D0)
        self.eq(d.pmcsr, PM_NO_SOFT_RESET | D0, "nsr: D0 again")
        self.eq(d.cfg_r(PCI_COMMAND, 2) & (CMD_MEMORY | CMD_MASTER),
                CMD_MEMORY | CMD_MASTER, "nsr: command register kept")
        self.eq(d.status, self.SUSPENDED, "nsr: still suspended after D0")
        d.cw(C_Q_SELECT, 0)
        self.eq(d.cr(C_Q_ENABLE), 1, "nsr: queue still enabled")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "nsr: resumed")
        self.pci_works(d, "nsr: after D3hot, D0 and resume", 2)
        # a running device too
        d.set_power(D3HOT)
        d.set_power(D0)
        self.eq(d.status, RUNNING, "nsr: running device kept from D3hot")
        self.pci_works(d, "nsr: running device after D3hot", 3)
        # (the wake-up from S3, system_reset and FLR: t_pci_s3_wakeup)
        self.no_violation(q, "nsr")

    def t_pci_soft_reset(self):
        """No_Soft_Reset clear: D3hot to D0 resets the function."""
        q, d, _ = self.pci_running()
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "soft-reset: suspended")
        d.set_power(D3HOT)
        self.eq(d.pmcsr, D3HOT, "soft-reset: D3hot, no No_Soft_Reset")
        self.eq(d.status, self.SUSPENDED, "soft-reset: D3hot alone resets "
                "nothing")
        d.set_power(D0)
        self.eq(d.pmcsr, D0, "soft-reset: D0")
        self.eq(d.cfg_r(PCI_COMMAND, 2) & (CMD_MEMORY | CMD_MASTER), 0,
                "soft-reset: command register reset")
        self.eq(d.cfg_r(0x20), 0xc, "soft-reset: BAR 4 reset")
        d.map()
        self.eq(d.status, 0, "soft-reset: status 0 after D3hot to D0")
        self.eq(q.qom_get(self.VDEV, "suspend-state"), "running",
                "soft-reset: suspend state cleared by the reset")
        d.cw(C_Q_SELECT, 0)
        self.eq(d.cr(C_Q_ENABLE), 0, "soft-reset: queue disabled")
        self.eq(d.cr64(C_Q_DESC), 0, "soft-reset: queue address gone")
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0], reset=False)
        self.pci_works(d, "soft-reset: after re-initialization", 1)
        # a running device is reset too
        d.set_power(D3HOT)
        d.set_power(D0)
        d.map()
        self.eq(d.status, 0, "soft-reset: running device reset too")
        self.no_violation(q, "soft-reset")
        # but not one whose driver did not negotiate SUSPEND: QEMU's
        # behaviour for every other driver is unchanged
        d.init(1 << F_VERSION_1, queues=[0], reset=False)
        self.pci_works(d, "soft-reset: no SUSPEND negotiated", 1)
        d.set_power(D3HOT)
        d.set_power(D0)
        self.eq(d.pmcsr, D0, "soft-reset: no SUSPEND negotiated: D0")
        self.eq(d.status, RUNNING, "soft-reset: no SUSPEND negotiated: "
                "state kept from D3hot to D0")
        self.pci_works(d, "soft-reset: no SUSPEND negotiated, after D0", 2)

    def refused_writes(self, d, feats):
        """Each write the device must refuse while suspended: (name,
        register, value, size, read-back check)."""
        vq = d.queues[0]
        return [
            ("driver_feature", lambda: (d.cw(C_GFSELECT, 1, 4),
                                        d.cw(C_GF, 0, 4)),
             lambda: d.driver_features() == feats),
            ("config_msix_vector", lambda: d.cw(C_MSIX, 1),
             lambda: d.cr(C_MSIX) == NO_VECTOR),
            ("queue_size", lambda: d.cw(C_Q_SIZE, QSIZE // 2),
             lambda: d.cr(C_Q_SIZE) == QSIZE),
            ("queue_msix_vector", lambda: d.cw(C_Q_MSIX, 0),
             lambda: d.cr(C_Q_MSIX) == NO_VECTOR),
            ("queue_desc (low)", lambda: d.cw(C_Q_DESC, 0x200000, 4),
             lambda: d.cr64(C_Q_DESC) == vq["desc"]),
            ("queue_desc (high)", lambda: d.cw(C_Q_DESC + 4, 1, 4),
             lambda: d.cr64(C_Q_DESC) == vq["desc"]),
            ("queue_driver (low)", lambda: d.cw(C_Q_DRIVER, 0x201000, 4),
             lambda: d.cr64(C_Q_DRIVER) == vq["avail"]),
            ("queue_driver (high)", lambda: d.cw(C_Q_DRIVER + 4, 1, 4),
             lambda: d.cr64(C_Q_DRIVER) == vq["avail"]),
            ("queue_device (low)", lambda: d.cw(C_Q_DEVICE, 0x202000, 4),
             lambda: d.cr64(C_Q_DEVICE) == vq["used"]),
            ("queue_device (high)", lambda: d.cw(C_Q_DEVICE + 4, 1, 4),
             lambda: d.cr64(C_Q_DEVICE) == vq["used"]),
            ("queue_enable", lambda: d.cw(C_Q_ENABLE, 1),
             lambda: d.cr(C_Q_ENABLE) == 1),
            ("queue_reset", lambda: d.cw(C_Q_RESET, 1),
             lambda: d.cr(C_Q_ENABLE) == 1),
        ]

    def q35_pci(self, props=""):
        """virtio-rng-pci (modern, suspend=on) behind a pcie-root-port
        at 00:02.0 on q35, ECAM and the ACPI registers enabled as firmware
        would: q35 is the machine with S3."""
        q = self.start(["-L", "/usr/share/seabios",
                        "-device", "pcie-root-port,id=rp0,bus=pcie.0,"
                        "addr=0x2,chassis=1",
                        "-device", "virtio-rng-pci,id=dev0,bus=rp0,"
                        "disable-legacy=on,suspend=on" + props],
                       qmp=True, machine="q35")
        self.q35_firmware(q)
        d = PciDevice(q)
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        self.pci_works(d, "q35: request served before sleep", 1)
        return q, d, feats

    @staticmethod
    def q35_ecam(q):
        """PCIEXBAR through the legacy configuration ports: ECAM, 256
        MiB at ECAM_BASE, as firmware sets it up at boot and (done right)
        at the resume from S3."""
        q.outl(0xcf8, 0x80000000 | Q35_PCIEXBAR)
        q.outl(0xcfc, ECAM_BASE | 1)

    def q35_firmware(self, q):
        """What firmware sets up at boot: ECAM, then the LPC bridge's
        ACPI registers at PM_BASE, which SeaBIOS 1.16's resume from S3
        fails to restore (it writes them through the ECAM window it has
        just disabled)."""
        self.q35_ecam(q)
        lpc = ecam(*Q35_LPC)
        q.writel(lpc + ICH9_PMBASE, PM_BASE)
        q.writeb(lpc + ICH9_ACPI_CTRL, ICH9_ACPI_EN)

    def s3_cycle(self, q, d):
        """The guest enters S3, the host wakes it (QMP system_wakeup):
        the machine's wake-up reset, through which the LPC bridge keeps
        its ACPI registers (patch 34); then ECAM as firmware restores it,
        the port and the BARs as the guest's PCI core does."""
        q.outw(PM_BASE + PM1_CNT, SLP_TYP_S3 | SLP_EN)
        end = time.monotonic() + 5      # done by the main loop, soon
        while (q.qmp_cmd("query-status")["status"] != "suspended" and
               time.monotonic() < end):
            time.sleep(0.01)
        self.eq(q.qmp_cmd("query-status")["status"], "suspended",
                "s3: the machine sleeps")
        q.qmp_cmd("system_wakeup")
        while (q.qmp_cmd("query-status")["status"] != "running" and
               time.monotonic() < end):
            time.sleep(0.01)
        self.q35_ecam(q)
        self.eq(q.readl(ecam(*Q35_LPC) + ICH9_PMBASE) & ~1, PM_BASE,
                "s3: the ACPI registers still at PM_BASE")
        self.eq(q.readb(ecam(*Q35_LPC) + ICH9_ACPI_CTRL) & ICH9_ACPI_EN,
                ICH9_ACPI_EN, "s3: the ACPI registers still enabled")
        d.map()         # the reset cleared the port and the BARs

    def t_pci_s3_wakeup(self):
        """x86's wake-up from S3 resets the machine: a function that is
        suspended, or in D3hot with No_Soft_Reset, keeps its state through
        it; any other reset resets it."""
        # suspended, D0, no No_Soft_Reset (the module keeps such a
        # device in D0 while it is suspended)
        q, d, _ = self.q35_pci()
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "s3 suspended: suspended")
        self.s3_cycle(q, d)
        self.eq(d.status, self.SUSPENDED, "s3 suspended: still suspended "
                "after the wake-up")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "s3 suspended: resumed")
        self.pci_works(d, "s3 suspended: after the resume", 2)
        # running, D0: reset as before
        self.s3_cycle(q, d)
        self.eq(d.status, 0, "s3 running: reset by the wake-up")
        self.no_violation(q, "s3")
        q.close()

        # No_Soft_Reset and D3hot, running: kept (QEMU 9.1's rule) ...
        q, d, _ = self.q35_pci(",x-pcie-pm-no-soft-reset=on")
        d.set_power(D3HOT)
        self.s3_cycle(q, d)
        self.eq(d.pmcsr, PM_NO_SOFT_RESET | D3HOT, "s3 nsr: still D3hot")
        d.set_power(D0)
        self.eq(d.status, RUNNING, "s3 nsr: running device kept")
        self.pci_works(d, "s3 nsr: after the wake-up", 2)
        # ... but a system reset resets it, suspended in D3hot or not
        d.set_status(RUNNING | SUSPEND)
        d.set_power(D3HOT)
        q.qmp_cmd("system_reset")
        end = time.monotonic() + 5      # done by the main loop, soon
        while (q.readw(ecam(0, 0)) == 0x8086 and      # ECAM goes too
               time.monotonic() < end):
            time.sleep(0.01)
        self.q35_firmware(q)            # a reboot runs the firmware
        d.map()
        self.eq(d.status, 0, "nsr: system reset in D3hot resets the device")
        self.eq(d.pmcsr, PM_NO_SOFT_RESET | D0, "nsr: system reset: D0")
        # ... and so does an FLR
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0], reset=False)
        d.set_status(RUNNING | SUSPEND)
        d.set_power(D3HOT)
        pos = d.cfg_r(PCI_CAP_PTR, 1)
        while pos and d.cfg_r(pos, 1) != CAP_ID_EXP:
            pos = d.cfg_r(pos + 1, 1)
        self.check(pos, "nsr: the function has a PCI Express capability")
        d.cfg_w(pos + EXP_DEVCTL,
                d.cfg_r(pos + EXP_DEVCTL, 2) | DEVCTL_BCR_FLR, 2)
        d.map()
        self.eq(d.status, 0, "nsr: FLR in D3hot resets the device")
        self.eq(d.pmcsr, PM_NO_SOFT_RESET | D0, "nsr: FLR: D0")
        self.no_violation(q, "s3 nsr")

    def t_pci_refused_writes(self):
        q, d, feats = self.pci_running()
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "refused: suspended")
        d.cw(C_Q_SELECT, 0)
        for name, write, kept in self.refused_writes(d, feats):
            n = len(q.violations())
            d.cw(C_Q_SELECT, 0)
            write()
            self.check(kept(), f"refused: {name} write not applied")
            new = q.violations()[n:]
            want = (f"queue 0: {name} write" if name.startswith("queue")
                    else f"{name} write")
            self.check(len(new) == 1 and want in new[0]
                       and new[0].endswith("while suspended"),
                       f"refused: {name} write logged as a violation",
                       "\n".join(new) or "(none)")
        n = len(q.violations())
        d.cw(C_Q_SELECT, 0)
        d.cw(C_DFSELECT, 1, 4)
        d.cw(C_GFSELECT, 1, 4)
        for off, size in ((C_DF, 4), (C_GF, 4), (C_MSIX, 2), (C_NUMQ, 2),
                          (C_Q_SIZE, 2), (C_Q_ENABLE, 2), (C_Q_NOFF, 2),
                          (C_Q_DESC, 4), (C_STATUS, 1), (C_CFGGEN, 1)):
            d.cr(off, size)
        self.eq(len(q.violations()), n,
                "refused: select writes and reads are no violation")
        self.eq(q.qom_get(self.VDEV, "suspend-violations"), n,
                f"refused: suspend-violations counts {n}")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "refused: resumed")
        self.pci_works(d, "refused: same rings after resume", 2)
        # accepted when running (harmless ones on a live queue)
        d.cw(C_Q_SELECT, 0)
        d.cw(C_MSIX, 1)
        self.eq(d.cr(C_MSIX), 1, "running: config_msix_vector accepted")
        d.cw(C_Q_MSIX, 0)
        self.eq(d.cr(C_Q_MSIX), 0, "running: queue_msix_vector accepted")
        d.cw(C_Q_DESC, 0x200000, 4)
        self.eq(d.cr(C_Q_DESC, 4), 0x200000, "running: queue_desc accepted")
        self.eq(len(q.violations()), n, "running: no violation")
        # and all of them by the driver's set-up after a reset
        d.cw(C_MSIX, NO_VECTOR)
        d.cw(C_Q_MSIX, NO_VECTOR)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0],
               rings=0x200000)
        self.pci_works(d, "running: set-up at other addresses", 1)
        self.eq(len(q.violations()), n, "running: set-up, no violation")
        # refused while suspending too (acknowledgement delayed)
        q, d, feats = self.pci_running(",suspend-ack-delay-ms=100")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING, "suspending: not acknowledged yet")
        d.cw(C_Q_SELECT, 0)
        d.cw(C_Q_MSIX, 0)
        self.eq(d.cr(C_Q_MSIX), NO_VECTOR,
                "suspending: queue_msix_vector refused")
        self.has_violation(q, "queue 0: queue_msix_vector write 0x0 while "
                           "suspending", "suspending: violation logged")
        q.clock_step_ms(110)
        self.eq(d.status, self.SUSPENDED, "suspending: acknowledged")
        d.set_status(RUNNING)
        self.pci_works(d, "suspending: after resume", 2)

    def t_pci_bus_master(self):
        """Bus mastering cleared while suspended: kept if set again before
        the resume; still off at the resume: DRIVER_OK lost then."""
        q, d, _ = self.pci_running()
        d.set_status(RUNNING | SUSPEND)
        d.set_command(CMD_MEMORY)
        self.eq(d.status, self.SUSPENDED,
                "bus master off while suspended: still suspended")
        self.eq(q.qom_get(self.VDEV, "suspend-state"), "suspended",
                "bus master off: suspend-state suspended")
        st = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        self.check(st["disabled"], "bus master off: device disabled", st)
        self.check("DRIVER_OK" in str(st["status"]),
                   "bus master off: the device model keeps DRIVER_OK", st)
        d.set_command(CMD_MEMORY | CMD_MASTER)
        st = q.qmp_cmd("x-query-virtio-status", path=self.VDEV)
        self.check(not st["disabled"], "bus master on: enabled again", st)
        self.eq(d.status, self.SUSPENDED, "bus master on: still suspended")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "bus master on again: resumed")
        self.pci_works(d, "bus master on again: after resume", 2)
        self.check("written while" not in q.log(),
                   "bus master: no status write ignored", q.log())
        # still off at the resume
        d.ack_isr()
        d.set_status(RUNNING | SUSPEND)
        d.rng_request()             # a violation, served at no resume
        d.set_command(CMD_MEMORY)
        d.set_status(RUNNING)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK,
                "bus master still off at resume: SUSPEND=0, DRIVER_OK=0")
        self.eq(q.qom_get(self.VDEV, "suspend-state"), "running",
                "bus master still off: no longer suspended")
        self.eq(d.used_idx(0), 2, "bus master still off: no buffer taken")
        self.eq(d.isr(), 0, "bus master still off: no interrupt")
        d.set_command(CMD_MEMORY | CMD_MASTER)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        self.pci_works(d, "bus master: after the reset", 1)
        # a delayed resume
        q, d, _ = self.pci_running(",resume-ack-delay-ms=50")
        d.set_status(RUNNING | SUSPEND)
        d.set_command(CMD_MEMORY)
        d.set_status(RUNNING)
        self.eq(d.status, self.SUSPENDED, "delayed resume: still suspended")
        q.clock_step_ms(60)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK,
                "delayed resume with bus master off: DRIVER_OK=0")
        d.set_command(CMD_MEMORY | CMD_MASTER)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        self.pci_works(d, "delayed resume: after the reset", 1)
        self.no_violation(q, "bus master, delayed resume")

    def pci_blk_throttled(self, what):
        """virtio-blk-pci behind the root port on a throttled drive (one
        request a second, on qtest's clock), set up with SUSPEND, one read
        served: returns (q, d, reqs) with two more reads in flight."""
        img = self.blk_image()
        q = self.start([
            "-drive", f"if=none,id=blk0,format=raw,file={img},"
            "throttling.iops-total=1",
            "-device", "pcie-root-port,id=rp0,bus=pcie.0,addr=0x2,chassis=1",
            "-device", "virtio-blk-pci,id=dev0,bus=rp0,drive=blk0,"
            "disable-legacy=on,num-queues=1,suspend=on"],
            qmp=True, machine="microvm,acpi=on,pcie=on")
        d = PciDevice(q)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.blk_read()
        d.kick(0)
        q.clock_step_ms(2000)
        self.check(d.wait_used(0, 1), f"{what}: first request served")
        d.ack_isr()
        reqs = [d.blk_read(), d.blk_read()]
        d.kick(0)
        self.eq(d.used_idx(0), 1, f"{what}: two requests throttled")
        return q, d, reqs

    def t_pci_bus_master_inflight(self):
        """Bus mastering cleared while a suspend waits for requests in
        flight: they complete meanwhile, their used elements wait (no DMA
        with bus mastering off, none while suspended) and are written,
        with their interrupt, when the device resumes with bus mastering
        on again."""
        q, d, reqs = self.pci_blk_throttled("bm-inflight")
        d.set_status(RUNNING | SUSPEND)
        self.eq(q.qom_get(self.VDEV, "suspend-state"), "suspending",
                "bm-inflight: suspending, requests in flight")
        d.set_command(CMD_MEMORY)
        for _ in range(40):             # the I/O itself takes real time
            q.clock_step_ms(100)
            if self.poll_status(d, RUNNING, 0.3) != RUNNING:
                break
        self.eq(d.status, self.SUSPENDED,
                "bm-inflight: acknowledged once the requests completed")
        self.eq(d.used_idx(0), 1,
                "bm-inflight: no used ring write with bus mastering off")
        d.set_command(CMD_MEMORY | CMD_MASTER)
        self.eq(d.used_idx(0), 1, "bm-inflight: none while suspended")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "bm-inflight: resumed")
        self.check(d.wait_used(0, 3, timeout=2.0),
                   "bm-inflight: both requests used at the resume",
                   f"used index {d.used_idx(0)}")
        self.check(d.isr() & 1, "bm-inflight: with their interrupt")
        for r in reqs:
            status, data = d.blk_result(r)
            self.check(status == 0 and data == b"VSUSPEND-SECTOR0",
                       "bm-inflight: request data", f"{status} {data!r}")
        d.ack_isr()
        d.blk_read()
        d.kick(0)
        q.clock_step_ms(2000)
        self.check(d.wait_used(0, 4), "bm-inflight: a request after the "
                   "resume served")
        # nothing counted in flight any more: the next suspend is
        # acknowledged at once
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "bm-inflight: next suspend "
                "acknowledged at once")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "bm-inflight: and resumed")
        self.no_violation(q, "bm-inflight")
        self.check("device bug" not in q.log(),
                   "bm-inflight: no device bug line", q.log())

    def t_pci_ioeventfd(self):
        """virtio-pci assigns ioeventfds without KVM too: the notify write
        only signals the eventfd (no memory_region_ops_write trace for the
        notify region).  A kick that reaches the notify region's handler
        means the ioeventfds were stopped."""
        trace = ["-trace", "memory_region_ops_write"]

        def slow_kicks(q):
            return sum("virtio-pci-notify" in l
                       for l in q.log().splitlines())

        q, d, _ = self.pci_running(",ioeventfd=off", trace)
        self.check(slow_kicks(q) > 0,
                   "ioeventfd=off: the kick is seen by the notify region")
        q.close()

        q, d, _ = self.pci_running("", trace)
        self.eq(slow_kicks(q), 0, "ioeventfd: the kick went to the eventfd")

        def kick_suspended(what):
            n = len(q.violations())
            d.kick(0)
            end = time.monotonic() + 5
            while len(q.violations()) == n and time.monotonic() < end:
                time.sleep(0.01)
            self.check(len(q.violations()) == n + 1,
                       f"ioeventfd: {what}: kick while suspended reported")
            self.eq(slow_kicks(q), 0, f"ioeventfd: {what}: still assigned")

        d.set_status(RUNNING | SUSPEND)
        kick_suspended("after the SUSPEND write")
        d.set_status(self.SUSPENDED)
        kick_suspended("after the suspended status written back")
        d.set_status(ACKNOWLEDGE)
        kick_suspended("after a stray status write")
        d.set_command(CMD_MEMORY)
        kick_suspended("after bus mastering cleared")
        d.set_command(CMD_MEMORY | CMD_MASTER)
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "ioeventfd: resumed")
        self.pci_works(d, "ioeventfd: after resume", 2)
        self.eq(slow_kicks(q), 0, "ioeventfd: never stopped")

    def t_pci_bad_cap(self):
        """x-fault-bad-cap: the modern vendor capabilities lie as asked
        (for the guest driver's checks); BAR 4 and the regions in it stay
        as they are, so the device still serves a request."""
        def inside(caps, size):
            return all(bar == 4 and off + length <= size
                       for kind, _, bar, off, length, _ in caps
                       if kind != PCI_CAP_PCI_CFG)

        def by_kind(caps, kind):
            return [c for c in caps if c[0] == kind]

        def works(q, d, what):
            d.init(1 << F_VERSION_1, queues=[0])
            d.rng_request()
            d.kick(0)
            self.check(d.wait_used(0, 1), f"{what}: request served")

        q, d = self.pci()
        good, bar_size = d.vendor_caps, d.bar4_size()
        self.eq(bar_size, 0x4000, "bad-cap unset: BAR 4 is 16 KiB")
        # QEMU puts each new capability at the head of the list
        self.eq([c[0] for c in good],
                [PCI_CAP_PCI_CFG, PCI_CAP_NOTIFY, PCI_CAP_DEVICE,
                 PCI_CAP_ISR, PCI_CAP_COMMON],
                "bad-cap unset: pci_cfg, notify, device, ISR, common")
        self.check(inside(good, bar_size),
                   "bad-cap unset: every structure inside BAR 4",
                   repr(good))
        self.check(by_kind(good, PCI_CAP_COMMON)[0][4] >= COMMON_CFG_SIZE,
                   "bad-cap unset: common configuration long enough")
        works(q, d, "bad-cap unset")
        q.close()
        q, d = self.pci(",x-fault-bad-cap=")
        self.eq(d.vendor_caps, good, "bad-cap empty: same as unset")
        q.close()

        def patched(kind, length):
            return [c[:4] + (length,) + c[5:] if c[0] == kind else c
                    for c in good]
        cases = [
            ("notify-past-bar", patched(PCI_CAP_NOTIFY, 16 * bar_size),
             (PCI_CAP_COMMON, PCI_CAP_NOTIFY, PCI_CAP_ISR)),
            ("common-short", patched(PCI_CAP_COMMON, 0x20),
             (PCI_CAP_COMMON, PCI_CAP_NOTIFY, PCI_CAP_ISR)),
            ("no-isr", [c for c in good if c[0] != PCI_CAP_ISR],
             (PCI_CAP_COMMON, PCI_CAP_NOTIFY)),
        ]
        for value, want, required in cases:
            what = f"bad-cap {value}"
            q, d = self.pci(",x-fault-bad-cap=" + value, required=required)
            caps = d.vendor_caps
            self.eq(caps, want, f"{what}: capabilities as intended")
            self.eq(d.bar4_size(), bar_size, f"{what}: BAR 4 size unchanged")
            if value == "notify-past-bar":
                _, _, _, off, length, _ = by_kind(caps, PCI_CAP_NOTIFY)[0]
                self.check(off + length > bar_size,
                           f"{what}: notify offset+length past BAR 4",
                           f"{off:#x}+{length:#x}, BAR {bar_size:#x}")
            elif value == "common-short":
                self.check(by_kind(caps, PCI_CAP_COMMON)[0][4] <
                           COMMON_CFG_SIZE,
                           f"{what}: common configuration shorter than "
                           f"{COMMON_CFG_SIZE:#x}")
            else:
                self.check(not by_kind(caps, PCI_CAP_ISR),
                           f"{what}: no ISR capability")
            works(q, d, what)
            if value == "no-isr":
                # the region is still there, at the usual offset
                d.caps[PCI_CAP_ISR] = (d.BAR + 0x1000, 0)
                self.eq(d.isr() & 1, 1,
                        f"{what}: ISR region still at BAR 4 + 0x1000")
            q.close()
        self.realize_refuses(
            "virtio-rng-pci", [
                (",disable-legacy=on,x-fault-bad-cap=bogus",
                 "x-fault-bad-cap: unknown value 'bogus' (allowed: "
                 "notify-past-bar, common-short, no-isr)"),
                (",disable-modern=on,x-fault-bad-cap=no-isr",
                 "x-fault-bad-cap needs the modern interface")],
            machine="microvm,acpi=on,pcie=on")

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Device-side tests of the QEMU suspend patches, no guest needed.

Starts the patched qemu-system-x86_64 under qtest (-accel qtest) on the
microvm machine and plays the driver through the virtio-mmio registers:
feature negotiation, queues in guest memory, SUSPEND and resume in the
three dialects, the fault injection properties and the driver-violation
detector (read back from the -d guest_errors log).

    python3 tools/qemu/test_device.py $(bash tools/qemu/build.sh) [TEST...]

TEST names a case to run (the name after "# "), all of them by default.

Python 3 standard library only.  Prints one "ok"/"not ok" line per check
and ends with "N passed, N failed"; exits non-zero if anything failed.
"""

import ctypes
import fcntl
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

# virtio-mmio registers (modern layout)
MAGIC, VERSION, DEVICE_ID = 0x000, 0x004, 0x008
DEV_FEATURES, DEV_FEATURES_SEL = 0x010, 0x014
DRV_FEATURES, DRV_FEATURES_SEL = 0x020, 0x024
QUEUE_SEL, QUEUE_NUM_MAX, QUEUE_NUM, QUEUE_READY = 0x030, 0x034, 0x038, 0x044
QUEUE_NOTIFY = 0x050
INTERRUPT_STATUS, INTERRUPT_ACK = 0x060, 0x064
STATUS = 0x070
QUEUE_DESC, QUEUE_DRIVER, QUEUE_DEVICE = 0x080, 0x090, 0x0a0
CONFIG_GENERATION = 0x0fc
CONFIG = 0x100

MMIO_BASE, MMIO_SIZE, MMIO_SLOTS = 0xfeb00000, 0x200, 24
VIRT_MAGIC = 0x74726976

# status bits
ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK = 1, 2, 4, 8
SUSPEND, STOP, NEEDS_RESET = 16, 32, 64
RUNNING = ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK      # 0x0f

# feature bits
F_VERSION_1 = 32
F_SUSPEND, F_SUSPEND_V5, F_ADMIN_VQ = 43, 42, 41
# The stop dialect has no default bit (41, the draft's, is ADMIN_VQ now)
F_STOP = 45
STOP_PROPS = f",suspend=on,suspend-dialect=stop,suspend-feature-bit={F_STOP}"

VRING_DESC_F_NEXT, VRING_DESC_F_WRITE = 1, 2
QSIZE = 8

VIOLATION = "virtio-suspend: violation: "

# virtio-fs: device ID 26, queue 0 high priority, 1 the request queue;
# FUSE requests: in header (40 bytes) + body, out header (16 bytes) + body
FS_ID, FS_REQUESTS = 26, 1
FUSE_GETATTR, FUSE_INIT = 3, 26
FUSE_ROOT = 1
FUSE_REPLY = 0x1000
VHOST_USER_BUILD = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "vhost-user", "build.sh")

# virtio-9p: device ID 9, feature MOUNT_TAG (bit 0); 9P2000.L messages
F_9P_MOUNT_TAG = 0
P9_NOTAG, P9_NOFID = 0xffff, 0xffffffff
TVERSION, TATTACH, TWALK, TLOPEN, TREAD, TFLUSH = 100, 104, 110, 12, 116, 108
TCLUNK = 120
P9_MSIZE = 0x1000
P9_DATA = b"VSUSPEND-9P-FILE"


def p9_str(text):
    b = text.encode()
    return struct.pack("<H", len(b)) + b


class QemuError(Exception):
    pass


# The virtiofsd thread that answers vhost-user requests: rust-vmm's
# vhost-user-backend names it after the backend, "virtiofsd-backend", cut
# to the 15 characters of a comm
VIRTIOFSD_REQUEST_THREAD = "virtiofsd-backe"


class ThreadStopped:
    """One thread of process pid, the one named name (its comm), stopped
    for the with block: ptrace-seized and interrupted, the process's other
    threads running on (SIGSTOP would stop them all)."""

    PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
    WALL = 0x40000000

    def __init__(self, pid, name):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long,
                                     ctypes.c_void_p, ctypes.c_void_p]
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")
                if open(f"/proc/{pid}/task/{t}/comm").read().strip() == name]
        if len(tids) != 1:
            names = [open(f"/proc/{pid}/task/{t}/comm").read().strip()
                     for t in os.listdir(f"/proc/{pid}/task")]
            raise QemuError(f"process {pid}: {len(tids)} threads named {name} "
                            f"(its threads: {', '.join(names)})")
        self.tid = tids[0]

    def ptrace(self, request):
        if self.libc.ptrace(request, self.tid, None, None) != 0:
            raise OSError(ctypes.get_errno(), f"ptrace {request:#x}, thread {self.tid}")

    def __enter__(self):
        self.ptrace(self.PTRACE_SEIZE)
        self.ptrace(self.PTRACE_INTERRUPT)
        os.waitpid(self.tid, self.WALL)
        return self

    def __exit__(self, *exc):
        self.ptrace(self.PTRACE_DETACH)


class StubVhostUserBackend:
    """A vhost-user backend in this process that processes no ring: it
    answers the requests that need a reply (its features: VERSION_1 and
    protocol features, of which only CONFIGURE_MEM_SLOTS, so no
    REPLY_ACK; 32 memory slots; each ring's base) and takes the others,
    until, once a ring was stopped (GET_VRING_BASE), a request in
    hang_after_stop arrives: that one it never answers.  For what a real
    backend cannot be made to do on cue."""

    GET_FEATURES, GET_VRING_BASE = 1, 11
    GET_PROTOCOL_FEATURES, GET_MAX_MEM_SLOTS = 15, 36
    F_PROTOCOL_FEATURES, PROTOCOL_F_CONFIGURE_MEM_SLOTS = 30, 15
    REPLY, VERSION = 0x4, 0x1

    def __init__(self, path, hang_after_stop=()):
        self.hang_after_stop = set(hang_after_stop)
        self.requests, self.hung = [], None
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.listener.accept()
        stopped = False
        with conn:
            while True:
                try:
                    msg, fds, _, _ = socket.recv_fds(conn, 12, 8)
                except OSError:
                    return
                for fd in fds:
                    os.close(fd)
                if len(msg) < 12:
                    return
                req, _, size = struct.unpack("<III", msg)
                body = b""
                while len(body) < size:
                    part, fds, _, _ = socket.recv_fds(conn, size - len(body), 8)
                    for fd in fds:
                        os.close(fd)
                    if not part:
                        return
                    body += part
                self.requests.append(req)
                if stopped and req in self.hang_after_stop:
                    self.hung = req
                    conn.recv(1)        # until QEMU gives up on us
                    return
                if req == self.GET_FEATURES:
                    reply = struct.pack("<Q", 1 << F_VERSION_1 |
                                        1 << self.F_PROTOCOL_FEATURES)
                elif req == self.GET_PROTOCOL_FEATURES:
                    reply = struct.pack("<Q", 1 << self.PROTOCOL_F_CONFIGURE_MEM_SLOTS)
                elif req == self.GET_MAX_MEM_SLOTS:
                    reply = struct.pack("<Q", 32)
                elif req == self.GET_VRING_BASE:
                    stopped = True
                    reply = struct.pack("<II", struct.unpack_from("<I", body)[0], 0)
                else:
                    continue
                conn.sendall(struct.pack("<III", req, self.VERSION | self.REPLY,
                                         len(reply)) + reply)


class Qemu:
    """One QEMU process under qtest, optionally with a QMP socket."""

    def __init__(self, binary, args, tmp, qmp=False,
                 machine="microvm,acpi=on"):
        self.tmp = tmp
        n = len(os.listdir(tmp))
        self.logfile = os.path.join(tmp, f"qemu{n}.log")
        self.errfile = os.path.join(tmp, f"qemu{n}.stderr")
        self.qmp_path = os.path.join(tmp, f"qmp{n}.sock")
        cmd = [binary, "-M", machine, "-accel", "qtest",
               "-qtest", "stdio", "-qtest-log", "/dev/null",
               "-display", "none", "-nodefaults", "-no-user-config",
               "-L", "/usr/share/qemu", "-m", "64",
               "-global", "virtio-mmio.force-legacy=off",
               "-d", "guest_errors", "-D", self.logfile] + args
        if qmp:
            cmd += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        self.err = open(self.errfile, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err)
        self.buf = b""
        self.qmp = None
        if qmp:
            self._qmp_connect()

    # -- qtest ---------------------------------------------------------
    def _line(self, timeout=20):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise QemuError("qtest: no answer")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise QemuError("qtest: QEMU exited: " + self.stderr())
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def _send(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def _answer(self, text):
        """The answer to qtest command text, interrupts passed over."""
        while True:
            line = self._line()
            if line.startswith("IRQ"):
                continue
            if not line.startswith("OK"):
                raise QemuError(f"qtest: {text!r} -> {line!r}")
            return line[2:].strip()

    def cmd(self, text):
        self._send(text)
        return self._answer(text)

    def cmds_around(self, first, action, second):
        """Sends qtest command first, runs action() while QEMU works on
        it, sends second, then waits for both answers: QEMU's next pass of
        its main loop finds what action() did and the second command
        together."""
        self._send(first)
        action()
        self._send(second)
        self._answer(first)
        self._answer(second)

    def readl(self, addr):
        return int(self.cmd(f"readl {addr:#x}"), 16)

    def writel(self, addr, val):
        self.cmd(f"writel {addr:#x} {val:#x}")

    def readw(self, addr):
        return int(self.cmd(f"readw {addr:#x}"), 16)

    def writew(self, addr, val):
        self.cmd(f"writew {addr:#x} {val:#x}")

    def readb(self, addr):
        return int(self.cmd(f"readb {addr:#x}"), 16)

    def writeb(self, addr, val):
        self.cmd(f"writeb {addr:#x} {val:#x}")

    def write(self, addr, data):
        self.cmd(f"write {addr:#x} {len(data)} 0x{data.hex()}")

    def outl(self, port, val):
        self.cmd(f"outl {port:#x} {val:#x}")

    def outw(self, port, val):
        self.cmd(f"outw {port:#x} {val:#x}")

    def read(self, addr, size):
        return bytes.fromhex(self.cmd(f"read {addr:#x} {size}")[2:])

    def clock_step_ms(self, ms):
        self.cmd(f"clock_step {int(ms * 1000000)}")

    # -- QMP -----------------------------------------------------------
    def _qmp_connect(self):
        for _ in range(200):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.qmp_path)
                break
            except OSError:
                s.close()
                time.sleep(0.02)
        else:
            raise QemuError("QMP socket did not appear: " + self.stderr())
        s.settimeout(20)
        self.qmp = s.makefile("rw")
        json.loads(self.qmp.readline())
        self.qmp_cmd("qmp_capabilities")

    def qmp_cmd(self, name, **args):
        self.qmp.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.qmp.flush()
        while True:
            msg = json.loads(self.qmp.readline())
            if "event" in msg:
                continue
            if "error" in msg:
                raise QemuError(f"QMP {name}: {msg['error']}")
            return msg["return"]

    def qom_get(self, path, prop):
        return self.qmp_cmd("qom-get", path=path, property=prop)

    # -- results -------------------------------------------------------
    def log(self):
        try:
            with open(self.logfile) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def violations(self):
        return [l for l in self.log().splitlines() if l.startswith(VIOLATION)]

    def stderr(self):
        self.err.flush()
        with open(self.errfile) as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
        if self.qmp:
            self.qmp.close()
        self.err.close()


class Device:
    """A virtio-mmio transport with a device, driven like a driver would."""

    def __init__(self, q, base):
        self.q = q
        self.base = base
        self.queues = {}

    def r(self, off):
        return self.q.readl(self.base + off)

    def w(self, off, val):
        self.q.writel(self.base + off, val)

    @property
    def status(self):
        return self.r(STATUS)

    def set_status(self, val):
        self.w(STATUS, val)

    def offered(self):
        self.w(DEV_FEATURES_SEL, 0)
        lo = self.r(DEV_FEATURES)
        self.w(DEV_FEATURES_SEL, 1)
        hi = self.r(DEV_FEATURES)
        return hi << 32 | lo

    def init(self, accept, queues=(), driver_ok=True, reset=True,
             rings=0x100000, same_rings=False):
        """Reset, negotiate offered & accept, set up queues, DRIVER_OK.

        reset=False: the device was reset already (status 0 written or a
        system reset), a second reset would hide what the first left.
        rings: guest address of the queues' memory; same_rings: set up
        the rings of the last set-up again, where the driver left them.
        """
        if reset:
            self.set_status(0)
        old = self.queues
        self.queues = {}
        self.set_status(ACKNOWLEDGE)
        self.set_status(ACKNOWLEDGE | DRIVER)
        feats = self.offered() & accept
        for sel in (0, 1):
            self.w(DRV_FEATURES_SEL, sel)
            self.w(DRV_FEATURES, (feats >> (32 * sel)) & 0xffffffff)
        self.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK)
        if not self.status & FEATURES_OK:
            raise QemuError("FEATURES_OK not accepted")
        for qi in queues:
            self.setup_queue(qi, rings, old.get(qi) if same_rings else None)
        if driver_ok:
            self.set_status(RUNNING)
        return feats

    def setup_queue(self, qi, rings=0x100000, vq=None):
        mem = rings + 0x10000 * qi
        if vq is None:
            vq = {"desc": mem, "avail": mem + 0x1000, "used": mem + 0x2000,
                  "buf": mem + 0x4000, "next": 0, "avail_idx": 0}
            self.q.cmd(f"memset {mem:#x} 0x3000 0")     # fresh rings
        self.w(QUEUE_SEL, qi)
        if self.r(QUEUE_NUM_MAX) < QSIZE:
            raise QemuError(f"queue {qi} not available")
        self.w(QUEUE_NUM, QSIZE)
        for reg, addr in ((QUEUE_DESC, vq["desc"]), (QUEUE_DRIVER, vq["avail"]),
                          (QUEUE_DEVICE, vq["used"])):
            self.w(reg, addr & 0xffffffff)
            self.w(reg + 4, addr >> 32)
        self.w(QUEUE_READY, 1)
        self.queues[qi] = vq

    def add_buffer(self, qi, chain):
        """chain: list of (addr, len, device_writable); made available,
        not notified.  Returns the head descriptor index."""
        vq = self.queues[qi]
        head = vq["next"]
        for i, (addr, length, writable) in enumerate(chain):
            d = (head + i) % QSIZE
            flags = (VRING_DESC_F_WRITE if writable else 0)
            nxt = 0
            if i + 1 < len(chain):
                flags |= VRING_DESC_F_NEXT
                nxt = (d + 1) % QSIZE
            self.q.write(vq["desc"] + 16 * d,
                         struct.pack("<QIHH", addr, length, flags, nxt))
        vq["next"] = (head + len(chain)) % QSIZE
        slot = vq["avail_idx"] % QSIZE
        self.q.writew(vq["avail"] + 4 + 2 * slot, head)
        vq["avail_idx"] = (vq["avail_idx"] + 1) & 0xffff
        self.q.writew(vq["avail"] + 2, vq["avail_idx"])
        return head

    def kick(self, qi):
        self.w(QUEUE_NOTIFY, qi)

    def used_idx(self, qi):
        return self.q.readw(self.queues[qi]["used"] + 2)

    def wait_used(self, qi, idx, timeout=5.0):
        end = time.monotonic() + timeout
        while True:
            cur = self.used_idx(qi)
            if cur == idx:
                return True
            if time.monotonic() > end:
                return False
            time.sleep(0.005)

    def isr(self):
        return self.r(INTERRUPT_STATUS)

    def ack_isr(self):
        self.w(INTERRUPT_ACK, self.isr())

    def rng_request(self, qi=0):
        buf = self.queues[qi]["buf"] + 64 * self.queues[qi]["avail_idx"] % 0x1000
        return self.add_buffer(qi, [(buf, 16, True)])

    def blk_read(self, qi=0, sector=0):
        vq = self.queues[qi]
        base = vq["buf"] + 0x1000 * (vq["avail_idx"] % 4)
        self.q.write(base, struct.pack("<IIQ", 0, 0, sector))   # VIRTIO_BLK_T_IN
        self.q.write(base + 0x200, b"\xff")
        self.add_buffer(qi, [(base, 16, False), (base + 0x400, 512, True),
                             (base + 0x200, 1, True)])
        return base

    def blk_result(self, base):
        return self.q.read(base + 0x200, 1)[0], self.q.read(base + 0x400, 16)

    def p9_request(self, kind, tag, body, qi=0):
        """A 9P message and room for its reply (P9_MSIZE bytes), made
        available, not notified: returns the reply's address."""
        vq = self.queues[qi]
        base = vq["buf"] + 0x1000 * (vq["avail_idx"] % 4) * 2
        msg = struct.pack("<IBH", 7 + len(body), kind, tag) + body
        self.q.write(base, msg)
        self.q.cmd(f"memset {base + 0x1000:#x} {P9_MSIZE:#x} 0")
        self.add_buffer(qi, [(base, len(msg), False),
                             (base + 0x1000, P9_MSIZE, True)])
        return base + 0x1000

    def p9_reply(self, addr):
        """(type, tag, body) of the reply at addr, None if none is there."""
        size, kind, tag = struct.unpack("<IBH", self.q.read(addr, 7))
        if size < 7 or size > P9_MSIZE:
            return None
        return kind, tag, self.q.read(addr + 7, size - 7) if size > 7 else b""

    def fuse_request(self, opcode, unique, nodeid, body,
                     qi=FS_REQUESTS):
        """A FUSE request and room for its reply, made available, not
        notified: returns the reply's address."""
        vq = self.queues[qi]
        base = vq["buf"] + 2 * FUSE_REPLY * (vq["avail_idx"] % 4)
        msg = struct.pack("<IIQQIIIHH", 40 + len(body), opcode, unique,
                          nodeid, 0, 0, 0, 0, 0) + body
        self.q.write(base, msg)
        self.q.cmd(f"memset {base + FUSE_REPLY:#x} {FUSE_REPLY:#x} 0")
        self.add_buffer(qi, [(base, len(msg), False),
                             (base + FUSE_REPLY, FUSE_REPLY, True)])
        return base + FUSE_REPLY

    def fuse_reply(self, addr):
        """(error, unique) of the reply at addr, None if none is there."""
        size, error, unique = struct.unpack("<IiQ", self.q.read(addr, 16))
        return None if size < 16 else (error, unique)

    def used_ids(self, qi, start, n):
        """Descriptor heads of the used elements start..start+n-1."""
        vq = self.queues[qi]
        return [struct.unpack("<II", self.q.read(
            vq["used"] + 4 + 8 * ((start + i) % QSIZE), 8))[0]
            for i in range(n)]


# virtio-pci (modern) on microvm,pcie=on: ECAM on bus 0, a pcie-root-port
# at 00:02.0 with the device behind it at 01:00.0 (a PCI Express port, so
# the device has a power management capability)
ECAM_BASE, PCI_MMIO_BASE = 0xe0000000, 0xc0000000
PCI_COMMAND, PCI_STATUS_REG, PCI_CAP_PTR = 0x04, 0x06, 0x34
CMD_MEMORY, CMD_MASTER = 0x2, 0x4
CAP_ID_PM, CAP_ID_VNDR, CAP_ID_EXP, CAP_ID_MSIX = 0x01, 0x09, 0x10, 0x11
# PCI Express capability: slot control, power indicator and controller off
EXP_SLTCTL, SLTCTL_PIC_OFF, SLTCTL_PCC_OFF = 0x18, 0x0300, 0x0400
PCI_STATUS_INTERRUPT = 0x08
PM_CTRL, PM_NO_SOFT_RESET = 4, 0x8
D0, D3HOT = 0, 3
# virtio_pci_cap cfg_type
PCI_CAP_COMMON, PCI_CAP_NOTIFY, PCI_CAP_ISR, PCI_CAP_DEVICE = 1, 2, 3, 4
PCI_CAP_PCI_CFG = 5
COMMON_CFG_SIZE = 0x38          # sizeof(struct virtio_pci_common_cfg)
# struct virtio_pci_common_cfg
C_DFSELECT, C_DF, C_GFSELECT, C_GF = 0x00, 0x04, 0x08, 0x0c
C_MSIX, C_NUMQ, C_STATUS, C_CFGGEN = 0x10, 0x12, 0x14, 0x15
C_Q_SELECT, C_Q_SIZE, C_Q_MSIX, C_Q_ENABLE, C_Q_NOFF = \
    0x16, 0x18, 0x1a, 0x1c, 0x1e
C_Q_DESC, C_Q_DRIVER, C_Q_DEVICE, C_Q_RESET = 0x20, 0x28, 0x30, 0x3a
NO_VECTOR = 0xffff

# q35 under qtest, where no firmware runs: the MCH's PCIEXBAR puts ECAM
# where microvm has it; the ICH9 LPC bridge's ACPI registers at PM_BASE
Q35_PCIEXBAR, Q35_LPC = 0x60, (0, 0x1f)
ICH9_PMBASE, ICH9_ACPI_CTRL, ICH9_ACPI_EN = 0x40, 0x44, 0x80
PM_BASE, PM1_CNT, SLP_TYP_S3, SLP_EN = 0x600, 0x04, 1 << 10, 1 << 13
# PCI Express capability of a function: device control, Initiate FLR
EXP_DEVCTL, DEVCTL_BCR_FLR = 0x08, 0x8000


def ecam(bus, dev, fn=0):
    return ECAM_BASE + (bus << 20) + (dev << 15) + (fn << 12)


class PciDevice(Device):
    """A virtio-pci (modern) device behind a PCIe root port, programmed
    through ECAM (no firmware runs under qtest) and driven through its
    common, notify and ISR structures."""

    PORT, CFG, BAR = ecam(0, 2), ecam(1, 0), PCI_MMIO_BASE

    def __init__(self, q, required=(PCI_CAP_COMMON, PCI_CAP_NOTIFY,
                                    PCI_CAP_ISR)):
        super().__init__(q, None)
        self.map()
        self.caps = {}
        # every vendor capability as the device shows it, in list order:
        # (cfg_type, cap_len, bar, offset, length, notify_off_multiplier
        # or None)
        self.vendor_caps = []
        self.pm = None
        if not self.cfg_r(PCI_STATUS_REG, 2) & 0x10:
            raise QemuError("virtio-pci: no capability list")
        pos = self.cfg_r(PCI_CAP_PTR, 1)
        while pos:
            cap_id = self.cfg_r(pos, 1)
            if cap_id == CAP_ID_PM:
                self.pm = pos
            elif cap_id == CAP_ID_VNDR:
                kind = self.cfg_r(pos + 3, 1)
                self.vendor_caps.append(
                    (kind, self.cfg_r(pos + 2, 1), self.cfg_r(pos + 4, 1),
                     self.cfg_r(pos + 8), self.cfg_r(pos + 12),
                     self.cfg_r(pos + 16) if kind == PCI_CAP_NOTIFY
                     else None))
                if kind not in self.caps and kind <= PCI_CAP_DEVICE:
                    if self.cfg_r(pos + 4, 1) != 4:
                        raise QemuError("virtio-pci: structure not in BAR4")
                    self.caps[kind] = (self.BAR + self.cfg_r(pos + 8),
                                       self.cfg_r(pos + 16)
                                       if kind == PCI_CAP_NOTIFY else 0)
            pos = self.cfg_r(pos + 1, 1)
        for kind in required:
            if kind not in self.caps:
                raise QemuError(f"virtio-pci: no capability type {kind}")
        self.common = self.caps[PCI_CAP_COMMON][0]

    def map(self):
        """Bus numbers and a prefetchable window on the port, the 64-bit
        BAR 4 in it, memory and bus mastering on: what firmware and the
        guest's PCI core would do (again after a reset)."""
        q = self.q
        q.writel(self.PORT + 0x18, 0x00010100)        # buses 0, 1, 1
        q.writew(self.PORT + 0x24, self.BAR >> 16)   # prefetchable base
        q.writew(self.PORT + 0x26, (self.BAR >> 16) | 0x00f0)   # +16 MiB
        q.writel(self.PORT + 0x28, 0)
        q.writel(self.PORT + 0x2c, 0)
        q.writew(self.PORT + PCI_COMMAND, CMD_MEMORY | CMD_MASTER)
        if q.readw(self.CFG) != 0x1af4:
            raise QemuError("virtio-pci: no device at 01:00.0")
        q.writel(self.CFG + 0x20, self.BAR)
        q.writel(self.CFG + 0x24, 0)
        q.writew(self.CFG + PCI_COMMAND, CMD_MEMORY | CMD_MASTER)

    def bar4_size(self):
        """Size BAR 4 (64-bit) as a PCI core does: all ones written with
        memory decoding off, the size read back, the address restored."""
        cmd = self.cfg_r(PCI_COMMAND, 2)
        self.cfg_w(PCI_COMMAND, cmd & ~CMD_MEMORY, 2)
        lo, hi = self.cfg_r(0x20), self.cfg_r(0x24)
        self.cfg_w(0x20, 0xffffffff)
        self.cfg_w(0x24, 0xffffffff)
        mask = (self.cfg_r(0x24) << 32 | self.cfg_r(0x20)) & ~0xf
        self.cfg_w(0x20, lo)
        self.cfg_w(0x24, hi)
        self.cfg_w(PCI_COMMAND, cmd, 2)
        return (~mask & 0xffffffffffffffff) + 1

    def cfg_r(self, off, size=4):
        return {1: self.q.readb, 2: self.q.readw,
                4: self.q.readl}[size](self.CFG + off)

    def cfg_w(self, off, val, size=4):
        {1: self.q.writeb, 2: self.q.writew,
         4: self.q.writel}[size](self.CFG + off, val)

    @property
    def pmcsr(self):
        return self.cfg_r(self.pm + PM_CTRL, 2)

    def set_power(self, state):
        self.cfg_w(self.pm + PM_CTRL, state, 2)

    def set_command(self, val):
        self.cfg_w(PCI_COMMAND, val, 2)

    # common configuration
    def cr(self, off, size=2):
        return {1: self.q.readb, 2: self.q.readw,
                4: self.q.readl}[size](self.common + off)

    def cw(self, off, val, size=2):
        {1: self.q.writeb, 2: self.q.writew,
         4: self.q.writel}[size](self.common + off, val)

    def cr64(self, off):
        return self.cr(off + 4, 4) << 32 | self.cr(off, 4)

    @property
    def status(self):
        return self.cr(C_STATUS, 1)

    def set_status(self, val):
        self.cw(C_STATUS, val, 1)

    def offered(self):
        self.cw(C_DFSELECT, 0, 4)
        lo = self.cr(C_DF, 4)
        self.cw(C_DFSELECT, 1, 4)
        return self.cr(C_DF, 4) << 32 | lo

    def driver_features(self):
        self.cw(C_GFSELECT, 0, 4)
        lo = self.cr(C_GF, 4)
        self.cw(C_GFSELECT, 1, 4)
        return self.cr(C_GF, 4) << 32 | lo

    def init(self, accept, queues=(), driver_ok=True, reset=True,
             rings=0x100000, same_rings=False):
        if reset:
            self.set_status(0)
        self.queues = {}
        self.set_status(ACKNOWLEDGE)
        self.set_status(ACKNOWLEDGE | DRIVER)
        feats = self.offered() & accept
        for sel in (0, 1):
            self.cw(C_GFSELECT, sel, 4)
            self.cw(C_GF, (feats >> (32 * sel)) & 0xffffffff, 4)
        self.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK)
        if not self.status & FEATURES_OK:
            raise QemuError("FEATURES_OK not accepted")
        for qi in queues:
            self.setup_queue(qi, rings)
        if driver_ok:
            self.set_status(RUNNING)
        return feats

    def setup_queue(self, qi, rings=0x100000, vq=None):
        mem = rings + 0x10000 * qi
        vq = {"desc": mem, "avail": mem + 0x1000, "used": mem + 0x2000,
              "buf": mem + 0x4000, "next": 0, "avail_idx": 0}
        self.q.cmd(f"memset {mem:#x} 0x3000 0")
        self.cw(C_Q_SELECT, qi)
        if self.cr(C_Q_SIZE) < QSIZE:
            raise QemuError(f"queue {qi} not available")
        self.cw(C_Q_SIZE, QSIZE)
        for reg, addr in ((C_Q_DESC, vq["desc"]), (C_Q_DRIVER, vq["avail"]),
                          (C_Q_DEVICE, vq["used"])):
            self.cw(reg, addr & 0xffffffff, 4)
            self.cw(reg + 4, addr >> 32, 4)
        self.cw(C_Q_ENABLE, 1)
        vq["notify"] = self.cr(C_Q_NOFF)
        self.queues[qi] = vq

    def kick(self, qi):
        base, mult = self.caps[PCI_CAP_NOTIFY]
        self.q.writew(base + self.queues[qi]["notify"] * mult, qi)

    def isr(self):
        # reading the ISR status clears it
        return self.q.readb(self.caps[PCI_CAP_ISR][0])

    def ack_isr(self):
        self.isr()


def find_devices(q):
    found = []
    for slot in range(MMIO_SLOTS):
        base = MMIO_BASE + MMIO_SIZE * slot
        if q.readl(base + MAGIC) != VIRT_MAGIC:
            continue
        dev_id = q.readl(base + DEVICE_ID)
        if dev_id:
            found.append((dev_id, Device(q, base)))
    return found


class Tests:
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
             "x-fault-recovery: unknown value 'bogus' (allowed: features)"),
            (",x-fault-recovery=features",
             "x-fault-recovery needs suspend=on"),
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

    def t_vhost_refused(self):
        """A vhost backend processes the queues: suspend=on is refused."""
        sock = os.path.join(self.tmp, "vhost-user.sock")
        chardev = ["-chardev", f"socket,id=vu0,path={sock},server=on,wait=off"]
        msg = "suspend=on is not supported by {}: a vhost backend"
        # (vhost-user-fs-device and vhost-user-vsock-device stop their
        # backend: t_vhost_user_fs, t_vhost_user_vsock)
        for dev, props in (("vhost-user-blk", ",chardev=vu0"),
                           ("vhost-user-rng", ",chardev=vu0"),
                           ("vhost-vsock-device", ",guest-cid=3")):
            self.realize_refuses(dev, [(props + ",suspend=on",
                                        msg.format(dev))], extra=chardev)

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

    def wait_qmp(self, q, cmd, done, timeout=20, **args):
        end = time.monotonic() + timeout
        while True:
            r = q.qmp_cmd(cmd, **args)
            if done(r):
                return r
            if time.monotonic() > end:
                raise QemuError(f"QMP {cmd}: still {r!r}")
            time.sleep(0.02)

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

    def t_pci_vhost_user_stop_cont(self):
        """The device types with a vhost-user backend (virtio-fs with
        virtiofsd, vsock with vhost-device-vsock) on virtio-pci with
        ioeventfds, whose kick eventfds the backend owns: suspended, each
        stays suspended through QMP stop and cont (which stop and start
        vhost devices and QEMU's notifiers), with no notification of the
        driver's reported, resumes, and its backend takes requests again
        (virtio-fs: a FUSE request answered).  Neither can migrate in
        QEMU 7.2 (both are unmigratable: their state is the backend's)."""
        mem = ["-object", "memory-backend-memfd,id=mem,size=64M,share=on"]
        machine = "microvm,acpi=on,pcie=on,memory-backend=mem"
        for device in ("vhost-user-fs-pci", "vhost-user-vsock-pci"):
            what = f"{device} suspended"
            if device == "vhost-user-fs-pci":
                sock, props, queues = self.virtiofsd(), ",tag=vsfs", [0, 1]
            else:
                sock, props, queues = self.vhost_device_vsock(), "", [0, 1, 2]
            q, d = self.pci(",chardev=c0" + props,
                            mem + ["-chardev", f"socket,id=c0,path={sock}"],
                            device=device, machine=machine)
            d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=queues)
            self.eq(d.status, RUNNING, f"{device}: running")
            if device == "vhost-user-fs-pci":
                self.eq(self.fuse_call(d, FUSE_INIT, 1, 0,
                                       struct.pack("<IIII", 7, 31, 0, 0),
                                       f"{what}: FUSE_INIT"), 0,
                        f"{device}: FUSE_INIT answered")
            self.suspended_through_stop_cont(q, d, what)
            d.set_status(RUNNING)
            self.eq(self.poll_status(d, self.SUSPENDED), RUNNING,
                    f"{what}: resumed")
            if device == "vhost-user-fs-pci":
                self.eq(self.fuse_call(d, FUSE_GETATTR, 2, FUSE_ROOT,
                                       struct.pack("<IIQ", 0, 0, 0),
                                       f"{what}: FUSE_GETATTR"), 0,
                        f"{what}: a request answered after the resume")
            self.device_bugs(q, device)
            self.no_violation(q, device)
            q.close()
        self.backend_errors("vhost-user on virtio-pci")

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

    # -- vhost-user-fs ------------------------------------------------
    def start_backend(self, name, args):
        """Starts vhost-user backend name (tools/vhost-user) with args,
        which name {sock} where it must listen; waits until it does:
        returns that socket's path."""
        binary = subprocess.run(["bash", VHOST_USER_BUILD, name], check=True,
                                stdout=subprocess.PIPE,
                                text=True).stdout.strip()
        n = len(self.backends)
        sock = os.path.join(self.tmp, f"{name}{n}.sock")
        log = open(os.path.join(self.tmp, f"{name}{n}.log"), "w")
        proc = subprocess.Popen([binary] + [a.format(sock=sock) for a in args],
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log)
        log.close()
        self.backends.append((proc, log.name))
        end = time.monotonic() + 20
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > end:
                raise QemuError(f"{name} did not start: " +
                                open(log.name).read())
            time.sleep(0.05)
        return sock

    def vhost_device_vsock(self):
        """vhost-device-vsock, guest CID 3: returns its socket's path."""
        return self.start_backend("vhost-device-vsock", [
            "--guest-cid=3", "--socket={sock}",
            f"--uds-path={self.tmp}/vsock.uds"])

    def t_vhost_user_vsock(self):
        """vhost-user-vsock with vhost-device-vsock: SUSPEND negotiated
        and cycled with the backend's rings stopped and started (the
        backend is not told of the feature bit: it would refuse it);
        the guest scenario carries the traffic."""
        sock = self.vhost_device_vsock()
        path = "/machine/peripheral/dev0"
        q, d = self.device(
            ["-object", "memory-backend-memfd,id=mem,size=64M,share=on",
             "-chardev", f"socket,id=vsk0,path={sock}",
             "-device", "vhost-user-vsock-device,id=dev0,chardev=vsk0,"
             "suspend=on"], dev_id=19, qmp=True,
            machine="microvm,acpi=on,memory-backend=mem")
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0, 1, 2])
        self.check(feats & (1 << F_SUSPEND), "vhost-user-vsock: bit 43 "
                   "offered and negotiated")
        self.eq(d.status, RUNNING, "vhost-user-vsock: running")
        self.eq(struct.unpack("<Q", q.read(d.base + CONFIG, 8))[0], 3,
                "vhost-user-vsock: guest CID 3 from the backend")
        for cycle in (1, 2):
            what = f"vhost-user-vsock cycle {cycle}"
            d.set_status(RUNNING | SUSPEND)
            self.eq(d.status, self.SUSPENDED, f"{what}: acknowledged")
            self.eq(q.qom_get(path, "suspend-state"), "suspended",
                    f"{what}: suspend-state suspended")
            d.set_status(RUNNING)
            self.eq(d.status, RUNNING, f"{what}: resumed")
        self.device_bugs(q, "vhost-user-vsock")
        self.no_violation(q, "vhost-user-vsock")
        self.backend_errors("vhost-user-vsock")

    def virtiofsd(self):
        """virtiofsd serving a scratch directory, in its default serial
        mode: returns its socket's path."""
        share = os.path.join(self.tmp, f"virtiofs{len(self.backends)}")
        os.makedirs(share, exist_ok=True)
        return self.start_backend("virtiofsd", [
            "--socket-path={sock}", f"--shared-dir={share}",
            "--sandbox=none", "--seccomp=none", "--cache=never"])

    def backend_errors(self, what):
        errors = [l for _, name in self.backends
                  for l in open(name).read().splitlines() if " ERROR " in l]
        self.check(not errors, what + ": no error in the backend's log",
                   "\n".join(errors))

    def fuse_call(self, d, opcode, unique, nodeid, body, what):
        """One FUSE request, notified; waits for its reply: its error."""
        used = d.used_idx(FS_REQUESTS)
        reply = d.fuse_request(opcode, unique, nodeid, body)
        d.kick(FS_REQUESTS)
        if not d.wait_used(FS_REQUESTS, (used + 1) & 0xffff):
            self.check(False, f"{what}: no reply")
            return None
        r = d.fuse_reply(reply)
        self.check(r is not None and r[1] == unique, f"{what}: its reply",
                   repr(r))
        return r and r[0]

    def t_vhost_user_fs(self):
        """vhost-user-fs with virtiofsd: SUSPEND stops the backend's rings
        (a request in flight is answered before the acknowledgement or
        after the resume, never while suspended), resume starts them
        where they stopped; the suspend feature bit is QEMU's, the
        backend is not told of it (it would refuse it and disconnect)."""
        path = "/machine/peripheral/dev0"
        q, d, _ = self.vhost_user_fs_started("vhost-user-fs")
        getattr_in = struct.pack("<IIQ", 0, 0, 0)
        self.eq(self.fuse_call(d, FUSE_GETATTR, 2, FUSE_ROOT, getattr_in,
                               "vhost-user-fs: GETATTR"), 0,
                "vhost-user-fs: GETATTR of the root")
        for cycle in (1, 2):
            what = f"vhost-user-fs cycle {cycle}"
            used = d.used_idx(FS_REQUESTS)
            unique = 10 * cycle
            reply = d.fuse_request(FUSE_GETATTR, unique, FUSE_ROOT,
                                   getattr_in)
            d.kick(FS_REQUESTS)
            d.set_status(RUNNING | SUSPEND)
            self.eq(d.status, self.SUSPENDED, f"{what}: acknowledged")
            self.eq(q.qom_get(path, "suspend-state"), "suspended",
                    f"{what}: suspend-state suspended")
            before = d.used_idx(FS_REQUESTS)
            d.ack_isr()
            time.sleep(0.3)
            self.eq(d.used_idx(FS_REQUESTS), before,
                    f"{what}: used ring still while suspended")
            self.eq(d.isr(), 0, f"{what}: no interrupt while suspended")
            d.set_status(RUNNING)
            self.eq(d.status, RUNNING, f"{what}: resumed")
            self.check(d.wait_used(FS_REQUESTS, (used + 1) & 0xffff),
                       f"{what}: the request kicked before the suspend is "
                       "answered", f"used index {d.used_idx(FS_REQUESTS)}")
            self.eq(d.fuse_reply(reply), (0, unique),
                    f"{what}: its reply")
            # Started where it stopped: the next request is served, once
            self.eq(self.fuse_call(d, FUSE_GETATTR, unique + 1, FUSE_ROOT,
                                   getattr_in, what), 0,
                    f"{what}: a request after the resume")
            self.eq(d.used_idx(FS_REQUESTS), (used + 2) & 0xffff,
                    f"{what}: one used element per request")
        self.eq(q.qom_get(path, "suspend-device-bugs"), 0,
                "vhost-user-fs: suspend-device-bugs is 0")
        self.device_bugs(q, "vhost-user-fs")
        self.no_violation(q, "vhost-user-fs")
        self.backend_errors("vhost-user-fs")

    def vhost_user_fs_started(self, what, extra=()):
        """A vhost-user-fs device over a fresh virtiofsd, set up with
        SUSPEND (bit 43 offered and negotiated) and FUSE_INIT answered;
        extra: more QEMU arguments.  Returns (q, d, the backend's
        process)."""
        sock = self.virtiofsd()
        proc = self.backends[-1][0]
        q, d = self.device(
            ["-object", "memory-backend-memfd,id=mem,size=64M,share=on",
             "-chardev", f"socket,id=vfs0,path={sock}",
             "-device", "vhost-user-fs-device,id=dev0,chardev=vfs0,tag=vsfs,"
             "suspend=on", *extra], dev_id=FS_ID, qmp=True,
            machine="microvm,acpi=on,memory-backend=mem")
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0, 1])
        self.check(feats & (1 << F_SUSPEND), f"{what}: bit 43 offered and "
                   "negotiated")
        self.eq(d.status, RUNNING, f"{what}: running")
        self.eq(self.fuse_call(d, FUSE_INIT, 1, 0,
                               struct.pack("<IIII", 7, 31, 0, 0),
                               f"{what}: FUSE_INIT"), 0,
                f"{what}: FUSE_INIT answered (the backend started)")
        return q, d, proc

    def needs_reset(self, d, what):
        """The device answered a suspend or resume it could not do with
        DEVICE_NEEDS_RESET, as the spec wants, not with the status it
        was asked for."""
        status = d.status
        self.check(status & NEEDS_RESET, f"{what}: DEVICE_NEEDS_RESET",
                   f"status {status:#x}")
        self.check(status & SUSPEND == 0 and status & DRIVER_OK,
                   f"{what}: neither suspended nor running without it",
                   f"status {status:#x}")

    def t_vhost_user_fs_backend_gone(self):
        """vhost-user-fs whose backend is gone: the stop at the SUSPEND
        request (or the start at the resume) cannot reach it, and the
        device answers with DEVICE_NEEDS_RESET, as the spec wants of a
        device that cannot suspend (or resume), instead of reporting
        itself suspended (or running) with a dead backend."""
        for at in ("suspend", "resume"):
            what = f"vhost-user-fs, backend gone before the {at}"
            q, d, proc = self.vhost_user_fs_started(what)
            if at == "resume":
                d.set_status(RUNNING | SUSPEND)
                self.eq(d.status, self.SUSPENDED, f"{what}: suspended")
            proc.kill()
            proc.wait()
            time.sleep(0.2)             # QEMU sees the socket close
            d.set_status(RUNNING | SUSPEND if at == "suspend" else RUNNING)
            self.needs_reset(d, what)
            q.close()

    def backend_given_up(self, q, d, what, start, ms, write):
        """After a status write (at time start) that QEMU could not
        complete with a vhost-user backend not answering within ms: the
        device answers with DEVICE_NEEDS_RESET, QMP answers, and QEMU said
        why.  Returns how long the write took."""
        self.needs_reset(d, what)
        self.eq(q.qmp_cmd("query-status")["status"], "running",
                f"{what}: QMP answers")
        waited = time.monotonic() - start
        self.check(f"no reply in {ms} ms while the device suspends or resumes"
                   in q.stderr(), f"{what}: QEMU says why", q.stderr())
        print(f"# {what}: the {write} returned in {waited:.1f} s")
        return waited

    def t_vhost_user_fs_backend_hung(self):
        """vhost-user-fs whose backend does not answer the stop
        (GET_VRING_BASE): the SUSPEND write waits for the reply under the
        global lock, so without a bound the whole of QEMU, QMP included,
        waits as long as the backend does.  The backend's thread that
        answers vhost-user requests is stopped (ptrace) across the
        SUSPEND write: after x-suspend-vhost-reply-ms QEMU gives up on the
        backend, the device answers with DEVICE_NEEDS_RESET and QEMU goes
        on."""
        what = "vhost-user-fs, backend not answering the stop"
        q, d, proc = self.vhost_user_fs_started(
            what, ["-global", "vhost-user-fs-device.x-suspend-vhost-reply-ms=300"])
        with ThreadStopped(proc.pid, VIRTIOFSD_REQUEST_THREAD):
            start = time.monotonic()
            d.set_status(RUNNING | SUSPEND)
            self.backend_given_up(q, d, what, start, 300, "SUSPEND write")
        q.close()

    def t_vhost_user_fs_resume_hung(self):
        """vhost-user-fs whose backend does not answer the start of the
        resume: the resume's status write starts the backend's rings
        again and asks it whether it answers (GET_FEATURES), under the
        global lock, so without a bound the whole of QEMU waits as long
        as the backend does.  The suspend goes through; the backend's
        thread that answers vhost-user requests is stopped (ptrace)
        across the resume's write: after x-suspend-vhost-reply-ms QEMU
        gives up on the backend, the device answers with
        DEVICE_NEEDS_RESET and QEMU goes on.  The bound, 4400 ms, is past
        what 32 bits hold in nanoseconds: QEMU waits that long, not what
        is left after a wrap (105 ms)."""
        what = "vhost-user-fs, backend not answering the resume"
        q, d, proc = self.vhost_user_fs_started(
            what, ["-global", "vhost-user-fs-device.x-suspend-vhost-reply-ms=4400"])
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, f"{what}: suspended")
        with ThreadStopped(proc.pid, VIRTIOFSD_REQUEST_THREAD):
            start = time.monotonic()
            d.set_status(RUNNING)
            waited = self.backend_given_up(q, d, what, start, 4400,
                                           "resume's write")
        self.check(waited >= 4.3, f"{what}: QEMU waited the bound",
                   f"{waited:.2f} s")
        q.close()

    def t_vhost_user_fs_probe_hung(self):
        """vhost-user-fs whose backend answers the stop (GET_VRING_BASE on
        every ring) and then not the GET_FEATURES by which the device asks
        whether it still answers: that probe runs after the stop has
        detached the vhost device from the virtio device, and must be
        bounded too (x-suspend-vhost-reply-ms), or the whole of QEMU waits
        in the SUSPEND write.  A stub backend hangs on cue."""
        what = "vhost-user-fs, backend not answering after the stop"
        sock = os.path.join(self.tmp, "stub-fs.sock")
        stub = StubVhostUserBackend(sock, hang_after_stop={
            StubVhostUserBackend.GET_FEATURES})
        q, d = self.device(
            ["-object", "memory-backend-memfd,id=mem,size=64M,share=on",
             "-chardev", f"socket,id=vfs0,path={sock}",
             "-device", "vhost-user-fs-device,id=dev0,chardev=vfs0,tag=vsfs,"
             "suspend=on,x-suspend-vhost-reply-ms=300"], dev_id=FS_ID, qmp=True,
            machine="microvm,acpi=on,memory-backend=mem")
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0, 1])
        self.check(feats & (1 << F_SUSPEND), f"{what}: bit 43 offered and "
                   "negotiated")
        self.eq(d.status, RUNNING, f"{what}: running")
        start = time.monotonic()
        d.set_status(RUNNING | SUSPEND)
        self.check(stub.hung == StubVhostUserBackend.GET_FEATURES,
                   f"{what}: the backend answered the stop, not the probe",
                   f"requests {stub.requests}")
        self.backend_given_up(q, d, what, start, 300, "SUSPEND write")
        q.close()

    def t_vhost_user_fs_kick_left(self):
        """A kick still in a vhost backend's kick eventfd at the SUSPEND
        write came before the request.  The backend owns the eventfd:
        QEMU's drain of pending kicks must leave it alone (a kick it reads
        is lost to the backend).  If the backend has not read it when its
        rings stop (GET_VRING_BASE unregisters the eventfd from its
        loop), the stop's notifier clean-up finds it: a kick from before
        the request, not a violation, and the resume, which kicks every
        ring again, brings it to the backend.  The backend's vring worker
        thread is stopped (ptrace) across the kick and the SUSPEND write,
        its other threads answer the stop; QEMU's virtio_queue_notify
        trace shows what QEMU processed itself."""
        what = "vhost-user-fs, kick left in the eventfd"
        q, d, proc = self.vhost_user_fs_started(
            what, ["-trace", "virtio_queue_notify"])
        used = d.used_idx(FS_REQUESTS)
        reply = d.fuse_request(FUSE_GETATTR, 20, FUSE_ROOT,
                               struct.pack("<IIQ", 0, 0, 0))
        with ThreadStopped(proc.pid, "vring_worker"):
            d.kick(FS_REQUESTS)
            d.set_status(RUNNING | SUSPEND)
            self.eq(d.status, self.SUSPENDED, f"{what}: suspended")
        time.sleep(0.3)                 # the log is written
        log = q.log()
        self.eq(log.count("virtio_queue_notify"), 0,
                f"{what}: QEMU processed no notification of the backend's "
                "rings")
        self.check("notified while" not in log,
                   f"{what}: no violation reported", log)
        d.set_status(RUNNING)
        self.check(d.wait_used(FS_REQUESTS, (used + 1) & 0xffff),
                   f"{what}: the request is answered after the resume",
                   f"used index {d.used_idx(FS_REQUESTS)}")
        self.eq(d.fuse_reply(reply), (0, 20), f"{what}: its reply")

    def t_vhost_user_fs_used_moved(self):
        """A vhost backend that goes on using a ring after its stop
        (GET_VRING_BASE) leaves QEMU a stale position: a restart from it
        would pop avail entries the backend completed.  The used index
        moved while suspended (written here by the test, as such a
        backend writes it) fails the resume with DEVICE_NEEDS_RESET and a
        device bug line, instead of going on."""
        q, d, _ = self.vhost_user_fs_started("vhost-user-fs used moved")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "vhost-user-fs used moved: "
                "suspended")
        used = d.queues[FS_REQUESTS]["used"]
        q.writew(used + 2, (d.used_idx(FS_REQUESTS) + 1) & 0xffff)
        d.set_status(RUNNING)
        # as resume-fail: DEVICE_NEEDS_RESET instead of DRIVER_OK
        self.eq(d.status, self.SUSPENDED | NEEDS_RESET,
                "vhost-user-fs used moved: the resume fails with "
                "DEVICE_NEEDS_RESET")
        self.check("used index moved from" in q.log(),
                   "vhost-user-fs used moved: a device bug line", q.log())

    def t_balloon_stats(self):
        """The balloon's statistics timer does not return the stats buffer
        while suspended."""
        q, d = self.device(["-device", "virtio-balloon-device,id=dev0,"
                            "suspend=on"], dev_id=5, qmp=True)
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND | 1 << 1,
                       queues=[0, 1, 2])
        self.check(feats & 2, "balloon: STATS_VQ negotiated")
        buf = d.queues[2]["buf"]
        q.write(buf, struct.pack("<HQ", 0, 0))
        d.add_buffer(2, [(buf, 10, False)])
        d.kick(2)
        q.qmp_cmd("qom-set", path="/machine/peripheral/dev0",
                  property="guest-stats-polling-interval", value=1)
        q.clock_step_ms(1100)
        self.eq(d.used_idx(2), 1, "balloon: stats buffer returned by the "
                "timer while running")
        d.ack_isr()
        d.add_buffer(2, [(buf, 10, False)])
        d.kick(2)
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "balloon: suspended")
        q.clock_step_ms(3500)
        self.eq(d.used_idx(2), 1, "balloon: no stats buffer returned while "
                "suspended")
        self.device_bugs(q, "balloon")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "balloon: resumed")
        q.clock_step_ms(1100)
        self.eq(d.used_idx(2), 2, "balloon: stats asked again after resume")
        self.no_violation(q, "balloon")

    def t_rng_entropy_while_suspended(self):
        """virtio-rng calls virtio_notify() when entropy arrives, even
        with no buffer to fill: entropy the driver asked for before the
        suspend, arriving while the device is suspended, must raise no
        interrupt (the core holds it for the resume).  The entropy comes
        from a FIFO the test writes to, so it arrives exactly then; the
        driver does not negotiate EVENT_IDX, so a notification that is
        not held reaches the interrupt status at once."""
        fifo = os.path.join(self.tmp, "entropy.fifo")
        os.mkfifo(fifo)
        # Held open for writing, so that QEMU's reads wait (EAGAIN)
        # instead of seeing the end of the file.
        wfd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        try:
            self.rng_fifo_cycle(fifo, wfd)
        finally:
            os.close(wfd)

    def rng_fifo_cycle(self, fifo, wfd):
        q, d = self.device(["-object", f"rng-random,id=rng0,filename={fifo}",
                            "-device", "virtio-rng-device,id=dev0,rng=rng0,"
                            "suspend=on"], dev_id=4, qmp=True)

        def feed(what):
            """Writes 16 bytes of entropy and waits until QEMU has read
            them: the read and virtio-rng's handling of it are one main
            loop callback, over before QEMU answers the next command."""
            os.write(wfd, bytes(range(16)))
            end = time.monotonic() + 5
            while struct.unpack("i", fcntl.ioctl(wfd, termios.FIONREAD,
                                                 b"\0" * 4))[0]:
                if time.monotonic() > end:
                    self.check(False, f"rng-fifo: QEMU read the entropy "
                               f"{what}")
                    return
                time.sleep(0.005)

        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0])
        d.rng_request()
        d.kick(0)
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "rng-fifo: suspended with the request waiting for entropy")
        feed("while suspended")
        self.eq(d.isr(), 0, "rng-fifo: entropy arriving while suspended "
                "raises no interrupt")
        self.eq(d.used_idx(0), 0, "rng-fifo: no buffer used while suspended")
        self.eq(self.stats(q)["notifications-held"], 1,
                "rng-fifo: its notification is held for the resume")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "rng-fifo: resumed")
        feed("after the resume")
        self.check(d.wait_used(0, 1), "rng-fifo: the request is served with "
                   "entropy that arrives after the resume")
        self.check(d.isr() & 1, "rng-fifo: used buffer interrupt after resume")
        self.device_bugs(q, "rng-fifo")
        self.no_violation(q, "rng-fifo")

    def migration_refused(self, q, what):
        """A migration of q fails and the source goes on running."""
        self.eq(self.migrate_out(q)[0], "failed",
                f"{what}: migration refused")
        self.eq(self.wait_qmp(q, "query-status",
                              lambda r: r.get("status") == "running")
                .get("status"), "running", f"{what}: the source goes on")

    def serial_two_ports(self, sock):
        """A virtio-serial with SUSPEND and port 1 on a chardev listening
        on sock, set up with MULTIPORT (queues 0-5): returns (q, d, the
        features negotiated)."""
        q, d = self.device(["-device", "virtio-serial-device,id=dev0,"
                            "suspend=on,max_ports=2",
                            "-chardev", f"socket,id=c1,path={sock},"
                            "server=on,wait=off",
                            "-device", "virtserialport,chardev=c1,nr=1"],
                           dev_id=3, qmp=True)
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND | 1 << 1,
                       queues=[0, 1, 2, 3, 4, 5])
        return q, d, feats

    def t_serial_ctrl(self):
        """A port opened while virtio-serial is suspended: the control
        message waits for the resume instead of being lost, and the device
        refuses to migrate meanwhile (the message is not in the stream)."""
        sock = os.path.join(self.tmp, "port1.sock")
        q, d, feats = self.serial_two_ports(sock)
        self.check(feats & 2, "serial: MULTIPORT negotiated")
        base = d.queues[2]["buf"]
        for i in range(2):
            d.add_buffer(2, [(base + 0x100 * i, 8, True)])
        d.kick(2)
        used0 = d.used_idx(2)
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "serial: suspended")
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock)
        time.sleep(0.3)
        q.clock_step_ms(10)
        self.eq(d.used_idx(2), used0, "serial: no control message while "
                "suspended")
        self.device_bugs(q, "serial")
        self.migration_refused(q, "serial: a control message held")
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "serial: still suspended after the refused migration")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "serial: resumed")
        ok = d.wait_used(2, used0 + 1, timeout=2)
        self.check(ok, "serial: the port-open message reaches the driver "
                   "after resume")
        if ok:
            slot = (used0 % QSIZE)
            elem = q.read(d.queues[2]["used"] + 4 + 8 * slot, 8)
            idx = struct.unpack("<II", elem)[0]
            pid, event, value = struct.unpack(
                "<IHH", q.read(base + 0x100 * idx, 8))
            self.check((pid, event, value) == (1, 6, 1),
                       "serial: it is VIRTIO_CONSOLE_PORT_OPEN for port 1",
                       f"id {pid} event {event} value {value}")
        c.close()
        self.no_violation(q, "serial control")

    def serial_port_open(self, d):
        """The driver's side of opening port 1 of a MULTIPORT
        virtio-serial (control queues 2 and 3; the receive queue's
        buffers are there for the device's answers): DEVICE_READY, then
        PORT_READY and PORT_OPEN for port 1."""
        buf = d.queues[3]["buf"]
        for i, (event, value) in enumerate(((0, 1), (3, 1), (6, 1))):
            port = 0 if event == 0 else 1
            d.q.write(buf + 0x40 * i, struct.pack("<IHH", port, event, value))
            d.add_buffer(3, [(buf + 0x40 * i, 8, False)])
            d.kick(3)
            self.check(d.wait_used(3, i + 1, timeout=2),
                       f"serial: control message {event} taken")

    def serial_rx_race(self, sock):
        """A MULTIPORT virtio-serial with port 1 open on both sides and a
        receive buffer left, suspended with bytes ("held") sent in the same
        pass of QEMU's main loop as the SUSPEND write (both sent while
        QEMU is busy with a long qtest command).  Returns (q, d, the host
        side's socket, the buffer's address)."""
        q, d, _ = self.serial_two_ports(sock)
        ctrl = d.queues[2]["buf"]
        for i in range(QSIZE - 1):
            d.add_buffer(2, [(ctrl + 0x40 * i, 0x40, True)])
        d.kick(2)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock)
        self.serial_port_open(d)
        rx = d.queues[4]["buf"]
        d.add_buffer(4, [(rx, 0x100, True)])
        d.kick(4)
        c.send(b"x")
        self.check(d.wait_used(4, 1, timeout=2), "serial: a byte reaches "
                   "the open port before the test")
        for i in (1, 2):
            d.add_buffer(4, [(rx + 0x100 * i, 0x100, True)])
        d.kick(4)
        time.sleep(0.2)             # QEMU polls the chardev again
        # 16 MiB of guest memory no queue uses: QEMU is busy long enough
        q.cmds_around("memset 0x2000000 0x1000000 0", lambda: c.send(b"held"),
                      f"writel {d.base + STATUS:#x} {RUNNING | SUSPEND:#x}")
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "serial rx: suspended")
        self.eq(d.used_idx(4), 1, "serial rx: no byte used while suspended")
        return q, d, c, rx

    def t_serial_rx_held(self):
        """Bytes the host sends to a port while virtio-serial suspends.  A
        chardev asks whether the guest can take bytes in the main loop's
        prepare phase and reads them in its dispatch phase; the SUSPEND
        write can come in between, and the bytes then read were dropped.
        The device holds them for the resume and refuses to migrate
        meanwhile.  Whether the chardev reads them before or after the
        SUSPEND write is the main loop's choice: tried until it did
        (a migration refused shows it; a few tries at most here), the
        bytes must reach the guest after the resume either way."""
        sock = os.path.join(self.tmp, "port1rx.sock")
        for attempt in range(8):
            q, d, c, rx = self.serial_rx_race(sock)
            status, _ = self.migrate_out(q)
            if status == "completed":
                # Not read before the SUSPEND write: nothing was held.
                c.close()
                q.close()
                continue
            self.check("port 1: 4 bytes held while the device is suspended "
                       "cannot be migrated" in q.stderr(),
                       "serial rx: migration refused, the bytes held",
                       q.stderr())
            self.eq(self.wait_qmp(q, "query-status",
                                  lambda r: r.get("status") == "running")
                    .get("status"), "running", "serial rx: the source goes on")
            self.device_bugs(q, "serial rx")
            d.set_status(RUNNING)
            ok = d.wait_used(4, 2, timeout=2)
            self.check(ok, "serial rx: the bytes read across the SUSPEND "
                       "write reach the guest after the resume",
                       f"used index {d.used_idx(4)}")
            if ok:
                self.eq(q.read(rx + 0x100, 4), b"held",
                        "serial rx: in order, whole")
            c.send(b"more")
            self.check(d.wait_used(4, 3, timeout=2), "serial rx: the port "
                       "takes bytes again once the held ones are out",
                       f"used index {d.used_idx(4)}")
            c.close()
            self.no_violation(q, "serial rx")
            print(f"# serial rx: bytes held at try {attempt + 1}")
            return
        self.check(False, "serial rx: the chardev read bytes across the "
                   "SUSPEND write in one of 8 tries (nothing was held)")

    def t_input_held(self):
        """Key events while virtio-input is suspended are held for the
        resume, and the device refuses to migrate meanwhile (they are not
        in the stream)."""
        q, d = self.device(["-device", "virtio-keyboard-device,id=dev0,"
                            "suspend=on"], dev_id=18, qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0, 1])
        base = d.queues[0]["buf"]
        for i in range(4):
            d.add_buffer(0, [(base + 0x100 * i, 8, True)])
        d.kick(0)
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "input: suspended")
        q.qmp_cmd("input-send-event", events=[
            {"type": "key", "data": {"down": True,
                                     "key": {"type": "qcode", "data": "a"}}}])
        self.eq(d.used_idx(0), 0, "input: no event while suspended")
        self.migration_refused(q, "input: events held")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "input: resumed")
        self.check(d.wait_used(0, 2, timeout=2), "input: the key and its "
                   "SYN reach the driver after the resume",
                   f"used index {d.used_idx(0)}")
        # nothing held any more: the device migrates again
        self.eq(self.migrate_out(q)[0], "completed", "input: migrates "
                "once the events were delivered")
        self.no_violation(q, "input")

    def t_gpu(self):
        """virtio-gpu 2D: a command kicked right before SUSPEND is
        completed before the acknowledgement or after the resume, never
        while suspended."""
        q, d = self.device(["-device", "virtio-gpu-device,id=dev0,"
                            "suspend=on"], dev_id=16, qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0, 1])
        buf = d.queues[0]["buf"]
        for round_ in range(2):
            q.write(buf, struct.pack("<IIQIB3x", 0x0100, 0, 0, 0, 0))
            q.write(buf + 0x100, b"\0" * 24)
            d.add_buffer(0, [(buf, 24, False), (buf + 0x100, 408, True)])
            d.kick(0)
            d.set_status(RUNNING | SUSPEND)
            st = self.poll_status(d, RUNNING)
            self.eq(st, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                    f"gpu: suspended ({round_})")
            at_ack = d.used_idx(0)
            time.sleep(0.1)
            q.clock_step_ms(100)
            self.eq(d.used_idx(0), at_ack, f"gpu: used ring still while "
                    f"suspended ({round_})")
            d.set_status(RUNNING)
            self.eq(d.status, RUNNING, f"gpu: resumed ({round_})")
            self.check(d.wait_used(0, round_ + 1), f"gpu: command "
                       f"completed ({round_})")
            resp = struct.unpack("<I", q.read(buf + 0x100, 4))[0]
            self.eq(resp, 0x1101, f"gpu: RESP_OK_DISPLAY_INFO ({round_})")
        self.device_bugs(q, "gpu")
        self.eq(q.qom_get("/machine/peripheral/dev0", "suspend-device-bugs"),
                0, "gpu: suspend-device-bugs is 0")
        self.no_violation(q, "gpu")

    def t_scsi_inflight(self):
        """virtio-scsi with a throttled disk: the suspend is acknowledged
        once the requests in flight completed, the used ring does not
        move while suspended."""
        img = self.blk_image("scsi.img")
        q, d = self.device(["-drive", f"if=none,id=d0,format=raw,file={img},"
                            "throttling.iops-total=1",
                            "-device", "virtio-scsi-device,id=dev0,"
                            "suspend=on",
                            "-device", "scsi-hd,drive=d0,bus=dev0.0,"
                            "scsi-id=0,lun=0"], dev_id=8, qmp=True)
        d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0, 1, 2])
        vq = d.queues[2]

        def read10(n):
            base = vq["buf"] + 0x1000 * n
            cdb = bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]).ljust(32, b"\0")
            q.write(base, bytes([1, 0, 0, 0, 0, 0, 0, 0]) +
                    struct.pack("<QBBB", n + 1, 0, 0, 0) + cdb)
            q.write(base + 0x100, b"\xff" * 108)
            d.add_buffer(2, [(base, 51, False), (base + 0x100, 108, True),
                             (base + 0x400, 512, True)])
            return base

        def served(n, want):
            end = time.monotonic() + 5
            while d.used_idx(2) < want and time.monotonic() < end:
                q.clock_step_ms(100)
                time.sleep(0.05)
            return d.used_idx(2) >= want

        # the first requests may find the disk with a unit attention
        for n in range(2):
            read10(n)
            d.kick(2)
            self.check(served(n, n + 1), f"scsi-inflight: request {n}")
        d.ack_isr()
        reqs = [read10(2), read10(3)]
        d.kick(2)
        self.eq(d.used_idx(2), 2, "scsi-inflight: two requests throttled")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, RUNNING, "scsi-inflight: not acknowledged while "
                "requests are in flight")
        acked_used = None
        for _ in range(40):
            q.clock_step_ms(100)
            end = time.monotonic() + 0.3
            while d.status == RUNNING and time.monotonic() < end:
                time.sleep(0.01)
            if d.status != RUNNING:
                acked_used = d.used_idx(2)
                break
        self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                "scsi-inflight: acknowledged")
        self.eq(acked_used, 4, "scsi-inflight: both requests used before "
                "the acknowledgement")
        for r in reqs:
            resp = q.read(r + 0x100, 12)
            data = q.read(r + 0x400, 16)
            self.check(resp[10] == 0 and resp[11] == 0 and
                       data == b"VSUSPEND-SECTOR0",
                       "scsi-inflight: request good",
                       f"{resp.hex()} {data!r}")
        q.clock_step_ms(3000)
        time.sleep(0.2)
        self.eq(d.used_idx(2), 4, "scsi-inflight: used ring still while "
                "suspended")
        self.device_bugs(q, "scsi-inflight")
        d.set_status(RUNNING)
        self.eq(d.status, RUNNING, "scsi-inflight: resumed")
        self.no_violation(q, "scsi-inflight")

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

    def t_other_devices(self):
        cases = [
            ("virtio-net", 1, ["-netdev", "hubport,id=n0,hubid=0", "-device",
                               "virtio-net-device,netdev=n0,suspend=on"]),
            ("virtio-serial", 3, ["-device", "virtio-serial-device,suspend=on",
                                  "-chardev", "null,id=c0", "-device",
                                  "virtconsole,chardev=c0"]),
        ]
        for name, dev_id, args in cases:
            q, d = self.device(args, dev_id=dev_id)
            feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND,
                           queues=[0, 1])
            self.check(feats & (1 << F_SUSPEND), f"{name}: bit 43 negotiated")
            d.set_status(RUNNING | SUSPEND)
            self.eq(d.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | SUSPEND,
                    f"{name}: suspended")
            d.set_status(RUNNING)
            self.eq(d.status, RUNNING, f"{name}: resumed")
            self.no_violation(q, name)
            q.close()

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

    def poll(self, cond, timeout=5.0):
        """The interrupt of a request may follow its used index by a few
        milliseconds: wait for cond() to become true."""
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                return False
            time.sleep(0.005)
        return True

    def writeback(self, q):
        return [b for b in q.qmp_cmd("query-block")
                if b["device"] == "blk0"][0]["inserted"]["cache"]["writeback"]

    def vanished_reads(self, d, what):
        """Every register of the modern regions reads all ones of the
        access size, the PCI configuration space is still there."""
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
        self.eq(d.cfg_r(0), 0x10421af4,
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
        err = q.stderr()
        self.check(f"vanished at the {mode} request" in err
                   and "x-fault-vanish" in err and len(err.splitlines()) == 1,
                   f"{what}: one line on stderr", err)
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
    def refused_setup(self, d, what):
        """The driver sets the reset device up again: FEATURES_OK must be
        refused, the status reading ACKNOWLEDGE | DRIVER."""
        queues = dict(d.queues)
        try:
            d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0], reset=False)
            refused = False
        except QemuError:
            refused = True
        d.queues = queues
        self.check(refused, f"{what}: FEATURES_OK refused")
        self.eq(d.status, ACKNOWLEDGE | DRIVER, f"{what}: status without "
                "FEATURES_OK")

    def recovery_case(self, bus):
        feats = 1 << F_VERSION_1 | 1 << F_SUSPEND
        what = f"recovery {bus}"
        props = ",suspend-never-ack=on,x-fault-recovery=features"
        if bus == "mmio":
            q, d = self.rng(",suspend=on" + props, qmp=True)
            path = "/machine/peripheral/dev0"
        else:
            q, d = self.pci(props)
            path = self.VDEV
        d.init(feats, queues=[0])
        d.set_status(0)
        self.eq(d.status, 0, f"{what}: reset while running")
        d.init(feats, queues=[0])
        d.rng_request()
        d.kick(0)
        self.check(d.wait_used(0, 1), f"{what}: set up again after a reset "
                   "while running")
        self.eq(q.stderr(), "", f"{what}: nothing on stderr before")
        d.set_status(RUNNING | SUSPEND)
        q.clock_step_ms(1000)
        self.eq(d.status, RUNNING, f"{what}: SUSPEND not acknowledged")
        d.set_status(0)
        self.eq(d.status, 0, f"{what}: the reset while suspending completes")
        self.refused_setup(d, f"{what}: after the reset")
        d.kick(0)
        d.set_status(0)
        self.refused_setup(d, f"{what}: after a second reset")
        q.qmp_cmd("system_reset")
        if bus == "pci":
            end = time.monotonic() + 5      # done by the main loop, soon
            while q.readl(d.PORT + 0x18) and time.monotonic() < end:
                time.sleep(0.01)
            d.map()         # the bus reset cleared the port and the BARs
        self.refused_setup(d, f"{what}: after system_reset")
        err = q.stderr().strip()
        self.check("the driver reset the device while its SUSPEND request "
                   "was pending: it refuses FEATURES_OK from now on (fault "
                   "injected by the x-fault-recovery property)" in err
                   and len(err.splitlines()) == 1,
                   f"{what}: one warning on stderr", err)
        self.stats_eq(q, {"suspend-requests": 1, "suspend-aborts": 1,
                          "resets-after-driver-ok": 2, "features-refused": 3,
                          "notifies-before-driver-ok": 1},
                      f"{what}: stats: one aborted request, three refused "
                      "set-ups, the kick without DRIVER_OK", path=path)
        self.no_violation(q, what)
        q.close()

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
                 "resume, notify:<queue>)"),
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
        err = q.stderr()
        self.check("vanished at the notification of queue 1" in err
                   and "x-fault-vanish" in err and len(err.splitlines()) == 1,
                   f"{what}: one line on stderr", err)
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

    def main(self, only=()):
        tests = [self.t_features, self.t_realize_errors,
                 self.t_stop_feature_bit, self.t_vhost_refused,
                 self.t_unaudited_refused, self.t_iothread_refused,
                 self.t_spec_cycle,
                 self.t_delays, self.t_never_ack, self.t_suspend_fail,
                 self.t_resume_fail, self.t_not_negotiated,
                 self.t_notify_violation, self.t_avail_at_resume,
                 self.t_reset_suspended, self.t_v5, self.t_stop,
                 self.t_stop_restart, self.t_needs_reset_kept, self.t_blk,
                 self.t_other_devices, self.t_model_status,
                 self.t_stop_cont, self.t_pci_stop_cont,
                 self.t_pci_migrate, self.t_pci_types_stop_cont_migrate,
                 self.t_migrate,
                 self.t_migrate_delay,
                 self.t_no_ring_read, self.t_blk_async_ack,
                 self.t_blk_notify_at_resume,
                 self.t_suspend_stats,
                 self.t_balloon_stats, self.t_rng_entropy_while_suspended,
                 self.t_serial_ctrl, self.t_serial_rx_held,
                 self.t_input_held, self.t_gpu,
                 self.t_scsi_inflight, self.t_9p, self.t_9p_resuming,
                 self.t_9p_detector, self.t_9p_migrate, self.t_pci_cycle,
                 self.t_pci_no_soft_reset, self.t_pci_soft_reset,
                 self.t_pci_s3_wakeup,
                 self.t_pci_refused_writes, self.t_pci_bus_master,
                 self.t_pci_bus_master_inflight,
                 self.t_pci_ioeventfd, self.t_pci_bad_cap,
                 self.t_pci_vanish, self.t_pci_vanish_notify,
                 self.t_pci_vanish_inert, self.t_fault_recovery,
                 self.t_pci_unplug_suspending,
                 self.t_9p_pci, self.t_vhost_user_fs,
                 self.t_vhost_user_fs_backend_gone,
                 self.t_vhost_user_fs_used_moved,
                 self.t_vhost_user_fs_kick_left,
                 self.t_vhost_user_fs_backend_hung,
                 self.t_vhost_user_fs_resume_hung,
                 self.t_vhost_user_fs_probe_hung,
                 self.t_pci_vhost_user_stop_cont,
                 self.t_vhost_user_vsock]
        unknown = set(only) - {t.__name__[2:] for t in tests}
        if unknown:
            print(f"unknown test {', '.join(sorted(unknown))}",
                  file=sys.stderr)
            return 2
        for t in tests:
            if not only or t.__name__[2:] in only:
                self.run(t.__name__[2:], t)
        if self.failed:
            print(f"# QEMU logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed or not self.passed else 0


def main():
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} /path/to/qemu-system-x86_64 [TEST...]",
              file=sys.stderr)
        return 2
    binary = sys.argv[1]
    if not os.access(binary, os.X_OK):
        print(f"{binary}: not an executable", file=sys.stderr)
        return 2
    return Tests(binary).main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

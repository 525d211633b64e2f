# SPDX-License-Identifier: GPL-2.0
"""The qtest side of the device tests: QEMU under qtest and QMP, a
virtio-mmio and a virtio-pci device played from its registers, guest
memory, and the stand-ins for vhost-user back-ends."""

import ctypes
import json
import os
import select
import socket
import struct
import subprocess
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
VHOST_USER_BUILD = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "vhost-user", "build.sh")

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

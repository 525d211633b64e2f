# SPDX-License-Identifier: GPL-2.0
"""The QEMU command line of a scenario's guest: the QEMU binaries, the
machine, the devices and the kernel command line (with the host's TSC
rate, host_tsc_khz())."""

from __future__ import annotations

import ctypes
import mmap
import platform
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from . import config
from .config import die
from .kernel import kernel_config
from .model import Device, Scenario
from .scenario import numbered_devices, vhost_user_devices


_qemu_lock = threading.Lock()
_qemu_paths: dict[str, str] = {}


def qemu_binary(kind: str) -> str:
    """The QEMU of a kind; built (tools/qemu/build.sh) once per run."""
    with _qemu_lock:
        if kind not in _qemu_paths:
            _qemu_paths[kind] = _qemu_binary(kind)
        return _qemu_paths[kind]


def _qemu_binary(kind: str) -> str:
    if kind == "system":
        return shutil.which("qemu-system-x86_64") or die(
            "qemu-system-x86_64 not found: run 'make deps'")
    if kind == "patched":
        build = config.TOP / "tools" / "qemu" / "build.sh"
        out = subprocess.run(["bash", str(build)], check=True,
                             stdout=subprocess.PIPE, text=True).stdout.strip()
        return out
    die(f"unknown qemu kind {kind!r} (system or patched)")


_tsc_lock = threading.Lock()
_tsc_khz: list[int | None] = []


def host_tsc_khz() -> int | None:
    """The host's TSC rate in kHz, measured against CLOCK_MONOTONIC_RAW,
    or None where it cannot be (not x86-64, no executable memory).

    Under TCG the guest's TSC is the host's (QEMU's cpu_get_ticks() reads
    the host TSC), but the guest kernel has no way to learn its rate: no
    CPUID leaf 0x15 under TCG, and microvm has neither HPET nor PM timer.
    It calibrates against the PIT, in a loop that gives up when the vCPU
    thread is preempted between two PIT reads; then it retries without
    the TSC, and under host load that boot stalled before /init.  Given
    tsc_early_khz the kernel skips the calibration."""
    with _tsc_lock:
        if _tsc_khz:
            return _tsc_khz[0]
        _tsc_khz.append(_measure_tsc_khz())
        return _tsc_khz[0]


def _measure_tsc_khz() -> int | None:
    if platform.machine() != "x86_64":
        return None
    # rdtsc; shl $32, %rdx; or %rdx, %rax; ret
    code = bytes.fromhex("0f3148c1e2204809d0c3")
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError):
        return None
    page.write(code)
    buf = ctypes.c_char.from_buffer(page)
    rdtsc = ctypes.CFUNCTYPE(ctypes.c_uint64)(ctypes.addressof(buf))
    clock = time.CLOCK_MONOTONIC_RAW

    def sample(rdtsc: Callable[[], int]) -> tuple[float, int]:
        # The tightest of a few (ns, tsc) pairs: a preemption between
        # the reads only widens its own bracket.
        best = None
        for _ in range(20):
            t0 = time.clock_gettime_ns(clock)
            tsc = rdtsc()
            t1 = time.clock_gettime_ns(clock)
            if best is None or t1 - t0 < best[0]:
                best = (t1 - t0, (t0 + t1) / 2, tsc)
        return best[1], best[2]

    rates: list[float] = []
    for _ in range(3):
        ns0, tsc0 = sample(rdtsc)
        time.sleep(0.1)
        ns1, tsc1 = sample(rdtsc)
        rates.append((tsc1 - tsc0) * 1e6 / (ns1 - ns0))
    del rdtsc, buf
    page.close()
    khz = round(statistics.median(rates))
    # Agreement within 0.1 % or no answer: better the kernel's own
    # calibration than a wrong rate.
    if khz <= 0 or (max(rates) - min(rates)) > khz / 1000:
        return None
    return khz


# virtio-mmio models whose virtio-pci version is modern only.
MODERN_ONLY = ("vhost-user-fs-device",)


# The QEMU id of each device kind's virtio device (the virtio-pci proxy
# on bus "pci"), with the device's number n in place of {n}.
DEVICE_IDS = {"blk": "vblk{n}", "rng": "vrng{n}", "net": "vnet{n}", "console": "vser{n}",
              "gpu": "vgpu{n}", "scsi": "vscsi{n}", "input": "kbd{n}", "balloon": "balloon{n}",
              "9p": "v9p{n}", "fs": "vhfs{n}", "vsock": "vvsock{n}"}


def device_id(kind: str, n: int) -> str:
    return DEVICE_IDS[kind].format(n=n)


def device_args(devices: Iterable[Device], rundir: Path, bus: str = "mmio") -> list[str]:
    """QEMU arguments for a scenario's devices, on virtio-mmio slots or,
    with bus "pci" (the scenario's, or a device's own), as modern
    virtio-pci devices, each behind a PCIe root port of its own (where
    QEMU gives it a PM capability)."""
    args: list[str] = []
    ports = 0

    def virtio(model: str, rest: str) -> list[str]:
        # `model` is the virtio-mmio device's name, virtio-X-device.
        nonlocal ports
        if dev.get("bus", bus) == "mmio":
            return ["-device", model + rest]
        ports += 1
        pci = model.removesuffix("-device") + "-pci"
        # No option ROM: microvm boots the kernel directly, and the dfsg
        # QEMU has no ROM files (virtio-net-pci would look for one).
        # Modern only, unless the device's props say otherwise; the
        # types that never had a legacy interface have no such property.
        modern = "" if "disable-legacy=" in rest or model in MODERN_ONLY \
            else ",disable-legacy=on"
        return ["-device", f"pcie-root-port,id=rp{ports},chassis={ports}",
                "-device", f"{pci},bus=rp{ports}{modern},romfile={rest}"]

    for kind, n, dev in numbered_devices(devices):
        props = "".join(f",{k}={v}" for k, v in dev.get("props", {}).items())
        # Every virtio device has an id, for QMP (device accounting).
        if kind not in ("scsi", "console", "input", "balloon"):
            props = f",id={device_id(kind, n)}" + props
        if kind in ("blk", "scsi"):
            img = Path(dev["image"]) if "image" in dev else rundir / f"{kind}{n}.img"
            if "image" not in dev:
                with open(img, "wb") as f:
                    f.truncate(int(dev.get("size_mib", 16)) << 20)
            drive = "".join(f",{k}={v}" for k, v in dev.get("drive", {}).items())
            args += ["-drive", f"if=none,id={kind}{n},format=raw,file={img}{drive}"]
            if kind == "blk":
                args += virtio("virtio-blk-device", f",drive=blk{n}{props}")
            else:
                # One disk on its own controller: the props are the
                # controller's (the virtio device).
                args += virtio("virtio-scsi-device", f",id=vscsi{n}{props}")
                args += ["-device", f"scsi-hd,drive=scsi{n},bus=vscsi{n}.0"]
        elif kind == "rng":
            args += ["-object", f"rng-random,id=rng{n},filename=/dev/urandom"]
            args += virtio("virtio-rng-device", f",rng=rng{n}{props}")
        elif kind == "net":
            # A hub port: frames go to the other ports of the hub and
            # nowhere else, so no packet leaves QEMU.
            args += ["-netdev", f"hubport,id=net{n},hubid=0"]
            args += virtio("virtio-net-device",
                           f",netdev=net{n},mac=52:54:00:00:00:{n + 1:02x}{props}")
        elif kind == "console":
            args += ["-chardev", f"file,id=con{n},path={rundir}/console{n}.out"]
            args += virtio("virtio-serial-device", f",id=vser{n}{props}")
            args += ["-device", f"virtconsole,chardev=con{n},bus=vser{n}.0"]
        elif kind == "gpu":
            # 2D, headless: the guest sees the device, nothing is shown.
            args += virtio("virtio-gpu-device", props)
        elif kind == "input":
            args += virtio("virtio-keyboard-device", f",id=kbd{n}{props}")
        elif kind == "balloon":
            args += virtio("virtio-balloon-device", f",id=balloon{n}{props}")
        elif kind == "9p":
            # A scratch directory of the run, exported as mount tag vs9p<n>.
            export = rundir / f"9p{n}"
            export.mkdir(exist_ok=True)
            args += ["-fsdev", f"local,id=fs{n},path={export},security_model=none"]
            args += virtio("virtio-9p-device", f",fsdev=fs{n},mount_tag=vs9p{n}{props}")
        elif kind == "fs":
            # virtio-fs, served by the virtiofsd start_backends() started:
            # mount tag vsfs<n>.
            args += ["-chardev", f"socket,id=vfs{n},path={rundir}/vfs{n}.sock"]
            args += virtio("vhost-user-fs-device", f",chardev=vfs{n},tag=vsfs{n}{props}")
        elif kind == "vsock":
            # vsock, served by the vhost-device-vsock start_backends()
            # started (guest CID 3 + n).
            args += ["-chardev", f"socket,id=vsk{n},path={rundir}/vsock{n}.sock"]
            args += virtio("vhost-user-vsock-device", f",chardev=vsk{n}{props}")
        else:
            die(f"unknown device kind {kind!r}")
    return args


def mmio_version_args(sc: Scenario) -> list[str]:
    """QEMU's virtio-mmio presents the legacy (version 1) register layout
    unless told otherwise; scenarios get the modern one by default."""
    version = sc.get("mmio_version", 2)
    if version not in (1, 2):
        die(f"{sc['name']}: mmio_version must be 1 or 2")
    return ["-global", f"virtio-mmio.force-legacy={'on' if version == 1 else 'off'}"]


def default_machine(sc: Scenario) -> str:
    """microvm: no firmware, no legacy devices; with PCIe where a device
    is on bus "pci" (its virtio-mmio slots stay)."""
    buses = {d.get("bus", sc.get("bus", "mmio")) for d in sc.get("devices", [])}
    return "microvm,acpi=on,pcie=on" if sc.get("bus") == "pci" or "pci" in buses \
        else "microvm,acpi=on"


# A guest's memory unless its scenario says otherwise.  Every boot
# initialises, and every kmemleak scan reads, a struct page per 4 KiB:
# 256 MiB rather than 512 saves about half a second of CPU a guest under
# TCG.  Guests that hibernate ask for 512 (memory_mib): the image is
# copied in memory, which must be about half free.
MEMORY_MIB = 256


def kernel_image(kdir: Path, machine: str) -> Path:
    """The image QEMU boots: on microvm, the kernel's ELF through its PVH
    entry point where it has one (CONFIG_PVH), else the bzImage.  PVH
    starts the kernel where QEMU loaded it: the bzImage's decompression
    and relocation cost about 0.4 s of CPU a boot under TCG.  Not on
    q35: its first ACPI S3 wake-up (SeaBIOS, QEMU 7.2) then ends in a
    reset of the guest."""
    if machine.startswith("microvm") and kernel_config(kdir, "CONFIG_PVH") == "y":
        return kdir / "vmlinux"
    return kdir / "arch" / "x86" / "boot" / "bzImage"


def qemu_command(sc: Scenario, kdir: Path, initrd: Path, rundir: Path,
                 accel: str) -> list[str]:
    env = dict(sc.get("env", {}))
    # The tests' own timeouts stretch with the runner's (vs_timeout.c).
    if config.TIMEOUT_SCALE != 1:
        env["VS_TIMEOUT_SCALE"] = f"{config.TIMEOUT_SCALE:g}"
    # slub_debug=FZP: SLUB sanity checks (a double free among them), red
    # zones and poisoning on every cache (CONFIG_SLUB_DEBUG).  Not U, the
    # stack trace of every allocation and free: it finds nothing the
    # others miss, and cost 40 of 427 s of the guests' CPU in make check
    # (measured side by side, 31 of 33 scenarios lower without it).  A
    # scenario whose report needs those stacks adds "slub_debug=FZPU" to
    # its cmdline, which comes later and wins.
    # The last console= is /dev/console, where init and the tests write
    # what the runner reads: a scenario's own console= words (the kernel
    # console on hvc0 too) go before ttyS0, its other words last.
    extra = sc.get("cmdline", [])
    consoles = [w for w in extra if w.startswith("console=")]
    # virtio_suspend.control_classic=Y: the debugfs control file takes
    # the reset-based path where system sleep would, so that the tests
    # cross it with requests in flight, which a system sleep never has
    # (the freezer waits for synchronous I/O). Only modprobe applies it:
    # module_params, which loads the module itself, tests the default.
    cmdline = consoles + ["console=ttyS0", "panic=-1", "reboot=t", "loglevel=5", "slub_debug=FZP",
               "virtio_suspend.control_classic=Y",
               "vs_modules=" + ",".join(sc.get("modules", [])),
               "vs_tests=" + ",".join(sc["tests"])]
    # The kernel strips double quotes around a value, spaces and all.
    cmdline += [f'{k}="{v}"' if " " in str(v) else f"{k}={v}" for k, v in env.items()]
    # Under TCG the guest's TSC is the host's: give the kernel its rate
    # (see host_tsc_khz()), and trust it.  The clocksource watchdog would
    # compare it with jiffies, which fall behind when the host is busy,
    # mark the TSC unstable and leave the guest on jiffies, its clock
    # slower than the host's (a 200 ms device delay measured as 190 ms).
    tsc_khz = host_tsc_khz() if accel == "tcg" else None
    if tsc_khz:
        cmdline += [f"tsc_early_khz={tsc_khz}", "tsc=reliable"]
    if sc.get("report"):
        cmdline.append("vs_report=1")
    if sc.get("shell"):
        cmdline.append("vs_shell=1")
    cmdline += [w for w in extra if not w.startswith("console=")]
    for word in cmdline:
        if '"' in word.partition('="')[2].rstrip('"'):
            die(f"{sc['name']}: kernel command line word {word!r} has a stray quote")
    machine = sc.get("machine", default_machine(sc))
    memory_mib = sc.get("memory_mib", MEMORY_MIB)
    memory: list[str] = []
    if vhost_user_devices(sc):
        # vhost-user: the backend maps the guest's memory, which must be
        # shared with it.
        memory = ["-object", f"memory-backend-memfd,id=mem,size={memory_mib}M,"
                  "share=on"]
        machine += ",memory-backend=mem"
    return [
        qemu_binary(sc.get("qemu", "system")), "-L", "/usr/share/qemu",
        # Without the guest's memory in a core dump (config.qemu_child).
        "-M", machine + ",dump-guest-core=off", "-accel", accel, "-cpu", "max",
        "-m", str(memory_mib), "-smp", str(sc.get("cpus", 1))] + memory + [
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-serial", "stdio",
        "-qmp", f"unix:{rundir}/qmp.sock,server=on,wait=off",
        "-d", "guest_errors", "-D", str(rundir / "qemu.log"),
        "-kernel", str(kernel_image(kdir, machine)),
        "-initrd", str(initrd),
        "-append", " ".join(cmdline),
    ] + mmio_version_args(sc) + device_args(sc.get("devices", []), rundir, sc.get("bus", "mmio")) \
        + sc.get("qemu_args", []) \
        + (["-trace", "virtio_set_status"] if sc.get("no_reset_after_setup") else [])

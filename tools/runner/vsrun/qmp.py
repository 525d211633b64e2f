# SPDX-License-Identifier: GPL-2.0
"""The running QEMU, over QMP: one command or a session of them, its
device tree (which transport each device sits on) and, for device
accounting, each device's x-suspend-stats counters."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .model import DeviceStats, Scenario
from .qemu import device_id
from .scenario import numbered_devices


def device_accounting(sc: Scenario) -> bool:
    """Whether the runner reads QEMU's device counters at the end of the
    guest (our QEMU only: x-suspend-stats, QEMU patch 0022), when init.sh
    says "accounting": after the tests and the "vdev" lines, before the
    kmemleak scans, whose at least 5 s leave QEMU's counters still while
    they are read (the shutdown after done resets every bound device:
    virtio_dev_shutdown())."""
    return sc.get("qemu") == "patched" and sc.get("device_accounting", True) \
        and not sc.get("shell")


def qmp_command(sock_path: Path | None, command: str) -> str:
    """Sends one QMP command (a JSON text) to a running QEMU; returns the
    reply's text, or why it failed."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sk:
            sk.settimeout(10)
            sk.connect(str(sock_path))
            stream = sk.makefile("rw")
            stream.readline()  # greeting
            for text in ('{"execute": "qmp_capabilities"}', command):
                stream.write(text + "\n")
                stream.flush()
                while True:
                    reply = json.loads(stream.readline())
                    if "return" in reply or "error" in reply:
                        break
            return json.dumps(reply)
    except (OSError, ValueError) as e:
        return f"QMP failed: {e}"


def qmp_session(sock_path: Path, commands: Iterable[dict[str, Any]],
                timeout: float = 10) -> list[Any]:
    """Runs QMP commands ({"execute": ..., "arguments": ...}) in one
    session; returns their "return" values.  Raises OSError or
    ValueError (with QEMU's error) on failure."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sk:
        sk.settimeout(timeout)
        sk.connect(str(sock_path))
        stream = sk.makefile("rw")
        stream.readline()  # greeting
        replies: list[Any] = []
        for cmd in [{"execute": "qmp_capabilities"}] + list(commands):
            stream.write(json.dumps(cmd) + "\n")
            stream.flush()
            while True:
                line = stream.readline()
                if not line:
                    raise OSError("QMP connection closed")
                reply = json.loads(line)
                if "error" in reply:
                    raise ValueError(f"QMP {cmd['execute']}: {reply['error']}")
                if "return" in reply:
                    break
            replies.append(reply["return"])
        return replies[1:]


QTREE_DEV = re.compile(r'^(\s*)dev: ([\w.-]+), id "([^"]*)"')
QTREE_MMIO = re.compile(r"^\s*mmio ([0-9a-f]+)/")
QTREE_ADDR = re.compile(r"^\s*addr = ([0-9a-f]+\.[0-9a-f]+)")


def qtree_transport_keys(text: str) -> dict[str, str]:
    """Device id -> where the guest finds it, from HMP "info qtree": the
    base of the virtio-mmio transport it sits on ("mmio:feb00e00") or the
    PCI address of the PCIe root port it sits behind ("pci:01.0"), the
    same keys as init.sh's "vdev" lines."""
    keys: dict[str, str] = {}
    stack: list[list[Any]] = []  # (indent, type, key of that device as a transport)
    for line in text.splitlines():
        m = QTREE_DEV.match(line)
        if m:
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            inherited = next((k for _, _, k in reversed(stack) if k), None)
            if m.group(3) and inherited:
                keys.setdefault(m.group(3), inherited)
            stack.append([indent, m.group(2), None])
            continue
        if not stack:
            continue
        top = stack[-1]
        m = QTREE_MMIO.match(line)
        if m and top[1] == "virtio-mmio" and top[2] is None:
            top[2] = f"mmio:{int(m.group(1), 16):x}"
        m = QTREE_ADDR.match(line)
        if m and top[1] == "pcie-root-port" and top[2] is None:
            top[2] = f"pci:{m.group(1)}"
    return keys


def read_device_stats(sc: Scenario, sock_path: Path) -> list[DeviceStats]:
    """What QEMU counts for each of the scenario's devices: a list of
    dicts with the device's label (kind and number), QEMU id, transport
    key and x-suspend-stats (or the error that kept it from being read)."""
    devices = list(numbered_devices(sc.get("devices", [])))
    paths: list[str] = []
    for kind, n, dev in devices:
        path = f"/machine/peripheral/{device_id(kind, n)}"
        if dev.get("bus", sc.get("bus", "mmio")) == "pci":
            path += "/virtio-backend"
        paths.append(path)
    try:
        qtree = qmp_session(sock_path, [{"execute": "human-monitor-command",
                                         "arguments": {"command-line": "info qtree"}}])[0]
    except (OSError, ValueError) as e:
        qtree = ""
        error = str(e)
    else:
        error = None
    keys = qtree_transport_keys(qtree)
    stats: list[DeviceStats] = []
    for (kind, n, dev), path in zip(devices, paths):
        entry = {"label": f"{kind}{n}", "id": device_id(kind, n), "device": dev,
                 "key": keys.get(device_id(kind, n)), "stats": None, "error": error}
        if error is None:
            try:
                entry["stats"] = qmp_session(sock_path, [{
                    "execute": "qom-get",
                    "arguments": {"path": path, "property": "x-suspend-stats"}}])[0]
            except (OSError, ValueError) as e:
                entry["error"] = str(e)
        stats.append(entry)
    return stats

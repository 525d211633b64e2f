# SPDX-License-Identifier: GPL-2.0
"""Scenario files (tools/scenarios/*.toml, README.md there): the keys a
scenario may have and the values they take, scenario_errors(),
load_scenario(), and the numbering of a scenario's devices."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from . import config
from .config import die
from .model import Device, Scenario

# A key's check of its value, and what the value must be.
KeyRule = tuple[Callable[[Any], bool], str]


# Scenario keys and the types of their values (tools/scenarios/README.md).
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (str, bool, int, float))


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _scalar_table(v: Any) -> bool:
    return isinstance(v, dict) and all(_is_scalar(x) for x in v.values())


DEVICE_KINDS = ("blk", "rng", "net", "console", "gpu", "scsi", "input", "balloon", "9p", "fs",
                "vsock")
# What a device's cycles must have been, as QEMU counted them (see
# accounting_problems()).
EXPECT_PATHS = ("suspend", "reset", "fault", "broken", "restore-failed", "vanished")
# The paths on which the module must leave the device broken, and block
# I/O on its disk may fail.
BROKEN_PATHS = ("broken", "restore-failed", "vanished")
DEVICE_KEYS: dict[str, KeyRule] = {
    "kind": (lambda v: v in DEVICE_KINDS, "one of " + ", ".join(DEVICE_KINDS)),
    "size_mib": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "image": (lambda v: isinstance(v, str), "a path (string)"),
    "props": (_scalar_table, "a table of QEMU properties"),
    "drive": (_scalar_table, "a table of QEMU -drive options"),
    "bus": (lambda v: v in ("mmio", "pci"), '"mmio" or "pci"'),
    "expect_path": (lambda v: v in EXPECT_PATHS, " or ".join(f'"{p}"' for p in EXPECT_PATHS)),
    # Resets after DRIVER_OK that come before the guest's set-up: SeaBIOS
    # (q35) drives virtio disks at boot, the kernel's probe resets them.
    "firmware_resets": (lambda v: _is_int(v) and v >= 0, "an integer, at least 0"),
}


def _devices(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(d, dict) for d in v)


SCENARIO_KEYS: dict[str, KeyRule] = {
    "description": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "tests": (_str_list, "a list of strings"),
    "modules": (_str_list, "a list of strings"),
    "env": (_scalar_table, "a table of strings, numbers or booleans"),
    "devices": (_devices, "a list of tables"),
    "qemu": (lambda v: v in ("system", "patched"), '"system" or "patched"'),
    "timeout": (lambda v: (_is_int(v) or isinstance(v, float)) and v > config.BOOT_TIMEOUT,
                f"a number of seconds above BOOT_TIMEOUT ({config.BOOT_TIMEOUT})"),
    "cmdline": (_str_list, "a list of strings"),
    "memory_mib": (lambda v: _is_int(v) and v >= 64, "an integer (MiB, at least 64)"),
    "cpus": (lambda v: _is_int(v) and 1 <= v <= 4, "an integer from 1 to 4 (NR_CPUS)"),
    "machine": (lambda v: isinstance(v, str), "a string"),
    "qemu_args": (_str_list, "a list of strings"),
    "mmio_version": (lambda v: v in (1, 2) and _is_int(v), "1 or 2"),
    "bus": (lambda v: v in ("mmio", "pci"), '"mmio" or "pci"'),
    "expect": (lambda v: v in ("pass", "timeout", "violation"),
               '"pass", "timeout" or "violation"'),
    "expect_violation": (lambda v: isinstance(v, str) and v != "",
                         "a non-empty string (text every violation line contains)"),
    "expect_fail": (_str_list, 'a list of test results ("binary: case") that must fail'),
    "report": (lambda v: isinstance(v, bool), "true or false"),
    "check": (lambda v: isinstance(v, bool), "true or false"),
    "no_reset_after_setup": (lambda v: isinstance(v, bool), "true or false"),
    "device_accounting": (lambda v: isinstance(v, bool), "true or false"),
    "s3_wakeups": (lambda v: _is_int(v) and v >= 1, "an integer, at least 1"),
    "s2idle_wakeups": (lambda v: _is_int(v) and v >= 1, "an integer, at least 1"),
    # QEMU log lines that are not the scenario's to fail on: regular
    # expressions matched against the whole line, each with its reason
    # in a comment next to it (the firmware's, for example).
    "qemu_log_allow": (_str_list, "a list of regular expressions (strings)"),
}
REQUIRED_KEYS = ("description", "tests")


def scenario_errors(sc: Mapping[str, Any]) -> list[str]:
    """What is wrong with a scenario's keys and values: unknown keys (a
    typo must not silently drop a setting), missing ones, wrong types."""
    errors: list[str] = []

    def check(table: Mapping[str, Any], known: Mapping[str, KeyRule], where: str) -> None:
        for key, value in table.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, 1)
                errors.append(f"{where}unknown key {key!r}"
                              + (f" (did you mean {close[0]!r}?)" if close else ""))
            elif not known[key][0](value):
                errors.append(f"{where}{key} = {value!r}: must be {known[key][1]}")

    check(sc, SCENARIO_KEYS, "")
    for key in REQUIRED_KEYS:
        if key not in sc:
            errors.append(f"missing key {key!r}")
    if _devices(sc.get("devices")):
        for i, dev in enumerate(sc["devices"]):
            check(dev, DEVICE_KEYS, f"devices[{i}]: ")
            if "kind" not in dev:
                errors.append(f"devices[{i}]: missing key 'kind'")
            elif "drive" in dev and dev["kind"] not in ("blk", "scsi"):
                errors.append(f"devices[{i}]: drive is for disks (blk, scsi), not "
                              f"{dev['kind']}")
    if sc.get("expect") == "timeout" and not sc.get("tests"):
        errors.append('expect = "timeout" needs the test that hangs in tests')
    if "expect_violation" in sc and sc.get("expect") != "violation":
        errors.append('expect_violation needs expect = "violation"')
    for result in sc.get("expect_fail", []) if _str_list(sc.get("expect_fail", [])) else []:
        if result.split(": ", 1)[0] not in sc.get("tests", []):
            errors.append(f"expect_fail: {result!r} names no test of the scenario "
                          '(a result is "binary: case")')
    return errors


def load_scenario(name: str) -> Scenario:
    path = config.SCENARIOS / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in config.SCENARIOS.glob("*.toml")))
        die(f"no scenario {name!r} (known: {known})")
    with open(path, "rb") as f:
        try:
            sc = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            die(f"{path}: {e}")
    errors = scenario_errors(sc)
    if errors:
        die(f"{path}: " + "; ".join(errors))
    sc["name"] = name
    return sc


# The device kinds whose queues a vhost-user backend processes.
VHOST_USER_KINDS = ("fs", "vsock")


def numbered_devices(devices: Iterable[Device]) -> Iterator[tuple[str, int, Device]]:
    """The devices, in order, as (kind, n, device): n counts the devices
    of a kind from 0, the number in their QEMU ids and file names."""
    counts: dict[str, int] = {}
    for dev in devices:
        kind = dev["kind"]
        n = counts.get(kind, 0)
        counts[kind] = n + 1
        yield kind, n, dev


def vhost_user_devices(sc: Scenario) -> list[tuple[str, int, Device]]:
    """The scenario's vhost-user devices (see numbered_devices()). Device
    fs<n> is served by virtiofsd on socket vfs<n>.sock, exporting
    directory fs<n>; vsock<n> by vhost-device-vsock on vsock<n>.sock,
    guest CID 3 + n, with the host side of its connections on Unix
    sockets vsock<n>.uds_<port>."""
    return [d for d in numbered_devices(sc.get("devices", [])) if d[0] in VHOST_USER_KINDS]

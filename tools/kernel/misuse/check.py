#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Builds misuse.rs against a guest kernel tree and checks that each
line marked "expect: <code>" fails with that error and that no other
line fails: the guarantees the kernel crate's types give its users,
which no test of a running kernel can show.  TAP, a test a line.

    check.py KDIR
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOP = HERE.parents[2]
SOURCE = "misuse.rs"
EXPECT = re.compile(r"//\s*expect:\s*(E\d{4})")
# rustc's "error[E0599]: ..." and, below it, " --> path:line:col".
ERROR = re.compile(r"^error(?:\[(E\d{4})\])?: (.*)\n\s*--> ([^:\n]+):(\d+):\d+", re.M)


def expected(source: str) -> dict[int, str]:
    """The error code each marked line must fail with, by line number."""
    return {n: m.group(1) for n, line in enumerate(source.splitlines(), 1)
            if (m := EXPECT.search(line))}


def errors(output: str) -> list[tuple[int, str, str]]:
    """(line, code, message) of each error rustc gave for misuse.rs."""
    return [(int(m.group(4)), m.group(1) or "", m.group(2))
            for m in ERROR.finditer(output) if Path(m.group(3)).name == SOURCE]


def verdict(expect: dict[int, str], found: list[tuple[int, str, str]],
            lines: list[str]) -> list[tuple[bool, str]]:
    """A (passed, description) for each marked line, and one for the
    lines that must compile."""
    results = []
    for n, code in sorted(expect.items()):
        got = sorted({c for line, c, _ in found if line == n})
        results.append((code in got, f"line {n} fails with {code}: {lines[n - 1].strip()}"
                        + ("" if code in got else f" (got {got or 'no error'})")))
    stray = [f"line {line}: {code} {msg}" for line, code, msg in found if line not in expect]
    results.append((not stray, "no other line fails" + (f" ({'; '.join(stray)})" if stray else "")))
    return results


def build(kdir: Path) -> str:
    """make modules of a copy of this directory against kdir; the output."""
    args = subprocess.run(["bash", "-c", f". {TOP}/tools/env.sh && vs_kmake_rust_args"],
                          check=True, capture_output=True, text=True).stdout.split()
    with tempfile.TemporaryDirectory(prefix="vs-misuse-") as tmp:
        for name in ("Kbuild", SOURCE):
            shutil.copy(HERE / name, tmp)
        proc = subprocess.run(["make", "-s", "-C", str(kdir), f"M={tmp}", *args, "modules"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc.stdout


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source = (HERE / SOURCE).read_text()
    output = build(Path(sys.argv[1]))
    results = verdict(expected(source), errors(output), source.splitlines())
    print(f"1..{len(results)}")
    for i, (ok, text) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {text}")
    if not all(ok for ok, _ in results):
        print("# rustc said:\n" + "\n".join(f"# {l}" for l in output.splitlines()[-60:]))
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())

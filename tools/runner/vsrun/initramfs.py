# SPDX-License-Identifier: GPL-2.0
"""The guests' initramfs: the common archive (busybox, the guest
kernel's modules and ours, init.sh), one archive a test binary and one
for fio, a scenario's initrd made of them, and the check that the test
binaries a scenario runs are built and up to date."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import config
from .config import die
from .kernel import kernel_release
from .model import Problem, Scenario

LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# fio, static, for the tests and benchmarks that drive block I/O: almost
# 3 MiB, so only the guests whose tests run it unpack it (some 0.15 s of
# CPU a boot under TCG).
FIO = "/bin/fio"


def scenario_binaries(sc: Scenario) -> list[str]:
    """The test binaries a scenario's init runs: its tests, and vs_bench
    for make bench's VS_BENCH."""
    return list(sc["tests"]) + (["vs_bench"] if "VS_BENCH" in sc.get("env", {}) else [])


# Written by tools/testing/build-selftests.sh beside the binaries it
# builds: "<sha256>  ./<file>" for each file of the selftests' directory
# they were built from.
SOURCES_MANIFEST = ".vs-sources"


def built_from(selftest_dir: Path) -> dict[str, str] | None:
    """The sha256 of each file (by name) the binaries in selftest_dir
    were built from, or None for a directory without a manifest."""
    try:
        text = (selftest_dir / SOURCES_MANIFEST).read_text()
    except FileNotFoundError:
        return None
    fields = (line.split() for line in text.splitlines())
    return {Path(f[1]).name: f[0] for f in fields if len(f) == 2}


def current_sources() -> dict[str, str]:
    """The sha256 of each file of the selftests' directory, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in config.SELFTESTS.iterdir() if p.is_file()}


def test_binary_problems(sc: Scenario, selftest_dir: Path) -> list[Problem]:
    """The test binaries a scenario runs must exist in this checkout's
    build and have been built from its sources: all the files of the
    selftests' directory as the build's manifest records them (any of
    them may go into any binary: vs_timeout.c, the Makefile), or, for a
    directory without a manifest, no binary older than its .c and the
    local headers it includes."""
    problems: list[Problem] = []
    manifest = built_from(selftest_dir)
    if manifest is not None:
        now = current_sources()
        changed = sorted(n for n in manifest.keys() | now.keys() if manifest.get(n) != now.get(n))
        if changed:
            problems.append(Problem("tests", f"test binaries in {selftest_dir} were built from "
                                             f"other sources ({', '.join(changed)}): "
                                             "run 'make selftests'"))
    for name in scenario_binaries(sc):
        binary = selftest_dir / name
        source = config.SELFTESTS / f"{name}.c"
        if not source.is_file():
            problems.append(Problem("tests", f"test {name!r} has no source {source}"))
            continue
        if not binary.is_file() or not os.access(binary, os.X_OK):
            problems.append(Problem("tests", f"test binary {binary} is missing: "
                                             "run 'make selftests'"))
            continue
        if manifest is not None:
            continue
        built = binary.stat().st_mtime
        for src in sorted(source_files(source)):
            if src.stat().st_mtime > built:
                problems.append(Problem("tests", f"test binary {binary} is older than "
                                                 f"{src.name}: run 'make selftests'"))
                break
    return problems


def needs_fio(sc: Scenario) -> bool:
    """Whether a scenario's guest needs fio: a test binary it runs names
    it in its sources, or the guest is a shell for a developer."""
    return bool(sc.get("shell")) or any(
        FIO in src.read_text(errors="replace")
        for name in scenario_binaries(sc)
        for src in source_files(config.SELFTESTS / f"{name}.c"))


def source_files(source: Path, seen: set[Path] | None = None) -> set[Path]:
    """A C file and the headers of its directory it includes, transitively."""
    seen = set() if seen is None else seen
    if source in seen or not source.is_file():
        return seen
    seen.add(source)
    for inc in LOCAL_INCLUDE.findall(source.read_text(errors="replace")):
        source_files(source.parent / inc, seen)
    return seen


def build_initramfs(kdir: Path, selftest_dir: Path, out: Path) -> None:
    """A busybox initramfs with every module of the guest kernel, ours,
    and the init scripts, and beside it one archive a selftest
    (selftests/<name>.cpio) and one for fio (fio.cpio), which
    scenario_initrd() appends for the scenario's tests.  Rebuilt on every
    run: it takes a second, and a stale one would test the wrong
    module."""
    stage = out.parent / "initramfs"
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "tmp", "selftests"):
        (stage / d).mkdir(parents=True)
    shutil.copy("/bin/busybox", stage / "bin" / "busybox")
    shutil.copy(config.TOP / "tools" / "runner" / "init.sh", stage / "init")
    shutil.copy(config.TOP / "tools" / "runner" / "report.sh", stage / "report.sh")
    moddir = stage / "lib" / "modules" / kernel_release(kdir)
    for ko in kdir.rglob("*.ko"):
        dst = moddir / "kernel" / ko.relative_to(kdir)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ko, dst)
    ours = sorted(config.TOP.glob("*.ko"))
    if not ours:
        die("virtio_suspend.ko is not built: run 'make modules'")
    # The Rust samples (samples/rust/Kbuild), modules of their own, and
    # the selftests' test modules.
    ours += sorted((config.TOP / "samples").rglob("*.ko"))
    ours += sorted((config.TOP / "tools" / "testing").rglob("*.ko"))
    (moddir / "extra").mkdir(parents=True, exist_ok=True)
    for ko in ours:
        shutil.copy(ko, moddir / "extra" / ko.name)
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (kdir / f).exists():
            shutil.copy(kdir / f, moddir / f)
    subprocess.run(["depmod", "-b", str(stage), kernel_release(kdir)], check=True)
    for f in (stage / "init", stage / "report.sh"):
        f.chmod(0o755)
    files = subprocess.run(["find", ".", "-print0"], cwd=stage, check=True,
                           stdout=subprocess.PIPE).stdout
    with open(out, "wb") as f:
        subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"],
                       cwd=stage, input=files, stdout=f, check=True)
    # The selftests are static binaries of about 800 KiB each: all of
    # them in every guest made each boot unpack 26 MiB more, some 0.7 s
    # of CPU under TCG.
    archives = out.parent / "selftests"
    archives.mkdir()
    fio = subprocess.run(["bash", str(config.TOP / "tools" / "fio" / "build.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    shutil.copy(fio, stage / FIO.lstrip("/"))
    with open(out.parent / "fio.cpio", "wb") as f:
        subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"],
                       cwd=stage, input=f"{FIO.lstrip('/')}\0".encode(), stdout=f, check=True)
    for t in selftest_dir.iterdir():
        if t.is_file() and os.access(t, os.X_OK):
            shutil.copy(t, stage / "selftests" / t.name)
            with open(archives / f"{t.name}.cpio", "wb") as f:
                subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"],
                               cwd=stage, input=f"selftests/{t.name}\0".encode(),
                               stdout=f, check=True)
    shutil.rmtree(stage)


def scenario_initrd(sc: Scenario, initrd: Path, rundir: Path) -> Path:
    """The initramfs of one scenario's guest, in its run directory: the
    common one, fio's if it needs it, and the archives of the test
    binaries it runs, one after another (the kernel unpacks concatenated
    cpio archives in turn)."""
    path = rundir / "initramfs.cpio"
    fio = [initrd.parent / "fio.cpio"] if needs_fio(sc) else []
    with open(path, "wb") as out:
        for part in [initrd] + fio + [initrd.parent / "selftests" / f"{name}.cpio"
                                      for name in scenario_binaries(sc)]:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    return path

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Mutation testing: apply each mutation of tools/mutants/mutants.toml, run
the checks that must catch it, print killed or survived.

    python3 tools/mutants/run.py --kdir KDIR [--only id1,id2] [--list]
    make mutants [MUTANTS=id1,id2]

What each kind of mutation rebuilds (the cheapest correct way):

- "checkout": a file of this checkout.  Host-killed mutations (the pure
  logic) only rerun `cargo test` in tools/host-tests; the others rebuild
  the module (`make modules`, incremental) before their scenarios.
- "kernel": a file of the built guest kernel tree (KDIR), i.e. the code
  kernel patches 0002 and 0011 put there.  The patch files are not touched (that
  would change the kernel's cache key and rebuild the whole tree): the
  mutation is applied to the tree's source file, `make bzImage` rebuilds
  that one object and relinks vmlinux, the scenarios run, then the file
  is restored.
- "qemu": a file of the patched QEMU source tree in the cache
  (build-<key>/src); `ninja` rebuilds QEMU incrementally.

A restored kernel or QEMU tree is rebuilt once, lazily: the next
mutation of the same tree rebuilds it with its own change alone, and
any other check that uses it (a scenario, the device tests) or the end
of the run rebuilds it first; $VS_CACHE/mutants/dirty.json carries that
over to the next run if this one is interrupted.  The builds write
objects in place: a VS_CACHE whose kernel or QEMU tree is a hard-linked
copy (cp -al) of another cache's would change that one too; give a
mutation run a real copy (cp -a).

Every file is restored in a `finally`, and the original is also written
to $VS_CACHE/mutants/in-progress.json before the mutation is applied: a
run killed hard (SIGKILL, a machine stop) is undone by the next run,
which restores that file first.  The checkout files to mutate must have
no uncommitted change when the run starts.

A mutation is killed when any of its checks fails (a host test, a
device test, a scenario, or a timeout); it survives when all pass.  A
mutation whose text is not found exactly once, or that does not build,
is an error (the list is out of date), not a kill.  The checks are only
meaningful on a tree whose `make check` passes: --baseline runs each
named check once unmutated first.
"""

import argparse
import datetime
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tools" / "runner"))
from vsrun.suites import host_tests_target  # noqa: E402
LIST = TOP / "tools" / "mutants" / "mutants.toml"
CACHE = Path(os.environ.get("VS_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "virtio-suspend")
STATE = CACHE / "mutants"
IN_PROGRESS = STATE / "in-progress.json"
# Trees whose sources are restored but whose build still has a mutation
# in it: rebuilt before anything else uses them (and by the next run if
# this one is interrupted).
DIRTY = STATE / "dirty.json"

HOST_TIMEOUT = 600
DEVICE_TIMEOUT = 900
SCENARIOS_TIMEOUT = 1200
KERNEL_BUILD_TIMEOUT = 1800


def log(msg):
    print(f"mutants: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(2)


def env_sh(expr):
    """Evaluate a shell expression after sourcing tools/env.sh."""
    return subprocess.run(["bash", "-c", f". {shlex.quote(str(TOP / 'tools' / 'env.sh'))}; {expr}"],
                          check=True, capture_output=True, text=True).stdout.strip()


def load(only):
    data = tomllib.loads(LIST.read_text())
    muts = data.get("mutation", [])
    ids = [m["id"] for m in muts]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        die(f"duplicate ids: {', '.join(sorted(dup))}")
    for m in muts:
        for key in ("id", "where", "file", "from", "to", "why", "kill"):
            if key not in m:
                die(f"{m.get('id', '?')}: no {key}")
        if m["where"] not in ("checkout", "kernel", "qemu"):
            die(f"{m['id']}: where must be checkout, kernel or qemu")
        if not m["kill"] or m["from"] == m["to"]:
            die(f"{m['id']}: nothing to kill or nothing changed")
    if only:
        wanted = [w for w in only.split(",") if w]
        unknown = [w for w in wanted if w not in ids]
        if unknown:
            die(f"unknown mutation ids: {', '.join(unknown)}")
        muts = [m for m in muts if m["id"] in wanted]
    return muts


class Trees:
    def __init__(self, kdir):
        self.kdir = Path(kdir)
        self._qemu = None

    def qemu_binary(self):
        if self._qemu is None:
            out = subprocess.run(["bash", str(TOP / "tools" / "qemu" / "build.sh")],
                                 check=True, capture_output=True, text=True).stdout
            self._qemu = Path(out.strip().splitlines()[-1])
        return self._qemu

    def root(self, where):
        if where == "checkout":
            return TOP
        if where == "kernel":
            return self.kdir
        return self.qemu_binary().parent.parent / "src"

    def path(self, m):
        return self.root(m["where"]) / m["file"]


def write_file(path, text):
    """Replace, never write in place: a tree hard-linked from another
    cache keeps its copy."""
    tmp = path.with_name(path.name + ".mutants-tmp")
    tmp.write_text(text)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)


def recover_interrupted():
    if not IN_PROGRESS.exists():
        return
    rec = json.loads(IN_PROGRESS.read_text())
    path = Path(rec["path"])
    log(f"restoring {path}, left mutated ({rec['id']}) by an interrupted run")
    write_file(path, rec["original"])
    IN_PROGRESS.unlink()
    return rec


def run_logged(cmd, logf, timeout, cwd=TOP, env=None):
    """Run cmd, output to logf; returns (ok, seconds, note)."""
    start = time.monotonic()
    logf.write(f"$ {' '.join(map(str, cmd))}\n")
    logf.flush()
    try:
        p = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, stdout=logf,
                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return False, time.monotonic() - start, "timeout"
        except BaseException:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise
    finally:
        logf.flush()
    return rc == 0, time.monotonic() - start, f"exit {rc}"


class Runner:
    def __init__(self, args):
        self.args = args
        self.trees = Trees(args.kdir)
        self.kmake_args = shlex.split(env_sh("vs_kmake_rust_args"))
        self.dirty = set(json.loads(DIRTY.read_text())) if DIRTY.exists() else set()

    def save_dirty(self):
        DIRTY.write_text(json.dumps(sorted(self.dirty)))

    def clean_trees(self, logf, keep=None):
        """Rebuild every tree left with a mutation in its build, but
        `keep` (about to be rebuilt with the next mutation anyway)."""
        for where in sorted(self.dirty - {keep}):
            logf.write(f"-- rebuilding the restored {where} tree\n")
            if not self.rebuild({"where": where, "kill": []}, logf):
                die(f"the restored {where} tree does not build (see {logf.name})")
            self.dirty.discard(where)
            self.save_dirty()

    # -- builds -----------------------------------------------------------

    def make_modules(self, logf):
        return run_logged(["make", "-s", f"KDIR={self.trees.kdir}", "modules"], logf, 1200)[0]

    def make_kernel(self, logf):
        return run_logged(["make", "-C", self.trees.kdir, "-s", f"-j{os.cpu_count()}",
                           *self.kmake_args, "bzImage"], logf, KERNEL_BUILD_TIMEOUT)[0]

    def make_qemu(self, logf):
        build = self.trees.qemu_binary().parent
        return run_logged(["ninja", "-C", build, "qemu-system-x86_64"], logf, 1800)[0]

    def rebuild(self, m, logf):
        if m["where"] == "kernel":
            return self.make_kernel(logf)
        if m["where"] == "qemu":
            return self.make_qemu(logf)
        if any(k not in ("host", "misuse") for k in m["kill"]):
            return self.make_modules(logf)
        return True

    # -- checks -----------------------------------------------------------

    def run_checks(self, kill, logf):
        """Returns (failed check or None, seconds)."""
        total = 0.0
        scenarios = [k for k in kill if k not in ("host", "qemu-device", "misuse")]
        if scenarios and not self.make_modules(logf):
            return "module build", total
        for k in kill:
            if k == "host":
                env = dict(os.environ, CARGO_TARGET_DIR=str(host_tests_target()))
                ok, t, note = run_logged(["cargo", "test", "--quiet"], logf, HOST_TIMEOUT,
                                         cwd=TOP / "tools" / "host-tests", env=env)
            elif k == "misuse":
                ok, t, note = run_logged([sys.executable,
                                          TOP / "tools" / "kernel" / "misuse" / "check.py",
                                          self.trees.kdir], logf, HOST_TIMEOUT)
            elif k == "qemu-device":
                ok, t, note = run_logged([sys.executable, TOP / "tools" / "qemu" / "test_device.py",
                                          self.trees.qemu_binary()], logf, DEVICE_TIMEOUT)
            else:
                continue
            total += t
            if not ok:
                return f"{k} ({note})", total
        if scenarios:
            cmd = [sys.executable, TOP / "tools" / "runner" / "run.py", "check",
                   "--kdir", self.trees.kdir, "-j", "1"]
            for s in scenarios:
                cmd += ["--scenario", s]
            ok, t, note = run_logged(cmd, logf, SCENARIOS_TIMEOUT)
            total += t
            if not ok:
                return f"{','.join(scenarios)} ({note})", total
        return None, total

    # -- one mutation -----------------------------------------------------

    def mutate(self, m):
        """Returns (verdict, detail)."""
        path = self.trees.path(m)
        logpath = STATE / f"{m['id']}.log"
        with open(logpath, "w") as logf:
            original = path.read_text()
            n = original.count(m["from"])
            if n != 1:
                return "error", f"text found {n} times in {m['file']}"
            mutated = original.replace(m["from"], m["to"])
            self.clean_trees(logf, keep=m["where"])
            IN_PROGRESS.write_text(json.dumps({"id": m["id"], "path": str(path),
                                               "original": original}))
            try:
                write_file(path, mutated)
                if m["where"] != "checkout":
                    self.dirty.add(m["where"])
                    self.save_dirty()
                if not self.rebuild(m, logf):
                    return "error", f"does not build (see {logpath})"
                failed, secs = self.run_checks(m["kill"], logf)
            finally:
                # The build is left mutated: the next mutation of the same
                # tree rebuilds it once, with its own change alone.
                write_file(path, original)
                IN_PROGRESS.unlink()
        if failed:
            return "killed", f"by {failed}"
        return "survived", f"checks passed: {', '.join(m['kill'])}"


def check_clean(muts):
    files = sorted({m["file"] for m in muts if m["where"] == "checkout"})
    if not files:
        return
    out = subprocess.run(["git", "status", "--porcelain", "--", *files], cwd=TOP,
                         capture_output=True, text=True, check=True).stdout
    if out.strip():
        die("uncommitted changes in files to mutate (commit or stash them):\n" + out)


def main():
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kdir", required=False, help="the built guest kernel tree")
    ap.add_argument("--only", default=os.environ.get("MUTANTS", ""),
                    help="comma-separated mutation ids (default: all; MUTANTS=...)")
    ap.add_argument("--list", action="store_true", help="list the mutations and check their text")
    ap.add_argument("--baseline", action="store_true",
                    help="first run every named check once on the unmutated trees")
    args = ap.parse_args()
    muts = load(args.only)
    STATE.mkdir(parents=True, exist_ok=True)
    recover_interrupted()

    if args.list:
        trees = Trees(args.kdir or env_sh("bash tools/kernel/build.sh --kdir"))
        bad = 0
        for m in muts:
            n = trees.path(m).read_text().count(m["from"]) if trees.path(m).exists() else -1
            state = "ok" if n == 1 else f"BAD (found {n} times)"
            bad += n != 1
            print(f"{m['id']:28} {m['where']:8} {','.join(m['kill']):28} {state}")
        print(f"{len(muts)} mutations, {bad} bad")
        return 1 if bad else 0

    if not args.kdir:
        die("--kdir is required")
    check_clean(muts)
    runner = Runner(args)
    start = time.monotonic()
    with open(STATE / "restore-build.log", "w") as logf:
        runner.clean_trees(logf)
    order = {"checkout": 0, "qemu": 1, "kernel": 2}
    muts = sorted(muts, key=lambda m: (order[m["where"]], m["kill"] != ["host"]))

    if args.baseline:
        kills = []
        for m in muts:
            for k in m["kill"]:
                if k not in kills:
                    kills.append(k)
        with open(STATE / "baseline.log", "w") as logf:
            failed, _ = runner.run_checks(kills, logf)
        if failed:
            die(f"baseline: {failed} fails unmutated (see {STATE / 'baseline.log'})")
        print("baseline: every check passes unmutated", flush=True)

    counts = {"killed": 0, "survived": 0, "error": 0}
    survivors = []
    for m in muts:
        t0 = time.monotonic()
        verdict, detail = runner.mutate(m)
        counts[verdict] += 1
        if verdict != "killed":
            survivors.append(m["id"])
        print(f"{verdict:8} {m['id']:28} {detail} ({time.monotonic() - t0:.0f} s)", flush=True)

    # Every build as it was.
    with open(STATE / "final-build.log", "w") as logf:
        runner.clean_trees(logf)
        if any(m["where"] == "checkout" and m["kill"] != ["host"] for m in muts):
            runner.make_modules(logf)
    elapsed = time.monotonic() - start
    today = datetime.date.today().isoformat()
    summary = f"{counts['killed']} killed, {counts['survived']} survived"
    if counts["error"]:
        summary += f", {counts['error']} errors"
    print(f"{summary} ({today}, {int(elapsed // 60)} min {int(elapsed % 60)} s)")
    (STATE / "last-summary.txt").write_text(summary + f" ({today})\n")
    return 0 if counts["survived"] == 0 and counts["error"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

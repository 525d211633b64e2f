#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side test of the install path, tools/deps.sh.

Runs `bash deps.sh` with stand-ins for dpkg-query, apt-get, apt-cache,
cargo and id first on PATH.  The stand-ins log every call with its
arguments and answer from a fake package database made of plain files:

  db/installed/<pkg>   the installed version (what dpkg-query reports as ii)
  db/removed/<pkg>     a version left in the config-files state (rc)
  db/archive/<pkg>     the versions the apt sources hold, newest first
                       (the first is the Candidate)
  db/uid               what `id -u` prints (0 when absent)
  db/fail/<step>       make a step fail with that exit status; steps:
                       apt-get-update, apt-get-install, apt-cache-policy,
                       cargo-install
  db/inert             apt-get install succeeds but installs nothing

A stand-in `apt-get install` honours pins the way apt does (an unknown
package or version is an error) and records what it installed, creating
the rustc and library sources that deps.sh checks afterwards under a fake
root (VS_RUSTC, VS_USR_SRC).  `cargo install bindgen-cli` creates
$VS_CACHE/tools/bin/bindgen.  No root, no network.

Usage: test_deps.py [path/to/deps.sh]   (or VS_DEPS_SH=...; default
tools/deps.sh of this checkout).  env.sh is taken from beside deps.sh,
as deps.sh does.  Output is TAP; the exit status is non-zero when a test
failed.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
LINUX_SRC = "linux-source-6.12"

LOG_CALL = r'''
log_call() {
	{ printf '%s' "${0##*/}"; printf '\t%s' "$@"; printf '\n'; } \
		>>"$FAKE_DIR/calls.log"
}
fail_step() {
	if [ -f "$FAKE_DIR/db/fail/$1" ]; then
		echo "E: stand-in: $1 fails" >&2
		exit "$(cat "$FAKE_DIR/db/fail/$1")"
	fi
}
'''

STANDINS = {
    "dpkg-query": r'''#!/bin/bash
log_call "$@"
fmt='${Package}\n'
pkgs=()
while [ $# -gt 0 ]; do
	case $1 in
	-W|--show) ;;
	-f=*|--showformat=*) fmt=${1#*=} ;;
	-f) fmt=$2; shift ;;
	-*) echo "dpkg-query stand-in: unexpected option $1" >&2; exit 2 ;;
	*) pkgs+=("$1") ;;
	esac
	shift
done
rc=0
for p in "${pkgs[@]}"; do
	if [ -f "$FAKE_DIR/db/installed/$p" ]; then
		st="ii "; v=$(cat "$FAKE_DIR/db/installed/$p")
	elif [ -f "$FAKE_DIR/db/removed/$p" ]; then
		st="rc "; v=$(cat "$FAKE_DIR/db/removed/$p")
	else
		echo "dpkg-query: no packages found matching $p" >&2
		rc=1
		continue
	fi
	out=${fmt//'${db:Status-Abbrev}'/$st}
	out=${out//'${Version}'/$v}
	out=${out//'${Package}'/$p}
	printf '%b' "$out"
done
exit $rc
''',
    "apt-get": r'''#!/bin/bash
log_call "$@"
cmd=
specs=()
for a in "$@"; do
	case $a in
	-*) ;;
	*) if [ -z "$cmd" ]; then cmd=$a; else specs+=("$a"); fi ;;
	esac
done
case $cmd in
update)
	fail_step apt-get-update
	;;
install)
	fail_step apt-get-install
	plan=()
	for s in "${specs[@]}"; do
		p=${s%%=*}
		a=$FAKE_DIR/db/archive/$p
		if [ ! -f "$a" ]; then
			echo "E: Unable to locate package $p" >&2
			exit 100
		fi
		if [ "$s" != "$p" ]; then
			v=${s#*=}
			grep -qxF -- "$v" "$a" || {
				echo "E: Version '$v' for '$p' was not found" >&2
				exit 100
			}
		else
			v=$(head -n1 "$a")
		fi
		plan+=("$p" "$v")
	done
	[ -f "$FAKE_DIR/db/inert" ] && exit 0
	set -- "${plan[@]}"
	while [ $# -gt 0 ]; do
		p=$1 v=$2 up=${2%%[+-]*}
		shift 2
		rm -f "$FAKE_DIR/db/removed/$p"
		printf '%s\n' "$v" >"$FAKE_DIR/db/installed/$p"
		case $p in
		rustc-web)
			mkdir -p "$(dirname "$VS_RUSTC")"
			printf '#!/bin/sh\necho "rustc %s (fake 2025-01-01)"\n' \
				"$up" >"$VS_RUSTC"
			chmod +x "$VS_RUSTC"
			;;
		rust-web-src)
			mkdir -p "$VS_USR_SRC/rustc-$up/library"
			;;
		esac
	done
	;;
*)
	echo "apt-get stand-in: unexpected command '$cmd'" >&2
	exit 2
	;;
esac
''',
    "apt-cache": r'''#!/bin/bash
log_call "$@"
cmd=$1
shift
case $cmd in
madison)
	for p in "$@"; do
		a=$FAKE_DIR/db/archive/$p
		# Like apt-cache: nothing at all for a package it does not know.
		[ -f "$a" ] || continue
		while read -r v; do
			printf '%10s | %s | http://deb.debian.org/debian bookworm/main amd64 Packages\n' "$p" "$v"
		done <"$a"
	done
	;;
policy)
	fail_step apt-cache-policy
	for p in "$@"; do
		a=$FAKE_DIR/db/archive/$p
		[ -f "$a" ] || continue
		inst='(none)'
		[ -f "$FAKE_DIR/db/installed/$p" ] &&
			inst=$(cat "$FAKE_DIR/db/installed/$p")
		printf '%s:\n  Installed: %s\n  Candidate: %s\n  Version table:\n' \
			"$p" "$inst" "$(head -n1 "$a")"
		while read -r v; do
			printf '     %s 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n' "$v"
		done <"$a"
	done
	;;
show)
	rc=0
	for p in "$@"; do
		if [ -f "$FAKE_DIR/db/archive/$p" ]; then
			printf 'Package: %s\nVersion: %s\n\n' "$p" \
				"$(head -n1 "$FAKE_DIR/db/archive/$p")"
		else
			echo "E: No packages found" >&2
			rc=100
		fi
	done
	exit $rc
	;;
*)
	echo "apt-cache stand-in: unexpected command '$cmd'" >&2
	exit 2
	;;
esac
''',
    "cargo": r'''#!/bin/bash
log_call "$@"
[ "${1-}" = install ] || { echo "cargo stand-in: unexpected $*" >&2; exit 2; }
fail_step cargo-install
crate= ver= root=
shift
while [ $# -gt 0 ]; do
	case $1 in
	--version) ver=$2; shift ;;
	--root) root=$2; shift ;;
	-*) ;;
	*) crate=$1 ;;
	esac
	shift
done
[ "$crate" = bindgen-cli ] && [ -n "$ver" ] && [ -n "$root" ] || {
	echo "cargo stand-in: unexpected install of '$crate' '$ver' '$root'" >&2
	exit 2
}
mkdir -p "$root/bin"
printf '#!/bin/sh\necho "bindgen %s"\n' "$ver" >"$root/bin/bindgen"
chmod +x "$root/bin/bindgen"
''',
    "id": r'''#!/bin/bash
log_call "$@"
[ "$*" = -u ] || { echo "id stand-in: unexpected $*" >&2; exit 2; }
if [ -f "$FAKE_DIR/db/uid" ]; then cat "$FAKE_DIR/db/uid"; else echo 0; fi
''',
}


def bash_values(script, code):
    """Lines printed by `code` run in bash with $1 = script."""
    out = subprocess.run(["bash", "-c", code, "_", script], check=True,
                         capture_output=True, text=True).stdout
    return out.split("\n")[:-1]


class Config:
    def __init__(self, deps_sh):
        self.deps_sh = os.path.abspath(deps_sh)
        env_sh = os.path.join(os.path.dirname(self.deps_sh), "env.sh")
        arrays = bash_values(self.deps_sh, r'''
eval "$(sed -n '/^APT_PACKAGES=(/,/)/p;/^RUST_PACKAGES=(/,/)/p' "$1")"
echo "${APT_PACKAGES[*]}"; echo "${RUST_PACKAGES[*]}"''')
        self.apt = arrays[0].split()
        self.rust = arrays[1].split()
        (self.rust_ver, self.linux_ver,
         self.bindgen_ver) = bash_values(env_sh, r'''
. "$1"
printf '%s\n' "$VS_RUST_VERSION_PREFERRED" "$VS_LINUX_VERSION_PREFERRED" \
	"$VS_BINDGEN_VERSION"''')
        if (len(self.apt) < 5 or "rustc-web" not in self.rust or
                not self.rust_ver or not self.linux_ver or
                not self.bindgen_ver):
            raise SystemExit("cannot read the package lists or versions "
                             "from %s / %s" % (self.deps_sh, env_sh))
        # Versions the fake archive holds besides the preferred ones.
        self.rust_newer = "1.86.0+dfsg1-1~deb12u1"
        self.rust_older = "1.78.0+dfsg1-2~deb12u3"
        self.linux_newer = "6.12.200-1~deb12u1"


class Failed(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Failed(why)


class Run:
    def __init__(self, rc, out, err, calls, elapsed):
        self.rc, self.out, self.err = rc, out, err
        self.calls, self.elapsed = calls, elapsed
        self.err_lines = [l for l in err.split("\n") if l]

    def of(self, tool, sub=None):
        return [c[1:] for c in self.calls
                if c[0] == tool and (sub is None or (c[1:2] == [sub]))]

    def index(self, tool, sub):
        for i, c in enumerate(self.calls):
            if c[0] == tool and sub in c[1:]:
                return i
        return -1

    def describe(self):
        return "exit %d; stderr: %r" % (self.rc, self.err_lines[-4:])


class Env:
    """One temporary world: stand-ins, fake db, fake root, VS_CACHE."""

    def __init__(self, cfg, tmp):
        self.cfg, self.dir = cfg, tmp
        self.db = os.path.join(tmp, "db")
        self.bin = os.path.join(tmp, "bin")
        self.root = os.path.join(tmp, "root")
        self.cache = os.path.join(tmp, "cache")
        self.rustc = os.path.join(self.root, "usr/bin/rustc")
        self.usr_src = os.path.join(self.root, "usr/src")
        for d in ("installed", "removed", "archive", "fail"):
            os.makedirs(os.path.join(self.db, d))
        os.makedirs(self.bin)
        os.makedirs(self.cache)
        for name, body in STANDINS.items():
            path = os.path.join(self.bin, name)
            first, rest = body.split("\n", 1)
            with open(path, "w") as f:
                f.write(first + "\n" + LOG_CALL + rest)
            os.chmod(path, 0o755)
        # A full archive: every package at a version, the pinned ones at
        # their preferred version plus a newer and an older one.
        for p in cfg.apt:
            self.archive(p, ["2.0-1", "1.0-1"])
        for p in cfg.rust:
            self.archive(p, [cfg.rust_newer, cfg.rust_ver, cfg.rust_older])
        self.archive(LINUX_SRC, [cfg.linux_newer, cfg.linux_ver])

    def _write(self, rel, text):
        path = os.path.join(self.db, rel)
        with open(path, "w") as f:
            f.write(text)

    def archive(self, pkg, versions):
        path = os.path.join(self.db, "archive", pkg)
        if versions is None:
            os.unlink(path)
        else:
            self._write(os.path.join("archive", pkg),
                        "".join(v + "\n" for v in versions))

    def installed(self, pkg, version):
        self._write(os.path.join("installed", pkg), version + "\n")

    def removed(self, pkg, version):
        os.unlink(os.path.join(self.db, "installed", pkg))
        self._write(os.path.join("removed", pkg), version + "\n")

    def uid(self, n):
        self._write("uid", "%d\n" % n)

    def fail(self, step, status):
        self._write(os.path.join("fail", step), "%d\n" % status)

    def inert(self):
        self._write("inert", "")

    def bindgen(self, version):
        d = os.path.join(self.cache, "tools/bin")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "bindgen")
        with open(path, "w") as f:
            f.write('#!/bin/sh\necho "bindgen %s"\n' % version)
        os.chmod(path, 0o755)

    def rust_toolchain(self, version):
        up = re.split(r"[+-]", version)[0]
        os.makedirs(os.path.dirname(self.rustc), exist_ok=True)
        with open(self.rustc, "w") as f:
            f.write('#!/bin/sh\necho "rustc %s (fake 2025-01-01)"\n' % up)
        os.chmod(self.rustc, 0o755)
        os.makedirs(os.path.join(self.usr_src, "rustc-%s/library" % up),
                    exist_ok=True)

    def install_all(self, rust_versions=None):
        """Everything installed at the pinned versions."""
        cfg = self.cfg
        for p in cfg.apt:
            self.installed(p, "2.0-1")
        for i, p in enumerate(cfg.rust):
            self.installed(p, rust_versions[i] if rust_versions
                           else cfg.rust_ver)
        self.installed(LINUX_SRC, cfg.linux_ver)
        self.rust_toolchain(cfg.rust_ver)
        self.bindgen(cfg.bindgen_ver)

    def run(self):
        log = os.path.join(self.dir, "calls.log")
        if os.path.exists(log):
            os.unlink(log)
        env = {
            "PATH": self.bin + ":/usr/local/bin:/usr/bin:/bin",
            "HOME": self.dir,
            "LC_ALL": "C",
            "FAKE_DIR": self.dir,
            "VS_CACHE": self.cache,
            "VS_RUSTC": self.rustc,
            "VS_USR_SRC": self.usr_src,
        }
        t0 = time.monotonic()
        p = subprocess.run(["bash", self.cfg.deps_sh], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        elapsed = time.monotonic() - t0
        calls = []
        if os.path.exists(log):
            with open(log) as f:
                calls = [l.rstrip("\n").split("\t") for l in f]
        return Run(p.returncode, p.stdout, p.stderr, calls, elapsed)


# --- assertions shared by the cases ---------------------------------------

TRAP_RE = re.compile(r"^virtio-suspend: [^:]+:\d+: '.*' failed \(exit \d+\)$")


def check_ok(r):
    check(r.rc == 0, "expected exit 0, got " + r.describe())
    trap = [l for l in r.err_lines if TRAP_RE.match(l)]
    check(not trap, "the ERR trap fired on a successful run: %r" % trap)


def check_failed(r):
    """Non-zero exit and the last word on stderr says what failed."""
    check(r.rc != 0, "expected a non-zero exit, got " + r.describe())
    check(r.err_lines, "silent exit %d: nothing on stderr" % r.rc)
    check(r.err_lines[-1].startswith("virtio-suspend: "),
          "the last stderr line is not the script's message: %r"
          % r.err_lines[-1])


def lines_with(r, *words):
    return [l for l in r.err_lines if all(w in l for w in words)]


def check_one_line(r, *words):
    found = lines_with(r, *words)
    check(len(found) == 1, "expected exactly one stderr line with %r, got "
          "%r (stderr: %r)" % (words, found, r.err_lines))
    return found[0]


def single_install(r):
    inst = r.of("apt-get", "install")
    check(len(inst) == 1, "expected exactly one apt-get install, got %d: %r"
          % (len(inst), inst))
    return [a for a in inst[0][1:] if not a.startswith("-")]


def check_install_args(cfg, args, rust_ver, linux_ver):
    check(len(args) == len(set(args)), "duplicates in apt-get install: %r"
          % args)
    want = (list(cfg.apt) + ["%s=%s" % (p, rust_ver) for p in cfg.rust] +
            ["%s=%s" % (LINUX_SRC, linux_ver)])
    missing = [a for a in want if a not in args]
    extra = [a for a in args if a not in want]
    check(not missing and not extra,
          "apt-get install arguments differ: missing %r, unexpected %r"
          % (missing, extra))


def check_update_then_install(r):
    u = r.of("apt-get", "update")
    check(len(u) == 1, "expected one apt-get update, got %r" % u)
    check(r.index("apt-get", "update") < r.index("apt-get", "install"),
          "apt-get install ran before apt-get update")


def check_no_apt(r):
    apt = [c for c in r.calls if c[0] == "apt-get"]
    check(not apt, "unexpected apt-get calls: %r" % apt)


def check_rust_reinstalled_at(cfg, r, env, ver):
    """After the run every Rust package is installed at one version."""
    for p in cfg.rust:
        with open(os.path.join(env.db, "installed", p)) as f:
            got = f.read().strip()
        check(got == ver, "%s installed at %s, not %s" % (p, got, ver))


# --- the cases ------------------------------------------------------------

def t_nothing_installed(cfg, env):
    r = env.run()
    check_ok(r)
    check_update_then_install(r)
    check_install_args(cfg, single_install(r), cfg.rust_ver, cfg.linux_ver)
    cargo = r.of("cargo", "install")
    check(len(cargo) == 1, "expected one cargo install, got %r" % cargo)
    a = cargo[0]
    check("bindgen-cli" in a and "--version" in a and
          a[a.index("--version") + 1] == cfg.bindgen_ver and
          "--root" in a and
          a[a.index("--root") + 1] == os.path.join(env.cache, "tools"),
          "cargo install arguments: %r" % a)
    check(r.index("apt-get", "install") < r.index("cargo", "install"),
          "bindgen installed before the apt packages")
    check(not lines_with(r, "gone from the archive"),
          "fell back although the preferred versions are in the archive: %r"
          % r.err_lines)
    # What it installed is enough: a second run finds nothing to do.
    r2 = env.run()
    check_ok(r2)
    check(not r2.calls or all(c[0] == "dpkg-query" for c in r2.calls),
          "second run is not a no-op: %r"
          % [c for c in r2.calls if c[0] != "dpkg-query"])


def t_all_installed(cfg, env):
    env.install_all()
    best = None
    for _ in range(3):   # a loaded machine may stall one run; not three
        r = env.run()
        check_ok(r)
        check_no_apt(r)
        other = [c for c in r.calls if c[0] not in ("dpkg-query", "id")]
        check(not other, "unexpected calls: %r" % other)
        check(r.of("dpkg-query"), "never asked dpkg-query (stand-ins not "
              "used?)")
        check(not r.err_lines, "stderr not empty: %r" % r.err_lines)
        best = r.elapsed if best is None else min(best, r.elapsed)
        if best < 1.0:
            break
    check(best < 1.0, "took %.2fs (best of 3), not under a second" % best)
    return "took %.2fs" % best


def t_bindgen_wrong_version(cfg, env):
    env.install_all()
    env.bindgen("0.70.1")
    r = env.run()
    check_ok(r)
    check_no_apt(r)
    check(len(r.of("cargo", "install")) == 1,
          "a bindgen of another version was not replaced: %r"
          % [c for c in r.calls if c[0] != "dpkg-query"])


def t_rust_mixed(cfg, env):
    vers = [cfg.rust_ver] * len(cfg.rust)
    vers[-1] = cfg.rust_older        # only the last one differs
    env.install_all(vers)
    r = env.run()
    check_ok(r)
    check_update_then_install(r)
    args = single_install(r)
    check_install_args(cfg, args, cfg.rust_ver, cfg.linux_ver)
    check_rust_reinstalled_at(cfg, r, env, cfg.rust_ver)


def t_rust_one_missing(cfg, env):
    env.install_all()
    # Left in config-files state: dpkg-query knows it, it is not installed.
    env.removed(cfg.rust[2], cfg.rust_ver)
    r = env.run()
    check_ok(r)
    check_install_args(cfg, single_install(r), cfg.rust_ver, cfg.linux_ver)
    check_rust_reinstalled_at(cfg, r, env, cfg.rust_ver)


def t_rust_preferred_gone(cfg, env):
    for p in cfg.rust:
        env.archive(p, [cfg.rust_newer, cfg.rust_older])
    r = env.run()
    check_ok(r)
    check_install_args(cfg, single_install(r), cfg.rust_newer, cfg.linux_ver)
    check_one_line(r, "gone from the archive")
    check_one_line(r, "rustc-web", cfg.rust_ver, "gone from the archive",
                   cfg.rust_newer)
    check_rust_reinstalled_at(cfg, r, env, cfg.rust_newer)


def t_linux_preferred_gone(cfg, env):
    env.archive(LINUX_SRC, [cfg.linux_newer])
    r = env.run()
    check_ok(r)
    check_install_args(cfg, single_install(r), cfg.rust_ver, cfg.linux_newer)
    check_one_line(r, "gone from the archive")
    check_one_line(r, LINUX_SRC, cfg.linux_ver, "gone from the archive",
                   cfg.linux_newer)


def t_apt_package_missing(cfg, env):
    gone = cfg.apt[len(cfg.apt) // 2]
    env.archive(gone, None)
    r = env.run()
    check_failed(r)
    check(not r.of("apt-get", "install"), "apt-get install ran anyway")
    line = check_one_line(r, gone)
    check("missing package" in line, "the line does not say it is missing: "
          "%r" % line)


def t_rust_package_missing(cfg, env):
    for p in cfg.rust:
        env.archive(p, None)
    r = env.run()
    check_failed(r)
    check(not r.of("apt-get", "install"), "apt-get install ran anyway")
    line = check_one_line(r, "rustc-web")
    check("missing package" in line, "not a missing-package line: %r" % line)


def t_linux_package_missing(cfg, env):
    env.archive(LINUX_SRC, None)
    r = env.run()
    check_failed(r)
    check(not r.of("apt-get", "install"), "apt-get install ran anyway")
    line = check_one_line(r, LINUX_SRC)
    check("missing package" in line, "not a missing-package line: %r" % line)


def t_not_root(cfg, env):
    env.install_all()
    env.removed(cfg.apt[0], "2.0-1")
    env.uid(1000)
    r = env.run()
    check_failed(r)
    check_no_apt(r)
    check(r.of("id"), "never asked id -u (stand-in not used?)")
    check_one_line(r, "root")
    check(len(r.err_lines) == 1, "more than the one line: %r" % r.err_lines)


def t_not_root_nothing_to_do(cfg, env):
    env.install_all()
    env.uid(1000)
    r = env.run()
    check_ok(r)
    check_no_apt(r)


def t_update_fails(cfg, env):
    env.fail("apt-get-update", 100)
    r = env.run()
    check_failed(r)
    check(not r.of("apt-get", "install"), "apt-get install ran anyway")
    check(lines_with(r, "apt-get update", "failed"),
          "no line naming apt-get update: %r" % r.err_lines)


def t_install_fails(cfg, env):
    env.fail("apt-get-install", 100)
    r = env.run()
    check_failed(r)
    check(lines_with(r, "apt-get install", "failed"),
          "no line naming apt-get install: %r" % r.err_lines)
    check(not r.of("cargo"), "went on to cargo after a failed install")


def t_cargo_fails(cfg, env):
    env.install_all()
    os.unlink(os.path.join(env.cache, "tools/bin/bindgen"))
    env.fail("cargo-install", 101)
    r = env.run()
    check_failed(r)
    check(lines_with(r, "cargo install", "bindgen-cli", cfg.bindgen_ver,
                     "failed"),
          "no line naming cargo install bindgen-cli: %r" % r.err_lines)


def t_unchecked_step_fails(cfg, env):
    # apt-cache policy is only asked when the preferred version is gone,
    # and its failure is checked by nobody but set -e and the ERR trap.
    for p in cfg.rust:
        env.archive(p, [cfg.rust_newer])
    env.fail("apt-cache-policy", 100)
    r = env.run()
    check_failed(r)
    check(not r.of("apt-get", "install"), "apt-get install ran anyway")
    check(r.of("apt-cache", "policy"), "apt-cache policy was never asked")
    line = r.err_lines[-1]
    check(TRAP_RE.match(line) and "deps.sh" in line and
          "apt-cache policy" in line,
          "the last line does not name the failing command: %r" % line)


def t_installed_without_rustc(cfg, env):
    env.inert()
    r = env.run()
    check_failed(r)
    check(lines_with(r, "missing", env.rustc),
          "no line naming the missing rustc: %r" % r.err_lines)


def t_missing_rust_src(cfg, env):
    env.install_all()
    shutil.rmtree(env.usr_src)
    r = env.run()
    check_failed(r)
    check(lines_with(r, "missing", "library", "rust-web-src"),
          "no line naming the missing library sources: %r" % r.err_lines)


def apt_one_missing(cfg, env, pkg, why):
    check(pkg in cfg.apt, "%s is not in APT_PACKAGES (%s needs it)" % (pkg, why))
    env.install_all()
    os.unlink(os.path.join(env.db, "installed", pkg))
    r = env.run()
    check_ok(r)
    check_update_then_install(r)
    check_install_args(cfg, single_install(r), cfg.rust_ver, cfg.linux_ver)
    check(os.path.exists(os.path.join(env.db, "installed", pkg)),
          "%s not installed after the run" % pkg)
    r2 = env.run()
    check_ok(r2)
    check_no_apt(r2)


def t_apt_one_missing(cfg, env):
    # A machine set up before a package joined the list: libcap-ng-dev
    # came with VirtFS (virtio-9p) in our QEMU and was never installed.
    apt_one_missing(cfg, env, "libcap-ng-dev", "QEMU's --enable-virtfs")


def t_apt_seccomp_missing(cfg, env):
    # The same for libseccomp-dev, which came with virtiofsd.
    apt_one_missing(cfg, env, "libseccomp-dev", "virtiofsd")


def t_build_deps_listed(cfg, env):
    # The build scripts install (QEMU) or require (fio, vhost-user) their build
    # dependencies themselves; `make deps` must install them all up front.
    tools = os.path.dirname(cfg.deps_sh)
    seen = []
    for sub in ("qemu", "fio", "vhost-user"):
        path = os.path.join(tools, sub, "build.sh")
        if not os.path.exists(path):
            continue
        deps = bash_values(path, r'''
eval "$(sed -n '/^BUILD_DEPS=(/,/)/p' "$1")"
echo "${BUILD_DEPS[*]}"''')[0].split()
        check(deps, "no BUILD_DEPS read from %s" % path)
        missing = [p for p in deps if p not in cfg.apt]
        check(not missing, "BUILD_DEPS of %s not in deps.sh's APT_PACKAGES: "
              "%r" % (path, missing))
        seen.append("%s/build.sh (%d)" % (sub, len(deps)))
    check(seen, "no tools/*/build.sh beside %s" % cfg.deps_sh)
    return "checked " + ", ".join(seen)


TESTS = [
    ("nothing installed: update, one install of everything pinned, "
     "bindgen", t_nothing_installed),
    ("everything installed: no apt-get, exit 0, under a second",
     t_all_installed),
    ("bindgen of another version: cargo install only", t_bindgen_wrong_version),
    ("Rust packages at mixed versions: all reinstalled at one version",
     t_rust_mixed),
    ("one Rust package in config-files state: all reinstalled",
     t_rust_one_missing),
    ("preferred rustc-web gone: Candidate used, one line says so",
     t_rust_preferred_gone),
    ("preferred linux-source-6.12 gone: Candidate used, one line says so",
     t_linux_preferred_gone),
    ("APT package missing from the archive: fails naming it",
     t_apt_package_missing),
    ("rustc-web missing from the archive: fails naming it",
     t_rust_package_missing),
    ("linux-source-6.12 missing from the archive: fails naming it",
     t_linux_package_missing),
    ("not root with something missing: one line, no apt-get", t_not_root),
    ("not root with nothing missing: exit 0", t_not_root_nothing_to_do),
    ("apt-get update fails: fails naming the step", t_update_fails),
    ("apt-get install fails: fails naming the step", t_install_fails),
    ("cargo install fails: fails naming the step", t_cargo_fails),
    ("an unchecked command fails: the ERR trap names it",
     t_unchecked_step_fails),
    ("install leaves no rustc: fails naming it", t_installed_without_rustc),
    ("no library sources for the rustc: fails naming them",
     t_missing_rust_src),
    ("one APT package never installed (libcap-ng-dev): update, one install",
     t_apt_one_missing),
    ("one APT package never installed (libseccomp-dev): update, one install",
     t_apt_seccomp_missing),
    ("every BUILD_DEPS of tools/*/build.sh is in APT_PACKAGES",
     t_build_deps_listed),
]


def main():
    deps_sh = (sys.argv[1] if len(sys.argv) > 1 else
               os.environ.get("VS_DEPS_SH",
                              os.path.join(TOP, "tools/deps.sh")))
    cfg = Config(deps_sh)
    print("1..%d" % len(TESTS))
    print("# %s" % cfg.deps_sh)
    failed = 0
    for n, (name, fn) in enumerate(TESTS, 1):
        with tempfile.TemporaryDirectory(prefix="vs-deps-") as tmp:
            try:
                note = fn(cfg, Env(cfg, tmp))
                print("ok %d - %s" % (n, name))
                if note:
                    print("# " + note)
            except Failed as e:
                failed += 1
                print("not ok %d - %s" % (n, name))
                print("# %s" % e)
            except Exception as e:   # a crash of the test is a failure too
                failed += 1
                print("not ok %d - %s" % (n, name))
                print("# %s: %s" % (type(e).__name__, e))
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

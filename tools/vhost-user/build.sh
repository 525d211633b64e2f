#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build a vhost-user backend the runner starts for a scenario's vhost-user
# devices: the pinned version from crates.io, with the lock file it was
# published with (cargo install --locked), cached under
# $VS_CACHE/vhost-user/<name>-<key>/bin/<name>.
#
#   build.sh NAME    build if needed, then print the path of the binary
#
# NAME: virtiofsd (virtio-fs) or vhost-device-vsock (vsock).  Only that
# path goes to stdout; everything else goes to stderr.  Host tools: built
# with the machine's cargo, not the kernel's Rust.
#
# A backend with a directory patches/NAME here is built from its published
# .crate with those patches applied in order (patch -p1), unpacked in
# <name>-<key>/src, by cargo install --locked --path, once the crate's
# tests of our patches (patch_tests) pass; the key covers the patches.  The .crate is the file cargo install would download: taken
# from cargo's download cache ($CARGO_HOME/registry/cache), or, when it is
# not there yet, put there by cargo fetch of a throw-away manifest that
# depends on it (that also fetches the newest compatible dependencies,
# not only the locked ones).
set -euo pipefail
. "$(dirname "$0")/../env.sh"

exec 3>&1 1>&2

here=$VS_TOP/tools/vhost-user
root=$VS_CACHE/vhost-user

name=${1:-}
patch_tests=()
case "$name" in
virtiofsd)
	version=1.14.0
	# In tools/deps.sh's list: found by pkg-config.
	deps=(libseccomp-dev libcap-ng-dev pkg-config gcc)
	;;
vhost-device-vsock)
	version=0.3.0
	# patch: our patches (patches/vhost-device-vsock/).
	deps=(gcc patch)
	# The crate's tests of our patches: the backend is installed only
	# if they pass (the crate's other tests need vsock_loopback).
	patch_tests=(vhu_vsock_thread::tests::test_vsock_thread_tx_used
		vhu_vsock_thread::tests::test_vsock_thread_stopped_ring)
	;;
*)
	vs_die "usage: build.sh virtiofsd|vhost-device-vsock"
	;;
esac
# Every package any backend needs (the install test reads this list).
BUILD_DEPS=(libseccomp-dev libcap-ng-dev pkg-config gcc patch)

missing=()
for p in "${deps[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[ "${st#ii}" != "$st" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] ||
	vs_die "$name needs ${missing[*]}: run 'sudo make deps'"

patches=$here/patches/$name
key_items=("$name" "$version" "$here/build.sh")
if [ -d "$patches" ]; then
	key_items+=("$patches")
fi
key=$(vs_key "${key_items[@]}")
bdir=$root/$name-$key
binary=$bdir/bin/$name

if [ -f "$bdir/.vs-built" ] && [ -x "$binary" ]; then
	echo "$binary" >&3
	exit 0
fi

command -v cargo >/dev/null || vs_die "missing cargo (needed to build $name)"

# The published .crate of $name $version in cargo's download cache, if
# there.
cached_crate() {
	local f
	for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate"; do
		if [ -f "$f" ]; then
			echo "$f"
			return
		fi
	done
}

mkdir -p "$root"
exec 9>"$root/.lock"
flock 9
# Another build.sh may have finished while this one waited.
if [ -f "$bdir/.vs-built" ] && [ -x "$binary" ]; then
	echo "$binary" >&3
	exit 0
fi

vs_log "building $name $version (key $key) in $bdir"
target=$root/target-$name
log=$root/$name-build.log
rm -rf "$bdir" "$target"
: >"$log"
if [ -d "$patches" ]; then
	crate=$(cached_crate)
	if [ -z "$crate" ]; then
		vs_log "fetching $name $version"
		mkdir -p "$bdir/fetch"
		cat >"$bdir/fetch/Cargo.toml" <<EOF
[package]
name = "vs-fetch"
version = "0.0.0"
edition = "2021"

[lib]
path = "lib.rs"

[dependencies]
$name = "=$version"
EOF
		: >"$bdir/fetch/lib.rs"
		host=$(cargo -vV | sed -n 's/^host: //p')
		cargo fetch -q --manifest-path "$bdir/fetch/Cargo.toml" \
			--target "$host" >>"$log" 2>&1 || {
			tail -n 30 "$log"
			vs_die "cargo fetch $name $version failed (log: $log)"
		}
		rm -rf "$bdir/fetch"
		crate=$(cached_crate)
		[ -n "$crate" ] || vs_die "cargo fetch left no $name-$version.crate"
	fi
	mkdir -p "$bdir"
	tar -xzf "$crate" -C "$bdir" || vs_die "cannot unpack $crate"
	mv "$bdir/$name-$version" "$bdir/src"
	vs_apply_patches "$patches" "$bdir/src" "$name $version"
	if [ ${#patch_tests[@]} -gt 0 ]; then
		vs_log "testing the patches: ${patch_tests[*]}"
		(cd "$bdir/src" && CARGO_TARGET_DIR=$target cargo test -q --locked -- \
			--exact "${patch_tests[@]}") >>"$log" 2>&1 || {
			tail -n 30 "$log"
			vs_die "$name $version: the tests of our patches fail (log: $log)"
		}
	fi
	crate_args=(--path "$bdir/src")
else
	crate_args=("$name" --version "=$version")
fi
CARGO_TARGET_DIR=$target cargo install -q "${crate_args[@]}" \
	--locked --root "$bdir" >>"$log" 2>&1 || {
	tail -n 30 "$log"
	vs_die "cargo install $name $version failed (log: $log)"
}
rm -rf "$target"
[ -x "$binary" ] || vs_die "cargo install left no $binary"
touch "$bdir/.vs-built"

# Older builds of this backend only.
for old in "$root/$name"-*; do
	case "$old" in
	"$bdir" | "$log") ;;
	*) rm -rf "$old" ;;
	esac
done
vs_log "built $binary"
echo "$binary" >&3

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
set -euo pipefail
. "$(dirname "$0")/../env.sh"

exec 3>&1 1>&2

here=$VS_TOP/tools/vhost-user
root=$VS_CACHE/vhost-user

name=${1:-}
case "$name" in
virtiofsd)
	version=1.14.0
	# In tools/deps.sh's list: found by pkg-config.
	deps=(libseccomp-dev libcap-ng-dev pkg-config gcc)
	;;
vhost-device-vsock)
	version=0.3.0
	deps=(gcc)
	;;
*)
	vs_die "usage: build.sh virtiofsd|vhost-device-vsock"
	;;
esac
# Every package any backend needs (the install test reads this list).
BUILD_DEPS=(libseccomp-dev libcap-ng-dev pkg-config gcc)

missing=()
for p in "${deps[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[ "${st#ii}" != "$st" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] ||
	vs_die "$name needs ${missing[*]}: run 'sudo make deps'"

key=$(vs_key "$name" "$version" "$here/build.sh")
bdir=$root/$name-$key
binary=$bdir/bin/$name

if [ -f "$bdir/.vs-built" ] && [ -x "$binary" ]; then
	echo "$binary" >&3
	exit 0
fi

command -v cargo >/dev/null || vs_die "missing cargo (needed to build $name)"

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
CARGO_TARGET_DIR=$target cargo install -q "$name" --version "=$version" \
	--locked --root "$bdir" >"$log" 2>&1 || {
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

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build virtiofsd, the virtio-fs vhost-user backend the runner starts for
# a scenario's virtio-fs devices: the pinned version from crates.io, with
# the lock file it was published with (cargo install --locked), cached
# under $VS_CACHE/virtiofsd/<key>/bin/virtiofsd.
#
#   build.sh    build if needed, then print the path of the virtiofsd binary
#
# Only that path goes to stdout; everything else goes to stderr.  A host
# tool: built with the machine's cargo, not the kernel's Rust.
set -euo pipefail
. "$(dirname "$0")/../env.sh"

exec 3>&1 1>&2

here=$VS_TOP/tools/virtiofsd
root=$VS_CACHE/virtiofsd

VERSION=1.14.0
# In tools/deps.sh's list: seccomp and capabilities, found by pkg-config.
BUILD_DEPS=(libseccomp-dev libcap-ng-dev pkg-config gcc)

missing=()
for p in "${BUILD_DEPS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[ "${st#ii}" != "$st" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] ||
	vs_die "virtiofsd needs ${missing[*]}: run 'sudo make deps'"

key=$(vs_key "$VERSION" "$here/build.sh")
bdir=$root/$key
binary=$bdir/bin/virtiofsd

if [ -f "$bdir/.vs-built" ] && [ -x "$binary" ]; then
	echo "$binary" >&3
	exit 0
fi

command -v cargo >/dev/null || vs_die "missing cargo (needed to build virtiofsd)"

mkdir -p "$root"
exec 9>"$root/.lock"
flock 9
# Another build.sh may have finished while this one waited.
if [ -f "$bdir/.vs-built" ] && [ -x "$binary" ]; then
	echo "$binary" >&3
	exit 0
fi

vs_log "building virtiofsd $VERSION (key $key) in $bdir"
rm -rf "$bdir" "$root/target"
CARGO_TARGET_DIR=$root/target cargo install -q virtiofsd --version "=$VERSION" \
	--locked --root "$bdir" >"$root/build.log" 2>&1 || {
	tail -n 30 "$root/build.log"
	vs_die "cargo install virtiofsd $VERSION failed (log: $root/build.log)"
}
rm -rf "$root/target"
[ -x "$binary" ] || vs_die "cargo install left no $binary"
touch "$bdir/.vs-built"

for old in "$root"/*; do
	case "$old" in
	"$bdir" | "$root/build.log") ;;
	*) rm -rf "$old" ;;
	esac
done
vs_log "built $binary"
echo "$binary" >&3

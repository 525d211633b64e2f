#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build fio for the guests: Debian's fio source (apt-get source), static
# (the busybox initramfs has no libc), without SysV shared memory (the
# guest kernel has no SysV IPC), cached under $VS_CACHE/fio/<key>/fio.
#
#   build.sh    build if needed, then print the path of the fio binary
#
# Only that path goes to stdout; everything else goes to stderr.
set -euo pipefail
. "$(dirname "$0")/../env.sh"
. "$VS_TOP/tools/deb-src.sh"

exec 3>&1 1>&2

here=$VS_TOP/tools/fio
root=$VS_CACHE/fio

# All of them in tools/deps.sh's list: dpkg-dev unpacks the source package.
BUILD_DEPS=(dpkg-dev gcc make libc6-dev)

# --disable-native: no -march=native, the guest's CPU is TCG's, not the host's.
CONFIGURE_ARGS=(--build-static --disable-shm --disable-native)

# The newest fio source version the apt lists know, empty if none.
src_version() {
	local v best=""
	for v in $(apt-cache showsrc fio 2>/dev/null | sed -n 's/^Version: *//p'); do
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then
			best=$v
		fi
	done
	echo "$best"
}

missing=()
for p in "${BUILD_DEPS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[ "${st#ii}" != "$st" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] ||
	vs_die "fio needs ${missing[*]}: run 'sudo make deps'"

vs_ensure_deb_src
ver=$(src_version)
if [ -z "$ver" ]; then
	vs_apt_update
	ver=$(src_version)
fi
[ -n "$ver" ] || vs_die "no fio source package in the apt sources"

key=$(vs_key "$ver" "$here/build.sh")
bdir=$root/$key
binary=$bdir/fio

if [ -f "$bdir/.vs-built" ] && [ -x "$binary" ]; then
	echo "$binary" >&3
	exit 0
fi

mkdir -p "$root"
exec 9>"$root/.lock"
flock 9
# Another build.sh may have finished while this one waited.
if [ -f "$bdir/.vs-built" ] && [ -x "$binary" ]; then
	echo "$binary" >&3
	exit 0
fi

# Debian's source, patches applied by dpkg-source: fetched once.
src=$root/src-${ver#*:}
vs_fetch_deb_source fio "$ver" "$src" configure

vs_log "building static fio $ver (key $key) in $bdir"
rm -rf "$bdir"
mkdir -p "$bdir"
cp -a "$src" "$bdir/src"
rm -f "$bdir/src/.vs-ok"
(cd "$bdir/src" && ./configure "${CONFIGURE_ARGS[@]}" >configure.log 2>&1) || {
	tail -n 30 "$bdir/src/configure.log"
	vs_die "fio configure failed (log: $bdir/src/configure.log)"
}
make -C "$bdir/src" -j"$(nproc)" fio >"$bdir/make.log" 2>&1 || {
	grep -E -B2 -A8 'error:|Error [0-9]' "$bdir/make.log" | head -n 60
	vs_die "fio build failed (log: $bdir/make.log)"
}
# A dynamic binary would fail in the guest with a bare "not found".
file_type=$(LC_ALL=C readelf -d "$bdir/src/fio" 2>&1 || true)
case "$file_type" in
*NEEDED*) vs_die "fio is not static (configure ignored --build-static?)" ;;
esac
# Without its debug information: 6 MiB less in every initramfs.
strip -o "$binary" "$bdir/src/fio"
rm -rf "$bdir/src"
touch "$bdir/.vs-built"

for old in "$root"/*; do
	case "$old" in
	"$bdir" | "$src") ;;
	*) rm -rf "$old" ;;
	esac
done
vs_log "built $binary"
echo "$binary" >&3

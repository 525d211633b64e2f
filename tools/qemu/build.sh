#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the patched QEMU: Debian's qemu 7.2 source (apt-get source) with
# tools/qemu/patches applied, qemu-system-x86_64 only, cached under
# $VS_CACHE/qemu/build-<key>.
#
#   build.sh    build if needed, then print the path of qemu-system-x86_64
#
# Only that path goes to stdout; everything else goes to stderr.  Run it
# with -L /usr/share/qemu: the firmware comes from Debian's
# qemu-system-data, the dfsg source has none.
set -euo pipefail
. "$(dirname "$0")/../env.sh"
. "$VS_TOP/tools/deb-src.sh"

exec 3>&1 1>&2

here=$VS_TOP/tools/qemu
root=$VS_CACHE/qemu

BUILD_DEPS=(
	dpkg-dev meson ninja-build pkg-config gcc make python3
	libglib2.0-dev libpixman-1-dev libfdt-dev libslirp-dev zlib1g-dev
	libcap-ng-dev
)

CONFIGURE_ARGS=(
	--target-list=x86_64-softmmu
	--disable-docs --disable-tools --disable-guest-agent --disable-user
	--disable-gtk --disable-sdl --disable-vnc --disable-spice
	--disable-opengl --disable-curses --disable-vte --audio-drv-list=
	--disable-werror
	# The dfsg tarball has no firmware: nothing to unpack or install.
	--disable-install-blobs
	--enable-slirp --enable-fdt=system
	# virtio-9p (virtio-9p-device, virtio-9p-pci): needs libcap-ng, and
	# xattr, which glibc has.  Enabled explicitly so that a missing
	# library fails configure instead of quietly dropping the devices.
	--enable-virtfs
	--with-git-submodules=ignore
)

# The newest qemu source version the apt lists know, empty if none.
src_version() {
	local v best=""
	for v in $(apt-cache showsrc qemu 2>/dev/null |
		   sed -n 's/^Version: *//p'); do
		case "$v" in
		1:7.2[+.-]*|7.2[+.-]*) ;;
		*) continue ;;
		esac
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then
			best=$v
		fi
	done
	echo "$best"
}

# The sources we had to add: fetch their lists once.
vs_ensure_deb_src
ver=$(src_version)
if [ -z "$ver" ]; then
	vs_apt_update
	ver=$(src_version)
fi
[ -n "$ver" ] || vs_die "no qemu 7.2 source package in the apt sources"

key=$(vs_key "$ver" "$here/patches" "$here/build.sh" "$VS_TOP/tools/env.sh")
bdir=$root/build-$key
binary=$bdir/build/qemu-system-x86_64

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

missing=()
for p in "${BUILD_DEPS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[ "${st#ii}" != "$st" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	vs_need_root "installing ${missing[*]}"
	vs_log "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		{ vs_apt_update && apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null; } ||
		vs_die "apt-get install ${missing[*]} failed"
fi

# Debian's source, patches applied by dpkg-source: fetched once.
src=$root/src-${ver#*:}
vs_fetch_deb_source qemu "$ver" "$src" VERSION

vs_log "building QEMU $ver with $(find "$here/patches" -name '*.patch' | wc -l) patches (key $key) in $bdir"
rm -rf "$bdir"
mkdir -p "$bdir"
cp -a "$src" "$bdir/src"
rm -f "$bdir/src/.vs-ok"

vs_apply_patches "$here/patches" "$bdir/src" "qemu $ver"

mkdir -p "$bdir/build"
(cd "$bdir/build" && ../src/configure "${CONFIGURE_ARGS[@]}" >configure.log 2>&1) || {
	tail -n 30 "$bdir/build/configure.log"
	vs_die "QEMU configure failed (log: $bdir/build/configure.log)"
}
ninja -C "$bdir/build" qemu-system-x86_64 >"$bdir/build/ninja.log" 2>&1 || {
	grep -E -B2 -A8 'error:|FAILED' "$bdir/build/ninja.log" | head -n 60
	vs_die "QEMU build failed (log: $bdir/build/ninja.log)"
}
[ -x "$binary" ] || vs_die "the build left no $binary"
touch "$bdir/.vs-built"

# Older keys and sources are dead weight (a build tree is about 1 GiB),
# but another checkout or branch may be using one: keep the newest three
# build trees, this one among them (as tools/kernel/build.sh), and the
# source of this version.
ls -1dt "$root"/build-*/.vs-built 2>/dev/null | tail -n +4 |
	while IFS= read -r old; do
		old=${old%/.vs-built}
		[ "$old" = "$bdir" ] || rm -rf "$old"
	done
for old in "$root"/build-* "$root"/src-*; do
	[ "$old" = "$bdir" ] || [ "$old" = "$src" ] ||
		[ -f "$old/.vs-built" ] || rm -rf "$old"
done
vs_log "built $binary"
echo "$binary" >&3

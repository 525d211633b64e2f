#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest kernel: Debian's linux-source-6.12 with the project's
# patches and config fragment, cached under $VS_CACHE/kernel/<key>.
#
#   build.sh            build if needed, then print the kernel directory
#   build.sh --kdir     print the kernel directory for the current inputs
#
# VS_KERNEL_VARIANT=NAME builds (or names) another kernel: the fragment
# config/variants/NAME.config merged over the usual ones, in a tree of its
# own key (e.g. kcsan, the data-race detector: make check-kcsan).
set -euo pipefail
. "$(dirname "$0")/../env.sh"

here=$VS_TOP/tools/kernel
variant=${VS_KERNEL_VARIANT:-}
fragments=("$here"/config/*.config)
if [ -n "$variant" ]; then
	[ -f "$here/config/variants/$variant.config" ] ||
		vs_die "no kernel variant '$variant' (tools/kernel/config/variants/)"
	fragments+=("$here/config/variants/$variant.config")
fi
tarball=/usr/src/linux-source-6.12.tar.xz
[ -f "$tarball" ] || vs_die "missing $tarball: run 'make deps'"

linux_ver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
# Keyed by what goes into the tree: the source, our patches and config
# fragments (a variant's only for that variant), this script and the
# toolchain versions (not tools/env.sh as a whole, whose other helpers
# change without touching the kernel).
key=$(vs_key "$linux_ver" "$here/patches" "variant=$variant" "${fragments[@]}" \
	"$here/build.sh" \
	"$("$VS_RUSTC" --version)" "$("$VS_BINDGEN" --version 2>&1)" \
	"$(gcc --version | head -1)" "$(vs_kmake_rust_args)")
kdir=$VS_CACHE/kernel/$key/linux

if [ "${1:-}" = --kdir ]; then
	echo "$kdir"
	exit 0
fi

if [ -f "$kdir/.vs-built" ]; then
	echo "$kdir"
	exit 0
fi

# One build at a time: a second make (another checkout, a parallel
# target) waits, then finds the tree built.  Without this, one build's
# clean-up of older keys deleted a tree another was using.
mkdir -p "$VS_CACHE/kernel"
exec 9>"$VS_CACHE/kernel/.lock"
flock 9
if [ -f "$kdir/.vs-built" ]; then
	echo "$kdir"
	exit 0
fi

vs_log "building guest kernel $linux_ver (key $key) in $kdir"
rm -rf "$VS_CACHE/kernel/$key"
mkdir -p "$VS_CACHE/kernel/$key"
tar -C "$VS_CACHE/kernel/$key" -xf "$tarball"
mv "$VS_CACHE/kernel/$key/linux-source-6.12" "$kdir"

vs_apply_patches "$here/patches" "$kdir" "linux-source $linux_ver"

# shellcheck disable=SC2046
kmake() {
	make -C "$kdir" -s -j"$(nproc)" $(vs_kmake_rust_args) "$@"
}

kmake tinyconfig >/dev/null
"$kdir"/scripts/kconfig/merge_config.sh -m -O "$kdir" "$kdir/.config" \
	"$kdir/kernel/configs/kvm_guest.config" \
	"${fragments[@]}" >/dev/null
kmake olddefconfig >/dev/null

# merge_config only warns when a value does not survive its dependencies;
# a silently missing CONFIG_RUST would turn every later step into noise.
# A variant's fragment comes last and wins over the common ones: only an
# option's last line, set or "is not set", is checked.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qxF "$line" "$kdir/.config" || {
			vs_log "config: wanted $line, got: $(grep "^${line%%=*}=" "$kdir/.config" || echo unset)"
			bad=1
		}
		;;
	esac
done < <(cat "${fragments[@]}" | tac |
	awk 'match($0, /^(# )?CONFIG_[A-Za-z0-9_]+/) {
		k = substr($0, RSTART, RLENGTH); sub(/^# /, "", k)
		if (seen[k]++) next
	} { print }' | tac)
[ $bad = 0 ] || vs_die "the config fragment did not apply (see above)"

kmake bzImage modules
kmake rust-analyzer >/dev/null 2>&1 || true
echo "$variant" >"$kdir/.vs-variant"
touch "$kdir/.vs-built"

# Older keys are dead weight (a built tree is a few GiB), but another
# checkout or branch may be using one: keep the newest three trees of
# this variant, this one among them, so that checkouts on different
# kernels do not delete each other's tree on every build, nor a variant's
# build the everyday kernel.
ls -1dt "$VS_CACHE"/kernel/*/linux/.vs-built 2>/dev/null |
	while IFS= read -r built; do
		if [ "$(cat "${built%.vs-built}.vs-variant" 2>/dev/null)" = "$variant" ]; then
			echo "$built"
		fi
	done | tail -n +4 |
	while IFS= read -r old; do
		old=${old%/linux/.vs-built}
		[ "$old" = "$VS_CACHE/kernel/$key" ] || rm -rf "$old"
	done
# A tree whose build never finished (interrupted) is never used again.
for old in "$VS_CACHE"/kernel/*/; do
	old=${old%/}
	[ -f "$old/linux/.vs-built" ] || [ "$old" = "$VS_CACHE/kernel/$key" ] ||
		rm -rf "$old"
done
echo "$kdir"

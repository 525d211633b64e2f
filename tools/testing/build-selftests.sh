#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the in-guest selftests (tools/testing/selftests/drivers/
# virtio_suspend, static) against the guest kernel tree KSRC, cached
# under $VS_CACHE/selftests/<key>, and make OUT a symlink to them.  The
# key hashes the directory's files (not its subdirectories: the test
# modules Kbuild builds there), KSRC (itself a keyed path), the compiler
# and this script.  make alone would rebuild every binary in a fresh
# clone, as CI's, whose sources are all newer than any output: 15 s of
# CPU of each make check.
#
#   build-selftests.sh KSRC OUT [MAKE-ARG...]
#
# The make arguments (-jN) go to the build; run from make, it shares
# make's jobserver.
set -euo pipefail
. "$(dirname "$0")/../env.sh"

[ $# -ge 2 ] || vs_die "usage: build-selftests.sh KSRC OUT [MAKE-ARG...]"
ksrc=$1
out=$2
shift 2
src=$VS_TOP/tools/testing/selftests/drivers/virtio_suspend
root=$VS_CACHE/selftests
# Key directories kept, the most recently used.
KEEP=4

[ -d "$ksrc" ] || vs_die "$ksrc: no kernel tree: run 'make kernel'"
sources=$(cd "$src" && find . -maxdepth 1 -type f -print0 | LC_ALL=C sort -z |
	xargs -0 sha256sum)
key=$(vs_key "$0" "KSRC=$ksrc" "$(${CC:-cc} --version | head -n 1)" "$sources")
bdir=$root/$key

if [ ! -f "$bdir/.vs-built" ]; then
	mkdir -p "$root"
	exec 9>"$root/.lock"
	flock 9
	# Another build may have finished while this one waited.
	if [ ! -f "$bdir/.vs-built" ]; then
		rm -rf "$bdir"
		make "$@" -C "$src" KSRC="$ksrc" OUTPUT="$bdir"
		# What they were built from, for the runner's check that a
		# scenario's binaries are those of the checkout's sources
		# (tools/runner/vsrun/initramfs.py).
		echo "$sources" >"$bdir/.vs-sources"
		touch "$bdir/.vs-built"
	fi
	# The oldest keys go (not the one just built).
	ls -1dt "$root"/*/ | tail -n +$((KEEP + 1)) | while read -r old; do
		[ "${old%/}" = "$bdir" ] || rm -rf "$old"
	done
	exec 9>&-
fi
touch "$bdir"
mkdir -p "$(dirname "$out")"
# A directory from before the cache (a real one) gives way.
[ -L "$out" ] || rm -rf "$out"
ln -sfn "$bdir" "$out"

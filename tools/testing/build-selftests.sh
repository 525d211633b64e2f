#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the in-guest selftests (tools/testing/selftests/drivers/
# virtio_suspend, static) against the guest kernel tree KSRC, cached
# under $VS_CACHE/selftests/<key>, and copy them to OUT.  make alone
# would rebuild every binary in a fresh clone, as CI's, whose sources are
# all newer than any output: 15 s of CPU of each make check.
#
#   build-selftests.sh KSRC OUT [MAKE-ARG...]
#
# The key hashes the directory's files (not its subdirectories: the test
# modules Kbuild builds there), KSRC (itself a keyed path), the compiler
# and this script.  The build reads a copy of those files taken when they
# were hashed, so a source saved during the build cannot end up in a key
# it does not belong to.  OUT gets copies, not a link into the cache: a
# build that writes there (an older Makefile's OUTPUT) cannot change the
# cache, and pruning the cache cannot pull binaries from under a run.
# Beside the binaries, .vs-sources lists the sha256 of each file they
# were built from: the runner refuses them if the checkout's files differ
# (tools/runner/vsrun/initramfs.py).
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
mkdir -p "$root"
snap=$(mktemp -d "$root/.src-XXXXXX")
trap 'rm -rf "$snap"' EXIT
find "$src" -maxdepth 1 -type f -exec cp -p {} "$snap" \;
sources=$(cd "$snap" && find . -maxdepth 1 -type f -print0 | LC_ALL=C sort -z |
	xargs -0 sha256sum)
key=$(vs_key "$0" "KSRC=$ksrc" "$(${CC:-cc} --version | head -n 1)" "$sources")
bdir=$root/$key

exec 9>"$root/.lock"
flock 9
if [ ! -f "$bdir/.vs-built" ]; then
	rm -rf "$bdir" "$bdir.tmp"
	make "$@" -C "$snap" KSRC="$ksrc" OUTPUT="$bdir.tmp"
	echo "$sources" >"$bdir.tmp/.vs-sources"
	echo "$key" >"$bdir.tmp/.vs-key"
	touch "$bdir.tmp/.vs-built"
	mv "$bdir.tmp" "$bdir"
	# The oldest keys go (not the one just built).
	ls -1dt "$root"/*/ | tail -n +$((KEEP + 1)) | while read -r old; do
		[ "${old%/}" = "$bdir" ] || rm -rf "$old"
	done
fi
touch "$bdir"
if [ "$(cat "$out/.vs-key" 2>/dev/null)" != "$key" ]; then
	mkdir -p "$(dirname "$out")"
	rm -rf "$out.new"
	cp -a "$bdir" "$out.new"
	# A link into the cache (this script's first version) or an older
	# build gives way.
	rm -rf "$out"
	mv "$out.new" "$out"
fi

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The guest-kernel patches as a series to post: numbered, after the cover
# letter that Documentation/kernel-patches.rst holds, each checked.
#
#   series.sh [--out DIR]           write DIR/0000-cover-letter.patch and
#                                   the numbered patches, run checkpatch
#   series.sh --bisect [--out DIR]  also build the kernel after each patch
#                                   (about 10 min, then a few per patch)
#
# checkpatch must find no error and no warning but those the cover letter
# accounts for (ACCEPTED below). --bisect applies the patches one at a
# time to Debian's linux-source-6.12, in a tree of its own under
# $VS_CACHE/kernel-series, and builds bzImage and modules after each with
# the guest kernel's .config (options a later patch adds are dropped
# until it comes): the series is bisectable if every step builds.
set -euo pipefail
. "$(dirname "$0")/../env.sh"

here=$VS_TOP/tools/kernel
out=$VS_CACHE/kernel-series/out
bisect=0
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--bisect) bisect=1; shift ;;
	*) vs_die "usage: series.sh [--bisect] [--out DIR]" ;;
	esac
done

# Warnings a posted series may carry, each with why (the cover letter
# says the same): new files, which a MAINTAINERS entry would list once
# the series is taken; the readX()/writeX() helpers, declared as the C
# accessors are (upstream's rust/helpers/io.c has the same lines); a
# trace in 0004's message of a bug no single commit introduced.
ACCEPTED='does MAINTAINERS need updating|Use of volatile is usually wrong|perhaps it also needs a .Fixes:. tag'

kdir=$("$here/build.sh")
mapfile -t patches < <(ls "$here"/patches/*.patch)
n=${#patches[@]}
rm -rf "$out"
mkdir -p "$out"

# The cover letter: the text between the markers of kernel-patches.rst.
doc=$VS_TOP/Documentation/kernel-patches.rst
subject=$(sed -n 's/^\.\. cover-subject: //p' "$doc")
[ -n "$subject" ] || vs_die "$doc: no '.. cover-subject:' line"
{
	echo "From: virtio-suspend developers <virtio-suspend@localhost>"
	echo "Subject: [PATCH 0/$n] $subject"
	echo
	sed -n '/^\.\. cover-begin$/,/^\.\. cover-end$/p' "$doc" | sed '1d;$d' | sed '/./,$!d'
	for p in "${patches[@]}"; do
		sed -n '/^Subject: /{s/^Subject: \[PATCH[^]]*\] //;N;s/\n / /;s/\n.*//;p;q}' "$p"
	done | nl -w2 -s'. '
	echo
	echo "-- "
} >"$out/0000-cover-letter.patch"

fail=0
i=0
for p in "${patches[@]}"; do
	i=$((i + 1))
	dst=$out/$(basename "$p")
	sed "0,/^Subject: \[PATCH[^]]*\]/s//Subject: [PATCH $i\/$n]/" "$p" >"$dst"
	report=$("$kdir/scripts/checkpatch.pl" --no-tree "$dst" 2>&1 || true)
	unexpected=$(echo "$report" | grep -E '^(ERROR|WARNING):' |
		grep -Ev "$ACCEPTED" || true)
	if [ -n "$unexpected" ]; then
		echo "not ok $i $(basename "$p"): checkpatch"
		echo "$unexpected" | sed 's/^/#   /'
		fail=1
	else
		echo "ok $i $(basename "$p"): checkpatch ($(echo "$report" |
			sed -n 's/^total: //p'))"
	fi
done

if [ $bisect = 1 ]; then
	tree=$VS_CACHE/kernel-series/linux
	rm -rf "$VS_CACHE/kernel-series/src"
	mkdir -p "$VS_CACHE/kernel-series/src"
	tar -C "$VS_CACHE/kernel-series/src" -xf /usr/src/linux-source-6.12.tar.xz
	rm -rf "$tree"
	mv "$VS_CACHE/kernel-series/src/linux-source-6.12" "$tree"
	rmdir "$VS_CACHE/kernel-series/src"
	i=0
	for p in "${patches[@]}"; do
		i=$((i + 1))
		patch -d "$tree" -p1 -s --no-backup-if-mismatch <"$p" ||
			vs_die "$(basename "$p") does not apply"
		cp "$kdir/.config" "$tree/.config"
		# shellcheck disable=SC2046
		if make -C "$tree" -s -j"$(nproc)" $(vs_kmake_rust_args) \
			olddefconfig bzImage modules >"$out/build-$i.log" 2>&1; then
			echo "ok $i $(basename "$p"): builds"
		else
			echo "not ok $i $(basename "$p"): does not build (tail of $out/build-$i.log)"
			tail -n 20 "$out/build-$i.log" | sed 's/^/#   /'
			fail=1
		fi
	done
fi
echo "series of $n patches in $out"
exit $fail

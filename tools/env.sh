# SPDX-License-Identifier: GPL-2.0
# Shared settings for the project's scripts: sourced, never run.
#
# Every path the pipeline writes outside the checkout lives under
# VS_CACHE, so clearing that one directory forces a cold build.

VS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VS_CACHE=${VS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtio-suspend}

# Debian's rustc-web is the only toolchain kernel code is built with; the
# rustup toolchain first on PATH is another version and has no rust-src.
VS_RUST_VERSION_PREFERRED=1.85.0+dfsg3-1~deb12u3
# VS_RUSTC and VS_USR_SRC (where rust-web-src puts the library sources)
# may be set from outside only so that tools/testing/install can point
# tools/deps.sh at stand-ins.
VS_RUSTC=${VS_RUSTC:-/usr/bin/rustc}
VS_USR_SRC=${VS_USR_SRC:-/usr/src}
VS_RUSTDOC=/usr/bin/rustdoc
VS_RUSTFMT=/usr/bin/rustfmt
VS_CLIPPY_DRIVER=/usr/bin/clippy-driver
VS_BINDGEN_VERSION=0.69.5
VS_BINDGEN=$VS_CACHE/tools/bin/bindgen

VS_LINUX_VERSION_PREFERRED=6.12.117-1~deb12u1

# A script run under set -e that fails on a command nobody checked would
# otherwise end with no word of what failed: name the script, the line and
# the command.  Only for scripts (set -e on), not for a shell that merely
# sources this file (the Makefile's $(shell ...)).
vs_on_error() {
	echo "virtio-suspend: ${2##*/}:$3: '$4' failed (exit $1)" >&2
}
if [[ $- == *e* ]]; then
	set -E
	trap 'vs_on_error $? "${BASH_SOURCE[0]}" "$LINENO" "$BASH_COMMAND"' ERR
fi

vs_die() {
	echo "virtio-suspend: $*" >&2
	exit 1
}

vs_log() {
	echo "virtio-suspend: $*" >&2
}

# The library sources that match the pinned compiler.
vs_rust_lib_src() {
	local ver
	ver=$("$VS_RUSTC" --version | awk '{print $2}')
	echo "$VS_USR_SRC/rustc-$ver/library"
}

# Make variables that point the kernel build at Debian's toolchain.
vs_kmake_rust_args() {
	echo "RUSTC=$VS_RUSTC RUSTDOC=$VS_RUSTDOC RUSTFMT=$VS_RUSTFMT" \
	     "CLIPPY_DRIVER=$VS_CLIPPY_DRIVER BINDGEN=$VS_BINDGEN" \
	     "RUST_LIB_SRC=$(vs_rust_lib_src) HOSTRUSTC=$VS_RUSTC"
}

# Applies every patch of directory $1, in order, to the tree $2; $3 names
# the tree in the error message.
vs_apply_patches() {
	local p
	for p in "$1"/*.patch; do
		[ -e "$p" ] || continue
		vs_log "applying $(basename "$p")"
		patch -d "$2" -p1 -s --no-backup-if-mismatch <"$p" ||
			vs_die "patch $(basename "$p") does not apply to $3"
	done
}

# A short hash of files and strings: the key of a cached artefact.
vs_key() {
	local item
	for item in "$@"; do
		if [ -d "$item" ]; then
			(cd "$item" && find . -type f -print0 | LC_ALL=C sort -z |
				xargs -0 -r sha256sum)
		elif [ -f "$item" ]; then
			sha256sum <"$item"
		else
			echo "$item"
		fi
	done | sha256sum | cut -c1-16
}

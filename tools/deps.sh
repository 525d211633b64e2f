#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install what the pipeline needs from Debian and crates.io.  Idempotent:
# once everything is there it checks and returns in about a second.
set -euo pipefail
. "$(dirname "$0")/env.sh"

APT_PACKAGES=(
	libclang-dev flex bison bc libelf-dev libssl-dev cpio busybox-static
	qemu-system-x86 xz-utils lz4 gcc make libc6-dev python3 git kmod
	dpkg-dev meson ninja-build pkg-config libglib2.0-dev libpixman-1-dev
	libfdt-dev libslirp-dev zlib1g-dev libcap-ng-dev gnuplot-nox
	libseccomp-dev patch
)
RUST_PACKAGES=(rustc-web rust-web-src libstd-rust-web-dev rust-web-clippy
	       rustfmt-web)

need_root() {
	[ "$(id -u)" = 0 ] || vs_die "installing packages needs root: run 'sudo make deps'"
}

# The installed version of package $1, empty when it is not installed.
# Never fails: dpkg-query exits non-zero for a package it has never seen,
# and a failing assignment would end the script under set -e.
installed_version() {
	local st
	st=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null) ||
		return 0
	printf '%s\n' "$st" | sed -n 's/^ii *//p'
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
	[ -n "$(installed_version "$p")" ] || missing+=("$p")
done
[ -n "$(installed_version linux-source-6.12)" ] || missing+=(linux-source-6.12)

rust_ver=""
for p in "${RUST_PACKAGES[@]}"; do
	v=$(installed_version "$p")
	if [ -z "$v" ] || { [ -n "$rust_ver" ] && [ "$v" != "$rust_ver" ]; }; then
		rust_ver=mismatch
		break
	fi
	rust_ver=$v
done

if [ ${#missing[@]} -gt 0 ] || [ "$rust_ver" = mismatch ]; then
	need_root
	export DEBIAN_FRONTEND=noninteractive
	vs_log "apt-get update"
	apt-get update -qq || vs_die "apt-get update failed"

	# Prefer the Rust version the project is tested with; the archive may
	# have dropped it, so fall back to the newest and say which.
	rv=$VS_RUST_VERSION_PREFERRED
	if ! apt-cache madison rustc-web | awk '{print $3}' | grep -qxF "$rv"; then
		rv=$(apt-cache policy rustc-web | awk '/Candidate:/ {print $2}')
		[ -n "$rv" ] && [ "$rv" != "(none)" ] ||
			vs_die "missing package: rustc-web (no version in the apt sources)"
		vs_log "rustc-web $VS_RUST_VERSION_PREFERRED is gone from the archive; using $rv"
	fi
	pins=()
	for p in "${RUST_PACKAGES[@]}"; do
		pins+=("$p=$rv")
	done

	lv=$VS_LINUX_VERSION_PREFERRED
	if ! apt-cache madison linux-source-6.12 | awk '{print $3}' | grep -qxF "$lv"; then
		lv=$(apt-cache policy linux-source-6.12 | awk '/Candidate:/ {print $2}')
		[ -n "$lv" ] && [ "$lv" != "(none)" ] ||
			vs_die "missing package: linux-source-6.12 (needs bookworm-security in the apt sources)"
		vs_log "linux-source-6.12 $VS_LINUX_VERSION_PREFERRED is gone from the archive; using $lv"
	fi

	for p in "${APT_PACKAGES[@]}"; do
		apt-cache show "$p" >/dev/null 2>&1 ||
			vs_die "missing package: $p (not in the apt sources)"
	done
	vs_log "apt-get install ${missing[*]} ${pins[*]}"
	apt-get install -y -qq --no-install-recommends --allow-downgrades \
		"${APT_PACKAGES[@]}" "${pins[@]}" "linux-source-6.12=$lv" \
		>/dev/null || vs_die "apt-get install failed (see the lines above)"
fi

[ -x "$VS_RUSTC" ] || vs_die "missing $VS_RUSTC after install (package rustc-web)"
[ -d "$(vs_rust_lib_src)" ] ||
	vs_die "missing $(vs_rust_lib_src) (package rust-web-src at the rustc version)"

if ! "$VS_BINDGEN" --version 2>/dev/null | grep -qF "$VS_BINDGEN_VERSION"; then
	command -v cargo >/dev/null || vs_die "missing cargo (needed to install bindgen-cli)"
	vs_log "cargo install bindgen-cli $VS_BINDGEN_VERSION"
	cargo install -q bindgen-cli --version "$VS_BINDGEN_VERSION" --locked \
		--root "$VS_CACHE/tools" ||
		vs_die "cargo install bindgen-cli $VS_BINDGEN_VERSION failed"
fi

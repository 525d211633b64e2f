# SPDX-License-Identifier: GPL-2.0
# Debian source packages for the build scripts (tools/qemu, tools/fio):
# sourced after env.sh, never run.
#
# Kept out of env.sh on purpose: env.sh is an input of the kernel's and
# QEMU's cache keys, and nothing here changes what either build produces.

VS_DEB_SRC=/etc/apt/sources.list.d/virtio-suspend-deb-src.sources

vs_need_root() {
	[ "$(id -u)" = 0 ] || vs_die "$* needs root: run 'sudo make deps' first"
}

# Debian's deb-src entries are off by default; apt-get source needs them.
# Returns 0 if it added them, 1 if they were there already.
vs_add_deb_src() {
	[ -f "$VS_DEB_SRC" ] && return 1
	vs_need_root "adding $VS_DEB_SRC"
	vs_log "adding the bookworm deb-src entries ($VS_DEB_SRC)"
	cat >"$VS_DEB_SRC" <<-EOT
		Types: deb-src
		URIs: http://deb.debian.org/debian
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb-src
		URIs: http://deb.debian.org/debian-security
		Suites: bookworm-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOT
	return 0
}

# apt-get update; two build scripts running at once take turns (apt's
# lists lock refuses a second update instead of waiting).
vs_apt_update() {
	vs_need_root "apt-get update"
	vs_log "apt-get update"
	mkdir -p "$VS_CACHE"
	(
		flock 8
		apt-get update -qq
	) 8>"$VS_CACHE/.apt-update.lock" || vs_die "apt-get update failed"
}

# The deb-src entries, and their lists fetched once when just added.
vs_ensure_deb_src() {
	if vs_add_deb_src; then
		vs_apt_update
	fi
}

# Fetches Debian's source package $1 at version $2 into directory $3,
# with Debian's patches applied (dpkg-source), once: $3/.vs-ok marks a
# complete tree.  $4 is a file every tree of the package has, to tell a
# source tree from a failed unpack.
vs_fetch_deb_source() {
	local pkg=$1 ver=$2 dest=$3 marker=$4 fetch_dir unpacked
	[ -f "$dest/.vs-ok" ] && return 0
	vs_log "fetching Debian's $pkg $ver source"
	fetch_dir=$(dirname "$dest")/fetch
	rm -rf "$dest" "$fetch_dir"
	mkdir -p "$fetch_dir"
	if ! (cd "$fetch_dir" && apt-get source -qq -o APT::Sandbox::User=root \
		"$pkg=$ver" >/dev/null); then
		vs_apt_update
		rm -rf "$fetch_dir" && mkdir -p "$fetch_dir"
		(cd "$fetch_dir" && apt-get source -qq -o APT::Sandbox::User=root \
			"$pkg=$ver" >/dev/null) ||
			vs_die "apt-get source $pkg=$ver failed"
	fi
	unpacked=$(find "$fetch_dir" -mindepth 1 -maxdepth 1 -type d -name "$pkg-*")
	[ -n "$unpacked" ] && [ -e "$unpacked/$marker" ] ||
		vs_die "apt-get source $pkg=$ver left no source tree"
	mv "$unpacked" "$dest"
	rm -rf "$fetch_dir"
	touch "$dest/.vs-ok"
}

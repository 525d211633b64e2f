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

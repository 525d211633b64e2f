#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Run QEMU's own qtests that cover virtio against the patched QEMU that
# build.sh builds (the virtio-pci devices of -M pc and q35: their
# transport, queues and status writes go through the virtio core our
# patches change).
#
#   qtest.sh        build the qtest binaries if needed, run the paths
#   qtest.sh -l     list the selected paths ("binary<TAB>path"), run nothing
#   qtest.sh [-l] QEMU
#                   the same against QEMU, a qemu-system-x86_64 in another
#                   build tree whose tests/qtest binaries are built (an
#                   unpatched or deliberately broken copy): nothing built
#
# The qtest binaries are built incrementally in build.sh's build
# directory (ninja, under build.sh's lock); the first run compiles them,
# later runs find them up to date.  The selected paths of one binary run
# in one process, in the binary's order, as QEMU's "make check" runs
# them (failover-virtio-net/migrate/*/in reads the stream that .../out
# wrote); a path that aborts the process or prints nothing for
# VS_QTEST_TIMEOUT seconds (default 120) fails, and the process is
# started again for the paths after it.  Output is TAP on stdout:
#
#   1..N
#   ok 1 - /x86_64/pc/.../virtio-net-tests/basic
#   not ok 2 - /x86_64/... (why)    followed by "#   " lines: its output
#   ok 3 - /x86_64/... # SKIP reason
#   N passed, N failed, N skipped
#
# The exit status is 0 when every path passed, 1 when one failed or was
# skipped or none was found.  Build messages go to stderr.
set -euo pipefail
. "$(dirname "$0")/../env.sh"

list_only=0
if [ "${1:-}" = -l ]; then
	list_only=1
	shift
fi
[ $# -le 1 ] && [[ "${1:-}" != -* ]] || vs_die "usage: qtest.sh [-l] [QEMU]"
other=${1:-}

# The qtest binaries, in the order they run.  qos-test holds the device
# tests (virtio-blk/net/rng/scsi/serial/iommu/balloon/9p, vhost-user); the
# other two test virtio devices only.  Not built by build.sh's configure:
# vhost-user-blk-test (needs qemu-storage-daemon, --disable-tools).
TESTS=(qos-test virtio-net-failover fuzz-virtio-scsi-test)

# A path of qos-test is selected when it names a virtio device: it
# contains "virtio" or "vhost" (vhost-user-gpio-pci is a virtio device
# too).  Every path of the other binaries is selected
# (fuzz-virtio-scsi-test's one path, /x86_64/fuzz/..., names no device).
SELECT='virtio|vhost'

# Selected paths left out: "regex reason", the regex matched against the
# whole path.  Each needs its reason.  None at present.
EXCLUDE=()

# failover-virtio-net's abort paths race migrate_cancel against the
# migration and skip ("Failed to cancel the migration") when the
# migration completes first, upstream's own verdict for that outcome,
# which a loaded machine makes likely (seen in a cold make check): it
# says nothing of the device.  Such a path runs again, alone, up to
# RACE_RUNS times in all; a skip after that counts as any skip.
RACE_SKIP='Failed to cancel the migration'
RACE_RUNS=${VS_QTEST_RACE_RUNS:-4}

# Seconds a test may print nothing (TCG on a loaded machine).
IDLE_TIMEOUT=${VS_QTEST_TIMEOUT:-120}

if [ -n "$other" ]; then
	binary=$(realpath "$other")
	build=$(dirname "$binary")
	for t in "${TESTS[@]}"; do
		[ -x "$build/tests/qtest/$t" ] ||
			vs_die "$build/tests/qtest/$t: not built"
	done
else
	binary=$(bash "$VS_TOP/tools/qemu/build.sh")
	build=$(dirname "$binary")
	bdir=$(dirname "$build")

	# build.sh holds this lock while it builds and deletes older build
	# trees: building our targets takes it exclusively, running the
	# tests keeps it shared so that no build.sh removes the tree
	# meanwhile.
	exec 9>"$(dirname "$bdir")/.lock"
	flock 9
	[ -f "$bdir/.vs-built" ] ||
		vs_die "$bdir was removed meanwhile: run again"

	# ninja: up to date in about a second once built.
	targets=() missing=0
	for t in "${TESTS[@]}"; do
		targets+=("tests/qtest/$t")
		[ -x "$build/tests/qtest/$t" ] || missing=1
	done
	start=$SECONDS
	[ "$missing" = 0 ] ||
		vs_log "building ${TESTS[*]} in $build (once)"
	ninja -C "$build" "${targets[@]}" >"$build/qtest-ninja.log" 2>&1 || {
		grep -E -B2 -A8 'error:|FAILED' "$build/qtest-ninja.log" | head -n 60
		vs_die "building the qtests failed (log: $build/qtest-ninja.log)"
	}
	[ "$missing" = 0 ] ||
		vs_log "built the qtests in $((SECONDS - start)) s"
	# Not atomic: a build.sh may have had the lock in between.
	flock -s 9
	[ -f "$bdir/.vs-built" ] ||
		vs_die "$bdir was removed meanwhile: run again"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin" "$tmp/cwd"

# The firmware is Debian's (see build.sh), in the directories of Debian's
# --firmwarepath: SeaBIOS for -M pc and q35, iPXE option ROMs for the
# network cards.  libqtest takes the architecture from the text after
# the last "-" of QTEST_QEMU_BINARY, so the options go into a wrapper of
# the same name.
printf '#!/bin/sh\nexec %q -L /usr/share/qemu -L /usr/share/seabios -L /usr/lib/ipxe/qemu "$@"\n' \
	"$binary" >"$tmp/bin/qemu-system-x86_64"
chmod +x "$tmp/bin/qemu-system-x86_64"
export QTEST_QEMU_BINARY=$tmp/bin/qemu-system-x86_64

# Every selected path as "binary<TAB>path", in the binaries' order.
selected=()
for t in "${TESTS[@]}"; do
	list=$("$build/tests/qtest/$t" -l) || vs_die "$t -l failed"
	while IFS= read -r p; do
		[[ "$p" == /* ]] || continue
		[ "$t" != qos-test ] || [[ "$p" =~ $SELECT ]] || continue
		for x in "${EXCLUDE[@]}"; do
			[[ "$p" =~ ^(${x%% *})$ ]] && continue 2
		done
		selected+=("$t"$'\t'"$p")
	done <<<"$list"
done

if [ "$list_only" = 1 ]; then
	printf '%s\n' "${selected[@]}"
	exit 0
fi

# result[path]: ok, fail or "skip <reason>"; detail[path]: the output
# the path printed (for a failure).
declare -A result=() detail=()

# Reads the TAP output of one run: glib prints "ok 1 /path",
# "ok 1 /path # SKIP why", "not ok 1 /path[ - message]"; the lines before
# a result are that path's output.  What follows the last result is left
# in $rest.
parse() {
	local line p seg=""
	while IFS= read -r line; do
		if [[ "$line" =~ ^(not\ )?ok\ [0-9]+\ (/[^ ]*)(.*)$ ]]; then
			p=${BASH_REMATCH[2]}
			if [ -n "${BASH_REMATCH[1]}" ]; then
				result[$p]=fail
			elif [[ "${BASH_REMATCH[3]}" =~ ^\ \#\ SKIP\ ?(.*)$ ]]; then
				result[$p]="skip ${BASH_REMATCH[1]}"
			else
				result[$p]=ok
			fi
			detail[$p]=$seg$line
			seg=""
		else
			seg+=$line$'\n'
		fi
	done <"$1"
	rest=$seg
}

# Runs the paths $2... of binary $1 until each has a result.
run_paths() {
	local t=$1 p pid rc idle size new why culprit
	shift
	local todo=("$@") next args
	while [ ${#todo[@]} -gt 0 ]; do
		args=()
		for p in "${todo[@]}"; do
			args+=(-p "$p")
		done
		# setsid: the test and its QEMUs form one process group,
		# killed as a whole on a hang.
		(cd "$tmp/cwd" && exec setsid "$build/tests/qtest/$t" --tap -k "${args[@]}") \
			>"$tmp/out" 2>&1 &
		pid=$!
		idle=0 size=0 why=""
		while kill -0 "$pid" 2>/dev/null; do
			sleep 1
			new=$(stat -c %s "$tmp/out")
			if [ "$new" != "$size" ]; then
				size=$new idle=0
			elif [ $((idle += 1)) -ge "$IDLE_TIMEOUT" ]; then
				why="no output for $IDLE_TIMEOUT s: killed"
				kill -KILL -- "-$pid" 2>/dev/null || true
				break
			fi
		done
		rc=0
		wait "$pid" || rc=$?
		# QEMUs an aborted test left behind.
		kill -KILL -- "-$pid" 2>/dev/null || true
		[ -n "$why" ] || why="exit status $rc"

		parse "$tmp/out"
		# The first path without a result was running when the
		# process ended; the ones after it run again.
		next=() culprit=""
		for p in "${todo[@]}"; do
			[ -z "${result[$p]+set}" ] || continue
			if [ -n "$culprit" ]; then
				next+=("$p")
			elif [ "$rc" != 0 ] || [ -n "${why#exit status *}" ]; then
				culprit=$p
				result[$p]="fail $why"
				detail[$p]=$rest
			else
				result[$p]="fail no result (exit status 0)"
				detail[$p]=$rest
			fi
		done
		todo=("${next[@]}")
	done
}

n=${#selected[@]}
echo "1..$n"
if [ "$n" = 0 ]; then
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

passed=0 failed=0 skipped=0 i=0
for t in "${TESTS[@]}"; do
	paths=()
	for entry in "${selected[@]}"; do
		[ "${entry%%$'\t'*}" != "$t" ] || paths+=("${entry#*$'\t'}")
	done
	[ ${#paths[@]} -gt 0 ] || continue
	run_paths "$t" "${paths[@]}"
	for p in "${paths[@]}"; do
		for ((run = 1; run < RACE_RUNS; run++)); do
			[ "${result[$p]}" = "skip $RACE_SKIP" ] || break
			vs_log "$p: skipped (${RACE_SKIP}): running it again"
			unset "result[$p]"
			run_paths "$t" "$p"
		done
	done
	for p in "${paths[@]}"; do
		i=$((i + 1))
		case "${result[$p]}" in
		ok)
			echo "ok $i - $p"
			passed=$((passed + 1))
			;;
		skip*)
			echo "ok $i - $p # SKIP${result[$p]#skip}"
			skipped=$((skipped + 1))
			;;
		*)
			why=${result[$p]#fail}
			echo "not ok $i - $p${why:+ (${why# })}"
			printf '%s\n' "${detail[$p]}" | tail -n 30 | sed 's/^/#   /'
			failed=$((failed + 1))
			;;
		esac
	done
done
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$failed" != 0 ] || [ "$skipped" != 0 ]; then
	exit 1
fi

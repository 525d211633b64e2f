#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the test initramfs.  The host runner (run.py) passes the
# scenario on the kernel command line; the kernel hands parameters it does
# not know to init as environment variables:
#
#   vs_modules=a,b   modules to modprobe, in order
#   vs_tests=x,y     kselftest binaries to run from /selftests
#   vs_report=1      print the demo report after the tests
#   vs_shell=1       drop to a shell instead of powering off
#   VS_*             passed through to the tests
#
# Lines the runner reads start with "vs-runner:".

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
echo "vs-runner: init $(uname -r)"

# Uptime in hundredths of a second.
uptime_cs() {
	read -r up _ < /proc/uptime
	echo "${up%.*}${up#*.}" | sed 's/^0*//;s/^$/0/'
}

# kmemleak (CONFIG_DEBUG_KMEMLEAK, no automatic scan): after the tests,
# scan twice, as kmemleak needs to be sure, and print the report, each
# line as "vs-kmemleak: ...".  It reports only objects older than 5 s,
# so the second scan waits until the tests ended 5 s ago.  The runner
# fails the scenario on any unreferenced object, and on a kernel built
# with kmemleak where this reports no scan.
kmemleak_check() {
	f=/sys/kernel/debug/kmemleak
	if [ ! -e $f ]; then
		echo "vs-runner: kmemleak missing"
		return
	fi
	end=$(uptime_cs)
	if ! echo scan > $f; then
		echo "vs-runner: error: kmemleak scan failed"
		return
	fi
	wait_cs=$((end + 510 - $(uptime_cs)))
	if [ $wait_cs -gt 0 ]; then
		sleep "$((wait_cs / 100)).$(printf %02d $((wait_cs % 100)))"
	fi
	if ! echo scan > $f; then
		echo "vs-runner: error: kmemleak scan failed"
		return
	fi
	sed 's/^/vs-kmemleak: /' $f
	echo "vs-runner: kmemleak scanned"
}

# Device accounting: for each device on our transport, where it sits
# (the base of its virtio-mmio slot, or the PCI address of the root port
# it is behind), the module's sysfs counters and state, and its disk if
# it is one, as "vs-runner: vdev virtioN key=mmio:feb00e00 dialect=spec
# suspends=3 ... state=running disk=vda".  The runner compares them with
# what QEMU counted for the same device, and lets block I/O fail on the
# disk of a device the scenario breaks on purpose.
vdev_report() {
	# Shell builtins only: each fork and exec costs TCG tens of ms, and
	# this runs for every device of every guest.
	for d in /sys/bus/virtio/devices/virtio*; do
		[ -d "$d/suspend" ] || continue
		cd -P "$d" || continue
		path=$PWD
		cd /
		case "$path" in
		*/pci0000:00/0000:00:*)
			port=${path#*/pci0000:00/0000:00:}
			key=pci:${port%%/*}
			;;
		*)
			parent=${path%/*}
			parent=${parent##*/}
			base=
			while read -r range _ name; do
				if [ "$name" = "$parent" ]; then
					base=${range%%-*}
					break
				fi
			done < /proc/iomem
			while [ "${base#0}" != "$base" ]; do
				base=${base#0}
			done
			if [ -n "$base" ]; then
				key=mmio:$base
			else
				key="?($path)"
			fi
			;;
		esac
		line="vdev ${d##*/} key=$key"
		for f in dialect suspends resumes fallbacks timeouts needs_reset state; do
			v=
			[ -r "$d/suspend/$f" ] && read -r v < "$d/suspend/$f"
			line="$line $f=$v"
		done
		for b in "$d"/block/*; do
			[ -e "$b" ] && line="$line disk=${b##*/}"
			break
		done
		echo "vs-runner: $line"
	done
	# The runner reads QEMU's counters now: the kmemleak scans that
	# follow leave it at least 5 s before the shutdown resets every
	# device (without kmemleak, wait here).
	echo "vs-runner: accounting"
	[ -e /sys/kernel/debug/kmemleak ] || sleep 3
}

# KCSAN (the kernel of make check-kcsan): its counters on one line,
# "vs-runner: kcsan enabled=1 setup_watchpoints=N data_races=N ...": the
# runner fails a scenario whose KCSAN never set up a watchpoint, and
# prints what it watched.
kcsan_report() {
	f=/sys/kernel/debug/kcsan
	[ -e $f ] || return 0
	echo "vs-runner: kcsan $(sed -n 's/^\([a-z_]*\): \(-*[0-9]*\)$/\1=\2/p' $f |
		tr '\n' ' ')"
}

finish() {
	vdev_report
	kcsan_report
	kmemleak_check
	echo "vs-runner: done"
	if [ "${vs_shell:-0}" = 1 ]; then
		setsid cttyhack sh
	fi
	# QEMU runs with -no-reboot, so a reboot ends it; unlike poweroff,
	# that works with ACPI off too (reboot=t: triple fault).
	reboot -f
}

# A full test run must not be slowed down by 5 s of pm_test delay per cycle.
echo 0 > /sys/module/suspend/parameters/pm_test_delay 2>/dev/null
echo 1 > /sys/power/pm_print_times 2>/dev/null

# With ACPI off, QEMU microvm describes its virtio-mmio slots on the
# command line for the C driver (virtio_mmio.device=); hand the same
# slots to ours through its device= parameter.
cmdline_devices() {
	tr ' ' '\n' < /proc/cmdline | sed -n 's/^virtio_mmio\.device=//p' |
		tr '\n' ',' | sed 's/,$//'
}

for m in $(echo "${vs_modules:-}" | tr ',' ' '); do
	args=""
	if [ "$m" = virtio_suspend ] && [ "${VS_MMIO_FROM_CMDLINE:-0}" = 1 ]; then
		args="device=$(cmdline_devices)"
	fi
	echo "vs-runner: modprobe $m $args"
	if ! modprobe "$m" $args; then
		echo "vs-runner: error: modprobe $m failed"
		finish
	fi
done

# Devices bind asynchronously after the transport probes.
for dev in $(echo "${VS_WAIT_DEVICES:-}" | tr ',' ' '); do
	i=0
	while [ ! -e "$dev" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "$dev" ] || echo "vs-runner: warning: $dev did not appear"
done

for t in $(echo "${vs_tests:-}" | tr ',' ' '); do
	echo "vs-runner: test-begin $t"
	/selftests/"$t"
	echo "vs-runner: test-end $t rc=$?"
done

# make bench: VS_BENCH=latency:all:200,system:50 runs vs_bench with each
# item's fields as arguments.
for b in $(echo "${VS_BENCH:-}" | tr ',' ' '); do
	echo "vs-runner: bench $b"
	# shellcheck disable=SC2046
	/selftests/vs_bench $(echo "$b" | tr ':' ' ') ||
		echo "vs-runner: error: vs_bench $b failed"
done

if [ "${vs_report:-0}" = 1 ]; then
	/report.sh
fi
finish

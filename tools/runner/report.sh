#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The demo report, printed by the guest on "vs-report:" lines after its
# tests: what each virtio device is bound to, what it negotiated, which
# sleep path it took, and how long one s2idle device cycle took.

dmesg -c >/dev/null
echo devices > /sys/power/pm_test
echo freeze > /sys/power/state || echo "vs-report: error s2idle cycle failed"

for d in /sys/bus/virtio/devices/*; do
	[ -e "$d" ] || continue
	name=${d##*/}
	drv=$(readlink "$d/driver")
	transport=$(readlink "$d/../driver")
	path=classic
	[ -r "$d/suspend/last_path" ] && path=$(cat "$d/suspend/last_path")
	echo "vs-report: device $name id=$(cat "$d/device") driver=${drv##*/}" \
	     "transport=${transport##*/} features=$(cat "$d/features") path=$path"
done

dmesg | sed -n 's/.*PM: \(suspend\|resume\) of devices complete after \([0-9.]*\) msecs.*/vs-report: devices-\1-ms \2/p'

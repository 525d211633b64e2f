#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The demo report, printed by the guest on "vs-report:" lines after its
# tests: what each virtio device is bound to, what it negotiated, which
# sleep path it took, and how long one s2idle device cycle took.

dmesg -c >/dev/null
# The PM core reports its phase times as debug messages.
echo 1 > /sys/power/pm_debug_messages
echo devices > /sys/power/pm_test
echo freeze > /sys/power/state || echo "vs-report: error s2idle cycle failed"

for d in /sys/bus/virtio/devices/*; do
	[ -e "$d" ] || continue
	name=${d##*/}
	drv=$(readlink "$d/driver")
	transport=$(readlink "$d/../driver")
	s=$d/suspend
	echo "vs-report: device $name id=$(cat "$d/device") driver=${drv##*/}" \
	     "transport=${transport##*/} features=$(cat "$d/features")" \
	     "dialect=$(cat "$s/dialect" 2>/dev/null || echo none)" \
	     "path=$(cat "$s/last_path" 2>/dev/null | tr ' ' '_' || echo classic)" \
	     "suspend_us=$(cat "$s/last_suspend_us" 2>/dev/null || echo -)" \
	     "resume_us=$(cat "$s/last_resume_us" 2>/dev/null || echo -)"
done

dmesg | sed -n 's/.*PM: \(suspend\|resume\) of devices complete after \([0-9.]*\) msecs.*/vs-report: devices-\1-ms \2/p'

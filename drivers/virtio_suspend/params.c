// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters of virtio_suspend.
 *
 * The 6.12 Rust module! macro cannot declare parameters, so they are
 * declared here and the Rust side reads and validates them when the
 * module loads (params.rs); an invalid value refuses the load. Read-only
 * in sysfs: each value is acted on at load or probe, so a later change
 * would silently do nothing.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "params.h"

#define VS_MAX_CMDLINE_DEVICES 8

static char *device[VS_MAX_CMDLINE_DEVICES];
static unsigned int device_count;
module_param_array(device, charp, &device_count, 0444);
MODULE_PARM_DESC(device,
		 "virtio-mmio devices firmware does not describe, comma separated (at most 8): <size>@<base>:<irq>[:<id>]");

static char *suspend = "auto";
module_param(suspend, charp, 0444);
MODULE_PARM_DESC(suspend,
		 "device SUSPEND for system suspend: auto (when the device offers it, default) or off (always reset-based)");

static char *dialect = "spec";
module_param(dialect, charp, 0444);
MODULE_PARM_DESC(dialect,
		 "SUSPEND dialect to negotiate: spec (feature bit 43, default), v5 (draft, bit 42) or stop (draft, bit stop_feature_bit)");

static unsigned int stop_feature_bit;
module_param(stop_feature_bit, uint, 0444);
MODULE_PARM_DESC(stop_feature_bit,
		 "feature bit of the stop dialect, 44 to 49, required with dialect=stop (the draft's 41 is VIRTIO_F_ADMIN_VQ in the merged spec)");

static unsigned int suspend_timeout_ms = 1000;
module_param(suspend_timeout_ms, uint, 0444);
MODULE_PARM_DESC(suspend_timeout_ms,
		 "how long to wait for a device to acknowledge suspend or resume before falling back to reset, 1 to 60000 (default 1000)");

static bool control_classic;
module_param(control_classic, bool, 0444);
MODULE_PARM_DESC(control_classic,
		 "debugfs control file may freeze drivers beside user space (reset-based path), for tests (default N)");

/* The index-th device= entry, or NULL past the last one. */
const char *virtio_suspend_param_device(unsigned int index)
{
	return index < device_count ? device[index] : NULL;
}

const char *virtio_suspend_param_suspend(void)
{
	return suspend;
}

const char *virtio_suspend_param_dialect(void)
{
	return dialect;
}

unsigned int virtio_suspend_param_timeout_ms(void)
{
	return suspend_timeout_ms;
}

unsigned int virtio_suspend_param_stop_feature_bit(void)
{
	return stop_feature_bit;
}

bool virtio_suspend_param_control_classic(void)
{
	return control_classic;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Which transport and which drivers the virtio devices are bound to, as
 * sysfs tells it.
 *
 * Environment: VS_TRANSPORT, the platform driver every virtio device's
 * parent must be bound to ("virtio-mmio" for the C driver); VS_DRIVERS, a
 * comma-separated list of virtio drivers that must each be bound to at
 * least one device.
 */
#include <dirent.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define VIRTIO_DEVICES "/sys/bus/virtio/devices"

TEST(every_device_on_expected_transport)
{
	const char *want = getenv("VS_TRANSPORT");
	char path[PATH_MAX], name[256];
	struct dirent *de;
	int devices = 0;
	DIR *dir;

	if (!want)
		SKIP(return, "VS_TRANSPORT not set");
	dir = opendir(VIRTIO_DEVICES);
	ASSERT_NE(NULL, dir);
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), VIRTIO_DEVICES "/%s/../driver", de->d_name);
		ASSERT_EQ(0, vs_link_name(path, name, sizeof(name)))
			TH_LOG("%s: transport device has no driver", de->d_name);
		EXPECT_STREQ(want, name) TH_LOG("%s", de->d_name);
		devices++;
	}
	closedir(dir);
	ASSERT_LT(0, devices) TH_LOG("no virtio devices");
}

TEST(expected_drivers_bound)
{
	char list[512], path[PATH_MAX], name[256];
	const char *want = getenv("VS_DRIVERS");
	char *drv, *save;

	if (!want)
		SKIP(return, "VS_DRIVERS not set");
	snprintf(list, sizeof(list), "%s", want);
	for (drv = strtok_r(list, ",", &save); drv; drv = strtok_r(NULL, ",", &save)) {
		struct dirent *de;
		int found = 0;
		DIR *dir;

		dir = opendir(VIRTIO_DEVICES);
		ASSERT_NE(NULL, dir);
		while ((de = readdir(dir))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), VIRTIO_DEVICES "/%s/driver", de->d_name);
			if (!vs_link_name(path, name, sizeof(name)) && !strcmp(name, drv))
				found++;
		}
		closedir(dir);
		EXPECT_LT(0, found) TH_LOG("no virtio device is bound to %s", drv);
	}
}

TEST_HARNESS_MAIN

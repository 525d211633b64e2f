// SPDX-License-Identifier: GPL-2.0
/*
 * Which transport and which drivers the virtio devices are bound to, as
 * sysfs tells it.
 *
 * Environment (all required: a scenario that runs this test declares
 * what it gave the guest, so a missing device fails):
 *   VS_TRANSPORT     the platform driver every virtio device's parent must
 *                    be bound to ("virtio-mmio" for the C driver)
 *   VS_DEVICE_COUNT  how many virtio devices there must be
 *   VS_DRIVERS       comma-separated driver[:count] list: how many virtio
 *                    devices each driver must be bound to (count defaults
 *                    to 1); every device must be bound to one of them
 *
 * Optional: VS_IRQ_HANDLERS, comma-separated interrupt handler names that
 * must be in /proc/interrupts ("virtio0-config"), or, after a "!", must
 * not: how the transport routed each device's interrupts.
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

	ASSERT_NE(NULL, want) TH_LOG("the scenario must set VS_TRANSPORT");
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

TEST(declared_device_count)
{
	long want = vs_env_long("VS_DEVICE_COUNT", -1);
	int n = 0, i;

	ASSERT_LT(0, want) TH_LOG("the scenario must set VS_DEVICE_COUNT");
	/* Devices register as the transport probes: give them a moment. */
	for (i = 0; i < 50 && (n = vs_virtio_devices()) < want; i++)
		usleep(100 * 1000);
	EXPECT_EQ(want, n) TH_LOG("the scenario declares %ld virtio devices", want);
}

/* How many virtio devices are bound to driver @drv, or -errno. */
static int bound_to(const char *drv)
{
	char path[PATH_MAX], name[256];
	struct dirent *de;
	int found = 0;
	DIR *dir;

	dir = opendir(VIRTIO_DEVICES);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), VIRTIO_DEVICES "/%s/driver", de->d_name);
		if (!vs_link_name(path, name, sizeof(name)) && !strcmp(name, drv))
			found++;
	}
	closedir(dir);
	return found;
}

TEST(expected_drivers_bound)
{
	char list[512], *item, *save;
	const char *want = getenv("VS_DRIVERS");
	int total = 0, i;

	ASSERT_NE(NULL, want) TH_LOG("the scenario must set VS_DRIVERS");
	snprintf(list, sizeof(list), "%s", want);
	for (item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(item, ':');
		long count = colon ? strtol(colon + 1, NULL, 10) : 1;
		int found = 0;

		if (colon)
			*colon = '\0';
		/* Drivers bind as their modules probe: give them a moment. */
		for (i = 0; i < 50 && (found = bound_to(item)) < count; i++)
			usleep(100 * 1000);
		EXPECT_EQ(count, found) TH_LOG("virtio devices bound to %s", item);
		total += found;
	}
	/* And no device is left without one of these drivers. */
	EXPECT_EQ(vs_virtio_devices(), total) TH_LOG("devices not bound to a listed driver");
}

/* Whether a handler named exactly @name is registered. */
static int handler_registered(const char *name)
{
	char line[1024], *tok, *save;
	int found = 0;
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f))
		for (tok = strtok_r(line, " ,\t\n", &save); tok;
		     tok = strtok_r(NULL, " ,\t\n", &save))
			if (!strcmp(tok, name))
				found = 1;
	fclose(f);
	return found;
}

TEST(interrupt_handlers)
{
	const char *want = getenv("VS_IRQ_HANDLERS");
	char list[1024], *item, *save, name[256];
	struct dirent *de;
	DIR *dir;

	/* Every device with a driver has a handler on some line. */
	dir = opendir(VIRTIO_DEVICES);
	ASSERT_NE(NULL, dir);
	while ((de = readdir(dir))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), VIRTIO_DEVICES "/%s/driver", de->d_name);
		if (vs_link_name(path, name, sizeof(name)))
			continue;
		EXPECT_LT(0, vs_irq_lines(de->d_name, NULL))
			TH_LOG("%s (bound to %s) has no interrupt handler", de->d_name, name);
	}
	closedir(dir);
	if (!want)
		return;
	snprintf(list, sizeof(list), "%s", want);
	for (item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		int absent = item[0] == '!';

		EXPECT_EQ(!absent, handler_registered(item + absent))
			TH_LOG("handler %s %s", item + absent, absent ? "registered" : "missing");
	}
}

TEST_HARNESS_MAIN

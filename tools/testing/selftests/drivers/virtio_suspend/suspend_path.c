// SPDX-License-Identifier: GPL-2.0
/*
 * Which sleep path each virtio device takes, as the transport's sysfs
 * counters tell it, across s2idle cycles and debugfs single-device cycles.
 * A classic cycle after trying SUSPEND (not one where SUSPEND was never
 * negotiated) counts one fallback.
 *
 * Environment:
 *   VS_EXPECT_DIALECT  what suspend/dialect must read ("spec", "none", ...)
 *   VS_EXPECT_PATH     "suspend": every cycle acknowledged by the device;
 *                      "classic": every cycle took the reset-based path;
 *                      "resume-failed": suspended, then failed to resume
 *                      and was reset and restored
 *   VS_EXPECT_COUNTER  with "classic": the failure counter that must grow
 *                      by one per cycle ("timeouts", "needs_reset")
 *   VS_EXPECT_REASON   with "classic": text suspend/last_path must contain
 *   VS_DEVICE_COUNT    how many virtio devices the scenario gave the guest
 *                      (required: a missing one fails, not skips)
 *   VS_SLEEP_CYCLES    s2idle cycles (default 1)
 *   VS_DEBUGFS_CYCLES  debugfs cycles per device (default 3)
 */
#include <dirent.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define MAX_DEVS 16

struct counters {
	long suspends, resumes, fallbacks, timeouts, failures;
};

FIXTURE(vdevs) {
	char name[MAX_DEVS][32];
	int n;
};

FIXTURE_SETUP(vdevs)
{
	struct dirent *de;
	DIR *dir = opendir("/sys/bus/virtio/devices");

	ASSERT_NE(NULL, dir);
	while ((de = readdir(dir)) && self->n < MAX_DEVS) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(self->name[0]))
			continue;
		strcpy(self->name[self->n++], de->d_name);
	}
	closedir(dir);
	ASSERT_LT(0, self->n) TH_LOG("no virtio devices");
	ASSERT_EQ(vs_env_long("VS_DEVICE_COUNT", -1), self->n)
		TH_LOG("VS_DEVICE_COUNT: the virtio devices the scenario declares");
}

FIXTURE_TEARDOWN(vdevs)
{
}

static void snapshot(const char *dev, struct counters *c)
{
	const char *failure = vs_env_str("VS_EXPECT_COUNTER", "fallbacks");

	c->suspends = vs_suspend_count(dev, "suspends");
	c->resumes = vs_suspend_count(dev, "resumes");
	c->fallbacks = vs_suspend_count(dev, "fallbacks");
	c->timeouts = vs_suspend_count(dev, "timeouts");
	c->failures = vs_suspend_count(dev, failure);
}

/* Checks what @cycles cycles did to @dev's counters, per VS_EXPECT_PATH. */
static void check_cycles(struct __test_metadata *_metadata, const char *dev,
			 const struct counters *before, long cycles)
{
	const char *path = vs_env_str("VS_EXPECT_PATH", "suspend");
	const char *reason = getenv("VS_EXPECT_REASON");
	struct counters after;
	char buf[128];

	snapshot(dev, &after);
	ASSERT_EQ(0, vs_suspend_attr(dev, "state", buf, sizeof(buf)));
	EXPECT_STREQ("running", buf) TH_LOG("%s", dev);
	ASSERT_EQ(0, vs_suspend_attr(dev, "last_path", buf, sizeof(buf)));
	if (!strcmp(path, "suspend")) {
		EXPECT_EQ(before->suspends + cycles, after.suspends) TH_LOG("%s", dev);
		EXPECT_EQ(before->resumes + cycles, after.resumes) TH_LOG("%s", dev);
		EXPECT_EQ(before->fallbacks, after.fallbacks) TH_LOG("%s", dev);
		EXPECT_STREQ("suspend", buf) TH_LOG("%s", dev);
		/*
		 * However late the device acknowledged, the wait was not cut
		 * short. (How long it took is make bench's: bench-polling.)
		 */
		EXPECT_EQ(before->timeouts, after.timeouts) TH_LOG("%s", dev);
	} else {
		/* A failed resume follows an acknowledged suspend. */
		long suspended = strcmp(path, "resume-failed") ? 0 : cycles;
		long fallbacks = reason && strstr(reason, "not negotiated") ? 0 : cycles;

		EXPECT_EQ(before->suspends + suspended, after.suspends) TH_LOG("%s", dev);
		EXPECT_EQ(before->fallbacks + fallbacks, after.fallbacks) TH_LOG("%s", dev);
		EXPECT_EQ(before->resumes, after.resumes) TH_LOG("%s", dev);
		EXPECT_EQ(0, strncmp(buf, "classic", 7)) TH_LOG("%s: last_path %s", dev, buf);
		if (getenv("VS_EXPECT_COUNTER"))
			EXPECT_EQ(before->failures + cycles, after.failures)
				TH_LOG("%s: %s", dev, getenv("VS_EXPECT_COUNTER"));
		if (reason)
			EXPECT_NE(NULL, strstr(buf, reason)) TH_LOG("%s: last_path %s", dev, buf);
	}
}

TEST_F(vdevs, dialect_negotiated)
{
	const char *want = vs_env_str("VS_EXPECT_DIALECT", "spec");
	char buf[32];
	int i;

	for (i = 0; i < self->n; i++) {
		ASSERT_EQ(0, vs_suspend_attr(self->name[i], "dialect", buf, sizeof(buf)))
			TH_LOG("%s has no suspend/ attributes", self->name[i]);
		EXPECT_STREQ(want, buf) TH_LOG("%s", self->name[i]);
	}
}

TEST_F_TIMEOUT(vdevs, system_suspend_cycles, 600)
{
	long cycles = vs_env_long("VS_SLEEP_CYCLES", 1), r;
	struct counters before[MAX_DEVS];
	int i;

	for (i = 0; i < self->n; i++)
		snapshot(self->name[i], &before[i]);
	for (r = 0; r < cycles; r++)
		ASSERT_EQ(0, vs_sleep_cycle("freeze")) TH_LOG("cycle %ld", r);
	for (i = 0; i < self->n; i++)
		check_cycles(_metadata, self->name[i], &before[i], cycles);
}

TEST_F_TIMEOUT(vdevs, debugfs_cycles, 600)
{
	long cycles = vs_env_long("VS_DEBUGFS_CYCLES", 3), r;
	char path[PATH_MAX];
	int i;

	for (i = 0; i < self->n; i++) {
		struct counters before;

		snapshot(self->name[i], &before);
		vs_control_path(self->name[i], path, sizeof(path));
		for (r = 0; r < cycles; r++)
			ASSERT_EQ(0, vs_write_attr(path, "cycle"))
				TH_LOG("%s: cycle %ld failed", self->name[i], r);
		check_cycles(_metadata, self->name[i], &before, cycles);
	}
}

TEST(bad_control_command_is_refused)
{
	struct dirent *de;
	char path[PATH_MAX];
	DIR *dir = opendir("/sys/kernel/debug/virtio_suspend");

	ASSERT_NE(NULL, dir);
	while ((de = readdir(dir)) && de->d_name[0] == '.')
		;
	ASSERT_NE(NULL, de);
	vs_control_path(de->d_name, path, sizeof(path));
	closedir(dir);
	EXPECT_EQ(-EINVAL, vs_write_attr(path, "sleep"));
	EXPECT_EQ(-EINVAL, vs_write_attr(path, "suspend and more text"));
	/* Resuming a running device, or suspending a suspended one. */
	EXPECT_EQ(-EINVAL, vs_write_attr(path, "resume"));
	ASSERT_EQ(0, vs_write_attr(path, "suspend"));
	EXPECT_EQ(-EBUSY, vs_write_attr(path, "suspend"));
	ASSERT_EQ(0, vs_write_attr(path, "resume"));
}

TEST_HARNESS_MAIN

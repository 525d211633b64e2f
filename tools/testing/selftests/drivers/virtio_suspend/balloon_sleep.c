// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-balloon across sleep: a target the host sets (QMP "balloon",
 * which the runner carries out) is honoured, also when it is set while
 * the device is suspended.
 *
 * Without VIRTIO_BALLOON_F_DEFLATE_ON_OOM (QEMU's default) every page the
 * driver gives the host leaves MemTotal, so MemTotal shows the balloon.
 * On the SUSPEND path the config change that carries a new target is held
 * while the device is suspended: the balloon must not move then, and must
 * reach the target once the device runs again. On the reset-based path
 * the driver's freeze deflates the whole balloon and its restore inflates
 * it again; the target is honoured after resume either way.
 *
 * Environment:
 *   VS_EXPECT_PATH      "suspend" or "classic": the path every cycle takes
 *   VS_BALLOON_MIB      how far to inflate (default 32)
 *   VS_SLEEP_CYCLES     s2idle cycles with the balloon inflated (default 3)
 *   VS_QMP_WAIT_MS      how long the balloon may take (default 15000)
 */
#include "kselftest_harness.h"
#include "vs_util.h"

/* MemTotal in KiB, or -1. */
static long mem_total_kib(void)
{
	return vs_file_field("/proc/meminfo", "MemTotal: %ld kB");
}

/* Asks the host for a guest of @mib MiB (the balloon takes the rest). */
static void qmp_balloon(long mib)
{
	printf("vs-runner: qmp {\"execute\": \"balloon\", \"arguments\": {\"value\": %ld}}\n",
	       mib << 20);
	fflush(stdout);
}

/*
 * Waits until MemTotal is within 4 MiB of @want_kib (the driver works in
 * pages, and the guest's own RAM is not exactly what QEMU was given).
 */
static long wait_total(long want_kib, long timeout_ms)
{
	long end = vs_now_ms() + timeout_ms, now;

	do {
		now = mem_total_kib();
		if (now >= 0 && labs(now - want_kib) <= 4096)
			return now;
		usleep(50 * 1000);
	} while (vs_now_ms() < end);
	return now;
}

FIXTURE(balloon) {
	char dev[32];
	char ctl[PATH_MAX];
	long ram_mib;		/* what QEMU gave the guest */
	long total_kib;		/* MemTotal with the balloon empty */
	long wait_ms;
	long step_mib;
};

FIXTURE_SETUP(balloon)
{
	char buf[64];
	long actual;

	ASSERT_EQ(0, vs_driver_virtio("virtio_balloon", self->dev, sizeof(self->dev)))
		TH_LOG("no virtio device bound to virtio_balloon");
	vs_control_path(self->dev, self->ctl, sizeof(self->ctl));
	self->wait_ms = vs_env_long("VS_QMP_WAIT_MS", 15000);
	self->step_mib = vs_env_long("VS_BALLOON_MIB", 32);
	self->total_kib = mem_total_kib();
	ASSERT_LT(0, self->total_kib);
	/* The guest's RAM as QEMU counts it: the runner's memory_mib. */
	snprintf(buf, sizeof(buf), "%s", vs_env_str("VS_GUEST_MIB", "512"));
	actual = strtol(buf, NULL, 10);
	ASSERT_LT(self->step_mib, actual);
	self->ram_mib = actual;
}

FIXTURE_TEARDOWN(balloon)
{
	qmp_balloon(self->ram_mib);
	wait_total(self->total_kib, self->wait_ms);
}

static void expect_path(struct __test_metadata *_metadata, const char *dev)
{
	const char *want = vs_env_str("VS_EXPECT_PATH", "suspend");
	char path[64];

	ASSERT_EQ(0, vs_suspend_attr(dev, "last_path", path, sizeof(path)));
	EXPECT_EQ(0, strncmp(path, want, strlen(want))) TH_LOG("last path: %s", path);
}

TEST_F(balloon, target_set_while_suspended_is_honoured_after_resume)
{
	long inflated = self->total_kib - (self->step_mib << 10), now;

	ASSERT_EQ(0, vs_write_attr(self->ctl, "suspend"));
	qmp_balloon(self->ram_mib - self->step_mib);
	if (!strcmp(vs_env_str("VS_EXPECT_PATH", "suspend"), "suspend")) {
		/* Held: the driver hears of the new target only after resume. */
		usleep(500 * 1000);
		EXPECT_EQ(self->total_kib, mem_total_kib())
			TH_LOG("the balloon moved while the device was suspended");
	}
	ASSERT_EQ(0, vs_write_attr(self->ctl, "resume"));
	expect_path(_metadata, self->dev);
	now = wait_total(inflated, self->wait_ms);
	EXPECT_GE(4096, labs(now - inflated))
		TH_LOG("MemTotal %ld KiB after resume, want %ld", now, inflated);
}

TEST_F(balloon, inflated_balloon_kept_across_s2idle)
{
	long inflated = self->total_kib - (self->step_mib << 10), now, r;
	long cycles = vs_env_long("VS_SLEEP_CYCLES", 3);

	ASSERT_LT(0, cycles) TH_LOG("VS_SLEEP_CYCLES must be at least 1");
	qmp_balloon(self->ram_mib - self->step_mib);
	now = wait_total(inflated, self->wait_ms);
	ASSERT_GE(4096, labs(now - inflated)) TH_LOG("MemTotal %ld KiB, want %ld", now, inflated);
	for (r = 0; r < cycles; r++) {
		ASSERT_EQ(0, vs_sleep_cycle(vs_sleep_state(r))) TH_LOG("cycle %ld", r);
		expect_path(_metadata, self->dev);
		now = wait_total(inflated, self->wait_ms);
		EXPECT_GE(4096, labs(now - inflated))
			TH_LOG("cycle %ld: MemTotal %ld KiB, want %ld", r, now, inflated);
	}
	/* And it still follows the host: deflate. */
	qmp_balloon(self->ram_mib);
	now = wait_total(self->total_kib, self->wait_ms);
	EXPECT_GE(4096, labs(now - self->total_kib)) TH_LOG("MemTotal %ld KiB after deflating", now);
}

TEST_HARNESS_MAIN

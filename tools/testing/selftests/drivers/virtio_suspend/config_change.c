// SPDX-License-Identifier: GPL-2.0
/*
 * A config change made while a device is suspended reaches the driver
 * after resume, promptly, and not before: the disk is resized on the host
 * (QMP block_resize, asked of the runner) while virtio-blk is suspended;
 * its capacity must not change until the device is resumed, and must
 * change within VS_CONFIG_MAX_MS of the resume.
 *
 * The guest cannot see the device's config space while it is suspended,
 * so a second, running disk tells it when the host has done the resize:
 * the runner performs the guest's QMP commands one after the other, each
 * to its reply, so once the second disk's resize (asked second) shows,
 * the first one has been made.  Without that, a resize the host made
 * late, after resume, would look like a correct one.
 *
 * Environment:
 *   VS_BLK_NAME       the disks of devices that negotiated SUSPEND, comma
 *                     separated (vda), each tested in turn
 *   VS_DRIVE_ID       their QEMU drive ids, in the same order (blk0)
 *   VS_SENTINEL_BLK   the running disk (vdb), VS_SENTINEL_DRIVE its drive
 *                     id (blk1)
 *   VS_CONFIG_MAX_MS  longest delay from the end of resume to the new
 *                     capacity (default 1000)
 *   VS_QMP_WAIT_MS    longest wait for the host to resize (default 30000)
 */
#include <stdint.h>

#include "kselftest_harness.h"
#include "vs_util.h"

static long long sectors(const char *blk)
{
	char path[PATH_MAX], buf[32];

	snprintf(path, sizeof(path), "/sys/block/%s/size", blk);
	if (vs_read_attr(path, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 10);
}

static void qmp_resize(const char *drive, long long bytes)
{
	/* The runner performs this on the QEMU monitor when it reads it. */
	printf("vs-runner: qmp {\"execute\": \"block_resize\", \"arguments\": "
	       "{\"device\": \"%s\", \"size\": %lld}}\n", drive, bytes);
	fflush(stdout);
}

/* One disk: @blk, whose QEMU drive is @drive. */
static void resize_while_suspended(struct __test_metadata *_metadata,
				   const char *blk, const char *drive)
{
	const char *sentinel = vs_env_str("VS_SENTINEL_BLK", "vdb");
	long max_ms = vs_env_long("VS_CONFIG_MAX_MS", 1000);
	long qmp_ms = vs_env_long("VS_QMP_WAIT_MS", 30000);
	long long before = sectors(blk), grown, s_before = sectors(sentinel);
	long start, resumed, seen = -1;
	char dev[32], ctl[PATH_MAX], buf[32];

	ASSERT_LT(0, before) TH_LOG("no disk %s", blk);
	ASSERT_LT(0, s_before) TH_LOG("no sentinel disk %s", sentinel);
	grown = before + 2048;
	ASSERT_EQ(0, vs_blk_virtio(blk, dev, sizeof(dev)));
	ASSERT_EQ(0, vs_suspend_attr(dev, "dialect", buf, sizeof(buf)));
	ASSERT_STRNE("none", buf) TH_LOG("%s (%s) did not negotiate SUSPEND", dev, blk);

	vs_control_path(dev, ctl, sizeof(ctl));
	ASSERT_EQ(0, vs_write_attr(ctl, "suspend"));
	ASSERT_EQ(0, vs_suspend_attr(dev, "state", buf, sizeof(buf)));
	ASSERT_STREQ("suspended", buf) TH_LOG("%s after the suspend command", dev);

	start = vs_now_ms();
	qmp_resize(drive, grown * 512);
	qmp_resize(vs_env_str("VS_SENTINEL_DRIVE", "blk1"), (s_before + 2048) * 512);
	/* The suspended disk must keep its size all along. */
	while (sectors(sentinel) == s_before && vs_now_ms() - start < qmp_ms) {
		ASSERT_EQ(before, sectors(blk)) TH_LOG("capacity changed while suspended");
		usleep(10 * 1000);
	}
	ASSERT_EQ(s_before + 2048, sectors(sentinel))
		TH_LOG("the host made no resize in %ld ms: nothing was tested", qmp_ms);
	TH_LOG("host resized within %ld ms", vs_now_ms() - start);
	/* Time for a wrongly delivered notification to be handled. */
	usleep(500 * 1000);
	ASSERT_EQ(before, sectors(blk)) TH_LOG("capacity changed while suspended");

	ASSERT_EQ(0, vs_write_attr(ctl, "resume"));
	resumed = vs_now_ms();
	while (vs_now_ms() - resumed < 5000) {
		if (sectors(blk) != before) {
			seen = vs_now_ms() - resumed;
			break;
		}
		usleep(2 * 1000);
	}
	ASSERT_EQ(grown, sectors(blk)) TH_LOG("resize not seen in 5 s after resume");
	TH_LOG("new capacity seen %ld ms after resume", seen);
	EXPECT_GE(max_ms, seen) TH_LOG("config change delivered late");
}

TEST(resize_while_suspended_is_seen_after_resume)
{
	char blks[128], drives[128], *blk, *drive, *save_b, *save_d;
	int disks = 0;

	snprintf(blks, sizeof(blks), "%s", vs_env_str("VS_BLK_NAME", "vda"));
	snprintf(drives, sizeof(drives), "%s", vs_env_str("VS_DRIVE_ID", "blk0"));
	for (blk = strtok_r(blks, ",", &save_b), drive = strtok_r(drives, ",", &save_d);
	     blk && drive;
	     blk = strtok_r(NULL, ",", &save_b), drive = strtok_r(NULL, ",", &save_d)) {
		TH_LOG("%s (drive %s)", blk, drive);
		resize_while_suspended(_metadata, blk, drive);
		disks++;
	}
	ASSERT_LT(0, disks);
	ASSERT_EQ(NULL, blk) TH_LOG("VS_BLK_NAME and VS_DRIVE_ID differ in length");
	ASSERT_EQ(NULL, drive) TH_LOG("VS_BLK_NAME and VS_DRIVE_ID differ in length");
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * A config change made while a device is suspended reaches the driver
 * after resume, not before: the disk is resized on the host (QMP
 * block_resize, asked of the runner) while virtio-blk is suspended; its
 * capacity must not change until the device is resumed, and must change
 * then.
 *
 * Environment: VS_DEVICE (default virtio0), VS_BLK_NAME (default vda),
 * VS_DRIVE_ID (QEMU drive id, default blk0).
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

TEST(resize_while_suspended_is_seen_after_resume)
{
	const char *blk = vs_env_str("VS_BLK_NAME", "vda");
	long long before = sectors(blk), grown;
	char ctl[PATH_MAX];
	int i;

	ASSERT_LT(0, before);
	grown = before + 2048;
	snprintf(ctl, sizeof(ctl), "/sys/kernel/debug/virtio_suspend/%s",
		 vs_env_str("VS_DEVICE", "virtio0"));
	ASSERT_EQ(0, vs_write_attr(ctl, "suspend"));

	/* The runner performs this on the QEMU monitor when it reads it. */
	printf("vs-runner: qmp {\"execute\": \"block_resize\", \"arguments\": "
	       "{\"device\": \"%s\", \"size\": %lld}}\n",
	       vs_env_str("VS_DRIVE_ID", "blk0"), grown * 512);
	fflush(stdout);
	sleep(2);
	EXPECT_EQ(before, sectors(blk)) TH_LOG("capacity changed while suspended");

	ASSERT_EQ(0, vs_write_attr(ctl, "resume"));
	for (i = 0; i < 50 && sectors(blk) != grown; i++)
		usleep(100 * 1000);
	EXPECT_EQ(grown, sectors(blk)) TH_LOG("resize not seen after resume");
}

TEST_HARNESS_MAIN

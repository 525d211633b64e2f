// SPDX-License-Identifier: GPL-2.0
/*
 * A config write made while the device is suspended reads back.
 *
 * The transport holds config writes while the device is suspended (a
 * suspended device must see none) and makes them at resume. virtio_blk's
 * cache_type store writes the write-cache field, then reads it back to
 * tell the block layer: if the read went to the device, the block layer
 * would keep the old mode after the resume (no flushes for a disk that
 * caches writes). On each disk of VS_CONFIG_BLK (comma-separated, default
 * vda), whose device offers SUSPEND and a writable cache mode.
 */
#include "kselftest_harness.h"
#include "vs_util.h"

static void check_disk(struct __test_metadata *_metadata, const char *blk)
{
	char vdev[32], control[PATH_MAX], attr[PATH_MAX];
	char first[32], mode[32], state[32];
	const char *other;

	ASSERT_EQ(0, vs_blk_virtio(blk, vdev, sizeof(vdev)));
	vs_control_path(vdev, control, sizeof(control));
	snprintf(attr, sizeof(attr), "/sys/block/%s/cache_type", blk);
	ASSERT_EQ(0, vs_read_attr(attr, first, sizeof(first)))
		TH_LOG("%s: no writable cache mode", blk);
	other = strcmp(first, "write back") ? "write back" : "write through";

	ASSERT_EQ(0, vs_write_attr(control, "suspend"));
	ASSERT_EQ(0, vs_suspend_attr(vdev, "state", state, sizeof(state)));
	ASSERT_STREQ("suspended", state);
	ASSERT_EQ(0, vs_write_attr(attr, other));
	ASSERT_EQ(0, vs_read_attr(attr, mode, sizeof(mode)));
	EXPECT_STREQ(other, mode) TH_LOG("%s: the held write does not read back", blk);
	ASSERT_EQ(0, vs_write_attr(control, "resume"));
	ASSERT_EQ(0, vs_read_attr(attr, mode, sizeof(mode)));
	EXPECT_STREQ(other, mode) TH_LOG("%s: the held write did not reach the device", blk);
	/* And back, with the device running. */
	ASSERT_EQ(0, vs_write_attr(attr, first));
	ASSERT_EQ(0, vs_read_attr(attr, mode, sizeof(mode)));
	EXPECT_STREQ(first, mode);
}

TEST(write_while_suspended_reads_back_and_reaches_the_device)
{
	char list[256], *blk, *save = NULL;

	snprintf(list, sizeof(list), "%s", vs_env_str("VS_CONFIG_BLK", "vda"));
	for (blk = strtok_r(list, ",", &save); blk; blk = strtok_r(NULL, ",", &save))
		check_disk(_metadata, blk);
}

TEST_HARNESS_MAIN

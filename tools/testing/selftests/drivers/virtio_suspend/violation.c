// SPDX-License-Identifier: GPL-2.0
/*
 * Breaks the SUSPEND rules on purpose: notifies every queue of a suspended
 * device, through the transport's debugfs "notify" command. Not a test of
 * the driver: the "negative-controls" scenario expects QEMU to report
 * it, and fails if QEMU does not.
 *
 * Environment: VS_DEVICE, the virtio device to use (default virtio0).
 */
#include "kselftest_harness.h"
#include "vs_util.h"

TEST(notify_while_suspended)
{
	char path[PATH_MAX];

	vs_control_path(vs_env_str("VS_DEVICE", "virtio0"), path, sizeof(path));
	ASSERT_EQ(0, vs_write_attr(path, "suspend"));
	ASSERT_EQ(0, vs_write_attr(path, "notify"));
	ASSERT_EQ(0, vs_write_attr(path, "resume"));
}

TEST_HARNESS_MAIN

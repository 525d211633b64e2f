// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_ring's rewind gives a reset device back a buffer outstanding for
 * longer than a ring's worth of adds: loads vring_rewind_test.ko, whose
 * init runs the check and refuses to stay loaded with EAGAIN when it
 * passed (any other error, or a kernel report on the console, is a
 * failure).
 */
#include "kselftest_harness.h"
#include "vs_util.h"

TEST(rewind_keeps_buffers_older_than_the_ring)
{
	int ret = vs_load_module("vring_rewind_test", "");

	EXPECT_EQ(-EAGAIN, ret) TH_LOG("the module's check failed: %s (see the console)",
				       ret ? strerror(-ret) : "it stayed loaded");
}

TEST_HARNESS_MAIN

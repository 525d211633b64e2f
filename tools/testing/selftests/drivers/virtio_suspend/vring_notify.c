// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_ring's hold keeps a transport's notify in the context the driver
 * kicks from: loads vring_notify_test.ko, whose init runs the check and
 * refuses to stay loaded with EAGAIN when it passed (any other error, or
 * a kernel report on the console, is a failure).
 */
#include "kselftest_harness.h"
#include "vs_util.h"

TEST(notify_runs_where_it_may_sleep)
{
	int ret = vs_load_module("vring_notify_test", "");

	EXPECT_EQ(-EAGAIN, ret) TH_LOG("the module's check failed: %s (see the console)",
				       ret ? strerror(-ret) : "it stayed loaded");
}

TEST_HARNESS_MAIN

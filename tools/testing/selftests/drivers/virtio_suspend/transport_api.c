// SPDX-License-Identifier: GPL-2.0
/*
 * The runtime guards of kernel::virtio::transport, on a transport of its
 * own: loads transport_api_test.ko, whose init freezes and restores a
 * device of it out of order (refused: EBUSY, EINVAL, another device's
 * lock) and unregisters one frozen (its driver restored before its
 * remove), then refuses to stay loaded with EAGAIN when every check
 * passed (any other error, or a kernel report on the console, is a
 * failure).
 */
#include "kselftest_harness.h"
#include "vs_util.h"

TEST(freeze_and_restore_are_refused_out_of_order)
{
	int ret = vs_load_module("transport_api_test", "");

	EXPECT_EQ(-EAGAIN, ret) TH_LOG("the module's checks failed: %s (see the console)",
				       ret ? strerror(-ret) : "it stayed loaded");
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * Unloading the transport while its devices are suspended through debugfs
 * (on the SUSPEND path, or frozen by the reset-based one) is handled: the
 * devices are resumed, then removed; after a reload they work.
 *
 * Environment: VS_MODULE (module name), VS_BLK_DEV (default /dev/vda).
 */
#include "kselftest_harness.h"
#include "vs_util.h"

TEST(unload_while_suspended_then_reload)
{
	const char *mod = getenv("VS_MODULE");
	const char *blk = vs_env_str("VS_BLK_DEV", "/dev/vda");
	int ret;

	ASSERT_NE(NULL, mod);
	ASSERT_LT(0, vs_control_all("suspend")) TH_LOG("no device suspended");
	ASSERT_EQ(0, syscall(SYS_delete_module, mod, O_NONBLOCK))
		TH_LOG("unload: %s", strerror(errno));
	ret = vs_load_module(mod, "");
	ASSERT_EQ(0, ret) TH_LOG("reload: %s", strerror(-ret));
	ASSERT_EQ(0, vs_wait_path(blk, 1, 5000)) TH_LOG("%s missing after reload", blk);
	/* And the devices cycle again. */
	EXPECT_LT(0, vs_control_all("cycle"));
}

TEST_HARNESS_MAIN

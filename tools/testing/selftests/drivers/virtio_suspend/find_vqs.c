// SPDX-License-Identifier: GPL-2.0
/*
 * The queues of the transport's find_vqs live as long as the virtio core
 * needs them and no longer: a failed find_vqs, one without del_vqs before
 * it, and del_vqs each leave the virtio core's list of the device's
 * queues as it should be. find_vqs_test.ko checks each device of type
 * $VS_FINDVQS_DEVICE_ID in its probe; $VS_FINDVQS_DEVICES must be
 * checked. $VS_FINDVQS_UNLOAD names the driver bound to them, unloaded
 * for the check and loaded again after.
 */
#include "kselftest_harness.h"
#include "vs_util.h"

#define PARAMS "/sys/module/find_vqs_test/parameters/"

TEST(queues_live_as_long_as_the_core_needs_them)
{
	const char *driver = vs_env_str("VS_FINDVQS_UNLOAD", "");
	long devices = vs_env_long("VS_FINDVQS_DEVICES", 1), checked, t;
	char params[64];

	if (*driver)
		ASSERT_EQ(0, syscall(SYS_delete_module, driver, O_NONBLOCK))
			TH_LOG("rmmod %s: %s", driver, strerror(errno));
	snprintf(params, sizeof(params), "device_id=%ld",
		 vs_env_long("VS_FINDVQS_DEVICE_ID", 4));
	ASSERT_EQ(0, vs_load_module("find_vqs_test", params));
	for (t = 0; t < 100 && vs_read_long(PARAMS "checked") < devices; t++)
		usleep(50 * 1000);
	checked = vs_read_long(PARAMS "checked");
	EXPECT_EQ(devices, checked) TH_LOG("devices checked");
	EXPECT_EQ(0, vs_read_long(PARAMS "failed")) TH_LOG("checks failed (see the console)");
	ASSERT_EQ(0, syscall(SYS_delete_module, "find_vqs_test", O_NONBLOCK))
		TH_LOG("rmmod find_vqs_test: %s", strerror(errno));
	if (*driver)
		ASSERT_EQ(0, vs_load_module(driver, "")) TH_LOG("insmod %s", driver);
}

TEST_HARNESS_MAIN

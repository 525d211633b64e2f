// SPDX-License-Identifier: GPL-2.0
/*
 * Unloading the transport while its devices are suspended through debugfs
 * (on the SUSPEND path, or frozen by the reset-based one) is handled: the
 * devices are resumed, then removed; after a reload they are all back and
 * work.
 *
 * Before the unload, sysfs must show every device suspended: "suspended"
 * for one that negotiated SUSPEND, "fallback" for one frozen by the
 * reset-based path; the scenario says how many of each it gave the guest.
 *
 * Environment: VS_MODULE (module name), VS_BLK_DEV (default /dev/vda),
 * VS_EXPECT_SUSPENDED and VS_EXPECT_FALLBACK (required: how many devices
 * must be in each state before the unload).
 */
#include "kselftest_harness.h"
#include "vs_util.h"

#define MAX_DEVS 16

/* Counts the devices in each state; fails on any other state. */
static void count_states(struct __test_metadata *_metadata, int *suspended, int *fallback,
			 int *running)
{
	char dialect[32], state[32];
	struct dirent *de;
	DIR *dir = opendir("/sys/bus/virtio/devices");

	*suspended = *fallback = *running = 0;
	ASSERT_NE(NULL, dir);
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		ASSERT_EQ(0, vs_suspend_attr(de->d_name, "state", state, sizeof(state)));
		ASSERT_EQ(0, vs_suspend_attr(de->d_name, "dialect", dialect, sizeof(dialect)));
		if (!strcmp(state, "suspended")) {
			EXPECT_STRNE("none", dialect) TH_LOG("%s suspended without SUSPEND", de->d_name);
			++*suspended;
		} else if (!strcmp(state, "fallback")) {
			++*fallback;
		} else if (!strcmp(state, "running")) {
			++*running;
		} else {
			EXPECT_STREQ("running", state) TH_LOG("%s", de->d_name);
		}
	}
	closedir(dir);
}

TEST(unload_while_suspended_then_reload)
{
	const char *mod = getenv("VS_MODULE");
	const char *blk = vs_env_str("VS_BLK_DEV", "/dev/vda");
	long want_suspended = vs_env_long("VS_EXPECT_SUSPENDED", -1);
	long want_fallback = vs_env_long("VS_EXPECT_FALLBACK", -1);
	int suspended, fallback, running, devices, ret, i;

	ASSERT_NE(NULL, mod);
	ASSERT_LE(0, want_suspended) TH_LOG("the scenario must set VS_EXPECT_SUSPENDED");
	ASSERT_LE(0, want_fallback) TH_LOG("the scenario must set VS_EXPECT_FALLBACK");
	devices = vs_virtio_devices();
	ASSERT_EQ(want_suspended + want_fallback, devices);

	ASSERT_EQ(devices, vs_control_all("suspend")) TH_LOG("not every device suspended");
	count_states(_metadata, &suspended, &fallback, &running);
	EXPECT_EQ(want_suspended, suspended) TH_LOG("devices on the SUSPEND path");
	EXPECT_EQ(want_fallback, fallback) TH_LOG("devices frozen by the reset-based path");
	ASSERT_EQ(0, running) TH_LOG("devices still running before the unload");

	ASSERT_EQ(0, syscall(SYS_delete_module, mod, O_NONBLOCK))
		TH_LOG("unload: %s", strerror(errno));
	ASSERT_EQ(0, vs_virtio_devices()) TH_LOG("devices left after the unload");
	ret = vs_modprobe(mod);
	ASSERT_EQ(0, ret) TH_LOG("reload: %s", strerror(-ret));
	ASSERT_EQ(0, vs_wait_path(blk, 1, 5000)) TH_LOG("%s missing after reload", blk);
	for (i = 0; i < 50 && vs_virtio_devices() < devices; i++)
		usleep(100 * 1000);
	ASSERT_EQ(devices, vs_virtio_devices()) TH_LOG("devices after reload");
	count_states(_metadata, &suspended, &fallback, &running);
	EXPECT_EQ(devices, running) TH_LOG("devices running after reload");
	/* And the devices cycle again. */
	EXPECT_EQ(devices, vs_control_all("cycle"));
	count_states(_metadata, &suspended, &fallback, &running);
	EXPECT_EQ(devices, running) TH_LOG("devices running after a cycle");
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * Unloading the transport while its devices are suspended through debugfs
 * (on the SUSPEND path, or frozen by the reset-based one) is handled: the
 * devices are resumed, then removed; after a reload they work.
 *
 * Environment: VS_MODULE (module name), VS_BLK_DEV (default /dev/vda).
 */
#include <dirent.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "kselftest_harness.h"
#include "vs_util.h"

static int for_each_control(const char *command)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0, ret;
	DIR *dir = opendir("/sys/kernel/debug/virtio_suspend");

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/debug/virtio_suspend/%s", de->d_name);
		ret = vs_write_attr(path, command);
		if (ret)
			return ret;
		n++;
	}
	closedir(dir);
	return n;
}

TEST(unload_while_suspended_then_reload)
{
	const char *mod = getenv("VS_MODULE");
	const char *blk = vs_env_str("VS_BLK_DEV", "/dev/vda");
	char path[PATH_MAX];
	struct utsname u;
	int fd, i;

	ASSERT_NE(NULL, mod);
	ASSERT_LT(0, for_each_control("suspend")) TH_LOG("no device suspended");
	ASSERT_EQ(0, syscall(SYS_delete_module, mod, O_NONBLOCK))
		TH_LOG("unload: %s", strerror(errno));
	ASSERT_EQ(0, uname(&u));
	snprintf(path, sizeof(path), "/lib/modules/%s/extra/%s.ko", u.release, mod);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, syscall(SYS_finit_module, fd, "", 0)) TH_LOG("reload: %s", strerror(errno));
	close(fd);
	for (i = 0; i < 100 && access(blk, F_OK); i++)
		usleep(50 * 1000);
	ASSERT_EQ(0, access(blk, F_OK)) TH_LOG("%s missing after reload", blk);
	/* And the devices cycle again. */
	EXPECT_LT(0, for_each_control("cycle"));
}

TEST_HARNESS_MAIN

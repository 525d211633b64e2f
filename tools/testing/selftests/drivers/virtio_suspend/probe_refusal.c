// SPDX-License-Identifier: GPL-2.0
/*
 * A device the transport must not drive is refused with a message, and
 * the kernel carries on.
 *
 * Environment: VS_EXPECT_KMSG, text the kernel log must contain (the
 * refusal message), or several such texts separated by "|", one per
 * refused device; VS_DEVICE_COUNT, the virtio devices there must be (the
 * healthy devices the scenario puts beside the refused ones; default 0).
 */
#include <dirent.h>
#include <sys/klog.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define LOG_BYTES (1 << 17)

TEST(refusal_is_logged)
{
	const char *want = vs_env_str("VS_EXPECT_KMSG", "");
	char *log = malloc(LOG_BYTES + 1);
	int n;

	char texts[512], *text, *save;

	ASSERT_NE(0, want[0]) TH_LOG("VS_EXPECT_KMSG not set");
	ASSERT_NE(NULL, log);
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, LOG_BYTES);
	ASSERT_LT(0, n);
	log[n] = '\0';
	snprintf(texts, sizeof(texts), "%s", want);
	for (text = strtok_r(texts, "|", &save); text; text = strtok_r(NULL, "|", &save)) {
		int found = strstr(log, text) != NULL;

		EXPECT_EQ(1, found) TH_LOG("kernel log lacks \"%s\"", text);
	}
	free(log);
}

TEST(no_refused_device_registered)
{
	long want = vs_env_long("VS_DEVICE_COUNT", 0);
	struct dirent *de;
	int devices = 0;
	DIR *dir;

	dir = opendir("/sys/bus/virtio/devices");
	ASSERT_NE(NULL, dir);
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			devices++;
	closedir(dir);
	EXPECT_EQ(want, devices) TH_LOG("only the %ld healthy devices are registered", want);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * The module refuses invalid parameter values at load, with a message
 * naming the parameter, and loads with valid ones.
 *
 * Environment: VS_MODULE, the module's name (it must not be loaded).
 */
#include <sys/klog.h>

#include "kselftest_harness.h"
#include "vs_util.h"

static int kmsg_has(const char *text)
{
	static char log[1 << 17];
	int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof(log) - 1);

	if (n < 0)
		return 0;
	log[n] = '\0';
	return strstr(log, text) != NULL;
}

TEST(invalid_values_refuse_the_load)
{
	static const struct {
		const char *params, *message;
	} cases[] = {
		{ "suspend=maybe", "suspend=maybe: expected auto or off" },
		{ "dialect=v6", "dialect=v6: expected spec, v5 or stop" },
		{ "suspend_timeout_ms=0", "suspend_timeout_ms=0: expected 1 to 60000" },
		{ "suspend_timeout_ms=60001", "suspend_timeout_ms=60001: expected 1 to 60000" },
		{ "device=0x200@0xd0000000", "device=0x200@0xd0000000: expected :<irq>" },
	};
	const char *mod = getenv("VS_MODULE");
	size_t i;

	ASSERT_NE(NULL, mod);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		EXPECT_EQ(-EINVAL, vs_load_module(mod, cases[i].params)) TH_LOG("%s", cases[i].params);
		EXPECT_TRUE(kmsg_has(cases[i].message)) TH_LOG("no message for %s", cases[i].params);
	}
}

TEST(valid_values_load)
{
	const char *mod = getenv("VS_MODULE");
	char buf[32];

	ASSERT_NE(NULL, mod);
	ASSERT_EQ(0, vs_load_module(mod, "suspend=off dialect=v5 suspend_timeout_ms=60000"));
	ASSERT_EQ(0, vs_read_attr("/sys/module/virtio_suspend/parameters/dialect", buf, sizeof(buf)));
	EXPECT_STREQ("v5", buf);
	ASSERT_EQ(0, vs_read_attr("/sys/module/virtio_suspend/parameters/suspend", buf, sizeof(buf)));
	EXPECT_STREQ("off", buf);
	EXPECT_EQ(0, syscall(SYS_delete_module, mod, O_NONBLOCK));
}

TEST_HARNESS_MAIN

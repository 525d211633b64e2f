// SPDX-License-Identifier: GPL-2.0
/*
 * The module refuses invalid parameter values at load, with a message
 * naming the parameter, and loads with valid ones, which take effect:
 * against a device that offers SUSPEND, the default negotiates it and
 * cycles take the SUSPEND path, suspend=off does not negotiate it and
 * system sleep takes the reset-based path. The debugfs control file
 * takes it only with control_classic=1: by default it refuses to run a
 * driver's freeze with user space running, and a SUSPEND that fails
 * under it ends in the driver's freeze and restore at once.
 *
 * Environment: VS_MODULE, the module's name (it must not be loaded);
 * VS_BLK_DEV (default /dev/vda), a disk whose device offers SUSPEND in
 * VS_EXPECT_DIALECT (default spec), bound once the module loads;
 * VS_NEVER_ACK_DEV (default /dev/vdb), a disk whose device offers
 * SUSPEND and never acknowledges it.
 */
#include <pthread.h>
#include <stdatomic.h>
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

static int module_loaded(const char *mod)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/module/%s", mod);
	return access(path, F_OK) == 0;
}

static int unload(const char *mod)
{
	return syscall(SYS_delete_module, mod, O_NONBLOCK) ? -errno : 0;
}

TEST(invalid_values_refuse_the_load)
{
	static const struct {
		const char *params, *message;
	} cases[] = {
		{ "suspend=maybe", "suspend=maybe: expected auto or off" },
		{ "dialect=v6", "dialect=v6: expected spec, v5 or stop" },
		/* The draft's own bit 41 is VIRTIO_F_ADMIN_VQ now: none by default. */
		{ "dialect=stop", "dialect=stop needs stop_feature_bit=44..49 (given 0)" },
		{ "dialect=stop stop_feature_bit=41", "needs stop_feature_bit=44..49 (given 41)" },
		{ "dialect=stop stop_feature_bit=43", "needs stop_feature_bit=44..49 (given 43)" },
		/* 50 and up are the device type's (virtio-net's DEVICE_STATS). */
		{ "dialect=stop stop_feature_bit=50", "needs stop_feature_bit=44..49 (given 50)" },
		{ "stop_feature_bit=45", "stop_feature_bit=45 applies to dialect=stop only, not spec" },
		{ "suspend_timeout_ms=0", "suspend_timeout_ms=0: expected 1 to 60000" },
		{ "suspend_timeout_ms=60001", "suspend_timeout_ms=60001: expected 1 to 60000" },
		{ "device=0x200@0xd0000000", "device=0x200@0xd0000000: expected :<irq>" },
	};
	const char *mod = getenv("VS_MODULE");
	size_t i;

	ASSERT_NE(NULL, mod);
	ASSERT_FALSE(module_loaded(mod)) TH_LOG("%s is already loaded", mod);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		/* Each message must come from this load, not an earlier one. */
		klogctl(5 /* SYSLOG_ACTION_CLEAR */, NULL, 0);
		EXPECT_EQ(-EINVAL, vs_load_module(mod, cases[i].params)) TH_LOG("%s", cases[i].params);
		EXPECT_TRUE(kmsg_has(cases[i].message)) TH_LOG("no message for %s", cases[i].params);
		/* pr_fmt's prefix, once: not again in the message. */
		EXPECT_FALSE(kmsg_has("virtio_suspend: virtio_suspend:"))
			TH_LOG("%s: the module's name twice", cases[i].params);
		EXPECT_FALSE(module_loaded(mod)) TH_LOG("%s stayed loaded", cases[i].params);
		EXPECT_EQ(0, vs_virtio_devices()) TH_LOG("%s: a device was registered",
							 cases[i].params);
		if (module_loaded(mod))
			unload(mod);
	}
}

/*
 * Loads the module with @params, waits for the disk, and returns in @dev
 * its virtio device.
 */
static void load_with(struct __test_metadata *_metadata, const char *mod,
		      const char *params, char *dev, size_t len)
{
	const char *blk = vs_env_str("VS_BLK_DEV", "/dev/vda");
	int ret = vs_load_module(mod, params);

	ASSERT_EQ(0, ret) TH_LOG("load %s %s: %s", mod, params, strerror(-ret));
	ASSERT_EQ(0, vs_wait_path(blk, 1, 10000)) TH_LOG("%s missing after load", blk);
	ASSERT_EQ(0, vs_blk_virtio(blk, dev, len));
}

/* One debugfs cycle of @dev; returns how its suspends counter moved. */
static long one_cycle(struct __test_metadata *_metadata, const char *dev)
{
	char ctl[PATH_MAX], buf[64];
	long before = vs_suspend_count(dev, "suspends");

	vs_control_path(dev, ctl, sizeof(ctl));
	EXPECT_EQ(0, vs_write_attr(ctl, "cycle")) TH_LOG("%s: cycle", dev);
	EXPECT_EQ(0, vs_suspend_attr(dev, "state", buf, sizeof(buf)));
	EXPECT_STREQ("running", buf) TH_LOG("%s after a cycle", dev);
	return vs_suspend_count(dev, "suspends") - before;
}

/* The positive control of suspend_off: the device does offer SUSPEND. */
TEST(default_negotiates_suspend)
{
	const char *mod = getenv("VS_MODULE");
	const char *want = vs_env_str("VS_EXPECT_DIALECT", "spec");
	char dev[32], buf[64];

	ASSERT_NE(NULL, mod);
	load_with(_metadata, mod, "", dev, sizeof(dev));
	EXPECT_EQ(0, vs_suspend_attr(dev, "dialect", buf, sizeof(buf)));
	EXPECT_STREQ(want, buf) TH_LOG("%s", dev);
	EXPECT_EQ(1, one_cycle(_metadata, dev));
	EXPECT_EQ(0, vs_suspend_attr(dev, "last_path", buf, sizeof(buf)));
	EXPECT_STREQ("suspend", buf) TH_LOG("%s", dev);
	EXPECT_EQ(0, unload(mod));
}

TEST(suspend_off_is_not_negotiated)
{
	const char *mod = getenv("VS_MODULE");
	char dev[32], ctl[PATH_MAX], buf[64];

	ASSERT_NE(NULL, mod);
	load_with(_metadata, mod, "suspend=off", dev, sizeof(dev));
	ASSERT_EQ(0, vs_read_attr("/sys/module/virtio_suspend/parameters/suspend", buf, sizeof(buf)));
	EXPECT_STREQ("off", buf);
	ASSERT_EQ(0, vs_read_attr("/sys/module/virtio_suspend/parameters/control_classic",
				  buf, sizeof(buf)));
	EXPECT_STREQ("N", buf);
	EXPECT_EQ(0, vs_suspend_attr(dev, "dialect", buf, sizeof(buf)));
	EXPECT_STREQ("none", buf) TH_LOG("%s negotiated SUSPEND with suspend=off", dev);
	/* The control file refuses, and does nothing. */
	vs_control_path(dev, ctl, sizeof(ctl));
	klogctl(5 /* SYSLOG_ACTION_CLEAR */, NULL, 0);
	EXPECT_EQ(-EOPNOTSUPP, vs_write_attr(ctl, "suspend")) TH_LOG("%s", dev);
	EXPECT_TRUE(kmsg_has("debugfs suspend refused: SUSPEND not negotiated"));
	EXPECT_EQ(-EOPNOTSUPP, vs_write_attr(ctl, "cycle")) TH_LOG("%s", dev);
	EXPECT_EQ(0, vs_suspend_attr(dev, "state", buf, sizeof(buf)));
	EXPECT_STREQ("running", buf) TH_LOG("%s", dev);
	EXPECT_EQ(0, vs_suspend_attr(dev, "last_path", buf, sizeof(buf)));
	EXPECT_STREQ("none", buf) TH_LOG("%s", dev);
	/* A system sleep takes the classic path. */
	EXPECT_EQ(0, vs_sleep_cycle("freeze"));
	EXPECT_EQ(0, vs_suspend_count(dev, "suspends")) TH_LOG("%s", dev);
	EXPECT_EQ(0, vs_suspend_attr(dev, "last_path", buf, sizeof(buf)));
	EXPECT_STREQ("classic: SUSPEND not negotiated", buf) TH_LOG("%s", dev);
	EXPECT_EQ(0, unload(mod));

	/* With control_classic=1 the control file takes it too. */
	load_with(_metadata, mod, "suspend=off control_classic=1", dev, sizeof(dev));
	EXPECT_EQ(0, one_cycle(_metadata, dev)) TH_LOG("a SUSPEND cycle with suspend=off");
	EXPECT_EQ(0, vs_suspend_attr(dev, "last_path", buf, sizeof(buf)));
	EXPECT_STREQ("classic: SUSPEND not negotiated", buf) TH_LOG("%s", dev);
	EXPECT_EQ(0, unload(mod));
}

/* Reads a disk until told to stop: how many reads, failed, and when. */
struct reader {
	const char *blk;
	atomic_int stop;
	long reads, failed;
	/* When the suspend began and ended, once it did. */
	_Atomic long from_ms, to_ms;
	/* Reads issued while it ran (held, then given to the recovered
	 * device), and after it.
	 */
	long during, after;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	int fd = open(r->blk, O_RDONLY | O_DIRECT);
	void *buf;

	if (fd < 0 || posix_memalign(&buf, 4096, 4096)) {
		r->failed++;
		return NULL;
	}
	while (!atomic_load(&r->stop)) {
		long start = vs_now_ms();

		if (pread(fd, buf, 4096, (r->reads % 256) * 4096) != 4096)
			r->failed++;
		r->reads++;
		if (r->from_ms && start > r->from_ms && (!r->to_ms || start < r->to_ms))
			r->during++;
		if (r->to_ms && start > r->to_ms)
			r->after++;
	}
	free(buf);
	close(fd);
	return NULL;
}

/*
 * A SUSPEND that fails under the control file leaves no driver frozen:
 * the device is recovered, its driver frozen and restored at once, and
 * the write fails with EIO; reads issued while it ran (held by it)
 * complete. With control_classic=1 the driver is left frozen until the
 * resume.
 */
TEST(failed_debugfs_suspend_leaves_no_driver_frozen)
{
	const char *mod = getenv("VS_MODULE");
	const char *blk = vs_env_str("VS_NEVER_ACK_DEV", "/dev/vdb");
	struct reader r = { .blk = blk };
	char dev[32], bad[32], ctl[PATH_MAX], buf[96];
	pthread_t thread;

	ASSERT_NE(NULL, mod);
	load_with(_metadata, mod, "suspend_timeout_ms=100", dev, sizeof(dev));
	ASSERT_EQ(0, vs_wait_path(blk, 1, 10000)) TH_LOG("%s missing after load", blk);
	ASSERT_EQ(0, vs_blk_virtio(blk, bad, sizeof(bad)));
	vs_control_path(bad, ctl, sizeof(ctl));
	ASSERT_EQ(0, pthread_create(&thread, NULL, read_loop, &r));
	usleep(100 * 1000);
	klogctl(5 /* SYSLOG_ACTION_CLEAR */, NULL, 0);
	r.from_ms = vs_now_ms();
	EXPECT_EQ(-EIO, vs_write_attr(ctl, "suspend")) TH_LOG("%s", bad);
	r.to_ms = vs_now_ms();
	usleep(100 * 1000);
	atomic_store(&r.stop, 1);
	pthread_join(thread, NULL);
	EXPECT_TRUE(kmsg_has("debugfs suspend failed: no acknowledgement in time"));
	EXPECT_EQ(0, vs_suspend_attr(bad, "state", buf, sizeof(buf)));
	EXPECT_STREQ("running", buf) TH_LOG("%s", bad);
	EXPECT_EQ(0, vs_suspend_attr(bad, "held_by", buf, sizeof(buf)));
	EXPECT_STREQ("none", buf) TH_LOG("%s", bad);
	EXPECT_EQ(1, vs_suspend_count(bad, "timeouts")) TH_LOG("%s", bad);
	EXPECT_EQ(1, vs_suspend_count(bad, "fallbacks")) TH_LOG("%s", bad);
	EXPECT_EQ(0, r.failed) TH_LOG("%ld of %ld reads failed", r.failed, r.reads);
	EXPECT_LE(1, r.during) TH_LOG("no read was issued while the suspend ran");
	EXPECT_LE(1, r.after) TH_LOG("no read after the failed suspend");
	EXPECT_EQ(0, unload(mod));

	load_with(_metadata, mod, "suspend_timeout_ms=100 control_classic=1", dev, sizeof(dev));
	ASSERT_EQ(0, vs_wait_path(blk, 1, 10000)) TH_LOG("%s missing after load", blk);
	ASSERT_EQ(0, vs_blk_virtio(blk, bad, sizeof(bad)));
	vs_control_path(bad, ctl, sizeof(ctl));
	EXPECT_EQ(0, vs_write_attr(ctl, "suspend")) TH_LOG("%s", bad);
	EXPECT_EQ(0, vs_suspend_attr(bad, "state", buf, sizeof(buf)));
	EXPECT_STREQ("fallback", buf) TH_LOG("%s", bad);
	EXPECT_EQ(0, vs_write_attr(ctl, "resume")) TH_LOG("%s", bad);
	EXPECT_EQ(0, vs_suspend_attr(bad, "state", buf, sizeof(buf)));
	EXPECT_STREQ("running", buf) TH_LOG("%s", bad);
	EXPECT_EQ(0, unload(mod));
}

TEST(valid_values_load)
{
	const char *mod = getenv("VS_MODULE");
	char dev[32], buf[32];

	ASSERT_NE(NULL, mod);
	load_with(_metadata, mod, "dialect=v5 suspend_timeout_ms=60000", dev, sizeof(dev));
	ASSERT_EQ(0, vs_read_attr("/sys/module/virtio_suspend/parameters/dialect", buf, sizeof(buf)));
	EXPECT_STREQ("v5", buf);
	ASSERT_EQ(0, vs_read_attr("/sys/module/virtio_suspend/parameters/suspend_timeout_ms",
				  buf, sizeof(buf)));
	EXPECT_STREQ("60000", buf);
	/* The device speaks the merged spec only: no draft bit is taken. */
	EXPECT_EQ(0, vs_suspend_attr(dev, "dialect", buf, sizeof(buf)));
	EXPECT_STREQ("none", buf) TH_LOG("%s negotiated a v5 SUSPEND it does not offer", dev);
	EXPECT_EQ(0, unload(mod));
}

TEST_HARNESS_MAIN

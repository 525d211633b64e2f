// SPDX-License-Identifier: GPL-2.0
/*
 * A device that disappears (surprise removal) in the middle of a SUSPEND
 * handshake: its status reads 0xff from then on.  The transport must see
 * it at the first poll, not poll until suspend_timeout_ms, mark the
 * device's queues broken, refuse further commands (ENODEV), leave the
 * driver unfrozen, and let the device be unbound without waiting for a
 * reset that can never complete and without the virtio core's warning
 * about a status left set; a read outstanding on the device when it
 * vanished must end when the device goes, not hang.
 *
 * Our QEMU's x-fault-vanish property makes a virtio-pci device vanish
 * when the driver sets SUSPEND ("suspend") or clears it ("resume"): every
 * read of its virtio registers returns all ones afterwards.  The scenario
 * sets suspend_timeout_ms far above this test's timeout, so a transport
 * that polls a vanished device until the deadline fails by timing out.
 *
 * Environment:
 *   VS_VANISH  comma-separated "<virtioN>:suspend" or "<virtioN>:resume",
 *              the devices with the fault, in probe order; each must be
 *              bound to virtio_rng.
 */
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define GONE_PATH	"classic: device gone (status reads 0xff)"

/* The PCI function under virtio device @vdev: "0000:01:00.0". */
static int pci_function(const char *vdev, char *buf, size_t len)
{
	char path[PATH_MAX], real[PATH_MAX], *slash;

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s", vdev);
	if (!realpath(path, real))
		return -errno;
	slash = strrchr(real, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	slash = strrchr(real, '/');
	if (!slash || strlen(slash + 1) >= len)
		return -EINVAL;
	strcpy(buf, slash + 1);
	return 0;
}

/* Unbinds PCI function @bdf from its driver: 0 or -errno. */
static int pci_unbind(const char *bdf)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
	return vs_write_attr(path, bdf);
}

static int control(const char *vdev, const char *command)
{
	char path[PATH_MAX];

	vs_control_path(vdev, path, sizeof(path));
	return vs_write_attr(path, command);
}

/*
 * Leaves @vdev the only device virtio_rng drives (the others unbound from
 * it), so that its hwrng is the current one and /dev/hwrng reads from it.
 */
static int make_only_rng(const char *vdev)
{
	char path[PATH_MAX], cur[64];
	struct dirent *de;
	DIR *dir = opendir("/sys/bus/virtio/drivers/virtio_rng");
	int ret = 0;

	if (!dir)
		return -errno;
	while (!ret && (de = readdir(dir))) {
		if (strncmp(de->d_name, "virtio", 6) || !strcmp(de->d_name, vdev))
			continue;
		ret = vs_write_attr("/sys/bus/virtio/drivers/virtio_rng/unbind", de->d_name);
	}
	closedir(dir);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/sys/bus/virtio/drivers/virtio_rng/%s", vdev);
	if (access(path, F_OK))
		return -ENODEV;
	ret = vs_read_attr("/sys/class/misc/hw_random/rng_current", cur, sizeof(cur));
	if (ret)
		return ret;
	return strncmp(cur, "virtio_rng.", 11) ? -ENODEV : 0;
}

/* Forks a reader of /dev/hwrng; it exits 0 once read() returns. */
static pid_t start_reader(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		char buf[64];
		int fd = open("/dev/hwrng", O_RDONLY);

		if (fd < 0)
			_exit(2);
		for (;;)
			if (read(fd, buf, sizeof(buf)) <= 0)
				_exit(0);
	}
	return pid;
}

/* Waits at most @ms for @pid; 0 once it has exited, -ETIMEDOUT if not. */
static int wait_exit(pid_t pid, long ms)
{
	long start = vs_now_ms();
	int status;

	while (vs_now_ms() - start < ms) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return 0;
		usleep(20 * 1000);
	}
	return -ETIMEDOUT;
}

struct vanish {
	char vdev[32];
	char when[16];
};

static int parse_vanish(struct vanish *v, int max)
{
	char list[256], *tok, *save = NULL, *colon;
	int n = 0;

	snprintf(list, sizeof(list), "%s", vs_env_str("VS_VANISH", ""));
	for (tok = strtok_r(list, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
		colon = strchr(tok, ':');
		if (!colon || colon - tok >= (long)sizeof(v[n].vdev) ||
		    strlen(colon + 1) >= sizeof(v[n].when))
			return -EINVAL;
		*colon = '\0';
		strcpy(v[n].vdev, tok);
		strcpy(v[n].when, colon + 1);
		n++;
	}
	return n;
}

static void expect_gone(struct __test_metadata *_metadata, const char *vdev, long timeouts)
{
	char buf[128];

	ASSERT_EQ(0, vs_suspend_attr(vdev, "last_path", buf, sizeof(buf)));
	EXPECT_STREQ(GONE_PATH, buf);
	ASSERT_EQ(0, vs_suspend_attr(vdev, "state", buf, sizeof(buf)));
	EXPECT_STREQ("gone", buf);
	/* Seen at a poll, not at the deadline. */
	EXPECT_EQ(timeouts, vs_suspend_count(vdev, "timeouts"));
	/* Nothing more is asked of it. */
	EXPECT_EQ(-ENODEV, control(vdev, "suspend"));
	EXPECT_EQ(-ENODEV, control(vdev, "resume"));
}

TEST(vanish_while_suspending)
{
	struct vanish v[4];
	int i, n = parse_vanish(v, 4), seen = 0;

	ASSERT_LE(0, n) TH_LOG("VS_VANISH: <virtioN>:suspend|resume, comma-separated");
	for (i = 0; i < n; i++) {
		char bdf[32], path[PATH_MAX];
		long timeouts;

		if (strcmp(v[i].when, "suspend"))
			continue;
		seen++;
		ASSERT_EQ(0, pci_function(v[i].vdev, bdf, sizeof(bdf)));
		timeouts = vs_suspend_count(v[i].vdev, "timeouts");
		ASSERT_LE(0, timeouts);

		/*
		 * The device vanishes as SUSPEND is written: the transport
		 * gives up on it, marks its queues broken and leaves its
		 * driver alone (not frozen, so no restore is due: a stock
		 * driver's remove after a freeze frees what the freeze did).
		 */
		EXPECT_EQ(0, control(v[i].vdev, "suspend"));
		expect_gone(_metadata, v[i].vdev, timeouts);

		/* Unbinding completes: no reset wait on a device that is gone. */
		EXPECT_EQ(0, pci_unbind(bdf));
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s", v[i].vdev);
		EXPECT_NE(0, access(path, F_OK)) TH_LOG("%s still there after unbind", v[i].vdev);
	}
	ASSERT_LT(0, seen) TH_LOG("no device with x-fault-vanish=suspend in VS_VANISH");
}

TEST(vanish_while_resuming)
{
	struct vanish v[4];
	int i, n = parse_vanish(v, 4), seen = 0;

	ASSERT_LE(0, n) TH_LOG("VS_VANISH: <virtioN>:suspend|resume, comma-separated");
	for (i = 0; i < n; i++) {
		char bdf[32], path[PATH_MAX], buf[128];
		long timeouts;
		pid_t reader;
		int ret;

		if (strcmp(v[i].when, "resume"))
			continue;
		seen++;
		ASSERT_EQ(0, pci_function(v[i].vdev, bdf, sizeof(bdf)));
		timeouts = vs_suspend_count(v[i].vdev, "timeouts");
		ASSERT_LE(0, timeouts);
		ASSERT_EQ(0, make_only_rng(v[i].vdev)) TH_LOG("%s as the only hwrng", v[i].vdev);

		/* SUSPEND is acknowledged; the device goes when it is resumed. */
		ASSERT_EQ(0, control(v[i].vdev, "suspend"));
		ASSERT_EQ(0, vs_suspend_attr(v[i].vdev, "state", buf, sizeof(buf)));
		EXPECT_STREQ("suspended", buf);

		/* A read outstanding across the resume that loses the device. */
		reader = start_reader();
		ASSERT_LT(0, reader);
		usleep(200 * 1000);

		EXPECT_EQ(-ENODEV, control(v[i].vdev, "resume"));
		expect_gone(_metadata, v[i].vdev, timeouts);

		/*
		 * Nothing the device held completes; the read ends when the
		 * device is unbound (virtio_rng's remove wakes its reader).
		 */
		EXPECT_EQ(0, pci_unbind(bdf));
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s", v[i].vdev);
		EXPECT_NE(0, access(path, F_OK)) TH_LOG("%s still there after unbind", v[i].vdev);
		ret = wait_exit(reader, 5000);
		if (ret) {
			kill(reader, SIGKILL);
			waitpid(reader, NULL, 0);
		}
		EXPECT_EQ(0, ret) TH_LOG("the read outstanding on %s did not end after unbind",
					 v[i].vdev);
	}
	ASSERT_LT(0, seen) TH_LOG("no device with x-fault-vanish=resume in VS_VANISH");
}

TEST_HARNESS_MAIN

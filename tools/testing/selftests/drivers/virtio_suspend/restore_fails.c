// SPDX-License-Identifier: GPL-2.0
/*
 * Disks whose reset-based restore fails.
 *
 * Our QEMU's x-fault-recovery=reset makes a device refuse FEATURES_OK once
 * its driver has reset it after setting it up, as virtio_blk's freeze does
 * on the reset-based path: the restore that follows cannot set it up
 * again.  The virtio core's restore then fails before the driver's own
 * restore runs; a driver left frozen would wait in its blk-mq queue for
 * good, and its remove would free what its freeze freed (virtio_blk's
 * vqs).  The transport must instead restore the driver onto a detached
 * device and leave it broken: requests fail at once with EIO, the unbind
 * frees everything once, and the device cannot be set up again.
 *
 * The test issues a request that must go through each faulty device's
 * queue (reading the disk's serial, a passthrough request: its failure
 * is not logged as a block I/O error, and virtio_blk shows an EIO as an
 * empty serial), puts the system through one s2idle in pm_test mode
 * VS_PM_TEST, then checks that each faulty device is "broken", the
 * module logged the failed restore, the same request fails instead of
 * waiting, virtio_blk's unbind completes and its bind fails, and a
 * second s2idle leaves it alone.  The healthy disks keep answering.
 *
 * Environment:
 *   VS_BROKEN_SERIALS   comma-separated serial numbers (QEMU's serial
 *                       property) of the disks whose devices have the
 *                       fault; every other virtio disk must stay healthy
 *   VS_PM_TEST          see vs_sleep_cycle()
 */
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define MAX_DISKS	8
/* A request that waits longer than this has hung: a frozen driver. */
#define HANG_S		20
#define SERIAL_LEN	32

#define RESTORE_FAILED	"reset-based restore failed"
#define DRIVER		"/sys/bus/virtio/drivers/virtio_blk"

struct disk {
	char name[NAME_MAX + 1], vdev[32], serial[SERIAL_LEN];
	int faulty;
};

/*
 * Reads @disk's serial in a child (virtio_blk asks the device: a request
 * through the queue): 0 and the serial in @buf, -errno, or -ETIMEDOUT if
 * it did not end within HANG_S.
 */
static int read_serial(const char *disk, char *buf, size_t len)
{
	long start = vs_now_ms();
	char path[PATH_MAX];
	int pipefd[2], status;
	pid_t pid;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/block/%s/serial", disk);
	if (pipe(pipefd))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char serial[SERIAL_LEN];
		int ret;

		close(pipefd[0]);
		ret = vs_read_attr(path, serial, sizeof(serial));
		if (ret)
			_exit(-ret);
		if (write(pipefd[1], serial, strlen(serial) + 1) < 0)
			_exit(255);
		_exit(0);
	}
	close(pipefd[1]);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (vs_now_ms() - start >= HANG_S * 1000L) {
			/* Waiting uninterruptibly, it may never die: not reaped. */
			kill(pid, SIGKILL);
			close(pipefd[0]);
			return -ETIMEDOUT;
		}
		usleep(10 * 1000);
	}
	n = read(pipefd[0], buf, len - 1);
	close(pipefd[0]);
	if (!WIFEXITED(status))
		return -EINTR;
	if (WEXITSTATUS(status))
		return -WEXITSTATUS(status);
	buf[n > 0 ? n : 0] = '\0';
	return 0;
}

static int is_broken(const struct disk *d)
{
	char state[32];

	return !vs_suspend_attr(d->vdev, "state", state, sizeof(state)) &&
	       !strcmp(state, "broken");
}

FIXTURE(restore) {
	struct disk disks[MAX_DISKS];
	int n, faulty, kmsg;
};

FIXTURE_SETUP(restore)
{
	const char *serials = vs_env_str("VS_BROKEN_SERIALS", "");
	struct dirent *e;
	DIR *dir;

	self->kmsg = vs_kmsg_open();
	ASSERT_LE(0, self->kmsg);
	dir = opendir("/sys/block");
	ASSERT_NE(NULL, dir);
	while ((e = readdir(dir)) && self->n < MAX_DISKS) {
		struct disk *d = &self->disks[self->n];

		if (strncmp(e->d_name, "vd", 2))
			continue;
		snprintf(d->name, sizeof(d->name), "%s", e->d_name);
		ASSERT_EQ(0, vs_blk_virtio(d->name, d->vdev, sizeof(d->vdev)));
		ASSERT_EQ(0, read_serial(d->name, d->serial, sizeof(d->serial)))
			TH_LOG("%s: its serial before the sleep", d->name);
		d->faulty = vs_listed(d->serial, serials);
		self->faulty += d->faulty;
		self->n++;
	}
	closedir(dir);
	ASSERT_LT(0, self->faulty) TH_LOG("no disk with a serial in '%s'", serials);
	ASSERT_LT(self->faulty, self->n) TH_LOG("no healthy disk");
}

FIXTURE_TEARDOWN(restore)
{
	close(self->kmsg);
}

TEST_F_TIMEOUT(restore, failed_restore_leaves_the_driver_on_a_detached_device, 300)
{
	char path[PATH_MAX], serial[SERIAL_LEN], rec[1024], *msg;
	long fallbacks[MAX_DISKS];
	int i, logged = 0;

	ASSERT_EQ(0, vs_sleep_cycle("freeze"));

	while ((msg = vs_kmsg_next(self->kmsg, rec, sizeof(rec))))
		if (strstr(msg, RESTORE_FAILED))
			logged++;
	EXPECT_EQ(self->faulty, logged) TH_LOG("\"%s\" lines in the kernel log", RESTORE_FAILED);

	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];
		int ret = read_serial(d->name, serial, sizeof(serial));

		fallbacks[i] = vs_suspend_count(d->vdev, "fallbacks");
		if (!d->faulty) {
			EXPECT_FALSE(is_broken(d)) TH_LOG("healthy %s broken", d->name);
			EXPECT_EQ(0, ret) TH_LOG("healthy %s: serial after the sleep", d->name);
			EXPECT_STREQ(d->serial, serial);
			continue;
		}
		EXPECT_TRUE(is_broken(d)) TH_LOG("%s (%s) not broken", d->name, d->vdev);
		/*
		 * Not -ETIMEDOUT: the request must not wait in a frozen
		 * driver.  It fails: virtio_blk shows an EIO as no serial.
		 */
		EXPECT_EQ(0, ret) TH_LOG("%s: its serial after the failed restore", d->name);
		if (ret)
			continue;
		EXPECT_STREQ("", serial) TH_LOG("%s: its serial after the failed restore", d->name);
		/* The remove frees the driver's queues once. */
		EXPECT_EQ(0, vs_write_attr(DRIVER "/unbind", d->vdev)) TH_LOG("unbind %s", d->vdev);
		snprintf(path, sizeof(path), "/sys/block/%s", d->name);
		EXPECT_EQ(0, vs_wait_path(path, 0, 5000)) TH_LOG("%s after the unbind", path);
		/* A detached device is never set up again. */
		EXPECT_NE(0, vs_write_attr(DRIVER "/bind", d->vdev)) TH_LOG("bind %s", d->vdev);
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/driver", d->vdev);
		EXPECT_NE(0, access(path, F_OK)) TH_LOG("%s bound again", d->vdev);
		EXPECT_TRUE(is_broken(d));
	}

	/* The broken devices are left alone: no fallback, no refusal. */
	ASSERT_EQ(0, vs_sleep_cycle("freeze"));
	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];

		if (d->faulty) {
			EXPECT_EQ(fallbacks[i], vs_suspend_count(d->vdev, "fallbacks"))
				TH_LOG("%s: fallbacks", d->vdev);
			continue;
		}
		EXPECT_EQ(0, read_serial(d->name, serial, sizeof(serial)));
		EXPECT_STREQ(d->serial, serial);
	}
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * Disks whose reset-based restore fails.
 *
 * Our QEMU's x-fault-recovery=reset makes a device refuse FEATURES_OK once
 * its driver has reset it after setting it up, as virtio_blk's freeze does
 * on the reset-based path: the restore that follows cannot set it up
 * again (x-fault-vanish=reset makes a device vanish at that reset
 * instead: gone through the sleep, its restore fails the same way).  The
 * virtio core's restore then fails before the driver's own restore runs;
 * a driver left frozen would wait in its blk-mq queue for good, and its
 * remove would free what its freeze freed (virtio_blk's vqs).  The transport must instead restore the driver onto a detached
 * device and leave it broken: requests fail at once with EIO, the unbind
 * frees everything once, and the device cannot be set up again.
 *
 * The test reads each disk's serial (a passthrough request through its
 * queue: its failure is not logged as a block I/O error, and virtio_blk
 * shows it as an empty serial), puts the system through one s2idle in
 * pm_test mode VS_PM_TEST, then checks that each faulty device is
 * "broken", the module logged the failed restore, and the same request
 * fails instead of waiting; then that a second s2idle, the drivers still
 * bound, restores nothing and changes nothing of it; then that
 * virtio_blk's unbind completes and its bind fails.  The healthy disks
 * keep answering.
 *
 * First, through the debugfs control file, one faulty disk is frozen,
 * a serial read issued while it is, and the resume that fails must end
 * that read too, instead of leaving it in a queue no device takes.
 *
 * Before all that, a disk whose whole PCI function vanishes at the reset
 * of its freeze (x-fault-vanish=reset-function) is frozen through the
 * control file and its function unbound, as after a surprise removal:
 * its driver must be restored onto the detached device before its
 * remove, which would otherwise free again what the freeze freed.
 *
 * Devices of other types may have the fault too (VS_FAULTY_OTHERS): a
 * driver whose restore adds buffers and notifies the device (virtio_input
 * fills its event queue) must find its queues broken from the start of
 * that restore; QEMU counts a notification that reaches the device
 * without DRIVER_OK, and the runner fails the scenario on it.
 *
 * Environment:
 *   VS_BROKEN_SERIALS   comma-separated serial numbers (QEMU's serial
 *                       property) of the disks whose devices have the
 *                       fault; every other virtio disk must stay healthy
 *   VS_CONTROL_SERIAL   the faulty disk taken through the control file
 *                       first (control_classic=Y); none if empty
 *   VS_FAULTY_OTHERS    how many devices other than disks have the fault
 *                       (default 0): their restores fail too
 *   VS_VANISH_FROZEN_SERIAL  the disk whose function vanishes at its
 *                       freeze (not in VS_BROKEN_SERIALS); none if empty
 *   VS_PM_TEST          see vs_sleep_cycle()
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define MAX_DISKS	8
/* A request that waits longer than this has hung: a frozen driver. */
#define HANG_S		20
#define SERIAL_LEN	32

#define RESTORE_FAILED	"reset-based restore failed"
#define GONE_RESTORED	"device gone with its driver frozen: the driver is restored onto the detached device"
#define DRIVER		"/sys/bus/virtio/drivers/virtio_blk"

struct disk {
	char name[NAME_MAX + 1], vdev[32], serial[SERIAL_LEN];
	int faulty;
};

/* A serial read in a child: its pid and the pipe it answers on. */
struct serial_read {
	pid_t pid;
	int fd;
	long start;
};

/*
 * Starts reading @disk's serial in a child (virtio_blk asks the device:
 * a request through the queue): 0, or -errno.
 */
static int serial_start(const char *disk, struct serial_read *r)
{
	char path[PATH_MAX];
	int pipefd[2];

	snprintf(path, sizeof(path), "/sys/block/%s/serial", disk);
	if (pipe(pipefd))
		return -errno;
	r->start = vs_now_ms();
	r->pid = fork();
	if (r->pid < 0)
		return -errno;
	if (r->pid == 0) {
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
	r->fd = pipefd[0];
	return 0;
}

/*
 * Waits for the read @r started: 0 and the serial in @buf, -errno, or
 * -ETIMEDOUT if it did not end within HANG_S of its start.
 */
static int serial_wait(struct serial_read *r, char *buf, size_t len)
{
	int status;
	ssize_t n;

	while (waitpid(r->pid, &status, WNOHANG) == 0) {
		if (vs_now_ms() - r->start >= HANG_S * 1000L) {
			/* Waiting uninterruptibly, it may never die: not reaped. */
			kill(r->pid, SIGKILL);
			close(r->fd);
			return -ETIMEDOUT;
		}
		usleep(10 * 1000);
	}
	n = read(r->fd, buf, len - 1);
	close(r->fd);
	if (!WIFEXITED(status))
		return -EINTR;
	if (WEXITSTATUS(status))
		return -WEXITSTATUS(status);
	buf[n > 0 ? n : 0] = '\0';
	return 0;
}

/* Reads @disk's serial (see serial_start() and serial_wait()). */
static int read_serial(const char *disk, char *buf, size_t len)
{
	struct serial_read r;
	int ret = serial_start(disk, &r);

	return ret ? ret : serial_wait(&r, buf, len);
}

static int is_broken(const struct disk *d)
{
	char state[32];

	return !vs_suspend_attr(d->vdev, "state", state, sizeof(state)) &&
	       !strcmp(state, "broken");
}

FIXTURE(restore) {
	struct disk disks[MAX_DISKS];
	int n, faulty, others, kmsg;
};

FIXTURE_SETUP(restore)
{
	const char *serials = vs_env_str("VS_BROKEN_SERIALS", "");
	struct dirent *e;
	DIR *dir;

	self->others = vs_env_long("VS_FAULTY_OTHERS", 0);
	ASSERT_LE(0, self->others) TH_LOG("VS_FAULTY_OTHERS must not be negative");
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

/* The lines of the kernel log since the last call that name a failed restore. */
static int restores_failed(int kmsg)
{
	char rec[1024], *msg;
	int n = 0;

	while ((msg = vs_kmsg_next(kmsg, rec, sizeof(rec))))
		if (strstr(msg, RESTORE_FAILED))
			n++;
	return n;
}

/*
 * Each healthy disk answers with its serial; each faulty one is broken
 * and its request fails (virtio_blk shows a failed serial request as an
 * empty serial) instead of waiting in a frozen driver (-ETIMEDOUT).
 */
static void check_disks(struct __test_metadata *_metadata, FIXTURE_DATA(restore) *self,
			const char *when)
{
	char serial[SERIAL_LEN];
	int i;

	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];
		int ret = read_serial(d->name, serial, sizeof(serial));

		if (!d->faulty) {
			EXPECT_FALSE(is_broken(d)) TH_LOG("healthy %s broken %s", d->name, when);
			EXPECT_EQ(0, ret) TH_LOG("healthy %s: serial %s", d->name, when);
			EXPECT_STREQ(d->serial, serial);
			continue;
		}
		EXPECT_TRUE(is_broken(d)) TH_LOG("%s (%s) not broken %s", d->name, d->vdev, when);
		EXPECT_EQ(0, ret) TH_LOG("%s: serial %s", d->name, when);
		if (!ret)
			EXPECT_STREQ("", serial) TH_LOG("%s: serial %s", d->name, when);
	}
}

/*
 * First: the other test's fixture must not find this disk any more (run
 * alone, that test's sleep would make its function vanish).  Its
 * freeze resets the device, at which the function vanishes; the unbind of
 * the function finds it gone (the vendor ID reads 0xffff) while the
 * driver is frozen.  A remove of the frozen virtio_blk freed its queues a
 * second time ("Object already free", which fails the scenario).
 */
TEST_F_TIMEOUT(restore, function_vanishes_while_frozen, 60)
{
	const char *serial = vs_env_str("VS_VANISH_FROZEN_SERIAL", "");
	char path[PATH_MAX], bdf[32], state[32], rec[1024], *msg;
	uint16_t vendor = 0;
	int i, fd, restored = 0, frozen = 0;

	if (!*serial)
		SKIP(return, "no VS_VANISH_FROZEN_SERIAL");
	for (i = 0; i < self->n && strcmp(self->disks[i].serial, serial); i++)
		;
	ASSERT_LT(i, self->n) TH_LOG("no disk with serial '%s'", serial);
	ASSERT_EQ(0, vs_pci_function(self->disks[i].vdev, bdf, sizeof(bdf)));
	vs_control_path(self->disks[i].vdev, path, sizeof(path));
	ASSERT_EQ(0, vs_write_attr(path, "suspend")) TH_LOG("%s: suspend", self->disks[i].vdev);
	/* Its driver is frozen (the reset-based path). */
	ASSERT_EQ(0, vs_suspend_attr(self->disks[i].vdev, "state", state, sizeof(state)));
	ASSERT_STREQ("fallback", state);
	/* The configuration space reads all ones from the reset on. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd) TH_LOG("%s", path);
	EXPECT_EQ(2, pread(fd, &vendor, 2, 0));
	close(fd);
	EXPECT_EQ(0xffff, vendor) TH_LOG("%s: the function did not vanish", bdf);
	EXPECT_EQ(0, vs_pci_unbind(bdf)) TH_LOG("unbind %s", bdf);
	snprintf(path, sizeof(path), "/sys/block/%s", self->disks[i].name);
	EXPECT_EQ(0, vs_wait_path(path, 0, 5000)) TH_LOG("%s after the unbind", path);
	/*
	 * The remove found the function gone with the driver frozen, and
	 * restored the driver onto the detached device before the driver's
	 * remove (a double free otherwise, which the runner finds in the
	 * kernel log: SLUB refuses it, so the unbind completes either way).
	 */
	while ((msg = vs_kmsg_next(self->kmsg, rec, sizeof(rec)))) {
		restored += !!strstr(msg, GONE_RESTORED);
		frozen += !!strstr(msg, "cannot be restored onto the detached device");
	}
	EXPECT_EQ(1, restored) TH_LOG("\"%s\" lines in the kernel log", GONE_RESTORED);
	EXPECT_EQ(0, frozen) TH_LOG("the driver stayed frozen");
}

TEST_F_TIMEOUT(restore, failed_restore_leaves_the_driver_on_a_detached_device, 300)
{
	const char *control = vs_env_str("VS_CONTROL_SERIAL", "");
	char path[PATH_MAX], serial[SERIAL_LEN];
	int i, controlled = 0;

	/*
	 * Through the control file (control_classic=Y: the reset-based
	 * path), with a request issued while the driver is frozen: it waits
	 * in virtio_blk's stopped queue, and the restore onto the detached
	 * device dispatches it. It must fail, not wait on a queue no device
	 * takes.
	 */
	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];
		struct serial_read r;

		if (strcmp(d->serial, control))
			continue;
		vs_control_path(d->vdev, path, sizeof(path));
		ASSERT_EQ(0, vs_write_attr(path, "suspend")) TH_LOG("%s: suspend", d->vdev);
		ASSERT_EQ(0, serial_start(d->name, &r));
		usleep(500 * 1000);
		EXPECT_NE(0, vs_write_attr(path, "resume")) TH_LOG("%s: the failed resume", d->vdev);
		EXPECT_EQ(0, serial_wait(&r, serial, sizeof(serial)))
			TH_LOG("%s: the serial read while frozen", d->name);
		EXPECT_STREQ("", serial);
		controlled++;
	}
	ASSERT_EQ(!!*control, controlled) TH_LOG("no disk with serial '%s'", control);
	EXPECT_EQ(controlled, restores_failed(self->kmsg));

	ASSERT_EQ(0, vs_sleep_cycle("freeze"));
	EXPECT_EQ(self->faulty - controlled + self->others, restores_failed(self->kmsg))
		TH_LOG("\"%s\" lines in the kernel log", RESTORE_FAILED);
	check_disks(_metadata, self, "after the failed restore");

	/*
	 * The next sleep leaves the broken devices alone, their drivers
	 * bound: no freeze, no restore.
	 */
	ASSERT_EQ(0, vs_sleep_cycle("freeze"));
	EXPECT_EQ(0, restores_failed(self->kmsg)) TH_LOG("a restore failed again");
	check_disks(_metadata, self, "after the next sleep");

	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];

		if (!d->faulty)
			continue;
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
}

TEST_HARNESS_MAIN

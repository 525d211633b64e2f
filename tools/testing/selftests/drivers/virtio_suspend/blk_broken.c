// SPDX-License-Identifier: GPL-2.0
/*
 * Disks whose recovery fails, beside disks that work.
 *
 * Our QEMU's suspend-never-ack and x-fault-recovery=features make a
 * device leave its SUSPEND request unacknowledged, then refuse
 * FEATURES_OK when the transport, having reset it, sets it up again on
 * its queues.  The transport must give such a device up: state "broken",
 * its queues marked broken and released without a notification, no
 * reset-based freeze (virtio_blk's would wait for requests the device
 * cannot complete), -EIO to the PM core, and nothing tried on it again.
 *
 * fio writes and verifies every virtio disk (io_uring: writes in flight
 * when the freezer stops fio stay outstanding across the sleep) while the
 * test puts the system through s2idle, in pm_test mode VS_PM_TEST.  A
 * sleep that reaches a faulty device not broken yet must fail with EIO
 * and leave that device broken: its state reads "broken", the kernel log
 * has the module's line for it and the PM core's for its transport
 * device, its fio ends by itself with EIO, and direct reads and writes
 * on it fail with EIO instead of waiting.  Once every faulty device is
 * broken, system sleep works again: the healthy disks take the SUSPEND
 * path, the broken devices are left alone (their fallback count does not
 * move) and the control file refuses them with EIO; the healthy disks'
 * fio, writing across all of it, keeps writing after it, and verifies
 * what it wrote without an error until the test stops it.
 *
 * Environment:
 *   VS_BROKEN_SERIALS   comma-separated serial numbers (QEMU's serial
 *                       property) of the disks whose devices have the
 *                       fault; every other virtio disk must stay healthy
 *   VS_FIO_JOBS         fio jobs per disk (default 2)
 *   VS_FIO_IODEPTH      writes in flight per job (default 16)
 *   VS_FIO_REGION_MIB   each job's region of its disk (default 2)
 *   VS_PM_TEST          see vs_sleep_cycle()
 */
#include <libgen.h>
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define MAX_DISKS	8
/*
 * I/O on a broken disk must fail without waiting; this only turns a
 * request that waits forever into a failure instead of a hung test.
 */
#define HANG_S		60
/*
 * fio runs until its first error (a faulty disk) or until the test stops
 * it (SIGINT: fio then exits with status 128 plus the number of jobs
 * that failed).
 */
#define FIO_RUNTIME_S		600
#define FIO_EXIT_SIGNALLED	128

#define RECOVERY_FAILED	"cannot recover the device: it did not run again after the reset " \
			"(error -5); its queues are marked broken"

struct disk {
	char name[32], vdev[32], transport[64];
	int faulty;		/* the scenario gave its device the fault */
	pid_t fio;
	int fio_status;
	int module_line, pm_line;	/* seen in the kernel log */
};

/* The device the virtio device @vdev sits on: "feb00e00.virtio_mmio". */
static int transport_of(const char *vdev, char *buf, size_t len)
{
	char path[PATH_MAX], real[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s", vdev);
	if (!realpath(path, real))
		return -errno;
	snprintf(buf, len, "%s", basename(dirname(real)));
	return 0;
}

static void fio_file(const struct disk *d, const char *ext, char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/fio-%s.%s", d->name, ext);
}

/*
 * Starts fio's verified writers on @d.  Its jobs are threads: as
 * processes, each in a session of its own, a signal to fio would leave
 * them running.
 */
static pid_t start_fio(const struct disk *d)
{
	char a_file[PATH_MAX], a_out[PATH_MAX], err[PATH_MAX], a_runtime[32];
	char a_size[32], a_jobs[32], a_offset[32], a_iodepth[32];
	long region = vs_env_long("VS_FIO_REGION_MIB", 2);
	char *argv[] = {
		"/bin/fio", "--name=broken", "--thread", a_file, "--direct=1", "--ioengine=io_uring",
		a_iodepth, "--rw=randwrite", "--bs=4k", a_size, a_jobs, a_offset,
		"--verify=crc32c", "--verify_fatal=1", "--verify_backlog=32",
		"--time_based", a_runtime, "--group_reporting",
		"--output-format=json", a_out, NULL
	};
	pid_t pid;
	int fd;

	snprintf(a_file, sizeof(a_file), "--filename=/dev/%s", d->name);
	fio_file(d, "json", a_out + 9, sizeof(a_out) - 9);
	memcpy(a_out, "--output=", 9);
	fio_file(d, "err", err, sizeof(err));
	snprintf(a_runtime, sizeof(a_runtime), "--runtime=%d", FIO_RUNTIME_S);
	snprintf(a_size, sizeof(a_size), "--size=%ldm", region);
	snprintf(a_jobs, sizeof(a_jobs), "--numjobs=%ld", vs_env_long("VS_FIO_JOBS", 2));
	snprintf(a_offset, sizeof(a_offset), "--offset_increment=%ldm", region);
	snprintf(a_iodepth, sizeof(a_iodepth), "--iodepth=%ld", vs_env_long("VS_FIO_IODEPTH", 16));
	unlink(a_out + 9);
	pid = fork();
	if (pid == 0) {
		fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		/* Nothing of fio's on the TAP stream. */
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* The number after "@key" : in @text from @from on, or -1. */
static long long json_number(const char *from, const char *key)
{
	char quoted[64];
	const char *p;

	snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	p = strstr(from, quoted);
	if (!p)
		return -1;
	p = strchr(p + strlen(quoted), ':');
	return p ? strtoll(p + 1, NULL, 10) : -1;
}

/*
 * fio's report for @d (group_reporting: one job): its error (an errno,
 * 0 for none) and the bytes it read back to verify and wrote, each -1 if
 * missing.
 */
static void fio_report(const struct disk *d, long long *error, long long *read_bytes,
		       long long *write_bytes)
{
	char path[PATH_MAX], *text = calloc(1, 1 << 20);
	const char *job, *p;
	FILE *f;
	size_t n;

	*error = *read_bytes = *write_bytes = -1;
	fio_file(d, "json", path, sizeof(path));
	f = fopen(path, "r");
	if (!f || !text) {
		if (f)
			fclose(f);
		free(text);
		return;
	}
	n = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	text[n] = '\0';
	job = strstr(text, "\"jobs\"");
	if (job) {
		*error = json_number(job, "error");
		p = strstr(job, "\"read\" : {");
		*read_bytes = p ? json_number(p, "io_bytes") : -1;
		p = p ? strstr(p, "\"write\" : {") : NULL;
		*write_bytes = p ? json_number(p, "io_bytes") : -1;
	}
	free(text);
}

/* Prints the first lines fio wrote to its stderr, as TAP comments. */
static void fio_show_stderr(const struct disk *d)
{
	char path[PATH_MAX], line[512];
	int shown = 0;
	FILE *f;

	fio_file(d, "err", path, sizeof(path));
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f) && shown++ < 5)
		printf("# fio %s: %s", d->name, line);
	if (f)
		fclose(f);
}

/*
 * Waits up to @seconds for @d's fio to exit; 1 if it did (its wait
 * status in fio_status), 0 if it still runs.
 */
static int fio_wait(struct disk *d, long seconds)
{
	long deadline = vs_now_ms() + seconds * 1000;
	pid_t ret;

	for (;;) {
		ret = waitpid(d->fio, &d->fio_status, WNOHANG);
		if (ret == d->fio) {
			d->fio = -1;
			return 1;
		}
		if (ret < 0 || vs_now_ms() >= deadline)
			return 0;
		usleep(50 * 1000);
	}
}

static int is_state(const struct disk *d, const char *want)
{
	char state[32];

	return !vs_suspend_attr(d->vdev, "state", state, sizeof(state)) && !strcmp(state, want);
}

static int count_broken(const struct disk *disks, int n)
{
	int i, broken = 0;

	for (i = 0; i < n; i++)
		broken += is_state(&disks[i], "broken");
	return broken;
}

/*
 * Reads the kernel log records that /dev/kmsg reader @fd (non-blocking)
 * has not read yet, and notes for each disk the module's line saying its
 * device cannot be recovered and the PM core's saying its transport
 * device failed to suspend with -EIO.
 */
static void kmsg_scan(int fd, struct disk *disks, int n)
{
	char rec[8192], *msg, want[128];
	int i;

	while ((msg = vs_kmsg_next(fd, rec, sizeof(rec)))) {
		for (i = 0; i < n; i++) {
			snprintf(want, sizeof(want), " %s: " RECOVERY_FAILED, disks[i].vdev);
			if (strstr(msg, want)) {
				printf("# kernel: %s\n", msg);
				disks[i].module_line = 1;
			}
			snprintf(want, sizeof(want), " %s: PM: failed to suspend", disks[i].transport);
			if (strstr(msg, want) && strstr(msg, ": error -5")) {
				printf("# kernel: %s\n", msg);
				disks[i].pm_line = 1;
			}
		}
	}
}

/*
 * A direct read and a direct write of @d's first block, in a child:
 * 0 if both failed with EIO, -ETIMEDOUT if they had not ended after
 * HANG_S seconds (the child is left behind), otherwise what went wrong
 * (1: the read did not fail with EIO, 2: the write, 3: open or memory).
 * @ms: how long they took.
 */
static int direct_io_fails(const struct disk *d, long *ms)
{
	long start = vs_now_ms();
	int status;
	pid_t pid, ret;

	*ms = 0;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char path[PATH_MAX];
		void *buf;
		int fd;

		snprintf(path, sizeof(path), "/dev/%s", d->name);
		fd = open(path, O_RDWR | O_DIRECT);
		if (fd < 0 || posix_memalign(&buf, 4096, 4096))
			_exit(3);
		memset(buf, 0x5a, 4096);
		if (pread(fd, buf, 4096, 0) != -1 || errno != EIO)
			_exit(1);
		if (pwrite(fd, buf, 4096, 0) != -1 || errno != EIO)
			_exit(2);
		_exit(0);
	}
	for (;;) {
		ret = waitpid(pid, &status, WNOHANG);
		*ms = vs_now_ms() - start;
		if (ret == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
		if (ret < 0)
			return -errno;
		if (*ms >= HANG_S * 1000L) {
			kill(pid, SIGKILL);
			return -ETIMEDOUT;
		}
		usleep(10 * 1000);
	}
}

FIXTURE(broken) {
	struct disk disks[MAX_DISKS];
	int n, faulty, kmsg;
};

FIXTURE_SETUP(broken)
{
	const char *serials = vs_env_str("VS_BROKEN_SERIALS", "");
	struct dirent *de;
	DIR *dir;
	int i;

	self->n = self->faulty = 0;
	ASSERT_NE(0, serials[0]) TH_LOG("VS_BROKEN_SERIALS not set");
	ASSERT_EQ(0, access("/bin/fio", X_OK)) TH_LOG("no /bin/fio in the initramfs");
	dir = opendir("/sys/block");
	ASSERT_NE(NULL, dir);
	while ((de = readdir(dir))) {
		char path[PATH_MAX], serial[64] = "";
		struct disk *d = &self->disks[self->n];

		if (strncmp(de->d_name, "vd", 2))
			continue;
		ASSERT_GT(MAX_DISKS, self->n);
		memset(d, 0, sizeof(*d));
		d->fio = -1;
		ASSERT_GT(sizeof(d->name), strlen(de->d_name));
		strcpy(d->name, de->d_name);
		snprintf(path, sizeof(path), "/sys/block/%s/serial", d->name);
		vs_read_attr(path, serial, sizeof(serial));
		ASSERT_EQ(0, vs_blk_virtio(d->name, d->vdev, sizeof(d->vdev)));
		ASSERT_EQ(0, transport_of(d->vdev, d->transport, sizeof(d->transport)));
		d->faulty = serial[0] && vs_listed(serial, serials);
		self->faulty += d->faulty;
		self->n++;
		TH_LOG("%s: %s on %s, serial '%s'%s", d->name, d->vdev, d->transport, serial,
		       d->faulty ? ", faulty" : "");
	}
	closedir(dir);
	ASSERT_LT(0, self->faulty) TH_LOG("no disk has a serial of VS_BROKEN_SERIALS '%s'",
					  serials);
	ASSERT_LT(self->faulty, self->n) TH_LOG("no healthy disk beside the faulty ones");
	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];
		char path[PATH_MAX];

		ASSERT_TRUE(is_state(d, "running")) TH_LOG("%s does not run", d->vdev);
		ASSERT_EQ(0, vs_suspend_count(d->vdev, "fallbacks"));
		/*
		 * No I/O scheduler: nothing waits in the block layer to be
		 * dispatched once the freezer has stopped fio, so no write
		 * reaches the ring while the transport holds it.
		 */
		snprintf(path, sizeof(path), "/sys/block/%s/queue/scheduler", d->name);
		ASSERT_EQ(0, vs_write_attr(path, "none"));
	}
	self->kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, self->kmsg) TH_LOG("/dev/kmsg: %s", strerror(errno));
	ASSERT_LE(0, lseek(self->kmsg, 0, SEEK_END));
}

/*
 * In the harness's process, which runs it whatever way the test ended (a
 * failed assertion too): the fio processes the test started and did not
 * reap are stopped.  Not waited for (they are not this process's
 * children), nor could they be: a fio whose writes wait forever, the
 * failure this test looks for, never exits.
 */
FIXTURE_TEARDOWN_PARENT(broken)
{
	int i;

	for (i = 0; i < self->n; i++)
		if (self->disks[i].fio > 0)
			kill(self->disks[i].fio, SIGKILL);
}

TEST_F_TIMEOUT(broken, failed_recovery_leaves_the_device_broken, 900)
{
	long suspends[MAX_DISKS], written[MAX_DISKS];
	int i, ret, sleeps = 0, broken = 0;
	long long error, read_bytes, write_bytes;
	char path[PATH_MAX], text[160];
	long start, ms;

	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];

		written[i] = vs_blk_stat(d->name, 6);
		ASSERT_LE(0, written[i]);
		d->fio = start_fio(d);
		ASSERT_LT(0, d->fio);
	}
	/* Sleep only once fio's writes reach every disk. */
	start = vs_now_ms();
	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];

		while (vs_blk_stat(d->name, 6) == written[i] && vs_now_ms() < start + 10000) {
			ASSERT_EQ(0, waitpid(d->fio, &d->fio_status, WNOHANG))
				TH_LOG("fio on %s ended at once", d->name);
			usleep(10 * 1000);
		}
		ASSERT_NE(written[i], vs_blk_stat(d->name, 6)) TH_LOG("fio wrote nothing to %s in 10 s",
								   d->name);
	}

	/* Each sleep breaks at least one faulty device, and fails. */
	while (broken < self->faulty) {
		ASSERT_GT(self->faulty, sleeps)
			TH_LOG("%d sleeps left %d of %d faulty devices running", sleeps,
			       self->faulty - broken, self->faulty);
		ret = vs_sleep_cycle("freeze");
		sleeps++;
		EXPECT_EQ(-EIO, ret) TH_LOG("s2idle %d with a faulty device running: %s", sleeps,
					    ret ? strerror(-ret) : "succeeded");
		kmsg_scan(self->kmsg, self->disks, self->n);
		i = count_broken(self->disks, self->n);
		ASSERT_LT(broken, i) TH_LOG("s2idle %d broke no device", sleeps);
		broken = i;
	}
	TH_LOG("%d faulty devices broken by %d failed sleeps", broken, sleeps);

	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];

		if (!d->faulty) {
			EXPECT_TRUE(is_state(d, "running")) TH_LOG("%s: not running", d->vdev);
			suspends[i] = vs_suspend_count(d->vdev, "suspends");
			continue;
		}
		EXPECT_TRUE(is_state(d, "broken")) TH_LOG("%s: not broken", d->vdev);
		EXPECT_EQ(1, vs_suspend_count(d->vdev, "fallbacks"));
		EXPECT_EQ(1, vs_suspend_count(d->vdev, "timeouts"));
		EXPECT_EQ(0, vs_suspend_attr(d->vdev, "last_path", text, sizeof(text)));
		EXPECT_NE(NULL, strstr(text, "no acknowledgement in time")) TH_LOG("%s: last_path '%s'",
										    d->vdev, text);
		EXPECT_EQ(0, vs_suspend_attr(d->vdev, "held_by", text, sizeof(text)));
		EXPECT_STREQ("none", text);
	}

	/* System sleep goes on; nothing is tried on the broken devices again. */
	ret = vs_sleep_cycle("freeze");
	EXPECT_EQ(0, ret) TH_LOG("s2idle with the faulty devices broken: %s", strerror(-ret));
	kmsg_scan(self->kmsg, self->disks, self->n);
	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];

		if (!d->faulty) {
			EXPECT_TRUE(is_state(d, "running"));
			EXPECT_LT(suspends[i], vs_suspend_count(d->vdev, "suspends"))
				TH_LOG("%s did not take the SUSPEND path", d->vdev);
			EXPECT_FALSE(fio_wait(d, 0)) TH_LOG("fio on %s ended", d->name);
			continue;
		}
		EXPECT_TRUE(is_state(d, "broken"));
		EXPECT_EQ(1, vs_suspend_count(d->vdev, "fallbacks")) TH_LOG("%s tried again",
									    d->vdev);
		vs_control_path(d->vdev, path, sizeof(path));
		EXPECT_EQ(-EIO, vs_write_attr(path, "suspend"));
		EXPECT_TRUE(d->module_line) TH_LOG("%s: no \"%s\" in the kernel log", d->vdev,
						   RECOVERY_FAILED);
		EXPECT_TRUE(d->pm_line)
			TH_LOG("%s: no \"PM: failed to suspend ...: error -5\" in the kernel log",
			       d->transport);
	}

	/* A broken disk's I/O ends in EIO, without waiting. */
	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];

		if (!d->faulty)
			continue;
		ASSERT_TRUE(fio_wait(d, HANG_S))
			TH_LOG("fio on %s still runs %d s after its device broke", d->name, HANG_S);
		fio_report(d, &error, &read_bytes, &write_bytes);
		TH_LOG("fio on %s: error %lld, %lld bytes written, %lld verified", d->name, error,
		       write_bytes, read_bytes);
		EXPECT_EQ(EIO, error) TH_LOG("fio on %s did not end with EIO", d->name);
		if (error != EIO)
			fio_show_stderr(d);
		ret = direct_io_fails(d, &ms);
		EXPECT_EQ(0, ret) TH_LOG("%s: direct read and write %s", d->name,
					 ret == -ETIMEDOUT ? "still waiting" :
					 ret == 1 ? "read did not fail with EIO" :
					 ret == 2 ? "write did not fail with EIO" : "could not run");
		TH_LOG("%s: direct read and write failed in %ld ms", d->name, ms);
	}

	/*
	 * The healthy disks' fio wrote across every sleep, goes on writing,
	 * and found no bad block.
	 */
	for (i = 0; i < self->n; i++) {
		struct disk *d = &self->disks[i];
		long long before = vs_blk_stat(d->name, 6);

		if (d->faulty)
			continue;
		ASSERT_LT(0, d->fio) TH_LOG("fio on %s ended", d->name);
		start = vs_now_ms();
		while (vs_blk_stat(d->name, 6) == before && vs_now_ms() < start + 10000)
			usleep(10 * 1000);
		EXPECT_NE(before, vs_blk_stat(d->name, 6))
			TH_LOG("fio wrote nothing to %s in 10 s after the sleeps", d->name);
		kill(d->fio, SIGINT);
		ASSERT_TRUE(fio_wait(d, HANG_S)) TH_LOG("fio on %s did not stop", d->name);
		fio_report(d, &error, &read_bytes, &write_bytes);
		TH_LOG("fio on %s: error %lld, %lld bytes written, %lld verified", d->name, error,
		       write_bytes, read_bytes);
		EXPECT_TRUE(WIFEXITED(d->fio_status) &&
			    WEXITSTATUS(d->fio_status) == FIO_EXIT_SIGNALLED)
			TH_LOG("fio on %s: exit status %d, signal %d (%d: stopped, no job failed)",
			       d->name, WIFEXITED(d->fio_status) ? WEXITSTATUS(d->fio_status) : -1,
			       WIFSIGNALED(d->fio_status) ? WTERMSIG(d->fio_status) : 0,
			       FIO_EXIT_SIGNALLED);
		if (!WIFEXITED(d->fio_status) || WEXITSTATUS(d->fio_status) != FIO_EXIT_SIGNALLED)
			fio_show_stderr(d);
		EXPECT_EQ(0, error);
		EXPECT_LT(0, read_bytes) TH_LOG("fio verified nothing on %s", d->name);
	}
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * SUSPEND cycles of the virtio-blk device while fio, an I/O client that
 * is not ours, writes and verifies the raw disk (or several disks).
 *
 * fio runs time-based random 4 KiB O_DIRECT writes from several jobs,
 * each owning its own region of the disk, with crc32c verification of
 * every block: --verify_backlog reads blocks back and checks them while
 * the writing goes on, --verify_fatal stops at the first bad one. While
 * it runs, this test cycles the disks' virtio devices through debugfs,
 * one disk a cycle in turn (and, every VS_FIO_SLEEP_EVERY cycles, the
 * whole system through the sleep VS_SLEEP_STATE names, in the pm_test
 * mode VS_PM_TEST names: vs_sleep_cycle()), checking after
 * each cycle that every device it reached took the path the scenario
 * expects: SUSPEND (suspend/last_path reads "suspend" and the suspends
 * counter counts every cycle of that device) or, for a device with an
 * injected fault, the reset-based fallback (last_path starts "classic" and
 * the fallbacks counter counts them). Either way the I/O in flight when
 * the cycle began must complete: fio must exit 0, report no error and a
 * non-zero number of verified bytes, and still have been running after
 * the last cycle.
 *
 * Environment:
 *   VS_BLK_DEV           default /dev/vda; several disks (at most
 *                        MAX_DISKS) in fio's syntax (/dev/vda:/dev/vdb):
 *                        each job writes its region of each, split; the
 *                        debugfs cycles take the disks in turn; the
 *                        corruption control is the first disk's
 *   VS_FIO_RUNTIME       fio's run time in seconds (default 30)
 *   VS_FIO_MARGIN        seconds before fio's end when cycling stops
 *                        (default 3)
 *   VS_FIO_SLEEP_EVERY   every Nth cycle is a system sleep (default 0:
 *                        debugfs cycles only)
 *   VS_SLEEP_STATE       that sleep: "freeze" (s2idle, the default) or
 *                        "mem" (with VS_PM_TEST=none and
 *                        mem_sleep_default=deep, real S3 on q35), or
 *                        several in turn (vs_sleep_state())
 *   VS_FIO_REGION_MIB    each job's region (default 8); VS_FIO_JOBS (4)
 *   VS_FIO_ENGINE        fio's ioengine (default psync: one synchronous
 *                        write per job, which the freezer waits for
 *                        before devices suspend); io_uring keeps up to
 *                        VS_FIO_IODEPTH (default 1) writes per job in
 *                        flight while the freezer stops fio, so they are
 *                        in flight when the device suspends in s2idle
 *   VS_FIO_HOLD_MS       debugfs cycles stay suspended this long (default
 *                        0: "cycle"); long enough, with a small ring, for
 *                        the writers to fill the ring while it is held
 *   VS_EXPECT_PATH       "suspend" (default); "classic" or "resume-failed":
 *                        every cycle falls back to the reset-based path
 *   VS_EXPECT_REASON     with a fallback: text last_path must contain
 *   VS_FIO_CORRUPT_AT    negative control only: after that many cycles,
 *                        overwrite every job's region with junk behind
 *                        fio's back; fio must then report verify errors
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define FIO_OUT		"/tmp/fio.json"
#define FIO_ERR		"/tmp/fio.err"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The number after "@key" : in @json from @from on, or -1; *@at is left
 * just past it.
 */
static long long json_number(const char *from, const char *key, const char **at)
{
	char quoted[64];
	const char *p;

	snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	p = strstr(from, quoted);
	if (!p)
		return -1;
	p = strchr(p + strlen(quoted), ':');
	if (!p)
		return -1;
	if (at)
		*at = p + 1;
	return strtoll(p + 1, NULL, 10);
}

struct fio_result {
	long long error, read_bytes, write_bytes;
};

/* fio's JSON report; the file may start with fio's warnings. */
static int parse_fio(struct fio_result *r)
{
	const char *p, *job;
	char *text;
	size_t len = 0;
	FILE *f = fopen(FIO_OUT, "r");

	if (!f)
		return -errno;
	text = calloc(1, 1 << 20);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	text[len] = '\0';
	job = strstr(text, "\"jobs\"");
	if (!job) {
		free(text);
		return -EINVAL;
	}
	/* One job (group_reporting): error, then read {}, then write {}. */
	r->error = json_number(job, "error", NULL);
	/* Sections, not a job option's value ("rw" : "randwrite"). */
	p = strstr(job, "\"read\" : {");
	r->read_bytes = p ? json_number(p, "io_bytes", NULL) : -1;
	p = p ? strstr(p, "\"write\" : {") : NULL;
	r->write_bytes = p ? json_number(p, "io_bytes", NULL) : -1;
	free(text);
	return r->error < 0 || r->read_bytes < 0 || r->write_bytes < 0 ? -EINVAL : 0;
}

/*
 * Lines of fio's stderr that report a bad block; with @show, prints the
 * first lines of it whatever they say.
 */
static int fio_stderr(int show)
{
	char line[512];
	int n = 0, shown = 0;
	FILE *f = fopen(FIO_ERR, "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (show && shown++ < 10)
			fprintf(stderr, "# fio: %s", line);
		n += !strncmp(line, "verify:", 7);
	}
	if (f)
		fclose(f);
	return n;
}

/* 0 while fio runs; otherwise prints its stderr and returns its pid. */
static pid_t fio_ended(pid_t pid, int *status)
{
	pid_t ret = waitpid(pid, status, WNOHANG);

	if (ret)
		fio_stderr(1);
	return ret;
}

/*
 * Whether the cycle just done took the expected path: @counter ("suspends"
 * or "fallbacks") must read @want, last_path what VS_EXPECT_PATH and
 * VS_EXPECT_REASON say. Fills @last_path.
 */
static int took_expected_path(const char *vdev, const char *counter, long want,
			      char *last_path, size_t len)
{
	const char *reason = getenv("VS_EXPECT_REASON");

	if (vs_suspend_attr(vdev, "last_path", last_path, len))
		return 0;
	if (vs_suspend_count(vdev, counter) != want)
		return 0;
	if (!strcmp(counter, "suspends"))
		return !strcmp(last_path, "suspend");
	return !strncmp(last_path, "classic", 7) && (!reason || strstr(last_path, reason));
}

/* The negative control: junk over every job's region, behind fio's back. */
static int corrupt(const char *blk, long bytes)
{
	char dev[PATH_MAX];
	long done;
	char *buf;
	int fd;

	snprintf(dev, sizeof(dev), "/dev/%s", blk);
	fd = open(dev, O_WRONLY | O_DIRECT);

	if (fd < 0 || posix_memalign((void **)&buf, 4096, 1 << 20))
		return -1;
	memset(buf, 0xa5, 1 << 20);
	for (done = 0; done < bytes; done += 1 << 20)
		if (pwrite(fd, buf, 1 << 20, done) != 1 << 20)
			break;
	close(fd);
	free(buf);
	return done >= bytes ? 0 : -1;
}

#define MAX_DISKS 4

/*
 * A disk fio writes, its virtio device, that device's cycles, and the
 * sectors written to the disk when it was last cycled.
 */
struct disk {
	char blk[32], vdev[32];
	long base, cycles, with_io;
	long long written;
};

FIXTURE(fio) {
	struct disk disks[MAX_DISKS];
	int ndisks;
	pid_t pid;
};

FIXTURE_SETUP(fio)
{
	char paths[MAX_DISKS][VS_ITEM_LEN];
	const char *base;
	struct disk *d;
	int n;

	self->pid = -1;
	n = vs_env_list("VS_BLK_DEV", "/dev/vda", ':', paths, MAX_DISKS);
	ASSERT_LT(0, n) TH_LOG("VS_BLK_DEV: one to %d disks", MAX_DISKS);
	for (self->ndisks = 0; self->ndisks < n; self->ndisks++) {
		d = &self->disks[self->ndisks];
		/* The disk's name: "vda" of "/dev/vda" */
		base = strrchr(paths[self->ndisks], '/');
		base = base ? base + 1 : paths[self->ndisks];
		ASSERT_GT(sizeof(d->blk), strlen(base));
		strcpy(d->blk, base);
		/* A virtio-blk disk, or a SCSI disk on a virtio-scsi controller. */
		ASSERT_EQ(0, vs_blk_virtio_device(d->blk, d->vdev, sizeof(d->vdev)))
			TH_LOG("%s: no virtio device above it in sysfs", d->blk);
		ASSERT_LE(0, vs_suspend_count(d->vdev, "suspends"))
			TH_LOG("%s has no suspend/ attributes", d->vdev);
	}
	ASSERT_EQ(0, access("/bin/fio", X_OK)) TH_LOG("no /bin/fio in the initramfs");
}

/*
 * Whether disk @one (every disk when NULL) has had writes completed since
 * the previous call that took it, recording its count of sectors
 * written; -1 when a disk's stat cannot be read.
 */
static int writes_since(struct disk *disks, int n, const struct disk *one)
{
	long long now;
	int all = 1, i;

	for (i = 0; i < n; i++) {
		if (one && &disks[i] != one)
			continue;
		now = vs_blk_stat(disks[i].blk, 6);
		if (now < 0)
			return -1;
		all &= now != disks[i].written;
		disks[i].written = now;
	}
	return all;
}

FIXTURE_TEARDOWN(fio)
{
	if (self->pid > 0) {
		kill(self->pid, SIGKILL);
		waitpid(self->pid, NULL, 0);
	}
}

TEST_F_TIMEOUT(fio, suspend_cycles_under_verified_writes, 900)
{
	const char *dev = vs_env_str("VS_BLK_DEV", "/dev/vda");
	long runtime = vs_env_long("VS_FIO_RUNTIME", 30);
	long margin = vs_env_long("VS_FIO_MARGIN", 3);
	long sleep_every = vs_env_long("VS_FIO_SLEEP_EVERY", 0);
	/* "freeze" (s2idle), "mem" (the deep state: S3 on q35), or both */
	const char *sleep_states = vs_env_str("VS_SLEEP_STATE", "freeze");
	long region = vs_env_long("VS_FIO_REGION_MIB", 8);
	long jobs = vs_env_long("VS_FIO_JOBS", 4);
	long corrupt_at = vs_env_long("VS_FIO_CORRUPT_AT", -1);
	long hold_ms = vs_env_long("VS_FIO_HOLD_MS", 0);
	const char *expect_path = vs_env_str("VS_EXPECT_PATH", "suspend");
	const char *engine = vs_env_str("VS_FIO_ENGINE", "psync");
	long iodepth = vs_env_long("VS_FIO_IODEPTH", 1);
	/* SUSPEND counts suspends; a fallback, whatever its cause, fallbacks. */
	const char *counter = strcmp(expect_path, "suspend") ? "fallbacks" : "suspends";
	long cycles = 0, sleeps = 0, debugfs = 0, with_io = 0, bad = 0;
	char a_runtime[32], a_size[32], a_jobs[32], a_offset[32], a_file[PATH_MAX];
	char a_engine[64], a_iodepth[32];
	char ctl[PATH_MAX], path_buf[160];
	struct disk *d;
	int i;
	int io;
	struct fio_result res = { -1, -1, -1 };
	double start, stop_at;
	int status, fd, still_running;
	char *argv[] = {
		"/bin/fio", "--name=suspend", a_file, "--direct=1", a_engine, a_iodepth,
		"--rw=randwrite", "--bs=4k", a_size, a_jobs, a_offset,
		"--verify=crc32c", "--verify_fatal=1", "--verify_backlog=32",
		"--time_based", a_runtime, "--group_reporting",
		"--output-format=json", "--output=" FIO_OUT, NULL
	};

	snprintf(a_file, sizeof(a_file), "--filename=%s", dev);
	snprintf(a_engine, sizeof(a_engine), "--ioengine=%s", engine);
	snprintf(a_iodepth, sizeof(a_iodepth), "--iodepth=%ld", iodepth);
	snprintf(a_size, sizeof(a_size), "--size=%ldm", region);
	snprintf(a_jobs, sizeof(a_jobs), "--numjobs=%ld", jobs);
	snprintf(a_offset, sizeof(a_offset), "--offset_increment=%ldm", region);
	snprintf(a_runtime, sizeof(a_runtime), "--runtime=%ld", runtime);
	ASSERT_LT(2 * margin, runtime);

	for (d = self->disks; d < self->disks + self->ndisks; d++) {
		d->base = vs_suspend_count(d->vdev, counter);
		ASSERT_LE(0, d->base) TH_LOG("%s: no suspend/%s", d->vdev, counter);
	}
	ASSERT_LE(0, writes_since(self->disks, self->ndisks, NULL));
	unlink(FIO_OUT);
	start = now_s();
	self->pid = fork();
	ASSERT_LE(0, self->pid);
	if (self->pid == 0) {
		fd = open(FIO_ERR, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		/* Nothing of fio's on the TAP stream. */
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	/* Cycle only once fio's writes reach every disk. */
	for (i = 0; i < self->ndisks; i++) {
		d = &self->disks[i];
		while (vs_blk_stat(d->blk, 6) == d->written && now_s() < start + 10) {
			ASSERT_EQ(0, fio_ended(self->pid, &status)) TH_LOG("fio ended at once");
			usleep(10 * 1000);
		}
		ASSERT_NE(d->written, vs_blk_stat(d->blk, 6))
			TH_LOG("fio wrote nothing to %s in 10 s", d->blk);
	}
	ASSERT_LE(0, writes_since(self->disks, self->ndisks, NULL));
	/*
	 * fio's run time counts from its jobs' start, right before their
	 * first I/O, not from its exec: on a loaded machine fio took 9 of the
	 * 12 s to get there, and no cycle fitted before a stop counted from
	 * the exec.
	 */
	stop_at = now_s() + runtime - margin;

	while (now_s() < stop_at) {
		int sleep_cycle = sleep_every > 0 && (cycles + 1) % sleep_every == 0;
		const char *sleep_state = vs_sleep_state(sleeps);
		/* The disk a debugfs cycle takes; a system sleep takes all. */
		struct disk *one = &self->disks[debugfs % self->ndisks];
		int ret;

		vs_control_path(one->vdev, ctl, sizeof(ctl));
		if (sleep_cycle) {
			ret = vs_sleep_cycle(sleep_state);
		} else if (hold_ms > 0) {
			ret = vs_write_attr(ctl, "suspend");
			usleep(hold_ms * 1000);
			if (!ret)
				ret = vs_write_attr(ctl, "resume");
		} else {
			ret = vs_write_attr(ctl, "cycle");
		}
		ASSERT_EQ(0, ret) TH_LOG("%s cycle %ld: %s", sleep_cycle ? sleep_state : one->vdev,
					 cycles, strerror(-ret));
		cycles++;
		sleeps += sleep_cycle;
		debugfs += !sleep_cycle;
		for (i = 0; i < self->ndisks; i++) {
			d = &self->disks[i];
			if (!sleep_cycle && d != one)
				continue;
			d->cycles++;
			if (took_expected_path(d->vdev, counter, d->base + d->cycles, path_buf,
					       sizeof(path_buf)))
				continue;
			if (bad++ < 5)
				TH_LOG("cycle %ld: %s: last_path '%s', %s %ld, want %ld (%s)",
				       cycles, d->vdev, path_buf, counter,
				       vs_suspend_count(d->vdev, counter), d->base + d->cycles,
				       expect_path);
			d->base = vs_suspend_count(d->vdev, counter) - d->cycles;
		}
		/* Writes completed on every disk the cycle reached since its last. */
		io = writes_since(self->disks, self->ndisks, sleep_cycle ? NULL : one);
		ASSERT_LE(0, io);
		with_io += io;
		for (i = 0; i < self->ndisks; i++)
			self->disks[i].with_io += io && (sleep_cycle || &self->disks[i] == one);
		if (cycles == corrupt_at)
			ASSERT_EQ(0, corrupt(self->disks[0].blk, jobs * region << 20));
		ASSERT_EQ(0, fio_ended(self->pid, &status))
			TH_LOG("fio ended after %ld cycles, %.1f s into its %ld s run",
			       cycles, now_s() - start, runtime);
	}
	/* Still in flight after the last cycle: the cycles all ran under fio. */
	still_running = waitpid(self->pid, &status, WNOHANG) == 0;

	ASSERT_EQ(self->pid, waitpid(self->pid, &status, 0));
	self->pid = -1;
	TH_LOG("%ld cycles under fio (%ld sleeps, %s, and %ld debugfs) in %.1f s, %ld with writes "
	       "completed since the previous one", cycles, sleeps, sleep_states, cycles - sleeps,
	       stop_at - start, with_io);
	for (d = self->disks; d < self->disks + self->ndisks; d++) {
		TH_LOG("%s (%s): %ld cycles, %ld with writes completed since its previous one",
		       d->blk, d->vdev, d->cycles, d->with_io);
		EXPECT_LT(0, d->with_io) TH_LOG("%s: no write completed between two of its cycles",
						d->blk);
	}
	EXPECT_EQ(0, bad) TH_LOG("%ld cycles of a device did not take the %s path", bad,
				 expect_path);
	EXPECT_LT(0, cycles);
	EXPECT_TRUE(still_running) TH_LOG("fio was not running after the last cycle");
	EXPECT_EQ(0, fio_stderr(!WIFEXITED(status) || WEXITSTATUS(status)))
		TH_LOG("fio found bad blocks");
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("fio: exit status %d, signal %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ASSERT_EQ(0, parse_fio(&res)) TH_LOG("no job report in fio's JSON output");
	TH_LOG("fio: %lld bytes written, %lld bytes verified, error %lld", res.write_bytes,
	       res.read_bytes, res.error);
	EXPECT_EQ(0, res.error);
	EXPECT_LT(0, res.read_bytes) TH_LOG("fio verified nothing");
	EXPECT_LT(0, res.write_bytes);
	EXPECT_LT(0, with_io) TH_LOG("no write completed between two cycles");
}

TEST_HARNESS_MAIN

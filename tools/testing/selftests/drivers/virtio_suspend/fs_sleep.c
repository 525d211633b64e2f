// SPDX-License-Identifier: GPL-2.0
/*
 * File systems over virtio across system sleep: 9p and virtio-fs.
 *
 * Neither driver sleeps on the reset-based path in 6.12. 9p's transport
 * (net/9p/trans_virtio.c) has no freeze or restore: virtio_device_restore()
 * resets the device and sets DRIVER_OK with no queue set up again, and
 * every later 9P request waits for a device that never answers. virtio-fs
 * (fs/fuse/virtio_fs.c) refuses to freeze (-EOPNOTSUPP): with such a
 * device the whole system cannot suspend. On the SUSPEND path neither
 * driver's freeze runs: the device, its queues and the session live
 * through the sleep.
 *
 * Every mount in VS_FS_SUSPEND is mounted, each read and write a request
 * to the device (9p: cache=none; virtio-fs: the daemon runs with caching
 * off, so FUSE reads and writes directly). A file on each is held open
 * from before the first cycle; a worker per mount keeps writing, fsyncing
 * and reading back numbered 4 KiB records in a second file, so that
 * requests are in flight when each cycle begins. After every cycle
 * (VS_SLEEP_CYCLES s2idle, then VS_DEBUGFS_CYCLES debugfs cycles of every
 * such device) the held file is written and read back at a new offset,
 * every worker must have completed a record since the cycle before, and
 * the device must have taken the SUSPEND path. At the end the workers'
 * files are verified whole.
 *
 * Every mount in VS_FS_CLASSIC is on a device that does not offer
 * SUSPEND, beside the others in the same guest, and shows what 6.12 does
 * on the reset-based path, measured:
 *   virtiofs: with the workers running, system suspend is refused (the
 *     driver's freeze fails with EOPNOTSUPP); every mount, this one too,
 *     still works after the refusal. The refusal leaves nothing behind:
 *     the device's suspend/state reads "running", a second system
 *     suspend (one device at a time, see refusal_forgotten()) is refused
 *     the same way (a device taken for frozen would let it through, and
 *     the resume would reset the device under its driver), and every
 *     mount on the SUSPEND path answers after it, so is a debugfs
 *     suspend of the device, after which a debugfs resume finds nothing
 *     to resume (EINVAL); the mount answers a write and a read after
 *     each, within VS_FS_ANSWER_MS. The device
 *     is then unmounted and unbound from its driver, so that the system
 *     can sleep for the cycles.
 *   9p: its file is written before the cycles, and after them one read
 *     of it is tried in a child: it never completes within VS_FS_HANG_MS.
 *     The reader is left stuck (killed, the 9p client still waits for its
 *     Tflush's answer), so this is the last thing the test does.
 *
 * Environment:
 *   VS_FS_SUSPEND     comma-separated mounts on the SUSPEND path, each
 *                     type:tag with type 9p or virtiofs
 *   VS_FS_CLASSIC     the same, on the reset-based path
 *   VS_SLEEP_CYCLES   s2idle cycles (default 20)
 *   VS_DEBUGFS_CYCLES debugfs cycles (default 5)
 *   VS_FS_HANG_MS     how long the classic 9p read is given (default 5000)
 *   VS_FS_ANSWER_MS   how long the classic virtio-fs mount is given to
 *                     answer after a refusal (default 10000)
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define MAX_MOUNTS	6
#define RECORD		4096
#define RECORDS		64

struct fsmount {
	char type[16], tag[32], dir[64], vdev[32];
	int held;		/* the file held open across the cycles */
	long suspends;
	pid_t worker;
};

/* Shared with the workers. */
struct progress {
	long done[MAX_MOUNTS], errors[MAX_MOUNTS];
};

static struct progress *progress;
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

/* Whether virtio device @vdev's 9p mount tag is @tag. */
static int has_9p_tag(const char *vdev, const void *tag)
{
	char path[PATH_MAX], buf[64];

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/mount_tag", vdev);
	return !vs_read_attr(path, buf, sizeof(buf)) && !strcmp(buf, tag);
}

/*
 * Whether virtio device @vdev's virtio-fs tag is @tag: virtio_fs names
 * its sysfs directory after the device's index, the number in virtio<N>.
 */
static int has_virtiofs_tag(const char *vdev, const void *tag)
{
	char path[PATH_MAX], buf[64];

	snprintf(path, sizeof(path), "/sys/fs/virtiofs/%s/tag", vdev + strlen("virtio"));
	return !vs_read_attr(path, buf, sizeof(buf)) && !strcmp(buf, tag);
}

static int is_9p(const struct fsmount *m)
{
	return !strcmp(m->type, "9p");
}

/* The virtio device of @m's mount tag, in m->vdev: 0 or -errno. */
static int tag_vdev(struct fsmount *m)
{
	return vs_find_virtio("/sys/bus/virtio/devices", is_9p(m) ? has_9p_tag : has_virtiofs_tag,
			      m->tag, m->vdev, sizeof(m->vdev));
}

static int mount_tag(struct fsmount *m)
{
	int ret;

	snprintf(m->dir, sizeof(m->dir), "/mnt/%s", m->tag);
	if (mkdir("/mnt", 0755) && errno != EEXIST)
		return -errno;
	if (mkdir(m->dir, 0755) && errno != EEXIST)
		return -errno;
	if (is_9p(m))
		ret = mount(m->tag, m->dir, "9p", 0, "trans=virtio,version=9p2000.L,cache=none");
	else
		ret = mount(m->tag, m->dir, "virtiofs", 0, NULL);
	return ret ? -errno : 0;
}

static void fill(char *buf, long n, long gen)
{
	long i;

	for (i = 0; i < RECORD; i++)
		buf[i] = (char)(n * 131 + gen * 7 + i);
}

/* Rewrites records of @dir/records until told to stop; exits 0 or 1. */
static void worker(const char *dir, int slot)
{
	char path[PATH_MAX], out[RECORD], in[RECORD];
	long gen[RECORDS] = { 0 }, n, i = 0;
	int fd;

	signal(SIGTERM, on_term);
	snprintf(path, sizeof(path), "%s/records", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		_exit(1);
	while (!stop) {
		n = i++ % RECORDS;
		fill(out, n, ++gen[n]);
		if (pwrite(fd, out, RECORD, n * RECORD) != RECORD || fsync(fd) ||
		    pread(fd, in, RECORD, n * RECORD) != RECORD || memcmp(in, out, RECORD)) {
			__atomic_add_fetch(&progress->errors[slot], 1, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_add_fetch(&progress->done[slot], 1, __ATOMIC_RELAXED);
	}
	/* Every record holds its last generation. */
	for (n = 0; n < RECORDS; n++) {
		if (!gen[n])
			continue;
		fill(out, n, gen[n]);
		if (pread(fd, in, RECORD, n * RECORD) != RECORD || memcmp(in, out, RECORD))
			__atomic_add_fetch(&progress->errors[slot], 1, __ATOMIC_RELAXED);
	}
	close(fd);
	_exit(0);
}

/* Parses type:tag entries of @env into @m: how many, or -1 if malformed. */
static int parse_mounts(const char *env, struct fsmount *m, int max)
{
	char list[256], *tok, *tag, *save = NULL;
	int n = 0;

	snprintf(list, sizeof(list), "%s", vs_env_str(env, ""));
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		tag = strchr(tok, ':');
		if (n == max || !tag)
			return -1;
		*tag++ = 0;
		if ((strcmp(tok, "9p") && strcmp(tok, "virtiofs")) || !*tag ||
		    strlen(tag) >= sizeof(m[n].tag))
			return -1;
		memset(&m[n], 0, sizeof(m[n]));
		strcpy(m[n].type, tok);
		strcpy(m[n].tag, tag);
		m[n].held = -1;
		m[n].worker = -1;
		n++;
	}
	return n;
}

/* Writes and reads back the held file at record @at: 0 or -errno. */
static int held_roundtrip(int fd, long at)
{
	char out[RECORD], in[RECORD];

	fill(out, at, 1000 + at);
	if (pwrite(fd, out, RECORD, at * RECORD) != RECORD)
		return -errno;
	if (pread(fd, in, RECORD, at * RECORD) != RECORD)
		return -errno;
	return memcmp(in, out, RECORD) ? -EIO : 0;
}

/*
 * Opens @m's held file, writes and reads it back at record @at and closes
 * it, in a child given @ms to complete: a mount whose device no longer
 * answers fails the check instead of hanging the test. The child is then
 * killed but not waited for: a FUSE request already sent, like a 9p one,
 * is waited for whatever the signals. Nothing else of the test may use
 * the mount from then on: the test's own exit would hang closing it.
 * Returns 0, the round trip's -errno, or -ETIMEDOUT.
 */
static int bounded_roundtrip(const struct fsmount *m, long at, long ms)
{
	long end = vs_now_ms() + ms;
	char path[PATH_MAX];
	int status, fd, ret;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/held", m->dir);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open(path, O_RDWR);
		if (fd < 0)
			_exit(errno);
		ret = held_roundtrip(fd, at);
		if (close(fd) && !ret)
			ret = -errno;
		_exit(-ret);
	}
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (vs_now_ms() > end) {
			kill(pid, SIGKILL);
			return -ETIMEDOUT;
		}
		usleep(10 * 1000);
	}
	return WIFEXITED(status) ? -WEXITSTATUS(status) : -EINTR;
}

/* Waits at most @ms for every worker to complete a record past @marks. */
static int all_progressed(int n, const long *marks, long ms)
{
	long end = vs_now_ms() + ms;
	int i;

	for (i = 0; i < n; i++)
		while (__atomic_load_n(&progress->done[i], __ATOMIC_RELAXED) == marks[i])
			if (vs_now_ms() > end)
				return i;
			else
				usleep(5 * 1000);
	return -1;
}

/* Where each of the @n workers is now, for all_progressed(). */
static void progress_marks(int n, long *marks)
{
	int i;

	for (i = 0; i < n; i++)
		marks[i] = __atomic_load_n(&progress->done[i], __ATOMIC_RELAXED);
}

/*
 * After a refused system suspend (@what): each of the @nsus mounts in
 * @sus answers at its held file, and each worker completed a record
 * since @marks.
 */
static void sus_mounts_go_on(struct __test_metadata *_metadata, struct fsmount *sus,
			     int nsus, const long *marks, const char *what)
{
	int i, late;

	for (i = 0; i < nsus; i++)
		EXPECT_EQ(0, held_roundtrip(sus[i].held, 1))
			TH_LOG("%s: the held file after %s", sus[i].tag, what);
	late = all_progressed(nsus, marks, 10000);
	ASSERT_EQ(-1, late) TH_LOG("%s: no record completed after %s", sus[late].tag, what);
}

/*
 * After a system suspend that @m's driver refused: the refusal left
 * nothing behind (see the top of the file), and the mount answers.
 * Each refused system suspend is counted in *@refusals.
 *
 * The second refusal is made with asynchronous suspend off: the PM core
 * then suspends devices one at a time, in reverse order of registration,
 * so every device registered after @m's (here the virtio-pci functions
 * and the ports above them) has been suspended when @m's driver refuses,
 * and is resumed on the error path; with asynchronous suspend that is
 * left to timing. The @nsus mounts in @sus on the SUSPEND path must
 * answer after it, and their workers go on.
 */
static void refusal_forgotten(struct __test_metadata *_metadata, struct fsmount *m,
			      struct fsmount *sus, int nsus, long *refusals)
{
	long answer_ms = vs_env_long("VS_FS_ANSWER_MS", 10000);
	char ctl[PATH_MAX], state[32];
	long marks[MAX_MOUNTS];
	int ret;

	/* From here on the held file is used in children only. */
	close(m->held);
	m->held = -1;
	ASSERT_EQ(0, vs_suspend_attr(m->vdev, "state", state, sizeof(state)));
	EXPECT_STREQ("running", state)
		TH_LOG("%s (%s): state after the refused system suspend", m->tag, m->vdev);

	progress_marks(nsus, marks);
	ASSERT_EQ(0, vs_write_attr("/sys/power/pm_async", "0"));
	ret = vs_sleep_cycle("freeze");
	(*refusals)++;
	ASSERT_EQ(0, vs_write_attr("/sys/power/pm_async", "1"));
	EXPECT_EQ(-EOPNOTSUPP, ret)
		TH_LOG("%s (%s): a second system suspend, one device at a time: %s", m->tag,
		       m->vdev, ret ? strerror(-ret) : "went through");
	sus_mounts_go_on(_metadata, sus, nsus, marks, "the second refused suspend");
	ASSERT_EQ(0, vs_suspend_attr(m->vdev, "state", state, sizeof(state)));
	EXPECT_STREQ("running", state)
		TH_LOG("%s (%s): state after the second system suspend", m->tag, m->vdev);
	ret = bounded_roundtrip(m, 2, answer_ms);
	ASSERT_EQ(0, ret)
		TH_LOG("%s: the held file after the second system suspend: %s", m->tag,
		       strerror(-ret));

	vs_control_path(m->vdev, ctl, sizeof(ctl));
	ret = vs_write_attr(ctl, "suspend");
	EXPECT_EQ(-EOPNOTSUPP, ret)
		TH_LOG("%s (%s): debugfs suspend: %s", m->tag, m->vdev,
		       ret ? strerror(-ret) : "went through");
	ASSERT_EQ(0, vs_suspend_attr(m->vdev, "state", state, sizeof(state)));
	EXPECT_STREQ("running", state)
		TH_LOG("%s (%s): state after the refused debugfs suspend", m->tag, m->vdev);
	ret = vs_write_attr(ctl, "resume");
	EXPECT_EQ(-EINVAL, ret)
		TH_LOG("%s (%s): debugfs resume of a running device: %s", m->tag, m->vdev,
		       ret ? strerror(-ret) : "went through");
	ret = bounded_roundtrip(m, 3, answer_ms);
	ASSERT_EQ(0, ret)
		TH_LOG("%s: the held file after the refused debugfs suspend: %s", m->tag,
		       strerror(-ret));
}

/* Unmounts @m and unbinds its device from virtio_fs: 0 or -errno. */
static int virtiofs_release(struct fsmount *m)
{
	close(m->held);
	m->held = -1;
	if (umount(m->dir))
		return -errno;
	return vs_write_attr("/sys/bus/virtio/drivers/virtiofs/unbind", m->vdev);
}

FIXTURE(fs) {
	struct fsmount sus[MAX_MOUNTS], classic[MAX_MOUNTS];
	int nsus, nclassic;
};

FIXTURE_SETUP(fs)
{
	char path[PATH_MAX];
	int i;

	progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, progress);
	memset(progress, 0, sizeof(*progress));
	self->nsus = parse_mounts("VS_FS_SUSPEND", self->sus, MAX_MOUNTS);
	self->nclassic = parse_mounts("VS_FS_CLASSIC", self->classic, MAX_MOUNTS);
	ASSERT_LT(0, self->nsus)
		TH_LOG("VS_FS_SUSPEND: 1 to %d entries 9p:tag or virtiofs:tag", MAX_MOUNTS);
	ASSERT_LE(0, self->nclassic)
		TH_LOG("VS_FS_CLASSIC: at most %d entries 9p:tag or virtiofs:tag", MAX_MOUNTS);

	for (i = 0; i < self->nsus + self->nclassic; i++) {
		struct fsmount *m = i < self->nsus ? &self->sus[i] : &self->classic[i - self->nsus];
		int ret;

		ASSERT_EQ(0, tag_vdev(m)) TH_LOG("no virtio device with %s tag %s", m->type, m->tag);
		ret = mount_tag(m);
		ASSERT_EQ(0, ret) TH_LOG("mount %s %s: %s", m->type, m->tag, strerror(-ret));
		snprintf(path, sizeof(path), "%s/held", m->dir);
		m->held = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		ASSERT_LE(0, m->held) TH_LOG("%s: %s", path, strerror(errno));
		ASSERT_EQ(0, held_roundtrip(m->held, 0)) TH_LOG("%s before any cycle", path);
		m->suspends = vs_suspend_count(m->vdev, "suspends");
		ASSERT_LE(0, m->suspends);
	}
}

FIXTURE_TEARDOWN(fs)
{
	int i;

	for (i = 0; i < self->nsus; i++)
		if (self->sus[i].worker > 0) {
			kill(self->sus[i].worker, SIGKILL);
			waitpid(self->sus[i].worker, NULL, 0);
		}
}

TEST_F_TIMEOUT(fs, sessions_live_through_sleep, 900)
{
	long sleeps = vs_env_long("VS_SLEEP_CYCLES", 20);
	long debugfs = vs_env_long("VS_DEBUGFS_CYCLES", 5);
	long hang_ms = vs_env_long("VS_FS_HANG_MS", 5000);
	long marks[MAX_MOUNTS], refusals = 0, r;
	int i, ret, status, late;
	char ctl[PATH_MAX], path[128];

	for (i = 0; i < self->nsus; i++) {
		pid_t pid = fork();
		int j;

		ASSERT_LE(0, pid);
		if (pid == 0) {
			/* The held files are the test's: a worker's copy would keep them open. */
			for (j = 0; j < self->nsus + self->nclassic; j++)
				close(j < self->nsus ? self->sus[j].held
						     : self->classic[j - self->nsus].held);
			worker(self->sus[i].dir, i);
		}
		self->sus[i].worker = pid;
	}
	for (i = 0; i < self->nsus; i++)
		marks[i] = 0;
	ASSERT_EQ(-1, all_progressed(self->nsus, marks, 10000)) TH_LOG("no record before cycling");

	/* virtio-fs on the reset-based path: the system cannot sleep. */
	for (i = 0; i < self->nclassic; i++) {
		struct fsmount *m = &self->classic[i];

		if (is_9p(m))
			continue;
		progress_marks(self->nsus, marks);
		ret = vs_sleep_cycle("freeze");
		refusals++;
		TH_LOG("%s %s (%s), reset-based path: system suspend %s (%s)", m->type, m->tag,
		       m->vdev, ret ? "refused" : "went through", ret ? strerror(-ret) : "");
		EXPECT_EQ(-EOPNOTSUPP, ret);
		EXPECT_EQ(0, held_roundtrip(m->held, 1))
			TH_LOG("%s: the held file after the refused suspend", m->tag);
		sus_mounts_go_on(_metadata, self->sus, self->nsus, marks, "the refused suspend");
		refusal_forgotten(_metadata, m, self->sus, self->nsus, &refusals);
		ret = virtiofs_release(m);
		ASSERT_EQ(0, ret) TH_LOG("%s: unmount and unbind: %s", m->tag, strerror(-ret));
	}

	for (r = 0; r < sleeps + debugfs; r++) {
		progress_marks(self->nsus, marks);
		if (r < sleeps) {
			ret = vs_sleep_cycle(vs_sleep_state(r));
		} else {
			for (ret = 0, i = 0; i < self->nsus && !ret; i++) {
				vs_control_path(self->sus[i].vdev, ctl, sizeof(ctl));
				ret = vs_write_attr(ctl, "cycle");
			}
		}
		ASSERT_EQ(0, ret) TH_LOG("cycle %ld: %s", r, strerror(-ret));
		for (i = 0; i < self->nsus; i++) {
			struct fsmount *m = &self->sus[i];

			ASSERT_EQ(0, held_roundtrip(m->held, r + 2))
				TH_LOG("%s: the held file after cycle %ld", m->tag, r);
			ASSERT_EQ(0, vs_suspend_attr(m->vdev, "last_path", path, sizeof(path)));
			ASSERT_STREQ("suspend", path) TH_LOG("%s (%s), cycle %ld", m->tag, m->vdev, r);
		}
		late = all_progressed(self->nsus, marks, 10000);
		ASSERT_EQ(-1, late) TH_LOG("%s: no record completed after cycle %ld",
					   self->sus[late].tag, r);
	}

	for (i = 0; i < self->nsus; i++) {
		struct fsmount *m = &self->sus[i];

		kill(m->worker, SIGTERM);
		ASSERT_EQ(m->worker, waitpid(m->worker, &status, 0));
		m->worker = -1;
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		TH_LOG("%s %s (%s), SUSPEND path: %ld records written, fsynced and read back across %ld cycles, %ld errors",
		       m->type, m->tag, m->vdev, progress->done[i], sleeps + debugfs,
		       progress->errors[i]);
		EXPECT_EQ(0, progress->errors[i]);
		/* Each cycle suspended it once; a refused system suspend may have too. */
		EXPECT_LE(m->suspends + sleeps + debugfs, vs_suspend_count(m->vdev, "suspends"));
		EXPECT_GE(m->suspends + sleeps + debugfs + refusals,
			  vs_suspend_count(m->vdev, "suspends"));
		close(m->held);
	}

	/* 9p on the reset-based path: dead after the cycles. */
	for (i = 0; i < self->nclassic; i++) {
		struct fsmount *m = &self->classic[i];
		char buf[RECORD];
		pid_t reader;
		long start = vs_now_ms();
		int answered = 0;

		if (!is_9p(m))
			continue;
		ASSERT_EQ(0, vs_suspend_attr(m->vdev, "last_path", path, sizeof(path)));
		EXPECT_EQ(0, strncmp(path, "classic", 7)) TH_LOG("%s: %s", m->tag, path);
		reader = fork();
		ASSERT_LE(0, reader);
		if (reader == 0)
			_exit(pread(m->held, buf, RECORD, 0) == RECORD ? 0 : 1);
		while (vs_now_ms() - start < hang_ms) {
			if (waitpid(reader, &status, WNOHANG) == reader) {
				answered = 1;
				break;
			}
			usleep(20 * 1000);
		}
		/*
		 * Not waited for: killed, the 9p client sends a Tflush and
		 * waits for its answer whatever the signals, for good.
		 */
		if (!answered)
			kill(reader, SIGKILL);
		TH_LOG("%s %s (%s), reset-based path (%s): a read after %ld cycles %s",
		       m->type, m->tag, m->vdev, path, sleeps + debugfs,
		       answered ? "completed" : "never completed");
		EXPECT_FALSE(answered);
	}
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * The transport's admin interfaces raced against each other and against
 * I/O: debugfs control commands, sysfs reads, unbind/bind of the stock
 * virtio_blk driver, rmmod/insmod of the transport and system sleep
 * cycles, each in its own process, for VS_RACE_SECONDS (default 20) on
 * every CPU the guest has, and on until every one of them has succeeded
 * at least once (on a loaded host the disk can be away for the whole
 * window). Whatever the interleaving, nothing may crash
 * (the runner fails the scenario on any kernel splat), hang (every worker
 * must keep making progress) or corrupt data (every block read back is
 * the one written), and at the end the transport is loaded, the disk
 * bound and a SUSPEND cycle under I/O works.
 *
 * Also: an open control file pins the module, so rmmod while it is open
 * is refused (before the fix, rmmod went through and the close oopsed in
 * debugfs's proxy release).
 *
 * Environment: VS_MODULE (default virtio_suspend), VS_RACE_SECONDS.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define DEBUGFS_DIR "/sys/kernel/debug/virtio_suspend"
#define BLK_BYTES 4096
#define BLK_SLOTS 256

enum worker {
	W_CONTROL,
	W_SYSFS,
	W_REBIND,
	W_RELOAD,
	W_SLEEP,
	W_IO,
	W_COUNT,
};

static const char *const worker_names[W_COUNT] = {
	"debugfs control", "sysfs reads", "virtio_blk unbind/bind",
	"transport rmmod/insmod", "s2idle cycles", "block I/O",
};

/* Shared with the workers: counts, and why one of them gave up. */
struct race_stats {
	unsigned long ok[W_COUNT];
	unsigned long refused[W_COUNT];
	unsigned long verified_blocks;
	unsigned long io_rounds;	/* I/O attempts, successful or not */
	unsigned long io_unavailable;
	int io_errno;		/* why the last unavailable I/O failed */
	int rebind_errno;	/* why the last bind failed */
	char failure[256];
};

static const char *module_name(void)
{
	return vs_env_str("VS_MODULE", "virtio_suspend");
}

static int unload(void)
{
	return syscall(SYS_delete_module, module_name(), O_NONBLOCK) ? -errno : 0;
}

static int load(void)
{
	return vs_modprobe(module_name());
}

/* Is module @name loaded? */
static int module_loaded(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
	return access(path, F_OK) == 0;
}

/* The virtio device whose device id is @id (2: block), into @name. */
static int find_virtio(unsigned int id, char *name, size_t len)
{
	char path[PATH_MAX], val[32];
	struct dirent *de;
	DIR *dir = opendir("/sys/bus/virtio/devices");
	int ret = -ENODEV;

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/device", de->d_name);
		if (vs_read_attr(path, val, sizeof(val)) || strtoul(val, NULL, 0) != id)
			continue;
		if (strlen(de->d_name) < len) {
			strcpy(name, de->d_name);
			ret = 0;
		}
		break;
	}
	closedir(dir);
	return ret;
}

/*
 * The disk's device node, into @path: "/dev/vda" at boot, but a disk
 * bound again while the old one is still open (the I/O worker's open
 * file) gets the next index, "/dev/vdb", and keeps it.  0, or -ENODEV
 * while the disk is away.
 */
static int disk_path(char *path, size_t len)
{
	char name[64], dir_path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int ret = -ENODEV;

	if (find_virtio(2, name, sizeof(name)))
		return -ENODEV;
	snprintf(dir_path, sizeof(dir_path), "/sys/bus/virtio/devices/%s/block", name);
	dir = opendir(dir_path);
	if (!dir)
		return -ENODEV;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, len, "/dev/%.32s", de->d_name);
		ret = access(path, F_OK) ? -ENODEV : 0;
		break;
	}
	closedir(dir);
	return ret;
}

/*
 * Whether the race is over: a worker failed, or the time is up and every
 * worker has succeeded at least once.  The workers are processes sharing
 * @st: each counter has one writer, read here by all.
 */
static int race_over(struct race_stats *st, time_t end)
{
	int i;

	if (__atomic_load_n(&st->failure[0], __ATOMIC_RELAXED))
		return 1;
	if (time(NULL) < end)
		return 0;
	for (i = 0; i < W_COUNT; i++)
		if (!__atomic_load_n(&st->ok[i], __ATOMIC_RELAXED))
			return 0;
	return 1;
}

/* Writes @command to every control file; counts successes and refusals. */
static void control_round(struct race_stats *st, const char *command)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir = opendir(DEBUGFS_DIR);

	if (!dir) {
		st->refused[W_CONTROL]++;
		return;
	}
	while ((de = readdir(dir))) {
		int ret;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), DEBUGFS_DIR "/%.255s", de->d_name);
		ret = vs_write_attr(path, command);
		if (!ret)
			st->ok[W_CONTROL]++;
		else if (ret == -EBUSY || ret == -ENODEV || ret == -ENOENT || ret == -EIO ||
			 ret == -ENXIO || ret == -EINVAL)
			/*
			 * Driver binding (EBUSY) or gone (ENODEV), file removed
			 * (ENOENT, EIO), module unloading (ENXIO, from
			 * debugfs's open), or resumed by a racer (EINVAL).
			 */
			st->refused[W_CONTROL]++;
		else
			snprintf(st->failure, sizeof(st->failure), "%s %.64s: %s", command,
				 de->d_name, strerror(-ret));
	}
	closedir(dir);
}

static void sysfs_round(struct race_stats *st)
{
	static const char *const attrs[] = {
		"state", "dialect", "suspends", "resumes", "fallbacks", "last_path",
		"last_suspend_us",
	};
	char path[PATH_MAX], buf[128];
	struct dirent *de;
	DIR *dir = opendir("/sys/bus/virtio/devices");
	unsigned int i;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
			snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%.64s/suspend/%s",
				 de->d_name, attrs[i]);
			if (vs_read_attr(path, buf, sizeof(buf)))
				st->refused[W_SYSFS]++;
			else
				st->ok[W_SYSFS]++;
		}
	}
	closedir(dir);
}

/*
 * Unbinds virtio_blk from the disk and binds it again. An unbind that
 * finds no driver (a bind that failed, the transport reloading) is not a
 * reason to skip the bind. After a bind the disk stays bound until the
 * I/O worker has made an attempt: I/O must reach it too, however slowly
 * the guest runs.
 */
static void rebind_round(struct race_stats *st, time_t end)
{
	char name[64];
	int ret;

	if (find_virtio(2, name, sizeof(name))) {
		st->refused[W_REBIND]++;
		return;
	}
	vs_write_attr("/sys/bus/virtio/drivers/virtio_blk/unbind", name);
	ret = vs_write_attr("/sys/bus/virtio/drivers/virtio_blk/bind", name);
	if (ret) {
		st->rebind_errno = -ret;
		st->refused[W_REBIND]++;
	} else {
		unsigned long io = __atomic_load_n(&st->io_rounds, __ATOMIC_RELAXED);

		st->ok[W_REBIND]++;
		while (__atomic_load_n(&st->io_rounds, __ATOMIC_RELAXED) == io &&
		       !race_over(st, end))
			usleep(10 * 1000);
	}
}

static void reload_round(struct race_stats *st)
{
	int ret = unload();

	if (ret) {
		/* In use (an open control file) or mid-load: both fine. */
		st->refused[W_RELOAD]++;
		return;
	}
	usleep(20 * 1000);
	ret = load();
	if (ret && ret != -EEXIST)
		snprintf(st->failure, sizeof(st->failure), "insmod: %s", strerror(-ret));
	else
		st->ok[W_RELOAD]++;
}

static void sleep_round(struct race_stats *st)
{
	if (vs_sleep_cycle("freeze"))
		st->refused[W_SLEEP]++;
	else
		st->ok[W_SLEEP]++;
}

/*
 * Writes slot @round's block and reads it back. The disk may be gone
 * (unbound, module unloaded) at any point: that is counted, not failed;
 * but a block read back must be the one written.
 */
static void io_round(struct race_stats *st, unsigned long round, uint8_t *out, uint8_t *in)
{
	off_t off = (off_t)(round % BLK_SLOTS) * BLK_BYTES;
	char path[PATH_MAX];
	unsigned int i;
	int fd = -1;

	if (disk_path(path, sizeof(path)))
		errno = ENODEV;
	else
		fd = open(path, O_RDWR | O_DIRECT);
	if (fd < 0) {
		st->io_errno = errno;
		st->io_unavailable++;
		__atomic_add_fetch(&st->io_rounds, 1, __ATOMIC_RELAXED);
		return;
	}
	for (i = 0; i < BLK_BYTES; i += 8)
		memcpy(out + i, &(uint64_t){ round * 0x9e3779b97f4a7c15ull + i }, 8);
	if (pwrite(fd, out, BLK_BYTES, off) != BLK_BYTES || fsync(fd) ||
	    pread(fd, in, BLK_BYTES, off) != BLK_BYTES) {
		st->io_errno = errno;
		st->io_unavailable++;
	} else if (memcmp(in, out, BLK_BYTES)) {
		snprintf(st->failure, sizeof(st->failure),
			 "block %lu read back different data", round % BLK_SLOTS);
	} else {
		st->verified_blocks++;
		st->ok[W_IO]++;
	}
	close(fd);
	__atomic_add_fetch(&st->io_rounds, 1, __ATOMIC_RELAXED);
}

/* Writes and verifies @count blocks; 0 when all read back right. */
static int verify_blocks(struct race_stats *st, unsigned long count)
{
	uint8_t *out, *in;
	unsigned long i;

	if (posix_memalign((void **)&out, 4096, BLK_BYTES))
		return -ENOMEM;
	if (posix_memalign((void **)&in, 4096, BLK_BYTES)) {
		free(out);
		return -ENOMEM;
	}
	st->verified_blocks = 0;
	for (i = 0; i < count; i++)
		io_round(st, i, out, in);
	free(out);
	free(in);
	return st->verified_blocks == count ? 0 : -EIO;
}

static void run_worker(enum worker w, struct race_stats *st, time_t end)
{
	unsigned long round = 0;
	uint8_t *out = NULL, *in = NULL;

	if (w == W_IO && (posix_memalign((void **)&out, 4096, BLK_BYTES) ||
			  posix_memalign((void **)&in, 4096, BLK_BYTES)))
		_exit(2);
	while (!race_over(st, end)) {
		switch (w) {
		case W_CONTROL:
			control_round(st, round % 4 == 3 ? "suspend" : "cycle");
			control_round(st, "resume");
			break;
		case W_SYSFS:
			sysfs_round(st);
			break;
		case W_REBIND:
			rebind_round(st, end);
			break;
		case W_RELOAD:
			reload_round(st);
			usleep(200 * 1000);
			break;
		case W_SLEEP:
			sleep_round(st);
			usleep(300 * 1000);
			break;
		case W_IO:
			io_round(st, round, out, in);
			break;
		case W_COUNT:
			break;
		}
		round++;
	}
	_exit(st->failure[0] ? 1 : 0);
}

/* Prints what the disk's virtio device looks like, for a failed setup. */
static void describe_disk(const char *name, int bind_ret)
{
	char path[PATH_MAX], drv[64] = "none", state[32] = "?", held[32] = "?";
	char disk[PATH_MAX] = "no disk";

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/driver", name);
	vs_link_name(path, drv, sizeof(drv));
	vs_suspend_attr(name, "state", state, sizeof(state));
	vs_suspend_attr(name, "held_by", held, sizeof(held));
	disk_path(disk, sizeof(disk));
	printf("# %s: driver %s, state %s, held by %s, bind: %s, disk: %s\n", name, drv,
	       state, held, bind_ret ? strerror(-bind_ret) : "ok", disk);
}

/*
 * Brings the transport and the disk back after the race.  The device
 * registers asynchronously after the transport loads, and the disk
 * appears when virtio_blk's probe (the driver core's, or our bind) has
 * run: on a loaded host that can take many seconds, so the waits are
 * long (RESTORE_WAIT_MS, far beyond a pass); a bind refused meanwhile
 * (EBUSY: the driver core's probe is binding it) is tried again.
 */
#define RESTORE_WAIT_MS	60000

static int restore_setup(void)
{
	char name[64], driver[PATH_MAX], disk[PATH_MAX];
	int waited, bind_ret = 0;

	if (!module_loaded(module_name()) && load())
		return -1;
	for (waited = 0; find_virtio(2, name, sizeof(name)); waited += 50) {
		if (waited >= RESTORE_WAIT_MS)
			return -ENODEV;
		usleep(50 * 1000);
	}
	for (waited = 0; disk_path(disk, sizeof(disk)); waited += 50) {
		if (waited >= RESTORE_WAIT_MS) {
			describe_disk(name, bind_ret);
			return -ETIMEDOUT;
		}
		snprintf(driver, sizeof(driver), "/sys/bus/virtio/devices/%s/driver", name);
		if (waited % 1000 == 0 && access(driver, F_OK))
			bind_ret = vs_write_attr("/sys/bus/virtio/drivers/virtio_blk/bind", name);
		usleep(50 * 1000);
	}
	return 0;
}

/*
 * No state of its own: a fixture only for the harness's per-test timeout
 * (TEST() has the default 30 s, which a loaded host's guest can exceed:
 * the race runs on until every worker has succeeded, restore_setup()
 * waits up to RESTORE_WAIT_MS).
 */
FIXTURE(admin) {};
FIXTURE_SETUP(admin) {}
FIXTURE_TEARDOWN(admin) {}

TEST_F_TIMEOUT(admin, open_control_file_pins_module, 300)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int fd = -1, ret;

	ASSERT_TRUE(module_loaded(module_name()));
	dir = opendir(DEBUGFS_DIR);
	ASSERT_NE(NULL, dir);
	while (fd < 0 && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), DEBUGFS_DIR "/%.255s", de->d_name);
		fd = open(path, O_WRONLY);
	}
	closedir(dir);
	ASSERT_LE(0, fd) TH_LOG("no control file to open");

	ret = unload();
	TH_LOG("rmmod with %s open: %s", path, ret ? strerror(-ret) : "unloaded");
	/*
	 * Closing after a successful unload is what oopsed: reload first
	 * so the rest of the suite has its transport, then close.
	 */
	if (!ret)
		load();
	close(fd);
	EXPECT_EQ(-EWOULDBLOCK, ret);
	/* Once closed, the module unloads and loads again. */
	ASSERT_EQ(0, unload());
	ASSERT_EQ(0, load());
	ASSERT_EQ(0, restore_setup());
}

/*
 * A disk unbound and bound again while its old node is still open (as
 * the I/O worker can leave it) comes back as the next vd index: the
 * setup and the I/O find it by its virtio device, not as /dev/vda.
 */
TEST_F_TIMEOUT(admin, rebound_while_open, 300)
{
	char name[64], path[PATH_MAX], again[PATH_MAX];
	struct race_stats st = {};
	int fd;

	ASSERT_EQ(0, restore_setup());
	ASSERT_EQ(0, find_virtio(2, name, sizeof(name)));
	ASSERT_EQ(0, disk_path(path, sizeof(path)));
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, vs_write_attr("/sys/bus/virtio/drivers/virtio_blk/unbind", name));
	ASSERT_EQ(0, vs_write_attr("/sys/bus/virtio/drivers/virtio_blk/bind", name));
	close(fd);
	ASSERT_EQ(0, restore_setup());
	ASSERT_EQ(0, disk_path(again, sizeof(again)));
	TH_LOG("%s while open, then %s", path, again);
	ASSERT_EQ(0, verify_blocks(&st, 8));
}

/* The block of unbind_while_suspended: past the ones io_round() uses. */
#define HELD_BLOCK_OFF	((off_t)BLK_SLOTS * BLK_BYTES)

/* Writes @buf to the disk at HELD_BLOCK_OFF (O_DIRECT); 0 or -errno. */
static int write_held_block(const char *disk, const uint8_t *buf)
{
	int fd = open(disk, O_WRONLY | O_DIRECT);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pwrite(fd, buf, BLK_BYTES, HELD_BLOCK_OFF);
	close(fd);
	return n == BLK_BYTES ? 0 : n < 0 ? -errno : -EIO;
}

/* Suspends the disk @name through debugfs; 0 when it says it is. */
static int suspend_disk(const char *name)
{
	char path[PATH_MAX], state[32];
	int ret;

	snprintf(path, sizeof(path), DEBUGFS_DIR "/%s", name);
	ret = vs_write_attr(path, "suspend");
	if (!ret)
		ret = vs_suspend_attr(name, "state", state, sizeof(state));
	return ret ? ret : strcmp(state, "suspended") ? -EINVAL : 0;
}

/*
 * A disk left suspended through debugfs is unbound from virtio_blk: the
 * transport resumes it before virtio_blk's remove runs (its notifier on
 * the virtio bus, suspend/unbind_watch.rs). First with nothing held:
 * without the resume, the device stays suspended (and the test fails
 * at once); then with a write held, which must complete (without the
 * resume, remove would wait for it for good, holding the device lock,
 * and nothing could release it); the disk bound again reads back what
 * was written.
 */
TEST_F_TIMEOUT(admin, unbind_while_suspended, 120)
{
	char name[64], disk[PATH_MAX], state[32];
	uint8_t *out, *in;
	int status, fd;
	unsigned int i;
	pid_t writer;

	ASSERT_EQ(0, restore_setup());
	ASSERT_EQ(0, find_virtio(2, name, sizeof(name)));
	ASSERT_EQ(0, suspend_disk(name));
	ASSERT_EQ(0, vs_write_attr("/sys/bus/virtio/drivers/virtio_blk/unbind", name));
	ASSERT_EQ(0, vs_suspend_attr(name, "state", state, sizeof(state)));
	ASSERT_STREQ("running", state) TH_LOG("state after an unbind with nothing held");
	ASSERT_EQ(0, vs_write_attr("/sys/bus/virtio/drivers/virtio_blk/bind", name));
	ASSERT_EQ(0, restore_setup());

	ASSERT_EQ(0, disk_path(disk, sizeof(disk)));
	ASSERT_EQ(0, posix_memalign((void **)&out, 4096, BLK_BYTES));
	ASSERT_EQ(0, posix_memalign((void **)&in, 4096, BLK_BYTES));
	for (i = 0; i < BLK_BYTES; i += 8)
		memcpy(out + i, &(uint64_t){ 0x5eed0000ull + i * 0x9e3779b97f4a7c15ull }, 8);
	ASSERT_EQ(0, suspend_disk(name));
	writer = fork();
	ASSERT_LE(0, writer);
	if (!writer)
		_exit(write_held_block(disk, out) ? 1 : 0);
	/* Held, not lost: the write has not completed a while later. */
	usleep(300 * 1000);
	ASSERT_EQ(0, waitpid(writer, &status, WNOHANG)) TH_LOG("the write was not held");
	ASSERT_EQ(0, vs_write_attr("/sys/bus/virtio/drivers/virtio_blk/unbind", name));
	ASSERT_EQ(writer, waitpid(writer, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the held write failed");
	ASSERT_EQ(0, vs_suspend_attr(name, "state", state, sizeof(state)));
	EXPECT_STREQ("running", state) TH_LOG("state after an unbind with a write held");

	ASSERT_EQ(0, vs_write_attr("/sys/bus/virtio/drivers/virtio_blk/bind", name));
	ASSERT_EQ(0, restore_setup());
	ASSERT_EQ(0, disk_path(disk, sizeof(disk)));
	fd = open(disk, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, fd);
	ASSERT_EQ(BLK_BYTES, pread(fd, in, BLK_BYTES, HELD_BLOCK_OFF));
	close(fd);
	EXPECT_EQ(0, memcmp(in, out, BLK_BYTES)) TH_LOG("the held write read back different data");
	free(out);
	free(in);
}

TEST_F_TIMEOUT(admin, admin_interfaces_race, 600)
{
	long seconds = vs_env_long("VS_RACE_SECONDS", 20);
	struct race_stats *st;
	pid_t pids[W_COUNT];
	time_t end;
	int i, status;

	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, st);
	memset(st, 0, sizeof(*st));
	ASSERT_EQ(0, restore_setup());

	end = time(NULL) + seconds;
	for (i = 0; i < W_COUNT; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (!pids[i])
			run_worker(i, st, end);
	}
	for (i = 0; i < W_COUNT; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("%s worker: %s", worker_names[i],
			       st->failure[0] ? st->failure : "died");
	}
	for (i = 0; i < W_COUNT; i++) {
		TH_LOG("%s: %lu done, %lu refused", worker_names[i], st->ok[i],
		       st->refused[i]);
		/* Each interface really was exercised, not only refused. */
		EXPECT_LT(0, st->ok[i]) TH_LOG("%s never succeeded", worker_names[i]);
	}
	TH_LOG("last bind refusal: %s", strerror(st->rebind_errno));
	TH_LOG("blocks verified: %lu, I/O while the disk was away: %lu (last: %s)",
	       st->verified_blocks, st->io_unavailable, strerror(st->io_errno));
	printf("# races tried: %lu\n",
	       st->ok[W_CONTROL] + st->refused[W_CONTROL] + st->ok[W_REBIND] +
	       st->refused[W_REBIND] + st->ok[W_RELOAD] + st->refused[W_RELOAD] +
	       st->ok[W_SLEEP] + st->refused[W_SLEEP]);

	/*
	 * Everything is back and works. A device the race left suspended
	 * (its resume refused while its driver was rebinding) is resumed;
	 * then every device takes a full cycle, and I/O is verified.
	 */
	ASSERT_EQ(0, restore_setup());
	memset(st, 0, sizeof(*st));
	control_round(st, "resume");
	ASSERT_EQ(0, st->failure[0]) TH_LOG("%s", st->failure);
	ASSERT_LT(0, vs_control_all("cycle"));
	ASSERT_EQ(0, verify_blocks(st, 8));
	munmap(st, sizeof(*st));
}

TEST_HARNESS_MAIN

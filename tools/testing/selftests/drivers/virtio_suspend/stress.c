// SPDX-License-Identifier: GPL-2.0
/*
 * Suspend/resume cycles while block I/O and network traffic keep going:
 * no data error, no I/O error, no hang.
 *
 * A block worker per disk rewrites random 4 KiB blocks of its disk with a
 * pattern naming the block and a generation, reading each back at once,
 * and verifies the whole region at the end. A network worker sends numbered
 * frames from one virtio-net interface to the other over the QEMU hub
 * and checks every frame that arrives (frames may be dropped while an
 * interface is suspended, as on any network; a corrupted one is an
 * error). Meanwhile the main process runs the cycles.
 *
 * Progress is checked while the cycles run, not only at the end: block
 * writes on every disk and received frames must rise in every window of
 * VS_STRESS_WINDOW cycles (the cycles pause, at most VS_STRESS_GRACE_MS,
 * for traffic to show before the window fails), so a network or a disk
 * that dies after the first cycles fails the test.
 *
 * Environment:
 *   VS_STRESS_MODE    "debugfs" (every device, one after the other, per
 *                     cycle), "system" (s2idle) or "mixed" (every
 *                     VS_STRESS_SYSTEM_EVERY-th cycle s2idle, default
 *                     every 3rd, the others debugfs); default debugfs
 *   VS_STRESS_CYCLES  cycles (default 100)
 *   VS_STRESS_WINDOW  cycles per progress window (default 10)
 *   VS_STRESS_GRACE_MS  see above (default 2000)
 *   VS_STRESS_NET     1 (default): two virtio-net interfaces must exist
 *                     and carry traffic; 0: block I/O only
 *   VS_DEVICE_COUNT   when set, the virtio devices there must be, all
 *                     cycled by every debugfs cycle
 *   VS_EXPECT_PATH    "suspend": every cycle of every device must be an
 *                     acknowledged SUSPEND (suspend/ counters)
 *   VS_BLK_DEV        the disks, colon-separated (at most MAX_DISKS; on
 *                     both transports in one guest, for example); default
 *                     /dev/vda.  VS_STRESS_BLOCKS per disk (default 1024)
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vs_net.h"

#define BLOCK		4096
#define MAX_DISKS	4

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

struct result {
	long ops, errors;
};

/* What the workers have done so far, shared with the main process. */
struct progress {
	long blk_ops[MAX_DISKS], net_rx;
};

static struct progress *progress;

static void bump(long *counter)
{
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

static long peek(long *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static void fill_block(uint8_t *p, uint64_t block, uint64_t gen)
{
	uint64_t *w = (uint64_t *)p;
	size_t i;

	w[0] = block;
	w[1] = gen;
	for (i = 2; i < BLOCK / sizeof(*w); i++)
		w[i] = (block * 0x9e3779b97f4a7c15ULL) ^ (gen << 20) ^ i;
}

static struct result blk_worker(const char *dev, long *ops, long blocks)
{
	struct result res = { 0 };
	uint64_t *gen = calloc(blocks, sizeof(*gen));
	uint8_t *out, *in;
	unsigned int seed = 1;
	long b;
	int fd;

	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0 || !gen || posix_memalign((void **)&out, BLOCK, BLOCK) ||
	    posix_memalign((void **)&in, BLOCK, BLOCK)) {
		res.errors = 1;
		return res;
	}
	while (!stop) {
		b = rand_r(&seed) % blocks;
		fill_block(out, b, ++gen[b]);
		if (pwrite(fd, out, BLOCK, b * BLOCK) != BLOCK ||
		    pread(fd, in, BLOCK, b * BLOCK) != BLOCK ||
		    memcmp(in, out, BLOCK)) {
			fprintf(stderr, "# block %ld generation %llu: %s\n", b,
				(unsigned long long)gen[b], strerror(errno));
			res.errors++;
		}
		res.ops++;
		bump(ops);
	}
	/* Every block must hold what was last written to it. */
	for (b = 0; b < blocks; b++) {
		if (!gen[b])
			continue;
		fill_block(out, b, gen[b]);
		if (pread(fd, in, BLOCK, b * BLOCK) != BLOCK || memcmp(in, out, BLOCK)) {
			fprintf(stderr, "# block %ld lost generation %llu\n", b,
				(unsigned long long)gen[b]);
			res.errors++;
		}
	}
	close(fd);
	return res;
}

static struct result net_worker(char names[2][IFNAMSIZ])
{
	int tx = vs_open_raw(names[0], 100), rx = vs_open_raw(names[1], 100);
	struct result res = { 0 };
	struct vs_frame out, in;
	uint32_t seq = 0;

	if (tx < 0 || rx < 0) {
		res.errors = 1;
		return res;
	}
	while (!stop) {
		vs_fill_frame(&out, ++seq);
		send(tx, &out, sizeof(out), MSG_DONTWAIT);
		while (recv(rx, &in, sizeof(in), MSG_DONTWAIT) == sizeof(in)) {
			vs_fill_frame(&out, in.seq);
			if (memcmp(&in, &out, sizeof(in))) {
				fprintf(stderr, "# frame %u corrupt\n", in.seq);
				res.errors++;
			}
			res.ops++;
			bump(&progress->net_rx);
		}
		usleep(1000);
	}
	return res;
}

/* Runs @fn in a child; the result comes back through a pipe. */
static pid_t spawn(int fds[2], struct result (*fn)(void *), void *arg)
{
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct result res;

		signal(SIGTERM, on_term);
		res = fn(arg);
		if (write(fds[1], &res, sizeof(res)) != sizeof(res))
			_exit(2);
		_exit(0);
	}
	return pid;
}

struct disk {
	char path[VS_ITEM_LEN];
	long *ops;
};

static struct result run_blk(void *arg)
{
	struct disk *disk = arg;

	return blk_worker(disk->path, disk->ops, vs_env_long("VS_STRESS_BLOCKS", 1024));
}

/* VS_BLK_DEV into @disks; returns how many, or -1 if malformed. */
static int parse_disks(struct disk *disks)
{
	char paths[MAX_DISKS][VS_ITEM_LEN];
	int n = vs_env_list("VS_BLK_DEV", "/dev/vda", ':', paths, MAX_DISKS), i;

	for (i = 0; i < n; i++) {
		memcpy(disks[i].path, paths[i], sizeof(disks[i].path));
		disks[i].ops = &progress->blk_ops[i];
	}
	return n > 0 ? n : -1;
}

static struct result run_net(void *arg)
{
	return net_worker(arg);
}

static struct result reap(pid_t pid, int fds[2])
{
	struct result res = { .errors = 1 };
	int status;

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	/* Ours closed first: a worker that died without a result reads as EOF. */
	close(fds[1]);
	if (read(fds[0], &res, sizeof(res)) != sizeof(res))
		res.errors = 1;
	close(fds[0]);
	return res;
}

/*
 * Where a worker that made no progress is: its state, the kernel function
 * it sleeps in and its kernel stack, for the log of a failed window.
 */
static void log_stuck(pid_t pid, const char *what)
{
	static const char *const files[] = { "stat", "wchan", "stack" };
	char path[64], buf[2048];
	unsigned int i;
	char *nl;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
		if (vs_read_attr(path, buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "(unreadable: %s)", strerror(errno));
		/* One TAP comment line each. */
		while ((nl = strchr(buf, '\n')))
			*nl = '|';
		fprintf(stderr, "# %s worker %d %s: %s\n", what, pid, files[i], buf);
	}
}

/* Every device's suspend/ counters, for the path check. */
#define MAX_DEVS 16

struct dev_counts {
	char name[32];
	long suspends, fallbacks;
};

static int snapshot_all(struct dev_counts *c)
{
	struct dirent *de;
	int n = 0;
	DIR *dir = opendir("/sys/bus/virtio/devices");

	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < MAX_DEVS) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(c[n].name))
			continue;
		strcpy(c[n].name, de->d_name);
		c[n].suspends = vs_suspend_count(de->d_name, "suspends");
		c[n].fallbacks = vs_suspend_count(de->d_name, "fallbacks");
		n++;
	}
	closedir(dir);
	return n;
}

/*
 * Waits, at most @grace_ms, until @counter passes @since; returns how
 * long that took, or -1.
 */
static long wait_rise(long *counter, long since, long grace_ms)
{
	long start = vs_now_ms(), waited;

	for (;;) {
		waited = vs_now_ms() - start;
		if (peek(counter) > since)
			return waited;
		if (waited >= grace_ms)
			return -1;
		usleep(10 * 1000);
	}
}

FIXTURE(stress) {
	pid_t blk[MAX_DISKS], net;
	int blk_fds[MAX_DISKS][2], net_fds[2];
	struct disk disks[MAX_DISKS];
	int ndisks;
};

FIXTURE_SETUP(stress)
{
	int d;

	for (d = 0; d < MAX_DISKS; d++)
		self->blk[d] = -1;
	self->net = -1;
	progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, progress);
	memset(progress, 0, sizeof(*progress));
}

FIXTURE_TEARDOWN(stress)
{
	int d;

	/* Workers left behind by a failed assertion. */
	for (d = 0; d < MAX_DISKS; d++)
		if (self->blk[d] > 0)
			reap(self->blk[d], self->blk_fds[d]);
	if (self->net > 0)
		reap(self->net, self->net_fds);
}

TEST_F_TIMEOUT(stress, cycles_under_io, 3000)
{
	const char *mode = vs_env_str("VS_STRESS_MODE", "debugfs");
	const char *path = getenv("VS_EXPECT_PATH");
	long r, cycles = vs_env_long("VS_STRESS_CYCLES", 100);
	long window = vs_env_long("VS_STRESS_WINDOW", 10);
	long grace = vs_env_long("VS_STRESS_GRACE_MS", 2000);
	long devices = vs_env_long("VS_DEVICE_COUNT", -1);
	int want_net = vs_env_long("VS_STRESS_NET", 1) != 0;
	int mixed = !strcmp(mode, "mixed");
	/* In mixed mode, cycle r is a system one when (r + 1) % every == 0. */
	long every = mixed ? vs_env_long("VS_STRESS_SYSTEM_EVERY", 3) :
		     !strcmp(mode, "system") ? 1 : 0;
	long system_cycles = 0, sleeps;
	struct dev_counts before[MAX_DEVS], after[MAX_DEVS];
	long net_mark, waited, late = 0, slowest = 0;
	char ifaces[2][IFNAMSIZ];
	long blk_marks[MAX_DISKS];
	int d, i, n, nifaces;
	struct result res;

	ASSERT_TRUE(every > 0 || !strcmp(mode, "debugfs"))
		TH_LOG("VS_STRESS_MODE %s (VS_STRESS_SYSTEM_EVERY %ld)", mode, every);
	sleeps = vs_read_long("/sys/power/suspend_stats/success");
	ASSERT_LE(0, sleeps);
	ASSERT_LT(0, window);
	n = snapshot_all(before);
	ASSERT_LT(0, n) TH_LOG("no virtio devices");
	if (devices >= 0)
		ASSERT_EQ(devices, n) TH_LOG("the scenario declares %ld virtio devices", devices);

	nifaces = vs_virtio_ifaces(ifaces);
	if (want_net)
		ASSERT_EQ(2, nifaces) TH_LOG("VS_STRESS_NET=1 needs two virtio_net interfaces");
	self->ndisks = parse_disks(self->disks);
	ASSERT_LT(0, self->ndisks) TH_LOG("VS_BLK_DEV: one to %d disks, colon-separated",
					  MAX_DISKS);
	for (d = 0; d < self->ndisks; d++) {
		self->blk[d] = spawn(self->blk_fds[d], run_blk, &self->disks[d]);
		ASSERT_LT(0, self->blk[d]);
	}
	if (want_net) {
		self->net = spawn(self->net_fds, run_net, ifaces);
		ASSERT_LT(0, self->net);
	}

	/* Traffic flows before the first cycle, or there is nothing to test. */
	for (d = 0; d < self->ndisks; d++)
		ASSERT_LE(0, wait_rise(&progress->blk_ops[d], 0, 10000))
			TH_LOG("no block write to %s before cycling", self->disks[d].path);
	if (want_net)
		ASSERT_LE(0, wait_rise(&progress->net_rx, 0, 10000))
			TH_LOG("no frame crossed %s -> %s before cycling", ifaces[0], ifaces[1]);

	for (d = 0; d < self->ndisks; d++)
		blk_marks[d] = peek(&progress->blk_ops[d]);
	net_mark = peek(&progress->net_rx);
	for (r = 0; r < cycles; r++) {
		int system = every && (r + 1) % every == 0;
		int ret = system ? vs_sleep_cycle("freeze") : vs_control_all("cycle");

		system_cycles += system;
		ASSERT_LE(0, ret) TH_LOG("%s cycle %ld: %s", system ? "system" : "debugfs", r,
					 strerror(-ret));
		/* vs_control_all() counts devices: each must be cycled. */
		if (!system)
			ASSERT_EQ(n, ret) TH_LOG("debugfs cycle %ld cycled %d of %d devices", r, ret, n);

		if ((r + 1) % window && r + 1 < cycles)
			continue;
		waited = 0;
		for (d = 0; d < self->ndisks; d++) {
			long w = wait_rise(&progress->blk_ops[d], blk_marks[d], grace);

			if (w < 0)
				log_stuck(self->blk[d], self->disks[d].path);
			ASSERT_LE(0, w) TH_LOG("no block write to %s completed in cycles %ld-%ld",
					       self->disks[d].path, r - (r % window), r);
			waited = w > waited ? w : waited;
		}
		if (want_net) {
			long w = wait_rise(&progress->net_rx, net_mark, grace);

			ASSERT_LE(0, w) TH_LOG("no frame received in cycles %ld-%ld",
					       r - (r % window), r);
			waited = w > waited ? w : waited;
		}
		late += waited >= 10;	/* more than one poll */
		slowest = waited > slowest ? waited : slowest;
		for (d = 0; d < self->ndisks; d++)
			blk_marks[d] = peek(&progress->blk_ops[d]);
		net_mark = peek(&progress->net_rx);
	}

	for (d = 0; d < self->ndisks; d++) {
		res = reap(self->blk[d], self->blk_fds[d]);
		self->blk[d] = -1;
		TH_LOG("%ld cycles (%ld system, %ld debugfs); %s: %ld verified writes, %ld errors",
		       cycles, system_cycles, cycles - system_cycles, self->disks[d].path,
		       res.ops, res.errors);
		EXPECT_EQ(0, res.errors);
		EXPECT_LT(0, res.ops);
	}
	/* The PM core's count, against the arithmetic of the mode. */
	EXPECT_EQ(every ? cycles / every : 0,
		  vs_read_long("/sys/power/suspend_stats/success") - sleeps);
	TH_LOG("progress in every window of %ld cycles (%ld windows waited, at most %ld ms)",
	       window, late, slowest);
	if (want_net) {
		res = reap(self->net, self->net_fds);
		self->net = -1;
		TH_LOG("network: %ld frames checked, %ld corrupt", res.ops, res.errors);
		EXPECT_EQ(0, res.errors);
		EXPECT_LT(0, res.ops);
	}

	/* Every cycle of every device took the path the scenario says. */
	if (path && !strcmp(path, "suspend")) {
		ASSERT_EQ(n, snapshot_all(after));
		for (i = 0; i < n; i++) {
			EXPECT_STREQ(before[i].name, after[i].name);
			EXPECT_EQ(before[i].suspends + cycles, after[i].suspends)
				TH_LOG("%s: SUSPEND cycles", after[i].name);
			EXPECT_EQ(before[i].fallbacks, after[i].fallbacks)
				TH_LOG("%s: fallbacks", after[i].name);
		}
	}
}

TEST_HARNESS_MAIN

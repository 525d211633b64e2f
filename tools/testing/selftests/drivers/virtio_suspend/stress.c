// SPDX-License-Identifier: GPL-2.0
/*
 * Suspend/resume cycles while block I/O and network traffic keep going:
 * no data error, no I/O error, no hang.
 *
 * A block worker rewrites random 4 KiB blocks of the disk with a pattern
 * naming the block and a generation, reading each back at once, and
 * verifies the whole region at the end. A network worker sends numbered
 * frames from one virtio-net interface to the other over the QEMU hub
 * and checks every frame that arrives (frames may be dropped while an
 * interface is suspended, as on any network; a corrupted one is an
 * error). Meanwhile the main process runs the cycles.
 *
 * Environment:
 *   VS_STRESS_MODE    "debugfs" (every device, one after the other, per
 *                     cycle) or "system" (s2idle); default debugfs
 *   VS_STRESS_CYCLES  cycles (default 100)
 *   VS_BLK_DEV        default /dev/vda; VS_STRESS_BLOCKS (default 1024)
 */
#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vs_net.h"

#define BLOCK		4096

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

struct result {
	long ops, errors;
};

static void fill_block(uint8_t *p, uint64_t block, uint64_t gen)
{
	uint64_t *w = (uint64_t *)p;
	size_t i;

	w[0] = block;
	w[1] = gen;
	for (i = 2; i < BLOCK / sizeof(*w); i++)
		w[i] = (block * 0x9e3779b97f4a7c15ULL) ^ (gen << 20) ^ i;
}

static struct result blk_worker(const char *dev, long blocks)
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

static struct result run_blk(void *arg)
{
	return blk_worker(arg, vs_env_long("VS_STRESS_BLOCKS", 1024));
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
	if (read(fds[0], &res, sizeof(res)) != sizeof(res))
		res.errors = 1;
	close(fds[0]);
	close(fds[1]);
	return res;
}

FIXTURE(stress) {
	int unused;
};

FIXTURE_SETUP(stress)
{
}

FIXTURE_TEARDOWN(stress)
{
}

TEST_F_TIMEOUT(stress, cycles_under_io, 3000)
{
	const char *mode = vs_env_str("VS_STRESS_MODE", "debugfs");
	long r, cycles = vs_env_long("VS_STRESS_CYCLES", 100);
	char ifaces[2][IFNAMSIZ];
	int blk_fds[2], net_fds[2];
	pid_t blk, net = -1;
	struct result res;

	blk = spawn(blk_fds, run_blk, (void *)vs_env_str("VS_BLK_DEV", "/dev/vda"));
	ASSERT_LT(0, blk);
	if (vs_virtio_ifaces(ifaces) == 2) {
		net = spawn(net_fds, run_net, ifaces);
		ASSERT_LT(0, net);
	}
	usleep(200 * 1000);
	for (r = 0; r < cycles; r++) {
		int ret = !strcmp(mode, "system") ? vs_sleep_cycle("freeze") : vs_control_all("cycle");

		/* vs_control_all() counts devices: none cycled is a failure. */
		if (strcmp(mode, "system") && ret >= 0)
			ret = ret ? 0 : -ENODEV;

		if (ret) {
			reap(blk, blk_fds);
			if (net > 0)
				reap(net, net_fds);
			ASSERT_EQ(0, ret) TH_LOG("%s cycle %ld", mode, r);
		}
	}
	res = reap(blk, blk_fds);
	TH_LOG("%ld %s cycles; block: %ld verified writes, %ld errors", cycles, mode,
	       res.ops, res.errors);
	EXPECT_EQ(0, res.errors);
	EXPECT_LT(0, res.ops);
	if (net > 0) {
		res = reap(net, net_fds);
		TH_LOG("network: %ld frames checked, %ld corrupt", res.ops, res.errors);
		EXPECT_EQ(0, res.errors);
		EXPECT_LT(0, res.ops);
	}
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * Reset-based fallback cycles of virtio-rng devices while /dev/hwrng is
 * read on every CPU.
 *
 * A device that does not acknowledge SUSPEND is reset; each queue's
 * callback runs once from process context, for the interrupts the reset
 * dropped (the machine's ReplayInterrupts step in logic/suspend.rs,
 * Ring::replay_interrupt of kernel::virtio::transport); then the device
 * is set up again on the same queues, and its queues are released and
 * notified. The module once replayed
 * after the set-up, when the device runs and its real interrupt can run
 * the same callback on another CPU; the replay now also takes the lock
 * the interrupt path takes. virtio_rng's callback takes its buffer with
 * virtqueue_get_buf() and no lock, as the interrupt core never runs one
 * handler on two CPUs at once: overlapping, the two take the same buffer
 * twice ("input:id N is not a head!", the queue marked broken) or corrupt
 * the ring's free list. The classic freeze that follows the fallback
 * deletes that queue and the restore builds a new one, so the readers
 * recover: the kernel's ring error is what is left to see.
 *
 * One reader per CPU, pinned, reads /dev/hwrng without pause; each
 * virtio_rng device in turn is made the current hwrng and cycled through
 * its debugfs control file, from the first CPU with the device's
 * interrupts moved to the last one (when they cannot be moved, from each
 * CPU in turn), so that the replay and the real interrupt run on
 * different CPUs. After every cycle:
 * - the control file's write succeeded;
 * - within VS_RNG_GRACE_MS, every reader got bytes again and the device
 *   raised interrupts (the bytes are the cycled device's);
 * - the kernel logged no ring error of virtio_ring ("is not a head!",
 *   "out of range"; the runner fails the scenario on those too).
 * After the cycles of a device, its suspend/ counters must show every
 * cycle on the path VS_EXPECT_PATH names. The cycles are bounded by
 * VS_RNG_SECONDS; reaching it fails, as does a reader that does not end
 * when killed. Any other kernel report is the runner's to catch.
 *
 * Environment:
 *   VS_RNG_DEVICES   devices bound to virtio_rng there must be (default 1)
 *   VS_RNG_CYCLES    cycles per device (default 50)
 *   VS_RNG_SECONDS   time limit for the cycles of all devices (default 120)
 *   VS_RNG_GRACE_MS  see above (default 5000)
 *   VS_EXPECT_PATH   "classic" (every cycle counts a fallback) or
 *                    "suspend" (every cycle an acknowledged SUSPEND);
 *                    default "classic"
 */
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define MAX_CPUS	4
#define MAX_RNGS	4
#define MAX_IRQS	8
#define RNG_SYSFS	"/sys/class/misc/hw_random"

struct progress {
	long bytes[MAX_CPUS], errors[MAX_CPUS];
};

struct rng {
	char vdev[32];		/* virtioN */
	char name[32];		/* its hwrng, virtio_rng.K */
};

static long peek(long *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

/* A reader: on @cpu, reads /dev/hwrng until killed. */
static void reader(struct progress *p, int cpu)
{
	unsigned char buf[1024];
	ssize_t n;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (pin(cpu))
		_exit(1);
	fd = open("/dev/hwrng", O_RDONLY);
	if (fd < 0)
		_exit(1);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			__atomic_add_fetch(&p->bytes[cpu], n, __ATOMIC_RELAXED);
		} else {
			/* ENODEV while no hwrng is registered (a freeze). */
			__atomic_add_fetch(&p->errors[cpu], 1, __ATOMIC_RELAXED);
			usleep(1000);
		}
	}
}

/*
 * The interrupt numbers of virtio device @vdev (see vs_irq_lines()), into
 * @irqs: how many, or -errno.
 */
static int irq_numbers(const char *vdev, int *irqs, int max)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f) && n < max) {
		char *tok, *save, *end, *p = strchr(line, ':');
		long irq = strtol(line, &end, 10);

		if (!p || end == line || end != p)
			continue;
		for (tok = strtok_r(p + 1, " ,\t\n", &save); tok;
		     tok = strtok_r(NULL, " ,\t\n", &save)) {
			if (!strcmp(tok, vdev) || vs_irq_name_of(tok, vdev)) {
				irqs[n++] = irq;
				break;
			}
		}
	}
	fclose(f);
	return n;
}

/*
 * Moves @vdev's interrupts to @cpu (a queue's vector can change at every
 * restore, so this runs before each cycle): 0, or -errno if one could not
 * be moved.
 */
static int move_irqs(const char *vdev, int cpu)
{
	char path[64], want[16], cur[64];
	int irqs[MAX_IRQS], i, n, ret;

	n = irq_numbers(vdev, irqs, MAX_IRQS);
	if (n <= 0)
		return n ? n : -ENOENT;
	snprintf(want, sizeof(want), "%d", cpu);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/irq/%d/smp_affinity_list", irqs[i]);
		if (!vs_read_attr(path, cur, sizeof(cur)) && !strcmp(cur, want))
			continue;
		ret = vs_write_attr(path, want);
		if (ret)
			return ret;
	}
	return 0;
}

static long irq_count(const char *vdev)
{
	long count;

	return vs_irq_lines(vdev, &count) > 0 ? count : -1;
}

/* Makes hwrng @name the current one, if it is not. */
static int select_rng(const char *name)
{
	char cur[64];

	if (!vs_read_attr(RNG_SYSFS "/rng_current", cur, sizeof(cur)) && !strcmp(cur, name))
		return 0;
	return vs_write_attr(RNG_SYSFS "/rng_current", name);
}

/*
 * What the readers must get after a cycle, in all: more than a virtio_rng
 * buffer (512 bytes), so that the device served requests made after the
 * cycle, not only one left from before.
 */
#define FRESH_BYTES	(4 * 512)

/*
 * Waits, at most @grace_ms, until every reader's bytes passed its mark,
 * all readers' by FRESH_BYTES, and @vdev's interrupt count passed
 * @irqs_mark. Returns how long that took, or -1 (*@late_reader the first
 * reader that got nothing, or -1 if the readers all got some).
 */
static long wait_progress(struct progress *p, int ncpus, const long *marks,
			  const char *vdev, long irqs_mark, long grace_ms, int *late_reader)
{
	long start = vs_now_ms(), waited, fresh;
	int cpu, done;

	for (;;) {
		waited = vs_now_ms() - start;
		done = irq_count(vdev) > irqs_mark;
		*late_reader = -1;
		fresh = 0;
		for (cpu = 0; cpu < ncpus; cpu++) {
			fresh += peek(&p->bytes[cpu]) - marks[cpu];
			if (*late_reader < 0 && peek(&p->bytes[cpu]) <= marks[cpu]) {
				*late_reader = cpu;
				done = 0;
			}
		}
		if (done && fresh >= FRESH_BYTES)
			return waited;
		if (waited >= grace_ms)
			return -1;
		usleep(5 * 1000);
	}
}

/* A stalled reader's state and kernel stack, one TAP comment line each. */
static void log_stuck(pid_t pid, int cpu)
{
	static const char *const files[] = { "stat", "wchan", "stack" };
	char path[64], buf[2048], *nl;
	unsigned int i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
		if (vs_read_attr(path, buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "(unreadable: %s)", strerror(errno));
		while ((nl = strchr(buf, '\n')))
			*nl = '|';
		fprintf(stderr, "# reader on CPU %d (pid %d) %s: %s\n", cpu, pid, files[i], buf);
	}
}

/*
 * Reads the kernel log records written since the last call; copies the
 * first ring error of virtio_ring (BAD_RING) into @bad. Returns 1 if
 * there was one.
 */
static int kmsg_ring_error(int fd, char *bad, size_t len)
{
	char rec[2048], *msg;
	int found = 0;

	while ((msg = vs_kmsg_next(fd, rec, sizeof(rec)))) {
		if (!found && (strstr(msg, " is not a head!") ||
			       (strstr(msg, ":id ") && strstr(msg, " out of range")))) {
			snprintf(bad, len, "%.400s", msg);
			found = 1;
		}
	}
	return found;
}

FIXTURE(rng) {
	struct progress *p;
	pid_t readers[MAX_CPUS];
	int ncpus, kmsg;
	struct rng rngs[MAX_RNGS];
	int nrngs;
};

FIXTURE_SETUP(rng)
{
	const char *drv = "/sys/bus/virtio/drivers/virtio_rng";
	long want = vs_env_long("VS_RNG_DEVICES", 1);
	struct dirent *de;
	DIR *dir;
	int cpu, i;

	self->kmsg = -1;
	for (cpu = 0; cpu < MAX_CPUS; cpu++)
		self->readers[cpu] = -1;
	self->ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	ASSERT_LE(2, self->ncpus) TH_LOG("the race needs two CPUs");
	ASSERT_GE(MAX_CPUS, self->ncpus);
	ASSERT_LE(1, want);
	ASSERT_GE(MAX_RNGS, want);

	/* Devices bind asynchronously after the transports probe. */
	for (i = 0; i < 100; i++) {
		self->nrngs = 0;
		dir = opendir(drv);
		while (dir && (de = readdir(dir)) && self->nrngs < MAX_RNGS) {
			if (strncmp(de->d_name, "virtio", 6) ||
			    strlen(de->d_name) >= sizeof(self->rngs[0].vdev))
				continue;
			strcpy(self->rngs[self->nrngs++].vdev, de->d_name);
		}
		if (dir)
			closedir(dir);
		if (self->nrngs >= want)
			break;
		usleep(100 * 1000);
	}
	ASSERT_EQ(want, self->nrngs) TH_LOG("VS_RNG_DEVICES: devices bound to virtio_rng");

	self->kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, self->kmsg) TH_LOG("/dev/kmsg: %s", strerror(errno));
	ASSERT_LE(0, lseek(self->kmsg, 0, SEEK_END));

	self->p = mmap(NULL, sizeof(*self->p), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->p);
	memset(self->p, 0, sizeof(*self->p));
	for (cpu = 0; cpu < self->ncpus; cpu++) {
		self->readers[cpu] = fork();
		ASSERT_LE(0, self->readers[cpu]);
		if (!self->readers[cpu])
			reader(self->p, cpu);
	}
}

FIXTURE_TEARDOWN(rng)
{
	int cpu, status, i;

	for (cpu = 0; cpu < MAX_CPUS; cpu++) {
		if (self->readers[cpu] <= 0)
			continue;
		kill(self->readers[cpu], SIGKILL);
		/* A reader stuck where SIGKILL does not reach it is a hang. */
		for (i = 0; i < 500; i++) {
			if (waitpid(self->readers[cpu], &status, WNOHANG) == self->readers[cpu])
				break;
			usleep(10 * 1000);
		}
		if (i == 500) {
			log_stuck(self->readers[cpu], cpu);
			_metadata->exit_code = KSFT_FAIL;
			fprintf(stderr, "# reader on CPU %d did not end when killed\n", cpu);
		}
		self->readers[cpu] = -1;
	}
	/* Back to the best hwrng, chosen by the kernel. */
	select_rng("\n");
	if (self->kmsg >= 0)
		close(self->kmsg);
}

/*
 * Finds each device's hwrng: with the readers running, each virtio_rng
 * hwrng in turn made current; the device whose interrupts then come is
 * its. A freeze frees the name's index and the restore takes the lowest
 * free one back, so the names stay.
 */
static void map_names(struct __test_metadata *_metadata, FIXTURE_DATA(rng) *self)
{
	long grace = vs_env_long("VS_RNG_GRACE_MS", 5000);
	char avail[256], *tok, *save;
	int i, mapped = 0;

	ASSERT_EQ(0, vs_read_attr(RNG_SYSFS "/rng_available", avail, sizeof(avail)));
	for (tok = strtok_r(avail, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		long before[MAX_RNGS], marks[MAX_CPUS], start;
		int cpu, best = -1, rose = 0;

		if (strncmp(tok, "virtio_rng.", 11) || strlen(tok) >= sizeof(self->rngs[0].name))
			continue;
		ASSERT_EQ(0, select_rng(tok)) TH_LOG("rng_current %s", tok);
		/* Past the reads the previous source served. */
		usleep(50 * 1000);
		for (i = 0; i < self->nrngs; i++)
			before[i] = irq_count(self->rngs[i].vdev);
		for (cpu = 0; cpu < self->ncpus; cpu++)
			marks[cpu] = peek(&self->p->bytes[cpu]) + 4096;
		start = vs_now_ms();
		while (vs_now_ms() - start < grace) {
			for (cpu = 0; cpu < self->ncpus && peek(&self->p->bytes[cpu]) > marks[cpu];
			     cpu++)
				;
			if (cpu == self->ncpus)
				break;
			usleep(5 * 1000);
		}
		ASSERT_EQ(self->ncpus, cpu) TH_LOG("the reader on CPU %d got no bytes from %s",
						    cpu, tok);
		for (i = 0; i < self->nrngs; i++) {
			if (irq_count(self->rngs[i].vdev) <= before[i])
				continue;
			rose++;
			best = i;
		}
		ASSERT_EQ(1, rose) TH_LOG("%s: %d devices raised interrupts", tok, rose);
		ASSERT_EQ(0, self->rngs[best].name[0]) TH_LOG("%s and %s are both %s's",
							 self->rngs[best].name, tok,
							 self->rngs[best].vdev);
		strcpy(self->rngs[best].name, tok);
		mapped++;
	}
	ASSERT_EQ(self->nrngs, mapped) TH_LOG("rng_available: %s", avail);
}

TEST_F_TIMEOUT(rng, fallback_cycles_under_reads, 900)
{
	long cycles = vs_env_long("VS_RNG_CYCLES", 50);
	long limit_ms = vs_env_long("VS_RNG_SECONDS", 120) * 1000;
	long grace = vs_env_long("VS_RNG_GRACE_MS", 5000);
	const char *path = vs_env_str("VS_EXPECT_PATH", "classic");
	int classic = !strcmp(path, "classic");
	long start = vs_now_ms(), slowest = 0, r;
	int last = self->ncpus - 1, d, cpu;
	char ctl[PATH_MAX], bad[512];

	ASSERT_TRUE(classic || !strcmp(path, "suspend")) TH_LOG("VS_EXPECT_PATH %s", path);
	ASSERT_LT(0, cycles);
	map_names(_metadata, self);

	for (d = 0; d < self->nrngs; d++) {
		const struct rng *rng = &self->rngs[d];
		long suspends = vs_suspend_count(rng->vdev, "suspends");
		long fallbacks = vs_suspend_count(rng->vdev, "fallbacks");
		long dev_start = vs_now_ms(), unmoved = 0, waited;

		ASSERT_LE(0, suspends) TH_LOG("%s has no suspend/ counters", rng->vdev);
		vs_control_path(rng->vdev, ctl, sizeof(ctl));
		for (r = 0; r < cycles; r++) {
			long marks[MAX_CPUS], irqs;
			int late, ret, moved;

			ASSERT_GT(limit_ms, vs_now_ms() - start)
				TH_LOG("time limit: %ld of %ld cycles of %s in %ld s", r, cycles,
				       rng->vdev, limit_ms / 1000);
			ASSERT_EQ(0, select_rng(rng->name)) TH_LOG("rng_current %s", rng->name);
			/* The replay on one CPU, the device's interrupt on another. */
			moved = !move_irqs(rng->vdev, last);
			unmoved += !moved;
			cpu = moved ? 0 : r % self->ncpus;
			ASSERT_EQ(0, pin(cpu));
			ret = vs_write_attr(ctl, "cycle");
			ASSERT_EQ(0, ret) TH_LOG("%s: cycle %ld: %s", rng->vdev, r, strerror(-ret));
			/* The freeze handed /dev/hwrng to another device, if any. */
			ASSERT_EQ(0, select_rng(rng->name)) TH_LOG("rng_current %s after cycle %ld",
								   rng->name, r);
			for (cpu = 0; cpu < self->ncpus; cpu++)
				marks[cpu] = peek(&self->p->bytes[cpu]);
			irqs = irq_count(rng->vdev);
			waited = wait_progress(self->p, self->ncpus, marks, rng->vdev, irqs,
					       grace, &late);
			if (waited < 0)
				for (cpu = 0; cpu < self->ncpus; cpu++)
					log_stuck(self->readers[cpu], cpu);
			ASSERT_LE(0, waited)
				TH_LOG("%s: after cycle %ld: %s in %ld ms (%d bytes in all wanted)",
				       rng->vdev, r, late >= 0 ? "a reader got no bytes" :
				       "too few bytes or no interrupt", grace, FRESH_BYTES);
			slowest = waited > slowest ? waited : slowest;
			ASSERT_EQ(0, kmsg_ring_error(self->kmsg, bad, sizeof(bad)))
				TH_LOG("%s: cycle %ld: %s", rng->vdev, r, bad);
		}
		TH_LOG("%s (%s): %ld cycles in %ld ms, %ld with its interrupts not moved off "
		       "the cycling CPU", rng->vdev, rng->name, cycles, vs_now_ms() - dev_start,
		       unmoved);
		if (classic) {
			EXPECT_EQ(fallbacks + cycles, vs_suspend_count(rng->vdev, "fallbacks"))
				TH_LOG("%s: fallbacks", rng->vdev);
			EXPECT_EQ(suspends, vs_suspend_count(rng->vdev, "suspends"))
				TH_LOG("%s: suspends", rng->vdev);
		} else {
			EXPECT_EQ(suspends + cycles, vs_suspend_count(rng->vdev, "suspends"))
				TH_LOG("%s: suspends", rng->vdev);
			EXPECT_EQ(fallbacks, vs_suspend_count(rng->vdev, "fallbacks"))
				TH_LOG("%s: fallbacks", rng->vdev);
		}
	}
	for (cpu = 0; cpu < self->ncpus; cpu++)
		TH_LOG("reader on CPU %d: %ld bytes, %ld failed reads", cpu,
		       peek(&self->p->bytes[cpu]), peek(&self->p->errors[cpu]));
	TH_LOG("readers served within %ld ms of every cycle", slowest);
}

TEST_HARNESS_MAIN

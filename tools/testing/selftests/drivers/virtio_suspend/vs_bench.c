// SPDX-License-Identifier: GPL-2.0
/*
 * Measurements for "make bench" (tools/runner/bench.py), run in a guest.
 * Prints "vs-bench: <kind> key=value ..." lines; the host computes the
 * statistics and ratios. Not a test: it asserts nothing.
 *
 *   vs_bench latency <virtioN> <cycles>   debugfs suspend and resume of one
 *                                         device, timed per half, with the
 *                                         driver-measured acknowledgement
 *   vs_bench system <cycles>              s2idle (pm_test=devices) cycles
 *   vs_bench blk <dev> <seconds>          fio (/bin/fio), O_DIRECT, each for
 *                                         <seconds>: sequential 1 MiB writes
 *                                         and reads, 4 KiB random reads from
 *                                         1 and 16 threads
 *   vs_bench rebind <blkdev> <driver>     moves the transport device under
 *                                         block device <blkdev> to <driver>
 *                                         (driver_override), e.g. to the C
 *                                         virtio_mmio or virtio_pci
 *   vs_bench blkpair <a> <b> <s> <rounds> "blk" on <a> and on <b>, <rounds>
 *                                         times, the first of each pair
 *                                         alternating: two disks, one per
 *                                         transport, in one guest; halfway
 *                                         the transports swap disks
 *   vs_bench firstio <blkdev> <cycles>    time from the start of a debugfs
 *                                         resume to the completion of a read
 *                                         submitted while suspended
 *   vs_bench rngpair <seconds> <rounds>   /dev/hwrng read throughput of the
 *                                         Rust virtio-rng sample and of the C
 *                                         virtio_rng, one entropy device
 *                                         each, in one guest: the sample
 *                                         binds both devices (it loads
 *                                         first), the second moves to the C
 *                                         driver (unbind, bind), and
 *                                         rng_current alternates, <seconds>
 *                                         each, <rounds> times, the first
 *                                         of each pair alternating; halfway
 *                                         the drivers swap devices; per round
 *                                         KiB/s, the device's interrupts and
 *                                         the reader's sleeps per KiB
 *
 * Every line names the device's transport driver (transport=).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vs_util.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static long sysfs_long(const char *dev, const char *attr)
{
	char path[PATH_MAX], buf[32];

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%.64s/suspend/%.64s", dev, attr);
	return vs_read_attr(path, buf, sizeof(buf)) ? -1 : strtol(buf, NULL, 10);
}

/* The driver of virtio device @dev's transport device, or "?". */
static const char *transport_of(const char *dev, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%.255s/../driver", dev);
	if (vs_link_name(path, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

static const char *kind_name(long id)
{
	switch (id) {
	case 1: return "net";
	case 2: return "blk";
	case 3: return "console";
	case 4: return "rng";
	default: return "other";
	}
}

/* One debugfs suspend + resume of @dev, timed per half. */
static int latency_cycle(const char *dev)
{
	char ctl[PATH_MAX], path[PATH_MAX], buf[32], transport[64];
	uint64_t t0, t1, t2;
	long id;

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%.255s/device", dev);
	if (vs_read_attr(path, buf, sizeof(buf)))
		return 1;
	id = strtol(buf, NULL, 0);
	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%.255s/suspend/dialect", dev);
	if (vs_read_attr(path, buf, sizeof(buf)))
		return 1;
	snprintf(ctl, sizeof(ctl), "/sys/kernel/debug/virtio_suspend/%.255s", dev);
	t0 = now_ns();
	if (vs_write_attr(ctl, "suspend"))
		return 1;
	t1 = now_ns();
	if (vs_write_attr(ctl, "resume"))
		return 1;
	t2 = now_ns();
	printf("vs-bench: latency dev=%s transport=%s kind=%s path=%s suspend_us=%llu "
	       "resume_us=%llu ack_suspend_us=%ld ack_resume_us=%ld\n", dev,
	       transport_of(dev, transport, sizeof(transport)), kind_name(id),
	       strcmp(buf, "none") ? "suspend" : "classic",
	       (unsigned long long)(t1 - t0) / 1000,
	       (unsigned long long)(t2 - t1) / 1000,
	       sysfs_long(dev, "last_suspend_us"), sysfs_long(dev, "last_resume_us"));
	return 0;
}

/* @cycles rounds, each cycling @dev or, for "all", every device in turn. */
static int latency(const char *dev, long cycles)
{
	char names[16][NAME_MAX + 1];
	int n = 0, d;
	long i;

	if (strcmp(dev, "all")) {
		snprintf(names[n++], sizeof(names[0]), "%s", dev);
	} else {
		struct dirent *de;
		DIR *dir = opendir("/sys/bus/virtio/devices");

		while (dir && (de = readdir(dir)) && n < 16)
			if (de->d_name[0] != '.')
				snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
		if (dir)
			closedir(dir);
	}
	for (i = 0; i < cycles; i++)
		for (d = 0; d < n; d++)
			if (latency_cycle(names[d]))
				return 1;
	return 0;
}

static int system_cycles(long cycles)
{
	long i;

	for (i = 0; i < cycles; i++) {
		uint64_t t0 = now_ns();

		if (vs_sleep_cycle("freeze"))
			return 1;
		printf("vs-bench: system cycle_us=%llu\n",
		       (unsigned long long)(now_ns() - t0) / 1000);
	}
	return 0;
}

/*
 * The number after "@key" : in the @section ("read" or "write") of the
 * first job of fio's JSON report @json, or -1.
 */
static double fio_figure(const char *json, const char *section, const char *key)
{
	char quoted[64];
	const char *p = strstr(json, "\"jobs\"");

	/* The section, not a job option's value ("rw" : "write"). */
	snprintf(quoted, sizeof(quoted), "\"%s\" : {", section);
	p = p ? strstr(p, quoted) : NULL;
	snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	p = p ? strstr(p, quoted) : NULL;
	p = p ? strchr(p, ':') : NULL;
	return p ? strtod(p + 1, NULL) : -1;
}

/*
 * One time-based fio run of @jobs psync threads on @dev (the guest kernel
 * has neither libaio nor io_uring: queue depth is the number of jobs);
 * returns @key of the @section of fio's report, -1 on any failure.
 */
static double fio(const char *dev, const char *rw, const char *bs, int jobs,
		  double seconds, const char *section, const char *key)
{
	static char json[1 << 20];
	char cmd[512];
	size_t n;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "/bin/fio --name=bench --filename=%s --direct=1 "
		 "--ioengine=psync --rw=%s --bs=%s --numjobs=%d --thread --group_reporting "
		 "--time_based --runtime=%.0f --output-format=json "
		 "--output=/tmp/vs_bench.json >/dev/null 2>&1", dev, rw, bs, jobs, seconds);
	if (system(cmd)) {
		fprintf(stderr, "vs_bench: failed: %s\n", cmd);
		return -1;
	}
	f = fopen("/tmp/vs_bench.json", "r");
	if (!f)
		return -1;
	n = fread(json, 1, sizeof(json) - 1, f);
	fclose(f);
	json[n] = '\0';
	return fio_figure(json, section, key);
}

/* fio's figures, in the units a storage person expects: MiB/s, IOPS. */
static int blk(const char *dev, double seconds)
{
	char vdev[32], transport[64];
	double v[4];
	int i;

	/* In this order: the reads read what the writes wrote. */
	v[0] = fio(dev, "write", "1m", 1, seconds, "write", "bw_bytes") / 1048576.0;
	v[1] = fio(dev, "read", "1m", 1, seconds, "read", "bw_bytes") / 1048576.0;
	v[2] = fio(dev, "randread", "4k", 1, seconds, "read", "iops");
	v[3] = fio(dev, "randread", "4k", 16, seconds, "read", "iops");

	for (i = 0; i < 4; i++)
		if (v[i] <= 0)
			return 1;
	if (vs_blk_virtio(dev, vdev, sizeof(vdev)))
		return 1;
	printf("vs-bench: blk dev=%s transport=%s seq_write_mibs=%.1f seq_read_mibs=%.1f "
	       "randread_qd1_iops=%.0f randread_qd16_iops=%.0f\n", dev,
	       transport_of(vdev, transport, sizeof(transport)), v[0], v[1], v[2], v[3]);
	return 0;
}

/*
 * Moves the transport device under block device @blk to @driver: sets
 * its driver_override, unbinds it, asks its bus to probe it again, and
 * waits for the block device to come back.
 */
static int rebind(const char *blk, const char *driver)
{
	char vdev[32], dir[128], path[PATH_MAX], name[256], bus[64];

	if (vs_blk_virtio(blk, vdev, sizeof(vdev)))
		return 1;
	snprintf(dir, sizeof(dir), "/sys/bus/virtio/devices/%s/..", vdev);
	snprintf(path, sizeof(path), "%s/subsystem", dir);
	if (vs_link_name(path, bus, sizeof(bus)))
		return 1;
	if (realpath(dir, path) == NULL)
		return 1;
	snprintf(name, sizeof(name), "%s", strrchr(path, '/') + 1);
	snprintf(path, sizeof(path), "%s/driver_override", dir);
	if (vs_write_attr(path, driver))
		return 1;
	snprintf(path, sizeof(path), "%s/driver/unbind", dir);
	if (vs_write_attr(path, name))
		return 1;
	if (vs_wait_path(blk, 0, 10000))
		return 1;
	snprintf(path, sizeof(path), "/sys/bus/%s/drivers_probe", bus);
	if (vs_write_attr(path, name) || vs_wait_path(blk, 1, 10000))
		return 1;
	snprintf(path, sizeof(path), "%s/driver", dir);
	if (vs_link_name(path, bus, sizeof(bus)) || strcmp(bus, driver))
		return 1;
	printf("vs-bench: rebind dev=%s device=%s driver=%s\n", blk, name, driver);
	return 0;
}

/* The driver of the transport device under block device @blk. */
static int blk_transport(const char *blk, char *buf, size_t len)
{
	char vdev[32];

	if (vs_blk_virtio(blk, vdev, sizeof(vdev)))
		return 1;
	return strcmp(transport_of(vdev, buf, len), "?") == 0;
}

static int blkpair(const char *a, const char *b, double seconds, long rounds)
{
	char ta[64], tb[64];
	long r;

	for (r = 0; r < rounds; r++) {
		const char *first = r % 2 ? b : a, *second = r % 2 ? a : b;

		/*
		 * Halfway, the transports swap disks: neither always has
		 * the same device (its place on the bus, its interrupt
		 * vectors, its image file). The names come back as they
		 * were: each disk takes the lowest free index again.
		 */
		if (r && r == rounds / 2) {
			if (blk_transport(a, ta, sizeof(ta)) ||
			    blk_transport(b, tb, sizeof(tb)) ||
			    rebind(a, tb) || rebind(b, ta))
				return 1;
		}
		/* a, b, then b, a: neither disk always goes first. */
		if (blk(first, seconds) || blk(second, seconds))
			return 1;
	}
	return 0;
}

struct pending_read {
	const char *blk;
	uint64_t done_ns;
	int ret;
};

static void *read_one(void *arg)
{
	struct pending_read *p = arg;
	void *buf;
	int fd = open(p->blk, O_RDONLY | O_DIRECT);

	p->ret = -1;
	if (fd < 0 || posix_memalign(&buf, 4096, 4096))
		return NULL;
	if (pread(fd, buf, 4096, 0) == 4096)
		p->ret = 0;
	p->done_ns = now_ns();
	free(buf);
	close(fd);
	return NULL;
}

/*
 * Suspends the virtio device under @blk through debugfs, submits a read,
 * then resumes: the time from the start of the resume to the read's
 * completion, the first I/O after it.
 */
static int firstio(const char *blk, long cycles)
{
	char vdev[32], ctl[PATH_MAX], path[PATH_MAX], dialect[32], transport[64];
	long i;

	if (vs_blk_virtio(blk, vdev, sizeof(vdev)))
		return 1;
	snprintf(ctl, sizeof(ctl), "/sys/kernel/debug/virtio_suspend/%s", vdev);
	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/suspend/dialect", vdev);
	if (vs_read_attr(path, dialect, sizeof(dialect)))
		return 1;
	for (i = 0; i < cycles; i++) {
		struct pending_read p = { .blk = blk };
		pthread_t thread;
		uint64_t t0;

		if (vs_write_attr(ctl, "suspend") ||
		    pthread_create(&thread, NULL, read_one, &p))
			return 1;
		/* Long enough for the read to be submitted and held. */
		usleep(20 * 1000);
		t0 = now_ns();
		if (vs_write_attr(ctl, "resume"))
			return 1;
		pthread_join(thread, NULL);
		if (p.ret)
			return 1;
		printf("vs-bench: firstio dev=%s transport=%s path=%s us=%llu\n", vdev,
		       transport_of(vdev, transport, sizeof(transport)),
		       strcmp(dialect, "none") ? "suspend" : "classic",
		       (unsigned long long)(p.done_ns - t0) / 1000);
	}
	return 0;
}

/* The virtio devices bound to virtio driver @drv, at most @max. */
static int virtio_bound(const char *drv, char names[][32], int max)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/virtio/drivers/%s", drv);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < max) {
		if (strncmp(de->d_name, "virtio", 6) || strlen(de->d_name) >= 32)
			continue;
		strcpy(names[n++], de->d_name);
	}
	closedir(dir);
	return n;
}

/* The hwrng source in rng_available that starts with @prefix. */
static int rng_source(const char *prefix, char *buf, size_t len)
{
	char avail[512], *tok, *save = NULL;

	if (vs_read_attr("/sys/class/misc/hw_random/rng_available", avail, sizeof(avail)))
		return -1;
	for (tok = strtok_r(avail, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (!strncmp(tok, prefix, strlen(prefix)) && strlen(tok) < len) {
			strcpy(buf, tok);
			return 0;
		}
	return -1;
}

/*
 * This task's voluntary context switches, or -1: its sleeps, waiting for
 * the device's answer or for the hwrng core's lock.
 */
static long sleeps(void)
{
	return vs_file_field("/proc/self/status", "voluntary_ctxt_switches: %ld");
}

/*
 * Reads /dev/hwrng from source @name for @seconds: KiB/s; the device's
 * interrupts per KiB in @irqs_kib (a request of 64 bytes each); the
 * reader's sleeps per KiB in @sleeps_kib.
 */
static double rng_rate(const char *name, const char *vdev, double seconds, double *irqs_kib,
		       double *sleeps_kib)
{
	long irq0 = 0, irq1 = 0, sleep0, sleep1;
	static char buf[4096];
	uint64_t t0, t;
	double bytes = 0;
	ssize_t n;
	int fd;

	if (vs_write_attr("/sys/class/misc/hw_random/rng_current", name))
		return -1;
	fd = open("/dev/hwrng", O_RDONLY);
	if (fd < 0 || vs_irq_lines(vdev, &irq0) <= 0)
		return -1;
	sleep0 = sleeps();
	t0 = now_ns();
	do {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			close(fd);
			return -1;
		}
		bytes += n;
		t = now_ns();
	} while (t - t0 < seconds * 1e9);
	sleep1 = sleeps();
	close(fd);
	if (vs_irq_lines(vdev, &irq1) <= 0 || sleep0 < 0 || sleep1 < 0)
		return -1;
	*irqs_kib = (irq1 - irq0) / (bytes / 1024);
	*sleeps_kib = (sleep1 - sleep0) / (bytes / 1024);
	return bytes / 1024 / ((t - t0) / 1e9);
}

/* Moves virtio device @dev from driver @from to driver @to. */
static int rebind_virtio(const char *dev, const char *from, const char *to)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/virtio/drivers/%s/unbind", from);
	if (vs_write_attr(path, dev))
		return 1;
	snprintf(path, sizeof(path), "/sys/bus/virtio/drivers/%s/bind", to);
	return vs_write_attr(path, dev) ? 1 : 0;
}

/*
 * The hwrng sources of the Rust driver on @dev[0] and of the C driver on
 * @dev[1] into @name[0] and @name[1], once both are registered.
 */
static int rng_sources(char dev[2][32], char name[2][96])
{
	char c[1][32], rust[96];
	long t;

	snprintf(name[0], sizeof(name[0]), "rust_virtio_rng.%s", dev[0] + 6);
	for (t = 0; t < 100; t++) {
		if (!rng_source(name[0], rust, sizeof(rust)) &&
		    !rng_source("virtio_rng.", name[1], sizeof(name[1])))
			break;
		usleep(50 * 1000);
	}
	if (t == 100 || virtio_bound("virtio_rng", c, 1) != 1 || strcmp(c[0], dev[1]))
		return 1;
	for (t = 0; t < 2; t++) {
		char path[PATH_MAX], features[80];

		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/features", dev[t]);
		if (vs_read_attr(path, features, sizeof(features)))
			return 1;
		features[strcspn(features, "\n")] = 0;
		printf("vs-bench: rng-device %s=%s source=%s features=%s\n",
		       t ? "c" : "rust", dev[t], name[t], features);
	}
	return 0;
}

static int rngpair(double seconds, long rounds)
{
	char dev[2][32], c[2][32], name[2][96], swap[32], path[PATH_MAX];
	const char *driver[2] = { "rust", "c" };
	long r;
	int i;

	if (virtio_bound("rust_virtio_rng", dev, 2) != 2 || virtio_bound("virtio_rng", c, 1) != 0)
		return 1;
	/* The second device to the C driver. */
	if (rebind_virtio(dev[1], "rust_virtio_rng", "virtio_rng") || rng_sources(dev, name))
		return 1;
	for (r = 0; r < rounds; r++) {
		/*
		 * Halfway, the drivers swap devices: neither driver always
		 * has the same device (its interrupt line, its place on
		 * the bus).
		 */
		if (r && r == rounds / 2) {
			if (rebind_virtio(dev[0], "rust_virtio_rng", "virtio_rng") ||
			    rebind_virtio(dev[1], "virtio_rng", "rust_virtio_rng"))
				return 1;
			strcpy(swap, dev[0]);
			strcpy(dev[0], dev[1]);
			strcpy(dev[1], swap);
			if (rng_sources(dev, name))
				return 1;
		}
		/* Rust, C, then C, Rust: neither always goes first. */
		for (i = 0; i < 2; i++) {
			int k = r % 2 ? 1 - i : i;
			double irqs, sleeps, rate = rng_rate(name[k], dev[k], seconds, &irqs, &sleeps);

			if (rate < 0)
				return 1;
			printf("vs-bench: rng driver=%s source=%s device=%s round=%ld kib_s=%.1f irqs_per_kib=%.1f sleeps_per_kib=%.1f\n",
			       driver[k], name[k], dev[k], r, rate, irqs, sleeps);
		}
	}
	/* Each driver still has its device: no round measured another. */
	snprintf(path, sizeof(path), "/sys/bus/virtio/drivers/rust_virtio_rng/%s", dev[0]);
	if (access(path, F_OK) || virtio_bound("virtio_rng", c, 2) != 1 || strcmp(c[0], dev[1]))
		return 1;
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "latency"))
		return latency(argv[2], atol(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "system"))
		return system_cycles(atol(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "blk"))
		return blk(argv[2], atof(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "rebind"))
		return rebind(argv[2], argv[3]);
	if (argc == 6 && !strcmp(argv[1], "blkpair"))
		return blkpair(argv[2], argv[3], atof(argv[4]), atol(argv[5]));
	if (argc == 4 && !strcmp(argv[1], "firstio"))
		return firstio(argv[2], atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "rngpair"))
		return rngpair(atof(argv[2]), atol(argv[3]));
	fprintf(stderr, "usage: vs_bench latency <virtioN> <cycles> | system <cycles> | "
		"blk <dev> <seconds> | rebind <blkdev> <driver> | "
		"blkpair <a> <b> <seconds> <rounds> | firstio <blkdev> <cycles> | "
		"rngpair <seconds> <rounds>\n");
	return 2;
}

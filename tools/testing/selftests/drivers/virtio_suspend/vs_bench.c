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
 *   vs_bench blk <dev> <seconds>          O_DIRECT: sequential 1 MiB writes
 *                                         and reads, 4 KiB random reads at
 *                                         queue depth 1 and 16
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
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

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/suspend/%s", dev, attr);
	return vs_read_attr(path, buf, sizeof(buf)) ? -1 : strtol(buf, NULL, 10);
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
	char ctl[PATH_MAX], path[PATH_MAX], buf[32];
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
	printf("vs-bench: latency dev=%s kind=%s path=%s suspend_us=%llu resume_us=%llu "
	       "ack_suspend_us=%ld ack_resume_us=%ld\n", dev, kind_name(id),
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

struct job {
	int fd;
	uint64_t size, ops, deadline;
	unsigned int seed;
};

static void *random_reads(void *arg)
{
	struct job *j = arg;
	void *buf;

	if (posix_memalign(&buf, 4096, 4096))
		return NULL;
	while (now_ns() < j->deadline) {
		off_t off = (off_t)(rand_r(&j->seed) % (j->size / 4096)) * 4096;

		if (pread(j->fd, buf, 4096, off) != 4096)
			break;
		j->ops++;
	}
	free(buf);
	return NULL;
}

static double seq(int fd, uint64_t size, int write, double seconds)
{
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9), t0 = now_ns(), bytes = 0;
	void *buf;

	if (posix_memalign(&buf, 4096, 1 << 20))
		return 0;
	memset(buf, 0x5a, 1 << 20);
	while (now_ns() < end) {
		off_t off = (off_t)((bytes >> 20) % (size >> 20)) << 20;
		ssize_t n = write ? pwrite(fd, buf, 1 << 20, off) : pread(fd, buf, 1 << 20, off);

		if (n != 1 << 20)
			break;
		bytes += n;
	}
	free(buf);
	return bytes / 1048576.0 / ((now_ns() - t0) / 1e9);
}

static double iops(int fd, uint64_t size, int depth, double seconds)
{
	pthread_t th[16];
	struct job jobs[16];
	uint64_t t0 = now_ns(), ops = 0;
	int i;

	for (i = 0; i < depth; i++) {
		jobs[i] = (struct job){ fd, size, 0, t0 + (uint64_t)(seconds * 1e9), i + 1 };
		pthread_create(&th[i], NULL, random_reads, &jobs[i]);
	}
	for (i = 0; i < depth; i++) {
		pthread_join(th[i], NULL);
		ops += jobs[i].ops;
	}
	return ops / ((now_ns() - t0) / 1e9);
}

static int blk(const char *dev, double seconds)
{
	uint64_t size;
	int fd = open(dev, O_RDWR | O_DIRECT);

	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size))
		return 1;
	printf("vs-bench: blk seq_write_mibs=%.1f", seq(fd, size, 1, seconds));
	printf(" seq_read_mibs=%.1f", seq(fd, size, 0, seconds));
	printf(" randread_qd1_iops=%.0f", iops(fd, size, 1, seconds));
	printf(" randread_qd16_iops=%.0f\n", iops(fd, size, 16, seconds));
	close(fd);
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
	fprintf(stderr, "usage: vs_bench latency <virtioN> <cycles> | system <cycles> | "
		"blk <dev> <seconds>\n");
	return 2;
}

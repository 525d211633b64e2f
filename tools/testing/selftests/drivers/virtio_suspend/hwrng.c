// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-rng through /dev/hwrng, before and after system sleep.
 *
 * After the sleep cycle, virtio_rng must still be the current source and
 * the data read must come from the device: its interrupt count rises
 * during the read (virtio_rng buffers less than one read, so a read that
 * the device did not serve would not count one).
 */
#include "kselftest_harness.h"
#include "vs_util.h"

#define LEN 256

static void read_hwrng(struct __test_metadata *_metadata, unsigned char *buf)
{
	size_t got = 0;
	ssize_t n;
	int fd;

	fd = open("/dev/hwrng", O_RDONLY);
	ASSERT_LE(0, fd) TH_LOG("open /dev/hwrng: %s", strerror(errno));
	while (got < LEN) {
		n = read(fd, buf + got, LEN - got);
		ASSERT_LT(0, n) TH_LOG("read /dev/hwrng: %s", strerror(errno));
		got += n;
	}
	close(fd);
}

static int distinct_bytes(const unsigned char *buf)
{
	int seen[256] = { 0 }, i, n = 0;

	for (i = 0; i < LEN; i++)
		if (!seen[buf[i]]++)
			n++;
	return n;
}

TEST(virtio_rng_is_current)
{
	char cur[64];

	ASSERT_EQ(0, vs_read_attr("/sys/class/misc/hw_random/rng_current", cur, sizeof(cur)));
	ASSERT_EQ(0, strncmp(cur, "virtio_rng", 10)) TH_LOG("rng_current is %s", cur);
}

TEST(reads_random_data)
{
	unsigned char a[LEN], b[LEN];

	read_hwrng(_metadata, a);
	read_hwrng(_metadata, b);
	/* 256 random bytes show well over 100 distinct values. */
	EXPECT_LT(100, distinct_bytes(a));
	EXPECT_NE(0, memcmp(a, b, LEN));
}

TEST(reads_after_s2idle)
{
	unsigned char a[LEN], b[LEN];
	char dev[32], cur[64];
	long irqs_before = 0, irqs_after = 0;

	ASSERT_EQ(0, vs_driver_virtio("virtio_rng", dev, sizeof(dev)))
		TH_LOG("no virtio device bound to virtio_rng");
	read_hwrng(_metadata, b);
	ASSERT_EQ(0, vs_sleep_cycle("freeze"));
	ASSERT_EQ(0, vs_read_attr("/sys/class/misc/hw_random/rng_current", cur, sizeof(cur)));
	ASSERT_EQ(0, strncmp(cur, "virtio_rng", 10)) TH_LOG("rng_current is %s after s2idle", cur);
	ASSERT_LT(0, vs_irq_lines(dev, &irqs_before)) TH_LOG("no interrupt line named %s", dev);
	read_hwrng(_metadata, a);
	ASSERT_LT(0, vs_irq_lines(dev, &irqs_after));
	EXPECT_LT(irqs_before, irqs_after) TH_LOG("%s raised no interrupt for the read", dev);
	EXPECT_LT(100, distinct_bytes(a));
	EXPECT_NE(0, memcmp(a, b, LEN)) TH_LOG("the same bytes as before the cycle");
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-rng through /dev/hwrng, before and after system sleep.
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
	unsigned char a[LEN];

	ASSERT_EQ(0, vs_sleep_cycle("freeze"));
	read_hwrng(_metadata, a);
	EXPECT_LT(100, distinct_bytes(a));
}

TEST_HARNESS_MAIN

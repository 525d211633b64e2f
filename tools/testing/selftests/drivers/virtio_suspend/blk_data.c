// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk data integrity across system sleep.
 *
 * Fills the whole disk with a pattern in which every 512-byte sector
 * names its own position and the round's seed, so a lost, stale or
 * misplaced write shows up as a mismatch at a known sector.  All I/O is
 * O_DIRECT, so what is read back comes from the device, not the page
 * cache.
 *
 * blk_data checks a round trip and s2idle cycles; blk_hibernate, this
 * file built with VS_BLK_HIBERNATE (blk_hibernate.c), hibernation test
 * cycles (pm_test "devices"), which cost several seconds each under TCG,
 * so a scenario lists it only where hibernation's own callbacks (freeze,
 * thaw, restore rather than suspend and resume) meet something it tests.
 *
 * Environment: VS_BLK_DEV (default /dev/vda), VS_SLEEP_CYCLES and
 * VS_HIBERNATE_CYCLES (default 1; at least 1: a test must do something).
 */
#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define SECTOR		512
#define CHUNK		(1 << 20)

FIXTURE(blk) {
	int fd;
	uint64_t size;
	uint8_t *buf;
};

FIXTURE_SETUP(blk)
{
	const char *path = vs_env_str("VS_BLK_DEV", "/dev/vda");

	self->fd = open(path, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", path, strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, BLKGETSIZE64, &self->size));
	ASSERT_LT(0, self->size);
	ASSERT_EQ(0, self->size % CHUNK) TH_LOG("disk size %llu is not a whole MiB",
						 (unsigned long long)self->size);
	ASSERT_EQ(0, posix_memalign((void **)&self->buf, 4096, CHUNK));
}

FIXTURE_TEARDOWN(blk)
{
	free(self->buf);
	close(self->fd);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void fill_sector(uint8_t *p, uint64_t sector, uint64_t seed)
{
	uint64_t *w = (uint64_t *)p;
	size_t i;

	w[0] = sector;
	w[1] = seed;
	for (i = 2; i < SECTOR / sizeof(*w); i++)
		w[i] = mix(seed ^ (sector << 6) ^ i);
}

static int write_pattern(int fd, uint8_t *buf, uint64_t size, uint64_t seed)
{
	uint64_t off, s;

	for (off = 0; off < size; off += CHUNK) {
		for (s = 0; s < CHUNK / SECTOR; s++)
			fill_sector(buf + s * SECTOR, off / SECTOR + s, seed);
		if (pwrite(fd, buf, CHUNK, off) != CHUNK)
			return -1;
	}
	return fsync(fd);
}

/* Returns the first bad sector, or -1 when the whole disk matches. */
static int64_t verify_pattern(int fd, uint8_t *buf, uint64_t size, uint64_t seed)
{
	uint8_t want[SECTOR];
	uint64_t off, s;

	for (off = 0; off < size; off += CHUNK) {
		if (pread(fd, buf, CHUNK, off) != CHUNK)
			return off / SECTOR;
		for (s = 0; s < CHUNK / SECTOR; s++) {
			fill_sector(want, off / SECTOR + s, seed);
			if (memcmp(want, buf + s * SECTOR, SECTOR))
				return off / SECTOR + s;
		}
	}
	return -1;
}

#ifndef VS_BLK_HIBERNATE
TEST_F(blk, pattern_roundtrip)
{
	ASSERT_EQ(0, write_pattern(self->fd, self->buf, self->size, 1));
	ASSERT_EQ(-1, verify_pattern(self->fd, self->buf, self->size, 1));
}
#endif

static void sleep_rounds(struct __test_metadata *_metadata,
			 FIXTURE_DATA(blk) *self, const char *state,
			 long rounds)
{
	long r;

	ASSERT_LT(0, rounds) TH_LOG("no %s cycle asked for", state);
	for (r = 0; r < rounds; r++) {
		uint64_t seed = 0x5eed0000 + r;

		ASSERT_EQ(0, write_pattern(self->fd, self->buf, self->size, seed));
		ASSERT_EQ(0, vs_sleep_cycle(state))
			TH_LOG("round %ld: writing %s to /sys/power/state failed", r, state);
		ASSERT_EQ(-1, verify_pattern(self->fd, self->buf, self->size, seed))
			TH_LOG("round %ld: data written before %s is wrong after it", r, state);
	}
	TH_LOG("%ld %s cycles, %llu MiB verified after each", rounds, state,
	       (unsigned long long)(self->size >> 20));
}

#ifndef VS_BLK_HIBERNATE
TEST_F_TIMEOUT(blk, s2idle_cycles, 1800)
{
	sleep_rounds(_metadata, self, "freeze", vs_env_long("VS_SLEEP_CYCLES", 1));
}

#else
TEST_F_TIMEOUT(blk, hibernate_test_cycles, 1800)
{
	sleep_rounds(_metadata, self, "disk", vs_env_long("VS_HIBERNATE_CYCLES", 1));
}
#endif

TEST_HARNESS_MAIN

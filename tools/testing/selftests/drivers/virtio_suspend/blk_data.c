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
 * blk_hibernate_debugfs, built with VS_BLK_HIBERNATE_DEBUGFS
 * (blk_hibernate_debugfs.c), checks that hibernation is refused while
 * the disk is suspended through debugfs (see its test below).
 *
 * Environment: VS_BLK_DEV (default /dev/vda; several disks, at most
 * MAX_DISKS, as /dev/vda:/dev/vdb: each gets its pattern, checked after
 * every cycle; blk_hibernate_debugfs takes the first), VS_SLEEP_CYCLES
 * and VS_HIBERNATE_CYCLES (default 1; at least 1: a test must do
 * something).
 */
#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define SECTOR		512
#define CHUNK		(1 << 20)

#define MAX_DISKS	4

struct disk {
	char path[VS_ITEM_LEN];
	int fd;
	uint64_t size;
};

FIXTURE(blk) {
	struct disk disks[MAX_DISKS];
	int ndisks;
	uint8_t *buf;
};

FIXTURE_SETUP(blk)
{
	char paths[MAX_DISKS][VS_ITEM_LEN];
	struct disk *d;
	int n;

	self->ndisks = 0;
	n = vs_env_list("VS_BLK_DEV", "/dev/vda", ':', paths, MAX_DISKS);
	ASSERT_LT(0, n) TH_LOG("VS_BLK_DEV: one to %d disks", MAX_DISKS);
	for (; self->ndisks < n; self->ndisks++) {
		d = &self->disks[self->ndisks];
		memcpy(d->path, paths[self->ndisks], sizeof(d->path));
		d->fd = open(d->path, O_RDWR | O_DIRECT);
		ASSERT_LE(0, d->fd) TH_LOG("open %s: %s", d->path, strerror(errno));
		ASSERT_EQ(0, ioctl(d->fd, BLKGETSIZE64, &d->size));
		ASSERT_LT(0, d->size);
		ASSERT_EQ(0, d->size % CHUNK) TH_LOG("%s: size %llu is not a whole MiB",
						      d->path, (unsigned long long)d->size);
	}
	ASSERT_EQ(0, posix_memalign((void **)&self->buf, 4096, CHUNK));
}

FIXTURE_TEARDOWN(blk)
{
	int i;

	free(self->buf);
	for (i = 0; i < self->ndisks; i++)
		close(self->disks[i].fd);
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

#if !defined(VS_BLK_HIBERNATE) && !defined(VS_BLK_HIBERNATE_DEBUGFS)
TEST_F(blk, pattern_roundtrip)
{
	struct disk *d;

	for (d = self->disks; d < self->disks + self->ndisks; d++) {
		ASSERT_EQ(0, write_pattern(d->fd, self->buf, d->size, 1)) TH_LOG("%s", d->path);
		ASSERT_EQ(-1, verify_pattern(d->fd, self->buf, d->size, 1)) TH_LOG("%s", d->path);
	}
}
#endif

static void sleep_rounds(struct __test_metadata *_metadata,
			 FIXTURE_DATA(blk) *self, const char *state,
			 long rounds)
{
	uint64_t mib = 0;
	struct disk *d;
	long r;

	ASSERT_LT(0, rounds) TH_LOG("no %s cycle asked for", state);
	for (r = 0; r < rounds; r++) {
		/* Each disk its own pattern: a write that lands on another disk shows. */
		uint64_t seed = 0x5eed0000 + r;

		for (d = self->disks; d < self->disks + self->ndisks; d++)
			ASSERT_EQ(0, write_pattern(d->fd, self->buf, d->size,
						   seed + ((d - self->disks) << 8)))
				TH_LOG("%s", d->path);
		ASSERT_EQ(0, vs_sleep_cycle(state))
			TH_LOG("round %ld: writing %s to /sys/power/state failed", r, state);
		for (d = self->disks; d < self->disks + self->ndisks; d++)
			ASSERT_EQ(-1, verify_pattern(d->fd, self->buf, d->size,
						     seed + ((d - self->disks) << 8)))
				TH_LOG("round %ld: %s: data written before %s is wrong after it",
				       r, d->path, state);
	}
	for (d = self->disks; d < self->disks + self->ndisks; d++)
		mib += d->size >> 20;
	TH_LOG("%ld %s cycles, %llu MiB on %d disks verified after each", rounds, state,
	       (unsigned long long)mib, self->ndisks);
}

#if defined(VS_BLK_HIBERNATE_DEBUGFS)
/*
 * What the kernel logs when a device suspended through SUSPEND was reset
 * behind the suspend engine's back, and its resume had to recover it.
 */
static const char * const lost_state[] = {
	"left the suspended state by itself",
	"cannot give the reset device back",
	"resume from SUSPEND failed",
};

/*
 * Reads what /dev/kmsg reader @fd (non-blocking) has not read yet; each
 * record naming one of lost_state is printed as a TAP comment.
 * Returns how many.
 */
static int kmsg_lost_state(int fd)
{
	char rec[8192], *msg;
	int found = 0;
	size_t i;

	while ((msg = vs_kmsg_next(fd, rec, sizeof(rec)))) {
		for (i = 0; i < ARRAY_SIZE(lost_state); i++) {
			if (strstr(msg, lost_state[i])) {
				printf("# kernel: %s\n", msg);
				found++;
				break;
			}
		}
	}
	return found;
}

/*
 * Hibernation while the disk is suspended through debugfs: on the
 * reset-based path its driver's freeze ran already (state "fallback"),
 * on the SUSPEND path the device holds its state ("suspended").
 * Hibernation must be refused with EBUSY: not freeze the driver a second
 * time (virtio_blk would free its queues twice), nor freeze and thaw it
 * over a suspended device (resetting it behind the suspend engine's
 * back). The device stays as debugfs left it; a debugfs resume brings it
 * back running, with the data written before the suspend, without a
 * word of lost state in the kernel log; a hibernation test cycle then
 * works.
 */
TEST_F_TIMEOUT(blk, hibernation_refused_while_debugfs_suspended, 1800)
{
	struct disk *d = &self->disks[0];
	const char *dev = d->path;
	char vdev[32], ctl[PATH_MAX], dialect[16], state[32];
	uint64_t seed = 0x5eed1000;
	const char *held;
	int kmsg, ret;

	ret = vs_blk_virtio(dev, vdev, sizeof(vdev));
	ASSERT_EQ(0, ret) TH_LOG("%s: no virtio device: %s", dev, strerror(-ret));
	vs_control_path(vdev, ctl, sizeof(ctl));
	ASSERT_EQ(0, vs_suspend_attr(vdev, "dialect", dialect, sizeof(dialect)));
	held = strcmp(dialect, "none") ? "suspended" : "fallback";
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, kmsg) TH_LOG("/dev/kmsg: %s", strerror(errno));
	ASSERT_LE(0, lseek(kmsg, 0, SEEK_END));

	ASSERT_EQ(0, write_pattern(d->fd, self->buf, d->size, seed));
	ret = vs_write_attr(ctl, "suspend");
	ASSERT_EQ(0, ret) TH_LOG("%s: debugfs suspend: %s", vdev, strerror(-ret));
	ASSERT_EQ(0, vs_suspend_attr(vdev, "state", state, sizeof(state)));
	ASSERT_STREQ(held, state)
		TH_LOG("%s (dialect %s) after the debugfs suspend", vdev, dialect);

	ret = vs_sleep_cycle("disk");
	EXPECT_EQ(-EBUSY, ret)
		TH_LOG("%s (%s): hibernation %s (%s)", vdev, held,
		       ret ? "refused" : "went through", ret ? strerror(-ret) : "");
	ASSERT_EQ(0, vs_suspend_attr(vdev, "state", state, sizeof(state)));
	EXPECT_STREQ(held, state) TH_LOG("%s after the hibernation attempt", vdev);

	ret = vs_write_attr(ctl, "resume");
	ASSERT_EQ(0, ret) TH_LOG("%s: debugfs resume: %s", vdev, strerror(-ret));
	ASSERT_EQ(0, vs_suspend_attr(vdev, "state", state, sizeof(state)));
	EXPECT_STREQ("running", state) TH_LOG("%s after the debugfs resume", vdev);
	EXPECT_EQ(-1, verify_pattern(d->fd, self->buf, d->size, seed))
		TH_LOG("data written before the debugfs suspend is wrong after the resume");
	EXPECT_EQ(0, kmsg_lost_state(kmsg))
		TH_LOG("%s: the kernel logged lost state (above)", vdev);

	sleep_rounds(_metadata, self, "disk", 1);
	EXPECT_EQ(0, kmsg_lost_state(kmsg))
		TH_LOG("%s: the kernel logged lost state (above)", vdev);
	close(kmsg);
	if (__test_passed(_metadata))
		TH_LOG("%s, %s by debugfs: hibernation refused; after the resume %llu MiB verified",
		       vdev, held, (unsigned long long)(d->size >> 20));
}

#elif defined(VS_BLK_HIBERNATE)
TEST_F_TIMEOUT(blk, hibernate_test_cycles, 1800)
{
	sleep_rounds(_metadata, self, "disk", vs_env_long("VS_HIBERNATE_CYCLES", 1));
}

#else
TEST_F_TIMEOUT(blk, s2idle_cycles, 1800)
{
	sleep_rounds(_metadata, self, "freeze", vs_env_long("VS_SLEEP_CYCLES", 1));
}
#endif

TEST_HARNESS_MAIN

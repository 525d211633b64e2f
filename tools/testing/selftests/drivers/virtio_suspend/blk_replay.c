// SPDX-License-Identifier: GPL-2.0
/*
 * A read whose completion only the recovery's replay delivers. The disk
 * (QEMU: a throttled drive, x-fault-notify-at-resume and resume-fail)
 * completes the read in flight at the SUSPEND request before it
 * acknowledges, but holds its interrupt for the resume; the resume then
 * fails, the driver resets the device, and the reset device raises no
 * interrupt for a buffer it used before. Nothing else is in flight, so
 * no later interrupt collects the used buffer either: only the replay of
 * the queue's interrupt handling after the reset completes the read.
 * Without it, the recovery's freeze of virtio_blk waits for the read
 * forever.
 *
 * The read is kept in flight by the drive's throttle (QEMU's
 * throttling.bps-total): a first, larger read goes through at once and
 * fills the throttle's bucket, the next one waits until it has drained.
 * A read that completed before the cycle started (the guest stalled for
 * longer than the throttle held it) is not the case under test: it is
 * tried again, at most three times.
 *
 * Environment:
 *   VS_BLK_NAME    the disk, a name in /dev (default vda)
 *   VS_PRIME_KIB   the read that fills the throttle (default 256)
 */
#include <linux/aio_abi.h>
#include <stdint.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define BLOCK 4096

static long io_setup(unsigned int nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr, ctx);
}

static long io_destroy(aio_context_t ctx)
{
	return syscall(SYS_io_destroy, ctx);
}

static long io_submit(aio_context_t ctx, long nr, struct iocb **iocbs)
{
	return syscall(SYS_io_submit, ctx, nr, iocbs);
}

/* The events already there: never waits. */
static long io_reap(aio_context_t ctx, struct io_event *ev)
{
	struct timespec now = { 0, 0 };

	return syscall(SYS_io_getevents, ctx, 0, 1, ev, &now);
}

FIXTURE(disk)
{
	char blk[32];
	char vdev[32];
	int fd;
	aio_context_t ctx;
	void *prime, *block;
	size_t prime_len;
};

FIXTURE_SETUP(disk)
{
	char path[64];

	snprintf(self->blk, sizeof(self->blk), "%s", vs_env_str("VS_BLK_NAME", "vda"));
	ASSERT_EQ(0, vs_blk_virtio(self->blk, self->vdev, sizeof(self->vdev)))
		TH_LOG("no virtio device under %s", self->blk);
	self->prime_len = vs_env_long("VS_PRIME_KIB", 256) * 1024;
	self->prime = aligned_alloc(BLOCK, self->prime_len);
	self->block = aligned_alloc(BLOCK, BLOCK);
	ASSERT_NE(NULL, self->prime);
	ASSERT_NE(NULL, self->block);
	snprintf(path, sizeof(path), "/dev/%s", self->blk);
	self->fd = open(path, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", path, strerror(errno));
	self->ctx = 0;
	ASSERT_EQ(0, io_setup(1, &self->ctx)) TH_LOG("io_setup: %s", strerror(errno));
}

FIXTURE_TEARDOWN(disk)
{
	io_destroy(self->ctx);
	close(self->fd);
	free(self->prime);
	free(self->block);
}

TEST_F_TIMEOUT(disk, completion_of_a_failed_resume_is_replayed, 120)
{
	long needs_reset = vs_suspend_count(self->vdev, "needs_reset");
	struct iocb cb, *cbs[1] = { &cb };
	char control[PATH_MAX];
	struct io_event ev;
	void *again;
	int attempt;

	ASSERT_LE(0, needs_reset) TH_LOG("%s: no needs_reset counter", self->vdev);
	for (attempt = 1;; attempt++) {
		/* Through at once; the throttle holds the next read back. */
		ASSERT_EQ((ssize_t)self->prime_len,
			  pread(self->fd, self->prime, self->prime_len, 0));
		memset(&cb, 0, sizeof(cb));
		cb.aio_lio_opcode = IOCB_CMD_PREAD;
		cb.aio_fildes = self->fd;
		cb.aio_buf = (uintptr_t)self->block;
		cb.aio_nbytes = BLOCK;
		cb.aio_offset = self->prime_len;
		/* Dispatched to the device, kicked, when io_submit() returns. */
		ASSERT_EQ(1, io_submit(self->ctx, 1, cbs)) TH_LOG("io_submit: %s", strerror(errno));
		if (io_reap(self->ctx, &ev) == 0)
			break;
		ASSERT_LT(attempt, 3)
			TH_LOG("the read completed before the cycle %d times: the throttle did not hold it",
			       attempt);
	}

	/* SUSPEND, acknowledged once the read is used; the resume fails. */
	vs_control_path(self->vdev, control, sizeof(control));
	ASSERT_EQ(0, vs_write_attr(control, "cycle")) TH_LOG("%s: cycle failed", self->vdev);
	EXPECT_EQ(needs_reset + 1, vs_suspend_count(self->vdev, "needs_reset"))
		TH_LOG("%s: the resume did not fail (resume-fail=on?)", self->vdev);

	/* The recovery froze virtio_blk, which waited for the read. */
	ASSERT_EQ(1, io_reap(self->ctx, &ev)) TH_LOG("the read is still in flight");
	EXPECT_EQ(BLOCK, (long)ev.res);
	again = aligned_alloc(BLOCK, BLOCK);
	ASSERT_NE(NULL, again);
	ASSERT_EQ(BLOCK, pread(self->fd, again, BLOCK, self->prime_len));
	EXPECT_EQ(0, memcmp(self->block, again, BLOCK)) TH_LOG("the read returned other data");
	free(again);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-gpu across system sleep.
 *
 * The 6.12 virtio_gpu driver has no freeze or restore: on the reset-based
 * path virtio_device_restore() resets the device and sets DRIVER_OK with
 * no queue set up again, and every later command waits for a device that
 * never answers ("black screen after S3"). On the SUSPEND path the device
 * and its queues live through the sleep.
 *
 * Each round trip creates a 2D resource (DRM_IOCTL_VIRTGPU_RESOURCE_CREATE,
 * which the driver fences) and waits for the fence
 * (DRM_IOCTL_VIRTGPU_WAIT, at most 15 s in the driver): only a device
 * that processes its control queue signals it. A thread keeps doing round
 * trips while s2idle and debugfs cycles run, so commands are in flight
 * across the transitions; each must complete.
 *
 * The devices listed in VS_GPU_CLASSIC do not offer SUSPEND and take the
 * reset-based path beside the others in the same guest: this test
 * measures what happens to them, and expects what 6.12 does: after the
 * cycles a command's fence never signals and the driver gives up with
 * EBUSY after 15 s (no round trips run on them during the cycles, each
 * would cost those 15 s).
 *
 * Environment:
 *   VS_SLEEP_CYCLES    s2idle cycles (default 3)
 *   VS_DEBUGFS_CYCLES  debugfs cycles (default 3)
 *   VS_GPU_CARDS       the DRM cards there must be (default 1)
 *   VS_GPU_CLASSIC     comma-separated virtioN on the reset-based path
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "vs_util.h"

/* From include/uapi/drm/{drm,virtgpu_drm}.h, which the host lacks. */
struct vs_virtgpu_resource_create {
	uint32_t target, format, bind, width, height, depth, array_size;
	uint32_t last_level, nr_samples, flags, bo_handle, res_handle;
	uint32_t size, stride;
};

struct vs_virtgpu_wait {
	uint32_t handle, flags;
};

struct vs_gem_close {
	uint32_t handle, pad;
};

#define VS_DRM_IOWR(nr, type)	_IOWR('d', nr, type)
#define VS_DRM_IOW(nr, type)	_IOW('d', nr, type)
#define VS_IOCTL_GEM_CLOSE	VS_DRM_IOW(0x09, struct vs_gem_close)
#define VS_IOCTL_VIRTGPU_RESOURCE_CREATE \
	VS_DRM_IOWR(0x40 + 0x04, struct vs_virtgpu_resource_create)
#define VS_IOCTL_VIRTGPU_WAIT	VS_DRM_IOWR(0x40 + 0x08, struct vs_virtgpu_wait)

/* PIPE_TEXTURE_2D, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM */
#define TARGET_2D	2
#define FORMAT_BGRX	2

/* One fenced command to the device and its answer: 0 or -errno. */
static int round_trip(int fd)
{
	struct vs_virtgpu_resource_create rc = {
		.target = TARGET_2D, .format = FORMAT_BGRX, .width = 64,
		.height = 64, .depth = 1, .array_size = 1,
		.size = 64 * 64 * 4, .stride = 64 * 4,
	};
	struct vs_virtgpu_wait wait = { 0 };
	struct vs_gem_close close_bo = { 0 };
	int ret = 0;

	if (ioctl(fd, VS_IOCTL_VIRTGPU_RESOURCE_CREATE, &rc))
		return -errno;
	wait.handle = rc.bo_handle;
	if (ioctl(fd, VS_IOCTL_VIRTGPU_WAIT, &wait))
		ret = -errno;
	close_bo.handle = rc.bo_handle;
	ioctl(fd, VS_IOCTL_GEM_CLOSE, &close_bo);
	return ret;
}

struct worker {
	int fd;
	/* Set and read with __atomic builtins: the threads share them. */
	int stop;
	long done, failed, first_error;
};

static void *round_trips(void *arg)
{
	struct worker *w = arg;
	int ret;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		ret = round_trip(w->fd);
		if (ret) {
			if (!__atomic_fetch_add(&w->failed, 1, __ATOMIC_RELEASE))
				w->first_error = ret;
		} else {
			__atomic_add_fetch(&w->done, 1, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

/*
 * The virtio device of DRM card @card ("card0"), in @vdev. virtio_gpu
 * hangs the card from the transport's device (the virtio device's
 * parent, for DMA), whose one virtio child is the device.
 */
static int card_vdev(const char *card, char *vdev, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/class/drm/%s/device", card);
	return vs_find_virtio(path, NULL, NULL, vdev, len);
}

#define MAX_CARDS	4

struct card {
	char name[16], vdev[32];
	int fd, classic;
	long suspends;
	struct worker w;
	pthread_t thread;
};

FIXTURE(gpu) {
	struct card cards[MAX_CARDS];
	int n;
};

FIXTURE_SETUP(gpu)
{
	const char *classic = vs_env_str("VS_GPU_CLASSIC", "");
	long want = vs_env_long("VS_GPU_CARDS", 1);
	int i;

	ASSERT_LT(0, want);
	ASSERT_GE(MAX_CARDS, want);
	for (i = 0; i < want; i++) {
		struct card *c = &self->cards[i];
		char path[PATH_MAX];

		snprintf(c->name, sizeof(c->name), "card%d", i);
		snprintf(path, sizeof(path), "/dev/dri/%s", c->name);
		ASSERT_EQ(0, vs_wait_path(path, 1, 10000)) TH_LOG("no %s", path);
		ASSERT_EQ(0, card_vdev(c->name, c->vdev, sizeof(c->vdev)));
		c->classic = vs_listed(c->vdev, classic);
		c->suspends = vs_suspend_count(c->vdev, "suspends");
		ASSERT_LE(0, c->suspends) TH_LOG("%s (%s): no suspend/suspends", c->name, c->vdev);
		c->fd = open(path, O_RDWR);
		ASSERT_LE(0, c->fd) TH_LOG("%s: %s", path, strerror(errno));
		self->n = i + 1;
		ASSERT_EQ(0, round_trip(c->fd)) TH_LOG("%s: no answer before any sleep", c->name);
	}
}

FIXTURE_TEARDOWN(gpu)
{
	int i;

	for (i = 0; i < self->n; i++)
		close(self->cards[i].fd);
}

/* Every card on the SUSPEND path has done a round trip since @marks. */
static void wait_round_trips(FIXTURE_DATA(gpu) *self, long *marks)
{
	int i;

	for (i = 0; i < self->n; i++) {
		struct worker *w = &self->cards[i].w;

		if (self->cards[i].classic)
			continue;
		while (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) == marks[i] &&
		       !__atomic_load_n(&w->failed, __ATOMIC_ACQUIRE))
			usleep(1000);
	}
}

/* A debugfs cycle of every card. */
static int debugfs_cycle(FIXTURE_DATA(gpu) *self)
{
	char ctl[PATH_MAX];
	int i, ret = 0;

	for (i = 0; i < self->n && !ret; i++) {
		vs_control_path(self->cards[i].vdev, ctl, sizeof(ctl));
		ret = vs_write_attr(ctl, "cycle");
	}
	return ret;
}

TEST_F_TIMEOUT(gpu, commands_in_flight_across_sleep, 600)
{
	long sleeps = vs_env_long("VS_SLEEP_CYCLES", 3);
	long debugfs = vs_env_long("VS_DEBUGFS_CYCLES", 3);
	long marks[MAX_CARDS];
	int i, c, ret = 0;

	/* Round trips in flight on the SUSPEND-path cards when each cycle begins. */
	for (c = 0; c < self->n; c++) {
		struct card *card = &self->cards[c];

		card->w.fd = card->fd;
		if (!card->classic)
			ASSERT_EQ(0, pthread_create(&card->thread, NULL, round_trips, &card->w));
	}
	for (i = 0; i < sleeps + debugfs && !ret; i++) {
		for (c = 0; c < self->n; c++)
			marks[c] = __atomic_load_n(&self->cards[c].w.done, __ATOMIC_ACQUIRE);
		wait_round_trips(self, marks);
		ret = i < sleeps ? vs_sleep_cycle(vs_sleep_state(i)) : debugfs_cycle(self);
	}
	for (c = 0; c < self->n; c++) {
		struct card *card = &self->cards[c];

		if (card->classic)
			continue;
		__atomic_store_n(&card->w.stop, 1, __ATOMIC_RELEASE);
		pthread_join(card->thread, NULL);
	}
	ASSERT_EQ(0, ret) TH_LOG("cycle %d: %s", i - 1, strerror(-ret));

	for (c = 0; c < self->n; c++) {
		struct card *card = &self->cards[c];
		struct worker *w = &card->w;
		char path[128];

		ASSERT_EQ(0, vs_suspend_attr(card->vdev, "last_path", path, sizeof(path)));
		if (card->classic) {
			/*
			 * The reset-based path: the device was reset and set
			 * running with no queue; the fence of the next command
			 * never signals (the driver gives up after 15 s).
			 */
			ret = round_trip(card->fd);
			TH_LOG("%s (%s), reset-based path (%s): a command after %ld cycles: %s",
			       card->name, card->vdev, path, sleeps + debugfs,
			       ret ? strerror(-ret) : "answered");
			EXPECT_EQ(-EBUSY, ret);
			EXPECT_EQ(card->suspends, vs_suspend_count(card->vdev, "suspends"));
			EXPECT_EQ(0, strncmp(path, "classic", 7));
			continue;
		}
		TH_LOG("%s (%s), SUSPEND path: %ld round trips across %ld cycles, %ld failed (first: %s)",
		       card->name, card->vdev, w->done, sleeps + debugfs, w->failed,
		       w->failed ? strerror(-w->first_error) : "none");
		EXPECT_EQ(0, w->failed);
		EXPECT_EQ(card->suspends + sleeps + debugfs,
			  vs_suspend_count(card->vdev, "suspends"));
		EXPECT_STREQ("suspend", path);
		EXPECT_EQ(0, round_trip(card->fd)) TH_LOG("%s: no answer after the cycles",
							  card->name);
	}
}

TEST_HARNESS_MAIN

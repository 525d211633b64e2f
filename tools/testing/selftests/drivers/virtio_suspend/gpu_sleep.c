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
 * On the reset-based path (the same scenario with suspend=off on the
 * device, run by hand: it costs a minute of 15 s waits) this test fails:
 * after the first resume every round trip ends in EBUSY, the fence never
 * signalled, and no cycle counts as a suspend.
 *
 * Environment:
 *   VS_SLEEP_CYCLES    s2idle cycles (default 3)
 *   VS_DEBUGFS_CYCLES  debugfs cycles (default 3)
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

FIXTURE(gpu) {
	char vdev[32], ctl[PATH_MAX];
	int fd;
};

FIXTURE_SETUP(gpu)
{
	ASSERT_EQ(0, vs_driver_virtio("virtio_gpu", self->vdev, sizeof(self->vdev)))
		TH_LOG("no virtio device bound to virtio_gpu");
	vs_control_path(self->vdev, self->ctl, sizeof(self->ctl));
	ASSERT_EQ(0, vs_wait_path("/dev/dri/card0", 1, 10000));
	self->fd = open("/dev/dri/card0", O_RDWR);
	ASSERT_LE(0, self->fd) TH_LOG("/dev/dri/card0: %s", strerror(errno));
	ASSERT_EQ(0, round_trip(self->fd)) TH_LOG("no answer before any sleep");
}

FIXTURE_TEARDOWN(gpu)
{
	close(self->fd);
}

TEST_F_TIMEOUT(gpu, commands_in_flight_across_sleep, 600)
{
	long sleeps = vs_env_long("VS_SLEEP_CYCLES", 3);
	long debugfs = vs_env_long("VS_DEBUGFS_CYCLES", 3);
	long suspends = vs_suspend_count(self->vdev, "suspends");
	struct worker w = { .fd = self->fd };
	pthread_t thread;
	long i, before;
	int ret = 0;

	ASSERT_LE(0, suspends);
	ASSERT_EQ(0, pthread_create(&thread, NULL, round_trips, &w));
	/* Commands in flight when each cycle begins. */
	for (i = 0; i < sleeps + debugfs && !ret; i++) {
		before = __atomic_load_n(&w.done, __ATOMIC_ACQUIRE);
		while (__atomic_load_n(&w.done, __ATOMIC_ACQUIRE) == before &&
		       !__atomic_load_n(&w.failed, __ATOMIC_ACQUIRE))
			usleep(1000);
		ret = i < sleeps ? vs_sleep_cycle("freeze") : vs_write_attr(self->ctl, "cycle");
	}
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	ASSERT_EQ(0, ret) TH_LOG("cycle %ld: %s", i - 1, strerror(-ret));
	TH_LOG("%ld round trips across %ld cycles, %ld failed (first: %s)", w.done,
	       sleeps + debugfs, w.failed, w.failed ? strerror(-w.first_error) : "none");
	EXPECT_EQ(0, w.failed);
	EXPECT_EQ(suspends + sleeps + debugfs, vs_suspend_count(self->vdev, "suspends"));
	EXPECT_EQ(0, round_trip(self->fd)) TH_LOG("no answer after the cycles");
}

TEST_HARNESS_MAIN

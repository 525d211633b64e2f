// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-input (a keyboard) across system sleep on the SUSPEND path.
 *
 * On the reset-based path virtio_input's freeze drops the event queue's
 * buffers and its restore refills them from scratch. On the SUSPEND path
 * neither runs: the event buffers the driver queued stay with the device.
 * After every s2idle and debugfs cycle this test has the host press and
 * release a key (QMP input-send-event, which the runner carries out) and
 * reads both events from the keyboard's /dev/input/eventN; each cycle must
 * take the SUSPEND path. A key pressed while the device is suspended is
 * delivered once it runs again.
 *
 * Environment:
 *   VS_SLEEP_CYCLES    s2idle cycles (default 3)
 *   VS_DEBUGFS_CYCLES  debugfs cycles (default 3)
 *   VS_QMP_WAIT_MS     how long an event may take to arrive (default 10000)
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>

#include "kselftest_harness.h"
#include "vs_util.h"

/* KEY_A, the key whose QEMU qcode is "a". */
#define TEST_KEY	KEY_A

static void qmp_key(int down)
{
	/* The runner performs this on the QEMU monitor when it reads it. */
	printf("vs-runner: qmp {\"execute\": \"input-send-event\", \"arguments\": "
	       "{\"events\": [{\"type\": \"key\", \"data\": {\"down\": %s, "
	       "\"key\": {\"type\": \"qcode\", \"data\": \"a\"}}}]}}\n",
	       down ? "true" : "false");
	fflush(stdout);
}

/*
 * The next press (1) or release (0) of TEST_KEY within @timeout_ms, or -1.
 * Autorepeat events (2) are skipped: the input core makes them while a
 * key stays down past the repeat delay (250 ms), which a loaded host's
 * guest can take between the press and the release the device sends.
 */
static int next_key(int fd, long timeout_ms)
{
	long end = vs_now_ms() + timeout_ms;
	struct input_event ev;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (vs_now_ms() < end) {
		if (poll(&pfd, 1, end - vs_now_ms()) <= 0)
			continue;
		if (read(fd, &ev, sizeof(ev)) != sizeof(ev))
			return -1;
		if (ev.type == EV_KEY && ev.code == TEST_KEY && ev.value != 2)
			return ev.value;
	}
	return -1;
}

/* Opens the evdev node of the input device virtio_input created. */
static int open_keyboard(const char *vdev)
{
	char path[PATH_MAX], name[64];
	struct dirent *de;
	int fd = -1;
	DIR *dir;

	/* /sys/bus/virtio/devices/virtioN/input/inputM/eventK */
	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/input", vdev);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && fd < 0) {
		DIR *sub;
		struct dirent *ev;

		if (strncmp(de->d_name, "input", 5))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/input/%s", vdev,
			 de->d_name);
		sub = opendir(path);
		while (sub && (ev = readdir(sub))) {
			if (strncmp(ev->d_name, "event", 5) || strlen(ev->d_name) > 32)
				continue;
			snprintf(name, sizeof(name), "/dev/input/%s", ev->d_name);
			if (!vs_wait_path(name, 1, 5000))
				fd = open(name, O_RDONLY | O_NONBLOCK);
			break;
		}
		if (sub)
			closedir(sub);
	}
	closedir(dir);
	return fd < 0 ? -ENODEV : fd;
}

FIXTURE(kbd) {
	char vdev[32], ctl[PATH_MAX];
	int fd;
};

FIXTURE_SETUP(kbd)
{
	ASSERT_EQ(0, vs_driver_virtio("virtio_input", self->vdev, sizeof(self->vdev)))
		TH_LOG("no virtio device bound to virtio_input");
	vs_control_path(self->vdev, self->ctl, sizeof(self->ctl));
	self->fd = open_keyboard(self->vdev);
	ASSERT_LE(0, self->fd) TH_LOG("no evdev node for %s: %s", self->vdev,
				      strerror(-self->fd));
}

FIXTURE_TEARDOWN(kbd)
{
	close(self->fd);
}

static void press_and_check(struct __test_metadata *_metadata, int fd, const char *when)
{
	long wait = vs_env_long("VS_QMP_WAIT_MS", 10000);

	qmp_key(1);
	ASSERT_EQ(1, next_key(fd, wait)) TH_LOG("no key press %s", when);
	qmp_key(0);
	ASSERT_EQ(0, next_key(fd, wait)) TH_LOG("no key release %s", when);
}

TEST_F_TIMEOUT(kbd, keys_reach_evdev_after_every_cycle, 600)
{
	long sleeps = vs_env_long("VS_SLEEP_CYCLES", 3);
	long debugfs = vs_env_long("VS_DEBUGFS_CYCLES", 3);
	long suspends = vs_suspend_count(self->vdev, "suspends");
	char when[64];
	long i;

	ASSERT_LE(0, suspends);
	press_and_check(_metadata, self->fd, "before any cycle");
	for (i = 0; i < sleeps + debugfs; i++) {
		int ret = i < sleeps ? vs_sleep_cycle(vs_sleep_state(i)) :
				     vs_write_attr(self->ctl, "cycle");

		ASSERT_EQ(0, ret) TH_LOG("cycle %ld: %s", i, strerror(-ret));
		snprintf(when, sizeof(when), "after cycle %ld", i);
		press_and_check(_metadata, self->fd, when);
	}
	EXPECT_EQ(suspends + sleeps + debugfs, vs_suspend_count(self->vdev, "suspends"));
}

TEST_F_TIMEOUT(kbd, key_pressed_while_suspended_arrives_after_resume, 120)
{
	long wait = vs_env_long("VS_QMP_WAIT_MS", 10000);

	ASSERT_EQ(0, vs_write_attr(self->ctl, "suspend"));
	qmp_key(1);
	/* Nothing while suspended: the device holds it. */
	EXPECT_EQ(-1, next_key(self->fd, 500)) TH_LOG("an event arrived while suspended");
	ASSERT_EQ(0, vs_write_attr(self->ctl, "resume"));
	EXPECT_EQ(1, next_key(self->fd, wait)) TH_LOG("the held key press was lost");
	qmp_key(0);
	EXPECT_EQ(0, next_key(self->fd, wait)) TH_LOG("no key release after resume");
}

TEST_HARNESS_MAIN

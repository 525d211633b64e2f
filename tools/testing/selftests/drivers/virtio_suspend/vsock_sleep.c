// SPDX-License-Identifier: GPL-2.0
/*
 * vsock over virtio across system sleep: connections to the host live
 * through it on the SUSPEND path.
 *
 * 6.12's virtio vsock transport (net/vmw_vsock/virtio_transport.c) has a
 * freeze and a restore, but its freeze resets every connected socket: on
 * the reset-based path each connection is lost at every sleep. On the
 * SUSPEND path the freeze does not run and the device keeps its queues.
 *
 * The host runs an echo service on port VS_VSOCK_PORT (the runner's, at
 * the far end of vhost-device-vsock). Two connections are opened before
 * the first cycle: a worker streams numbered 4 KiB blocks through one and
 * checks every echo, so that packets are in flight when each cycle
 * begins; the other is held idle. After every cycle (VS_SLEEP_CYCLES
 * s2idle, then VS_DEBUGFS_CYCLES debugfs cycles of the device) the idle
 * connection carries one block there and back, the worker must have
 * completed a block since the cycle before, and the device must have
 * taken the SUSPEND path.
 *
 * With VS_VSOCK_EXPECT=classic (a device without SUSPEND) the test
 * measures the reset-based path instead: after one s2idle cycle the idle
 * connection must be reset, and a new connection must work.
 *
 * Environment:
 *   VS_VSOCK_PORT     the host's echo port (default 1234)
 *   VS_VSOCK_EXPECT   "suspend" (default) or "classic"
 *   VS_SLEEP_CYCLES   s2idle cycles (default 20)
 *   VS_DEBUGFS_CYCLES debugfs cycles (default 5)
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/vm_sockets.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define BLOCK		4096
#define IO_TIMEOUT_S	10

/* Shared with the worker. */
struct progress {
	long done, errors;
};

static struct progress *progress;

static int vsock_connect(unsigned int port)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_HOST,
		.svm_port = port,
	};
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

static void fill(char *buf, long n)
{
	long i;

	for (i = 0; i < BLOCK; i++)
		buf[i] = (char)(n * 131 + i * 7);
}

/*
 * Sends block @n on @fd and checks its echo: 0 or -errno (-EIO: wrong
 * data). A socket with a timeout returns EINTR when the freezer stops its
 * task for system sleep (sock_intr_errno()): that is no error, the call
 * is made again.
 */
static int echo_block(int fd, long n)
{
	char out[BLOCK], in[BLOCK];
	size_t sent = 0, got = 0;
	ssize_t r;

	fill(out, n);
	while (sent < BLOCK) {
		r = send(fd, out + sent, BLOCK - sent, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r ? -errno : -EIO;
		sent += r;
	}
	while (got < BLOCK) {
		r = recv(fd, in + got, BLOCK - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r ? -errno : -ECONNRESET;
		got += r;
	}
	return memcmp(in, out, BLOCK) ? -EIO : 0;
}

static void worker(int fd)
{
	long n = 0;
	int ret;

	for (;;) {
		ret = echo_block(fd, n++);
		if (ret) {
			/* The stream is out of step from here on: report, stop. */
			fprintf(stderr, "# block %ld: %s\n", n - 1, strerror(-ret));
			__atomic_add_fetch(&progress->errors, 1, __ATOMIC_RELAXED);
			pause();
		}
		__atomic_add_fetch(&progress->done, 1, __ATOMIC_RELAXED);
	}
}

/* Waits at most @ms for the worker to complete a block past @mark. */
static int progressed(long mark, long ms)
{
	long end = vs_now_ms() + ms;

	while (__atomic_load_n(&progress->done, __ATOMIC_RELAXED) == mark) {
		if (vs_now_ms() > end)
			return 0;
		usleep(5 * 1000);
	}
	return 1;
}

FIXTURE(vsock) {
	char vdev[32];
	unsigned int port;
	int streamed, idle;
	pid_t worker;
};

FIXTURE_SETUP(vsock)
{
	int ret;

	self->worker = -1;
	self->port = vs_env_long("VS_VSOCK_PORT", 1234);
	progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, progress);
	memset(progress, 0, sizeof(*progress));
	ret = vs_driver_virtio("vmw_vsock_virtio_transport", self->vdev, sizeof(self->vdev));
	ASSERT_EQ(0, ret) TH_LOG("no virtio device bound to vmw_vsock_virtio_transport");
	self->streamed = vsock_connect(self->port);
	ASSERT_LE(0, self->streamed) TH_LOG("connect to the host's port %u: %s", self->port,
					    strerror(-self->streamed));
	self->idle = vsock_connect(self->port);
	ASSERT_LE(0, self->idle) TH_LOG("second connection: %s", strerror(-self->idle));
	ASSERT_EQ(0, echo_block(self->idle, 0)) TH_LOG("an echo before any cycle");
}

FIXTURE_TEARDOWN(vsock)
{
	if (self->worker > 0) {
		kill(self->worker, SIGKILL);
		waitpid(self->worker, NULL, 0);
	}
	close(self->streamed);
	close(self->idle);
}

TEST_F_TIMEOUT(vsock, connections_live_through_sleep, 900)
{
	const char *expect = vs_env_str("VS_VSOCK_EXPECT", "suspend");
	long sleeps = vs_env_long("VS_SLEEP_CYCLES", 20);
	long debugfs = vs_env_long("VS_DEBUGFS_CYCLES", 5);
	long suspends = vs_suspend_count(self->vdev, "suspends");
	char ctl[PATH_MAX], path[128];
	long mark, r;
	int ret, fresh;

	if (!strcmp(expect, "classic")) {
		ASSERT_EQ(0, vs_sleep_cycle("freeze"));
		ret = echo_block(self->idle, 1);
		TH_LOG("%s, reset-based path: the connection held across s2idle %s (%s)",
		       self->vdev, ret ? "is lost" : "works", ret ? strerror(-ret) : "");
		EXPECT_NE(0, ret);
		fresh = vsock_connect(self->port);
		ASSERT_LE(0, fresh) TH_LOG("a new connection: %s", strerror(-fresh));
		EXPECT_EQ(0, echo_block(fresh, 2)) TH_LOG("an echo on a new connection");
		close(fresh);
		return;
	}
	ASSERT_STREQ("suspend", expect);

	self->worker = fork();
	ASSERT_LE(0, self->worker);
	if (self->worker == 0) {
		close(self->idle);
		worker(self->streamed);
	}
	ASSERT_TRUE(progressed(0, 10000)) TH_LOG("no echo before cycling");

	for (r = 0; r < sleeps + debugfs; r++) {
		mark = __atomic_load_n(&progress->done, __ATOMIC_RELAXED);
		if (r < sleeps) {
			ret = vs_sleep_cycle("freeze");
		} else {
			vs_control_path(self->vdev, ctl, sizeof(ctl));
			ret = vs_write_attr(ctl, "cycle");
		}
		ASSERT_EQ(0, ret) TH_LOG("cycle %ld: %s", r, strerror(-ret));
		ret = echo_block(self->idle, r + 1);
		ASSERT_EQ(0, ret) TH_LOG("the idle connection after cycle %ld: %s", r,
					 strerror(-ret));
		ASSERT_EQ(0, vs_suspend_attr(self->vdev, "last_path", path, sizeof(path)));
		ASSERT_STREQ("suspend", path) TH_LOG("%s, cycle %ld", self->vdev, r);
		ASSERT_TRUE(progressed(mark, 10000)) TH_LOG("no echo completed after cycle %ld", r);
	}
	kill(self->worker, SIGKILL);
	waitpid(self->worker, NULL, 0);
	self->worker = -1;
	TH_LOG("%s, SUSPEND path: %ld blocks echoed across %ld cycles, %ld errors", self->vdev,
	       progress->done, sleeps + debugfs, progress->errors);
	EXPECT_EQ(0, progress->errors);
	EXPECT_EQ(suspends + sleeps + debugfs, vs_suspend_count(self->vdev, "suspends"));
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net send and receive, before and after system sleep.
 *
 * Needs two virtio-net interfaces on one QEMU hub, so that a frame sent
 * on one arrives on the other without any network outside QEMU.  Raw
 * AF_PACKET frames of an experimental EtherType carry a sequence number
 * and a pattern; every frame must arrive intact.
 *
 * frames_in_flight_across_cycles keeps a stream of frames going from one
 * interface to the other while s2idle and debugfs cycles (of each
 * device in turn) run, so that frames are in flight, in both devices'
 * rings, at every transition.
 *
 * control_command_while_suspended changes the receive mode (a control
 * queue command) while a device is suspended through debugfs.
 *
 * Environment:
 *   VS_SLEEP_CYCLES    s2idle cycles of frames_cross_after_s2idle (1)
 *   VS_NET_CYCLES      cycles under the stream: s2idle and debugfs cycles
 *                      of either device in turn (default 6)
 *   VS_NET_LOSSLESS    1: every frame whose send succeeded must arrive,
 *                      once (the SUSPEND path keeps the rings); 0
 *                      (default): the reset-based path drops the frames
 *                      in a reset device's rings, so only that frames
 *                      flow after every cycle is checked
 */
#include <pthread.h>

#include "kselftest_harness.h"
#include "vs_net.h"

#define FRAMES		64

FIXTURE(net) {
	char ifname[2][IFNAMSIZ];
	int sock[2];
};

FIXTURE_SETUP(net)
{
	int i;

	ASSERT_EQ(2, vs_virtio_ifaces(self->ifname))
		TH_LOG("need two virtio_net interfaces");
	for (i = 0; i < 2; i++) {
		self->sock[i] = vs_open_raw(self->ifname[i], 5000);
		ASSERT_LE(0, self->sock[i])
			TH_LOG("%s: %s", self->ifname[i], strerror(-self->sock[i]));
	}
}

FIXTURE_TEARDOWN(net)
{
	close(self->sock[0]);
	close(self->sock[1]);
}

/*
 * Send FRAMES frames from interface 0; all must arrive on interface 1,
 * each counted once (a duplicate does not stand for a lost frame).
 */
static void exchange(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
		     uint32_t base)
{
	struct vs_frame out, in;
	char seen[FRAMES] = { 0 };
	int got = 0, i;

	for (i = 0; i < FRAMES; i++) {
		vs_fill_frame(&out, base + i);
		ASSERT_EQ(sizeof(out), send(self->sock[0], &out, sizeof(out), 0))
			TH_LOG("send on %s: %s", self->ifname[0], strerror(errno));
	}
	while (got < FRAMES) {
		ssize_t n = recv(self->sock[1], &in, sizeof(in), 0);

		ASSERT_LT(0, n) TH_LOG("%d of %d frames arrived on %s: %s", got, FRAMES,
				       self->ifname[1], strerror(errno));
		if (n != sizeof(in) || in.seq < base || in.seq >= base + FRAMES)
			continue;	/* not one of this round's frames */
		vs_fill_frame(&out, in.seq);
		ASSERT_EQ(0, memcmp(&out, &in, sizeof(in))) TH_LOG("frame %u corrupt", in.seq);
		if (!seen[in.seq - base]++)
			got++;
	}
}

TEST_F(net, frames_cross_the_hub)
{
	exchange(_metadata, self, 0);
}

TEST_F_TIMEOUT(net, frames_cross_after_s2idle, 600)
{
	long r, rounds = vs_env_long("VS_SLEEP_CYCLES", 1);

	for (r = 0; r < rounds; r++) {
		ASSERT_EQ(0, vs_sleep_cycle("freeze"));
		exchange(_metadata, self, (r + 1) * 1000);
	}
}

#define STREAM_MAX	200000
#define STREAM_BASE	1000000

struct stream {
	int tx, rx;
	/* Set and read with __atomic builtins: the threads share them. */
	int stop_tx, stop_rx;
	/* Per frame: sent (send() succeeded), received, and how often. */
	unsigned char sent[STREAM_MAX], received[STREAM_MAX];
	long nsent, nreceived;
	long corrupt, duplicates, send_errors;
};

static void *stream_send(void *arg)
{
	struct stream *st = arg;
	struct vs_frame out;
	long i;

	for (i = 0; i < STREAM_MAX && !__atomic_load_n(&st->stop_tx, __ATOMIC_ACQUIRE); i++) {
		vs_fill_frame(&out, STREAM_BASE + i);
		if (send(st->tx, &out, sizeof(out), 0) == sizeof(out)) {
			st->sent[i] = 1;
			__atomic_add_fetch(&st->nsent, 1, __ATOMIC_RELEASE);
		} else {
			st->send_errors++;
		}
		usleep(500);
	}
	return NULL;
}

static void *stream_receive(void *arg)
{
	struct stream *st = arg;
	struct vs_frame in, want;

	while (!__atomic_load_n(&st->stop_rx, __ATOMIC_ACQUIRE)) {
		ssize_t n = recv(st->rx, &in, sizeof(in), 0);

		if (n != sizeof(in) || in.seq < STREAM_BASE || in.seq >= STREAM_BASE + STREAM_MAX)
			continue;
		vs_fill_frame(&want, in.seq);
		if (memcmp(&want, &in, sizeof(in))) {
			st->corrupt++;
			continue;
		}
		if (st->received[in.seq - STREAM_BASE]++)
			st->duplicates++;
		else
			__atomic_add_fetch(&st->nreceived, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* The debugfs control file of the virtio device under @ifname. */
static int control_file(const char *ifname, char *buf, size_t len)
{
	char path[PATH_MAX], vdev[32];
	int ret;

	snprintf(path, sizeof(path), "/sys/class/net/%s/device", ifname);
	ret = vs_link_name(path, vdev, sizeof(vdev));
	if (ret)
		return ret;
	vs_control_path(vdev, buf, len);
	return 0;
}

/* Waits up to @ms for the receiver to count more than @than frames. */
static int received_more(struct stream *st, long than, long ms)
{
	long end = vs_now_ms() + ms;

	while (__atomic_load_n(&st->nreceived, __ATOMIC_ACQUIRE) <= than && vs_now_ms() < end)
		usleep(1000);
	return __atomic_load_n(&st->nreceived, __ATOMIC_ACQUIRE) > than;
}

TEST_F_TIMEOUT(net, frames_in_flight_across_cycles, 600)
{
	long cycles = vs_env_long("VS_NET_CYCLES", 6), done, i, lost = 0;
	int lossless = vs_env_long("VS_NET_LOSSLESS", 0);
	struct stream *st = calloc(1, sizeof(*st));
	pthread_t tx, rx;
	char ctl[2][PATH_MAX];
	int ret = 0;

	ASSERT_NE(NULL, st);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, control_file(self->ifname[i], ctl[i], sizeof(ctl[i])));
	st->tx = self->sock[0];
	st->rx = self->sock[1];
	ASSERT_EQ(0, pthread_create(&rx, NULL, stream_receive, st));
	ASSERT_EQ(0, pthread_create(&tx, NULL, stream_send, st));
	for (i = 0; i < cycles && !ret; i++) {
		/* Frames flowing when the cycle begins, and after it. */
		if (!received_more(st, __atomic_load_n(&st->nreceived, __ATOMIC_ACQUIRE), 5000)) {
			ret = -ETIMEDOUT;
			break;
		}
		if (i % 3 == 0)
			ret = vs_sleep_cycle("freeze");
		else
			ret = vs_write_attr(ctl[i % 3 - 1], "cycle");
	}
	done = i;
	if (!ret && !received_more(st, __atomic_load_n(&st->nreceived, __ATOMIC_ACQUIRE), 5000))
		ret = -ETIMEDOUT;
	__atomic_store_n(&st->stop_tx, 1, __ATOMIC_RELEASE);
	pthread_join(tx, NULL);
	/* The tail: what was sent last has time to arrive. */
	while (received_more(st, __atomic_load_n(&st->nreceived, __ATOMIC_ACQUIRE), 1000))
		;
	__atomic_store_n(&st->stop_rx, 1, __ATOMIC_RELEASE);
	pthread_join(rx, NULL);
	for (i = 0; i < STREAM_MAX; i++)
		lost += st->sent[i] && !st->received[i];
	TH_LOG("%ld cycles: %ld frames sent (%ld send errors), %ld received, %ld lost, "
	       "%ld duplicated, %ld corrupt", done, st->nsent,
	       st->send_errors, st->nreceived, lost, st->duplicates, st->corrupt);
	EXPECT_EQ(0, ret) TH_LOG("no frame arrived for 5 s around a cycle, or the cycle "
				 "failed: %s", strerror(-ret));
	EXPECT_EQ(0, st->corrupt);
	if (lossless) {
		EXPECT_EQ(0, lost);
		EXPECT_EQ(0, st->duplicates);
	}
	free(st);
}

/* Sets or clears IFF_PROMISC on @ifname; returns 0 or -errno. */
static int set_promisc(const char *ifname, int on)
{
	struct ifreq ifr = { 0 };
	int fd, ret = 0;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		ret = -errno;
	if (!ret) {
		ifr.ifr_flags = on ? ifr.ifr_flags | IFF_PROMISC : ifr.ifr_flags & ~IFF_PROMISC;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			ret = -errno;
	}
	close(fd);
	return ret;
}

/*
 * virtio_net sends a receive-mode change to the device from a work item,
 * on the control queue, and spins until the device has used the command,
 * holding rtnl (virtnet_rx_mode_work(), virtnet_send_command()).  While
 * the device is suspended the transport refuses that queue's buffers (it
 * has no callback: see logic/busy_wait.rs), so the command fails at once
 * with the driver's warning and rtnl is free: the next flags change goes
 * through while the device is still suspended.  Were the command held,
 * the work would spin under rtnl until the resume, the warning would
 * never come, and the next change would wait for the resume.  After the
 * resume frames still cross.  On the reset-based path the driver's
 * freeze disables the work: nothing is sent, both changes go through,
 * and frames cross after the resume.
 */
TEST_F_TIMEOUT(net, control_command_while_suspended, 300)
{
	const char *refused = "Failed to add sgs for command vq";
	char ctl[PATH_MAX], path[PATH_MAX], vdev[32], state[32];
	int kmsg, ret;

	ASSERT_EQ(0, control_file(self->ifname[0], ctl, sizeof(ctl)));
	snprintf(path, sizeof(path), "/sys/class/net/%s/device", self->ifname[0]);
	ASSERT_EQ(0, vs_link_name(path, vdev, sizeof(vdev)));
	kmsg = vs_kmsg_open();
	ASSERT_LE(0, kmsg) TH_LOG("/dev/kmsg: %s", strerror(-kmsg));
	ASSERT_EQ(0, vs_write_attr(ctl, "suspend"));
	ASSERT_EQ(0, vs_suspend_attr(vdev, "state", state, sizeof(state)));
	if (strcmp(state, "suspended")) {
		TH_LOG("%s is %s: the reset-based path", vdev, state);
		EXPECT_EQ(0, set_promisc(self->ifname[0], 1));
		EXPECT_EQ(0, set_promisc(self->ifname[0], 0));
		ASSERT_EQ(0, vs_write_attr(ctl, "resume"));
		close(kmsg);
		exchange(_metadata, self, 500000);
		return;
	}
	ASSERT_EQ(0, set_promisc(self->ifname[0], 1));
	/*
	 * 60 s: far beyond what the work takes to run; when the command is
	 * held instead, the warning never comes and this is where the test
	 * fails, the device still suspended.
	 */
	ret = vs_kmsg_wait(kmsg, refused, 60000);
	EXPECT_EQ(0, ret) TH_LOG("no \"%s\" while %s was suspended: the control "
				 "command was not refused", refused, self->ifname[0]);
	if (!ret)
		EXPECT_EQ(0, set_promisc(self->ifname[0], 0));
	ASSERT_EQ(0, vs_write_attr(ctl, "resume"));
	close(kmsg);
	if (ret)
		ASSERT_EQ(0, set_promisc(self->ifname[0], 0));
	exchange(_metadata, self, 500000);
}

TEST_HARNESS_MAIN

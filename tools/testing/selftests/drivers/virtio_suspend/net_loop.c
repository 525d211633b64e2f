// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net send and receive, before and after system sleep.
 *
 * Needs two virtio-net interfaces on one QEMU hub, so that a frame sent
 * on one arrives on the other without any network outside QEMU.  Raw
 * AF_PACKET frames of an experimental EtherType carry a sequence number
 * and a pattern; every frame must arrive intact.
 */
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

TEST_HARNESS_MAIN

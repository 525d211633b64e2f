// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net send and receive, before and after system sleep.
 *
 * Needs two virtio-net interfaces on one QEMU hub, so that a frame sent
 * on one arrives on the other without any network outside QEMU.  Raw
 * AF_PACKET frames of an experimental EtherType carry a sequence number
 * and a pattern; every frame must arrive intact.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define ETHERTYPE_VS	0x88b5	/* IEEE 802 local experimental */
#define FRAMES		64
#define PAYLOAD		256

struct vs_frame {
	struct ether_header eh;
	uint32_t seq;
	uint8_t data[PAYLOAD];
} __attribute__((packed));

FIXTURE(net) {
	char ifname[2][IFNAMSIZ];
	int ifindex[2];
	int sock[2];
};

static int set_up(int sock, const char *name)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr))
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(sock, SIOCSIFFLAGS, &ifr) ? -errno : 0;
}

FIXTURE_SETUP(net)
{
	struct timeval tv = { .tv_sec = 5 };
	int i;

	ASSERT_EQ(2, vs_virtio_ifaces(self->ifname))
		TH_LOG("need two virtio_net interfaces");
	for (i = 0; i < 2; i++) {
		struct sockaddr_ll sll = { 0 };

		self->sock[i] = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_VS));
		ASSERT_LE(0, self->sock[i]) TH_LOG("socket: %s", strerror(errno));
		ASSERT_EQ(0, set_up(self->sock[i], self->ifname[i]));
		self->ifindex[i] = if_nametoindex(self->ifname[i]);
		ASSERT_LT(0, self->ifindex[i]);
		sll.sll_family = AF_PACKET;
		sll.sll_protocol = htons(ETHERTYPE_VS);
		sll.sll_ifindex = self->ifindex[i];
		ASSERT_EQ(0, bind(self->sock[i], (struct sockaddr *)&sll, sizeof(sll)));
		ASSERT_EQ(0, setsockopt(self->sock[i], SOL_SOCKET, SO_RCVTIMEO,
					&tv, sizeof(tv)));
	}
}

FIXTURE_TEARDOWN(net)
{
	close(self->sock[0]);
	close(self->sock[1]);
}

static void fill(struct vs_frame *f, uint32_t seq)
{
	int i;

	memset(f->eh.ether_dhost, 0xff, ETH_ALEN);
	memset(f->eh.ether_shost, 0x02, ETH_ALEN);
	f->eh.ether_type = htons(ETHERTYPE_VS);
	f->seq = seq;
	for (i = 0; i < PAYLOAD; i++)
		f->data[i] = (uint8_t)(seq * 31 + i);
}

/* Send FRAMES frames from interface 0; all must arrive on interface 1. */
static void exchange(struct __test_metadata *_metadata, FIXTURE_DATA(net) *self,
		     uint32_t base)
{
	struct vs_frame out, in;
	int got = 0, i;

	for (i = 0; i < FRAMES; i++) {
		fill(&out, base + i);
		ASSERT_EQ(sizeof(out), send(self->sock[0], &out, sizeof(out), 0))
			TH_LOG("send on %s: %s", self->ifname[0], strerror(errno));
	}
	while (got < FRAMES) {
		ssize_t n = recv(self->sock[1], &in, sizeof(in), 0);

		ASSERT_LT(0, n) TH_LOG("%d of %d frames arrived on %s: %s", got, FRAMES,
				       self->ifname[1], strerror(errno));
		if (n != sizeof(in) || in.seq < base || in.seq >= base + FRAMES)
			continue;	/* not one of this round's frames */
		fill(&out, in.seq);
		ASSERT_EQ(0, memcmp(&out, &in, sizeof(in))) TH_LOG("frame %u corrupt", in.seq);
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

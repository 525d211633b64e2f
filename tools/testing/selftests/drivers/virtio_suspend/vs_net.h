/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Raw Ethernet frames between the two virtio-net interfaces on the QEMU
 * hub, shared by the network selftests: numbered frames of an
 * experimental EtherType whose payload follows from the number, so every
 * received frame can be checked.
 */
#ifndef VS_NET_H
#define VS_NET_H

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "vs_util.h"

#define ETHERTYPE_VS	0x88b5	/* IEEE 802 local experimental */
#define VS_PAYLOAD	256

struct vs_frame {
	struct ether_header eh;
	uint32_t seq;
	uint8_t data[VS_PAYLOAD];
} __attribute__((packed));

static inline void vs_fill_frame(struct vs_frame *f, uint32_t seq)
{
	int i;

	memset(f->eh.ether_dhost, 0xff, ETH_ALEN);
	memset(f->eh.ether_shost, 0x02, ETH_ALEN);
	f->eh.ether_type = htons(ETHERTYPE_VS);
	f->seq = seq;
	for (i = 0; i < VS_PAYLOAD; i++)
		f->data[i] = (uint8_t)(seq * 31 + i);
}

/*
 * Brings interface @name up and returns a raw socket bound to it for our
 * EtherType, receiving with a timeout of @timeout_ms; -errno on failure.
 */
static inline int vs_open_raw(const char *name, long timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = (timeout_ms % 1000) * 1000 };
	struct sockaddr_ll sll = { 0 };
	struct ifreq ifr = { 0 };
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_VS));
	int err;

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%.*s", IFNAMSIZ - 1, name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr))
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		goto fail;
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETHERTYPE_VS);
	sll.sll_ifindex = if_nametoindex(name);
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) ||
	    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		goto fail;
	return s;
fail:
	err = -errno;
	close(s);
	return err;
}

#endif /* VS_NET_H */

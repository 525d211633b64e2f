// SPDX-License-Identifier: GPL-2.0
/*
 * virtqueue_rewind_held() (guest-kernel patch 0002) must give a reset
 * device back every buffer it had not used, however long ago the driver
 * added it. The available ring keeps only the last vring.num heads made
 * available: a buffer outstanding for more than a ring's worth of adds
 * (a disk that completes one request late while others go by) is no
 * longer there, and only the driver's descriptor state still knows it.
 *
 * This module builds a 4-entry split virtqueue on a bare virtio_device
 * (no transport, no DMA API) and plays the device itself on the rings:
 * it takes an old buffer and leaves it outstanding while twice a ring's
 * worth of others are added, used and taken, then uses one more that the
 * driver does not take and leaves the newest outstanding. After a hold,
 * a reset (the device forgets what it took) and the rewind, the released
 * ring must make available the old buffer, then the newest, from index 0;
 * the driver takes the used one first, then the two as the device uses
 * them again. A wrong ring fails the load with -EIO, the console says
 * what differed.
 *
 * The ring uses VIRTIO_RING_F_EVENT_IDX, and the device follows its rule:
 * the first buffer it uses after the reset, at used index 0, must raise
 * an interrupt while the driver has not yet taken the one kept from
 * before. A used_event left where the driver last took a buffer (index
 * 2 * NUM here) would tell the device to stay silent until its used index
 * came round to it, and a driver waiting for that interrupt would wait.
 */
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#define NUM 4

/* The tokens the driver passes with its buffers. */
static int old_buf, done_buf, new_buf, passing_bufs[2 * NUM];

static bool notify(struct virtqueue *vq)
{
	return true;
}

/* A callback, so that the driver asks for used buffer notifications. */
static void callback(struct virtqueue *vq)
{
}

static int add(struct virtqueue *vq, char *buf, void *token)
{
	struct scatterlist sg;
	int err;

	sg_init_one(&sg, buf, 16);
	err = virtqueue_add_inbuf(vq, &sg, 1, token, GFP_KERNEL);
	if (err)
		pr_err("vring_rewind_test: adding a buffer: %d\n", err);
	else
		virtqueue_kick(vq);
	return err;
}

/* The device's side: the head made available at @idx. */
static u16 avail_head(struct virtqueue *vq, u16 idx)
{
	const struct vring *vr = virtqueue_get_vring(vq);

	return virtio16_to_cpu(vq->vdev, vr->avail->ring[idx % NUM]);
}

static u16 avail_idx(struct virtqueue *vq)
{
	return virtio16_to_cpu(vq->vdev, virtqueue_get_vring(vq)->avail->idx);
}

/* The device uses @head at used index *@used_idx. */
static void use(struct virtqueue *vq, u16 *used_idx, u16 head)
{
	const struct vring *vr = virtqueue_get_vring(vq);

	vr->used->ring[*used_idx % NUM].id = cpu_to_virtio32(vq->vdev, head);
	vr->used->ring[*used_idx % NUM].len = cpu_to_virtio32(vq->vdev, 16);
	virtio_wmb(true);
	vr->used->idx = cpu_to_virtio16(vq->vdev, ++*used_idx);
}

/*
 * The device's event-index rule (virtio 1.x, 2.7.10): having moved the
 * used index from @old to @new, it notifies the driver only if the
 * used_event the driver published lies in between.
 */
static bool device_notifies(struct virtqueue *vq, u16 old, u16 new)
{
	const struct vring *vr = virtqueue_get_vring(vq);

	virtio_mb(true);
	return vring_need_event(virtio16_to_cpu(vq->vdev, vring_used_event(vr)),
				new, old);
}

static const char *buf_name(void *token)
{
	if (!token)
		return "none";
	if (token == &old_buf)
		return "the old buffer";
	if (token == &done_buf)
		return "the used buffer";
	if (token == &new_buf)
		return "the newest buffer";
	return "a passing buffer";
}

static int expect_buf(struct virtqueue *vq, void *want, const char *what)
{
	unsigned int len;
	void *got = virtqueue_get_buf(vq, &len);

	if (got == want)
		return 0;
	pr_err("vring_rewind_test: %s: the driver took %s, expected %s\n",
	       what, buf_name(got), buf_name(want));
	return -EIO;
}

static int run(struct virtqueue *vq, char *buf)
{
	u16 dev_avail = 0, dev_used = 0, old_head, new_head;
	int err, i;

	/* Taken by the device, not used: outstanding from here on. */
	err = add(vq, buf, &old_buf);
	if (err)
		return err;
	old_head = avail_head(vq, dev_avail++);

	/* Twice a ring's worth of adds go by: the old entry is overwritten. */
	for (i = 0; i < ARRAY_SIZE(passing_bufs); i++) {
		err = add(vq, buf, &passing_bufs[i]);
		if (err)
			return err;
		use(vq, &dev_used, avail_head(vq, dev_avail++));
		err = expect_buf(vq, &passing_bufs[i], "a passing buffer");
		if (err)
			return err;
	}

	/* Used, not taken yet by the driver. */
	err = add(vq, buf, &done_buf);
	if (err)
		return err;
	use(vq, &dev_used, avail_head(vq, dev_avail++));

	/* The newest: made available, not taken by the device. */
	err = add(vq, buf, &new_buf);
	if (err)
		return err;
	new_head = avail_head(vq, dev_avail);

	/* The transport's recovery: hold, the reset, the rewind, release. */
	err = virtqueue_hold_avail(vq);
	if (err)
		return err;
	virtqueue_hold_sync();
	err = virtqueue_rewind_held(vq);
	if (err) {
		pr_err("vring_rewind_test: rewind: %d\n", err);
		return err;
	}
	virtqueue_release_avail(vq);
	if (avail_idx(vq) != 2 || avail_head(vq, 0) != old_head ||
	    avail_head(vq, 1) != new_head) {
		pr_err("vring_rewind_test: rewound ring: available index %u, heads %u %u; expected 2, heads %u (outstanding since %zu adds) %u\n",
		       avail_idx(vq), avail_head(vq, 0), avail_head(vq, 1),
		       old_head, ARRAY_SIZE(passing_bufs) + 2, new_head);
		return -EIO;
	}

	/*
	 * The device, fresh from its reset, uses from index 0, before the
	 * driver has taken the buffer used before the reset.
	 */
	dev_used = 0;
	use(vq, &dev_used, avail_head(vq, 0));
	if (!device_notifies(vq, 0, dev_used)) {
		pr_err("vring_rewind_test: the device's first used buffer after the rewind raises no interrupt: used_event %u, expected 0\n",
		       virtio16_to_cpu(vq->vdev,
				       vring_used_event(virtqueue_get_vring(vq))));
		return -EIO;
	}
	err = expect_buf(vq, &done_buf, "the buffer used before the reset");
	if (err)
		return err;
	use(vq, &dev_used, avail_head(vq, 1));
	err = expect_buf(vq, &old_buf, "the old buffer, used after the reset");
	if (!err)
		err = expect_buf(vq, &new_buf, "the newest buffer, used after the reset");
	if (!err)
		err = expect_buf(vq, NULL, "nothing more");
	return err;
}

static int __init vring_rewind_test_init(void)
{
	struct virtio_device *vdev;
	struct virtqueue *vq;
	char *buf;
	int err;

	vdev = kzalloc(sizeof(*vdev), GFP_KERNEL);
	buf = kzalloc(16, GFP_KERNEL);
	if (!vdev || !buf) {
		err = -ENOMEM;
		goto free;
	}
	/*
	 * Event indexes only: split ring, no DMA API (no VIRTIO_F_ACCESS_PLATFORM),
	 * no indirect descriptors.
	 */
	vdev->features = BIT_ULL(VIRTIO_RING_F_EVENT_IDX);
	INIT_LIST_HEAD(&vdev->vqs);
	spin_lock_init(&vdev->vqs_list_lock);
	vq = vring_create_virtqueue(0, NUM, SMP_CACHE_BYTES, vdev, true, false,
				    false, notify, callback, "vring_rewind_test");
	if (!vq) {
		err = -ENOMEM;
		goto free;
	}
	err = run(vq, buf);
	while (virtqueue_detach_unused_buf(vq))
		;
	vring_del_virtqueue(vq);
free:
	kfree(buf);
	kfree(vdev);
	if (!err)
		pr_info("vring_rewind_test: the rewind kept a buffer older than the ring\n");
	/* Nothing to keep loaded: the test is the load. */
	return err ? err : -EAGAIN;
}
module_init(vring_rewind_test_init);

MODULE_DESCRIPTION("virtio_ring rewind: buffers older than the ring survive");
MODULE_LICENSE("GPL");

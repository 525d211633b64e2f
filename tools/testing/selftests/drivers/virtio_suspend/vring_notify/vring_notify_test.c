// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_ring's hold (guest-kernel patch 0002) must leave a transport's
 * notify in the context the driver kicks from: some transports' notify
 * sleeps (remoteproc kicks through a mailbox with tx_block). This module
 * builds a virtqueue on a bare virtio_device (no transport, no DMA API)
 * whose notify says it may sleep, kicks it from process context (held and
 * not held) and fills the ring until the full-ring notification. Under a
 * notify called with RCU read-locked or preemption off, might_sleep()
 * reports "BUG: sleeping function called from invalid context", which
 * fails the scenario; a wrong count fails the load with -EIO.
 */
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/virtio.h>
#include <linux/virtio_ring.h>

#define NUM 8

static unsigned int notified;

static bool sleeping_notify(struct virtqueue *vq)
{
	might_sleep();
	notified++;
	return true;
}

static int expect(const char *what, unsigned int want)
{
	if (notified == want)
		return 0;
	pr_err("vring_notify_test: %s: %u notifications, expected %u\n",
	       what, notified, want);
	return -EIO;
}

static int run(struct virtqueue *vq, char *buf)
{
	struct scatterlist sg;
	int err, i;

	sg_init_one(&sg, buf, 16);
	err = virtqueue_add_outbuf(vq, &sg, 1, buf, GFP_KERNEL);
	if (err)
		return err;
	virtqueue_kick(vq);
	err = expect("kick", 1);
	if (err)
		return err;

	/* Held: the kick is recorded, the release reports it. */
	err = virtqueue_hold_avail(vq);
	if (err)
		return err;
	virtqueue_kick(vq);
	err = expect("kick while held", 1);
	if (err)
		return err;
	if (!virtqueue_release_avail(vq)) {
		pr_err("vring_notify_test: the held kick was lost\n");
		return -EIO;
	}

	/* A full ring notifies on an add with out buffers. */
	for (i = 1; i < NUM; i++) {
		err = virtqueue_add_outbuf(vq, &sg, 1, buf, GFP_KERNEL);
		if (err)
			return err;
	}
	err = virtqueue_add_outbuf(vq, &sg, 1, buf, GFP_KERNEL);
	if (err != -ENOSPC) {
		pr_err("vring_notify_test: add to a full ring: %d\n", err);
		return -EIO;
	}
	return expect("full ring", 2);
}

static int __init vring_notify_test_init(void)
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
	/* No feature: split ring, no DMA API, no indirect descriptors. */
	INIT_LIST_HEAD(&vdev->vqs);
	spin_lock_init(&vdev->vqs_list_lock);
	vq = vring_create_virtqueue(0, NUM, SMP_CACHE_BYTES, vdev, true, false,
				    false, sleeping_notify, NULL,
				    "vring_notify_test");
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
		pr_info("vring_notify_test: notify ran where it may sleep\n");
	/* Nothing to keep loaded: the test is the load. */
	return err ? err : -EAGAIN;
}
module_init(vring_notify_test_init);

MODULE_DESCRIPTION("virtio_ring hold: notify keeps the kicker's context");
MODULE_LICENSE("GPL");

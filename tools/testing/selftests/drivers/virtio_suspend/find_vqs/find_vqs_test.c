// SPDX-License-Identifier: GPL-2.0
/*
 * The queues of a transport's find_vqs live as long as the virtio core
 * needs them, and no longer, whatever the driver does: bound to every
 * device of type @device_id that no other driver has, this module checks
 * the virtio core's own list of the device's queues (vdev->vqs, which
 * vring_create_virtqueue() fills and vring_del_virtqueue() empties):
 *
 * - a find_vqs that fails after creating queues (the driver asks for one
 *   queue more than the device has) leaves no queue behind;
 * - a second find_vqs without del_vqs between them releases the queues
 *   first: one left, not two, on virtio-mmio; none on virtio-pci, where
 *   the new set-up fails as with the C virtio_pci (a queue is disabled
 *   only by a reset);
 * - del_vqs leaves none.
 *
 * The device is then set up again as after a restore (without queues),
 * left bound, and reset at unbind.
 * The selftest reads how many devices were checked and how many failed
 * from the module's parameters; each failure is on the console.
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>

static unsigned int device_id;
module_param(device_id, uint, 0444);
MODULE_PARM_DESC(device_id, "virtio device type to bind to");

static atomic_t checked = ATOMIC_INIT(0);
static atomic_t failed = ATOMIC_INIT(0);

static int get_count(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(kp->arg));
}

static const struct kernel_param_ops count_ops = {
	.get = get_count,
};
module_param_cb(checked, &count_ops, &checked, 0444);
MODULE_PARM_DESC(checked, "devices checked");
module_param_cb(failed, &count_ops, &failed, 0444);
MODULE_PARM_DESC(failed, "devices whose check failed");

static unsigned int queues_listed(struct virtio_device *vdev)
{
	struct virtqueue *vq;
	unsigned int n = 0;

	spin_lock(&vdev->vqs_list_lock);
	list_for_each_entry(vq, &vdev->vqs, list)
		n++;
	spin_unlock(&vdev->vqs_list_lock);
	return n;
}

static int expect_listed(struct virtio_device *vdev, const char *after,
			 unsigned int want)
{
	unsigned int n = queues_listed(vdev);

	if (n == want)
		return 0;
	dev_err(&vdev->dev, "find_vqs_test: %u queues after %s, expected %u\n",
		n, after, want);
	return -EIO;
}

static int check(struct virtio_device *vdev)
{
	struct virtqueue_info infos[] = {
		{ .name = "find-vqs-test" },
		{ .name = "find-vqs-test-absent" },
	};
	struct virtqueue *vqs[ARRAY_SIZE(infos)];
	int err;

	/* The device has one queue fewer than asked for. */
	err = virtio_find_vqs(vdev, ARRAY_SIZE(infos), vqs, infos, NULL);
	if (!err) {
		dev_err(&vdev->dev, "find_vqs_test: find_vqs of a queue the device lacks succeeded\n");
		virtio_reset_device(vdev);
		vdev->config->del_vqs(vdev);
		return -EIO;
	}
	err = expect_listed(vdev, "a failed find_vqs", 0);
	if (err)
		return err;

	err = virtio_find_vqs(vdev, 1, vqs, infos, NULL);
	if (err) {
		dev_err(&vdev->dev, "find_vqs_test: find_vqs: %d\n", err);
		return err;
	}
	err = expect_listed(vdev, "find_vqs", 1);
	if (!err) {
		/* The transport releases the old queue (and says so). */
		bool pci = dev_is_pci(vdev->dev.parent);

		err = virtio_find_vqs(vdev, 1, vqs, infos, NULL);
		if (!err != !pci) {
			dev_err(&vdev->dev, "find_vqs_test: second find_vqs on virtio-%s: %d\n",
				pci ? "pci" : "mmio", err);
			err = -EIO;
		} else {
			err = expect_listed(vdev, "a second find_vqs", pci ? 0 : 1);
		}
	}
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
	return err ?: expect_listed(vdev, "del_vqs", 0);
}

/* As virtio_device_restore() does, without queues. */
static int set_up_again(struct virtio_device *vdev)
{
	int err;

	virtio_add_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	virtio_add_status(vdev, VIRTIO_CONFIG_S_DRIVER);
	err = vdev->config->finalize_features(vdev);
	if (err)
		return err;
	virtio_add_status(vdev, VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(vdev->config->get_status(vdev) & VIRTIO_CONFIG_S_FEATURES_OK))
		return -ENODEV;
	return 0;
}

static int find_vqs_test_probe(struct virtio_device *vdev)
{
	if (check(vdev))
		atomic_inc(&failed);
	atomic_inc(&checked);
	return set_up_again(vdev);
}

static void find_vqs_test_remove(struct virtio_device *vdev)
{
	virtio_reset_device(vdev);
}

/* The device type is the parameter's, set before the driver registers. */
static struct virtio_device_id id_table[] = {
	{ 0, VIRTIO_DEV_ANY_ID },
	{ 0 },
};

static struct virtio_driver find_vqs_test_driver = {
	.driver.name = KBUILD_MODNAME,
	.id_table = id_table,
	.probe = find_vqs_test_probe,
	.remove = find_vqs_test_remove,
};

static int __init find_vqs_test_init(void)
{
	if (!device_id || device_id == VIRTIO_DEV_ANY_ID)
		return -EINVAL;
	id_table[0].device = device_id;
	return register_virtio_driver(&find_vqs_test_driver);
}
module_init(find_vqs_test_init);

static void __exit find_vqs_test_exit(void)
{
	unregister_virtio_driver(&find_vqs_test_driver);
}
module_exit(find_vqs_test_exit);

MODULE_DESCRIPTION("Test of the queue lifetimes of a virtio transport's find_vqs");
MODULE_LICENSE("GPL");

/* SPDX-License-Identifier: GPL-2.0 */
/* vring_interrupt() outside an interrupt, for virtio.rs (which declares the same). */
#ifndef VIRTIO_SUSPEND_VRING_REPLAY_H
#define VIRTIO_SUSPEND_VRING_REPLAY_H

/* @vq: a struct virtqueue, untyped as vring_interrupt() takes it. */
void virtio_suspend_vring_replay(void *vq);

#endif /* VIRTIO_SUSPEND_VRING_REPLAY_H */

/* SPDX-License-Identifier: GPL-2.0 */
/* vring_interrupt() under a lock of the queue's, for vring.rs (which declares the same). */
#ifndef VIRTIO_SUSPEND_VRING_REPLAY_H
#define VIRTIO_SUSPEND_VRING_REPLAY_H

#include <linux/spinlock_types.h>
#include <linux/types.h>

/* @vring_interrupts: the queue's lock, initialized once before any other use. */
void virtio_suspend_vring_lock_init(spinlock_t *vring_interrupts);

/*
 * @vq: a struct virtqueue, untyped as vring_interrupt() takes it.
 * Returns whether there was work (IRQ_HANDLED).
 */
bool virtio_suspend_vring_interrupt(int irq, void *vq, spinlock_t *lock);

/* As an interrupt would, from process context. */
void virtio_suspend_vring_replay(void *vq, spinlock_t *lock);

/* Waits for a handling of the queue's interrupt that runs under @lock. */
void virtio_suspend_vring_sync(spinlock_t *lock);

/* The driver's callback never runs again for @vq (under @lock). */
void virtio_suspend_vring_detach(void *vq, spinlock_t *lock);

#endif /* VIRTIO_SUSPEND_VRING_REPLAY_H */

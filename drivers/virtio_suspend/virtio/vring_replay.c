// SPDX-License-Identifier: GPL-2.0
/*
 * A queue's interrupt handling, serialized by a lock of the queue's
 * transport, from its interrupt handler and from process context.
 *
 * Drivers' callbacks rely on genirq never running them on two CPUs at
 * once (virtio_rng's takes used buffers without a lock); a replay from
 * process context, which a device reset makes necessary (the reset drops
 * the interrupt the device had pending), would break that if it raced
 * the handler, so both take the lock. The replay also runs as a hard
 * interrupt would: drivers' callbacks take their locks without disabling
 * interrupts and schedule NAPI, whose softirq must then run. When the
 * virtio core is done with a queue, its callback is detached under the
 * same lock, so no handling of the queue that a transport may still run
 * calls the driver. The spinlock, irq and bh calls are macros, which
 * the Rust side cannot call.
 */
#include <linux/bottom_half.h>
#include <linux/interrupt.h>
#include <linux/spinlock.h>
#include <linux/virtio.h>
#include <linux/virtio_ring.h>

#include "vring_replay.h"

/* The parameter's name is the lock's name for lockdep. */
void virtio_suspend_vring_lock_init(spinlock_t *vring_interrupts)
{
	spin_lock_init(vring_interrupts);
}

bool virtio_suspend_vring_interrupt(int irq, void *vq, spinlock_t *lock)
{
	unsigned long flags;
	irqreturn_t ret;

	spin_lock_irqsave(lock, flags);
	ret = vring_interrupt(irq, vq);
	spin_unlock_irqrestore(lock, flags);
	return ret == IRQ_HANDLED;
}

void virtio_suspend_vring_replay(void *vq, spinlock_t *lock)
{
	local_bh_disable();
	virtio_suspend_vring_interrupt(0, vq, lock);
	/* Runs the softirqs the callback raised. */
	local_bh_enable();
}

void virtio_suspend_vring_sync(spinlock_t *lock)
{
	spin_lock_irq(lock);
	spin_unlock_irq(lock);
}

void virtio_suspend_vring_detach(void *vq, spinlock_t *lock)
{
	struct virtqueue *queue = vq;
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	queue->callback = NULL;
	spin_unlock_irqrestore(lock, flags);
}

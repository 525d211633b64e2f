// SPDX-License-Identifier: GPL-2.0
/*
 * Runs a queue's interrupt handling from process context, as a hard
 * interrupt would: drivers' callbacks take their locks without disabling
 * interrupts and schedule NAPI, whose softirq must then run. The
 * local_irq_save() and local_bh_disable() of this are macros, which the
 * Rust side cannot call.
 */
#include <linux/bottom_half.h>
#include <linux/interrupt.h>
#include <linux/irqflags.h>
#include <linux/virtio.h>
#include <linux/virtio_ring.h>

#include "vring_replay.h"

void virtio_suspend_vring_replay(void *vq)
{
	unsigned long flags;

	local_bh_disable();
	local_irq_save(flags);
	vring_interrupt(0, vq);
	local_irq_restore(flags);
	/* Runs the softirqs the callback raised. */
	local_bh_enable();
}

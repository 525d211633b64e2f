/* SPDX-License-Identifier: GPL-2.0 */
/* might_sleep() for context.rs (which declares the same). */
#ifndef VIRTIO_SUSPEND_CONTEXT_H
#define VIRTIO_SUSPEND_CONTEXT_H

void virtio_suspend_might_sleep(void);

#endif /* VIRTIO_SUSPEND_CONTEXT_H */

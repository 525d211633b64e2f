/* SPDX-License-Identifier: GPL-2.0 */
/* The PM core's system sleep lock, read by locks.rs (which declares the same). */
#ifndef VIRTIO_SUSPEND_SLEEP_LOCK_H
#define VIRTIO_SUSPEND_SLEEP_LOCK_H

unsigned int virtio_suspend_lock_system_sleep(void);
void virtio_suspend_unlock_system_sleep(unsigned int flags);

#endif /* VIRTIO_SUSPEND_SLEEP_LOCK_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * lock_system_sleep() for the Rust side: linux/suspend.h is not among
 * the headers 6.12's Rust bindings are generated from.
 */
#include <linux/suspend.h>

#include "sleep_lock.h"

unsigned int virtio_suspend_lock_system_sleep(void)
{
	return lock_system_sleep();
}

void virtio_suspend_unlock_system_sleep(unsigned int flags)
{
	unlock_system_sleep(flags);
}

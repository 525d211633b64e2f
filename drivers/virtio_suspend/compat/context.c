// SPDX-License-Identifier: GPL-2.0
/*
 * might_sleep(), a macro, for context.rs: the drops that must run where
 * the caller may sleep say so, and a debugging kernel reports one that
 * runs in atomic context.
 */
#include <linux/kernel.h>

#include "context.h"

void virtio_suspend_might_sleep(void)
{
	might_sleep();
}

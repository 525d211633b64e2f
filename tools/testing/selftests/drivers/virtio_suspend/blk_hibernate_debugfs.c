// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk: hibernation refused while the disk is suspended through
 * debugfs, on either sleep path, and the disk's data and state intact
 * after it: blk_data.c's fixture and pattern, that test only.
 */
#define VS_BLK_HIBERNATE_DEBUGFS
#include "blk_data.c"

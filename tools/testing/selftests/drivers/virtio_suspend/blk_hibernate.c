// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk data integrity across hibernation test cycles: blk_data.c's
 * fixture and pattern, its hibernation test only.
 */
#define VS_BLK_HIBERNATE
#include "blk_data.c"

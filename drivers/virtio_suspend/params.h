/* SPDX-License-Identifier: GPL-2.0 */
/* Module parameters, read by the Rust side (params.rs declares the same). */
#ifndef VIRTIO_SUSPEND_PARAMS_H
#define VIRTIO_SUSPEND_PARAMS_H

const char *virtio_suspend_param_device(unsigned int index);
const char *virtio_suspend_param_suspend(void);
const char *virtio_suspend_param_dialect(void);
unsigned int virtio_suspend_param_timeout_ms(void);
unsigned int virtio_suspend_param_stop_feature_bit(void);
bool virtio_suspend_param_control_classic(void);

#endif /* VIRTIO_SUSPEND_PARAMS_H */

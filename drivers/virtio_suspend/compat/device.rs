// SPDX-License-Identifier: GPL-2.0

//! What 6.12's `kernel::device::Device` keeps to the kernel crate.

use kernel::{bindings, device::Device};

/// The C `struct device` of `dev` (6.13 makes `Device::as_raw` public).
pub(crate) fn as_raw(dev: &Device) -> *mut bindings::device {
    // `Device` is a transparent wrapper of `struct device`.
    core::ptr::from_ref(dev).cast_mut().cast()
}

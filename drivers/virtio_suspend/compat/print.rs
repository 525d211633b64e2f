// SPDX-License-Identifier: GPL-2.0

//! `dev_err!` and `dev_warn!`: messages prefixed with the
//! driver and device name, as the C `dev_*()` functions print them.
//!
//! 6.12's kernel crate has no device printing (it arrives in 6.13); this
//! uses the same mechanism as upstream's, the `%pA` printk extension that
//! formats a `core::fmt::Arguments`.

use core::fmt;
use kernel::{bindings, c_str, device::Device, ffi::c_void, str::CStr};

/// A printk log level.
#[derive(Clone, Copy)]
pub(crate) enum Level {
    Err,
    Warn,
}

impl Level {
    fn prefix(self) -> &'static CStr {
        match self {
            Level::Err => c_str!("\x013"),
            Level::Warn => c_str!("\x014"),
        }
    }
}

/// Prints `args` at `level` for `dev`. Use the macros instead.
pub(crate) fn dev_printk(dev: &Device, level: Level, args: fmt::Arguments<'_>) {
    let raw = super::device::as_raw(dev);
    // SAFETY: `raw` points to a live device for the duration of the call;
    // "%pA" makes printk format the `fmt::Arguments` it is given a pointer
    // to, which lives on this stack frame until `_dev_printk` returns.
    unsafe {
        bindings::_dev_printk(
            level.prefix().as_char_ptr(),
            raw,
            c_str!("%pA").as_char_ptr(),
            (&args as *const fmt::Arguments<'_>).cast::<c_void>(),
        )
    };
}

/// Logs an error for a device: `dev_err!(dev, "...\n", args)`.
macro_rules! dev_err {
    ($dev:expr, $($arg:tt)*) => {
        $crate::compat::print::dev_printk($dev, $crate::compat::print::Level::Err, format_args!($($arg)*))
    };
}

/// Logs a warning for a device.
macro_rules! dev_warn {
    ($dev:expr, $($arg:tt)*) => {
        $crate::compat::print::dev_printk($dev, $crate::compat::print::Level::Warn, format_args!($($arg)*))
    };
}

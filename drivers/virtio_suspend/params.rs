// SPDX-License-Identifier: GPL-2.0

//! Module parameters, declared in `params.c`, validated here.

use kernel::{
    ffi::{c_char, c_uint},
    prelude::*,
};

use crate::logic::dialect::{Dialect, STOP_FEATURE_BITS};

extern "C" {
    fn virtio_suspend_param_device(index: c_uint) -> *const c_char;
    fn virtio_suspend_param_suspend() -> *const c_char;
    fn virtio_suspend_param_dialect() -> *const c_char;
    fn virtio_suspend_param_timeout_ms() -> c_uint;
    fn virtio_suspend_param_stop_feature_bit() -> c_uint;
    fn virtio_suspend_param_control_classic() -> bool;
}

/// A string parameter.
///
/// # Safety
///
/// `ptr` must come from one of the accessors of `params.c`.
unsafe fn param_str(ptr: *const c_char) -> Option<&'static CStr> {
    // SAFETY: a non-NULL parameter is a NUL-terminated string that the
    // module loader set before `init` and that stays unchanged while the
    // module is loaded (every parameter is read-only).
    (!ptr.is_null()).then(|| unsafe { CStr::from_char_ptr(ptr) })
}

/// The `device=` entries, in the order given.
pub(crate) fn devices() -> impl Iterator<Item = &'static CStr> {
    (0..)
        // SAFETY: the accessor is callable at any time.
        .map(|i| unsafe { param_str(virtio_suspend_param_device(i)) })
        .take_while(Option::is_some)
        .flatten()
}

/// Bounds of `suspend_timeout_ms`.
const TIMEOUT_MS_RANGE: core::ops::RangeInclusive<u32> = 1..=60_000;

/// The validated SUSPEND settings.
#[derive(Clone, Copy)]
pub(crate) struct SuspendParams {
    /// The dialect to negotiate; `None` with `suspend=off`.
    pub(crate) dialect: Option<Dialect>,
    pub(crate) timeout_us: u64,
    /// Whether the debugfs control file may take the reset-based path
    /// (`control_classic`).
    pub(crate) control_classic: bool,
    /// The STOP draft's feature bit, in [`STOP_FEATURE_BITS`] with
    /// `dialect=stop`.
    stop_feature_bit: u32,
}

impl SuspendParams {
    /// The feature bit through which a device offers `dialect`.
    pub(crate) fn feature_bit(&self, dialect: Dialect) -> u32 {
        dialect.feature_bit().unwrap_or(self.stop_feature_bit)
    }

    /// Reads and checks `suspend`, `dialect`, `stop_feature_bit` and
    /// `suspend_timeout_ms`, saying what is wrong with the first bad one,
    /// and reads `control_classic`.
    pub(crate) fn get() -> Result<Self> {
        // SAFETY: the accessors are callable at any time.
        let (suspend, dialect, timeout_ms, stop_feature_bit, control_classic) = unsafe {
            (
                param_str(virtio_suspend_param_suspend()),
                param_str(virtio_suspend_param_dialect()),
                virtio_suspend_param_timeout_ms(),
                virtio_suspend_param_stop_feature_bit(),
                virtio_suspend_param_control_classic(),
            )
        };
        fn text(p: Option<&'static CStr>) -> &'static str {
            p.and_then(|s| s.to_str().ok()).unwrap_or("")
        }
        let enabled = match text(suspend) {
            "auto" => true,
            "off" => false,
            other => {
                pr_err!("suspend={other}: expected auto or off\n");
                return Err(EINVAL);
            }
        };
        let Some(dialect) = Dialect::parse(text(dialect)) else {
            pr_err!("dialect={}: expected spec, v5 or stop\n", text(dialect));
            return Err(EINVAL);
        };
        match (dialect, stop_feature_bit) {
            (Dialect::Stop, bit) if !STOP_FEATURE_BITS.contains(&bit) => {
                pr_err!(
                    "dialect=stop needs stop_feature_bit={}..{} (given {bit}): the draft's bit 41 is VIRTIO_F_ADMIN_VQ in the merged spec\n",
                    STOP_FEATURE_BITS.start(),
                    STOP_FEATURE_BITS.end()
                );
                return Err(EINVAL);
            }
            (Dialect::Spec | Dialect::V5, bit) if bit != 0 => {
                pr_err!(
                    "stop_feature_bit={bit} applies to dialect=stop only, not {}\n",
                    dialect.name()
                );
                return Err(EINVAL);
            }
            _ => {}
        }
        if !TIMEOUT_MS_RANGE.contains(&timeout_ms) {
            pr_err!(
                "suspend_timeout_ms={timeout_ms}: expected {} to {}\n",
                TIMEOUT_MS_RANGE.start(),
                TIMEOUT_MS_RANGE.end()
            );
            return Err(EINVAL);
        }
        Ok(Self {
            dialect: enabled.then_some(dialect),
            timeout_us: u64::from(timeout_ms) * 1000,
            control_classic,
            stop_feature_bit,
        })
    }
}

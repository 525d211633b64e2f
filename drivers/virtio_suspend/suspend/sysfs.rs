// SPDX-License-Identifier: GPL-2.0

//! `/sys/bus/virtio/devices/virtioN/suspend/`: what SUSPEND did for a
//! device (Documentation/ABI/testing/sysfs-bus-virtio-suspend).

use core::fmt::{self, Write};
use core::ptr;

use kernel::{bindings, c_str, container_of, prelude::*};

use crate::transport;

/// A C table the kernel only reads.
#[repr(transparent)]
struct Table<T>(T);

// SAFETY: the tables are never written after initialization; the raw
// pointers in them point to other immutable statics.
unsafe impl<T> Sync for Table<T> {}

const fn read_only(name: &'static CStr) -> bindings::device_attribute {
    // SAFETY: all-zero is a valid attribute with no callbacks.
    let mut attr: bindings::device_attribute = unsafe { core::mem::zeroed() };
    attr.attr.name = name.as_char_ptr();
    attr.attr.mode = 0o444;
    attr.show = Some(show);
    attr
}

const NAMES: [&CStr; 11] = [
    c_str!("dialect"),
    c_str!("state"),
    c_str!("suspends"),
    c_str!("resumes"),
    c_str!("fallbacks"),
    c_str!("timeouts"),
    c_str!("needs_reset"),
    c_str!("last_suspend_us"),
    c_str!("last_resume_us"),
    c_str!("last_path"),
    c_str!("held_by"),
];

static ATTRS: Table<[bindings::device_attribute; 11]> = Table([
    read_only(NAMES[0]),
    read_only(NAMES[1]),
    read_only(NAMES[2]),
    read_only(NAMES[3]),
    read_only(NAMES[4]),
    read_only(NAMES[5]),
    read_only(NAMES[6]),
    read_only(NAMES[7]),
    read_only(NAMES[8]),
    read_only(NAMES[9]),
    read_only(NAMES[10]),
]);

static ATTR_PTRS: Table<[*mut bindings::attribute; 12]> = Table([
    (&raw const ATTRS.0[0].attr).cast_mut(),
    (&raw const ATTRS.0[1].attr).cast_mut(),
    (&raw const ATTRS.0[2].attr).cast_mut(),
    (&raw const ATTRS.0[3].attr).cast_mut(),
    (&raw const ATTRS.0[4].attr).cast_mut(),
    (&raw const ATTRS.0[5].attr).cast_mut(),
    (&raw const ATTRS.0[6].attr).cast_mut(),
    (&raw const ATTRS.0[7].attr).cast_mut(),
    (&raw const ATTRS.0[8].attr).cast_mut(),
    (&raw const ATTRS.0[9].attr).cast_mut(),
    (&raw const ATTRS.0[10].attr).cast_mut(),
    ptr::null_mut(),
]);

static GROUP: Table<bindings::attribute_group> = Table({
    // SAFETY: all-zero is a valid, empty attribute group.
    let mut group: bindings::attribute_group = unsafe { core::mem::zeroed() };
    group.name = c_str!("suspend").as_char_ptr();
    group.attrs = (&raw const ATTR_PTRS.0)
        .cast::<*mut bindings::attribute>()
        .cast_mut();
    group
});

static GROUPS: Table<[*const bindings::attribute_group; 2]> =
    Table([&raw const GROUP.0, ptr::null()]);

/// The attribute groups to give a virtio device before registering it.
pub(crate) fn groups() -> *mut *const bindings::attribute_group {
    (&raw const GROUPS.0)
        .cast::<*const bindings::attribute_group>()
        .cast_mut()
}

/// Formats into a sysfs page.
struct Page {
    buf: *mut u8,
    len: usize,
}

impl Write for Page {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // sysfs pages are PAGE_SIZE bytes; our values are short.
        if self.len + s.len() >= bindings::PAGE_SIZE {
            return Err(fmt::Error);
        }
        // SAFETY: `buf` is a page that sysfs gave `show`, and the check
        // above keeps the copy inside it.
        unsafe { ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.len), s.len()) };
        self.len += s.len();
        Ok(())
    }
}

/// # Safety
///
/// Only for sysfs: `dev` must be the device of a registered virtio
/// device of one of our transports, `attr` one of [`ATTRS`], `buf` a page.
unsafe extern "C" fn show(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *mut u8,
) -> isize {
    // SAFETY: `attr` is one of ours; its name is a static C string.
    let name = unsafe { CStr::from_char_ptr((*attr).attr.name) };
    // SAFETY: the groups are only given to our transports' virtio
    // devices, which are live while sysfs shows their attributes.
    let device =
        unsafe { transport::lookup(container_of!(dev, bindings::virtio_device, dev).cast_mut()) };
    let Some(device) = device else {
        return -(bindings::ENODEV as isize);
    };
    let mut page = Page { buf, len: 0 };
    match device.sysfs_show(name.to_str().unwrap_or(""), &mut page) {
        Ok(()) => page.len as isize,
        Err(_) => -(bindings::EIO as isize),
    }
}

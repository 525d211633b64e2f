// SPDX-License-Identifier: GPL-2.0

//! Read-only sysfs attributes of a virtio device, in static tables that
//! [`Registration::register`](super::Registration::register) gives the
//! device before it is registered: the driver core creates the files with
//! the device and removes them (waiting for readers) when it is
//! unregistered.
//!
//! ```ignore
//! static ATTRS: [Attribute; 2] = [Attribute::read_only::<S>(c_str!("a")), ...];
//! static LIST: AttributeList<2> = AttributeList::new(&ATTRS);
//! static GROUP: AttributeGroup = AttributeGroup::new(c_str!("dir"), &LIST);
//! static GROUPS: AttributeGroups<1> = AttributeGroups::new([&GROUP]);
//! ```

use core::fmt::{self, Write};
use core::ptr;

use kernel::{bindings, container_of, prelude::*};

use super::Device;

/// What a virtio device's read-only attributes show.
pub(crate) trait Show {
    /// Writes the value of attribute `name` of `vdev` to `out`.
    fn show(vdev: &Device, name: &str, out: &mut dyn Write) -> Result;
}

/// One read-only attribute (`struct device_attribute`).
#[repr(transparent)]
pub(crate) struct Attribute(bindings::device_attribute);

/// The attributes of a group, NULL-terminated as `attribute_group.attrs`
/// must be.
#[repr(C)]
pub(crate) struct AttributeList<const N: usize> {
    attrs: [*mut bindings::attribute; N],
    end: *mut bindings::attribute,
}

/// A named group of attributes: a directory under the device's.
#[repr(transparent)]
pub(crate) struct AttributeGroup(bindings::attribute_group);

/// The groups of a device, NULL-terminated as `device.groups` must be.
#[repr(C)]
pub(crate) struct AttributeGroups<const N: usize> {
    groups: [*const bindings::attribute_group; N],
    end: *const bindings::attribute_group,
}

// SAFETY: the tables are only built in constant initializers and never
// written after; the kernel only reads them, from any thread; the
// pointers in them point to static C strings, functions, or other tables
// of this kind, which are `'static` (the constructors take `&'static`).
unsafe impl Sync for Attribute {}
// SAFETY: As for `Attribute`.
unsafe impl<const N: usize> Sync for AttributeList<N> {}
// SAFETY: As for `Attribute`.
unsafe impl Sync for AttributeGroup {}
// SAFETY: As for `Attribute`.
unsafe impl<const N: usize> Sync for AttributeGroups<N> {}

impl Attribute {
    /// Attribute `name`, mode 0444, whose value `S` shows.
    pub(crate) const fn read_only<S: Show>(name: &'static CStr) -> Self {
        // SAFETY: all-zero is a valid attribute with no callbacks.
        let mut attr: bindings::device_attribute = unsafe { core::mem::zeroed() };
        attr.attr.name = name.as_char_ptr();
        attr.attr.mode = 0o444;
        attr.show = Some(show::<S>);
        Self(attr)
    }
}

impl<const N: usize> AttributeList<N> {
    pub(crate) const fn new(attrs: &'static [Attribute; N]) -> Self {
        let mut list = [ptr::null_mut(); N];
        let mut i = 0;
        while i < N {
            list[i] = ptr::from_ref(&attrs[i].0.attr).cast_mut();
            i += 1;
        }
        Self {
            attrs: list,
            end: ptr::null_mut(),
        }
    }
}

impl AttributeGroup {
    pub(crate) const fn new<const N: usize>(
        name: &'static CStr,
        list: &'static AttributeList<N>,
    ) -> Self {
        // SAFETY: all-zero is a valid, empty attribute group.
        let mut group: bindings::attribute_group = unsafe { core::mem::zeroed() };
        group.name = name.as_char_ptr();
        // `repr(C)`: `end` follows the `N` pointers, so this is a
        // NULL-terminated array of them.
        group.attrs = ptr::from_ref(list)
            .cast::<*mut bindings::attribute>()
            .cast_mut();
        Self(group)
    }
}

impl<const N: usize> AttributeGroups<N> {
    pub(crate) const fn new(groups: [&'static AttributeGroup; N]) -> Self {
        let mut list = [ptr::null(); N];
        let mut i = 0;
        while i < N {
            list[i] = ptr::from_ref(&groups[i].0);
            i += 1;
        }
        Self {
            groups: list,
            end: ptr::null(),
        }
    }

    /// The NULL-terminated array `device.groups` takes.
    pub(super) fn as_raw(&'static self) -> *mut *const bindings::attribute_group {
        ptr::from_ref(self)
            .cast::<*const bindings::attribute_group>()
            .cast_mut()
    }
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
/// Only for sysfs: `dev` is the device of a virtio device, `attr` an
/// [`Attribute`] (with a static C string as name), `buf` a page. Both
/// hold because the attributes reach the kernel only through
/// [`AttributeGroups`], which only virtio devices are given, and sysfs
/// shows them only while the device is registered.
unsafe extern "C" fn show<S: Show>(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *mut u8,
) -> isize {
    // SAFETY: `attr` is one of ours; its name is a static C string.
    let name = unsafe { CStr::from_char_ptr((*attr).attr.name) };
    // SAFETY: `dev` is embedded in a registered virtio device (see above),
    // and `Device` is a transparent wrapper of `struct virtio_device`.
    let vdev = unsafe { &*container_of!(dev, bindings::virtio_device, dev).cast::<Device>() };
    let mut page = Page { buf, len: 0 };
    match S::show(vdev, name.to_str().unwrap_or(""), &mut page) {
        Ok(()) => page.len as isize,
        Err(e) => e.to_errno() as isize,
    }
}

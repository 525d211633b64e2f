// SPDX-License-Identifier: GPL-2.0

//! `/sys/bus/virtio/devices/virtioN/suspend/`: what SUSPEND did for a
//! device (Documentation/ABI/testing/sysfs-bus-virtio-suspend).

use core::fmt::Write;

use kernel::{c_str, prelude::*};

use crate::transport;
use kernel::virtio::transport::{Attribute, AttributeGroup, AttributeGroups, AttributeList, Show};
use kernel::virtio::Device;

/// What the attributes show: the engine's account of the device.
struct SuspendAttributes;

impl Show for SuspendAttributes {
    fn show(vdev: &Device, name: &str, out: &mut dyn Write) -> Result {
        let device = transport::lookup(vdev).ok_or(ENODEV)?;
        device.sysfs_show(name, out).map_err(|_| EIO)
    }
}

const fn attribute(name: &'static CStr) -> Attribute {
    Attribute::read_only::<SuspendAttributes>(name)
}

static ATTRS: [Attribute; 11] = [
    attribute(c_str!("dialect")),
    attribute(c_str!("state")),
    attribute(c_str!("suspends")),
    attribute(c_str!("resumes")),
    attribute(c_str!("fallbacks")),
    attribute(c_str!("timeouts")),
    attribute(c_str!("needs_reset")),
    attribute(c_str!("last_suspend_us")),
    attribute(c_str!("last_resume_us")),
    attribute(c_str!("last_path")),
    attribute(c_str!("held_by")),
];

static LIST: AttributeList<11> = AttributeList::new(&ATTRS);

static GROUP: AttributeGroup = AttributeGroup::new(c_str!("suspend"), &LIST);

/// The attribute groups to give a virtio device when registering it.
pub(crate) static GROUPS: AttributeGroups<1> = AttributeGroups::new([&GROUP]);

// SPDX-License-Identifier: GPL-2.0

//! The virtio core, as a transport sees it: the device it registers, the
//! `virtio_config_ops` table stock drivers call it through, and the
//! virtqueues of `virtio_ring`, the device's sysfs attributes and a
//! notifier for driver unbinds on the virtio bus.
//!
//! 6.12 has no Rust virtio abstractions; these are the transport half,
//! shaped as a `kernel::virtio` would be.

mod attributes;
mod config_ops;
mod device;
mod unbind;
mod vring;

pub(crate) use attributes::{Attribute, AttributeGroup, AttributeGroups, AttributeList, Show};
pub(crate) use config_ops::{embed_virtio_device, ConfigOps, EmbedsDevice, Transport};
pub(crate) use device::{
    Device, DeviceId, DeviceRef, Negotiation, Registration, ResetWait, TransportRef,
};
pub(crate) use unbind::{UnbindHandler, UnbindNotifier, UnbindNotifierOpen};
pub(crate) use vring::{hold_sync, NewQueue, Notification, Notifier, Queue, QueueSetup, Vring};

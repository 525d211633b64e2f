// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/virtio_suspend/<virtioN>`: suspends and resumes one
//! device without system sleep, for tests and benchmarks. Write
//! `suspend`, `resume` or `cycle` (suspend then resume); `notify` sends a
//! notification for every queue at once, whatever the state: written
//! while the device is suspended it breaks the SUSPEND rules on purpose,
//! to test a device's detection of that. A device without SUSPEND is
//! suspended only with `control_classic=Y` (see `Machine::new`).

use kernel::{c_str, prelude::*, str::CString};

use super::SuspendTransport;
use crate::compat::debugfs::{self, StaticDir, StaticDirGuard};
use crate::transport;
use kernel::virtio::transport::{DeviceRef, Registration, Transport};

/// What a write to the control file asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Suspend,
    Resume,
    Cycle,
    Notify,
}

impl Command {
    fn parse(text: &[u8]) -> Option<Self> {
        match text.strip_suffix(b"\n").unwrap_or(text) {
            b"suspend" => Some(Command::Suspend),
            b"resume" => Some(Command::Resume),
            b"cycle" => Some(Command::Cycle),
            b"notify" => Some(Command::Notify),
            _ => None,
        }
    }
}

/// The module's debugfs directory.
static ROOT: StaticDir = StaticDir::new(c_str!("virtio_suspend"));

/// Creates the module's debugfs directory; removed when the guard is
/// dropped.
pub(crate) fn create_root() -> Result<StaticDirGuard> {
    ROOT.create()
}

/// What a control file's writes go to: the device, counted.
pub(crate) struct Control(DeviceRef);

impl debugfs::Write for Control {
    fn write(&self, text: &[u8]) -> Result {
        let command = Command::parse(text).ok_or(EINVAL)?;
        transport::lookup(&self.0).ok_or(ENODEV)?.control(command)
    }
}

/// One device's control file, `virtio_suspend/<virtioN>`; removed on
/// drop, after which no write to it is running or can start.
pub(crate) type ControlFile = debugfs::File<Control>;

/// Creates the control file of the device `registration` registered.
///
/// The file keeps the device allocated, not bound: its owner removes it
/// before the device is unregistered ([`super::Bound`]), since what a
/// write does drives the device, which the driver owns only while bound.
pub(super) fn create_file<T: SuspendTransport + Transport>(
    registration: &Registration<T>,
) -> Result<ControlFile> {
    let vdev = registration.device();
    let name = CString::try_from(vdev.name())?;
    ROOT.write_only_file(&name, Control(vdev))
}

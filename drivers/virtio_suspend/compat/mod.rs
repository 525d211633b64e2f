// SPDX-License-Identifier: GPL-2.0

//! Stand-ins for kernel APIs that 6.12's kernel crate does not wrap and
//! later kernels do (`kernel::driver`, `kernel::platform`, `kernel::pci`, `kernel::io`, `kernel::irq`, device printing,
//! `Device::as_raw`, `kernel::time`, `kernel::debugfs`), shaped like upstream's so that a
//! port to a newer kernel is mostly deleting this folder; and the locks
//! the PM and driver cores hold, which no kernel wraps yet.

#[macro_use]
pub(crate) mod print;
pub(crate) mod context;
pub(crate) mod debugfs;
pub(crate) mod device;
pub(crate) mod device_id;
pub(crate) mod driver;
pub(crate) mod io;
pub(crate) mod irq;
pub(crate) mod locks;
pub(crate) mod pci;
pub(crate) mod platform;
pub(crate) mod pm;
pub(crate) mod time;

// SPDX-License-Identifier: GPL-2.0

//! Device SUSPEND for system sleep, for every transport: the engine that
//! holds the queues, suspends and resumes the device or falls back to the
//! classic path (`engine`), the config changes and writes it holds
//! (`config_hold`), what it shows in sysfs (`sysfs`), the debugfs control
//! file (`control`), and the resume before a driver is unbound
//! (`unbind_watch`, `bound`), and the virtio config operations of every
//! transport (`transport_ops`). A transport embeds an [`Engine`] and
//! implements [`SuspendTransport`], its hardware access.

mod bound;
mod config_hold;
pub(crate) mod control;
mod engine;
pub(crate) mod sysfs;
pub(crate) mod transport_ops;
pub(crate) mod unbind_watch;

pub(crate) use bound::{Bound, SuspendDriver};
pub(crate) use engine::{Driven, Engine, SuspendTransport, DETACHED_QUEUE_SIZE};

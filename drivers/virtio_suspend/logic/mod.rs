// SPDX-License-Identifier: GPL-2.0

//! Pure logic of the transport: no kernel API, only `core`.
//!
//! The module compiles these files, and `tools/host-tests` compiles the
//! same files with `cargo test`, so everything here is unit-tested on the
//! host against values a real or a lying device could present.

pub(crate) mod busy_wait;
pub(crate) mod cmdline;
pub(crate) mod config_writes;
pub(crate) mod dialect;
pub(crate) mod mmio;
pub(crate) mod pci;
pub(crate) mod suspend;

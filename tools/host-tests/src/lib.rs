// SPDX-License-Identifier: GPL-2.0

//! Host-side unit tests of the module's pure logic.
//!
//! The files under `drivers/virtio_suspend/logic/` use nothing but `core`;
//! they are compiled here unchanged, exactly as the module compiles them.

// Items the tests do not reach are still used by the module.
#[allow(dead_code)]
#[path = "../../../drivers/virtio_suspend/logic/mod.rs"]
mod logic;

/// The Rust virtio-rng sample's pure logic (`samples/rust/`).
#[allow(dead_code)]
#[path = "../../../samples/rust/rng_pool.rs"]
mod rng_pool;

#[cfg(test)]
mod busy_wait_tests;
#[cfg(test)]
mod cmdline_tests;
#[cfg(test)]
mod config_writes_tests;
#[cfg(test)]
mod mmio_tests;
#[cfg(test)]
mod pci_tests;
#[cfg(test)]
mod rng_pool_tests;
#[cfg(test)]
mod suspend_model;
#[cfg(test)]
mod suspend_tests;

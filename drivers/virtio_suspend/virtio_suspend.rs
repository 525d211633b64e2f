// SPDX-License-Identifier: GPL-2.0

//! virtio_suspend: virtio transports (virtio-mmio, virtio-pci) in Rust.
//!
//! Finds virtio-mmio devices (ACPI `LNRO0005`, devicetree `virtio,mmio`,
//! or the `device=` parameter) and modern virtio-pci functions, and
//! registers each with the virtio core, so that the stock virtio drivers
//! bind to them, with device SUSPEND for system sleep. See
//! `Documentation/virtio-suspend.rst`.

// The reset-based fallback is the virtio core's freeze and restore,
// which exist with system sleep only, as does the point of the module.
#[cfg(not(CONFIG_PM_SLEEP))]
compile_error!("virtio_suspend needs CONFIG_PM_SLEEP");

#[macro_use]
mod compat;

mod logic;
mod params;
mod suspend;
mod transport;

use kernel::{c_str, prelude::*};

use compat::{pci, platform};
use logic::cmdline::{self, CmdlineDevice};
use suspend::{control, unbind_watch};
use transport::mmio::{MmioDriver, DRIVER_NAME};
use transport::pci::PciDriver;

module! {
    type: VirtioSuspendModule,
    name: "virtio_suspend",
    author: "virtio-suspend developers",
    description: "virtio-mmio and virtio-pci transports with device SUSPEND for system sleep",
    license: "GPL",
}

struct VirtioSuspendModule {
    // Dropped first: unbinding every device before the devices that
    // `device=` created are unregistered, and before the debugfs
    // directory their control files are in goes away.
    _driver: platform::Registration<MmioDriver>,
    _pci_driver: pci::Registration<PciDriver>,
    // After the driver: every device is unbound, nothing left to watch.
    _unbind_watch: kernel::virtio::transport::UnbindNotifierOpen<unbind_watch::ResumeBeforeUnbind>,
    _cmdline_devices: Option<platform::ModuleDevices>,
    _debugfs: compat::debugfs::StaticDirGuard,
}

/// Parses every `device=` entry, so a typo refuses the load with a
/// message instead of leaving a device silently missing.
fn parse_cmdline_devices() -> Result<KVec<CmdlineDevice>> {
    let mut devices = KVec::new();
    for entry in params::devices() {
        let text = entry.to_str().map_err(|_| EINVAL)?;
        let parsed = cmdline::parse(text).map_err(|e| {
            pr_err!("device={text}: {e}\n");
            EINVAL
        })?;
        devices.push(parsed, GFP_KERNEL)?;
    }
    Ok(devices)
}

impl kernel::Module for VirtioSuspendModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // Refuse a bad parameter at load, not at the first probe.
        params::SuspendParams::get()?;
        let wanted = parse_cmdline_devices()?;
        let debugfs = control::create_root()?;
        let unbind_watch = unbind_watch::open()?;
        let driver = platform::Registration::register(module)?;
        let pci_driver = pci::Registration::register(module)?;
        let cmdline_devices = if wanted.is_empty() {
            None
        } else {
            let mut devices =
                platform::ModuleDevices::new(c_str!("virtio-suspend-cmdline"), module)?;
            for (n, d) in wanted.iter().enumerate() {
                let id = d.id.map_or(n as i32, |id| id as i32);
                pr_info!(
                    "registering {}.{id} at {:#x}-{:#x}, IRQ {}\n",
                    DRIVER_NAME,
                    d.base,
                    d.base + (d.size - 1),
                    d.irq
                );
                devices.add_mmio_device(DRIVER_NAME, id, d.base, d.size, d.irq)?;
            }
            Some(devices)
        };
        Ok(Self {
            _driver: driver,
            _pci_driver: pci_driver,
            _unbind_watch: unbind_watch,
            _cmdline_devices: cmdline_devices,
            _debugfs: debugfs,
        })
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The virtio-pci transport, modern interface: a PCI driver for virtio
//! devices that registers each as a virtio device, so that the kernel's
//! stock virtio drivers bind to it. Legacy-only devices are left to the
//! C `virtio_pci`.
//!
//! System sleep meets PCI power management here: after the suspend
//! callbacks the PCI core saves config space and puts the device into
//! D3hot, and leaving D3hot resets a device whose PM capability does not
//! set No_Soft_Reset, which would throw away what SUSPEND kept. Such a
//! device stays in D0 while it is SUSPENDed (see
//! `Documentation/virtio-suspend.rst`).

mod device;

use kernel::{c_str, device::Device, prelude::*};

use crate::compat::device_id::{IdArray, IdTable};
use crate::compat::io::IoMem;
use crate::compat::pci;
use crate::logic::pci::{
    parse_capabilities, virtio_device_id, Bar, CapError, CfgType, IdentityError, Region, NUM_BARS,
    VENDOR_ID,
};
use crate::params::SuspendParams;
use crate::suspend::{self, Bound, SuspendDriver};
use kernel::virtio::{transport::Registration, DeviceId};

pub(crate) use device::PciDevice;
use device::{Regions, COMMON_SIZE};

/// The PCI driver; its name is what sysfs shows as the transport.
pub(crate) struct PciDriver;

pub(crate) const DRIVER_NAME: &CStr = c_str!("virtio-suspend-pci");

// Every device of the virtio vendor; probe sorts out the others (the
// vendor also has non-virtio devices, such as ivshmem).
static PCI_IDS: IdArray<pci::DeviceId, 1> = IdArray::new([pci::DeviceId::from_vendor(VENDOR_ID)]);

/// The BARs' lengths and types, as the capability parser checks them.
fn bars(pdev: &pci::Device) -> [Bar; NUM_BARS] {
    let mut bars = [Bar::default(); NUM_BARS];
    for (n, bar) in bars.iter_mut().enumerate() {
        let (len, is_mem) = pdev.bar(n as u8);
        *bar = Bar { len, is_mem };
    }
    bars
}

/// Maps each BAR the structures lie in, once, and hands out the regions.
struct BarMaps<'a> {
    pdev: &'a pci::Device,
    maps: [Option<IoMem>; NUM_BARS],
}

impl BarMaps<'_> {
    fn region<const N: usize>(&mut self, region: Region) -> Result<IoMem<N>> {
        let slot = &mut self.maps[usize::from(region.bar)];
        if slot.is_none() {
            *slot = Some(self.pdev.iomap_region(region.bar, DRIVER_NAME)?);
        }
        let map = slot.as_ref().ok_or(EINVAL)?;
        map.subregion::<N>(region.offset as usize, region.length as usize)
    }
}

/// Finds and maps the device's structures; logs why a device is refused.
fn map_regions(pdev: &pci::Device, dev: &Device) -> Result<Regions> {
    let layout = parse_capabilities(
        &bars(pdev),
        |at| pdev.read_config_u8(at),
        |at| pdev.read_config_u32(at),
    )
    .map_err(|e| {
        if e == CapError::Missing(CfgType::Common) && pdev.device_id() < 0x1040 {
            dev_err!(
                dev,
                "{}: left to the C virtio_pci driver\n",
                IdentityError::LegacyOnly
            );
            ENODEV
        } else {
            dev_err!(dev, "refused: {e}\n");
            EINVAL
        }
    })?;
    // Shared memory is not mapped: the driver asking for a region gets
    // its bus address. A bad one is refused here, once.
    let mut shm = KVec::new();
    for region in layout.shm.iter().flatten() {
        match region.region {
            Ok(r) => shm.push(
                (region.id, pdev.bar_start(r.bar) + r.offset, r.length),
                GFP_KERNEL,
            )?,
            Err(e) => dev_warn!(
                dev,
                "shared memory region {}: {e}; not offered\n",
                region.id
            ),
        }
    }
    let mut maps = BarMaps {
        pdev,
        maps: Default::default(),
    };
    Ok(Regions {
        common: maps.region::<COMMON_SIZE>(layout.common)?,
        isr: maps.region::<1>(layout.isr)?,
        notify: maps.region::<0>(layout.notify)?,
        notify_off_multiplier: layout.notify_off_multiplier,
        device: layout.device.map(|d| maps.region::<0>(d)).transpose()?,
        shm,
    })
}

impl SuspendDriver for PciDriver {
    type Device = PciDevice;
}

impl pci::Driver for PciDriver {
    const NAME: &'static CStr = DRIVER_NAME;
    const ID_TABLE: &'static dyn IdTable<pci::DeviceId> = &PCI_IDS;

    fn probe(pdev: &pci::Device) -> Result<KBox<Bound<PciDevice>>> {
        let dev = pdev.as_dev();
        // Not a virtio device of the vendor: not ours, quietly.
        let virtio_id =
            virtio_device_id(pdev.device_id(), pdev.subsystem_device_id()).map_err(|_| ENODEV)?;
        let params = SuspendParams::get()?;
        pdev.enable_device().inspect_err(|e| {
            dev_err!(dev, "cannot enable the device: error {}\n", e.to_errno());
        })?;
        let regions = map_regions(pdev, dev)?;
        if pdev.set_dma_mask(64).is_err() && pdev.set_dma_mask(32).is_err() {
            dev_warn!(
                dev,
                "cannot set a 64- or 32-bit DMA mask; trying to continue, DMA may fail\n"
            );
        }
        pdev.set_master();
        let no_soft_reset = pdev.no_soft_reset();
        let device = KBox::pin_init(
            PciDevice::new(pdev.get_ref(), regions, no_soft_reset, params),
            GFP_KERNEL,
        )?;
        // As the C transport: drivers may match the subsystem vendor.
        let id = DeviceId {
            device: virtio_id,
            vendor: u32::from(pdev.subsystem_vendor_id()),
        };
        let registration = Registration::register(device, dev, id, &suspend::sysfs::GROUPS)?;
        Ok(KBox::new(Bound::new(registration), GFP_KERNEL)?)
    }

    fn remove(pdev: &pci::Device, data: KBox<Bound<PciDevice>>) {
        // As `virtio_pci_remove`: drivers whose remove waits on a queue
        // (virtio_console's control messages) must see it broken, not
        // wait for a device that is not there (and a frozen driver is
        // restored onto the detached device: see `Driven::vanished`).
        if !pdev.is_present() {
            data.device().vanished();
        }
        drop(data);
    }

    fn suspend_noirq(pdev: &pci::Device, bound: &Bound<PciDevice>) -> Result {
        if !bound.get().may_power_down() {
            pdev.save_state_keeping_d0();
        }
        Ok(())
    }
}

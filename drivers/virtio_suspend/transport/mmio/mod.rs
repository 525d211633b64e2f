// SPDX-License-Identifier: GPL-2.0

//! The virtio-mmio transport: a platform driver that finds virtio-mmio
//! devices and registers each as a virtio device, so that the kernel's
//! stock virtio drivers bind to it.

mod device;
mod regs;

use kernel::{c_str, device::Device, prelude::*};

use crate::compat::device_id::{IdArray, IdTable};
use crate::compat::platform;
use crate::logic::mmio::{identify, IdentityError, WindowTooSmall, CONFIG_OFFSET, MAGIC};
use crate::params::SuspendParams;
use crate::suspend::{self, Bound, SuspendDriver};
use kernel::virtio::{transport::Registration, DeviceId};

pub(crate) use device::MmioDevice;
use regs::MmioRegs;

/// The platform driver; its name is what sysfs shows as the transport.
pub(crate) struct MmioDriver;

/// Name of the driver, and of the platform devices `device=` creates.
pub(crate) const DRIVER_NAME: &CStr = c_str!("virtio-suspend-mmio");

/// Why `identify` refused a device, as the error probe returns; logs a
/// line a user can act on (nothing for an empty slot).
fn refuse(dev: &Device, e: IdentityError) -> Error {
    match e {
        IdentityError::BadMagic(magic) => {
            dev_warn!(dev, "wrong magic value {magic:#010x} (virtio-mmio devices read {MAGIC:#010x}): no device here\n");
            ENODEV
        }
        IdentityError::Legacy => {
            dev_err!(dev, "legacy virtio-mmio device (version 1) is not supported; the kernel's virtio_mmio driver handles it\n");
            ENXIO
        }
        IdentityError::UnknownVersion(v) => {
            dev_err!(
                dev,
                "virtio-mmio version {v} is not supported (only version 2)\n"
            );
            ENXIO
        }
        IdentityError::Placeholder => ENODEV,
    }
}

// What QEMU's microvm and Linux's DT bindings call a virtio-mmio slot.
static MMIO_ACPI_IDS: IdArray<platform::AcpiDeviceId, 1> =
    IdArray::new([platform::AcpiDeviceId::new("LNRO0005")]);
static MMIO_OF_IDS: IdArray<platform::OfDeviceId, 1> =
    IdArray::new([platform::OfDeviceId::new("virtio,mmio")]);

impl SuspendDriver for MmioDriver {
    type Device = MmioDevice;
}

impl platform::Driver for MmioDriver {
    const NAME: &'static CStr = DRIVER_NAME;
    const ACPI_IDS: &'static dyn IdTable<platform::AcpiDeviceId> = &MMIO_ACPI_IDS;
    const OF_IDS: &'static dyn IdTable<platform::OfDeviceId> = &MMIO_OF_IDS;

    fn probe(pdev: &platform::Device) -> Result<KBox<Bound<MmioDevice>>> {
        let dev = pdev.as_dev();
        let params = SuspendParams::get()?;
        let window = pdev.map_mmio(0).inspect_err(|e| {
            dev_err!(dev, "cannot map the MMIO window: error {}\n", e.to_errno());
        })?;
        let regs = MmioRegs::new(window).map_err(|WindowTooSmall(n)| {
            dev_err!(
                dev,
                "MMIO window of {n} bytes cannot hold the {CONFIG_OFFSET:#x}-byte register block\n"
            );
            EINVAL
        })?;
        let id = identify(|r| regs.read(r)).map_err(|e| refuse(dev, e))?;
        let irq = pdev.irq(0)?;
        if pdev.set_dma_mask(64).is_err() && pdev.set_dma_mask(32).is_err() {
            dev_warn!(
                dev,
                "cannot set a 64- or 32-bit DMA mask; trying to continue, DMA may fail\n"
            );
        }
        let device = KBox::pin_init(
            MmioDevice::new(pdev.get_ref(), regs, irq, params),
            GFP_KERNEL,
        )?;
        let id = DeviceId {
            device: id.device_id,
            vendor: id.vendor_id,
        };
        let registration = Registration::register(device, dev, id, &suspend::sysfs::GROUPS)?;
        Ok(KBox::new(Bound::new(registration), GFP_KERNEL)?)
    }

    fn remove(_pdev: &platform::Device, data: KBox<Bound<MmioDevice>>) {
        drop(data);
    }
}

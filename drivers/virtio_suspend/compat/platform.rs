// SPDX-License-Identifier: GPL-2.0

//! Platform bus: a driver registration, the device a driver is probed
//! with, firmware match tables, and devices created by the module.
//!
//! 6.12's kernel crate has no platform abstractions; this is the subset a
//! virtio-mmio transport needs, in the shape later kernels give it.

use core::marker::PhantomData;
use core::ptr::NonNull;

use super::device_id::{IdTable, RawDeviceId};
use super::driver::{self, RegistrationOps};
use super::io::{Claim, IoMem, Mapping, Space, Unmap};
use super::pm::{PmOps, SleepCallbacks};

use kernel::{
    bindings, device,
    error::{from_err_ptr, from_result, to_result},
    ffi::{c_int, c_void},
    prelude::*,
    types::Opaque,
    ThisModule,
};

/// A platform device that a driver is bound to or being probed with.
#[repr(transparent)]
pub(crate) struct Device(Opaque<bindings::platform_device>);

impl Device {
    /// # Safety
    ///
    /// `ptr` must point to a live platform device for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::platform_device) -> &'a Self {
        // SAFETY: `Device` is a transparent wrapper of the C struct; the
        // caller guarantees liveness.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::platform_device {
        self.0.get()
    }

    /// The generic device embedded in this platform device.
    pub(crate) fn as_dev(&self) -> &device::Device {
        // SAFETY: `dev` is embedded in a live platform device, and
        // `device::Device` is a transparent wrapper of `struct device`.
        unsafe { device::Device::as_ref(&raw mut (*self.as_raw()).dev) }
    }

    /// The Linux IRQ number of interrupt resource `index`.
    pub(crate) fn irq(&self, index: u32) -> Result<u32> {
        // SAFETY: `as_raw` is a live platform device.
        let irq = unsafe { bindings::platform_get_irq(self.as_raw(), index) };
        to_result(irq)?;
        Ok(irq as u32)
    }

    /// Claims memory resource `index` and maps it whole, for as long as
    /// the returned region, or any made from it, lives (see
    /// [`IoMem`]). The claim is named after the device.
    pub(crate) fn map_mmio(&self, index: u32) -> Result<IoMem> {
        // SAFETY: `as_raw` is a live platform device.
        let res = unsafe {
            bindings::platform_get_resource(self.as_raw(), bindings::IORESOURCE_MEM, index)
        };
        if res.is_null() {
            return Err(ENODEV);
        }
        // SAFETY: a non-NULL resource of a live device is valid.
        let (start, len) = unsafe { ((*res).start, (*res).end - (*res).start + 1) };
        let pdev = self.get_ref();
        // SAFETY: the device's name lives as long as the device, which the
        // mapping keeps (`_pdev`, dropped after the claim).
        let claim = unsafe { Claim::new(Space::Memory, start, len, pdev.dev_name()) }.inspect_err(
            |_| {
                dev_err!(
                    self.as_dev(),
                    "memory {start:#x}+{len:#x} is claimed by another driver\n"
                )
            },
        )?;
        // SAFETY: `ioremap` accepts any range; it fails with NULL.
        let base = unsafe { bindings::ioremap(start, len as _) };
        let base = NonNull::new(base).ok_or(ENOMEM)?;
        // SAFETY: an `ioremap`ped address is an `iomap` cookie (`ioread`
        // and `iowrite` take it), just made for the `len` bytes `claim`
        // holds; `iounmap` undoes it.
        let mapping = unsafe { Mapping::new(claim, base, len as usize, Iounmap { _pdev: pdev }) };
        IoMem::new(mapping)
    }

    /// Sets the streaming and coherent DMA masks to `bits` bits.
    pub(crate) fn set_dma_mask(&self, bits: u32) -> Result {
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        // SAFETY: `as_raw` is a live platform device.
        let dev = unsafe { &raw mut (*self.as_raw()).dev };
        // SAFETY: `dev` is the live device embedded in this one.
        to_result(unsafe { bindings::dma_set_mask(dev, mask) })?;
        // SAFETY: As above.
        to_result(unsafe { bindings::dma_set_coherent_mask(dev, mask) })
    }
}

/// An `ioremap`, undone with `iounmap`; the device keeps the claim's
/// name (`dev_name`) alive.
struct Iounmap {
    _pdev: DeviceRef,
}

impl Unmap for Iounmap {
    unsafe fn unmap(&self, base: NonNull<c_void>) {
        // SAFETY: an `ioremap` made for this value, used no more
        // (guaranteed by the caller).
        unsafe { bindings::iounmap(base.as_ptr()) };
    }
}

impl Device {
    /// A reference that keeps this device allocated.
    pub(crate) fn get_ref(&self) -> DeviceRef {
        // SAFETY: `dev` is embedded in a live platform device.
        unsafe { bindings::get_device(&raw mut (*self.as_raw()).dev) };
        // INVARIANT: the reference was taken just above.
        // SAFETY: `as_raw` is never NULL.
        DeviceRef(unsafe { NonNull::new_unchecked(self.as_raw()) })
    }
}

/// A counted reference to a platform device, dropped with `put_device`
/// (later kernels: `ARef<platform::Device>`).
///
/// # Invariants
///
/// `0` is a platform device of which this value owns one reference.
pub(crate) struct DeviceRef(NonNull<bindings::platform_device>);

// SAFETY: a reference count may be dropped from any thread; the fields
// read through it are set before registration and never change.
unsafe impl Send for DeviceRef {}
// SAFETY: As for `Send`.
unsafe impl Sync for DeviceRef {}

impl DeviceRef {
    /// The generic device, for messages.
    pub(crate) fn as_dev(&self) -> &device::Device {
        // SAFETY: `dev` is embedded in the platform device, allocated while we hold the
        // reference (type invariant); `device::Device` is a transparent wrapper of it.
        unsafe { device::Device::as_ref(&raw mut (*self.0.as_ptr()).dev) }
    }

    /// The device's name, `dev_name()`, which lives as long as it.
    fn dev_name(&self) -> &CStr {
        // SAFETY: allocated (type invariant); `dev_name` is never NULL and
        // lives as long as the device.
        unsafe { CStr::from_char_ptr(bindings::dev_name(&raw mut (*self.0.as_ptr()).dev)) }
    }

    /// The device's name without its instance number, as the C
    /// virtio-mmio transport reports it as the bus name.
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: the device stays allocated (type invariant), and its
        // name lives in the same allocation or a static.
        unsafe { CStr::from_char_ptr((*self.0.as_ptr()).name) }
    }
}

impl Drop for DeviceRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant).
        unsafe { bindings::put_device(&raw mut (*self.0.as_ptr()).dev) };
    }
}

/// A platform driver.
/// Its system sleep callbacks are those of [`SleepCallbacks`].
pub(crate) trait Driver: SleepCallbacks {
    /// Driver name, also matched against platform device names.
    const NAME: &'static CStr;
    /// ACPI IDs.
    const ACPI_IDS: &'static dyn IdTable<AcpiDeviceId>;
    /// Devicetree compatibles.
    const OF_IDS: &'static dyn IdTable<OfDeviceId>;

    fn probe(pdev: &Device) -> Result<Self::Data>;

    /// Called when the device goes away or the driver is unbound; `data`
    /// is what `probe` returned.
    fn remove(pdev: &Device, data: Self::Data);
}

/// An entry of a driver's ACPI ID table (upstream: `kernel::acpi::DeviceId`).
#[repr(transparent)]
#[derive(Clone, Copy)]
pub(crate) struct AcpiDeviceId(bindings::acpi_device_id);

// SAFETY: `repr(transparent)` over `acpi_device_id`, whose all-zero value
// is valid (a byte array and integers); `acpi_match_device` stops at the
// first entry whose `id` is empty and `cls` zero.
unsafe impl RawDeviceId for AcpiDeviceId {
    type RawType = bindings::acpi_device_id;
}

impl AcpiDeviceId {
    /// An entry for `id`, which must be 1 to 15 bytes, no NUL (an empty
    /// one would end the table).
    pub(crate) const fn new(id: &str) -> Self {
        let bytes = id.as_bytes();
        assert!(
            !bytes.is_empty() && bytes.len() < 16,
            "ACPI ID empty or too long"
        );
        // SAFETY: all-zero is a valid `acpi_device_id` (`RawDeviceId`).
        let mut entry: bindings::acpi_device_id = unsafe { core::mem::zeroed() };
        let mut i = 0;
        while i < bytes.len() {
            assert!(bytes[i] != 0, "NUL in an ACPI ID");
            entry.id[i] = bytes[i];
            i += 1;
        }
        Self(entry)
    }
}

/// An entry of a driver's devicetree ID table (upstream:
/// `kernel::of::DeviceId`).
#[repr(transparent)]
#[derive(Clone, Copy)]
pub(crate) struct OfDeviceId(bindings::of_device_id);

// SAFETY: `repr(transparent)` over `of_device_id`, whose all-zero value is
// valid (byte arrays and a NULL `data`); `of_match_node` stops at the
// first entry whose `name`, `type` and `compatible` are all empty.
unsafe impl RawDeviceId for OfDeviceId {
    type RawType = bindings::of_device_id;
}

impl OfDeviceId {
    /// An entry for `compatible`, which must be 1 to 127 bytes, no NUL
    /// (an empty one would end the table).
    pub(crate) const fn new(compatible: &str) -> Self {
        let bytes = compatible.as_bytes();
        assert!(
            !bytes.is_empty() && bytes.len() < 128,
            "compatible empty or too long"
        );
        // SAFETY: all-zero is a valid `of_device_id` (`RawDeviceId`).
        let mut entry: bindings::of_device_id = unsafe { core::mem::zeroed() };
        let mut i = 0;
        while i < bytes.len() {
            assert!(bytes[i] != 0, "NUL in a compatible");
            entry.compatible[i] = bytes[i] as _;
            i += 1;
        }
        Self(entry)
    }
}

/// The platform bus's half of a [`Registration`].
pub(crate) struct Adapter<T: Driver>(PhantomData<T>);

impl<T: Driver> Adapter<T> {
    /// # Safety
    ///
    /// Only for the driver core: `pdev` must be a live platform device being
    /// probed by this driver.
    unsafe extern "C" fn probe(pdev: *mut bindings::platform_device) -> c_int {
        from_result(|| {
            // SAFETY: the driver core probes with a live device.
            let dev = unsafe { Device::from_raw(pdev) };
            let data = T::probe(dev)?;
            // SAFETY: `pdev` is being probed; `remove` takes the data back.
            unsafe { driver::set_drvdata(&raw mut (*pdev).dev, data) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Only for the driver core: `pdev` must be a device `probe` succeeded on.
    unsafe extern "C" fn remove(pdev: *mut bindings::platform_device) {
        // SAFETY: the driver core removes a live device that `probe`
        // succeeded on, once, after its PM callbacks.
        let data = unsafe { driver::take_drvdata::<T::Data>(&raw mut (*pdev).dev) };
        // SAFETY: As above.
        T::remove(unsafe { Device::from_raw(pdev) }, data);
    }

    const PM_OPS: bindings::dev_pm_ops = PmOps::<T>::OPS;
}

// SAFETY: `register` registers with `__platform_driver_register`, which
// `platform_driver_unregister` undoes; the name, match tables and PM
// operations are `'static`.
unsafe impl<T: Driver> RegistrationOps for Adapter<T> {
    type RegType = bindings::platform_driver;

    fn driver() -> bindings::platform_driver {
        // SAFETY: all-zero is a valid, empty `platform_driver`.
        let mut raw: bindings::platform_driver = unsafe { core::mem::zeroed() };
        raw.probe = Some(Self::probe);
        raw.__bindgen_anon_1.remove = Some(Self::remove);
        raw.driver.name = T::NAME.as_char_ptr();
        raw.driver.acpi_match_table = T::ACPI_IDS.as_ptr();
        raw.driver.of_match_table = T::OF_IDS.as_ptr();
        raw.driver.pm = &Self::PM_OPS;
        raw
    }

    unsafe fn register(reg: *mut bindings::platform_driver, module: &'static ThisModule) -> Result {
        // SAFETY: `reg` stays pinned until `unregister` (guaranteed by
        // the caller).
        to_result(unsafe { bindings::__platform_driver_register(reg, module.as_ptr()) })
    }

    unsafe fn unregister(reg: *mut bindings::platform_driver) {
        // SAFETY: registered by `register` (guaranteed by the caller).
        unsafe { bindings::platform_driver_unregister(reg) };
    }
}

/// A registered platform driver; unregistered (unbinding every device)
/// when dropped.
pub(crate) type Registration<T> = driver::Registration<Adapter<T>>;

/// Platform devices the module creates itself, under one root device
/// named after the module; all unregistered when dropped.
///
/// # Invariants
///
/// `parent` is a registered root device and each entry of `devices` a
/// registered platform device, owned by this value.
pub(crate) struct ModuleDevices {
    parent: NonNull<bindings::device>,
    devices: KVec<NonNull<bindings::platform_device>>,
}

// SAFETY: the devices are only registered and unregistered, which the
// driver core allows from any thread.
unsafe impl Send for ModuleDevices {}
// SAFETY: `&ModuleDevices` exposes nothing.
unsafe impl Sync for ModuleDevices {}

impl ModuleDevices {
    pub(crate) fn new(name: &'static CStr, module: &'static ThisModule) -> Result<Self> {
        // SAFETY: `name` is a static C string.
        let parent = from_err_ptr(unsafe {
            bindings::__root_device_register(name.as_char_ptr(), module.as_ptr())
        })?;
        // INVARIANT: registered just above; no devices yet.
        Ok(Self {
            parent: NonNull::new(parent).ok_or(ENOMEM)?,
            devices: KVec::new(),
        })
    }

    /// Registers a platform device `name`.`id` with one MMIO window and one
    /// interrupt.
    pub(crate) fn add_mmio_device(
        &mut self,
        name: &'static CStr,
        id: i32,
        base: u64,
        size: u64,
        irq: u32,
    ) -> Result {
        self.devices.reserve(1, GFP_KERNEL)?;
        // SAFETY: all-zero is a valid `resource`.
        let mut res: [bindings::resource; 2] = unsafe { core::mem::zeroed() };
        res[0].flags = bindings::IORESOURCE_MEM as _;
        res[0].start = base;
        res[0].end = base + size - 1;
        res[1].flags = bindings::IORESOURCE_IRQ as _;
        res[1].start = irq as _;
        res[1].end = irq as _;
        // SAFETY: all-zero is a valid, empty `platform_device_info`.
        let mut info: bindings::platform_device_info = unsafe { core::mem::zeroed() };
        info.parent = self.parent.as_ptr();
        info.name = name.as_char_ptr();
        info.id = id;
        info.res = res.as_ptr();
        info.num_res = res.len() as _;
        // SAFETY: `info` and what it points to are valid for the call; the
        // driver core copies the resources and the name.
        let pdev = from_err_ptr(unsafe { bindings::platform_device_register_full(&info) })?;
        let pdev = NonNull::new(pdev).ok_or(ENOMEM)?;
        // INVARIANT: registered just above; cannot fail after `reserve`.
        self.devices.push(pdev, GFP_KERNEL)?;
        Ok(())
    }
}

impl Drop for ModuleDevices {
    fn drop(&mut self) {
        for pdev in self.devices.iter().rev() {
            // SAFETY: registered and owned by us (type invariant).
            unsafe { bindings::platform_device_unregister(pdev.as_ptr()) };
        }
        // SAFETY: registered and owned by us (type invariant); its
        // children are gone.
        unsafe { bindings::root_device_unregister(self.parent.as_ptr()) };
    }
}

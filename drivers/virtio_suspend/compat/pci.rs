// SPDX-License-Identifier: GPL-2.0

//! PCI bus: a driver registration, the device a driver is probed with,
//! its configuration space, BARs and interrupt vectors, and the PM hooks
//! a driver may take.
//!
//! 6.12's kernel crate has no PCI abstractions; this is the subset a
//! virtio-pci transport needs, in the shape later kernels give
//! `kernel::pci` (device-managed enable; a BAR claimed and mapped as long
//! as a region of it is held, so a probe that fails or a removal leaves
//! nothing behind once the regions are dropped).

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::{
    bindings, device,
    error::{from_result, to_result},
    ffi::{c_int, c_void},
    prelude::*,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

use super::device_id::{IdTable, RawDeviceId};
use super::driver::{self, RegistrationOps};
use super::io::{Claim, IoMem, Mapping, Space, Unmap};
use super::pm::{self, PmOps, SleepCallbacks};

/// A PCI device that a driver is bound to or being probed with.
#[repr(transparent)]
pub(crate) struct Device(Opaque<bindings::pci_dev>);

impl Device {
    /// # Safety
    ///
    /// `ptr` must point to a live PCI device for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::pci_dev) -> &'a Self {
        // SAFETY: `Device` is a transparent wrapper of the C struct; the
        // caller guarantees liveness.
        unsafe { &*ptr.cast() }
    }

    fn as_raw(&self) -> *mut bindings::pci_dev {
        self.0.get()
    }

    /// The generic device embedded in this PCI device.
    pub(crate) fn as_dev(&self) -> &device::Device {
        // SAFETY: `dev` is embedded in a live PCI device.
        unsafe { device::Device::as_ref(&raw mut (*self.as_raw()).dev) }
    }

    pub(crate) fn device_id(&self) -> u16 {
        // SAFETY: a live device; set at enumeration, never changed.
        unsafe { (*self.as_raw()).device }
    }

    pub(crate) fn subsystem_vendor_id(&self) -> u16 {
        // SAFETY: As for `device_id`.
        unsafe { (*self.as_raw()).subsystem_vendor }
    }

    pub(crate) fn subsystem_device_id(&self) -> u16 {
        // SAFETY: As for `device_id`.
        unsafe { (*self.as_raw()).subsystem_device }
    }

    /// Offset of the power management capability, 0 if none.
    pub(crate) fn pm_cap(&self) -> u8 {
        // SAFETY: As for `device_id`.
        unsafe { (*self.as_raw()).pm_cap }
    }

    /// Whether the device keeps its state through D3hot: the No_Soft_Reset
    /// bit of its PM capability's PMCSR (false without the capability).
    pub(crate) fn no_soft_reset(&self) -> bool {
        let pm = u16::from(self.pm_cap());
        let pmcsr = pm + bindings::PCI_PM_CTRL as u16;
        pm != 0 && self.read_config_u16(pmcsr) & bindings::PCI_PM_CTRL_NO_SOFT_RESET as u16 != 0
    }

    /// Enables the device (memory and I/O decoding) until the driver is
    /// unbound (`pcim_enable_device`).
    pub(crate) fn enable_device(&self) -> Result {
        // SAFETY: a live device being probed.
        to_result(unsafe { bindings::pcim_enable_device(self.as_raw()) })
    }

    /// Lets the device master the bus (DMA, MSI).
    pub(crate) fn set_master(&self) {
        // SAFETY: a live, enabled device.
        unsafe { bindings::pci_set_master(self.as_raw()) };
    }

    /// Sets the streaming and coherent DMA masks to `bits` bits.
    pub(crate) fn set_dma_mask(&self, bits: u32) -> Result {
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let dev = super::device::as_raw(self.as_dev());
        // SAFETY: `dev` is the live device embedded in this one.
        to_result(unsafe { bindings::dma_set_mask(dev, mask) })?;
        // SAFETY: As above.
        to_result(unsafe { bindings::dma_set_coherent_mask(dev, mask) })
    }

    /// Reads a byte of configuration space.
    pub(crate) fn read_config_u8(&self, offset: u16) -> u8 {
        let mut value = 0;
        // SAFETY: a live device; `value` is a valid out-pointer. A failed
        // read (offset past the space, device gone) leaves all ones, as
        // the PCI core sets them.
        unsafe { bindings::pci_read_config_byte(self.as_raw(), offset.into(), &mut value) };
        value
    }

    pub(crate) fn read_config_u16(&self, offset: u16) -> u16 {
        let mut value = 0;
        // SAFETY: As for `read_config_u8`.
        unsafe { bindings::pci_read_config_word(self.as_raw(), offset.into(), &mut value) };
        value
    }

    pub(crate) fn read_config_u32(&self, offset: u16) -> u32 {
        let mut value = 0;
        // SAFETY: As for `read_config_u8`.
        unsafe { bindings::pci_read_config_dword(self.as_raw(), offset.into(), &mut value) };
        value
    }

    /// The bus address BAR `bar` starts at.
    pub(crate) fn bar_start(&self, bar: u8) -> u64 {
        // SAFETY: a live device; the helper reads its resource table.
        unsafe { bindings::pci_resource_start(self.as_raw(), c_int::from(bar)) }
    }

    /// Length of BAR `bar` (0 if it is absent), and whether it is memory
    /// space.
    pub(crate) fn bar(&self, bar: u8) -> (u64, bool) {
        let bar = c_int::from(bar);
        // SAFETY: a live device; the helpers read its resource table.
        let (len, flags) = unsafe {
            (
                bindings::pci_resource_len(self.as_raw(), bar),
                bindings::pci_resource_flags(self.as_raw(), bar),
            )
        };
        (len, flags & bindings::IORESOURCE_MEM as usize != 0)
    }

    /// Claims BAR `bar` for `name` and maps it whole, for as long as the
    /// returned region, or any made from it, lives (see [`IoMem`]).
    pub(crate) fn iomap_region(&self, bar: u8, name: &'static CStr) -> Result<IoMem> {
        let (len, memory) = self.bar(bar);
        // SAFETY: a live device; the helper reads its resource table.
        let start = unsafe { bindings::pci_resource_start(self.as_raw(), bar.into()) };
        if len == 0 || start == 0 {
            dev_err!(self.as_dev(), "BAR {bar} is not assigned\n");
            return Err(EINVAL);
        }
        let space = if memory { Space::Memory } else { Space::Ports };
        // Not `pci_request_region`: on a device enabled with
        // `pcim_enable_device` it is device-managed, released at unbind
        // whoever still maps the BAR.
        // SAFETY: `name` is static.
        let claim = unsafe { Claim::new(space, start, len, name) }
            .inspect_err(|_| dev_err!(self.as_dev(), "BAR {bar} is claimed by another driver\n"))?;
        // SAFETY: a live device; `pci_iomap` maps a BAR (memory or I/O
        // ports) whole with `max` 0, or fails with NULL; it is never
        // device-managed.
        let base = unsafe { bindings::pci_iomap(self.as_raw(), bar.into(), 0) };
        let Some(base) = NonNull::new(base) else {
            dev_err!(self.as_dev(), "BAR {bar}: cannot map\n");
            return Err(EINVAL);
        };
        let unmap = PciIounmap {
            pdev: self.get_ref(),
        };
        // SAFETY: a `pci_iomap` cookie, just made for the BAR `claim`
        // holds, whole; `pci_iounmap` undoes it.
        let mapping = unsafe { Mapping::new(claim, base, len as usize, unmap) };
        IoMem::new(mapping)
    }

    /// Entries of the device's MSI-X table, 0 without MSI-X.
    pub(crate) fn msix_vector_count(&self) -> usize {
        // SAFETY: a live device.
        let n = unsafe { bindings::pci_msix_vec_count(self.as_raw()) };
        n.max(0) as usize
    }

    /// Allocates `count` MSI-X vectors, or with `count` 0 sets the legacy
    /// INTx line up; they are freed when the returned value is dropped.
    pub(crate) fn alloc_irq_vectors(&self, count: usize) -> Result<IrqVectors> {
        let (n, flags) = if count == 0 {
            (1, bindings::PCI_IRQ_INTX)
        } else {
            (count as u32, bindings::PCI_IRQ_MSIX)
        };
        // SAFETY: a live, enabled device.
        let got = unsafe { bindings::pci_alloc_irq_vectors(self.as_raw(), n, n, flags) };
        to_result(got)?;
        // INVARIANT: allocated just above.
        Ok(IrqVectors {
            pdev: self.get_ref(),
        })
    }

    /// Whether the function still answers config reads
    /// (`pci_device_is_present`): false after a surprise removal.
    pub(crate) fn is_present(&self) -> bool {
        // SAFETY: `self.as_raw()` is a live PCI device (type invariant).
        unsafe { bindings::pci_device_is_present(self.as_raw()) }
    }

    /// Saves the configuration space now: the PCI core then leaves the
    /// device in D0 over a system sleep (it puts a device into a low
    /// power state only when it saves the state itself, see
    /// `pci_pm_suspend_noirq`), and restores the saved state on resume.
    /// For a `suspend_noirq` callback.
    pub(crate) fn save_state_keeping_d0(&self) {
        // SAFETY: a live device; the PM core calls `suspend_noirq` with
        // the device's other PM activity excluded.
        unsafe { bindings::pci_save_state(self.as_raw()) };
    }

    /// A reference that keeps this device allocated.
    pub(crate) fn get_ref(&self) -> DeviceRef {
        // SAFETY: `dev` is embedded in a live PCI device.
        unsafe { bindings::get_device(&raw mut (*self.as_raw()).dev) };
        // INVARIANT: the reference was taken just above.
        // SAFETY: `as_raw` is never NULL.
        DeviceRef(unsafe { NonNull::new_unchecked(self.as_raw()) })
    }
}

/// The interrupt vectors of a device, freed on drop.
///
/// # Invariants
///
/// `pci_alloc_irq_vectors` succeeded for `pdev`, and this value frees
/// them.
pub(crate) struct IrqVectors {
    pdev: DeviceRef,
}

impl IrqVectors {
    /// The Linux IRQ number of vector `n` (the INTx line for 0 without
    /// MSI-X).
    pub(crate) fn irq(&self, n: u16) -> Result<u32> {
        // SAFETY: a live device with vectors (type invariant).
        let irq = unsafe { bindings::pci_irq_vector(self.pdev.as_raw(), n.into()) };
        to_result(irq)?;
        Ok(irq as u32)
    }
}

impl Drop for IrqVectors {
    fn drop(&mut self) {
        // SAFETY: allocated (type invariant). `free_irq` must have been
        // called for every handler requested on them: the driver keeps
        // its handler registrations in the same value, before this.
        unsafe { bindings::pci_free_irq_vectors(self.pdev.as_raw()) };
    }
}

/// A counted reference to a PCI device, dropped with `put_device`
/// (later kernels: `ARef<pci::Device>`).
///
/// # Invariants
///
/// `0` is a PCI device of which this value owns one reference.
pub(crate) struct DeviceRef(NonNull<bindings::pci_dev>);

// SAFETY: a reference count may be dropped from any thread; the device's
// methods used through it are callable from any thread.
unsafe impl Send for DeviceRef {}
// SAFETY: As for `Send`.
unsafe impl Sync for DeviceRef {}

impl core::ops::Deref for DeviceRef {
    type Target = Device;

    fn deref(&self) -> &Device {
        // SAFETY: allocated while we hold the reference (type invariant).
        unsafe { Device::from_raw(self.0.as_ptr()) }
    }
}

impl DeviceRef {
    /// The device's name, `dddd:bb:dd.f`, as `pci_name` returns it.
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: allocated (type invariant); `dev_name` is never NULL and
        // lives as long as the device.
        unsafe { CStr::from_char_ptr(bindings::dev_name(&raw mut (*self.0.as_ptr()).dev)) }
    }
}

impl Drop for DeviceRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant).
        unsafe { bindings::put_device(&raw mut (*self.0.as_ptr()).dev) };
    }
}

/// A `pci_iomap` of a BAR of `pdev`, undone with `pci_iounmap`.
struct PciIounmap {
    pdev: DeviceRef,
}

impl Unmap for PciIounmap {
    unsafe fn unmap(&self, base: NonNull<c_void>) {
        // SAFETY: a `pci_iomap` of `pdev` (which the reference keeps) made
        // for this value, used no more (guaranteed by the caller).
        unsafe { bindings::pci_iounmap(self.pdev.as_raw(), base.as_ptr()) };
    }
}

/// An entry of a PCI driver's ID table (upstream: `kernel::pci::DeviceId`).
#[repr(transparent)]
#[derive(Clone, Copy)]
pub(crate) struct DeviceId(bindings::pci_device_id);

// SAFETY: `repr(transparent)` over `pci_device_id`, which has no pointer
// or enum field; `pci_match_id` stops at the first entry whose `vendor`,
// `subvendor` and `class_mask` are all zero.
unsafe impl RawDeviceId for DeviceId {
    type RawType = bindings::pci_device_id;
}

impl DeviceId {
    /// Every device of `vendor` (upstream: `DeviceId::from_id(vendor,
    /// PCI_ANY_ID)`).
    pub(crate) const fn from_vendor(vendor: u16) -> Self {
        // SAFETY: all-zero is a valid `pci_device_id` (`RawDeviceId`).
        let mut entry: bindings::pci_device_id = unsafe { core::mem::zeroed() };
        entry.vendor = vendor as u32;
        entry.device = !0;
        entry.subvendor = !0;
        entry.subdevice = !0;
        Self(entry)
    }
}

/// A PCI driver.
/// Its system sleep callbacks are those of [`SleepCallbacks`].
pub(crate) trait Driver: SleepCallbacks {
    const NAME: &'static CStr;
    const ID_TABLE: &'static dyn IdTable<DeviceId>;

    fn probe(pdev: &Device) -> Result<Self::Data>;

    /// Called when the device goes away or the driver is unbound; `data`
    /// is what `probe` returned.
    fn remove(pdev: &Device, data: Self::Data);

    /// System suspend, last step, device interrupts off: where a driver
    /// decides the power state the device goes to.
    fn suspend_noirq(pdev: &Device, data: <Self::Data as ForeignOwnable>::Borrowed<'_>) -> Result;
}

/// The PCI bus's half of a [`Registration`].
pub(crate) struct Adapter<T: Driver>(PhantomData<T>);

impl<T: Driver> Adapter<T> {
    /// # Safety
    ///
    /// Only for the driver core: `pdev` must be a live PCI device being
    /// probed by this driver.
    unsafe extern "C" fn probe(
        pdev: *mut bindings::pci_dev,
        _id: *const bindings::pci_device_id,
    ) -> c_int {
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
    /// Only for the driver core: `pdev` must be a device `probe` succeeded
    /// on.
    unsafe extern "C" fn remove(pdev: *mut bindings::pci_dev) {
        // SAFETY: the driver core removes a live device that `probe`
        // succeeded on, once, after its PM callbacks.
        let data = unsafe { driver::take_drvdata::<T::Data>(&raw mut (*pdev).dev) };
        // SAFETY: As above.
        T::remove(unsafe { Device::from_raw(pdev) }, data);
    }

    /// # Safety
    ///
    /// Only for the PM core: `dev` must be a PCI device bound to this
    /// driver.
    unsafe extern "C" fn suspend_noirq(dev: *mut bindings::device) -> c_int {
        // SAFETY: the PM core calls this for bound devices only, and this
        // driver is on the PCI bus, whose devices are `pci_dev`s.
        let pdev = unsafe {
            Device::from_raw(kernel::container_of!(dev, bindings::pci_dev, dev).cast_mut())
        };
        // SAFETY: As above.
        from_result(|| T::suspend_noirq(pdev, unsafe { pm::borrow::<T>(dev) }).map(|()| 0))
    }

    const PM_OPS: bindings::dev_pm_ops = {
        let mut ops = PmOps::<T>::OPS;
        ops.suspend_noirq = Some(Self::suspend_noirq);
        ops
    };
}

// SAFETY: `register` registers with `__pci_register_driver`, which
// `pci_unregister_driver` undoes; the name, ID table and PM operations
// are `'static`.
unsafe impl<T: Driver> RegistrationOps for Adapter<T> {
    type RegType = bindings::pci_driver;

    fn driver() -> bindings::pci_driver {
        // SAFETY: all-zero is a valid, empty `pci_driver`.
        let mut raw: bindings::pci_driver = unsafe { core::mem::zeroed() };
        raw.name = T::NAME.as_char_ptr();
        raw.id_table = T::ID_TABLE.as_ptr();
        raw.probe = Some(Self::probe);
        raw.remove = Some(Self::remove);
        raw.driver.pm = &Self::PM_OPS;
        raw
    }

    unsafe fn register(reg: *mut bindings::pci_driver, module: &'static ThisModule) -> Result {
        // SAFETY: `reg` stays pinned until `unregister` (guaranteed by
        // the caller).
        to_result(unsafe {
            bindings::__pci_register_driver(reg, module.as_ptr(), T::NAME.as_char_ptr())
        })
    }

    unsafe fn unregister(reg: *mut bindings::pci_driver) {
        // SAFETY: registered by `register` (guaranteed by the caller).
        unsafe { bindings::pci_unregister_driver(reg) };
    }
}

/// A registered PCI driver; unregistered (unbinding every device) when
/// dropped.
pub(crate) type Registration<T> = driver::Registration<Adapter<T>>;

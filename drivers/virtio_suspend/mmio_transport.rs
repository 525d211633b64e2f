// SPDX-License-Identifier: GPL-2.0

//! The virtio-mmio transport: a platform driver that finds virtio-mmio
//! devices and registers each as a virtio device, so that the kernel's
//! stock virtio drivers bind to it.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use kernel::{
    bindings, c_str, container_of, device,
    ffi::c_char,
    fmt, new_mutex,
    prelude::*,
    str::CString,
    sync::Mutex,
    types::{ARef, Opaque},
};

use crate::debugfs::ControlFile;
use crate::irq::{self, IrqReturn};
use crate::logic::config_writes::HeldWrites;
use crate::logic::dialect::Dialect;
use crate::logic::mmio::{
    check_queue_size, feature_words, has_feature, identify, IdentityError, QueueSizeError, Reg,
    WindowTooSmall, CONFIG_OFFSET, F_NOTIFICATION_DATA, F_VERSION_1, INT_CONFIG, INT_VRING, MAGIC,
    QUEUE_SIZE_MAX, VRING_ALIGN,
};
use crate::logic::suspend::Machine;
use crate::params::SuspendParams;
use crate::platform::{self, IdArray, IdTable};
use crate::regs::MmioRegs;
use crate::sysfs;
use crate::unbind_watch;
use crate::virtio::{self, Transport, Vring, VringConfig};

/// The platform driver; its name is what sysfs shows as the transport.
pub(crate) struct MmioDriver;

/// Name of the driver, and of the platform devices `device=` creates.
pub(crate) const DRIVER_NAME: &CStr = c_str!("virtio-suspend-mmio");

/// How long `reset` waits for the device to read back status 0.
const RESET_TIMEOUT_MS: u32 = 1000;

/// One virtio-mmio device and the virtio device registered for it.
///
/// # Invariants
///
/// `vdev` is registered with the virtio core from probe until remove;
/// `self` is freed by its release callback, never moved once probed.
///
/// `self` can outlive the unbind of the platform device: whoever holds a
/// reference to `vdev` keeps it. What it uses after that is safe because:
/// - `pdev` stays allocated: `pdev_ref` holds a reference to it (its name
///   is what `bus_name` returns);
/// - `regs` (a device-managed mapping, unmapped after remove returns) is
///   used only by the config operations, the interrupt handler, the sysfs
///   attributes, the debugfs file and the sleep callbacks, and all of them
///   have ended when remove returns: `Bound::drop` removes the debugfs
///   file (waiting for writers), then `unregister_virtio_device()` removes
///   the sysfs files (waiting for readers) and unbinds the virtio driver,
///   whose remove frees the queues and their interrupt (`del_vqs`); PM
///   callbacks never run concurrently with remove.
#[pin_data]
pub(crate) struct VmDevice {
    vdev: Opaque<bindings::virtio_device>,
    pub(crate) regs: MmioRegs,
    pdev: NonNull<bindings::platform_device>,
    _pdev_ref: ARef<device::Device>,
    irq: u32,
    pub(crate) params: SuspendParams,
    /// The SUSPEND dialect the last feature negotiation agreed on, as
    /// [`encode_dialect`] stores it; written by `finalize_features`, which
    /// also runs inside a classic restore, so it cannot share the `sleep`
    /// lock.
    negotiated: AtomicU8,
    /// The interrupt handler with the queues it serves: present from
    /// `find_vqs` to `del_vqs`.
    #[pin]
    pub(crate) queues: Mutex<Option<irq::Registration<QueueIrq>>>,
    /// The SUSPEND state; held for a whole suspend or resume.
    #[pin]
    pub(crate) sleep: Mutex<Machine>,
    /// While set, config-change interrupts are recorded in
    /// `config_pending` instead of being passed to the driver.
    config_held: AtomicBool,
    config_pending: AtomicBool,
    /// Config-space writes, held with the config changes. A mutex:
    /// drivers write config only where they may sleep (virtio_ccw's `set`
    /// does).
    #[pin]
    config_writes: Mutex<ConfigWriteHold>,
}

/// Whether config writes are held, and those that were.
struct ConfigWriteHold {
    held: bool,
    writes: HeldWrites,
}

const fn encode_dialect(dialect: Option<Dialect>) -> u8 {
    match dialect {
        None => 0,
        Some(Dialect::Spec) => 1,
        Some(Dialect::V5) => 2,
        Some(Dialect::Stop) => 3,
    }
}

const fn decode_dialect(value: u8) -> Option<Dialect> {
    match value {
        1 => Some(Dialect::Spec),
        2 => Some(Dialect::V5),
        3 => Some(Dialect::Stop),
        _ => None,
    }
}

/// An active queue of the device; deactivated and deleted on drop.
pub(crate) struct MmioQueue {
    regs: MmioRegs,
    index: u32,
    pub(crate) vring: Vring,
}

impl MmioQueue {
    /// Notifies the device of this queue directly, not through
    /// virtio_ring (which defers notifications while the queue is held).
    pub(crate) fn notify_device(&self) {
        self.regs.write(Reg::QueueNotify, self.index);
    }

    /// Tells the device where the rings are, and enables the queue.
    pub(crate) fn activate(&self) {
        let [desc, avail, used] = self.vring.addresses();
        self.regs.write(Reg::QueueSel, self.index);
        self.regs.write(Reg::QueueNum, self.vring.size());
        for (low, high, addr) in [
            (Reg::QueueDescLow, Reg::QueueDescHigh, desc),
            (Reg::QueueAvailLow, Reg::QueueAvailHigh, avail),
            (Reg::QueueUsedLow, Reg::QueueUsedHigh, used),
        ] {
            self.regs.write(low, addr as u32);
            self.regs.write(high, (addr >> 32) as u32);
        }
        self.regs.write(Reg::QueueReady, 1);
    }
}

impl Drop for MmioQueue {
    fn drop(&mut self) {
        self.regs.write(Reg::QueueSel, self.index);
        self.regs.write(Reg::QueueReady, 0);
        // `vring` is freed after this: the device must have let go of it.
        if self.regs.read(Reg::QueueReady) != 0 {
            pr_warn!(
                "virtio-suspend-mmio: queue {} still ready after deactivation\n",
                self.index
            );
        }
    }
}

/// What the interrupt handler needs: the device, and the queues it serves.
pub(crate) struct QueueIrq {
    vm: NonNull<VmDevice>,
    pub(crate) queues: KVec<MmioQueue>,
}

// SAFETY: `virtio_config_changed` and `vring_interrupt` may be called from
// any CPU, concurrently; `vm` outlives the registration that owns this.
unsafe impl Sync for QueueIrq {}
// SAFETY: As for `Sync`.
unsafe impl Send for QueueIrq {}

impl irq::Handler for QueueIrq {
    fn handle(&self, irq: u32) -> IrqReturn {
        // SAFETY: the `VmDevice` owns this registration, so it is live.
        let vm = unsafe { self.vm.as_ref() };
        let status = vm.regs.read(Reg::InterruptStatus);
        vm.regs.write(Reg::InterruptAck, status);
        let mut ret = IrqReturn::None;
        if status & INT_CONFIG != 0 {
            vm.config_changed();
            ret = IrqReturn::Handled;
        }
        if status & INT_VRING != 0 {
            for q in self.queues.iter() {
                if q.vring.interrupt(irq) {
                    ret = IrqReturn::Handled;
                }
            }
        }
        ret
    }
}

impl VmDevice {
    pub(crate) fn vdev(&self) -> *mut bindings::virtio_device {
        self.vdev.get()
    }

    /// Whether `dev`, a device of the virtio bus, was registered by this
    /// transport: ours, and only ours, carry its sysfs groups, a static.
    pub(crate) fn is_ours(dev: *const bindings::device) -> bool {
        // SAFETY: `dev` is a live device (caller: the bus notifies about
        // registered devices only); `groups` is set before registration.
        ptr::eq(unsafe { (*dev).groups }, sysfs::groups())
    }

    /// The virtio device, for messages.
    pub(crate) fn dev(&self) -> &device::Device {
        // SAFETY: `vdev` is live while `self` is.
        unsafe { device::Device::as_ref(&raw mut (*self.vdev()).dev) }
    }

    /// The features negotiated with the device.
    pub(crate) fn features(&self) -> u64 {
        // SAFETY: `vdev` is live; the core writes `features` only before
        // finalize_features, from the same serialized context as us.
        unsafe { (*self.vdev()).features }
    }

    /// The SUSPEND dialect negotiated, if any.
    pub(crate) fn negotiated(&self) -> Option<Dialect> {
        decode_dialect(self.negotiated.load(Ordering::Acquire))
    }

    /// A config-change interrupt: passed on, or held while suspended.
    fn config_changed(&self) {
        if self.config_held.load(Ordering::SeqCst) {
            self.config_pending.store(true, Ordering::SeqCst);
            // Released meanwhile? Then whoever clears `config_pending`
            // first delivers it.
            if self.config_held.load(Ordering::SeqCst)
                || !self.config_pending.swap(false, Ordering::SeqCst)
            {
                return;
            }
        }
        // SAFETY: `vdev` is registered while interrupts are requested.
        unsafe { bindings::virtio_config_changed(self.vdev()) };
    }

    /// Holds config changes (see `config_changed`) and config writes
    /// (see `set`) from now on.
    pub(crate) fn hold_config(&self) {
        self.config_held.store(true, Ordering::SeqCst);
        self.config_writes.lock().held = true;
    }

    /// Stops holding config changes and writes: makes the writes held
    /// meanwhile, oldest first, then delivers a change that came. Call
    /// once the device runs.
    pub(crate) fn release_config(&self) {
        {
            let mut hold = self.config_writes.lock();
            for write in hold.writes.as_slice() {
                if let Err(e) = self.regs.config_write(write.offset, write.data()) {
                    dev_err!(self.dev(), "held config write refused: {e}\n");
                }
            }
            hold.writes.clear();
            hold.held = false;
        }
        self.config_held.store(false, Ordering::SeqCst);
        if self.config_pending.swap(false, Ordering::SeqCst) {
            // SAFETY: `vdev` is registered.
            unsafe { bindings::virtio_config_changed(self.vdev()) };
        }
    }

    /// Reads the device status.
    pub(crate) fn status(&self) -> u8 {
        self.regs.read(Reg::Status) as u8
    }

    /// Writes the negotiated features to the device.
    pub(crate) fn write_features(&self, features: u64) {
        for (select, word) in feature_words(features) {
            self.regs.write(Reg::DriverFeaturesSel, select);
            self.regs.write(Reg::DriverFeatures, word);
        }
    }

    fn setup_queue(&self, index: u32, info: &bindings::virtqueue_info) -> Result<MmioQueue> {
        self.regs.write(Reg::QueueSel, index);
        if self.regs.read(Reg::QueueReady) != 0 {
            dev_err!(self.dev(), "queue {index} is already active before setup\n");
            return Err(ENOENT);
        }
        let num = check_queue_size(self.regs.read(Reg::QueueNumMax)).map_err(|e| match e {
            QueueSizeError::Unavailable => {
                dev_err!(self.dev(), "the driver asks for queue {index}, which the device does not have\n");
                ENOENT
            }
            QueueSizeError::TooLarge(n) => {
                dev_err!(
                    self.dev(),
                    "queue {index}: device offers {n} entries, more than a ring can hold ({QUEUE_SIZE_MAX})\n"
                );
                EINVAL
            }
        })?;
        let notify = if has_feature(self.features(), F_NOTIFICATION_DATA) {
            notify_with_data
        } else {
            notify
        };
        let cfg = VringConfig {
            index,
            num,
            align: VRING_ALIGN,
            ctx: info.ctx,
            notify,
            callback: info.callback,
            name: info.name,
        };
        // SAFETY: `vdev` is registered with final features; the driver's
        // queue name lives until `del_vqs`; `notify` writes a register.
        let mut vring = unsafe { Vring::create(self.vdev(), &cfg) }?;
        vring.set_num_max(num);
        let queue = MmioQueue {
            regs: self.regs.clone(),
            index,
            vring,
        };
        queue.activate();
        Ok(queue)
    }
}

/// # Safety
///
/// `vq` must be a live virtqueue of a `VmDevice` (virtio_ring calls this
/// only for queues this transport created).
unsafe extern "C" fn notify(vq: *mut bindings::virtqueue) -> bool {
    // SAFETY: virtio_ring notifies for live queues of devices of this
    // transport.
    let (vm, index) = unsafe { (VmDevice::from_vdev((*vq).vdev), (*vq).index) };
    vm.regs.write(Reg::QueueNotify, index);
    true
}

/// # Safety
///
/// As for [`notify`].
unsafe extern "C" fn notify_with_data(vq: *mut bindings::virtqueue) -> bool {
    // SAFETY: As for `notify`.
    let (vm, data) = unsafe {
        (
            VmDevice::from_vdev((*vq).vdev),
            bindings::vring_notification_data(vq),
        )
    };
    vm.regs.write(Reg::QueueNotify, data);
    true
}

/// # Safety
///
/// `dev` must be the device of a `VmDevice`'s `virtio_device` whose last
/// reference was just dropped (the driver core calls this then).
unsafe extern "C" fn release(dev: *mut bindings::device) {
    // SAFETY: `dev` is embedded in the `virtio_device` of a `VmDevice`
    // that `probe` leaked from a `KBox`; this is the last reference.
    unsafe {
        let vdev = container_of!(dev, bindings::virtio_device, dev).cast_mut();
        let vm = (VmDevice::from_vdev(vdev) as *const VmDevice).cast_mut();
        drop(KBox::from_raw(vm));
    }
}

impl Transport for VmDevice {
    unsafe fn from_vdev<'a>(vdev: *mut bindings::virtio_device) -> &'a Self {
        let vdev = vdev.cast::<Opaque<bindings::virtio_device>>();
        // SAFETY: the caller guarantees `vdev` is the `vdev` field of a
        // live `VmDevice`.
        unsafe { &*container_of!(vdev, VmDevice, vdev) }
    }

    fn get(&self, offset: usize, buf: &mut [u8]) {
        if let Err(e) = self.regs.config_read(offset, buf) {
            dev_err!(self.dev(), "config read refused: {e}\n");
            buf.fill(0);
        }
    }

    fn set(&self, offset: usize, buf: &[u8]) {
        // Held, under the lock a suspend takes to start holding: no write
        // reaches the device once it has been asked to suspend.
        let mut hold = self.config_writes.lock();
        if hold.held {
            if let Err(e) = hold.writes.hold(offset, buf) {
                dev_err!(
                    self.dev(),
                    "config write at {offset:#x} while suspended dropped: {e}\n"
                );
            }
            return;
        }
        if let Err(e) = self.regs.config_write(offset, buf) {
            dev_err!(self.dev(), "config write refused: {e}\n");
        }
    }

    fn generation(&self) -> u32 {
        self.regs.read(Reg::ConfigGeneration)
    }

    fn get_status(&self) -> u8 {
        self.regs.read(Reg::Status) as u8
    }

    fn set_status(&self, status: u8) {
        self.regs.write(Reg::Status, status.into());
    }

    fn reset(&self) {
        self.regs.write(Reg::Status, 0);
        // The spec has the driver wait until the reset is done, which the
        // device shows by reading back 0.
        for _ in 0..RESET_TIMEOUT_MS {
            if self.regs.read(Reg::Status) == 0 {
                return;
            }
            // SAFETY: reset runs in process context.
            unsafe { bindings::usleep_range_state(1000, 1100, bindings::TASK_UNINTERRUPTIBLE) };
        }
        dev_err!(
            self.dev(),
            "device did not finish reset within {RESET_TIMEOUT_MS} ms (status {:#04x})\n",
            self.regs.read(Reg::Status)
        );
    }

    fn find_vqs(
        &self,
        vqs: &mut [*mut bindings::virtqueue],
        infos: &[bindings::virtqueue_info],
    ) -> Result {
        let mut queues = KVec::with_capacity(infos.len(), GFP_KERNEL)?;
        let mut index = 0;
        for (slot, info) in vqs.iter_mut().zip(infos) {
            *slot = core::ptr::null_mut();
            if info.name.is_null() {
                continue;
            }
            let queue = self.setup_queue(index, info)?;
            *slot = queue.vring.as_ptr();
            queues.push(queue, GFP_KERNEL)?;
            index += 1;
        }
        // SAFETY: `vdev` is registered, so it has a name.
        let name = unsafe { CStr::from_char_ptr(bindings::dev_name(&raw mut (*self.vdev()).dev)) };
        let name = CString::try_from_fmt(fmt!("{name}"))?;
        let data = QueueIrq {
            vm: NonNull::from(self),
            queues,
        };
        let registration = irq::Registration::request_shared(self.irq, name, data)?;
        if self.queues.lock().replace(registration).is_some() {
            dev_warn!(
                self.dev(),
                "find_vqs without del_vqs: old queues released\n"
            );
        }
        Ok(())
    }

    fn del_vqs(&self) {
        let registration = self.queues.lock().take();
        if let Some(registration) = registration {
            // Free the interrupt first: no handler may see a queue that is
            // being deleted. Then each queue is deactivated and deleted.
            drop(registration.free());
        }
    }

    fn synchronize_cbs(&self) {
        // SAFETY: `irq` is this device's interrupt line; waiting on it is
        // valid whether or not a handler is registered.
        unsafe { bindings::synchronize_irq(self.irq) };
    }

    fn get_features(&self) -> u64 {
        self.regs.write(Reg::DeviceFeaturesSel, 1);
        let high = self.regs.read(Reg::DeviceFeatures);
        self.regs.write(Reg::DeviceFeaturesSel, 0);
        let low = self.regs.read(Reg::DeviceFeatures);
        (u64::from(high) << 32) | u64::from(low)
    }

    fn finalize_features(&self) -> Result {
        // SAFETY: `vdev` is registered; the core is negotiating features.
        unsafe { bindings::vring_transport_features(self.vdev()) };
        let mut features = self.features();
        if !has_feature(features, F_VERSION_1) {
            dev_err!(
                self.dev(),
                "device does not offer VIRTIO_F_VERSION_1, which modern virtio-mmio devices must\n"
            );
            return Err(EINVAL);
        }
        // The virtio core leaves bits above the transport range, and
        // clears unknown ones inside it: SUSPEND is ours to accept. Only
        // the chosen dialect's bit, since bit 42 means another thing in
        // the merged spec (a legacy net feature).
        let dialect = self
            .params
            .dialect
            .filter(|&d| has_feature(self.get_features(), self.params.feature_bit(d)));
        if let Some(d) = dialect {
            features |= 1u64 << self.params.feature_bit(d);
            // SAFETY: the core is negotiating; nothing reads `features`
            // concurrently.
            unsafe { (*self.vdev()).features = features };
        }
        self.negotiated
            .store(encode_dialect(dialect), Ordering::Release);
        self.write_features(features);
        Ok(())
    }

    fn bus_name(&self) -> *const c_char {
        // SAFETY: `pdev` is kept allocated by `pdev_ref` (type invariant).
        unsafe { (*self.pdev.as_ptr()).name }
    }
}

/// Ownership of a probed device's registration: dropping it removes the
/// debugfs control and unregisters the virtio device, which frees the
/// `VmDevice` once unreferenced.
pub(crate) struct Bound {
    vm: NonNull<VmDevice>,
    control: Option<ControlFile>,
}

// SAFETY: `VmDevice` is shared with the driver core anyway; `Bound` only
// unregisters it, which may happen on any thread.
unsafe impl Send for Bound {}
// SAFETY: `&Bound` only hands out `&VmDevice`, which is `Sync`-safe: its
// mutable state is behind mutexes and atomics.
unsafe impl Sync for Bound {}

impl Bound {
    pub(crate) fn vm(&self) -> &VmDevice {
        // SAFETY: registered until `self` is dropped.
        unsafe { self.vm.as_ref() }
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        // The control file first: removing it waits for a running write.
        drop(self.control.take());
        self.vm().resume_if_suspended("removed");
        // SAFETY: registered in `probe` and unregistered only here.
        unsafe { bindings::unregister_virtio_device(self.vm().vdev()) };
    }
}

/// Why `identify` refused a device, as the error probe returns; logs a
/// line a user can act on (nothing for an empty slot).
fn refuse(dev: &device::Device, e: IdentityError) -> Error {
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
static MMIO_ACPI_IDS: IdArray<bindings::acpi_device_id, 1> =
    IdArray::new([platform::acpi_id("LNRO0005")]);
static MMIO_OF_IDS: IdArray<bindings::of_device_id, 1> =
    IdArray::new([platform::of_compatible("virtio,mmio")]);

impl platform::Driver for MmioDriver {
    type Data = KBox<Bound>;

    const NAME: &'static CStr = DRIVER_NAME;
    const ACPI_IDS: &'static dyn IdTable<bindings::acpi_device_id> = &MMIO_ACPI_IDS;
    const OF_IDS: &'static dyn IdTable<bindings::of_device_id> = &MMIO_OF_IDS;

    fn probe(pdev: &platform::Device) -> Result<KBox<Bound>> {
        let dev = pdev.as_dev();
        let params = SuspendParams::get()?;
        let (base, len) = pdev.map_mmio(0).inspect_err(|e| {
            dev_err!(dev, "cannot map the MMIO window: error {}\n", e.to_errno());
        })?;
        // SAFETY: the mapping is device-managed and lives while the driver
        // is bound; `VmDevice` only uses it from callbacks that run while
        // bound (probe to remove).
        let regs = unsafe { MmioRegs::new(base, len) }.map_err(|WindowTooSmall(n)| {
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

        // SAFETY: `dev` is the live device embedded in `pdev`.
        let pdev_ref = unsafe { device::Device::get_device(&raw mut (*pdev.as_raw()).dev) };
        let vm = KBox::pin_init(
            pin_init!(VmDevice {
                // SAFETY: all-zero is how `virtio_device` starts (kzalloc in C).
                vdev: Opaque::new(unsafe { core::mem::zeroed() }),
                regs,
                // SAFETY: `as_raw` is never NULL.
                pdev: unsafe { NonNull::new_unchecked(pdev.as_raw()) },
                _pdev_ref: pdev_ref,
                irq,
                params,
                negotiated: AtomicU8::new(0),
                queues <- new_mutex!(None, "virtio_suspend_queues"),
                sleep <- new_mutex!(Machine::new(None, params.timeout_us), "virtio_suspend_sleep"),
                config_held: AtomicBool::new(false),
                config_pending: AtomicBool::new(false),
                config_writes <- new_mutex!(
                    ConfigWriteHold {
                        held: false,
                        writes: HeldWrites::new(),
                    },
                    "virtio_suspend_config_writes"
                ),
            }),
            GFP_KERNEL,
        )?;
        // From here the virtio device's refcount owns the memory: `release`
        // frees it. It is never moved: it stays where `pin_init` put it.
        // SAFETY: `release` rebuilds the pinned box and drops it in place.
        let vm = KBox::into_raw(unsafe { Pin::into_inner_unchecked(vm) });
        // SAFETY: `vm` is valid and not yet shared with anyone.
        let vdev = unsafe { (*vm).vdev() };
        // SAFETY: As above; the parent outlives the virtio device; the
        // sysfs groups are static.
        unsafe {
            (*vdev).dev.parent = &raw mut (*pdev.as_raw()).dev;
            (*vdev).dev.release = Some(release);
            (*vdev).dev.groups = sysfs::groups();
            (*vdev).config = virtio::config_ops::<VmDevice>();
            (*vdev).id.device = id.device_id;
            (*vdev).id.vendor = id.vendor_id;
        }
        // SAFETY: `vdev` is fully set up. On failure the core still holds
        // the initial reference, and dropping it runs `release`.
        let ret = unsafe { bindings::register_virtio_device(vdev) };
        if ret != 0 {
            // SAFETY: see above.
            unsafe { bindings::put_device(&raw mut (*vdev).dev) };
            return Err(Error::from_errno(ret));
        }
        // SAFETY: `vm` came from `KBox::into_raw`, never NULL; registered.
        let vm_ref = unsafe { &*vm };
        // SAFETY: registered, so `bus` is the virtio bus.
        if let Err(e) = unbind_watch::watch(unsafe { (*vdev).dev.bus }) {
            dev_warn!(
                vm_ref.dev(),
                "cannot watch driver unbinds (error {}): unbinding a driver from a suspended device may hang\n",
                e.to_errno()
            );
        }
        // SAFETY: registered, so it has a name.
        let name = unsafe { CStr::from_char_ptr(bindings::dev_name(&raw mut (*vdev).dev)) };
        // SAFETY: `Bound` removes the file before it unregisters `vm`.
        let control = unsafe { ControlFile::create(name, vm_ref) };
        if control.is_none() {
            dev_warn!(
                vm_ref.dev(),
                "no debugfs control file (is debugfs enabled?)\n"
            );
        }
        Ok(KBox::new(
            Bound {
                // SAFETY: `vm` came from `KBox::into_raw`, never NULL.
                vm: unsafe { NonNull::new_unchecked(vm) },
                control,
            },
            GFP_KERNEL,
        )?)
    }

    fn remove(_pdev: &platform::Device, data: KBox<Bound>) {
        drop(data);
    }

    fn suspend(bound: &Bound) -> Result {
        bound.vm().system_suspend()
    }

    fn resume(bound: &Bound) -> Result {
        bound.vm().system_resume()
    }

    // Hibernation keeps the reset-based path: the image is restored by a
    // new boot, after which the device's state no longer matches the
    // driver's, and poweroff ends the device's state anyway.
    fn freeze(bound: &Bound) -> Result {
        bound.vm().classic_freeze()
    }

    fn restore(bound: &Bound) -> Result {
        bound.vm().classic_restore()
    }
}

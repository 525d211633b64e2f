// SPDX-License-Identifier: GPL-2.0

//! One virtio-pci (modern) device: its common configuration, queues,
//! notifications and interrupt vectors, as the virtio core and the
//! SUSPEND engine drive them.

use kernel::{
    fmt, new_mutex,
    prelude::*,
    str::CString,
    sync::{Arc, Mutex},
};

use crate::compat::io::IoMem;
use crate::compat::irq::{self, IrqReturn};
use crate::compat::pci;
use crate::logic::mmio::{has_feature, F_NOTIFICATION_DATA};
use crate::logic::pci::{
    common, irq_plans, notify_offset, IrqPlan, COMMON_CFG_MIN, ISR_CONFIG, ISR_QUEUE, NO_VECTOR,
};
use crate::params::SuspendParams;
use crate::suspend::{Engine, SuspendTransport, DETACHED_QUEUE_SIZE};
use crate::transport::{queue_size, queues_interrupt};
use kernel::virtio::transport::{
    EmbeddedDevice, NewQueue, Notification, Notifier, Queue, QueueSetup, Registered, ResetWait,
    TransportRef, Vring,
};

/// The common configuration every modern device has: accesses inside it
/// are checked at compile time.
pub(super) const COMMON_SIZE: usize = COMMON_CFG_MIN as usize;
pub(super) type CommonCfg = IoMem<COMMON_SIZE>;

/// The ring alignment the C virtio-pci modern transport uses
/// (`SMP_CACHE_BYTES` on x86).
const VRING_ALIGN: u32 = 64;

/// Where the device's structures are mapped.
pub(super) struct Regions {
    pub(super) common: CommonCfg,
    pub(super) isr: IoMem<1>,
    pub(super) notify: IoMem,
    pub(super) notify_off_multiplier: u32,
    /// Absent for device types without configuration.
    pub(super) device: Option<IoMem>,
    /// Shared memory regions: ID, bus address, length.
    pub(super) shm: KVec<(u8, u64, u64)>,
}

/// One virtio-pci device and the virtio device registered for it.
///
/// # Invariants
///
/// As for `MmioDevice`: freed by the virtio device's release once
/// registered, never moved; the mappings in `regions` stay mapped while
/// held (`IoMem`) and are used only while the driver is bound, as for the
/// mmio transport (see `MmioDevice`): `suspend::Bound` removes the debugfs
/// file, then unregistering the virtio device removes the sysfs files
/// and unbinds the virtio driver, whose remove frees the queues and
/// their interrupts (`del_vqs`).
#[pin_data]
pub(crate) struct PciDevice {
    vdev: EmbeddedDevice,
    pdev: pci::DeviceRef,
    regions: Regions,
    /// The device keeps its state through D3hot (PM capability's
    /// No_Soft_Reset).
    no_soft_reset: bool,
    /// The queues, their interrupt vectors and handlers: present from
    /// `find_vqs` to `del_vqs`.
    #[pin]
    queues: Mutex<Option<ActiveQueues>>,
    #[pin]
    engine: Engine,
}

/// An active queue of the device.
struct PciQueue {
    index: u16,
    vring: Arc<Vring>,
    /// Where the queue is notified.
    notify: IoMem<2>,
}

impl Queue for PciQueue {
    fn vring(&self) -> &Vring {
        &self.vring
    }
}

impl PciQueue {
    /// Notifies the device of this queue directly, not through
    /// virtio_ring (which defers notifications while the queue is held).
    fn notify_device(&self) {
        self.notify.write16::<0>(self.index);
    }

    /// Tells the device where the rings are and which vector to use, and
    /// enables the queue.
    fn activate(&self, common: &CommonCfg, vector: u16) -> Result {
        let [desc, driver, device] = self.vring.addresses();
        common.write16::<{ common::QUEUE_SELECT }>(self.index);
        common.write16::<{ common::QUEUE_SIZE }>(self.vring.size() as u16);
        common.write16::<{ common::QUEUE_MSIX_VECTOR }>(vector);
        if vector != NO_VECTOR && common.read16::<{ common::QUEUE_MSIX_VECTOR }>() != vector {
            return Err(EBUSY);
        }
        for (low, addr) in [
            (common::QUEUE_DESC, desc),
            (common::QUEUE_DRIVER, driver),
            (common::QUEUE_DEVICE, device),
        ] {
            common.try_write32(low, addr as u32)?;
            common.try_write32(low + 4, (addr >> 32) as u32)?;
        }
        common.write16::<{ common::QUEUE_ENABLE }>(1);
        Ok(())
    }
}

/// What one interrupt vector serves.
#[derive(Clone, Copy)]
enum Role {
    Config,
    Queue(usize),
    AllQueues,
    /// The INTx line: the ISR status says what happened.
    Intx,
}

/// The data of one vector's handler.
struct VectorHandler {
    device: TransportRef<PciDevice>,
    queues: Arc<KVec<PciQueue>>,
    role: Role,
}

impl irq::Handler for VectorHandler {
    fn handle(&self, irq: u32) -> IrqReturn {
        let device = &*self.device;
        match self.role {
            Role::Config => {
                device.engine.config_changed(device.virtio());
                IrqReturn::Handled
            }
            // As the C transport: whether the queue had work.
            Role::Queue(n) => {
                if self.queues[n].vring.interrupt(irq) {
                    IrqReturn::Handled
                } else {
                    IrqReturn::None
                }
            }
            Role::AllQueues => queues_interrupt(&self.queues, irq),
            Role::Intx => {
                // Reading the ISR status acknowledges it.
                let isr = device.regions.isr.read8::<0>();
                if isr == 0 {
                    return IrqReturn::None;
                }
                if isr & ISR_CONFIG != 0 {
                    device.engine.config_changed(device.virtio());
                }
                if isr & ISR_QUEUE != 0 {
                    queues_interrupt(&self.queues, irq);
                }
                IrqReturn::Handled
            }
        }
    }
}

/// The queues and how their interrupts are routed. Fields drop in order:
/// the handlers are freed before the queues they serve are let go of,
/// and both before the vectors are.
struct ActiveQueues {
    handlers: KVec<irq::Registration<VectorHandler>>,
    queues: Arc<KVec<PciQueue>>,
    /// `None`: a detached device's queues, set up in memory only, without
    /// interrupts.
    plan: Option<IrqPlan>,
    _vectors: Option<pci::IrqVectors>,
}

impl PciDevice {
    pub(super) fn new(
        pdev: pci::DeviceRef,
        regions: Regions,
        no_soft_reset: bool,
        params: SuspendParams,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            vdev: EmbeddedDevice::new(),
            pdev,
            regions,
            no_soft_reset,
            queues <- new_mutex!(None, "virtio_suspend_pci_queues"),
            engine <- Engine::new(params),
        })
    }

    /// Runs `f` on the active queues and how their interrupts are routed
    /// (none before `find_vqs`), with `find_vqs` and `del_vqs` kept out
    /// meanwhile.
    fn with_queues<R>(&self, f: impl FnOnce(&[PciQueue], Option<IrqPlan>) -> R) -> R {
        let active = self.queues.lock();
        match active.as_ref() {
            Some(a) => f(&a.queues, a.plan),
            None => f(&[], None),
        }
    }

    fn common(&self) -> &CommonCfg {
        &self.regions.common
    }

    /// Whether the device may go to D3hot over a system sleep: only
    /// while SUSPENDed, and only if it keeps its state there.
    pub(super) fn may_power_down(&self) -> bool {
        self.no_soft_reset || !self.engine.is_suspended()
    }

    fn setup_queue(this: &Registered<Self>, new: NewQueue<'_>) -> Result<PciQueue> {
        let index = new.index();
        if this.engine.is_detached() {
            // Its notifier is never used: the queue is broken at once.
            let notify = this.regions.notify.subregion::<2>(0, 2)?;
            let notifier = PciNotifier {
                notify: notify.clone(),
                with_data: false,
            };
            return Ok(PciQueue {
                index,
                vring: new.create_vring(DETACHED_QUEUE_SIZE, VRING_ALIGN, notifier)?,
                notify,
            });
        }
        let common = this.common();
        if index >= common.read16::<{ common::NUM_QUEUES }>() {
            dev_err!(
                this.dev(),
                "the driver asks for queue {index}, which the device does not have\n"
            );
            return Err(ENOENT);
        }
        common.write16::<{ common::QUEUE_SELECT }>(index);
        if common.read16::<{ common::QUEUE_ENABLE }>() != 0 {
            dev_err!(
                this.dev(),
                "queue {index} is already enabled before setup\n"
            );
            return Err(ENOENT);
        }
        let size = u32::from(common.read16::<{ common::QUEUE_SIZE }>());
        let num = queue_size(this.dev(), index, size)?;
        let with_data = has_feature(this.virtio().features(), F_NOTIFICATION_DATA);
        let notify_off = common.read16::<{ common::QUEUE_NOTIFY_OFF }>();
        let notify_len = this.regions.notify.maxsize() as u64;
        let offset = notify_offset(
            notify_off,
            this.regions.notify_off_multiplier,
            notify_len,
            with_data,
        )
        .map_err(|e| {
            dev_err!(this.dev(), "queue {index}: {e}\n");
            EINVAL
        })?;
        let width = if with_data { 4 } else { 2 };
        let notify = this.regions.notify.subregion::<2>(offset as usize, width)?;
        let notifier = PciNotifier {
            notify: notify.clone(),
            with_data,
        };
        Ok(PciQueue {
            index,
            vring: new.create_vring(num, VRING_ALIGN, notifier)?,
            notify,
        })
    }

    /// Routes the interrupts as `plan` says: allocates the vectors, tells
    /// the device, and requests a handler for each.
    fn route_interrupts(
        &self,
        device: &TransportRef<PciDevice>,
        plan: IrqPlan,
        queues: &Arc<KVec<PciQueue>>,
    ) -> Result<ActiveQueues> {
        let vectors = self.pdev.alloc_irq_vectors(plan.vectors(queues.len()))?;
        let common = self.common();
        common.write16::<{ common::MSIX_CONFIG }>(plan.config_vector());
        if plan.config_vector() != NO_VECTOR
            && common.read16::<{ common::MSIX_CONFIG }>() != plan.config_vector()
        {
            return Err(EBUSY);
        }
        let mut roles = KVec::new();
        match plan {
            IrqPlan::PerQueue => {
                roles.push((plan.config_vector(), Role::Config), GFP_KERNEL)?;
                for n in 0..queues.len() {
                    roles.push((plan.queue_vector(n), Role::Queue(n)), GFP_KERNEL)?;
                }
            }
            IrqPlan::SharedQueues => {
                roles.push((plan.config_vector(), Role::Config), GFP_KERNEL)?;
                roles.push((plan.queue_vector(0), Role::AllQueues), GFP_KERNEL)?;
            }
            IrqPlan::Intx => roles.push((0, Role::Intx), GFP_KERNEL)?,
        }
        let mut handlers = KVec::with_capacity(roles.len(), GFP_KERNEL)?;
        for (vector, role) in roles {
            let name = match role {
                Role::Config => CString::try_from_fmt(fmt!("{}-config", device.virtio().name()))?,
                Role::Queue(n) => CString::try_from_fmt(fmt!(
                    "{}-{}",
                    device.virtio().name(),
                    queues[n].vring.name()
                ))?,
                Role::AllQueues => {
                    CString::try_from_fmt(fmt!("{}-virtqueues", device.virtio().name()))?
                }
                Role::Intx => CString::try_from_fmt(fmt!("{}", device.virtio().name()))?,
            };
            let handler = VectorHandler {
                device: device.clone(),
                queues: queues.clone(),
                role,
            };
            handlers.push(
                irq::Registration::request_shared(vectors.irq(vector)?, name, handler)?,
                GFP_KERNEL,
            )?;
        }
        Ok(ActiveQueues {
            handlers,
            queues: queues.clone(),
            plan: Some(plan),
            _vectors: Some(vectors),
        })
    }

    /// Waits for running handlers of every vector.
    fn synchronize_vectors(&self) {
        if let Some(active) = self.queues.lock().as_ref() {
            for handler in active.handlers.iter() {
                irq::synchronize(handler.irq());
            }
        }
    }
}

/// Where a queue's notifications go: its notification address, written
/// the queue's index, or with `VIRTIO_F_NOTIFICATION_DATA` the
/// notification data (the region is 4 bytes then).
struct PciNotifier {
    notify: IoMem<2>,
    with_data: bool,
}

impl Notifier for PciNotifier {
    fn notify(&self, n: &Notification<'_>) {
        if self.with_data {
            // Cannot fail: the region is 4 bytes (`setup_queue`).
            let _ = self.notify.try_write32(0, n.data());
        } else {
            self.notify.write16::<0>(n.index());
        }
    }
}

crate::suspend::transport_ops::engine_transport!(PciDevice, vdev);

impl SuspendTransport for PciDevice {
    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn read_config(&self, offset: usize, buf: &mut [u8]) -> Result {
        let Some(cfg) = self.regions.device.as_ref() else {
            dev_err!(
                self.pdev.as_dev(),
                "config read, but the device has no configuration\n"
            );
            return Err(EINVAL);
        };
        let mut read = || -> Result {
            match buf.len() {
                1 => buf[0] = cfg.try_read8(offset)?,
                2 => buf.copy_from_slice(&cfg.try_read16(offset)?.to_le_bytes()),
                4 => buf.copy_from_slice(&cfg.try_read32(offset)?.to_le_bytes()),
                8 => {
                    let (low, high) = (cfg.try_read32(offset)?, cfg.try_read32(offset + 4)?);
                    buf[..4].copy_from_slice(&low.to_le_bytes());
                    buf[4..].copy_from_slice(&high.to_le_bytes());
                }
                _ => return Err(EINVAL),
            }
            Ok(())
        };
        if read().is_err() {
            dev_err!(
                self.pdev.as_dev(),
                "config read of {} bytes at {offset:#x} refused: not aligned, or outside the {}-byte device configuration\n",
                buf.len(),
                cfg.maxsize()
            );
            return Err(EINVAL);
        }
        Ok(())
    }

    fn config_generation(&self) -> u32 {
        self.common()
            .read8::<{ common::CONFIG_GENERATION }>()
            .into()
    }

    fn read_status(&self) -> u8 {
        self.common().read8::<{ common::DEVICE_STATUS }>()
    }

    fn write_status(&self, status: u8) {
        self.common().write8::<{ common::DEVICE_STATUS }>(status);
    }

    fn after_reset(&self, wait: ResetWait) {
        // Then no handler may still run for the device as it was (a
        // device that is gone raises nothing new, but a handler of what
        // it raised before may still run). One whose reset timed out may
        // still be raising: the caller gives it up.
        if wait != ResetWait::TimedOut {
            self.synchronize_vectors();
        }
    }

    fn setup_queues(&self, setup: QueueSetup<'_>) -> Result {
        let device = TransportRef::new(setup.device()).ok_or(EINVAL)?;
        let queues = setup.create(|new| Self::setup_queue(&device, new))?;
        let queues = Arc::new(queues, GFP_KERNEL)?;
        if self.engine.is_detached() {
            *self.queues.lock() = Some(ActiveQueues {
                handlers: KVec::new(),
                queues,
                plan: None,
                _vectors: None,
            });
            return Ok(());
        }
        let msix = self.pdev.msix_vector_count();
        let mut active = None;
        for plan in irq_plans(msix, queues.len()) {
            match self.route_interrupts(&device, plan, &queues) {
                Ok(a) => {
                    active = Some((a, plan));
                    break;
                }
                // A failed way has freed what it set up.
                Err(e) => dev_warn!(
                    device.dev(),
                    "interrupts via {}: error {}; trying the next way\n",
                    plan.name(),
                    e.to_errno()
                ),
            }
        }
        let (active, plan) = active.ok_or_else(|| {
            dev_err!(device.dev(), "no way to route the device's interrupts\n");
            EIO
        })?;
        for (n, q) in active.queues.iter().enumerate() {
            if let Err(e) = q.activate(self.common(), plan.queue_vector(n)) {
                dev_err!(
                    device.dev(),
                    "queue {}: device refused its vector\n",
                    q.index
                );
                return Err(e);
            }
        }
        *self.queues.lock() = Some(active);
        Ok(())
    }

    fn delete_queues(&self) {
        let active = self.queues.lock().take();
        if let Some(active) = active {
            // Tell the device to use no vector any more (the driver has
            // reset it, which a hot-unplugged device cannot confirm);
            // then the handlers, queues and vectors go, in that order.
            let common = self.common();
            if active.plan.is_some_and(|plan| plan != IrqPlan::Intx) {
                for q in active.queues.iter() {
                    common.write16::<{ common::QUEUE_SELECT }>(q.index);
                    common.write16::<{ common::QUEUE_MSIX_VECTOR }>(NO_VECTOR);
                }
                common.write16::<{ common::MSIX_CONFIG }>(NO_VECTOR);
            }
            drop(active);
        }
    }

    fn synchronize_irqs(&self) {
        self.synchronize_vectors();
    }

    fn device_features(&self) -> u64 {
        let common = self.common();
        common.write32::<{ common::DEVICE_FEATURE_SELECT }>(1);
        let high = common.read32::<{ common::DEVICE_FEATURE }>();
        common.write32::<{ common::DEVICE_FEATURE_SELECT }>(0);
        let low = common.read32::<{ common::DEVICE_FEATURE }>();
        (u64::from(high) << 32) | u64::from(low)
    }

    fn bus_device_name(&self) -> &CStr {
        // The PCI function's name; `pdev` keeps it allocated.
        self.pdev.name()
    }

    fn shm_region(&self, id: u8) -> Option<(u64, u64)> {
        self.regions
            .shm
            .iter()
            .find(|(shm_id, _, _)| *shm_id == id)
            .map(|&(_, addr, len)| (addr, len))
    }

    fn for_each_vring(&self, f: &mut dyn FnMut(&Vring) -> Result) -> Result {
        self.with_queues(|list, _| list.iter().try_for_each(|q| f(&q.vring)))
    }

    fn write_features(&self, features: u64) {
        let common = self.common();
        for select in 0..2u32 {
            common.write32::<{ common::DRIVER_FEATURE_SELECT }>(select);
            common.write32::<{ common::DRIVER_FEATURE }>((features >> (32 * select)) as u32);
        }
    }

    fn activate_queues(&self) -> Result {
        self.with_queues(|list, plan| {
            // A reset forgets the vectors too.
            let common = self.common();
            if let Some(plan) = plan {
                common.write16::<{ common::MSIX_CONFIG }>(plan.config_vector());
            }
            list.iter().enumerate().try_for_each(|(n, q)| {
                q.activate(common, plan.map_or(NO_VECTOR, |p| p.queue_vector(n)))
            })
        })
    }

    fn notify_queues_now(&self) {
        self.with_queues(|list, _| list.iter().for_each(PciQueue::notify_device));
    }

    fn config_write_now(&self, offset: usize, data: &[u8]) {
        let Some(cfg) = self.regions.device.as_ref() else {
            dev_err!(
                self.pdev.as_dev(),
                "config write, but the device has no configuration\n"
            );
            return;
        };
        let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let written = match data.len() {
            1 => cfg.try_write8(offset, data[0]),
            2 => cfg.try_write16(offset, u16::from_le_bytes([data[0], data[1]])),
            4 => cfg.try_write32(offset, word(data)),
            8 => cfg
                .try_write32(offset, word(&data[..4]))
                .and_then(|()| cfg.try_write32(offset + 4, word(&data[4..]))),
            _ => Err(EINVAL),
        };
        if written.is_err() {
            dev_err!(
                self.pdev.as_dev(),
                "config write of {} bytes at {offset:#x} refused: not aligned, or outside the {}-byte device configuration\n",
                data.len(),
                cfg.maxsize()
            );
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! One virtio-mmio device: its registers, queues and interrupt, as the
//! virtio core and the SUSPEND engine drive them.

use kernel::{
    fmt, new_mutex,
    prelude::*,
    str::CString,
    sync::{Arc, Mutex},
};

use super::regs::MmioRegs;
use crate::compat::irq::{self, IrqReturn};
use crate::compat::platform;
use crate::logic::mmio::{
    feature_words, has_feature, Reg, F_NOTIFICATION_DATA, INT_CONFIG, INT_VRING, VRING_ALIGN,
};
use crate::params::SuspendParams;
use crate::suspend::{Engine, SuspendTransport, DETACHED_QUEUE_SIZE};
use crate::transport::{queue_size, queues_interrupt};
use kernel::virtio::transport::{
    EmbeddedDevice, NewQueue, Notification, Notifier, Queue, QueueSetup, Registered, TransportRef,
    Vring,
};

/// One virtio-mmio device and the virtio device registered for it.
///
/// # Invariants
///
/// Once registered (`transport::Registration`), `self` is freed by the
/// virtio device's release, never moved.
///
/// `self` can outlive the unbind of the platform device: whoever holds a
/// reference to `vdev` keeps it. What it uses after that is safe because:
/// - the platform device stays allocated: `pdev` holds a reference to it
///   (its name is what `bus_device_name` returns);
/// - `regs` keeps its mapping (`IoMem`), unmapped when the last holder
///   goes; the claim on the memory resource goes at unbind. The users of
///   `regs` (the config operations, the interrupt handler, the queues'
///   notifiers, the sysfs attributes, the debugfs file and the sleep
///   callbacks) have ended when remove returns anyway: `suspend::Bound`
///   removes the debugfs file (waiting for writers), then
///   `unregister_virtio_device()` removes the sysfs files (waiting for
///   readers) and unbinds the virtio driver, whose remove frees the queues
///   and their interrupt (`del_vqs`); PM callbacks never run concurrently
///   with remove. So no access reaches a device the driver no longer owns.
///
/// The interrupt handler's data holds a counted reference to `vdev` while
/// the queues are set up: `del_vqs`, which every driver's remove calls,
/// drops it.
#[pin_data]
pub(crate) struct MmioDevice {
    vdev: EmbeddedDevice,
    regs: MmioRegs,
    pdev: platform::DeviceRef,
    irq: u32,
    /// The queues, present from `find_vqs` to `del_vqs`.
    #[pin]
    queues: Mutex<Option<ActiveQueues>>,
    #[pin]
    engine: Engine,
}

impl MmioDevice {
    /// A device on `regs` and interrupt `irq` of platform device `pdev`,
    /// not registered yet.
    pub(super) fn new(
        pdev: platform::DeviceRef,
        regs: MmioRegs,
        irq: u32,
        params: SuspendParams,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            vdev: EmbeddedDevice::new(),
            regs,
            pdev,
            irq,
            queues <- new_mutex!(None, "virtio_suspend_queues"),
            engine <- Engine::new(params),
        })
    }

    /// Runs `f` on the active queues (none before `find_vqs`), with
    /// `find_vqs` and `del_vqs` kept out meanwhile.
    fn with_queues<R>(&self, f: impl FnOnce(&[MmioQueue]) -> R) -> R {
        let queues = self.queues.lock();
        f(queues.as_ref().map_or(&[][..], ActiveQueues::queues))
    }

    fn setup_queue(this: &Registered<Self>, new: NewQueue<'_>) -> Result<MmioQueue> {
        let index = new.index();
        let attached = !this.engine.is_detached();
        let num = if attached {
            this.regs.write(Reg::QueueSel, index.into());
            if this.regs.read(Reg::QueueReady) != 0 {
                dev_err!(this.dev(), "queue {index} is already active before setup\n");
                return Err(ENOENT);
            }
            queue_size(this.dev(), index, this.regs.read(Reg::QueueNumMax))?
        } else {
            DETACHED_QUEUE_SIZE
        };
        let notifier = MmioNotifier {
            regs: this.regs.clone(),
            with_data: has_feature(this.virtio().features(), F_NOTIFICATION_DATA),
        };
        let queue = MmioQueue {
            regs: this.regs.clone(),
            index: index.into(),
            vring: new.create_vring(num, VRING_ALIGN, notifier)?,
            attached,
        };
        if attached {
            queue.activate();
        }
        Ok(queue)
    }
}

/// Where the queues' notifications go: the `QueueNotify` register.
struct MmioNotifier {
    regs: MmioRegs,
    with_data: bool,
}

impl Notifier for MmioNotifier {
    fn notify(&self, n: &Notification<'_>) {
        let value = if self.with_data {
            n.data()
        } else {
            n.index().into()
        };
        self.regs.write(Reg::QueueNotify, value);
    }
}

/// An active queue of the device; deactivated on drop.
struct MmioQueue {
    regs: MmioRegs,
    index: u32,
    vring: Arc<Vring>,
    /// Set up on the device, not only in memory (a detached device's).
    attached: bool,
}

impl Queue for MmioQueue {
    fn vring(&self) -> &Vring {
        &self.vring
    }
}

impl MmioQueue {
    /// Notifies the device of this queue directly, not through
    /// virtio_ring (which defers notifications while the queue is held).
    fn notify_device(&self) {
        self.regs.write(Reg::QueueNotify, self.index);
    }

    /// Tells the device where the rings are, and enables the queue.
    fn activate(&self) {
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
        if !self.attached {
            return;
        }
        self.regs.write(Reg::QueueSel, self.index);
        self.regs.write(Reg::QueueReady, 0);
        // `vring` may be freed after this: the device must have let go of
        // it.
        if self.regs.read(Reg::QueueReady) != 0 {
            pr_warn!(
                "virtio-suspend-mmio: queue {} still ready after deactivation\n",
                self.index
            );
        }
    }
}

/// The queues of the device, with the interrupt handler that serves them;
/// a detached device's without one (see `Engine::detach`).
enum ActiveQueues {
    Served(irq::Registration<QueueIrq>),
    Detached(KVec<MmioQueue>),
}

impl ActiveQueues {
    fn queues(&self) -> &[MmioQueue] {
        match self {
            ActiveQueues::Served(registration) => &registration.data().queues,
            ActiveQueues::Detached(queues) => queues,
        }
    }
}

/// What the interrupt handler needs: the device, and the queues it serves.
struct QueueIrq {
    queues: KVec<MmioQueue>,
    device: TransportRef<MmioDevice>,
}

impl irq::Handler for QueueIrq {
    fn handle(&self, irq: u32) -> IrqReturn {
        let device = &*self.device;
        let status = device.regs.read(Reg::InterruptStatus);
        device.regs.write(Reg::InterruptAck, status);
        let mut ret = IrqReturn::None;
        if status & INT_CONFIG != 0 {
            device.engine.config_changed(device.virtio());
            ret = IrqReturn::Handled;
        }
        if status & INT_VRING != 0 && queues_interrupt(&self.queues, irq) == IrqReturn::Handled {
            ret = IrqReturn::Handled;
        }
        ret
    }
}

crate::suspend::transport_ops::engine_transport!(MmioDevice, vdev);

impl SuspendTransport for MmioDevice {
    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn read_config(&self, offset: usize, buf: &mut [u8]) -> Result {
        self.regs.config_read(offset, buf).map_err(|e| {
            dev_err!(self.pdev.as_dev(), "config read refused: {e}\n");
            EINVAL
        })
    }

    fn config_write_now(&self, offset: usize, data: &[u8]) {
        if let Err(e) = self.regs.config_write(offset, data) {
            dev_err!(self.pdev.as_dev(), "config write refused: {e}\n");
        }
    }

    fn config_generation(&self) -> u32 {
        self.regs.read(Reg::ConfigGeneration)
    }

    fn read_status(&self) -> u8 {
        self.regs.read(Reg::Status) as u8
    }

    fn write_status(&self, status: u8) {
        self.regs.write(Reg::Status, status.into());
    }

    fn setup_queues(&self, setup: QueueSetup<'_>) -> Result {
        let device = TransportRef::new(setup.device()).ok_or(EINVAL)?;
        let queues = setup.create(|new| Self::setup_queue(&device, new))?;
        if self.engine.is_detached() {
            *self.queues.lock() = Some(ActiveQueues::Detached(queues));
            return Ok(());
        }
        let name = CString::try_from_fmt(fmt!("{}", device.virtio().name()))?;
        let data = QueueIrq { queues, device };
        let registration = irq::Registration::request_shared(self.irq, name, data)?;
        *self.queues.lock() = Some(ActiveQueues::Served(registration));
        Ok(())
    }

    fn delete_queues(&self) {
        let active = self.queues.lock().take();
        if let Some(ActiveQueues::Served(registration)) = active {
            // Free the interrupt first: no handler may see a queue that is
            // going away. Then each queue is deactivated and its ring let
            // go (the virtio core's reference, dropped next, deletes it).
            drop(registration.free());
        }
        // A detached device's queues, without a handler, just go.
    }

    fn synchronize_irqs(&self) {
        irq::synchronize(self.irq);
    }

    fn device_features(&self) -> u64 {
        self.regs.write(Reg::DeviceFeaturesSel, 1);
        let high = self.regs.read(Reg::DeviceFeatures);
        self.regs.write(Reg::DeviceFeaturesSel, 0);
        let low = self.regs.read(Reg::DeviceFeatures);
        (u64::from(high) << 32) | u64::from(low)
    }

    fn bus_device_name(&self) -> &CStr {
        // The platform device's name; `pdev` keeps it allocated.
        self.pdev.name()
    }

    fn for_each_vring(&self, f: &mut dyn FnMut(&Vring) -> Result) -> Result {
        self.with_queues(|list| list.iter().try_for_each(|q| f(&q.vring)))
    }

    fn write_features(&self, features: u64) {
        for (select, word) in feature_words(features) {
            self.regs.write(Reg::DriverFeaturesSel, select);
            self.regs.write(Reg::DriverFeatures, word);
        }
    }

    fn activate_queues(&self) -> Result {
        self.with_queues(|list| list.iter().for_each(MmioQueue::activate));
        Ok(())
    }

    fn notify_queues_now(&self) {
        self.with_queues(|list| list.iter().for_each(MmioQueue::notify_device));
    }
}

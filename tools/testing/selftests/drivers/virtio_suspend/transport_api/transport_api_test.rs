// SPDX-License-Identifier: GPL-2.0

//! The runtime guards of `kernel::virtio::transport` that no transport under the SUSPEND engine
//! reaches (its state machine never freezes twice, restores unfrozen or unbinds frozen): a
//! transport of this module's own, with no hardware (the status in memory, no queues), registers
//! two devices of a private device ID, and a Rust virtio driver of this module's binds to them,
//! counting its freezes and restores, and a freeze of a frozen device, a restore of one that is
//! not, and a remove of a frozen one as violations. The checks run at load, which then fails:
//! with `EAGAIN` if every check passed, `EINVAL` (having said why on the console) if one did not.

use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use kernel::{
    bindings, c_str, device,
    prelude::*,
    virtio::{
        self,
        transport::{
            AttributeGroups, EmbeddedDevice, Negotiation, QueueSetup, Registered, Registration,
            ResetWait, Transport,
        },
        Device,
    },
};

module! {
    type: TransportApiTest,
    name: "transport_api_test",
    license: "GPL",
}

/// No virtio driver of the kernel's has this device ID.
const TEST_DEVICE_ID: u32 = 0x7fff_5a17;

/// A device of the test transport: the status in memory, no configuration, no queues.
struct TestDevice {
    vdev: EmbeddedDevice,
    status: AtomicU8,
}

kernel::embed_virtio_device!(TestDevice, vdev);

impl Transport for TestDevice {
    fn get(_this: &Registered<Self>, _offset: usize, buf: &mut [u8]) {
        buf.fill(0);
    }

    fn set(_this: &Registered<Self>, _offset: usize, _buf: &[u8]) {}

    fn generation(_this: &Registered<Self>) -> u32 {
        0
    }

    fn get_status(this: &Self) -> u8 {
        this.status.load(Ordering::Relaxed)
    }

    fn set_status(this: &Self, status: u8) {
        this.status.store(status, Ordering::Relaxed);
    }

    fn reset(this: &Registered<Self>) -> ResetWait {
        this.status.store(0, Ordering::Relaxed);
        ResetWait::Done
    }

    fn find_vqs(_this: &Registered<Self>, setup: QueueSetup<'_>) -> Result {
        setup.create(|_| Err::<(), _>(ENOENT)).map(|_| ())
    }

    fn del_vqs(_this: &Registered<Self>) {}

    fn synchronize_cbs(_this: &Registered<Self>) {}

    fn get_features(_this: &Registered<Self>) -> u64 {
        1 << bindings::VIRTIO_F_VERSION_1
    }

    fn finalize_features(_this: &Registered<Self>, negotiation: &mut Negotiation<'_>) -> Result {
        negotiation.keep_ring_features();
        Ok(())
    }

    fn bus_name(_this: &Registered<Self>) -> &CStr {
        c_str!("transport_api_test")
    }
}

static NO_GROUPS: AttributeGroups<0> = AttributeGroups::new([]);

/// What the driver saw, of every device it is bound to.
static FREEZES: AtomicU32 = AtomicU32::new(0);
static RESTORES: AtomicU32 = AtomicU32::new(0);
static FROZEN: AtomicU32 = AtomicU32::new(0);
static VIOLATIONS: AtomicU32 = AtomicU32::new(0);

/// The driver of the test devices: counts, and checks the order of, the core's calls.
struct TestDriver;

#[vtable]
impl virtio::Driver for TestDriver {
    type Data = ();
    const NAME: &'static CStr = c_str!("transport_api_test");
    const ID_TABLE: &'static [virtio::DeviceId] = &[virtio::DeviceId::new(TEST_DEVICE_ID)];

    fn probe(_dev: &Device<virtio::Bound>) -> Result<()> {
        Ok(())
    }

    fn remove(dev: &Device<virtio::Bound>, _data: ()) {
        if FROZEN.load(Ordering::Relaxed) & bit(dev) != 0 {
            pr_err!("transport_api_test: {} removed while frozen\n", dev.name());
            VIOLATIONS.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn freeze(dev: &Device<virtio::Bound>, _data: ()) -> Result {
        if FROZEN.fetch_or(bit(dev), Ordering::Relaxed) & bit(dev) != 0 {
            pr_err!("transport_api_test: {} frozen twice\n", dev.name());
            VIOLATIONS.fetch_add(1, Ordering::Relaxed);
        }
        FREEZES.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn restore(dev: &Device<virtio::Bound>, _data: ()) -> Result {
        if FROZEN.fetch_and(!bit(dev), Ordering::Relaxed) & bit(dev) == 0 {
            pr_err!("transport_api_test: {} restored unfrozen\n", dev.name());
            VIOLATIONS.fetch_add(1, Ordering::Relaxed);
        }
        RESTORES.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The device's bit in `FROZEN`.
fn bit(dev: &Device) -> u32 {
    1 << (dev.index() % 32)
}

/// A platform device, the parent of the test devices.
struct Parent(*mut bindings::platform_device);

impl Parent {
    fn new() -> Result<Self> {
        // SAFETY: A new platform device, named by a static string.
        let pdev = unsafe {
            bindings::platform_device_alloc(c_str!("transport_api_test").as_char_ptr(), -1)
        };
        if pdev.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `pdev` was just allocated; on failure the reference is ours to put.
        let ret = unsafe { bindings::platform_device_add(pdev) };
        if ret != 0 {
            // SAFETY: As above.
            unsafe { bindings::platform_device_put(pdev) };
            return Err(Error::from_errno(ret));
        }
        Ok(Self(pdev))
    }

    fn dev(&self) -> &device::Device {
        // SAFETY: A registered platform device, until `self` is dropped.
        unsafe { device::Device::as_ref(&raw mut (*self.0).dev) }
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        // SAFETY: Registered by `new`.
        unsafe { bindings::platform_device_unregister(self.0) };
    }
}

/// Counts the failed checks, saying each on the console.
struct Checks(u32);

impl Checks {
    fn expect(&mut self, what: &str, ok: bool) {
        if ok {
            pr_info!("transport_api_test: ok: {what}\n");
        } else {
            pr_err!("transport_api_test: FAILED: {what}\n");
            self.0 += 1;
        }
    }
}

fn register(parent: &Parent) -> Result<Registration<TestDevice>> {
    let dev = KBox::pin(
        TestDevice {
            vdev: EmbeddedDevice::new(),
            status: AtomicU8::new(0),
        },
        GFP_KERNEL,
    )?;
    Registration::register(
        dev,
        parent.dev(),
        virtio::DeviceId::new(TEST_DEVICE_ID),
        &NO_GROUPS,
    )
}

fn errno(r: Result) -> i32 {
    r.map_or_else(|e| e.to_errno(), |()| 0)
}

/// The checks, on a device `a` and another `b`, both bound to the driver.
fn run(checks: &mut Checks, a: Registration<TestDevice>, b: &Registration<TestDevice>) {
    let (va, vb) = (a.get().virtio(), b.get().virtio());
    {
        let locked = va.lock();
        checks.expect("the driver is bound", locked.has_driver());
        checks.expect(
            "its name",
            locked.driver_name().map(CStr::as_bytes) == Some(&b"transport_api_test"[..]),
        );
        checks.expect("freeze", errno(va.classic_freeze(&locked)) == 0);
        checks.expect(
            "a second freeze: EBUSY",
            errno(va.classic_freeze(&locked)) == -16,
        );
        checks.expect(
            "restore with another device's lock: EINVAL",
            errno(vb.classic_restore(&locked)) == -22,
        );
        checks.expect("restore", errno(va.classic_restore(&locked)) == 0);
        checks.expect(
            "a second restore: EINVAL",
            errno(va.classic_restore(&locked)) == -22,
        );
        checks.expect("freeze again", errno(va.classic_freeze(&locked)) == 0);
    }
    // Unregistered frozen: the kernel crate restores the driver before its remove.
    drop(a);
    checks.expect(
        "restored before unbind",
        RESTORES.load(Ordering::Relaxed) == 2,
    );
    checks.expect(
        "two freezes reached the driver",
        FREEZES.load(Ordering::Relaxed) == 2,
    );
    checks.expect(
        "the driver saw calls in order",
        VIOLATIONS.load(Ordering::Relaxed) == 0,
    );
}

struct TransportApiTest;

impl kernel::Module for TransportApiTest {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let driver = virtio::Registration::<TestDriver>::new(module)?;
        let parent = Parent::new()?;
        let mut checks = Checks(0);
        {
            let a = register(&parent)?;
            let b = register(&parent)?;
            run(&mut checks, a, &b);
        }
        drop(parent);
        drop(driver);
        // Not staying loaded: EAGAIN says every check passed.
        Err(if checks.0 == 0 { EAGAIN } else { EINVAL })
    }
}

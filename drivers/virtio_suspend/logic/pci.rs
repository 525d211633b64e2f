// SPDX-License-Identifier: GPL-2.0

//! virtio over PCI, modern interface (virtio spec, "Virtio Over PCI
//! Bus"): which PCI functions are virtio devices, the vendor capabilities
//! that say where each structure lies, and the checks applied to every
//! value the device supplies, so that a device that lies gets a clear
//! error, never an access outside a BAR.

use core::fmt;

/// Red Hat, Inc.: the PCI vendor of every virtio device.
pub(crate) const VENDOR_ID: u16 = 0x1af4;

/// Why a PCI function of [`VENDOR_ID`] is not a device this transport
/// drives.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IdentityError {
    /// Not a virtio device ID at all (0x1000..=0x107f are).
    NotVirtio(u16),
    /// A transitional device whose legacy interface is all it has: its
    /// subsystem device ID says which virtio device it is, but the modern
    /// capabilities are missing (see [`parse_capabilities`]).
    LegacyOnly,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotVirtio(id) => write!(f, "PCI device ID {id:#06x} is not a virtio device"),
            Self::LegacyOnly => f.write_str("legacy-only virtio device (no modern capabilities)"),
        }
    }
}

/// The virtio device ID of PCI device `device_id` (subsystem device
/// `subsystem_id`): modern devices are 0x1040 + the virtio ID,
/// transitional ones 0x1000..=0x103f with the virtio ID as subsystem.
pub(crate) fn virtio_device_id(device_id: u16, subsystem_id: u16) -> Result<u32, IdentityError> {
    match device_id {
        0x1000..=0x103f => Ok(u32::from(subsystem_id)),
        0x1040..=0x107f => Ok(u32::from(device_id - 0x1040)),
        _ => Err(IdentityError::NotVirtio(device_id)),
    }
}

/// PCI configuration space: where the capability list starts, and the
/// capability ID of vendor-specific capabilities.
pub(crate) const PCI_STATUS: u16 = 0x06;
pub(crate) const PCI_STATUS_CAP_LIST: u8 = 0x10;
pub(crate) const PCI_CAPABILITY_LIST: u16 = 0x34;
pub(crate) const PCI_CAP_ID_VNDR: u8 = 0x09;
/// The kernel's bound on a capability walk (`PCI_FIND_CAP_TTL`): a list
/// that loops ends here.
pub(crate) const CAP_TTL: usize = 48;
/// Standard BARs.
pub(crate) const NUM_BARS: usize = 6;

/// `cfg_type` of `struct virtio_pci_cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CfgType {
    Common,
    Notify,
    Isr,
    Device,
    PciCfg,
    SharedMemory,
}

impl CfgType {
    fn from_raw(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Common),
            2 => Some(Self::Notify),
            3 => Some(Self::Isr),
            4 => Some(Self::Device),
            5 => Some(Self::PciCfg),
            8 => Some(Self::SharedMemory),
            _ => None,
        }
    }

    /// The bytes the driver accesses at least, the alignment the offset
    /// must have, and the most it maps (as the C `virtio_pci_modern`).
    const fn limits(self) -> (u64, u64, u64) {
        match self {
            Self::Common => (COMMON_CFG_MIN, 4, COMMON_CFG_SIZE),
            Self::Notify => (2, 2, u64::MAX),
            Self::Isr => (1, 1, 1),
            Self::Device => (0, 4, 4096),
            Self::PciCfg | Self::SharedMemory => (0, 1, u64::MAX),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Common => "common configuration",
            Self::Notify => "notification",
            Self::Isr => "ISR status",
            Self::Device => "device configuration",
            Self::PciCfg => "PCI configuration access",
            Self::SharedMemory => "shared memory",
        }
    }
}

/// What the driver knows of a BAR: its length (0 if absent) and whether
/// it is memory space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bar {
    pub(crate) len: u64,
    pub(crate) is_mem: bool,
}

/// A checked structure: `length` bytes at `offset` in BAR `bar`, all
/// inside the BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) bar: u8,
    pub(crate) offset: u64,
    pub(crate) length: u64,
}

/// Shared memory regions the driver can look up, at most (the first
/// ones the list presents).
pub(crate) const MAX_SHM_REGIONS: usize = 8;

/// A shared memory region the device offers (`VIRTIO_PCI_CAP_SHARED_MEMORY_CFG`):
/// its ID, and where it lies, or why it is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShmRegion {
    pub(crate) id: u8,
    pub(crate) region: Result<Region, CapError>,
}

/// Where the device's structures are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) common: Region,
    pub(crate) notify: Region,
    pub(crate) notify_off_multiplier: u32,
    pub(crate) isr: Region,
    /// Absent for device types without configuration.
    pub(crate) device: Option<Region>,
    /// Shared memory regions: a bad one is recorded, not fatal, since
    /// only a driver that asks for it needs it (as in C).
    pub(crate) shm: [Option<ShmRegion>; MAX_SHM_REGIONS],
}

/// Why the capability list does not describe a usable device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CapError {
    /// No usable capability of this type.
    Missing(CfgType),
    /// The capability is shorter than its type's structure.
    CapTooShort { at: u8, len: u8 },
    /// The structure is shorter than the driver needs.
    TooShort { cfg: CfgType, length: u64, min: u64 },
    /// The offset does not have the alignment the structure needs.
    Misaligned {
        cfg: CfgType,
        offset: u64,
        align: u64,
    },
    /// The structure does not fit in its BAR.
    OutOfRange {
        cfg: CfgType,
        region: Region,
        bar_len: u64,
    },
    /// `notify_off_multiplier` is neither 0 nor an even power of 2.
    BadMultiplier(u32),
}

impl fmt::Display for CapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(cfg) => write!(f, "no usable {} capability", cfg.name()),
            Self::CapTooShort { at, len } => {
                write!(
                    f,
                    "virtio capability at {at:#04x} is {len} bytes, too short"
                )
            }
            Self::TooShort { cfg, length, min } => write!(
                f,
                "{} structure is {length} bytes, at least {min} needed",
                cfg.name()
            ),
            Self::Misaligned { cfg, offset, align } => write!(
                f,
                "{} structure at offset {offset:#x} is not {align}-byte aligned",
                cfg.name()
            ),
            Self::OutOfRange {
                cfg,
                region,
                bar_len,
            } => write!(
                f,
                "{} structure ({:#x} bytes at {:#x}) lies outside BAR {} ({bar_len:#x} bytes)",
                cfg.name(),
                region.length,
                region.offset,
                region.bar
            ),
            Self::BadMultiplier(m) => write!(
                f,
                "notify_off_multiplier {m} is neither 0 nor an even power of 2"
            ),
        }
    }
}

/// One vendor capability as read from configuration space.
#[derive(Clone, Copy, Debug)]
struct RawCap {
    cfg: CfgType,
    bar: u8,
    id: u8,
    offset: u64,
    length: u64,
    notify_off_multiplier: u32,
}

/// Reads the capability at `at` if it is a virtio one of a known type.
fn read_cap(
    at: u8,
    read8: &impl Fn(u16) -> u8,
    read32: &impl Fn(u16) -> u32,
) -> Option<Result<RawCap, CapError>> {
    let base = u16::from(at);
    let cap_len = read8(base + 2);
    let cfg = CfgType::from_raw(read8(base + 3))?;
    // struct virtio_pci_cap is 16 bytes, the notify one 20, the 64-bit
    // (shared memory) one 24.
    let min_len = match cfg {
        CfgType::Notify => 20,
        CfgType::SharedMemory => 24,
        _ => 16,
    };
    if cap_len < min_len {
        return Some(Err(CapError::CapTooShort { at, len: cap_len }));
    }
    let mut offset = u64::from(read32(base + 8));
    let mut length = u64::from(read32(base + 12));
    let mut notify_off_multiplier = 0;
    match cfg {
        CfgType::Notify => notify_off_multiplier = read32(base + 16),
        CfgType::SharedMemory => {
            offset |= u64::from(read32(base + 16)) << 32;
            length |= u64::from(read32(base + 20)) << 32;
        }
        _ => {}
    }
    Some(Ok(RawCap {
        cfg,
        bar: read8(base + 4),
        id: read8(base + 5),
        offset,
        length,
        notify_off_multiplier,
    }))
}

/// Checks a structure against its type's needs and its BAR; returns the
/// region the driver maps (never more than the type needs).
fn check_region(cap: &RawCap, bars: &[Bar; NUM_BARS]) -> Result<Region, CapError> {
    let (min, align, most) = cap.cfg.limits();
    let cfg = cap.cfg;
    if cap.length < min {
        return Err(CapError::TooShort {
            cfg,
            length: cap.length,
            min,
        });
    }
    if cap.offset % align != 0 {
        return Err(CapError::Misaligned {
            cfg,
            offset: cap.offset,
            align,
        });
    }
    let region = Region {
        bar: cap.bar,
        offset: cap.offset,
        length: cap.length.min(most),
    };
    let bar_len = bars[usize::from(cap.bar)].len;
    match cap.offset.checked_add(region.length) {
        Some(end) if end <= bar_len => Ok(region),
        _ => Err(CapError::OutOfRange {
            cfg,
            region,
            bar_len,
        }),
    }
}

/// Walks the capability list with `read8`/`read32` (configuration space
/// reads at an offset) and returns where the device's structures are.
///
/// As the spec asks, capabilities naming a reserved BAR or one that is
/// absent or not memory space are ignored, and of several of one type
/// the first usable one is taken; that one must then be valid. A list
/// that loops or points into the header ends as the kernel's own walk
/// does.
pub(crate) fn parse_capabilities(
    bars: &[Bar; NUM_BARS],
    read8: impl Fn(u16) -> u8,
    read32: impl Fn(u16) -> u32,
) -> Result<Layout, CapError> {
    let mut common = None;
    let mut notify = None;
    let mut isr = None;
    let mut device = None;
    let mut shm = [None; MAX_SHM_REGIONS];
    let mut shm_count = 0;
    if read8(PCI_STATUS) & PCI_STATUS_CAP_LIST != 0 {
        let mut at = read8(PCI_CAPABILITY_LIST);
        for _ in 0..CAP_TTL {
            if at < 0x40 {
                break;
            }
            at &= !3;
            let id = read8(u16::from(at));
            let next = read8(u16::from(at) + 1);
            if id == 0xff {
                break;
            }
            if id == PCI_CAP_ID_VNDR {
                if let Some(cap) = read_cap(at, &read8, &read32) {
                    let cap = cap?;
                    let usable = usize::from(cap.bar) < NUM_BARS && {
                        let bar = bars[usize::from(cap.bar)];
                        bar.is_mem && bar.len > 0
                    };
                    if cap.cfg == CfgType::SharedMemory
                        && shm_count < MAX_SHM_REGIONS
                        && !shm.iter().flatten().any(|r: &ShmRegion| r.id == cap.id)
                    {
                        let region = if usable {
                            check_region(&cap, bars)
                        } else {
                            Err(CapError::Missing(CfgType::SharedMemory))
                        };
                        shm[shm_count] = Some(ShmRegion { id: cap.id, region });
                        shm_count += 1;
                    }
                    let slot = match cap.cfg {
                        CfgType::Common => Some(&mut common),
                        CfgType::Notify => Some(&mut notify),
                        CfgType::Isr => Some(&mut isr),
                        CfgType::Device => Some(&mut device),
                        CfgType::PciCfg | CfgType::SharedMemory => None,
                    };
                    if let Some(slot) = slot {
                        if usable && slot.is_none() {
                            *slot = Some(cap);
                        }
                    }
                }
            }
            at = next;
        }
    }
    let common = common.ok_or(CapError::Missing(CfgType::Common))?;
    let notify = notify.ok_or(CapError::Missing(CfgType::Notify))?;
    let isr = isr.ok_or(CapError::Missing(CfgType::Isr))?;
    let multiplier = notify.notify_off_multiplier;
    // "an even power of 2, or 0": a power of 2 that keeps every queue's
    // 16-bit notification aligned, so not 1.
    if multiplier != 0 && (!multiplier.is_power_of_two() || multiplier == 1) {
        return Err(CapError::BadMultiplier(multiplier));
    }
    Ok(Layout {
        common: check_region(&common, bars)?,
        notify: check_region(&notify, bars)?,
        notify_off_multiplier: multiplier,
        isr: check_region(&isr, bars)?,
        device: device.map(|d| check_region(&d, bars)).transpose()?,
        shm,
    })
}

/// The common configuration structure (`struct
/// virtio_pci_modern_common_cfg`): field offsets.
pub(crate) mod common {
    pub(crate) const DEVICE_FEATURE_SELECT: usize = 0x00;
    pub(crate) const DEVICE_FEATURE: usize = 0x04;
    pub(crate) const DRIVER_FEATURE_SELECT: usize = 0x08;
    pub(crate) const DRIVER_FEATURE: usize = 0x0c;
    pub(crate) const MSIX_CONFIG: usize = 0x10;
    pub(crate) const NUM_QUEUES: usize = 0x12;
    pub(crate) const DEVICE_STATUS: usize = 0x14;
    pub(crate) const CONFIG_GENERATION: usize = 0x15;
    pub(crate) const QUEUE_SELECT: usize = 0x16;
    pub(crate) const QUEUE_SIZE: usize = 0x18;
    pub(crate) const QUEUE_MSIX_VECTOR: usize = 0x1a;
    pub(crate) const QUEUE_ENABLE: usize = 0x1c;
    pub(crate) const QUEUE_NOTIFY_OFF: usize = 0x1e;
    pub(crate) const QUEUE_DESC: usize = 0x20;
    pub(crate) const QUEUE_DRIVER: usize = 0x28;
    pub(crate) const QUEUE_DEVICE: usize = 0x30;
}

/// The common configuration every modern device has (`struct
/// virtio_pci_common_cfg`), and the extended one this driver maps when
/// present.
pub(crate) const COMMON_CFG_MIN: u64 = 0x38;
pub(crate) const COMMON_CFG_SIZE: u64 = 0x40;

/// `msix_config`/`queue_msix_vector` value for "no vector".
pub(crate) const NO_VECTOR: u16 = 0xffff;

/// ISR status bits (INTx only).
pub(crate) const ISR_QUEUE: u8 = 1 << 0;
pub(crate) const ISR_CONFIG: u8 = 1 << 1;

/// Why a queue cannot be notified where the device says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotifyOutOfRange {
    pub(crate) queue_notify_off: u16,
    pub(crate) offset: u64,
    pub(crate) notify_len: u64,
}

impl fmt::Display for NotifyOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "queue_notify_off {} puts the notification at {:#x}, outside the {:#x}-byte notification structure",
            self.queue_notify_off, self.offset, self.notify_len
        )
    }
}

/// Where in the notification structure a queue is notified: its
/// `queue_notify_off` times the multiplier, with room for the 16-bit
/// queue index, or the 32-bit notification data.
pub(crate) fn notify_offset(
    queue_notify_off: u16,
    multiplier: u32,
    notify_len: u64,
    with_data: bool,
) -> Result<u64, NotifyOutOfRange> {
    let offset = u64::from(queue_notify_off) * u64::from(multiplier);
    let width = if with_data { 4 } else { 2 };
    if offset + width > notify_len {
        return Err(NotifyOutOfRange {
            queue_notify_off,
            offset,
            notify_len,
        });
    }
    Ok(offset)
}

/// How the device's interrupts are routed, best first: a vector per
/// queue plus one for config changes; one for config and one shared by
/// the queues; a legacy INTx line shared by everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IrqPlan {
    PerQueue,
    SharedQueues,
    Intx,
}

impl IrqPlan {
    /// Vectors the plan needs for `queues` queues (0 for INTx).
    pub(crate) fn vectors(self, queues: usize) -> usize {
        match self {
            Self::PerQueue => queues + 1,
            Self::SharedQueues => 2,
            Self::Intx => 0,
        }
    }

    /// The vector of queue `n` (after the config vector, 0).
    pub(crate) fn queue_vector(self, n: usize) -> u16 {
        match self {
            Self::PerQueue => (n + 1) as u16,
            Self::SharedQueues => 1,
            Self::Intx => NO_VECTOR,
        }
    }

    pub(crate) fn config_vector(self) -> u16 {
        match self {
            Self::PerQueue | Self::SharedQueues => 0,
            Self::Intx => NO_VECTOR,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::PerQueue => "MSI-X, a vector per queue",
            Self::SharedQueues => "MSI-X, one vector shared by the queues",
            Self::Intx => "INTx",
        }
    }
}

/// The plans to try, in order, for a device with `msix_vectors` MSI-X
/// table entries (0 without MSI-X) and `queues` queues.
pub(crate) fn irq_plans(msix_vectors: usize, queues: usize) -> impl Iterator<Item = IrqPlan> {
    [IrqPlan::PerQueue, IrqPlan::SharedQueues, IrqPlan::Intx]
        .into_iter()
        .filter(move |p| p.vectors(queues) <= msix_vectors)
}

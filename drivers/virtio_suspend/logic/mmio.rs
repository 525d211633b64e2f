// SPDX-License-Identifier: GPL-2.0

//! The virtio-mmio register map (virtio spec, "MMIO Device Register
//! Layout") and the checks applied to every value the device supplies.

/// Register offsets from the start of the MMIO window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Reg {
    MagicValue = 0x000,
    Version = 0x004,
    DeviceId = 0x008,
    VendorId = 0x00c,
    DeviceFeatures = 0x010,
    DeviceFeaturesSel = 0x014,
    DriverFeatures = 0x020,
    DriverFeaturesSel = 0x024,
    QueueSel = 0x030,
    QueueNumMax = 0x034,
    QueueNum = 0x038,
    QueueReady = 0x044,
    QueueNotify = 0x050,
    InterruptStatus = 0x060,
    InterruptAck = 0x064,
    Status = 0x070,
    QueueDescLow = 0x080,
    QueueDescHigh = 0x084,
    QueueAvailLow = 0x090,
    QueueAvailHigh = 0x094,
    QueueUsedLow = 0x0a0,
    QueueUsedHigh = 0x0a4,
    ConfigGeneration = 0x0fc,
}

impl Reg {
    /// Byte offset of the register.
    pub(crate) const fn offset(self) -> usize {
        self as usize
    }
}

/// Where the device-specific configuration space starts.
pub(crate) const CONFIG_OFFSET: usize = 0x100;

/// "virt" in little endian.
pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"virt");

/// The only register layout this transport drives: virtio 1.x.
pub(crate) const VERSION_MODERN: u32 = 2;

/// Split virtqueues hold at most 32768 entries (virtio spec 2.7).
pub(crate) const QUEUE_SIZE_MAX: u32 = 32768;

/// The vring alignment the C driver uses (`VIRTIO_MMIO_VRING_ALIGN`).
pub(crate) const VRING_ALIGN: u32 = 4096;

/// InterruptStatus bits.
pub(crate) const INT_VRING: u32 = 1 << 0;
pub(crate) const INT_CONFIG: u32 = 1 << 1;

/// Feature bits the transport itself looks at.
pub(crate) const F_VERSION_1: u32 = 32;
pub(crate) const F_NOTIFICATION_DATA: u32 = 38;

/// Whether feature `bit` is set in `features`.
pub(crate) const fn has_feature(features: u64, bit: u32) -> bool {
    bit < 64 && features & (1u64 << bit) != 0
}

/// Why a probed window is not a device this transport drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdentityError {
    /// Not a virtio-mmio device at all.
    BadMagic(u32),
    /// A legacy (version 1) device: the C `virtio_mmio` drives those.
    Legacy,
    /// A register layout newer or older than any the spec defines.
    UnknownVersion(u32),
    /// Device ID 0: a placeholder slot with no device behind it. Not an
    /// error to report, just nothing to bind.
    Placeholder,
}

/// What identifies a modern device that passed the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) device_id: u32,
    pub(crate) vendor_id: u32,
}

/// The MMIO window the platform describes is too small for the register
/// block: `.0` bytes were given, at least [`CONFIG_OFFSET`] are needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WindowTooSmall(pub(crate) usize);

/// Checks that an MMIO window of `len` bytes holds every register.
pub(crate) fn check_window(len: usize) -> Result<(), WindowTooSmall> {
    if len < CONFIG_OFFSET {
        return Err(WindowTooSmall(len));
    }
    Ok(())
}

/// Checks the identification registers in the order the spec reads them,
/// stopping at the first one that disqualifies the device.
pub(crate) fn identify(mut read: impl FnMut(Reg) -> u32) -> Result<Identity, IdentityError> {
    let magic = read(Reg::MagicValue);
    if magic != MAGIC {
        return Err(IdentityError::BadMagic(magic));
    }
    match read(Reg::Version) {
        VERSION_MODERN => {}
        1 => return Err(IdentityError::Legacy),
        v => return Err(IdentityError::UnknownVersion(v)),
    }
    let device_id = read(Reg::DeviceId);
    if device_id == 0 {
        return Err(IdentityError::Placeholder);
    }
    Ok(Identity {
        device_id,
        vendor_id: read(Reg::VendorId),
    })
}

/// Why a virtqueue cannot be set up with the size the device offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueueSizeError {
    /// QueueNumMax read 0: the device has no such queue.
    Unavailable,
    /// Larger than a split ring can be.
    TooLarge(u32),
}

/// Checks the QueueNumMax the device reports.
pub(crate) fn check_queue_size(num_max: u32) -> Result<u32, QueueSizeError> {
    match num_max {
        0 => Err(QueueSizeError::Unavailable),
        n if n > QUEUE_SIZE_MAX => Err(QueueSizeError::TooLarge(n)),
        n => Ok(n),
    }
}

/// Why a configuration-space access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConfigAccessError {
    /// Only 1, 2, 4 and 8 byte accesses exist.
    BadLength(usize),
    /// The access runs past the end of the MMIO window.
    OutOfWindow { offset: usize, len: usize },
    /// Not aligned to its width (to 4 bytes for 8, read as two words), as
    /// the spec has drivers access configuration fields.
    Misaligned { offset: usize, len: usize },
}

/// Checks a driver's configuration-space access against the window the
/// platform gave us, so that a short window never turns into an MMIO
/// access past the mapping, and its alignment (natural, 4 bytes for an
/// 8-byte access). Returns the offset from the window's start.
pub(crate) fn config_access(
    window: usize,
    offset: usize,
    len: usize,
) -> Result<usize, ConfigAccessError> {
    if !matches!(len, 1 | 2 | 4 | 8) {
        return Err(ConfigAccessError::BadLength(len));
    }
    let start = CONFIG_OFFSET.checked_add(offset);
    match start.and_then(|s| s.checked_add(len)) {
        Some(end) if end <= window => {}
        _ => return Err(ConfigAccessError::OutOfWindow { offset, len }),
    }
    if offset % len.min(4) != 0 {
        return Err(ConfigAccessError::Misaligned { offset, len });
    }
    Ok(CONFIG_OFFSET + offset)
}

/// The high and low halves of a 64-bit feature word, as the select
/// registers take them: `[(select, value)]`.
pub(crate) const fn feature_words(features: u64) -> [(u32, u32); 2] {
    [(1, (features >> 32) as u32), (0, features as u32)]
}

impl core::fmt::Display for ConfigAccessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ConfigAccessError::BadLength(len) => {
                write!(f, "{len}-byte access (only 1, 2, 4 and 8 exist)")
            }
            ConfigAccessError::OutOfWindow { offset, len } => write!(
                f,
                "{len}-byte access at offset {offset:#x} runs past the MMIO window"
            ),
            ConfigAccessError::Misaligned { offset, len } => {
                write!(f, "{len}-byte access at offset {offset:#x} is not aligned")
            }
        }
    }
}

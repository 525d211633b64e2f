// SPDX-License-Identifier: GPL-2.0

//! The SUSPEND dialects: the merged virtio spec and the two drafts that
//! devices in the wild implement. Each says which feature bit offers the
//! feature, which status bit carries the request, and what the status
//! register reads when the device has acted on it.

/// Device status bits (virtio spec 2.1).
pub(crate) const S_ACKNOWLEDGE: u8 = 1;
pub(crate) const S_DRIVER: u8 = 2;
pub(crate) const S_DRIVER_OK: u8 = 4;
pub(crate) const S_FEATURES_OK: u8 = 8;
pub(crate) const S_SUSPEND: u8 = 16;
pub(crate) const S_STOP: u8 = 32;
pub(crate) const S_NEEDS_RESET: u8 = 64;
pub(crate) const S_FAILED: u8 = 128;

/// The status of a device the driver has fully set up.
pub(crate) const S_RUNNING: u8 = S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK;

/// How a device does SUSPEND.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dialect {
    /// The merged spec: feature bit 43, status bit SUSPEND (16); the
    /// device acknowledges with SUSPEND=1, DRIVER_OK=0 and resumes when
    /// DRIVER_OK is written back.
    Spec,
    /// The 2024 draft crosvm ships: feature bit 42, status bit SUSPEND;
    /// suspended when SUSPEND reads back 1, resumed by clearing it.
    V5,
    /// The 2021 STOP draft: status bit STOP (32); stopped when STOP reads
    /// back 1; resumed by a reset and re-initialization, the device keeping
    /// its queue state. Its feature bit was 41, which the merged spec now
    /// gives to VIRTIO_F_ADMIN_VQ: the device and the driver must agree on
    /// another one (`stop_feature_bit`, [`STOP_FEATURE_BITS`]).
    Stop,
}

/// What the driver does to bring a suspended device back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResumeBy {
    /// Write the returned status and wait for the device to run.
    Status(u8),
    /// Reset the device and set it up again on the same queues.
    Reinit,
}

impl Dialect {
    /// The name used by the `dialect=` parameter and in sysfs.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Dialect::Spec => "spec",
            Dialect::V5 => "v5",
            Dialect::Stop => "stop",
        }
    }

    /// Parses a `dialect=` value.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        [Dialect::Spec, Dialect::V5, Dialect::Stop]
            .into_iter()
            .find(|d| d.name() == name)
    }

    /// The feature bit through which a device offers this dialect; `None`
    /// for the STOP draft, whose bit is configured.
    pub(crate) const fn feature_bit(self) -> Option<u32> {
        match self {
            Dialect::Spec => Some(43),
            Dialect::V5 => Some(42),
            Dialect::Stop => None,
        }
    }

    /// The status bit that carries the request.
    pub(crate) const fn status_bit(self) -> u8 {
        match self {
            Dialect::Spec | Dialect::V5 => S_SUSPEND,
            Dialect::Stop => S_STOP,
        }
    }

    /// The status to write to ask a running device to suspend.
    pub(crate) const fn suspend_request(self, status: u8) -> u8 {
        status | self.status_bit()
    }

    /// Whether `status` shows the device suspended.
    pub(crate) const fn is_suspended(self, status: u8) -> bool {
        let bit = status & self.status_bit() != 0;
        match self {
            Dialect::Spec => bit && status & S_DRIVER_OK == 0,
            Dialect::V5 | Dialect::Stop => bit,
        }
    }

    /// How to ask a suspended device to run again.
    pub(crate) const fn resume(self, status: u8) -> ResumeBy {
        match self {
            // Write DRIVER_OK back; SUSPEND cleared so that the write cannot
            // read as a second suspend request.
            Dialect::Spec => ResumeBy::Status((status | S_DRIVER_OK) & !S_SUSPEND),
            Dialect::V5 => ResumeBy::Status(status & !S_SUSPEND),
            Dialect::Stop => ResumeBy::Reinit,
        }
    }

    /// Whether `status` shows the device running normally.
    pub(crate) const fn is_running(self, status: u8) -> bool {
        status & self.status_bit() == 0 && status & S_DRIVER_OK != 0
    }
}

/// The feature bits the STOP draft may be offered through: those the virtio
/// specification reserves for future extensions (42 to 49; 0 to 23 and 50
/// and up belong to the device type, 24 to 41 to the transport, 41 being
/// VIRTIO_F_ADMIN_VQ), less the other dialects' (42, 43).
pub(crate) const STOP_FEATURE_BITS: core::ops::RangeInclusive<u32> = 44..=49;

/// Whether the device gave up: it wants a reset, or reset itself.
pub(crate) const fn device_broken(status: u8) -> bool {
    status & (S_NEEDS_RESET | S_FAILED) != 0 || status & S_DRIVER == 0
}

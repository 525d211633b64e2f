// SPDX-License-Identifier: GPL-2.0

use crate::logic::mmio::*;

/// A register file a test fills in; reads of unset registers return 0.
struct FakeRegs(Vec<(Reg, u32)>);

impl FakeRegs {
    fn modern(device_id: u32) -> Self {
        FakeRegs(vec![
            (Reg::MagicValue, MAGIC),
            (Reg::Version, 2),
            (Reg::DeviceId, device_id),
            (Reg::VendorId, 0x554d_4551),
        ])
    }

    fn set(mut self, reg: Reg, value: u32) -> Self {
        self.0.retain(|(r, _)| *r != reg);
        self.0.push((reg, value));
        self
    }

    fn read(&self, reg: Reg) -> u32 {
        self.0
            .iter()
            .find(|(r, _)| *r == reg)
            .map_or(0, |(_, v)| *v)
    }
}

#[test]
fn modern_device_is_identified() {
    let regs = FakeRegs::modern(2);
    assert_eq!(
        identify(|r| regs.read(r)),
        Ok(Identity {
            device_id: 2,
            vendor_id: 0x554d_4551
        })
    );
}

#[test]
fn magic_is_virt_little_endian() {
    assert_eq!(MAGIC, 0x7472_6976);
}

#[test]
fn bad_magic_is_refused_before_anything_else_is_read() {
    let regs = FakeRegs::modern(2).set(Reg::MagicValue, 0xdead_beef);
    let mut reads = Vec::new();
    let got = identify(|r| {
        reads.push(r);
        regs.read(r)
    });
    assert_eq!(got, Err(IdentityError::BadMagic(0xdead_beef)));
    assert_eq!(reads, vec![Reg::MagicValue]);
}

#[test]
fn legacy_and_unknown_versions_are_refused() {
    let legacy = FakeRegs::modern(2).set(Reg::Version, 1);
    assert_eq!(identify(|r| legacy.read(r)), Err(IdentityError::Legacy));
    for v in [0, 3, u32::MAX] {
        let regs = FakeRegs::modern(2).set(Reg::Version, v);
        assert_eq!(
            identify(|r| regs.read(r)),
            Err(IdentityError::UnknownVersion(v))
        );
    }
}

#[test]
fn device_id_zero_is_a_placeholder() {
    let regs = FakeRegs::modern(0);
    assert_eq!(identify(|r| regs.read(r)), Err(IdentityError::Placeholder));
}

#[test]
fn windows_must_hold_the_register_block() {
    assert_eq!(check_window(0), Err(WindowTooSmall(0)));
    assert_eq!(check_window(0xff), Err(WindowTooSmall(0xff)));
    assert_eq!(check_window(0x100), Ok(()));
    assert_eq!(check_window(0x200), Ok(()));
}

#[test]
fn queue_sizes() {
    assert_eq!(check_queue_size(0), Err(QueueSizeError::Unavailable));
    assert_eq!(check_queue_size(1), Ok(1));
    assert_eq!(check_queue_size(256), Ok(256));
    assert_eq!(check_queue_size(32768), Ok(32768));
    assert_eq!(
        check_queue_size(32769),
        Err(QueueSizeError::TooLarge(32769))
    );
    assert_eq!(
        check_queue_size(u32::MAX),
        Err(QueueSizeError::TooLarge(u32::MAX))
    );
}

#[test]
fn config_access_inside_window() {
    assert_eq!(config_access(0x200, 0, 4), Ok(0x100));
    assert_eq!(config_access(0x200, 0xf8, 8), Ok(0x1f8));
    assert_eq!(config_access(0x200, 0xff, 1), Ok(0x1ff));
}

#[test]
fn config_access_misaligned_is_refused() {
    assert_eq!(
        config_access(0x200, 2, 4),
        Err(ConfigAccessError::Misaligned { offset: 2, len: 4 })
    );
    assert_eq!(
        config_access(0x200, 1, 2),
        Err(ConfigAccessError::Misaligned { offset: 1, len: 2 })
    );
    assert_eq!(
        config_access(0x200, 0x6, 8),
        Err(ConfigAccessError::Misaligned { offset: 6, len: 8 })
    );
    // A 64-bit field is read as two 32-bit words: 4-byte alignment is
    // enough.
    assert_eq!(config_access(0x200, 0x4, 8), Ok(0x104));
    assert_eq!(config_access(0x200, 0x3, 1), Ok(0x103));
}

#[test]
fn config_access_past_window_is_refused() {
    assert_eq!(
        config_access(0x200, 0xfd, 4),
        Err(ConfigAccessError::OutOfWindow {
            offset: 0xfd,
            len: 4
        })
    );
    assert_eq!(
        config_access(0x100, 0, 1),
        Err(ConfigAccessError::OutOfWindow { offset: 0, len: 1 })
    );
    // An offset near usize::MAX must not wrap around into the window.
    assert_eq!(
        config_access(0x200, usize::MAX - 2, 4),
        Err(ConfigAccessError::OutOfWindow {
            offset: usize::MAX - 2,
            len: 4
        })
    );
}

#[test]
fn config_access_odd_lengths_are_refused() {
    for len in [0, 3, 5, 6, 7, 9, 16] {
        assert_eq!(
            config_access(0x1000, 0, len),
            Err(ConfigAccessError::BadLength(len))
        );
    }
}

#[test]
fn feature_words_high_first() {
    assert_eq!(
        feature_words(0x0000_0801_3000_0000),
        [(1, 0x0000_0801), (0, 0x3000_0000)]
    );
}

#[test]
fn has_feature_bounds() {
    assert!(has_feature(1 << 32, F_VERSION_1));
    assert!(!has_feature(1 << 31, F_VERSION_1));
    assert!(!has_feature(u64::MAX, 64));
}

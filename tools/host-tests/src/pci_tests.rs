// SPDX-License-Identifier: GPL-2.0

use crate::logic::pci::*;

/// A 256-byte configuration space a test writes capabilities into.
struct FakeConfig([u8; 256]);

/// A virtio capability as a device presents it.
struct Cap {
    cfg_type: u8,
    bar: u8,
    offset: u32,
    length: u32,
    /// Notify capabilities: the multiplier; 64-bit ones: the high words.
    extra: Vec<u32>,
    cap_len: Option<u8>,
}

fn cap(cfg_type: u8, bar: u8, offset: u32, length: u32) -> Cap {
    Cap {
        cfg_type,
        bar,
        offset,
        length,
        extra: vec![],
        cap_len: None,
    }
}

impl FakeConfig {
    /// Capabilities at 0x40, 0x60, ... linked in order; `ids` gives a
    /// non-vendor capability ID instead where the entry is `None`.
    fn with_caps(caps: &[Cap]) -> Self {
        let mut c = FakeConfig([0; 256]);
        c.0[PCI_STATUS as usize] = PCI_STATUS_CAP_LIST;
        c.0[PCI_CAPABILITY_LIST as usize] = 0x40;
        for (n, cap) in caps.iter().enumerate() {
            let at = 0x40 + n * 0x20;
            let next = if n + 1 < caps.len() { at + 0x20 } else { 0 };
            c.0[at] = PCI_CAP_ID_VNDR;
            c.0[at + 1] = next as u8;
            c.0[at + 2] = cap.cap_len.unwrap_or(16 + 4 * cap.extra.len() as u8);
            c.0[at + 3] = cap.cfg_type;
            c.0[at + 4] = cap.bar;
            c.0[at + 8..at + 12].copy_from_slice(&cap.offset.to_le_bytes());
            c.0[at + 12..at + 16].copy_from_slice(&cap.length.to_le_bytes());
            for (i, word) in cap.extra.iter().enumerate() {
                c.0[at + 16 + 4 * i..at + 20 + 4 * i].copy_from_slice(&word.to_le_bytes());
            }
        }
        c
    }

    fn parse(&self, bars: &[Bar; NUM_BARS]) -> Result<Layout, CapError> {
        parse_capabilities(
            bars,
            |at| self.0[usize::from(at)],
            |at| {
                let at = usize::from(at);
                u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap())
            },
        )
    }
}

fn notify(bar: u8, offset: u32, length: u32, multiplier: u32) -> Cap {
    Cap {
        extra: vec![multiplier],
        ..cap(2, bar, offset, length)
    }
}

/// What QEMU presents: everything in a 16 KiB BAR 4.
fn qemu_caps() -> Vec<Cap> {
    vec![
        cap(1, 4, 0x0000, 0x1000),
        cap(3, 4, 0x1000, 0x1000),
        cap(4, 4, 0x2000, 0x1000),
        notify(4, 0x3000, 0x1000, 4),
        cap(5, 0, 0, 0),
    ]
}

fn bars() -> [Bar; NUM_BARS] {
    let mut bars = [Bar::default(); NUM_BARS];
    bars[1] = Bar {
        len: 0x1000,
        is_mem: true,
    };
    bars[4] = Bar {
        len: 0x4000,
        is_mem: true,
    };
    bars
}

#[test]
fn qemu_layout_is_parsed() {
    let layout = FakeConfig::with_caps(&qemu_caps()).parse(&bars()).unwrap();
    assert_eq!(
        layout.common,
        Region {
            bar: 4,
            offset: 0,
            length: COMMON_CFG_SIZE
        }
    );
    assert_eq!(layout.isr.length, 1);
    assert_eq!(layout.device.unwrap().offset, 0x2000);
    assert_eq!(layout.notify.offset, 0x3000);
    assert_eq!(layout.notify_off_multiplier, 4);
}

#[test]
fn device_config_is_optional() {
    let mut caps = qemu_caps();
    caps.remove(2);
    assert_eq!(
        FakeConfig::with_caps(&caps).parse(&bars()).unwrap().device,
        None
    );
}

#[test]
fn each_required_structure_is_required() {
    for (cfg_type, cfg) in [
        (1, CfgType::Common),
        (2, CfgType::Notify),
        (3, CfgType::Isr),
    ] {
        let caps: Vec<_> = qemu_caps()
            .into_iter()
            .filter(|c| c.cfg_type != cfg_type)
            .collect();
        assert_eq!(
            FakeConfig::with_caps(&caps).parse(&bars()),
            Err(CapError::Missing(cfg))
        );
    }
}

#[test]
fn no_capability_list_means_legacy_only() {
    let mut c = FakeConfig::with_caps(&qemu_caps());
    c.0[PCI_STATUS as usize] = 0;
    assert_eq!(c.parse(&bars()), Err(CapError::Missing(CfgType::Common)));
}

#[test]
fn structure_past_the_end_of_its_bar_is_refused() {
    let mut caps = qemu_caps();
    caps[2] = cap(4, 4, 0x3800, 0x1000);
    assert_eq!(
        FakeConfig::with_caps(&caps).parse(&bars()),
        Err(CapError::OutOfRange {
            cfg: CfgType::Device,
            region: Region {
                bar: 4,
                offset: 0x3800,
                length: 0x1000
            },
            bar_len: 0x4000
        })
    );
}

#[test]
fn offset_plus_length_overflow_is_refused() {
    let mut caps = qemu_caps();
    caps[3] = notify(4, 0xffff_fffe, 0xffff_ffff, 4);
    assert!(matches!(
        FakeConfig::with_caps(&caps).parse(&bars()),
        Err(CapError::OutOfRange {
            cfg: CfgType::Notify,
            ..
        })
    ));
}

#[test]
fn common_config_shorter_than_the_structure_is_refused() {
    let mut caps = qemu_caps();
    caps[0] = cap(1, 4, 0, 0x30);
    assert_eq!(
        FakeConfig::with_caps(&caps).parse(&bars()),
        Err(CapError::TooShort {
            cfg: CfgType::Common,
            length: 0x30,
            min: COMMON_CFG_MIN
        })
    );
}

#[test]
fn misaligned_structure_is_refused() {
    let mut caps = qemu_caps();
    caps[0] = cap(1, 4, 0x2, 0x100);
    assert_eq!(
        FakeConfig::with_caps(&caps).parse(&bars()),
        Err(CapError::Misaligned {
            cfg: CfgType::Common,
            offset: 2,
            align: 4
        })
    );
}

#[test]
fn capability_too_short_for_its_type_is_refused() {
    let mut caps = qemu_caps();
    caps[3] = Cap {
        cap_len: Some(16),
        ..notify(4, 0x3000, 0x1000, 4)
    };
    assert_eq!(
        FakeConfig::with_caps(&caps).parse(&bars()),
        Err(CapError::CapTooShort { at: 0xa0, len: 16 })
    );
}

#[test]
fn odd_multiplier_is_refused() {
    for m in [1, 3, 6] {
        let mut caps = qemu_caps();
        caps[3] = notify(4, 0x3000, 0x1000, m);
        assert_eq!(
            FakeConfig::with_caps(&caps).parse(&bars()),
            Err(CapError::BadMultiplier(m))
        );
    }
    for m in [0, 2, 4, 4096] {
        let mut caps = qemu_caps();
        caps[3] = notify(4, 0x3000, 0x1000, m);
        assert!(FakeConfig::with_caps(&caps).parse(&bars()).is_ok());
    }
}

#[test]
fn capability_naming_a_reserved_absent_or_io_bar_is_ignored() {
    let mut io_bars = bars();
    io_bars[0] = Bar {
        len: 0x100,
        is_mem: false,
    };
    for bad_bar in [0, 2, 6, 0xff] {
        // The first common capability is unusable; the second is taken.
        let mut caps = vec![cap(1, bad_bar, 0, 0x1000)];
        caps.extend(qemu_caps());
        let layout = FakeConfig::with_caps(&caps).parse(&io_bars).unwrap();
        assert_eq!(layout.common.bar, 4, "bar {bad_bar}");
    }
}

#[test]
fn first_usable_capability_of_a_type_wins() {
    let mut caps = qemu_caps();
    caps.push(cap(1, 1, 0, 0x40));
    assert_eq!(
        FakeConfig::with_caps(&caps)
            .parse(&bars())
            .unwrap()
            .common
            .bar,
        4
    );
}

#[test]
fn looping_capability_list_ends() {
    let mut c = FakeConfig::with_caps(&qemu_caps());
    // The last capability points back to the first.
    c.0[0x40 + 4 * 0x20 + 1] = 0x40;
    assert!(c.parse(&bars()).is_ok());
    // A list that loops before the required ones is refused, not hung.
    let mut c = FakeConfig::with_caps(&[cap(5, 0, 0, 0)]);
    c.0[0x41] = 0x40;
    assert_eq!(c.parse(&bars()), Err(CapError::Missing(CfgType::Common)));
}

#[test]
fn list_pointing_into_the_header_ends() {
    let mut c = FakeConfig::with_caps(&qemu_caps());
    c.0[0x41] = 0x10;
    assert_eq!(c.parse(&bars()), Err(CapError::Missing(CfgType::Notify)));
}

#[test]
fn shared_memory_regions_are_found_by_id() {
    let mut caps = qemu_caps();
    caps.pop(); // the PCI configuration access capability: room for two
                // id 1: 64 KiB at 4 GiB + 0x1000 of a big BAR 2; id 3 past its BAR.
    let mut shm = Cap {
        extra: vec![1, 0],
        ..cap(8, 2, 0x1000, 0x10000)
    };
    shm.cap_len = Some(24);
    caps.push(shm);
    caps.push(Cap {
        extra: vec![0, 0],
        ..cap(8, 4, 0x3000, 0x2000)
    });
    let mut c = FakeConfig::with_caps(&caps);
    c.0[0x40 + 4 * 0x20 + 5] = 1;
    c.0[0x40 + 5 * 0x20 + 5] = 3;
    let mut bars = bars();
    bars[2] = Bar {
        len: 0x2_0000_0000,
        is_mem: true,
    };
    let layout = c.parse(&bars).unwrap();
    let shm_region = |id| layout.shm.iter().flatten().find(|r| r.id == id);
    assert_eq!(
        shm_region(1).unwrap().region,
        Ok(Region {
            bar: 2,
            offset: 0x1_0000_1000,
            length: 0x10000
        })
    );
    assert!(matches!(
        shm_region(3).unwrap().region,
        Err(CapError::OutOfRange { .. })
    ));
    assert_eq!(shm_region(2), None);
}

#[test]
fn shared_memory_capability_is_read_as_64_bit() {
    let mut caps = qemu_caps();
    caps.push(Cap {
        extra: vec![1, 0],
        ..cap(8, 4, 0, 0x1000)
    });
    assert!(FakeConfig::with_caps(&caps).parse(&bars()).is_ok());
    // A short one is refused.
    caps.last_mut().unwrap().cap_len = Some(20);
    assert_eq!(
        FakeConfig::with_caps(&caps).parse(&bars()),
        Err(CapError::CapTooShort { at: 0xe0, len: 20 })
    );
}

#[test]
fn device_ids() {
    assert_eq!(virtio_device_id(0x1041, 0), Ok(1));
    assert_eq!(virtio_device_id(0x1044, 0x1100), Ok(4));
    assert_eq!(virtio_device_id(0x1001, 2), Ok(2));
    assert_eq!(
        virtio_device_id(0x1100, 0),
        Err(IdentityError::NotVirtio(0x1100))
    );
}

#[test]
fn notify_offset_stays_inside_the_structure() {
    assert_eq!(notify_offset(3, 4, 0x1000, false), Ok(12));
    assert_eq!(notify_offset(0, 0, 2, false), Ok(0));
    assert!(notify_offset(0, 0, 2, true).is_err());
    assert_eq!(
        notify_offset(0x400, 4, 0x1000, false),
        Err(NotifyOutOfRange {
            queue_notify_off: 0x400,
            offset: 0x1000,
            notify_len: 0x1000
        })
    );
    assert!(notify_offset(0xffff, 0x8000_0000, u64::MAX, true).is_ok());
}

#[test]
fn interrupt_plans_degrade_with_fewer_vectors() {
    let plans = |v, q| irq_plans(v, q).collect::<Vec<_>>();
    assert_eq!(
        plans(4, 3),
        [IrqPlan::PerQueue, IrqPlan::SharedQueues, IrqPlan::Intx]
    );
    assert_eq!(plans(3, 3), [IrqPlan::SharedQueues, IrqPlan::Intx]);
    assert_eq!(plans(0, 3), [IrqPlan::Intx]);
    assert_eq!(IrqPlan::PerQueue.queue_vector(2), 3);
    assert_eq!(IrqPlan::SharedQueues.queue_vector(2), 1);
    assert_eq!(IrqPlan::Intx.config_vector(), NO_VECTOR);
}

// SPDX-License-Identifier: GPL-2.0

use crate::logic::cmdline::*;

#[test]
fn c_driver_examples_parse() {
    assert_eq!(
        parse("0x200@0xfeb00000:5"),
        Ok(CmdlineDevice {
            base: 0xfeb0_0000,
            size: 0x200,
            irq: 5,
            id: None
        })
    );
    assert_eq!(
        parse("4K@0x1000:12:3"),
        Ok(CmdlineDevice {
            base: 0x1000,
            size: 4096,
            irq: 12,
            id: Some(3)
        })
    );
    assert_eq!(parse("1M@4096:7").map(|d| d.size), Ok(1 << 20));
    assert_eq!(parse("1g@0:7").map(|d| d.size), Ok(1 << 30));
    assert_eq!(parse("0x200@010:7").map(|d| d.base), Ok(8));
}

#[test]
fn malformed_entries_are_refused() {
    assert_eq!(parse(""), Err(CmdlineError::BadSize));
    assert_eq!(parse("0@0x1000:5"), Err(CmdlineError::BadSize));
    assert_eq!(parse("0x200"), Err(CmdlineError::BadBase));
    assert_eq!(parse("0x200@"), Err(CmdlineError::BadBase));
    assert_eq!(parse("0x200@0x1000"), Err(CmdlineError::BadIrq));
    assert_eq!(parse("0x200@0x1000:0"), Err(CmdlineError::BadIrq));
    assert_eq!(parse("0x200@0x1000:x"), Err(CmdlineError::BadIrq));
    assert_eq!(parse("0x200@0x1000:5:"), Err(CmdlineError::BadId));
    assert_eq!(parse("0x200@0x1000:5:1 "), Err(CmdlineError::TrailingText));
    assert_eq!(parse("0x200@0x1000:5x"), Err(CmdlineError::TrailingText));
}

#[test]
fn out_of_range_values_are_refused() {
    assert_eq!(
        parse("0x200@0xffffffffffffff00:5"),
        Err(CmdlineError::Overflow)
    );
    assert_eq!(parse("0x200@0x1000:4294967296"), Err(CmdlineError::BadIrq));
    assert_eq!(parse("0x200@0x1000:5:2147483648"), Err(CmdlineError::BadId));
    assert_eq!(
        parse("99999999999999999999@0:5"),
        Err(CmdlineError::BadSize)
    );
    assert_eq!(parse("0xffffffffffffffffG@0:5"), Err(CmdlineError::BadSize));
}

#[test]
fn errors_name_the_expected_format() {
    let msg = parse("0x200@0x1000").unwrap_err().to_string();
    assert!(msg.contains(":<irq>"), "{msg}");
    assert!(
        msg.ends_with("(format: <size>@<base>:<irq>[:<id>])"),
        "{msg}"
    );
}

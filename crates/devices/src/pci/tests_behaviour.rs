//! Behaviour of configuration writes: BAR sizing, RW1C, read-only and reserved bits, enables
//! gated by capabilities, resets and accesses at every width and alignment.

use super::caps::{AcsFlags, DeviceStatus, PortType};
use super::regs::Status;
use super::tests_layout::full;
use super::*;
use AccessSize::{Byte, Dword, Word};

#[test]
fn bar_sizing_by_all_ones_write() {
    let mut cfg = full();
    for at in [0x10, 0x14, 0x18, 0x1C] {
        cfg.write(at, Dword, 0xFFFF_FFFF);
    }
    assert_eq!(
        cfg.read(0x10, Dword),
        0xFFFF_0004,
        "64 KiB, 64-bit, non-prefetchable"
    );
    assert_eq!(cfg.read(0x14, Dword), 0xFFFF_FFFF);
    assert_eq!(
        cfg.read(0x18, Dword),
        0xFFFE_000C,
        "128 KiB, 64-bit, prefetchable"
    );
    let size = |lo: u32, hi: u32| !((u64::from(hi) << 32) | u64::from(lo & !0xF)) + 1;
    assert_eq!(size(cfg.read(0x10, Dword), cfg.read(0x14, Dword)), 0x1_0000);
    assert_eq!(size(cfg.read(0x18, Dword), cfg.read(0x1C, Dword)), 0x2_0000);
    for at in [0x20, 0x24] {
        cfg.write(at, Dword, 0xFFFF_FFFF);
        assert_eq!(cfg.read(at, Dword), 0, "an unimplemented BAR stays 0");
    }
}

#[test]
fn bar_above_4g_sizes_in_the_upper_half() {
    let mut cfg = FunctionBuilder::new(1, 2)
        .bar64(4, 1 << 33, true)
        .build()
        .expect("valid");
    cfg.write(0x20, Dword, 0xFFFF_FFFF);
    cfg.write(0x24, Dword, 0xFFFF_FFFF);
    assert_eq!(cfg.read(0x20, Dword), 0x0000_000C);
    assert_eq!(cfg.read(0x24, Dword), 0xFFFF_FFFE);
    assert_eq!(cfg.bar_size(4), Some(1 << 33));
    assert_eq!(cfg.bar_size(5), None);
}

#[test]
fn bar_base_is_programmed_aligned_to_size() {
    let mut cfg = full();
    cfg.write(0x10, Dword, 0xFEDC_BA98);
    cfg.write(0x14, Dword, 0x0000_0012);
    assert_eq!(
        cfg.bar_address(0),
        Some(0x12_FEDC_0000),
        "bits below the size drop"
    );
    cfg.write(0x12, Byte, 0x55);
    assert_eq!(
        cfg.read(0x10, Dword),
        0xFE55_0004,
        "a byte write touches only its byte"
    );
    cfg.write(0x13, Byte, 0x01);
    assert_eq!(cfg.bar_address(0), Some(0x12_0155_0000));
    assert_eq!(cfg.bar_address(1), None);
    assert_eq!(cfg.bar_address(4), None);
}

#[test]
fn command_stores_only_implemented_bits() {
    let mut cfg = full();
    assert!(!cfg.bus_master_enabled() && !cfg.memory_space_enabled());
    cfg.write(0x04, Word, 0xFFFF);
    assert_eq!(cfg.read(0x04, Word), 0x0546);
    assert!(cfg.bus_master_enabled() && cfg.memory_space_enabled());
    cfg.write(0x04, Byte, 0x02);
    assert!(!cfg.bus_master_enabled() && cfg.memory_space_enabled());
    assert_eq!(
        cfg.read(0x05, Byte),
        0x05,
        "the high byte is untouched by a byte write"
    );
    assert!(cfg.command().intx_disable());
}

#[test]
fn status_error_bits_are_write_one_to_clear() {
    let mut cfg = full();
    let errors = Status::new()
        .with_received_master_abort(true)
        .with_signaled_target_abort(true);
    cfg.record_status(errors.with_interrupt_status(true));
    assert_eq!(cfg.read(0x06, Word), 0x2810, "only error bits are recorded");
    cfg.write(0x06, Word, 0x0000);
    assert_eq!(cfg.read(0x06, Word), 0x2810, "writing 0 keeps them");
    cfg.write(0x07, Byte, 0x20);
    assert_eq!(
        cfg.read(0x06, Word),
        0x0810,
        "a byte write of bit 13 clears it alone"
    );
    cfg.write(0x04, Dword, 0xFFFF_0006);
    assert_eq!(
        cfg.read(0x04, Dword),
        0x0010_0006,
        "command set; status cleared, cap bit kept"
    );
}

#[test]
fn read_only_registers_ignore_writes() {
    let mut cfg = full();
    let before: Vec<u32> = (0..0x40).step_by(4).map(|a| cfg.read(a, Dword)).collect();
    for at in [0x00, 0x08, 0x2C, 0x34, 0x28, 0x30, 0x38] {
        cfg.write(at, Dword, 0xFFFF_FFFF);
    }
    cfg.write(0x0E, Byte, 0xFF);
    cfg.write(0x3D, Byte, 0x01);
    cfg.write(0x0C, Word, 0xFFFF);
    let after: Vec<u32> = (0..0x40).step_by(4).map(|a| cfg.read(a, Dword)).collect();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if ![1, 3].contains(&i) {
            assert_eq!(b, a, "dword {:#x} changed", 4 * i);
        }
    }
    assert_eq!(cfg.read(0x0C, Byte), 0xFF, "cache line size is read-write");
    cfg.write(0x3C, Byte, 0x0B);
    assert_eq!(cfg.read(0x3C, Word), 0x000B, "interrupt line RW, pin RO");
}

#[test]
fn reserved_space_reads_zero_after_writes() {
    let mut cfg = FunctionBuilder::new(0x1234, 0x5678).build().expect("valid");
    for at in (0x40..0x1000).step_by(4) {
        cfg.write(at, Dword, 0xFFFF_FFFF);
    }
    assert_eq!(
        cfg.read(0x100, Dword),
        0,
        "no extended capabilities: header 0"
    );
    assert_eq!(cfg.read(0x40, Word), 0x0010, "PCIe cap is last in the list");
    for at in (0x90..0x1000).step_by(4) {
        assert_eq!(cfg.read(at, Dword), 0, "offset {at:#x}");
    }
    cfg.check_invariants().expect("invariants hold");
}

#[test]
fn accesses_beyond_the_space_read_all_ones_and_write_nothing() {
    let mut cfg = full();
    assert_eq!(cfg.read(0x1000, Dword), 0xFFFF_FFFF);
    assert_eq!(cfg.read(0x1000, Byte), 0xFF);
    assert_eq!(cfg.read(u32::MAX, Dword), 0xFFFF_FFFF);
    assert_eq!(
        cfg.read(0xFFE, Dword),
        0xFFFF_0000,
        "the bytes inside read 0"
    );
    cfg.write(0x1000, Dword, 0);
    cfg.write(u32::MAX, Dword, 0);
    cfg.write(0xFFF, Word, 0xFFFF);
    cfg.check_invariants().expect("invariants hold");
}

#[test]
fn an_access_across_a_dword_boundary_acts_per_dword() {
    let mut cfg = full();
    cfg.write(0x3B, Word, 0x4200);
    assert_eq!(
        cfg.read(0x3C, Byte),
        0x42,
        "the second dword's byte is written"
    );
    cfg.write(0x0F, Word, 0xFFFF);
    assert_eq!(
        cfg.read(0x10, Dword),
        0x0000_0004,
        "BAR low byte has no writable bits"
    );
    cfg.write(0x13, Word, 0xFFFF);
    assert_eq!(cfg.read(0x10, Dword), 0xFF00_0004);
    assert_eq!(cfg.read(0x14, Dword), 0x0000_00FF);
    assert_eq!(
        cfg.read(0x0E, Dword),
        0x0004_0000,
        "header type, BIST and BAR 0 low half"
    );
}

#[test]
fn pasid_enables_are_writable_only_where_supported() {
    let mut cfg = full();
    cfg.write(0x106, Word, 0xFFFF);
    assert_eq!(cfg.read(0x106, Word), 0x0007);
    let s = cfg.pasid().expect("PASID");
    assert!(s.enabled && s.execute && s.privileged);
    assert_eq!(s.max_width, 20);
    let mut cfg = FunctionBuilder::new(1, 2)
        .pasid(8, false, true)
        .build()
        .expect("valid");
    cfg.write(0x106, Word, 0xFFFF);
    assert_eq!(cfg.read(0x106, Word), 0x0005, "exec not supported: stays 0");
    cfg.write(0x104, Word, 0);
    assert_eq!(cfg.read(0x104, Word), 0x0804, "capability is read-only");
    assert!(
        FunctionBuilder::new(1, 2)
            .build()
            .expect("valid")
            .pasid()
            .is_none()
    );
}

#[test]
fn ats_enable_and_stu() {
    let mut cfg = full();
    assert_eq!(
        cfg.ats(),
        Some(AtsState {
            enabled: false,
            stu: 0
        })
    );
    cfg.write(0x10E, Word, 0xFFE3);
    assert_eq!(cfg.read(0x10E, Word), 0x8003, "reserved bits 14:5 read 0");
    assert_eq!(
        cfg.ats(),
        Some(AtsState {
            enabled: true,
            stu: 3
        })
    );
    cfg.write(0x10F, Byte, 0x00);
    assert_eq!(
        cfg.ats(),
        Some(AtsState {
            enabled: false,
            stu: 3
        })
    );
}

#[test]
fn pri_enable_stopped_status_and_allocation() {
    let mut cfg = full();
    let pri = 0x110;
    assert_eq!(cfg.read(pri + 6, Word) & 0x100, 0x100, "stopped at reset");
    cfg.write(pri + 0xC, Dword, 64);
    cfg.write(pri + 8, Dword, 1);
    cfg.write(pri + 4, Word, 0xFFFD);
    assert_eq!(
        cfg.read(pri + 4, Word),
        0x0001,
        "enable only; reserved bits 0"
    );
    assert_eq!(cfg.read(pri + 6, Word) & 0x100, 0, "running");
    let s = cfg.pri().expect("PRI");
    assert_eq!((s.enabled, s.allocation, s.capacity), (true, 64, 512));
    cfg.record_pri_failure(true, true);
    assert_eq!(cfg.read(pri + 6, Word), 0x8003);
    cfg.write(pri + 6, Word, 0x0001);
    assert_eq!(cfg.read(pri + 6, Word), 0x8002, "RF cleared, UPRGI kept");
    cfg.write(pri + 4, Dword, 0xFFFF_0001);
    assert_eq!(
        cfg.read(pri + 4, Dword),
        0x8000_0001,
        "a dword write clears UPRGI too"
    );
    cfg.write(pri + 4, Word, 0x0000);
    assert_eq!(cfg.read(pri + 6, Word), 0x8100, "disabled: stopped");
}

#[test]
fn pri_reset_acts_only_while_disabled_and_reads_zero() {
    let mut cfg = full();
    cfg.write(0x114, Word, 0x0003);
    assert!(
        !cfg.take_pri_reset(),
        "enable set in the same write: no reset"
    );
    assert_eq!(cfg.read(0x114, Word), 0x0001);
    cfg.write(0x114, Word, 0x0002);
    assert!(
        cfg.take_pri_reset(),
        "enable cleared in the same write: reset"
    );
    assert!(!cfg.take_pri_reset());
    assert_eq!(cfg.read(0x114, Word), 0x0000);
}

#[test]
fn acs_controls_follow_the_capability() {
    let acs = AcsFlags::new()
        .with_request_redirect(true)
        .with_completion_redirect(true);
    let mut cfg = FunctionBuilder::new(1, 2)
        .multi_function(true)
        .port_type(PortType::Endpoint)
        .acs(acs)
        .build()
        .expect("valid");
    assert_eq!(super::tests_layout::walk_ext_caps(&cfg), [(0x100, 0x0D, 1)]);
    assert_eq!(cfg.read(0x104, Word), 0x000C);
    cfg.write(0x106, Word, 0xFFFF);
    assert_eq!(cfg.read(0x106, Word), 0x000C);
    assert_eq!(cfg.acs_control(), Some(acs));
    let bad = AcsFlags::new().with_source_validation(true);
    let err = FunctionBuilder::new(1, 2)
        .acs(bad)
        .build()
        .expect_err("SV on a type-0 function");
    assert_eq!(err, BuildError::AcsFeature(1));
}

#[test]
fn device_control_status_and_link_registers() {
    let mut cfg = FunctionBuilder::new(1, 2)
        .port_type(PortType::Endpoint)
        .build()
        .expect("ok");
    assert_eq!(
        cfg.read(0x48, Word),
        0x2810,
        "RO, no-snoop, 512-byte read requests"
    );
    cfg.write(0x48, Word, 0x7FFF);
    assert_eq!(
        cfg.read(0x48, Word),
        0x281F,
        "payload, tags, phantom, aux stay RO; MRRS 7 kept"
    );
    cfg.write(0x49, Byte, 0x50);
    assert_eq!(cfg.read(0x48, Word), 0x501F, "MRRS 5 (4096 bytes) is valid");
    cfg.record_device_status(
        DeviceStatus::new()
            .with_unsupported_request(true)
            .with_aux_power(true),
    );
    cfg.set_transactions_pending(true);
    assert_eq!(cfg.read(0x4A, Word), 0x0028);
    cfg.write(0x4A, Word, 0xFFFF);
    assert_eq!(
        cfg.read(0x4A, Word),
        0x0020,
        "URD cleared; Transactions Pending is RO"
    );
    assert_eq!(cfg.read(0x4C, Dword), 0x0000_0011, "x1 at 2.5 GT/s");
    assert_eq!(cfg.read(0x52, Word), 0x0011);
    cfg.write(0x50, Word, 0xFFFF);
    assert_eq!(
        cfg.read(0x50, Word),
        0x00C8,
        "RCB, common clock, extended synch"
    );
    let mut rciep = FunctionBuilder::new(1, 2).build().expect("ok");
    rciep.write(0x50, Dword, 0xFFFF_FFFF);
    assert_eq!(
        [rciep.read(0x4C, Dword), rciep.read(0x50, Dword)],
        [0, 0],
        "no link on an RCiEP"
    );
}

#[test]
fn function_level_reset_restores_power_on_state() {
    let mut cfg = full();
    let table = cfg.msix().cloned().expect("MSI-X");
    cfg.write(0x04, Word, 0x0006);
    cfg.write(0x10, Dword, 0xFFFF_FFFF);
    cfg.write(0x82, Word, 0x8000);
    table.write_table(0xC, 4, 0);
    cfg.write(0x106, Word, 1);
    assert!(!cfg.take_flr());
    cfg.write(0x49, Byte, 0x80);
    assert!(cfg.take_flr());
    assert_eq!(cfg.read(0x04, Word), 0);
    assert_eq!(cfg.read(0x10, Dword), 0x4);
    assert!(!cfg.msix_enabled() && !table.is_enabled() && table.is_masked(0));
    assert_eq!(cfg.pasid().map(|p| p.enabled), Some(false));
    assert_eq!(cfg.read(0x48, Word) & 0x8000, 0, "Initiate FLR reads 0");
    let mut no_flr = FunctionBuilder::new(1, 2).build().expect("ok");
    no_flr.write(0x04, Word, 0x0004);
    no_flr.write(0x48, Word, 0x8000);
    assert!(!no_flr.take_flr());
    assert!(
        no_flr.bus_master_enabled(),
        "no FLR capability: the write does nothing"
    );
}

#[test]
fn builder_rejects_what_config_space_cannot_hold() {
    let b = || FunctionBuilder::new(1, 2);
    let bar = |i, s| b().bar64(i, s, false).build().expect_err("bad BAR");
    assert_eq!(bar(1, 0x1000), BuildError::BarIndex(1));
    assert_eq!(bar(6, 0x1000), BuildError::BarIndex(6));
    assert_eq!(
        bar(0, 0x1800),
        BuildError::BarSize {
            index: 0,
            size: 0x1800
        }
    );
    assert_eq!(bar(0, 8), BuildError::BarSize { index: 0, size: 8 });
    let twice = b().bar64(2, 0x1000, false).bar64(2, 0x1000, false).build();
    assert_eq!(twice.expect_err("taken"), BuildError::BarIndex(2));
    let msix = |n, t, p| {
        b().bar64(0, 0x1000, false)
            .msix(n, t, p)
            .build()
            .expect_err("bad")
    };
    assert_eq!(msix(0, (0, 0), (0, 0x800)), BuildError::MsixVectors(0));
    assert_eq!(
        msix(2049, (0, 0), (0, 0x800)),
        BuildError::MsixVectors(2049)
    );
    let err = msix(4, (2, 0), (0, 0x800));
    assert_eq!(
        err,
        BuildError::MsixPlacement {
            what: "table",
            bar: 2,
            offset: 0
        }
    );
    let err = msix(4, (0, 0x4), (0, 0x800));
    assert_eq!(
        err,
        BuildError::MsixPlacement {
            what: "table",
            bar: 0,
            offset: 4
        }
    );
    let err = msix(4, (0, 0), (0, 0x1000));
    assert_eq!(
        err,
        BuildError::MsixPlacement {
            what: "PBA",
            bar: 0,
            offset: 0x1000
        }
    );
    assert_eq!(msix(4, (0, 0), (0, 0x38)), BuildError::MsixOverlap);
    let e = b().pasid(21, false, false).build().expect_err("too wide");
    assert_eq!(e, BuildError::PasidWidth(21));
    assert_eq!(
        b().pasid(0, false, false).build().expect_err("0"),
        BuildError::PasidWidth(0)
    );
    assert_eq!(
        b().ats(0, false).build().expect_err("0"),
        BuildError::AtsQueueDepth(0)
    );
    assert_eq!(
        b().ats(33, false).build().expect_err("33"),
        BuildError::AtsQueueDepth(33)
    );
    assert_eq!(
        b().ats(31, false).build().expect("ok").read(0x104, Word),
        31
    );
}

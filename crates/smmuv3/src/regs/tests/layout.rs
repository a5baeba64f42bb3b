//! Known answers for every register layout, built by hand from the specification's bit
//! positions (chapter 6).

use super::super::*;

/// Sets one field of a register.
type Set<T> = fn(T) -> T;

/// What a register's fields hold (its reserved bits do not show).
fn fields(r: impl std::fmt::Debug) -> String {
    format!("{r:?}")
}

#[test]
fn idr0() {
    let bits: [(Set<Idr0>, u32); 17] = [
        (|r| r.with_s2p(true), 0),
        (|r| r.with_s1p(true), 1),
        (|r| r.with_cohacc(true), 4),
        (|r| r.with_btm(true), 5),
        (|r| r.with_dormhint(true), 8),
        (|r| r.with_hyp(true), 9),
        (|r| r.with_ats(true), 10),
        (|r| r.with_ns1ats(true), 11),
        (|r| r.with_asid16(true), 12),
        (|r| r.with_msi(true), 13),
        (|r| r.with_sev(true), 14),
        (|r| r.with_atos(true), 15),
        (|r| r.with_pri(true), 16),
        (|r| r.with_vmw(true), 17),
        (|r| r.with_vmid16(true), 18),
        (|r| r.with_cd2l(true), 19),
        (|r| r.with_vatos(true), 20),
    ];
    for (set, bit) in bits {
        assert_eq!(set(Idr0::new()).into_bits(), 1 << bit, "bit {bit}");
    }
    assert_eq!(Idr0::new().with_atsrecerr(true).into_bits(), 1 << 23);
    assert_eq!(Idr0::new().with_term_model(true).into_bits(), 1 << 26);
    assert_eq!(Idr0::new().with_rme_impl(true).into_bits(), 1 << 30);
    assert_eq!(Idr0::new().with_ttf(TTF_AARCH64).into_bits(), 0b10 << 2);
    assert_eq!(
        Idr0::new().with_httu(Httu::AccessDirty).into_bits(),
        0b10 << 6
    );
    assert_eq!(
        Idr0::new().with_ttendian(TTENDIAN_LITTLE).into_bits(),
        0b10 << 21
    );
    let stall = Idr0::new().with_stall_model(StallModel::StallForced);
    assert_eq!(stall.into_bits(), 0b10 << 24);
    assert_eq!(
        Idr0::new().with_st_level(ST_LEVEL_TWO).into_bits(),
        0b01 << 27
    );
    // Bits 29 and 31 are reserved.
    assert_eq!(
        fields(Idr0::from_bits(1 << 29 | 1 << 31)),
        fields(Idr0::new())
    );
}

#[test]
fn idr_enums() {
    for (m, v) in [
        (StallModel::StallAndTerminate, 0),
        (StallModel::TerminateOnly, 1),
        (StallModel::StallForced, 2),
        (StallModel::Reserved, 3),
    ] {
        assert_eq!((m.into_bits(), StallModel::from_bits(v)), (v, m));
    }
    assert!(StallModel::StallAndTerminate.stalls() && StallModel::StallForced.stalls());
    assert!(!StallModel::TerminateOnly.stalls());
    for (h, v) in [
        (Httu::None, 0),
        (Httu::Access, 1),
        (Httu::AccessDirty, 2),
        (Httu::AccessDirtyTable, 3),
    ] {
        assert_eq!((h.into_bits(), Httu::from_bits(v)), (v, h));
    }
}

#[test]
fn idr1() {
    let r = Idr1::new()
        .with_sidsize(32)
        .with_ssidsize(20)
        .with_priqs(19)
        .with_eventqs(18)
        .with_cmdqs(17);
    assert_eq!(r.into_bits(), 32 | 20 << 6 | 19 << 11 | 18 << 16 | 17 << 21);
    let flags: [(Set<Idr1>, u32); 6] = [
        (|r| r.with_attr_perms_ovr(true), 26),
        (|r| r.with_attr_types_ovr(true), 27),
        (|r| r.with_rel(true), 28),
        (|r| r.with_queues_preset(true), 29),
        (|r| r.with_tables_preset(true), 30),
        (|r| r.with_ecmdq(true), 31),
    ];
    for (set, bit) in flags {
        assert_eq!(set(Idr1::new()).into_bits(), 1 << bit, "bit {bit}");
    }
}

#[test]
fn idr2_idr3_idr5() {
    assert_eq!(Idr2::new().with_ba_vatos(0x3ff).into_bits(), 0x3ff);
    let flags: [(Set<Idr3>, u32); 11] = [
        (|r| r.with_had(true), 2),
        (|r| r.with_pbha(true), 3),
        (|r| r.with_xnx(true), 4),
        (|r| r.with_pps(true), 5),
        (|r| r.with_mpam(true), 7),
        (|r| r.with_fwb(true), 8),
        (|r| r.with_stt(true), 9),
        (|r| r.with_ril(true), 10),
        (|r| r.with_e0pd(true), 13),
        (|r| r.with_ptwnnc(true), 14),
        (|r| r.with_dpt(true), 15),
    ];
    for (set, bit) in flags {
        assert_eq!(set(Idr3::new()).into_bits(), 1 << bit, "bit {bit}");
    }
    assert_eq!(Idr3::new().with_bbml(2).into_bits(), 2 << 11);
    let r = Idr5::new()
        .with_oas(5)
        .with_gran4k(true)
        .with_gran16k(true)
        .with_gran64k(true)
        .with_ds(true)
        .with_d128(true)
        .with_vax(1)
        .with_stall_max(0xabcd);
    let want = 5 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 10 | 0xabcd << 16;
    assert_eq!(r.into_bits(), want);
}

#[test]
fn iidr_aidr() {
    let r = Iidr::new()
        .with_implementer(0x43b)
        .with_revision(0xa)
        .with_variant(0x5)
        .with_product_id(0x483);
    assert_eq!(r.into_bits(), 0x43b | 0xa << 12 | 0x5 << 16 | 0x483 << 20);
    assert_eq!(Aidr::new().with_major(0).with_minor(3).into_bits(), 0x03);
    assert_eq!(Aidr::new().with_major(1).into_bits(), 0x10);
    assert_eq!(AIDR.into_bits(), 0x01, "SMMUv3.1");
}

#[test]
fn cr0_cr1_cr2() {
    let flags: [(Set<Cr0>, u32); 5] = [
        (|r| r.with_smmuen(true), 0),
        (|r| r.with_priqen(true), 1),
        (|r| r.with_eventqen(true), 2),
        (|r| r.with_cmdqen(true), 3),
        (|r| r.with_atschk(true), 4),
    ];
    for (set, bit) in flags {
        assert_eq!(set(Cr0::new()).into_bits(), 1 << bit, "bit {bit}");
    }
    assert_eq!(Cr0::new().with_vmw(0b111).into_bits(), 0b111 << 6);
    let c = Cr1::new()
        .with_queue_ic(1)
        .with_queue_oc(2)
        .with_queue_sh(3)
        .with_table_ic(2)
        .with_table_oc(1)
        .with_table_sh(3);
    assert_eq!(
        c.into_bits(),
        1 | 2 << 2 | 3 << 4 | 2 << 6 | 1 << 8 | 3 << 10
    );
    let c = Cr2::new()
        .with_e2h(true)
        .with_recinvsid(true)
        .with_ptm(true)
        .with_rec_cfg_ats(true);
    assert_eq!(c.into_bits(), 0b1111);
}

#[test]
fn gbpa() {
    let g = Gbpa::new()
        .with_mem_attr(0xf)
        .with_mtcfg(true)
        .with_alloccfg(0xa)
        .with_shcfg(2)
        .with_privcfg(3)
        .with_instcfg(2)
        .with_abort(true)
        .with_update(true);
    let want = 0xf | 1 << 4 | 0xa << 8 | 2 << 12 | 3 << 16 | 2 << 18 | 1 << 20 | 1 << 31;
    assert_eq!(g.into_bits(), want);
    assert_eq!(GBPA_RESET.into_bits(), 0x1000);
    // Bits 7:5, 15:14 and 30:21 are reserved.
    assert_eq!(fields(Gbpa::from_bits(0x7fe0_c0e0)), fields(Gbpa::new()));
}

#[test]
fn irq_ctrl_and_gerror() {
    let i = IrqCtrl::new()
        .with_gerror_irqen(true)
        .with_priq_irqen(true)
        .with_eventq_irqen(true);
    assert_eq!(i.into_bits(), 0b111);
    let flags: [(Set<Gerror>, u32); 8] = [
        (|r| r.with_cmdq_err(true), 0),
        (|r| r.with_eventq_abt_err(true), 2),
        (|r| r.with_priq_abt_err(true), 3),
        (|r| r.with_msi_cmdq_abt_err(true), 4),
        (|r| r.with_msi_eventq_abt_err(true), 5),
        (|r| r.with_msi_priq_abt_err(true), 6),
        (|r| r.with_msi_gerror_abt_err(true), 7),
        (|r| r.with_sfm_err(true), 8),
    ];
    for (set, bit) in flags {
        assert_eq!(set(Gerror::new()).into_bits(), 1 << bit, "bit {bit}");
    }
    assert_eq!(
        fields(Gerror::from_bits(0b10)),
        fields(Gerror::new()),
        "bit 1"
    );
}

#[test]
fn irq_cfg() {
    let c = IrqCfg0::new().with_address(0x00ff_ffff_ffff_fffc);
    assert_eq!(c.into_bits(), 0x00ff_ffff_ffff_fffc);
    assert_eq!(
        fields(IrqCfg0::from_bits(0xff00_0000_0000_0003)),
        fields(IrqCfg0::new())
    );
    assert_eq!(c.address(), 0x00ff_ffff_ffff_fffc);
    let c = IrqCfg2::new().with_mem_attr(0xf).with_sh(3).with_lo(true);
    assert_eq!(c.into_bits(), 0xf | 3 << 4 | 1 << 31);
}

#[test]
fn stream_table_registers() {
    let b = StrtabBase::new()
        .with_address(0x00ab_cdef_1234_5640)
        .with_ra(true);
    assert_eq!(b.into_bits(), 0x00ab_cdef_1234_5640 | 1 << 62);
    assert_eq!(
        fields(StrtabBase::from_bits(0x3f | 0x3f << 56 | 1 << 63)),
        fields(StrtabBase::new())
    );
    let c = StrtabBaseCfg::new()
        .with_log2size(0x3f)
        .with_split(10)
        .with_fmt(STRTAB_FMT_TWO_LEVEL);
    assert_eq!(c.into_bits(), 0x3f | 10 << 6 | 1 << 16);
}

#[test]
fn stream_table_config_resolves_the_registers() {
    let base = StrtabBase::new().with_address(0x1234_5fc0);
    // Linear, 2^4 STEs of 64 bytes: aligned to 1 KiB.
    let cfg = StrtabBaseCfg::new().with_log2size(4);
    let t = StreamTableConfig::new(base, cfg, 16, true);
    assert_eq!((t.base, t.two_level, t.log2size), (0x1234_5c00, false, 4));
    // Two-level, LOG2SIZE 16, SPLIT 8: 256 L1 descriptors of 8 bytes, 2 KiB.
    let cfg = StrtabBaseCfg::new()
        .with_log2size(16)
        .with_split(8)
        .with_fmt(1);
    let t = StreamTableConfig::new(base, cfg, 16, true);
    assert_eq!((t.base, t.two_level, t.split), (0x1234_5800, true, 8));
    // A small two-level table is still 64-byte aligned.
    let cfg = StrtabBaseCfg::new()
        .with_log2size(6)
        .with_split(6)
        .with_fmt(1);
    assert_eq!(
        StreamTableConfig::new(base, cfg, 16, true).base,
        0x1234_5fc0
    );
    // LOG2SIZE is capped by SIDSIZE, reserved SPLIT values behave as 6, reserved FMT values
    // and FMT 1 without two-level support as linear.
    let cfg = StrtabBaseCfg::new()
        .with_log2size(20)
        .with_split(7)
        .with_fmt(1);
    let t = StreamTableConfig::new(base, cfg, 16, true);
    assert_eq!((t.log2size, t.split), (16, 6));
    assert!(!StreamTableConfig::new(base, cfg, 16, false).two_level);
    let cfg = StrtabBaseCfg::new().with_fmt(3);
    assert!(!StreamTableConfig::new(base, cfg, 16, true).two_level);
    // An absurd LOG2SIZE aligns the base to nothing rather than overflowing.
    let cfg = StrtabBaseCfg::new().with_log2size(63);
    assert_eq!(StreamTableConfig::new(base, cfg, 32, true).base, 0);
}

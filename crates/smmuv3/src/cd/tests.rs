use super::*;
use crate::ste::{S1Fmt, SteConfig};
use proptest::prelude::*;
use softiommu_mem::RamArena;
use softiommu_pgtable::formats::arm::MAIR;

fn caps() -> ModelCaps {
    ModelCaps::default()
}

/// The CD Linux writes for a 48-bit, 4 KiB-granule stage 1 (TTB1 disabled).
fn linux_cd() -> Cd {
    let mut cd = Cd::default().with_ttb0(0x8_1234_5000);
    cd.dw0 = CdDw0::new()
        .with_t0sz(16)
        .with_tg0(0)
        .with_ir0(1)
        .with_or0(1)
        .with_sh0(3)
        .with_epd1(true)
        .with_v(true)
        .with_ips(5)
        .with_aa64(true)
        .with_r(true)
        .with_a(true)
        .with_aset(true)
        .with_asid(0x42);
    cd.dw3 = CdDw3::from_bits(0x0004_ff44);
    cd
}

fn ste_with(cdmax: u8, fmt: S1Fmt, dss: S1Dss) -> Ste {
    let mut s = Ste::with_config(SteConfig::S1Translate).with_s1_context_ptr(0x10_0000);
    s.dw0 = s.dw0.with_s1cdmax(cdmax).with_s1fmt(fmt);
    s.dw1 = s.dw1.with_s1dss(dss);
    s
}

#[test]
fn cd_encodes_as_the_specification_lays_it_out() {
    let mut cd = Cd::default()
        .with_ttb0(0xABCD_EF01_2340)
        .with_ttb1(0x1234_5678_9AB0);
    cd.dw0 = CdDw0::new()
        .with_t0sz(25)
        .with_tg0(2)
        .with_ir0(1)
        .with_or0(2)
        .with_sh0(3)
        .with_epd0(true)
        .with_endi(true)
        .with_t1sz(33)
        .with_tg1(3)
        .with_ir1(3)
        .with_or1(1)
        .with_sh1(2)
        .with_epd1(true)
        .with_v(true)
        .with_ips(4)
        .with_affd(true)
        .with_wxn(true)
        .with_uwxn(true)
        .with_tbi0(true)
        .with_tbi1(true)
        .with_pan(true)
        .with_aa64(true)
        .with_hd(true)
        .with_ha(true)
        .with_s(true)
        .with_r(true)
        .with_a(true)
        .with_aset(true)
        .with_asid(0xCAFE);
    cd.dw1 = cd.dw1.with_nscfg0(true).with_had0(true);
    cd.dw2 = cd.dw2.with_nscfg1(true).with_had1(true);
    cd.dw3 = CdDw3::new().with_mair0(0x0004_ff44).with_mair1(0x1122_3344);
    let w = cd.to_words();
    // T0SZ (5:0), TG0 (7:6), IR0 (9:8), OR0 (11:10), SH0 (13:12), EPD0 (14), ENDI (15), T1SZ
    // (21:16), TG1 (23:22), IR1 (25:24), OR1 (27:26), SH1 (29:28), EPD1 (30), V (31), IPS
    // (34:32), AFFD (35), WXN (36), UWXN (37), TBI0 (38), TBI1 (39), PAN (40), AA64 (41), HD
    // (42), HA (43), S (44), R (45), A (46), ASET (47), ASID (63:48).
    let dw0: u64 = 25
        | 2 << 6
        | 1 << 8
        | 2 << 10
        | 3 << 12
        | 1 << 14
        | 1 << 15
        | 33 << 16
        | 3 << 22
        | 3 << 24
        | 1 << 26
        | 2 << 28
        | 1 << 30
        | 1 << 31
        | 4 << 32
        | 1 << 35
        | 1 << 36
        | 1 << 37
        | 1 << 38
        | 1 << 39
        | 1 << 40
        | 1 << 41
        | 1 << 42
        | 1 << 43
        | 1 << 44
        | 1 << 45
        | 1 << 46
        | 1 << 47
        | 0xCAFE << 48;
    assert_eq!(w[0], dw0);
    // DW1: NSCFG0 (0), HAD0 (1), TTB0 (51:4); DW2 likewise for TTB1; DW3: MAIR.
    assert_eq!(w[1], 0xABCD_EF01_2340 | 0b11);
    assert_eq!(w[2], 0x1234_5678_9AB0 | 0b11);
    assert_eq!(w[3], 0x1122_3344_0004_ff44);
    assert_eq!(cd.mair(), 0x1122_3344_0004_ff44);
    assert_eq!(Cd::from_words(w), cd);
    assert_eq!(cd.granule0(), Some(Granule::K16));
    assert_eq!(cd.granule1(), Some(Granule::K64));
    // TG1 has its own encoding: 01 16K, 10 4K, 11 64K, 00 reserved.
    assert_eq!(tg1_granule(0b10), Some(Granule::K4));
    assert_eq!(tg1_granule(0), None);
    for g in [Granule::K4, Granule::K16, Granule::K64] {
        assert_eq!(tg1_granule(tg1_encoding(g)), Some(g));
    }
}

#[test]
fn check_accepts_what_linux_writes_and_refuses_each_illegal_field() {
    let c = caps();
    let ste = ste_with(0, S1Fmt::Linear, S1Dss::Terminate);
    let bad = Err(EventId::BadCd);
    assert_eq!(linux_cd().check(&ste, &c), Ok(()));
    let with = |f: fn(CdDw0) -> CdDw0| {
        let mut cd = linux_cd();
        cd.dw0 = f(cd.dw0);
        cd
    };
    for (why, cd) in [
        ("V=0", with(|d| d.with_v(false))),
        ("AA64=0", with(|d| d.with_aa64(false))),
        ("ENDI", with(|d| d.with_endi(true))),
        ("T0SZ 15", with(|d| d.with_t0sz(15))),
        ("T0SZ 40", with(|d| d.with_t0sz(40))),
        ("reserved TG0", with(|d| d.with_tg0(3))),
        (
            "TTB1 half enabled with reserved TG1",
            with(|d| d.with_epd1(false)),
        ),
        ("A=0 with abort-only termination", with(|d| d.with_a(false))),
    ] {
        assert_eq!(cd.check(&ste, &c), bad, "{why}");
    }
    // A disabled half is not checked.
    let both = with(|d| d.with_epd0(true).with_t0sz(0).with_tg0(3).with_endi(true));
    assert_eq!(both.check(&ste, &c), Ok(()));
    let ttb1 = with(|d| d.with_epd1(false).with_t1sz(16).with_tg1(2));
    assert_eq!(ttb1.with_ttb1(0x9000).check(&ste, &c), Ok(()));
    // TTB0 beyond the effective IPS.
    assert_eq!(linux_cd().with_ttb0(1 << 48).check(&ste, &c), bad);
    let ips40 = with(|d| d.with_ips(2));
    assert_eq!(ips40.with_ttb0(1 << 40).check(&ste, &c), bad);
    assert_eq!(ips40.with_ttb0(1 << 39).check(&ste, &c), Ok(()));
    // HTTU.
    let hd = with(|d| d.with_ha(true).with_hd(true));
    assert_eq!(hd.check(&ste, &c), Ok(()));
    let af_only = ModelCaps {
        httu: Httu::Access,
        ..c
    };
    assert_eq!(hd.check(&ste, &af_only), bad);
    assert_eq!(with(|d| d.with_ha(true)).check(&ste, &af_only), Ok(()));
    let none = ModelCaps {
        httu: Httu::None,
        ..c
    };
    assert_eq!(with(|d| d.with_ha(true)).check(&ste, &none), bad);
    // Granules, ASIDs, termination.
    let no4k = ModelCaps { gran4k: false, ..c };
    assert_eq!(linux_cd().check(&ste, &no4k), bad);
    let asid8 = ModelCaps { asid16: false, ..c };
    assert_eq!(linux_cd().check(&ste, &asid8), Ok(()));
    assert_eq!(with(|d| d.with_asid(0x100)).check(&ste, &asid8), bad);
    let raz = ModelCaps {
        term_abort: false,
        ..c
    };
    assert_eq!(with(|d| d.with_a(false)).check(&ste, &raz), Ok(()));
    // Stall configuration against the stall model and STE.S1STALLD.
    let stall = with(|d| d.with_s(true));
    assert_eq!(stall.check(&ste, &c), Ok(()));
    let mut stalld = ste;
    stalld.dw1 = stalld.dw1.with_s1stalld(true);
    assert_eq!(stall.check(&stalld, &c), bad);
    let term = ModelCaps {
        stall_model: StallModel::TerminateOnly,
        ..c
    };
    assert_eq!(stall.check(&ste, &term), bad);
    let forced = ModelCaps {
        stall_model: StallModel::StallForced,
        ..c
    };
    assert_eq!(linux_cd().check(&ste, &forced), bad);
    assert_eq!(stall.check(&ste, &forced), Ok(()));
}

#[test]
fn substream_selection_follows_s1cdmax_and_s1dss() {
    let c = caps();
    let sub = |ste: &Ste, ssid| select_substream(ste, ssid, &c);
    // Without substreams: the one CD, and any SubstreamID is refused.
    let single = ste_with(0, S1Fmt::Linear, S1Dss::Terminate);
    assert_eq!(sub(&single, None), Ok(Substream::Single));
    assert_eq!(sub(&single, Some(0)), Err(EventId::BadSubstreamId));
    let no_ssid = ModelCaps { ssid_bits: 0, ..c };
    let table = ste_with(4, S1Fmt::Linear, S1Dss::Terminate);
    assert_eq!(
        select_substream(&table, Some(1), &no_ssid),
        Err(EventId::BadSubstreamId)
    );
    assert_eq!(
        select_substream(&table, None, &no_ssid),
        Ok(Substream::Single)
    );
    // With 2^4 CDs: in range, out of range.
    assert_eq!(sub(&table, Some(15)), Ok(Substream::Index(15)));
    assert_eq!(sub(&table, Some(16)), Err(EventId::BadSubstreamId));
    // S1DSS for requests without a SubstreamID.
    assert_eq!(sub(&table, None), Err(EventId::StreamDisabled));
    let reserved = ste_with(4, S1Fmt::Linear, S1Dss::Reserved);
    assert_eq!(sub(&reserved, None), Err(EventId::StreamDisabled));
    let bypass = ste_with(4, S1Fmt::Linear, S1Dss::Bypass);
    assert_eq!(sub(&bypass, None), Ok(Substream::BypassStage1));
    assert_eq!(sub(&bypass, Some(0)), Ok(Substream::Index(0)));
    let cd0 = ste_with(4, S1Fmt::Linear, S1Dss::Substream0);
    assert_eq!(sub(&cd0, None), Ok(Substream::Index(0)));
    assert_eq!(sub(&cd0, Some(0)), Err(EventId::StreamDisabled));
    assert_eq!(sub(&cd0, Some(3)), Ok(Substream::Index(3)));
    // Stage 1 disabled: no CD, and a SubstreamID is refused.
    for config in [SteConfig::Bypass, SteConfig::S2Translate] {
        let s = Ste::with_config(config);
        assert_eq!(sub(&s, None), Ok(Substream::BypassStage1));
        assert_eq!(sub(&s, Some(1)), Err(EventId::BadSubstreamId));
    }
}

#[test]
fn cd_tables_are_indexed_by_substream_id() {
    // One CD.
    let single = ste_with(0, S1Fmt::TwoLevel4K, S1Dss::Terminate);
    assert_eq!(
        locate_cd(&single, Substream::Single),
        Some(CdLocation::Cd(0x10_0000))
    );
    assert_eq!(locate_cd(&single, Substream::BypassStage1), None);
    // Linear: 64-byte CDs, the base aligned to the table (2^4 × 64 = 1 KiB).
    let mut linear = ste_with(4, S1Fmt::Linear, S1Dss::Terminate);
    linear = linear.with_s1_context_ptr(0x10_0000 + 0x3C0);
    assert_eq!(
        locate_cd(&linear, Substream::Index(5)),
        Some(CdLocation::Cd(0x10_0000 + 5 * 64))
    );
    // Two-level, 4 KiB leaves: SSID[19:6] picks the L1CD, SSID[5:0] the CD.
    let two = ste_with(20, S1Fmt::TwoLevel4K, S1Dss::Terminate);
    assert_eq!(
        locate_cd(&two, Substream::Index(0x1_2345)),
        Some(CdLocation::Level1 {
            desc: 0x10_0000 + (0x1_2345 >> 6) * 8,
            index: 0x1_2345 >> 6,
            leaf_index: 0x05,
            leaf_bits: 6
        })
    );
    // 64 KiB leaves: SSID[19:10] and SSID[9:0].
    let big = ste_with(20, S1Fmt::TwoLevel64K, S1Dss::Terminate);
    assert_eq!(
        locate_cd(&big, Substream::Index(0x1_2345)),
        Some(CdLocation::Level1 {
            desc: 0x10_0000 + 0x48 * 8,
            index: 0x48,
            leaf_index: 0x345,
            leaf_bits: 10
        })
    );
    // The reserved S1Fmt 11 behaves as linear.
    let r = ste_with(2, S1Fmt::Reserved, S1Dss::Terminate);
    assert_eq!(
        locate_cd(&r, Substream::Index(3)),
        Some(CdLocation::Cd(0x10_0000 + 3 * 64))
    );
}

#[test]
fn l1cd_known_answer_and_checks() {
    let d = L1Cd::for_table(0x12_3456_7000);
    // V (0) | L2Ptr (55:12).
    assert_eq!(d.into_bits(), 1 | 0x12_3456_7000);
    assert_eq!(d.cd_address(3, 6, 48), Ok(0x12_3456_7000 + 3 * 64));
    // 64 KiB leaves: L2Ptr[15:12] are taken as zero.
    assert_eq!(d.cd_address(3, 10, 48), Ok(0x12_3456_0000 + 3 * 64));
    assert_eq!(
        L1Cd::new().cd_address(0, 6, 48),
        Err(EventId::BadSubstreamId)
    );
    assert_eq!(d.cd_address(0, 6, 36), Err(EventId::BadSubstreamId));
}

#[test]
fn descriptors_round_trip_through_memory() {
    let mem = RamArena::new(0, 1 << 20).unwrap();
    let cd = linux_cd();
    cd.write(&mem, 0x4000).unwrap();
    assert_eq!(Cd::read(&mem, 0x4000).unwrap(), cd);
    assert_eq!(mem.load_u64(0x4008).unwrap(), 0x8_1234_5000);
    let d = L1Cd::for_table(0x9000);
    d.write(&mem, 0x5000).unwrap();
    assert_eq!(L1Cd::read(&mem, 0x5000).unwrap(), d);
    assert!(Cd::read(&mem, 1 << 30).is_err());
}

proptest! {
    #[test]
    fn checks_and_lookups_never_panic(s: [u64; 8], c: [u64; 8], ssid in proptest::option::of(0u32..1 << 21)) {
        let caps = caps();
        let ste = Ste::from_words(s);
        let cd = Cd::from_words(c);
        let _ = cd.check(&ste, &caps);
        let _ = cd.ips_bits(&caps);
        prop_assert_eq!(cd.to_words(), c);
        if let Ok(sub) = select_substream(&ste, ssid, &caps)
            && let Some(CdLocation::Level1 { leaf_index, leaf_bits, .. }) = locate_cd(&ste, sub)
        {
            prop_assert!(leaf_index < 1 << leaf_bits);
            let _ = L1Cd::from_bits(c[0]).cd_address(leaf_index, leaf_bits, 48);
        }
    }
}

#[test]
fn for_table_writes_what_linux_writes() {
    use softiommu_pgtable::formats::arm_s1::ArmS1Config;
    let f = ArmS1::new(ArmS1Config::default()).unwrap();
    let cd = Cd::for_table(&f, 0x8_1234_5000, 0x42);
    let mut want = linux_cd();
    want.dw3 = CdDw3::from_bits(MAIR);
    assert_eq!(cd, want);
    // MAIR: 0 Normal NC, 1 write-back, 2 Device-nGnRE.
    assert_eq!(cd.mair() & 0xff_ffff, 0x04_ff44);
    assert_eq!(
        cd.check(&ste_with(0, S1Fmt::Linear, S1Dss::Terminate), &caps()),
        Ok(())
    );
}

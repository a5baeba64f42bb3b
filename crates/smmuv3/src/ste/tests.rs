use super::*;
use proptest::prelude::*;
use softiommu_mem::RamArena;

fn caps() -> ModelCaps {
    ModelCaps::default()
}

/// A legal stage-2 STE: 4 KiB granule, 40-bit IPA starting at level 1 (two concatenated
/// tables), 48-bit output, records faults.
fn s2_ste() -> Ste {
    let mut s = Ste::with_config(SteConfig::S2Translate).with_s2ttb(0x10_0000);
    s.dw2 = s
        .dw2
        .with_s2vmid(7)
        .with_s2t0sz(24)
        .with_s2sl0(1)
        .with_s2tg(0)
        .with_s2ps(5)
        .with_s2aa64(true)
        .with_s2r(true);
    s
}

fn s1_ste() -> Ste {
    Ste::with_config(SteConfig::S1Translate).with_s1_context_ptr(0x4_0000)
}

#[test]
fn ste_encodes_as_the_specification_lays_it_out() {
    let mut s = Ste::with_config(SteConfig::Nested).with_s1_context_ptr(0xABC_DEF0_1240);
    s.dw0 = s.dw0.with_s1fmt(S1Fmt::TwoLevel64K).with_s1cdmax(17);
    s.dw1 = SteDw1::new()
        .with_s1dss(S1Dss::Substream0)
        .with_s1cir(1)
        .with_s1cor(2)
        .with_s1csh(3)
        .with_dre(true)
        .with_cont(0xA)
        .with_dcp(true)
        .with_ppar(true)
        .with_mev(true)
        .with_s1stalld(true)
        .with_eats(Eats::Split)
        .with_strw(2)
        .with_mem_attr(0xF)
        .with_mtcfg(true)
        .with_alloccfg(0b1010)
        .with_shcfg(1)
        .with_nscfg(2)
        .with_privcfg(3)
        .with_instcfg(2);
    s.dw2 = SteDw2::new()
        .with_s2vmid(0xBEEF)
        .with_s2t0sz(25)
        .with_s2sl0(2)
        .with_s2ir0(1)
        .with_s2or0(3)
        .with_s2sh0(3)
        .with_s2tg(2)
        .with_s2ps(4)
        .with_s2aa64(true)
        .with_s2endi(true)
        .with_s2affd(true)
        .with_s2ptw(true)
        .with_s2hd(true)
        .with_s2ha(true)
        .with_s2s(true)
        .with_s2r(true);
    let s = s.with_s2ttb(0x1234_5678_9AB0);
    let w = s.to_words();
    // DW0: V (0) | Config 111 (3:1) | S1Fmt 10 (5:4) | S1ContextPtr (55:6) | S1CDMax (63:59).
    assert_eq!(w[0], 1 | 7 << 1 | 2 << 4 | 0xABC_DEF0_1240 | 17 << 59);
    // DW1: S1DSS (1:0), S1CIR (3:2), S1COR (5:4), S1CSH (7:6), DRE (12), CONT (16:13), DCP
    // (17), PPAR (18), MEV (19), S1STALLD (27), EATS (29:28), STRW (31:30), MemAttr (35:32),
    // MTCFG (36), ALLOCCFG (40:37), SHCFG (45:44), NSCFG (47:46), PRIVCFG (49:48), INSTCFG
    // (51:50).
    let dw1: u64 = 2
        | 1 << 2
        | 2 << 4
        | 3 << 6
        | 1 << 12
        | 0xA << 13
        | 1 << 17
        | 1 << 18
        | 1 << 19
        | 1 << 27
        | 2 << 28
        | 2 << 30
        | 0xF << 32
        | 1 << 36
        | 0b1010 << 37
        | 1 << 44
        | 2 << 46
        | 3 << 48
        | 2 << 50;
    assert_eq!(w[1], dw1);
    // DW2: S2VMID (15:0), S2T0SZ (37:32), S2SL0 (39:38), S2IR0 (41:40), S2OR0 (43:42), S2SH0
    // (45:44), S2TG (47:46), S2PS (50:48), S2AA64 (51), S2ENDI (52), S2AFFD (53), S2PTW (54),
    // S2HD (55), S2HA (56), S2S (57), S2R (58).
    let dw2: u64 = 0xBEEF
        | 25 << 32
        | 2 << 38
        | 1 << 40
        | 3 << 42
        | 3 << 44
        | 2 << 46
        | 4 << 48
        | 1 << 51
        | 1 << 52
        | 1 << 53
        | 1 << 54
        | 1 << 55
        | 1 << 56
        | 1 << 57
        | 1 << 58;
    assert_eq!(w[2], dw2);
    // DW3: S2TTB (51:4).
    assert_eq!(w[3], 0x1234_5678_9AB0);
    assert_eq!(Ste::from_words(w), s);
    assert_eq!(s.s1_context_ptr(), 0xABC_DEF0_1240);
    assert_eq!(s.s2ttb(), 0x1234_5678_9AB0);
    assert_eq!(s.s2_granule(), Some(Granule::K16));
}

#[test]
fn config_values_and_linux_constants() {
    // Linux: ABORT 0, BYPASS 4, S1_TRANS 5, S2_TRANS 6, nested 7.
    for (v, c) in [
        (0, SteConfig::Abort),
        (4, SteConfig::Bypass),
        (5, SteConfig::S1Translate),
        (6, SteConfig::S2Translate),
        (7, SteConfig::Nested),
        (1, SteConfig::Reserved(1)),
        (2, SteConfig::Reserved(2)),
        (3, SteConfig::Reserved(3)),
    ] {
        assert_eq!(SteConfig::from_bits(v), c);
        assert_eq!(c.into_bits(), v);
    }
    assert!(SteConfig::Nested.stage1() && SteConfig::Nested.stage2());
    assert!(!SteConfig::Bypass.stage1() && !SteConfig::Reserved(3).stage2());
    assert_eq!(S1Fmt::from_bits(3), S1Fmt::Reserved);
    assert_eq!(S1Fmt::Reserved.leaf_bits(), None);
    assert_eq!(S1Fmt::TwoLevel4K.leaf_bits(), Some(6));
    assert_eq!(S1Dss::from_bits(3).into_bits(), 3);
    assert_eq!(Eats::from_bits(3), Eats::Dpt);
}

#[test]
fn check_accepts_legal_entries_and_every_config_without_stages() {
    let c = caps();
    assert_eq!(s2_ste().check(&c), Ok(()));
    assert_eq!(s1_ste().check(&c), Ok(()));
    for config in [
        SteConfig::Abort,
        SteConfig::Bypass,
        SteConfig::Reserved(1),
        SteConfig::Reserved(3),
    ] {
        // Garbage in the stage fields does not matter when no stage translates.
        let mut s = Ste::from_words([!0; 8]);
        s.dw0 = s.dw0.with_config(config);
        assert_eq!(s.check(&c), Ok(()), "{config:?}");
    }
    assert_eq!(Ste::default().check(&c), Err(EventId::BadSte));
}

#[test]
fn check_refuses_each_illegal_stage_configuration() {
    let c = caps();
    let bad = Err(EventId::BadSte);
    let no_s1 = ModelCaps { s1p: false, ..c };
    let no_s2 = ModelCaps { s2p: false, ..c };
    assert_eq!(s1_ste().check(&no_s1), bad);
    assert_eq!(s2_ste().check(&no_s2), bad);
    // S1CDMax above SSIDSIZE, two-level CD tables without CD2L.
    let mut s = s1_ste();
    s.dw0 = s.dw0.with_s1cdmax(21);
    assert_eq!(s.check(&c), bad);
    s.dw0 = s.dw0.with_s1cdmax(8).with_s1fmt(S1Fmt::TwoLevel4K);
    assert_eq!(s.check(&c), Ok(()));
    let no_cd2l = ModelCaps {
        two_level_cd: false,
        ..c
    };
    assert_eq!(s.check(&no_cd2l), bad);
    s.dw0 = s.dw0.with_s1fmt(S1Fmt::Reserved);
    assert_eq!(s.check(&no_cd2l), Ok(()), "11 behaves as linear");
    // S1ContextPtr beyond the OAS.
    let narrow = ModelCaps { oas_bits: 40, ..c };
    assert_eq!(s1_ste().with_s1_context_ptr(1 << 40).check(&narrow), bad);
    assert_eq!(s1_ste().with_s1_context_ptr(1 << 39).check(&narrow), Ok(()));
    // S1STALLD needs a configurable stall model.
    let mut s = s1_ste();
    s.dw1 = s.dw1.with_s1stalld(true);
    assert_eq!(s.check(&c), Ok(()));
    let term = ModelCaps {
        stall_model: StallModel::TerminateOnly,
        ..c
    };
    assert_eq!(s.check(&term), bad);

    let with = |f: fn(SteDw2) -> SteDw2| {
        let mut s = s2_ste();
        s.dw2 = f(s.dw2);
        s
    };
    for (why, s) in [
        ("S2AA64=0", with(|d| d.with_s2aa64(false))),
        ("S2ENDI", with(|d| d.with_s2endi(true))),
        ("reserved S2TG", with(|d| d.with_s2tg(3))),
        ("S2T0SZ 15", with(|d| d.with_s2t0sz(15))),
        ("S2T0SZ 40", with(|d| d.with_s2t0sz(40))),
        ("S2SL0 3", with(|d| d.with_s2sl0(3))),
        (
            "SL0 too deep for T0SZ",
            with(|d| d.with_s2t0sz(37).with_s2sl0(1)),
        ),
        (
            "more than 16 tables",
            with(|d| d.with_s2t0sz(16).with_s2sl0(0)),
        ),
    ] {
        assert_eq!(s.check(&c), bad, "{why}");
    }
    // HTTU fields need HTTU.
    let ha = with(|d| d.with_s2ha(true));
    let hd = with(|d| d.with_s2ha(true).with_s2hd(true));
    assert_eq!(ha.check(&c), Ok(()));
    assert_eq!(hd.check(&c), Ok(()));
    let af_only = ModelCaps {
        httu: Httu::Access,
        ..c
    };
    assert_eq!(ha.check(&af_only), Ok(()));
    assert_eq!(hd.check(&af_only), bad);
    let none = ModelCaps {
        httu: Httu::None,
        ..c
    };
    assert_eq!(ha.check(&none), bad);
    // A granule the SMMU lacks.
    let no16 = ModelCaps {
        gran16k: false,
        ..c
    };
    let g16 = with(|d| d.with_s2tg(2).with_s2t0sz(28).with_s2sl0(1));
    assert_eq!(g16.check(&c), Ok(()));
    assert_eq!(g16.check(&no16), bad);
    // S2TTB beyond the effective S2PS (capped to the OAS).
    let ttb = |a: u64| s2_ste().with_s2ttb(a);
    let ps40 = with(|d| d.with_s2ps(2));
    assert_eq!(ps40.with_s2ttb(1 << 40).check(&c), bad);
    assert_eq!(ttb(1 << 40).check(&c), Ok(()));
    assert_eq!(ttb(1 << 40).check(&narrow), bad);
    // S2T0SZ below 64 − IAS.
    assert_eq!(with(|d| d.with_s2t0sz(24)).check(&narrow), Ok(()));
    assert_eq!(
        with(|d| d.with_s2t0sz(23).with_s2sl0(1)).check(&narrow),
        bad
    );
    // Stall model against S2S.
    let s2s = with(|d| d.with_s2s(true));
    assert_eq!(s2s.check(&c), Ok(()));
    assert_eq!(s2s.check(&term), bad);
    let forced = ModelCaps {
        stall_model: StallModel::StallForced,
        ..c
    };
    assert_eq!(s2_ste().check(&forced), bad);
    assert_eq!(s2s.check(&forced), Ok(()));
    // 8-bit VMIDs.
    let vmid8 = ModelCaps { vmid16: false, ..c };
    assert_eq!(with(|d| d.with_s2vmid(0x100)).check(&vmid8), bad);
    assert_eq!(with(|d| d.with_s2vmid(0xFF)).check(&vmid8), Ok(()));
    let mut s1v = s1_ste();
    s1v.dw2 = s1v.dw2.with_s2vmid(0x100);
    assert_eq!(s1v.check(&vmid8), bad, "the VMID tags stage-1 entries too");
}

#[test]
fn check_applies_the_ats_rules() {
    let c = caps();
    let bad = Err(EventId::BadSte);
    let mut split = s1_ste();
    split.dw1 = split.dw1.with_eats(Eats::Split);
    assert_eq!(split.check(&c), bad, "split stage needs nesting");
    let mut nested = s2_ste();
    nested.dw0 = nested
        .dw0
        .with_config(SteConfig::Nested)
        .with_s1_context_ptr(0x4_0000 >> 6);
    nested.dw1 = nested.dw1.with_eats(Eats::Split);
    assert_eq!(nested.check(&c), Ok(()));
    let ns1ats = ModelCaps {
        split_ats: false,
        ..c
    };
    assert_eq!(nested.check(&ns1ats), bad);
    let mut full_s2s = s2_ste();
    full_s2s.dw1 = full_s2s.dw1.with_eats(Eats::Full);
    full_s2s.dw2 = full_s2s.dw2.with_s2s(true);
    assert_eq!(full_s2s.check(&c), bad);
    // Without ATS the field is IGNORED.
    let no_ats = ModelCaps { ats: false, ..c };
    assert_eq!(full_s2s.check(&no_ats), Ok(()));
    assert_eq!(split.check(&no_ats), Ok(()));
    assert_eq!(split.effective_eats(&no_ats), Eats::Disabled);
    assert_eq!(nested.effective_eats(&c), Eats::Split);
    let mut dpt = s1_ste();
    dpt.dw1 = dpt.dw1.with_eats(Eats::Dpt);
    assert_eq!(dpt.effective_eats(&c), Eats::Disabled, "11 behaves as 00");
    let mut bypass = Ste::with_config(SteConfig::Bypass);
    bypass.dw1 = bypass.dw1.with_eats(Eats::Full);
    assert_eq!(bypass.effective_eats(&c), Eats::Disabled);
}

#[test]
fn s2_config_follows_the_ste() {
    let c = caps();
    let cfg = s2_ste().s2_config(&c).unwrap();
    assert_eq!(cfg.granule, Granule::K4);
    assert_eq!((cfg.ia_bits, cfg.start_level, cfg.oa_bits), (40, 1, 48));
    let mut s = s2_ste();
    // {S2HA, S2HD} = 01 behaves as 00.
    s.dw2 = s.dw2.with_s2hd(true).with_s2ps(7);
    let cfg = s.s2_config(&ModelCaps { oas_bits: 44, ..c }).unwrap();
    assert!(!cfg.ha && !cfg.hd);
    assert_eq!(cfg.oa_bits, 44);
    assert_eq!(s2_ste().vmid(&c), 7);
    assert_eq!(s2_ste().vmid(&ModelCaps { s2p: false, ..c }), 0);
}

#[test]
fn linear_stream_table_locates_and_bounds_stream_ids() {
    let t = StreamTable::linear(0x10_0000 + 0x40, 8);
    assert_eq!(t.base(), 0x10_0000, "aligned to the table size");
    assert_eq!(t.locate(0), Ok(SteLocation::Ste(0x10_0000)));
    assert_eq!(t.locate(255), Ok(SteLocation::Ste(0x10_0000 + 255 * 64)));
    assert_eq!(t.locate(256), Err(EventId::BadStreamId));
    assert_eq!(
        StreamTable::linear(0, 0).locate(1),
        Err(EventId::BadStreamId)
    );
    let big = StreamTable::linear(0, 32);
    assert!(big.locate(u32::MAX).is_ok());
}

#[test]
fn two_level_stream_table_follows_span_per_the_specification() {
    let t = StreamTable::two_level(0x20_0000, 16, 8);
    assert_eq!(
        t.locate(0x1234),
        Ok(SteLocation::Level1 {
            desc: 0x20_0000 + 0x12 * 8,
            index: 0x12
        })
    );
    assert_eq!(t.locate(0x1_0000), Err(EventId::BadStreamId));
    // Linux writes Span = SPLIT + 1: 2^SPLIT STEs.
    let d = L1Std::for_table(0x30_0000, 9);
    assert_eq!(d.into_bits(), 9 | 0x30_0000);
    assert_eq!(d.ste_address(0x1234, 8), Ok(0x30_0000 + 0x34 * 64));
    assert_eq!(d.ste_address(0x12FF, 8), Ok(0x30_0000 + 0xFF * 64));
    // Span holds 2^(Span − 1) STEs, not 2^Span (QEMU's reading): Span 4 is 8 STEs.
    let small = L1Std::for_table(0x30_0000, 4);
    assert_eq!(small.ste_address(0x1207, 8), Ok(0x30_0000 + 7 * 64));
    assert_eq!(small.ste_address(0x1208, 8), Err(EventId::BadStreamId));
    // Span 0 and the reserved 12–31 are invalid; so is a Span above SPLIT + 1.
    for span in [0, 12, 31] {
        assert_eq!(
            L1Std::for_table(0x30_0000, span).ste_address(0x1200, 8),
            Err(EventId::BadStreamId),
            "span {span}"
        );
    }
    assert_eq!(
        L1Std::for_table(0x30_0000, 10).ste_address(0x1200, 8),
        Err(EventId::BadStreamId)
    );
    // L2Ptr is aligned down to the array's size: 8 STEs = 512 bytes.
    let odd = L1Std::for_table(0x30_0000 + 0x1C0, 4);
    assert_eq!(odd.ste_address(0x1201, 8), Ok(0x30_0000 + 64));
    // Reserved SPLIT values behave as 6.
    assert_eq!(
        StreamTable::two_level(0, 16, 7).format(),
        StreamTableFormat::TwoLevel { split: 6 }
    );
}

#[test]
fn stream_table_from_registers() {
    let c = caps();
    // FMT 01, SPLIT 8, LOG2SIZE 16; the L1 array (256 × 8 B = 2 KiB) aligned.
    let cfg = 1 << 16 | 8 << 6 | 16;
    let t = StreamTable::from_registers(0x4000_1234_5FC0 | 1 << 62, cfg, &c);
    assert_eq!(t.format(), StreamTableFormat::TwoLevel { split: 8 });
    assert_eq!(t.log2size(), 16);
    assert_eq!(t.base(), 0x4000_1234_5800);
    // Without two-level support FMT 01 is linear; a linear table aligns to its size.
    let linear_only = ModelCaps {
        two_level_ste: false,
        ..c
    };
    let t = StreamTable::from_registers(0x12_3456_7FC0, cfg, &linear_only);
    assert_eq!(t.format(), StreamTableFormat::Linear);
    assert_eq!(t.base(), 0x12_3440_0000);
    // LOG2SIZE beyond SIDSIZE behaves as SIDSIZE; FMT 10/11 are linear.
    let t = StreamTable::from_registers(0, 2 << 16 | 30, &ModelCaps { sid_bits: 12, ..c });
    assert_eq!(t.log2size(), 12);
    assert_eq!(t.format(), StreamTableFormat::Linear);
    for t in [
        StreamTable::linear(0x1234_0000, 12),
        StreamTable::two_level(0xF_FFFF_F000, 32, 10),
    ] {
        assert_eq!(StreamTable::from_bits(t.to_bits()), t);
    }
}

#[test]
fn entries_round_trip_through_memory() {
    let mem = RamArena::new(0, 1 << 20).unwrap();
    let s = s2_ste();
    s.write(&mem, 0x1000).unwrap();
    assert_eq!(Ste::read(&mem, 0x1000).unwrap(), s);
    assert_eq!(mem.load_u64(0x1000 + 16).unwrap(), s.dw2.into_bits());
    let d = L1Std::for_table(0x8000, 7);
    d.write(&mem, 0x2000).unwrap();
    assert_eq!(L1Std::read(&mem, 0x2000).unwrap(), d);
    assert!(Ste::read(&mem, 1 << 30).is_err());
}

proptest! {
    #[test]
    fn checks_never_panic(w: [u64; 8], sid: u32, split: u8, oas in prop::sample::select(vec![32u8, 36, 40, 42, 44, 48]),
                          cfg: u32, base: u64) {
        let c = ModelCaps { oas_bits: oas, ..caps() };
        let s = Ste::from_words(w);
        let _ = s.check(&c);
        let _ = s.s2_config(&c);
        let _ = s.effective_eats(&c);
        prop_assert_eq!(s.to_words(), w);
        let _ = L1Std::from_bits(w[0]).ste_address(sid, split);
        let t = StreamTable::from_registers(base, cfg, &c);
        let _ = t.locate(sid);
        prop_assert_eq!(StreamTable::from_bits(t.to_bits()), t);
    }
}

#[test]
fn with_s2_table_describes_the_format() {
    use softiommu_pgtable::formats::arm_s2::ArmS2;
    let c = caps();
    for (g, ia) in [(Granule::K4, 40), (Granule::K16, 36), (Granule::K64, 42)] {
        let cfg = ArmS2Config::auto(g, ia, 44).unwrap();
        let f = ArmS2::new(cfg).unwrap();
        let s = Ste::with_config(SteConfig::S2Translate).with_s2_table(&f, 0x20_0000, 9);
        assert_eq!(s.check(&c), Ok(()), "{g:?}");
        assert_eq!(s.s2_config(&c), Some(cfg));
        assert_eq!((s.vmid(&c), s.s2ttb()), (9, 0x20_0000));
    }
}

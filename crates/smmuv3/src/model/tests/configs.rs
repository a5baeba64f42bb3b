//! Every STE configuration, linear and two-level stream and CD tables, S1DSS, the two halves
//! of a stage-1 address space, and a disabled SMMU.

use softiommu_pgtable::Prot;

use super::*;
use crate::cd::{L1Cd, tg1_encoding};
use crate::event::EventClass;
use crate::ste::{L1Std, S1Dss, S1Fmt};

const READ: Access = Access::READ;
const WRITE: Access = Access::WRITE;

#[test]
fn abort_and_reserved_configs_terminate_without_an_event() {
    let rig = Rig::new();
    for config in [
        SteConfig::Abort,
        SteConfig::Reserved(1),
        SteConfig::Reserved(2),
        SteConfig::Reserved(3),
    ] {
        rig.set_ste(SID, &Ste::with_config(config));
        rig.unit.invalidate(InvalidationScope::Ste {
            sid: SID,
            leaf: true,
        });
        for ssid in [None, Some(1)] {
            let f = rig.translate(SID, ssid, 0x1000, READ).unwrap_err();
            assert_eq!(f.event, None, "{config:?}");
            assert!(f.abort && !f.record);
        }
    }
}

#[test]
fn bypass_config_passes_addresses_through_up_to_the_oas() {
    let rig = Rig::with_caps(ModelCaps {
        oas_bits: 40,
        ..ModelCaps::default()
    });
    rig.set_ste(SID, &Ste::with_config(SteConfig::Bypass));
    let t = rig.translate(SID, None, 0x12_3456_7890, WRITE).unwrap();
    assert_eq!((t.pa, t.len), (0x12_3456_7890, 0x1000 - 0x890));
    // Cached now; still the same, and the same check beyond the OAS.
    assert_eq!(rig.read(SID, 0xFF_FFFF_F000), Ok(0xFF_FFFF_F000));
    let e = rig.read_event(SID, None, 1 << 40);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::AddrSize, false, EventClass::In)
    );
    assert_eq!(e.addr, 1 << 40);
    // A SubstreamID with stage 1 disabled.
    let e = rig.read_event(SID, Some(7), 0x1000);
    assert_eq!((e.id, e.ssid), (EventId::BadSubstreamId, Some(7)));
}

#[test]
fn stage1_translates_pages_and_blocks_and_the_tlb_keeps_them_until_invalidated() {
    let rig = Rig::new();
    let mut s1 = rig.s1();
    s1.map(0x4000_0000, 0x100_0000, 0x2000, Prot::RW).unwrap();
    s1.map(0x4020_0000, 0x200_0000, 0x20_0000, Prot::READ)
        .unwrap();
    rig.s1_stream(SID, &s1, 5);
    let t = rig.translate(SID, None, 0x4000_1234, WRITE).unwrap();
    assert_eq!((t.pa, t.len), (0x100_1234, 0x1000 - 0x234));
    assert!(t.perm.allows(WRITE));
    let t = rig.translate(SID, None, 0x4021_2345, READ).unwrap();
    assert_eq!((t.pa, t.len), (0x201_2345, 0x20_0000 - 0x1_2345));
    assert_eq!(
        id(rig.translate(SID, None, 0x4021_2345, WRITE)),
        EventId::Permission
    );
    assert_eq!(
        rig.read_event(SID, None, 0x5000_0000).id,
        EventId::Translation
    );
    // The TLB holds the page after the tables change, as hardware does...
    s1.unmap(0x4000_0000, 0x2000).unwrap();
    assert_eq!(rig.read(SID, 0x4000_1000), Ok(0x100_1000));
    // ...until the driver invalidates it.
    rig.unit.invalidate(InvalidationScope::NhVa {
        vmid: 0,
        asid: 5,
        range: TlbiRange::page(0x4000_1000),
        leaf: true,
    });
    assert_eq!(
        rig.read_event(SID, None, 0x4000_1000).id,
        EventId::Translation
    );
    // The block is still cached: it was not in the range.
    assert_eq!(rig.read(SID, 0x4020_0000), Ok(0x200_0000));
}

#[test]
fn stage1_walks_16k_and_64k_granules() {
    let rig = Rig::new();
    for (sid, g) in [(1, Granule::K16), (2, Granule::K64)] {
        let mut s1 = rig.s1_with(ArmS1Config {
            granule: g,
            ia_bits: 40,
            ..ArmS1Config::default()
        });
        let pa = 0x100_0000 * sid as u64;
        s1.map(0x1_0000_0000, pa, g.size(), Prot::RW).unwrap();
        rig.s1_stream(sid, &s1, sid as u16);
        let t = rig.translate(sid, None, 0x1_0000_0123, READ).unwrap();
        assert_eq!((t.pa, t.len), (pa + 0x123, g.size() - 0x123));
        // Beyond the 40-bit input: the range check of T0SZ.
        assert_eq!(rig.read_event(sid, None, 1 << 40).id, EventId::Translation);
    }
}

#[test]
fn stage2_translates_input_addresses_as_ipas() {
    let rig = Rig::new();
    let mut s2 = rig.s2();
    s2.map(0x8000_0000, 0x300_0000, 0x1000, Prot::RW).unwrap();
    let ste = with_s2(
        Ste::with_config(SteConfig::S2Translate),
        s2.format(),
        s2.root(),
        3,
    );
    rig.set_ste(SID, &ste);
    assert_eq!(rig.read(SID, 0x8000_0ABC), Ok(0x300_0ABC));
    // Beyond the 40-bit IPA space but within the IAS: a stage-2 translation fault.
    let e = rig.read_event(SID, None, 1 << 40);
    assert_eq!(
        (e.id, e.s2, e.class, e.ipa),
        (EventId::Translation, true, EventClass::In, 1 << 40)
    );
    // Beyond the IAS: stage 1 (bypassed) reports an address size fault.
    let e = rig.read_event(SID, None, 1 << 48);
    assert_eq!((e.id, e.s2), (EventId::AddrSize, false));
    assert_eq!(rig.read_event(SID, Some(1), 0).id, EventId::BadSubstreamId);
}

/// A stage-2 table mapping IPA = PA over all of RAM, and IPAs [0x1000_0000, +16 MiB) to PAs
/// [0x200_0000, +16 MiB).
pub(super) fn identity_s2(rig: &Rig) -> PageTable<ArmS2, Mem> {
    let mut s2 = rig.s2();
    s2.map(0, 0, MEM, Prot::RW).unwrap();
    s2.map(0x1000_0000, 0x200_0000, 16 << 20, Prot::RW).unwrap();
    s2
}

#[test]
fn nested_translates_every_table_access_and_the_output_through_stage_2() {
    let rig = Rig::new();
    let s2 = identity_s2(&rig);
    let mut s1 = rig.s1();
    s1.map(0x1_0000_0000, 0x1000_1000, 0x1000, Prot::RW)
        .unwrap();
    let cd = rig.page();
    rig.set_cd(cd, &cd_for(s1.format(), s1.root(), 9));
    rig.set_ste(SID, &nested_ste(cd, &s2, 4));
    let t = rig.translate(SID, None, 0x1_0000_0123, WRITE).unwrap();
    assert_eq!(t.pa, 0x200_1123);
    // The combined entry is cached under VMID 4 and ASID 9.
    assert_eq!(rig.read(SID, 0x1_0000_0FF0), Ok(0x200_1FF0));
}

#[test]
fn two_level_stream_tables_follow_each_l1std_span() {
    let rig = Rig::new();
    let l1 = rig.page();
    let l2 = rig.alloc.alloc(256 * 64).unwrap();
    rig.unit.set_stream_table(StreamTable::two_level(l1, 16, 8));
    L1Std::for_table(l2, 9)
        .write(&*rig.mem, l1 + 0x12 * 8)
        .unwrap();
    Ste::with_config(SteConfig::Bypass)
        .write(&*rig.mem, l2 + 0x34 * 64)
        .unwrap();
    assert_eq!(rig.read(0x1234, 0x5000), Ok(0x5000));
    // An STE with V=0 in a valid span; an L1STD with Span 0; beyond LOG2SIZE.
    assert_eq!(rig.read_event(0x1235, None, 0).id, EventId::BadSte);
    assert_eq!(rig.read_event(0x1334, None, 0).id, EventId::BadStreamId);
    assert_eq!(rig.read_event(0x1_0000, None, 0).id, EventId::BadStreamId);
    // Span 4: 8 STEs, not 16.
    let l2b = rig.page();
    L1Std::for_table(l2b, 4)
        .write(&*rig.mem, l1 + 0x20 * 8)
        .unwrap();
    for i in 0..16 {
        Ste::with_config(SteConfig::Bypass)
            .write(&*rig.mem, l2b + i * 64)
            .unwrap();
    }
    assert_eq!(rig.read(0x2007, 0x5000), Ok(0x5000));
    let e = rig.read_event(0x2008, Some(3), 0);
    assert_eq!(
        (e.id, e.sid, e.ssid),
        (EventId::BadStreamId, 0x2008, Some(3))
    );
}

/// Two stage-1 tables mapping the same VA to different pages, and their CDs.
fn two_spaces(rig: &Rig) -> [(PageTable<ArmS1, Mem>, Cd); 2] {
    [(1u16, 0x100_0000u64), (2, 0x180_0000)].map(|(asid, pa)| {
        let mut t = rig.s1();
        t.map(0x4000_0000, pa, 0x1000, Prot::RW).unwrap();
        let cd = cd_for(t.format(), t.root(), asid);
        (t, cd)
    })
}

fn table_ste(table: u64, cdmax: u8, fmt: S1Fmt, dss: S1Dss) -> Ste {
    let mut s = s1_ste(table);
    s.dw0 = s.dw0.with_s1cdmax(cdmax).with_s1fmt(fmt);
    s.dw1 = s.dw1.with_s1dss(dss);
    s
}

#[test]
fn linear_and_two_level_cd_tables_select_the_cd_by_substream() {
    let rig = Rig::new();
    let [(_a, cd_a), (_b, cd_b)] = two_spaces(&rig);
    let (pa_a, pa_b) = (0x100_0000, 0x180_0000);
    // Linear: 16 CDs.
    let table = rig.page();
    rig.set_cd(table + 3 * 64, &cd_a);
    rig.set_cd(table + 9 * 64, &cd_b);
    rig.set_ste(1, &table_ste(table, 4, S1Fmt::Linear, S1Dss::Terminate));
    let read = |sid, ssid| {
        rig.translate(sid, Some(ssid), 0x4000_0000, READ)
            .map(|t| t.pa)
    };
    assert_eq!(read(1, 3), Ok(pa_a));
    assert_eq!(read(1, 9), Ok(pa_b));
    assert_eq!(id(rig.translate(1, Some(4), 0, READ)), EventId::BadCd);
    assert_eq!(
        id(rig.translate(1, Some(16), 0, READ)),
        EventId::BadSubstreamId
    );
    // Two levels of 4 KiB leaves: SubstreamID[19:6], then [5:0].
    let l1 = rig.alloc.alloc(1 << 17).unwrap();
    let leaf = rig.page();
    L1Cd::for_table(leaf)
        .write(&*rig.mem, l1 + (0x1_2345 >> 6) * 8)
        .unwrap();
    rig.set_cd(leaf + 5 * 64, &cd_a);
    rig.set_ste(2, &table_ste(l1, 20, S1Fmt::TwoLevel4K, S1Dss::Terminate));
    assert_eq!(read(2, 0x1_2345), Ok(pa_a));
    let e = event(rig.translate(2, Some(0x1_2385), 0, READ));
    assert_eq!((e.id, e.ssid), (EventId::BadSubstreamId, Some(0x1_2385)));
    // Two levels of 64 KiB leaves: SubstreamID[11:10], then [9:0].
    let l1 = rig.page();
    let leaf = rig.alloc.alloc(64 << 10).unwrap();
    L1Cd::for_table(leaf).write(&*rig.mem, l1 + 8).unwrap();
    rig.set_cd(leaf + 0x345 * 64, &cd_b);
    rig.set_ste(3, &table_ste(l1, 12, S1Fmt::TwoLevel64K, S1Dss::Terminate));
    assert_eq!(read(3, 0x745), Ok(pa_b));
    assert_eq!(
        id(rig.translate(3, Some(0x345), 0, READ)),
        EventId::BadSubstreamId
    );
}

#[test]
fn s1dss_decides_for_requests_without_a_substream() {
    let rig = Rig::new();
    let [(_a, cd_a), (_b, cd_b)] = two_spaces(&rig);
    let table = rig.page();
    rig.set_cd(table, &cd_a);
    rig.set_cd(table + 64, &cd_b);
    for (sid, dss) in [
        (1, S1Dss::Terminate),
        (2, S1Dss::Bypass),
        (3, S1Dss::Substream0),
        (4, S1Dss::Reserved),
    ] {
        rig.set_ste(sid, &table_ste(table, 4, S1Fmt::Linear, dss));
        // With a substream the table decides.
        assert_eq!(
            rig.translate(sid, Some(1), 0x4000_0000, READ).unwrap().pa,
            0x180_0000
        );
    }
    let disabled = rig.read_event(1, None, 0x4000_0000);
    assert_eq!((disabled.id, disabled.sid), (EventId::StreamDisabled, 1));
    assert_eq!(
        rig.read(2, 0x4000_0000),
        Ok(0x4000_0000),
        "stage 1 bypassed"
    );
    assert_eq!(rig.read(3, 0x4000_0000), Ok(0x100_0000), "CD 0");
    assert_eq!(
        id(rig.translate(3, Some(0), 0x4000_0000, READ)),
        EventId::StreamDisabled
    );
    assert_eq!(rig.read_event(4, None, 0).id, EventId::StreamDisabled);
}

#[test]
fn ttb1_tbi_and_epd_choose_and_check_the_half_of_the_address_space() {
    let rig = Rig::new();
    let mut low = rig.s1();
    low.map(0x4000_0000, 0x100_0000, 0x1000, Prot::RW).unwrap();
    let mut high = rig.s1();
    // TTB1 covers the top 2^48 bytes: VA 0xFFFF_8000_0000_0000 is table input 0x8000_0000_0000.
    high.map(0x8000_0000_0000, 0x180_0000, 0x1000, Prot::RW)
        .unwrap();
    let mut cd = cd_for(low.format(), low.root(), 1).with_ttb1(high.root());
    cd.dw0 = cd
        .dw0
        .with_epd1(false)
        .with_t1sz(16)
        .with_tg1(tg1_encoding(Granule::K4))
        .with_tbi0(true);
    let at = rig.page();
    rig.set_cd(at, &cd);
    rig.set_ste(SID, &s1_ste(at));
    assert_eq!(rig.read(SID, 0xFFFF_8000_0000_0123), Ok(0x180_0123));
    assert_eq!(rig.read(SID, 0x4000_0123), Ok(0x100_0123));
    // TBI0: the top byte of a TTB0 address is ignored; TBI1 is off.
    assert_eq!(rig.read(SID, 0x5A00_0000_4000_0123), Ok(0x100_0123));
    assert_eq!(
        rig.read_event(SID, None, 0x5AFF_8000_0000_0123).id,
        EventId::Translation
    );
    // Not sign-extended from bit 47.
    let e = rig.read_event(SID, None, 0x0001_0000_4000_0000);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::Translation, false, EventClass::In)
    );
    // EPD0 turns the low half off (a TLB miss there is a translation fault).
    cd.dw0 = cd.dw0.with_epd0(true);
    rig.set_cd(at, &cd);
    rig.unit.invalidate(InvalidationScope::Cd {
        sid: SID,
        ssid: 0,
        leaf: true,
    });
    rig.unit.invalidate(InvalidationScope::NhAll { vmid: 0 });
    assert_eq!(
        rig.read_event(SID, None, 0x4000_0123).id,
        EventId::Translation
    );
    assert_eq!(rig.read(SID, 0xFFFF_8000_0000_0123), Ok(0x180_0123));
}

#[test]
fn a_disabled_smmu_bypasses_or_aborts_as_gbpa_says() {
    let rig = Rig::new();
    rig.unit.enable(false);
    // No STE is read: any StreamID passes.
    assert_eq!(rig.read(0xFFFF_FFFF, 0x1234), Ok(0x1234));
    assert_eq!(
        rig.translate(1, None, 1 << 48, READ).unwrap_err().event,
        None
    );
    rig.unit.set_global_abort(true);
    let f = rig.translate(1, None, 0x1234, READ).unwrap_err();
    assert_eq!((f.event, f.abort), (None, true));
}

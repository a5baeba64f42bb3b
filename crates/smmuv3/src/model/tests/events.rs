//! One test for each event the translation engine raises, with the fields of its record.

use softiommu_pgtable::Prot;

use super::*;
use crate::event::EventClass;
use crate::ste::Eats;

const READ: Access = Access::READ;

/// A rig with a stage-1 stream at `SID` (ASID 1) mapping 0x4000_0000 to 0x100_0000 read-only
/// and 0x4000_1000 to 0x100_1000 read-write.
fn s1_rig() -> (Rig, PageTable<ArmS1, Mem>) {
    let rig = Rig::new();
    let mut s1 = rig.s1();
    s1.map(0x4000_0000, 0x100_0000, 0x1000, Prot::READ).unwrap();
    s1.map(0x4000_1000, 0x100_1000, 0x1000, Prot::RW).unwrap();
    rig.s1_stream(SID, &s1, 1);
    (rig, s1)
}

#[test]
fn f_uut_for_an_instruction_write() {
    let (rig, _s1) = s1_rig();
    let access = Access {
        write: true,
        exec: true,
        privileged: true,
    };
    let f = rig
        .translate(SID, Some(2), 0x4000_1000, access)
        .unwrap_err();
    let e = f.event.unwrap();
    assert_eq!(
        (e.id, e.sid, e.ssid, e.addr),
        (EventId::Uut, SID, Some(2), 0x4000_1000)
    );
    assert!(!e.rnw && e.pnu && f.record);
    assert_eq!(e.encode()[0] & 0xff, 0x01);
}

#[test]
fn c_bad_streamid_beyond_the_table_recorded_only_with_recinvsid() {
    let (rig, _s1) = s1_rig();
    let f = rig.translate(256, Some(1), 0, READ).unwrap_err();
    let e = f.event.unwrap();
    assert_eq!((e.id, e.sid, e.ssid), (EventId::BadStreamId, 256, Some(1)));
    assert!(f.record);
    rig.unit.set_record_invalid_sid(false);
    assert!(!rig.translate(256, None, 0, READ).unwrap_err().record);
    // Beyond IDR1.SIDSIZE too.
    let narrow = Rig::with_caps(ModelCaps {
        sid_bits: 4,
        ..ModelCaps::default()
    });
    assert_eq!(narrow.read_event(SID, None, 0).id, EventId::BadStreamId);
}

#[test]
fn f_ste_fetch_when_the_stream_table_is_not_in_memory() {
    let rig = Rig::new();
    rig.unit.set_stream_table(StreamTable::linear(1 << 40, 8));
    let e = rig.read_event(3, None, 0);
    assert_eq!(
        (e.id, e.fetch_addr),
        (EventId::SteFetch, (1 << 40) + 3 * 64)
    );
    // An STE address beyond the OAS is a fetch abort as well.
    let narrow = Rig::with_caps(ModelCaps {
        oas_bits: 36,
        ..ModelCaps::default()
    });
    narrow
        .unit
        .set_stream_table(StreamTable::linear(1 << 36, 8));
    assert_eq!(narrow.read_event(0, None, 0).fetch_addr, 1 << 36);
}

#[test]
fn c_bad_ste_for_an_invalid_entry() {
    let rig = Rig::new();
    let e = rig.read_event(7, Some(5), 0x1000);
    assert_eq!((e.id, e.sid, e.ssid), (EventId::BadSte, 7, Some(5)));
    // ILLEGAL: stage 2 on an SMMU without it.
    let s1only = Rig::with_caps(ModelCaps {
        s2p: false,
        ..ModelCaps::default()
    });
    s1only.set_ste(1, &Ste::with_config(SteConfig::S2Translate));
    assert_eq!(s1only.read_event(1, None, 0).id, EventId::BadSte);
}

#[test]
fn f_bad_ats_treq_when_eats_refuses_translation_requests() {
    let (rig, _s1) = s1_rig();
    let req = Request {
        kind: RequestKind::TranslationRequest,
        ..Request::new(SID, None, 0x4000_1000, Access::WRITE)
    };
    let f = rig.unit.translate(req).unwrap_err();
    let e = f.event.unwrap();
    assert_eq!(
        (e.id, e.addr, e.rnw),
        (EventId::BadAtsTreq, 0x4000_1000, false)
    );
    assert!(f.record);
}

#[test]
fn f_stream_disabled_for_a_request_without_a_substream() {
    let (rig, s1) = s1_rig();
    let table = rig.page();
    rig.set_cd(table, &cd_for(s1.format(), s1.root(), 1));
    let mut ste = s1_ste(table);
    ste.dw0 = ste.dw0.with_s1cdmax(2);
    rig.set_ste(SID + 1, &ste);
    let e = rig.read_event(SID + 1, None, 0x4000_0000);
    assert_eq!(
        (e.id, e.sid, e.ssid),
        (EventId::StreamDisabled, SID + 1, None)
    );
    // The record carries the StreamID only.
    assert_eq!(e.encode(), [0x06 | u64::from(SID + 1) << 32, 0, 0, 0]);
}

#[test]
fn f_transl_forbidden_for_translated_traffic_eats_does_not_allow() {
    let (rig, _s1) = s1_rig();
    rig.unit.set_ats_check(true);
    let req = Request {
        kind: RequestKind::Translated,
        ..Request::new(SID, None, 0x9000, Access::WRITE)
    };
    let e = rig.unit.translate(req).unwrap_err().event.unwrap();
    assert_eq!(
        (e.id, e.addr, e.rnw),
        (EventId::TranslForbidden, 0x9000, false)
    );
    // Without ATSCHK the traffic bypasses; with full ATS it may too.
    rig.unit.set_ats_check(false);
    assert_eq!(rig.unit.translate(req).unwrap().pa, 0x9000);
    rig.unit.set_ats_check(true);
    let mut ste = Ste::with_config(SteConfig::Bypass);
    rig.set_ste(SID + 1, &ste);
    let bypass = Request {
        sid: SID + 1,
        ..req
    };
    assert_eq!(id(rig.unit.translate(bypass)), EventId::TranslForbidden);
    ste = s1_ste(0);
    ste.dw1 = ste.dw1.with_eats(Eats::Full);
    rig.set_ste(SID + 2, &ste);
    assert_eq!(
        rig.unit
            .translate(Request {
                sid: SID + 2,
                ..req
            })
            .unwrap()
            .pa,
        0x9000
    );
    // An invalid STE aborts it silently.
    let f = rig.unit.translate(Request { sid: 99, ..req }).unwrap_err();
    assert_eq!(f.event, None);
}

#[test]
fn c_bad_substreamid_for_a_substream_the_ste_does_not_have() {
    let (rig, _s1) = s1_rig();
    let e = rig.read_event(SID, Some(0x5_4321), 0x4000_0000);
    assert_eq!((e.id, e.ssid), (EventId::BadSubstreamId, Some(0x5_4321)));
    // The record has the SubstreamID without SSV.
    assert_eq!(e.encode()[0] & (1 << 11), 0);
    assert_eq!(e.encode()[0] >> 12 & 0xf_ffff, 0x5_4321);
}

#[test]
fn f_cd_fetch_when_the_cd_is_not_in_memory() {
    let rig = Rig::new();
    rig.set_ste(SID, &s1_ste(1 << 40));
    let e = rig.read_event(SID, None, 0);
    assert_eq!((e.id, e.fetch_addr), (EventId::CdFetch, 1 << 40));
    assert_eq!(e.encode()[3], 1 << 40);
}

#[test]
fn c_bad_cd_for_an_invalid_or_illegal_cd() {
    let (rig, s1) = s1_rig();
    let at = rig.page();
    rig.set_ste(SID + 1, &s1_ste(at));
    assert_eq!(rig.read_event(SID + 1, None, 0).id, EventId::BadCd);
    let mut cd = cd_for(s1.format(), s1.root(), 1);
    cd.dw0 = cd.dw0.with_t0sz(12);
    rig.set_cd(at, &cd);
    rig.unit.invalidate(InvalidationScope::All);
    let e = rig.read_event(SID + 1, None, 0);
    assert_eq!((e.id, e.sid), (EventId::BadCd, SID + 1));
}

#[test]
fn f_walk_eabt_when_a_stage1_table_is_not_in_memory() {
    let rig = Rig::new();
    let s1 = rig.s1();
    let at = rig.page();
    rig.set_cd(at, &cd_for(s1.format(), 1 << 40, 1));
    rig.set_ste(SID, &s1_ste(at));
    let e = rig.read_event(SID, None, 0x4000_0000);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::WalkEabt, false, EventClass::Tt)
    );
    // The level-0 descriptor of VA 0x4000_0000 is entry 0 of the root.
    assert_eq!(e.fetch_addr, 1 << 40);
    assert_eq!(e.addr, 0x4000_0000);
}

#[test]
fn f_translation_for_an_unmapped_page() {
    let (rig, _s1) = s1_rig();
    let access = Access::READ.privileged();
    let f = rig.translate(SID, None, 0x5000_0000, access).unwrap_err();
    let e = f.event.unwrap();
    assert_eq!(
        (e.id, e.s2, e.class, e.addr),
        (EventId::Translation, false, EventClass::In, 0x5000_0000)
    );
    assert!(e.rnw && e.pnu && !e.ind && f.record && f.abort);
}

#[test]
fn f_addr_size_for_an_output_beyond_the_cd_ips() {
    let rig = Rig::new();
    let mut s1 = rig.s1();
    s1.map(0x4000_0000, 0x1_0000_0000, 0x1000, Prot::RW)
        .unwrap();
    let mut cd = cd_for(s1.format(), s1.root(), 1);
    cd.dw0 = cd.dw0.with_ips(0);
    let at = rig.page();
    rig.set_cd(at, &cd);
    rig.set_ste(SID, &s1_ste(at));
    let e = rig.read_event(SID, None, 0x4000_0010);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::AddrSize, false, EventClass::In)
    );
    // The IPS is capped to the OAS.
    let narrow = Rig::with_caps(ModelCaps {
        oas_bits: 32,
        ..ModelCaps::default()
    });
    let mut s1 = narrow.s1();
    s1.map(0x4000_0000, 0x1_0000_0000, 0x1000, Prot::RW)
        .unwrap();
    narrow.s1_stream(SID, &s1, 1);
    assert_eq!(
        narrow.read_event(SID, None, 0x4000_0000).id,
        EventId::AddrSize
    );
}

/// The address of the leaf that maps `iova` in `t`.
pub(super) fn leaf_at<F: softiommu_pgtable::Format>(t: &PageTable<F, Mem>, iova: u64) -> u64 {
    t.trace(iova).last().unwrap().entry_pa
}

#[test]
fn f_access_for_a_leaf_with_af_clear() {
    let (rig, s1) = s1_rig();
    let leaf = leaf_at(&s1, 0x4000_1000);
    let pte = rig.mem.load_u64(leaf).unwrap();
    rig.mem.store_u64(leaf, pte & !(1 << 10)).unwrap();
    let e = rig.read_event(SID, None, 0x4000_1000);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::Access, false, EventClass::In)
    );
}

#[test]
fn f_permission_for_a_write_to_a_read_only_page() {
    let (rig, _s1) = s1_rig();
    let e = event(rig.translate(SID, None, 0x4000_0000, Access::WRITE));
    assert_eq!(
        (e.id, e.s2, e.class, e.rnw),
        (EventId::Permission, false, EventClass::In, false)
    );
    assert_eq!(e.encode()[1] & (1 << 35), 0, "RnW=0: a write");
}

#[test]
fn c_bad_substreamid_for_a_substream_id_wider_than_20_bits() {
    let rig = Rig::new();
    let mut s1 = rig.s1();
    s1.map(0x4000_0000, 0x100_0000, 0x1000, Prot::RW).unwrap();
    let table = rig.page();
    rig.set_cd(table + 5 * 64, &cd_for(s1.format(), s1.root(), 1));
    let mut ste = s1_ste(table);
    ste.dw0 = ste.dw0.with_s1cdmax(4);
    rig.set_ste(SID, &ste);
    assert_eq!(
        rig.translate(SID, Some(5), 0x4000_0000, READ).unwrap().pa,
        0x100_0000
    );
    // SubstreamID 5 with bit 20 set is not SubstreamID 5, cached or not.
    let e = rig.read_event(SID, Some(1 << 20 | 5), 0x4000_0000);
    assert_eq!(e.id, EventId::BadSubstreamId);
}

//! Events written to the event queue through the unit, in the specification's format, and
//! the queue's overflow and abort behaviour.

use super::*;
use crate::model::RequestKind;

#[test]
fn f_translation_is_written_in_the_spec_format_with_an_interrupt() {
    let (rig, _s1) = Rig::mapped();
    rig.take_irqs();
    assert_eq!(rig.read_fault(SID, 0x5000_0123), EventId::Translation);
    let irqs = rig.take_irqs();
    assert_eq!(irqs.len(), 1);
    assert_eq!(irqs[0].irq, Irq::EventQueue);
    let w = rig.take_event_words();
    assert_eq!(w.len(), 1);
    let w = w[0];
    // DW0: EventID 7:0, StreamID 63:32; DW1: RnW 35, CLASS 41:40 = IN; DW2: InputAddr.
    assert_eq!(w[0] & 0xff, 0x10);
    assert_eq!(w[0] >> 32, u64::from(SID));
    assert_eq!(w[1] >> 35 & 1, 1);
    assert_eq!(w[1] >> 40 & 3, 0b10);
    assert_eq!(w[2], 0x5000_0123);
}

#[test]
fn overflow_toggles_ovflg_once_and_loses_the_event() {
    let (rig, _s1) = Rig::mapped();
    let cap = 1u32 << EVTQ_LOG2;
    for i in 0..cap + 2 {
        rig.read_fault(SID, 0x5000_0000 + u64::from(i) * 0x1000);
    }
    let prod = QueueProd::from_bits(rig.r32(SMMU_EVENTQ_PROD));
    assert!(prod.ovflg(), "overflow reported");
    let events = rig.take_events();
    assert_eq!(events.len(), cap as usize, "only what fitted");
    assert_eq!(
        events[cap as usize - 1].addr,
        0x5000_0000 + u64::from(cap - 1) * 0x1000
    );
    // Acknowledged, the next event is written and a later overflow toggles OVFLG back.
    let cons = QueueCons::from_bits(rig.r32(SMMU_EVENTQ_CONS)).with_ovackflg(true);
    rig.w32(SMMU_EVENTQ_CONS, cons.into_bits());
    for _ in 0..cap + 1 {
        rig.read_fault(SID, 0x6000_0000);
    }
    assert!(!QueueProd::from_bits(rig.r32(SMMU_EVENTQ_PROD)).ovflg());
    assert_eq!(rig.take_events().len(), cap as usize);
}

#[test]
fn eventq_abt_err_when_the_queue_is_not_in_memory() {
    let (rig, _s1) = Rig::mapped();
    rig.w32(SMMU_CR0, cr0_all().with_eventqen(false).into_bits());
    rig.set_queue_base(SMMU_EVENTQ_BASE, UNBACKED, EVTQ_LOG2);
    rig.w32(SMMU_CR0, cr0_all().into_bits());
    rig.take_irqs();
    assert_eq!(rig.read_fault(SID, 0x5000_0000), EventId::Translation);
    assert!(rig.active_gerrors().eventq_abt_err());
    assert_eq!(rig.take_irqs()[0].irq, Irq::Gerror);
    assert_eq!(QueueProd::from_bits(rig.r32(SMMU_EVENTQ_PROD)).wr(), 0);
}

#[test]
fn nothing_is_written_while_the_event_queue_is_disabled() {
    let (rig, _s1) = Rig::mapped();
    rig.w32(SMMU_CR0, cr0_all().with_eventqen(false).into_bits());
    assert_eq!(rig.read_fault(SID, 0x5000_0000), EventId::Translation);
    assert!(rig.take_events().is_empty());
    assert!(!QueueProd::from_bits(rig.r32(SMMU_EVENTQ_PROD)).ovflg());
}

/// The one record `req` writes to the event queue, checked for its event number and StreamID
/// at their places (DW0 7:0 and 63:32).
fn record_of(rig: &Rig, req: Request, id: EventId) -> [u64; 4] {
    rig.take_event_words();
    let f = rig.unit.translate(req).unwrap_err();
    assert_eq!(f.id(), Some(id));
    let w = rig.take_event_words();
    assert_eq!(w.len(), 1, "{id}: one record");
    assert_eq!(w[0][0] & 0xff, u64::from(id.code()));
    assert_eq!(w[0][0] >> 32, u64::from(req.sid));
    w[0]
}

fn read(sid: u32, ssid: Option<u32>, addr: u64) -> Request {
    Request::new(sid, ssid, addr, Access::READ)
}

/// An ATS request of `kind` from `SID`.
fn ats(kind: RequestKind, access: Access, addr: u64) -> Request {
    Request {
        kind,
        ..Request::new(SID, None, addr, access)
    }
}

/// SSV (DW0 bit 11) and SubstreamID (31:12).
fn ssid_field(w: &[u64; 4]) -> (bool, u64) {
    (w[0] >> 11 & 1 != 0, w[0] >> 12 & 0xf_ffff)
}

#[test]
fn f_uut_record() {
    let (rig, _s1) = Rig::mapped();
    let access = Access {
        write: true,
        exec: true,
        privileged: false,
    };
    let req = Request::new(SID, Some(2), 0x4000_0000, access);
    let w = record_of(&rig, req, EventId::Uut);
    assert_eq!(ssid_field(&w), (true, 2));
    assert_eq!(w[2], 0x4000_0000);
}

#[test]
fn c_bad_streamid_record() {
    let rig = Rig::new();
    let w = record_of(&rig, read(300, Some(1), 0), EventId::BadStreamId);
    assert_eq!(ssid_field(&w), (true, 1));
}

#[test]
fn f_ste_fetch_record() {
    let rig = Rig::new();
    rig.w32(SMMU_CR0, cr0_all().with_smmuen(false).into_bits());
    rig.w64(SMMU_STRTAB_BASE, UNBACKED);
    rig.w32(SMMU_CR0, cr0_all().into_bits());
    let w = record_of(&rig, read(3, None, 0), EventId::SteFetch);
    // FetchAddr in DW3.
    assert_eq!(w[3], UNBACKED + 3 * 64);
}

#[test]
fn c_bad_ste_record() {
    let rig = Rig::new();
    let w = record_of(&rig, read(7, Some(5), 0x1000), EventId::BadSte);
    assert_eq!(ssid_field(&w), (true, 5));
}

#[test]
fn f_bad_ats_treq_record() {
    let (rig, _s1) = Rig::mapped();
    let req = ats(RequestKind::TranslationRequest, Access::WRITE, 0x4000_0000);
    let w = record_of(&rig, req, EventId::BadAtsTreq);
    assert_eq!((w[1] >> 35 & 1, w[2]), (0, 0x4000_0000));
}

#[test]
fn f_stream_disabled_record() {
    let (rig, s1) = Rig::mapped();
    let at = rig.cd_stream(SID + 1, &cd_for(s1.format(), s1.root(), 1));
    let mut ste = s1_ste(at);
    ste.dw0 = ste.dw0.with_s1cdmax(2);
    rig.set_ste(SID + 1, &ste);
    let w = record_of(&rig, read(SID + 1, None, 0), EventId::StreamDisabled);
    assert_eq!(w, [0x06 | u64::from(SID + 1) << 32, 0, 0, 0]);
}

#[test]
fn f_transl_forbidden_record() {
    let (rig, _s1) = Rig::mapped();
    rig.w32(SMMU_CR0, cr0_all().with_atschk(true).into_bits());
    let req = ats(RequestKind::Translated, Access::READ, 0x9000);
    let w = record_of(&rig, req, EventId::TranslForbidden);
    assert_eq!((w[1] >> 35 & 1, w[2]), (1, 0x9000));
}

#[test]
fn c_bad_substreamid_record() {
    let (rig, _s1) = Rig::mapped();
    let w = record_of(&rig, read(SID, Some(0x5_4321), 0), EventId::BadSubstreamId);
    // The SubstreamID without SSV.
    assert_eq!(ssid_field(&w), (false, 0x5_4321));
}

#[test]
fn f_cd_fetch_record() {
    let rig = Rig::new();
    rig.set_ste(SID, &s1_ste(UNBACKED));
    let w = record_of(&rig, read(SID, None, 0), EventId::CdFetch);
    assert_eq!(w[3], UNBACKED);
}

#[test]
fn c_bad_cd_record() {
    let rig = Rig::new();
    let at = rig.page();
    rig.set_ste(SID, &s1_ste(at));
    record_of(&rig, read(SID, None, 0), EventId::BadCd);
}

#[test]
fn f_walk_eabt_record() {
    let rig = Rig::new();
    let s1 = rig.s1();
    rig.cd_stream(SID, &cd_for(s1.format(), UNBACKED, 1));
    let w = record_of(&rig, read(SID, None, 0x4000_0000), EventId::WalkEabt);
    // CLASS = TT (DW1 41:40), InputAddr, FetchAddr.
    assert_eq!(w[1] >> 40 & 3, 0b01);
    assert_eq!((w[2], w[3]), (0x4000_0000, UNBACKED));
}

#[test]
fn f_translation_at_stage_2_record_carries_the_ipa() {
    use softiommu_pgtable::formats::arm::Granule;
    use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
    let rig = Rig::new();
    let cfg = ArmS2Config::auto(Granule::K4, 40, 48).unwrap();
    let s2 = PageTable::new(ArmS2::new(cfg).unwrap(), rig.alloc.clone()).unwrap();
    let ste = crate::ste::Ste::with_config(crate::ste::SteConfig::S2Translate);
    rig.set_ste(
        SID,
        &crate::model::tests::with_s2(ste, s2.format(), s2.root(), 5),
    );
    let w = record_of(&rig, read(SID, None, 0x8000_0123), EventId::Translation);
    // S2 (DW1 bit 39), CLASS = IN, IPA[51:12] in DW3.
    assert_eq!(w[1] >> 39 & 1, 1);
    assert_eq!(w[1] >> 40 & 3, 0b10);
    assert_eq!((w[2], w[3]), (0x8000_0123, 0x8000_0000));
}

#[test]
fn f_addr_size_record() {
    // An output at bit 37 with CD.IPS = 36 bits.
    let (rig, mut s1) = Rig::mapped();
    s1.map(0x6000_0000, 0x20_0000_0000, 0x1000, Prot::READ)
        .unwrap();
    let mut cd = cd_for(s1.format(), s1.root(), 1);
    cd.dw0 = cd.dw0.with_ips(1);
    rig.cd_stream(SID, &cd);
    let w = record_of(&rig, read(SID, None, 0x6000_0010), EventId::AddrSize);
    assert_eq!(w[2], 0x6000_0010);
}

#[test]
fn f_access_record() {
    let (rig, s1) = Rig::mapped();
    let leaf = s1.trace(0x4000_0000).last().unwrap().entry_pa;
    let pte = rig.mem.load_u64(leaf).unwrap();
    rig.mem.store_u64(leaf, pte & !(1 << 10)).unwrap();
    let w = record_of(&rig, read(SID, None, 0x4000_0000), EventId::Access);
    assert_eq!(w[2], 0x4000_0000);
}

#[test]
fn f_permission_record() {
    let rig = Rig::new();
    let mut s1 = rig.s1();
    s1.map(0x4000_0000, 0x10_0000, 0x1000, Prot::READ).unwrap();
    rig.s1_stream(SID, &s1, 1);
    let req = Request::new(SID, None, 0x4000_0008, Access::WRITE.privileged());
    let w = record_of(&rig, req, EventId::Permission);
    // RnW = 0 (a write), PnU = 1 (DW1 bit 33), CLASS = IN.
    assert_eq!(
        (w[1] >> 35 & 1, w[1] >> 33 & 1, w[1] >> 40 & 3),
        (0, 1, 0b10)
    );
}

#[test]
fn the_event_interrupt_is_an_msi_write_when_configured() {
    let (rig, _s1) = Rig::mapped();
    let doorbell = rig.page() + 0x10;
    rig.w32(SMMU_IRQ_CTRL, 0);
    rig.w64(SMMU_EVENTQ_IRQ_CFG0, doorbell);
    rig.w32(SMMU_EVENTQ_IRQ_CFG1, 0xabcd_0123);
    rig.w32(
        SMMU_IRQ_CTRL,
        IrqCtrl::new().with_eventq_irqen(true).into_bits(),
    );
    rig.take_irqs();
    rig.read_fault(SID, 0x5000_0000);
    let mut b = [0u8; 4];
    rig.mem.read(doorbell, &mut b).unwrap();
    assert_eq!(u32::from_le_bytes(b), 0xabcd_0123);
    let irqs = rig.take_irqs();
    assert_eq!(irqs.len(), 1);
    assert_eq!(irqs[0].msi.map(|m| m.addr), Some(doorbell));
    // The queue was not empty for the second event: no interrupt.
    rig.read_fault(SID, 0x5000_1000);
    assert!(rig.take_irqs().is_empty());
}

#[test]
fn a_stall_whose_event_is_lost_is_terminated_at_once() {
    let (rig, _s1) = Rig::stalling();
    let cap = 1u32 << EVTQ_LOG2;
    for i in 0..cap {
        let f = rig
            .read(SID, 0x5000_0000 + u64::from(i) * 0x1000)
            .unwrap_err();
        assert!(f.stalled().is_some());
    }
    // The queue is full: the next stall cannot be recorded, so it is not held.
    let f = rig.read(SID, 0x6000_0000).unwrap_err();
    assert_eq!((f.id(), f.stalled()), (Some(EventId::Translation), None));
    assert!(f.abort);
}

#[test]
fn an_injected_event_is_written_as_the_unit_s_own_with_the_same_queue_rules() {
    let rig = Rig::new();
    rig.take_irqs();
    let mut e = Event::new(EventId::Translation, 0x42);
    e.ssid = Some(3);
    e.addr = 0x7000_1000;
    e.rnw = true;
    assert!(rig.unit.inject_event(&e));
    assert_eq!(
        rig.take_irqs().len(),
        1,
        "the queue was empty: an interrupt"
    );
    let w = rig.take_event_words();
    // DW0: F_TRANSLATION, SSV and SubstreamID 31:12, StreamID 63:32; DW2: InputAddr.
    assert_eq!(w, vec![e.encode()]);
    assert_eq!(w[0][0], 0x10 | 1 << 11 | 3 << 12 | 0x42 << 32);
    assert_eq!(w[0][2], 0x7000_1000);
    // A full queue loses the injected event and reports the overflow.
    let cap = 1u32 << EVTQ_LOG2;
    for _ in 0..cap {
        assert!(rig.unit.inject_event(&e));
    }
    assert!(!rig.unit.inject_event(&e));
    assert!(QueueProd::from_bits(rig.r32(SMMU_EVENTQ_PROD)).ovflg());
    assert_eq!(rig.take_events().len(), cap as usize);
    // Disabled, nothing is written.
    rig.w32(SMMU_CR0, cr0_all().with_eventqen(false).into_bits());
    assert!(!rig.unit.inject_event(&e));
    assert!(rig.take_event_words().is_empty());
}

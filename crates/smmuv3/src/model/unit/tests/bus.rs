//! The SMMU on the bus: DMA, ATS translation requests, page requests and MSIs from a
//! function, and the ATC invalidations, PRI responses and resumed stalls it receives.

use proptest::prelude::*;
use softiommu_devices::bus::{
    AtcInvalidation as BusInvalidation, AtcInvalidationStatus, AtsFailure, AtsRequest,
    AtsTranslation, DmaFault, DmaRequest, Endpoint, MsiMessage, PageRequest as BusPageRequest,
    PageResponse, PageResponseCode, PasidPrefix, Rights, StallOutcome, Upstream,
};

use softiommu_devices::testing::{bus_op, issue};

use super::*;
use crate::cmd::{AtcInv, Cerror, PriResp, Resume};
use crate::pri::{PageRequest, PriResponse};
use crate::ste::Eats;

/// The requester ID of the function at [`SID`].
const RID: u16 = SID as u16;

/// A function that records what the SMMU sends it and answers invalidations with `answer`.
struct Recorder {
    answer: AtcInvalidationStatus,
    invalidations: Mutex<Vec<BusInvalidation>>,
    responses: Mutex<Vec<PageResponse>>,
    resumed: Mutex<Vec<(u16, u16, StallOutcome)>>,
}

impl Recorder {
    fn attach(rig: &Rig, answer: AtcInvalidationStatus) -> Arc<Recorder> {
        let r = Arc::new(Recorder {
            answer,
            invalidations: Mutex::default(),
            responses: Mutex::default(),
            resumed: Mutex::default(),
        });
        rig.unit.attach(RID, r.clone());
        r
    }
}

impl Endpoint for Recorder {
    fn invalidate_atc(&self, inv: &BusInvalidation) -> AtcInvalidationStatus {
        self.invalidations.lock().push(*inv);
        self.answer
    }

    fn page_response(&self, resp: &PageResponse) {
        self.responses.lock().push(*resp);
    }

    fn resume(&self, rid: u16, tag: u16, outcome: StallOutcome) {
        self.resumed.lock().push((rid, tag, outcome));
    }
}

/// As [`Rig::mapped`], with full ATS allowed on the stream (STE.EATS = 01).
fn ats_stream() -> (Rig, PageTable<ArmS1, Mem>) {
    let rig = Rig::new();
    let mut s1 = rig.s1();
    s1.map(0x4000_0000, 0x10_0000, 0x1000, Prot::RW).unwrap();
    s1.map(0x4000_1000, 0x11_0000, 0x1000, Prot::READ).unwrap();
    let cd = rig.page();
    cd_for(s1.format(), s1.root(), 1)
        .write(&*rig.mem, cd)
        .unwrap();
    let mut ste = s1_ste(cd);
    ste.dw1 = ste.dw1.with_eats(Eats::Full);
    rig.set_ste(SID, &ste);
    (rig, s1)
}

fn treq(addr: u64, no_write: bool) -> AtsRequest {
    AtsRequest {
        rid: RID,
        pasid: None,
        addr,
        no_write,
    }
}

#[test]
fn dma_through_the_bus_follows_the_stream_and_records_its_faults() {
    let (rig, _s1) = Rig::mapped();
    rig.unit
        .dma_write(&DmaRequest::write(RID, 0x4000_0010, 0), &[5u8; 32])
        .unwrap();
    let mut back = [0u8; 32];
    rig.mem.read(0x10_0010, &mut back).unwrap();
    assert_eq!(back, [5u8; 32]);
    let err = rig
        .unit
        .dma_write(&DmaRequest::write(RID, 0x4000_0ff0, 0), &[6u8; 32])
        .unwrap_err();
    assert_eq!((err.addr, err.done), (0x4000_1000, 16));
    assert_eq!(err.fault, DmaFault::UnsupportedRequest);
    let events = rig.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, EventId::Translation);
    // An MSI is a translated 32-bit write.
    rig.unit
        .msi(
            RID,
            MsiMessage {
                addr: 0x4000_0100,
                data: 0xfeed,
            },
        )
        .unwrap();
    assert_eq!(rig.mem.load_u64(0x10_0100).unwrap() as u32, 0xfeed);
}

#[test]
fn ats_translation_requests_answer_from_the_tables() {
    let (rig, _s1) = ats_stream();
    assert_eq!(
        rig.unit.ats_translate(&treq(0x4000_0123, false)),
        Ok(AtsTranslation {
            untranslated: 0x4000_0000,
            translated: 0x10_0000,
            size_log2: 12,
            rights: Rights::READ_WRITE,
            global: false,
            untranslated_only: false,
        })
    );
    let nw = rig.unit.ats_translate(&treq(0x4000_0000, true)).unwrap();
    assert_eq!((nw.rights.read, nw.rights.write), (true, false));
    let ro = rig.unit.ats_translate(&treq(0x4000_1000, false)).unwrap();
    assert_eq!(
        (ro.translated, ro.rights.read, ro.rights.write),
        (0x11_0000, true, false)
    );
    // An unmapped page: R=W=0, and no event (ATS translation faults are not recorded).
    assert_eq!(
        rig.unit.ats_translate(&treq(0x5000_0000, false)),
        Ok(AtsTranslation::no_access(0x5000_0000))
    );
    assert!(rig.take_events().is_empty());
    // The translated request then bypasses (CR0.ATSCHK = 0).
    let t = Upstream::translate(&rig.unit, &DmaRequest::read(RID, 0x11_0000, 8).translated());
    assert_eq!(t.map(|t| t.addr), Ok(0x11_0000));
}

#[test]
fn ats_translation_request_without_eats_is_unsupported_with_f_bad_ats_treq() {
    let (rig, _s1) = Rig::mapped();
    assert_eq!(
        rig.unit.ats_translate(&treq(0x4000_0000, false)),
        Err(AtsFailure::UnsupportedRequest)
    );
    let events = rig.take_events();
    assert_eq!(
        events.iter().map(|e| e.id).collect::<Vec<_>>(),
        [EventId::BadAtsTreq]
    );
}

#[test]
fn atc_invalidations_reach_the_endpoint_and_a_timeout_fails_the_sync() {
    let rig = Rig::new();
    let ep = Recorder::attach(&rig, AtcInvalidationStatus::Completed);
    let c = AtcInv::new();
    let inv = Command::AtcInv(AtcInv {
        dw0: c.dw0.with_sid(SID).with_ssv(true).with_ssid(9),
        dw1: c.dw1.with_size(2).with_addr(0x1234_5000 >> 12),
    });
    rig.submit(&[inv, Command::CmdSync(CmdSync::new())]);
    assert!(rig.cmdq_drained());
    assert_eq!(
        ep.invalidations.lock().as_slice(),
        &[BusInvalidation {
            rid: RID,
            pasid: Some(9),
            global: false,
            addr: 0x1234_4000,
            size_log2: 14,
        }]
    );
    let rig = Rig::new();
    Recorder::attach(&rig, AtcInvalidationStatus::TimedOut);
    rig.submit(&[inv, Command::CmdSync(CmdSync::new())]);
    assert_eq!(rig.cmdq_cons().err(), Cerror::AtcInvSync.code());
}

#[test]
fn page_requests_from_the_bus_are_queued_and_answered_to_the_endpoint() {
    let rig = Rig::new();
    let ep = Recorder::attach(&rig, AtcInvalidationStatus::Completed);
    Upstream::page_request(
        &rig.unit,
        &BusPageRequest {
            rid: RID,
            pasid: Some(PasidPrefix::new(4).privileged()),
            addr: 0x7000_1234,
            read: true,
            write: false,
            prgi: 0x1a3,
            last: true,
        },
    );
    let regs = (SMMU_PRIQ_PROD, SMMU_PRIQ_CONS);
    let queued: Vec<[u64; 2]> = rig.take_entries(regs, rig.priq, PRIQ_LOG2);
    assert_eq!(queued.len(), 1);
    let q = PageRequest::decode(queued[0]);
    assert_eq!(
        (q.dw0.sid(), q.pasid(), q.dw1.prgi()),
        (SID, Some(4), 0x1a3)
    );
    assert!(q.dw0.privileged() && q.dw0.read() && !q.dw0.write() && q.dw0.last());
    assert_eq!(q.address(), 0x7000_1000);
    let c = PriResp::new();
    rig.submit(&[Command::PriResp(PriResp {
        dw0: c.dw0.with_sid(SID).with_ssv(true).with_ssid(4),
        dw1: c
            .dw1
            .with_prgi(0x1a3)
            .with_resp(PriResponse::InvalidRequest),
    })]);
    assert_eq!(
        ep.responses.lock().as_slice(),
        &[PageResponse {
            rid: RID,
            pasid: Some(4),
            prgi: 0x1a3,
            code: PageResponseCode::InvalidRequest,
        }]
    );
}

#[test]
fn a_stalled_request_is_reported_and_resumed_through_the_endpoint() {
    let (rig, _s1) = Rig::stalling();
    let ep = Recorder::attach(&rig, AtcInvalidationStatus::Completed);
    let mut buf = [0u8; 8];
    let err = rig
        .unit
        .dma_read(&DmaRequest::read(RID, 0x5000_0000, 0), &mut buf)
        .unwrap_err();
    let DmaFault::Stalled { tag } = err.fault else {
        panic!("not stalled: {err:?}");
    };
    let r = Resume::new();
    rig.submit(&[Command::Resume(Resume {
        dw0: r.dw0.with_sid(SID).with_ac(true),
        dw1: r.dw1.with_stag(tag),
    })]);
    assert_eq!(
        ep.resumed.lock().as_slice(),
        &[(RID, tag, StallOutcome::Retry)]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_bus_requests_never_panic(ops in proptest::collection::vec(bus_op(RID), 1..24)) {
        let (rig, _s1) = ats_stream();
        for op in &ops {
            issue(&rig.unit, op);
        }
        // Nothing wrote the read-only page.
        prop_assert_eq!(rig.mem.load_u64(0x11_0000).unwrap(), 0);
    }
}

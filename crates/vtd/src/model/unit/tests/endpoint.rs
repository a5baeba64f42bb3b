//! The unit's messages to a function attached on the bus: device-TLB invalidations that the
//! invalidation wait after them waits for, time-outs, page requests in and page group
//! responses out.

use softiommu_devices::bus::{
    AtcInvalidation, AtcInvalidationStatus, DmaRequest, Endpoint, PageRequest as BusPageRequest,
    PageResponse, PageResponseCode, PasidPrefix, Upstream,
};

use super::*;
use crate::desc::{PDevTlbInv, PDevTlbInvQw0, PDevTlbInvQw1};

/// Where the wait descriptors in these tests write their status.
const STATUS: u64 = 0x1000;

/// A function that records what the unit sends it and answers invalidations with `answer`;
/// while it handles one, it notes whether the wait after it had written its status yet.
struct Recorder {
    mem: Arc<RamArena>,
    answer: AtcInvalidationStatus,
    invalidations: Mutex<Vec<(AtcInvalidation, u32)>>,
    responses: Mutex<Vec<PageResponse>>,
}

impl Recorder {
    fn attach(rig: &Rig, answer: AtcInvalidationStatus) -> Arc<Recorder> {
        let r = Arc::new(Recorder {
            mem: rig.mem.clone(),
            answer,
            invalidations: Mutex::default(),
            responses: Mutex::default(),
        });
        rig.unit.attach(SID, r.clone());
        r
    }
}

impl Endpoint for Recorder {
    fn invalidate_atc(&self, inv: &AtcInvalidation) -> AtcInvalidationStatus {
        let mut b = [0u8; 4];
        self.mem.read(STATUS, &mut b).unwrap();
        self.invalidations
            .lock()
            .push((*inv, u32::from_le_bytes(b)));
        self.answer
    }

    fn page_response(&self, resp: &PageResponse) {
        self.responses.lock().push(*resp);
    }
}

fn p_dev_tlb(pasid: u32, gi: bool, s: bool, page: u64) -> [u64; 4] {
    PDevTlbInv {
        qw0: PDevTlbInvQw0::new().with_sid(SID).with_pasid(pasid),
        qw1: PDevTlbInvQw1::new().with_gi(gi).with_s(s).with_addr(page),
    }
    .to_words()
}

fn dev_tlb(s: bool, page: u64) -> [u64; 4] {
    crate::desc::DevTlbInv {
        qw0: crate::desc::DevTlbInvQw0::new().with_sid(SID),
        qw1: crate::desc::DevTlbInvQw1::new().with_s(s).with_addr(page),
    }
    .to_words()
}

#[test]
fn device_tlb_invalidations_complete_before_the_wait_after_them() {
    let rig = Rig::new(VtdParams::default());
    let ep = Recorder::attach(&rig, AtcInvalidationStatus::Completed);
    // Page 0x1001 with S=1: bit 12 of the address set, bit 13 clear, so 16 KiB at 0x100_0000.
    rig.submit(&[
        p_dev_tlb(3, false, false, 0x42),
        p_dev_tlb(3, true, true, 0x1001),
        dev_tlb(true, 0x7_ffff_ffff_ffff),
        wait(STATUS, 0x600d, false),
    ]);
    assert!(!rig.iqe());
    let inv = |pasid, global, addr, size_log2| AtcInvalidation {
        rid: SID,
        pasid,
        global,
        addr,
        size_log2,
    };
    assert_eq!(
        ep.invalidations.lock().as_slice(),
        &[
            (inv(Some(3), false, 0x42_000, 12), 0),
            (inv(Some(3), true, 0x100_0000, 14), 0),
            (inv(None, false, 0, 64), 0),
        ],
        "each delivered before the wait wrote its status"
    );
    assert_eq!(rig.read_u32(STATUS), 0x600d);
    // The device sink still hears of them (GI=1 as every PASID).
    assert!(rig.dev.lock().contains(&DeviceMessage::InvalidateAtc {
        sid: SID,
        pasid: None,
        addr: 0x100_0000,
        pages: 4,
    }));
}

#[test]
fn a_timed_out_device_tlb_invalidation_sets_ite_and_stops_the_queue() {
    let rig = Rig::new(VtdParams::default());
    let ep = Recorder::attach(&rig, AtcInvalidationStatus::TimedOut);
    rig.submit(&[dev_tlb(false, 0x5), wait(STATUS, 0x600d, false)]);
    assert_eq!(ep.invalidations.lock().len(), 1);
    let fsts = rig.unit.mmio_read(FSTS_REG, 4);
    assert_ne!(fsts & 1 << 6, 0, "FSTS.ITE");
    assert_eq!(
        rig.unit.mmio_read(IQERCD_REG, 8) >> 32 & 0xffff,
        u64::from(SID)
    );
    assert_eq!(rig.iqh(), 32, "IQH past the invalidation that timed out");
    assert_eq!(
        rig.read_u32(STATUS),
        0,
        "the wait after it did not complete"
    );
}

#[test]
fn page_requests_from_the_bus_are_queued_and_answered_to_the_endpoint() {
    let rig = Rig::new(VtdParams::default());
    let ep = Recorder::attach(&rig, AtcInvalidationStatus::Completed);
    Upstream::page_request(
        &rig.unit,
        &BusPageRequest {
            rid: SID,
            pasid: Some(PasidPrefix::new(3).privileged()),
            addr: 0x7000_1234,
            read: false,
            write: true,
            prgi: 9,
            last: true,
        },
    );
    assert_eq!(rig.unit.mmio_read(PQT_REG, 8), 32);
    let mut w = [0u64; 4];
    for (k, x) in w.iter_mut().enumerate() {
        *x = rig.mem.load_u64(rig.pq + 8 * k as u64).unwrap();
    }
    let queued = PageRequest::decode(w).unwrap();
    assert_eq!(
        (queued.qw0.rid(), queued.qw0.pp(), queued.qw0.pasid()),
        (SID, true, 3)
    );
    assert!(queued.qw0.pmr() && queued.qw1.wrr() && !queued.qw1.rdr());
    assert_eq!((queued.qw1.prgi(), queued.qw1.lpig()), (9, true));
    assert_eq!(queued.address(), 0x7000_1000);
    let resp = PageGroupResp::for_request(&queued, ResponseCode::Success);
    rig.submit(&[Descriptor::PageGroupResponse(resp).encode()]);
    assert_eq!(
        ep.responses.lock().as_slice(),
        &[PageResponse {
            rid: SID,
            pasid: Some(3),
            prgi: 9,
            code: PageResponseCode::Success,
        }]
    );
    // A malformed request (PRGI beyond 9 bits) is dropped.
    Upstream::page_request(
        &rig.unit,
        &BusPageRequest {
            rid: SID,
            pasid: None,
            addr: 0,
            read: true,
            write: false,
            prgi: 0x200,
            last: true,
        },
    );
    assert_eq!(rig.unit.mmio_read(PQT_REG, 8), 32);
    rig.unit.detach(SID);
    rig.submit(&[Descriptor::PageGroupResponse(resp).encode()]);
    assert_eq!(ep.responses.lock().len(), 1, "nothing after detach");
}

/// A function whose ATC invalidation waits for requests it has in flight on another thread.
struct WaitsForInFlight {
    start: Mutex<std::sync::mpsc::Sender<()>>,
    done: Mutex<std::sync::mpsc::Receiver<bool>>,
    served: Mutex<Vec<bool>>,
}

impl Endpoint for WaitsForInFlight {
    fn invalidate_atc(&self, _inv: &AtcInvalidation) -> AtcInvalidationStatus {
        let _ = self.start.lock().send(());
        let ok = self
            .done
            .lock()
            .recv_timeout(std::time::Duration::from_secs(5))
            .unwrap_or(false);
        self.served.lock().push(ok);
        AtcInvalidationStatus::Completed
    }

    fn page_response(&self, _resp: &PageResponse) {}
}

#[test]
fn requests_in_flight_are_served_while_an_invalidation_waits_for_them() {
    let rig = Rig::new(VtdParams::default());
    let mut ss = rig.ss_table();
    ss.map(0x1000_0000, 0x20_0000, 0x1000, Prot::RW).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 7));
    rig.gcmd(TE, true);
    let (start_tx, start_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let ep = Arc::new(WaitsForInFlight {
        start: Mutex::new(start_tx),
        done: Mutex::new(done_rx),
        served: Mutex::default(),
    });
    rig.unit.attach(SID, ep.clone());
    std::thread::scope(|s| {
        let unit = &rig.unit;
        s.spawn(move || {
            // One invalidation is asked for; a closed channel ends the thread too.
            if start_rx.recv().is_ok() {
                let translated = DmaRequest::write(SID, 0x20_0000, 8).translated();
                let untranslated = DmaRequest::read(SID, 0x1000_0000, 8);
                let ok = Upstream::translate(unit, &translated).is_ok()
                    && Upstream::translate(unit, &untranslated).map(|t| t.addr) == Ok(0x20_0000);
                let _ = done_tx.send(ok);
            }
        });
        rig.submit(&[dev_tlb(false, 0x200), wait(STATUS, 1, false)]);
    });
    assert_eq!(ep.served.lock().as_slice(), &[true]);
    assert_eq!(rig.read_u32(STATUS), 1);
}

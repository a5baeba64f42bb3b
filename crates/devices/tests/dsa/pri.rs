//! PRI: block on fault sends a page request, waits for the response, and retries on Success;
//! any other answer, no answer, or block on fault off ends in a page-fault completion record.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use softiommu_devices::bus::{PRGI_MAX, PageResponse, PageResponseCode};
use softiommu_devices::dsa::{Descriptor, DsaConfig, Status};

use crate::ats::rig;
use crate::harness::{RID, Rig, WqSetup};
use crate::iommu::{Iommu, Prs};

const SRC: u64 = 0x1000_0000;
const CR: u64 = 0x3000_0000;
const SRC_PA: u64 = 0x1_0000;
const CR_PA: u64 = 0x3_0000;
/// An unmapped destination: a page request maps it to the same physical address.
const HOLE: u64 = 0x5_0000;

fn bof_wq() -> WqSetup {
    WqSetup {
        bof: true,
        pasid: Some(4),
        ..WqSetup::dedicated()
    }
}

fn bof_move(len: u32) -> Descriptor {
    let mut d = Descriptor::memmove(SRC, HOLE, len).with_completion(CR);
    d.set_flags(d.flags().with_block_on_fault(true));
    d
}

/// An engine with PRI enabled (allocation `alloc`) answering page requests with `prs`;
/// `ats` turns ATS on.
fn pri_rig(prs: Prs, ats: bool, alloc: u32) -> (Rig, std::sync::Arc<Iommu>) {
    let (rig, iommu) = rig(DsaConfig::default(), prs, Some(4));
    rig.port.set_ats(ats, 0);
    rig.port.set_pri(true, alloc, false);
    // Long enough for a late answer on a loaded machine; the unanswered tests shorten it.
    rig.port.set_page_response_timeout(Duration::from_secs(5));
    rig.bring_up(&[bof_wq()]);
    (rig, iommu)
}

#[test]
fn a_fault_answered_with_success_is_retried() {
    for (prs, ats) in [
        (Prs::MapNow, true),
        (Prs::MapNow, false),
        (Prs::MapLater, true),
        (Prs::MapLater, false),
    ] {
        let (rig, iommu) = pri_rig(prs, ats, 4);
        let data = rig.pattern(SRC_PA, 0x1800, 7);
        rig.movdir(0, &bof_move(0x1800));
        let r = rig.cr(CR_PA);
        assert_eq!(r.status, Status::Success as u8, "{prs:?} ats {ats}");
        assert_eq!(rig.bytes(HOLE, 0x1800), data);
        let reqs = iommu.page_requests.lock().clone();
        assert_eq!(reqs.len(), 2, "one request per destination page");
        for (i, q) in reqs.iter().enumerate() {
            assert_eq!(q.rid, RID);
            assert_eq!(q.pasid.map(|p| p.pasid), Some(4));
            assert_eq!(q.addr, HOLE + 0x1000 * i as u64);
            assert!(q.write && q.last && q.prgi <= PRGI_MAX);
        }
    }
}

#[test]
fn an_invalid_or_failure_response_ends_with_a_page_fault() {
    for prs in [Prs::Invalid, Prs::Failure] {
        let (rig, iommu) = pri_rig(prs, true, 4);
        rig.pattern(SRC_PA, 64, 7);
        rig.movdir(0, &bof_move(64));
        let r = rig.cr(CR_PA);
        assert_eq!(r.status, Status::PageFaultIr as u8, "{prs:?}");
        assert_eq!(
            (r.bytes_completed, r.fault_addr, r.fault_info & 1),
            (0, HOLE, 1)
        );
        assert_eq!(iommu.page_requests.lock().len(), 1);
        assert_eq!(rig.bytes(HOLE, 64), vec![0; 64], "nothing written");
    }
    // After a Response Failure the function sends no more page requests.
    let (rig, iommu) = pri_rig(Prs::Failure, true, 4);
    rig.movdir(0, &bof_move(64));
    rig.movdir(0, &bof_move(64));
    assert_eq!(iommu.page_requests.lock().len(), 1);
    assert_eq!(rig.port.take_pri_events(), (true, false));
}

#[test]
fn an_unanswered_request_times_out_into_a_page_fault() {
    let (rig, iommu) = pri_rig(Prs::Never, true, 1);
    rig.port
        .set_page_response_timeout(Duration::from_millis(20));
    rig.movdir(0, &bof_move(64));
    let r = rig.cr(CR_PA);
    assert_eq!((r.status, r.fault_addr), (Status::PageFaultIr as u8, HOLE));
    // The only group index stays outstanding: the next fault cannot send a request.
    rig.movdir(0, &bof_move(64));
    assert_eq!(rig.cr(CR_PA).status, Status::PageFaultIr as u8);
    assert_eq!(iommu.page_requests.lock().len(), 1);
    // Its late response frees it (and is not taken as unexpected).
    let q = iommu.page_requests.lock()[0];
    iommu.map(Some(4), HOLE, HOLE, 1);
    iommu.endpoint().page_response(&PageResponse {
        rid: RID,
        pasid: Some(4),
        prgi: q.prgi,
        code: PageResponseCode::Success,
    });
    assert_eq!(rig.port.take_pri_events(), (false, false));
    *iommu.prs.lock() = Prs::MapNow;
    rig.movdir(0, &bof_move(64));
    assert_eq!(rig.cr(CR_PA).status, Status::Success as u8);
}

#[test]
fn without_block_on_fault_or_pri_no_page_request_is_sent() {
    let (rig, iommu) = pri_rig(Prs::MapNow, true, 4);
    rig.movdir(0, &Descriptor::memmove(SRC, HOLE, 64).with_completion(CR));
    let r = rig.cr(CR_PA);
    assert_eq!(
        (r.status, r.fault_addr),
        (Status::PageFaultNoBof as u8, HOLE)
    );
    assert!(iommu.page_requests.lock().is_empty());
    rig.port.set_pri(false, 4, false);
    rig.movdir(0, &bof_move(64));
    assert_eq!(rig.cr(CR_PA).status, Status::PageFaultIr as u8);
    assert!(iommu.page_requests.lock().is_empty());
    assert_eq!(iommu.stale.load(SeqCst), 0);
}

#[test]
fn a_response_matching_no_request_is_unexpected() {
    let (rig, iommu) = pri_rig(Prs::Never, true, 4);
    rig.port
        .set_page_response_timeout(Duration::from_millis(20));
    iommu.endpoint().page_response(&PageResponse {
        rid: RID,
        pasid: None,
        prgi: 7,
        code: PageResponseCode::Success,
    });
    assert_eq!(rig.port.take_pri_events(), (false, true));
}

//! Page requests: the checks against the requester's context entry (PRE) and structures,
//! the faults and answers when they fail, and the IOTLB invalidation made before a request
//! is queued (spec Table 27).

use softiommu_mem::AddressSpace;
use softiommu_pgtable::{Access, Prot};
use softiommu_vtd::desc::{PageRequest, ResponseCode};
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::model::DeviceMessage;
use softiommu_vtd::regs::{PQT_REG, PRS_REG, VtdParams};
use softiommu_vtd::structs::ContextEntry;

use crate::rig::{
    Expected, FS_TABLES, Rig, SID, context, dma, fs_entry, nested_entry, page_request, ss_entry,
};

/// The only message to devices is an Invalid Request answer to `req`, and nothing was queued.
fn answered_invalid(rig: &Rig, req: &PageRequest) {
    assert_eq!(
        rig.dev.lock().as_slice(),
        &[DeviceMessage::PageResponse {
            sid: req.qw0.rid(),
            pasid: req.qw0.pp().then_some(req.qw0.pasid()),
            prgi: req.qw1.prgi(),
            code: ResponseCode::InvalidRequest,
        }]
    );
    assert_eq!(rig.unit.mmio_read(PQT_REG, 8), 0, "nothing queued");
    assert_eq!(rig.unit.mmio_read(PRS_REG, 4), 0, "PRS.PPR clear");
}

/// `req` was written at the head of the queue and nobody was answered.
fn queued(rig: &Rig, req: &PageRequest) {
    assert_eq!(rig.unit.mmio_read(PQT_REG, 8), 32);
    assert_eq!(rig.unit.mmio_read(PRS_REG, 4) & 1, 1, "PRS.PPR");
    let mut w = [0u64; 4];
    for (k, x) in w.iter_mut().enumerate() {
        *x = rig.mem.load_u64(rig.pq + 8 * k as u64).unwrap();
    }
    assert_eq!(PageRequest::decode(w), Ok(*req));
    assert!(rig.dev.lock().is_empty());
    rig.expect_nothing_recorded();
}

/// The context entry of [`SID`] with PRE=0 (and FPD as given).
fn without_pre(rig: &Rig, fpd: bool) {
    let mut e = context(rig.dir);
    e.qw0 = e.qw0.with_pre(false).with_fpd(fpd);
    rig.set_context(SID, e);
}

/// `req` is refused: recorded with `reason` (nothing recorded for `None`), answered with
/// Invalid Request, not queued.
fn refused(rig: &Rig, req: PageRequest, reason: Option<FaultReason>) {
    rig.unit.page_request(req);
    match reason {
        Some(r) => rig.expect_recorded(Expected::page_request(&req, r)),
        None => rig.expect_nothing_recorded(),
    }
    answered_invalid(rig, &req);
}

#[test]
fn sct_8_page_request_while_pre_is_0() {
    let rig = Rig::new(VtdParams::default());
    without_pre(&rig, false);
    refused(
        &rig,
        page_request(SID, Some(5), 0x7000),
        Some(FaultReason::Sct8),
    );
}

#[test]
fn a_page_request_while_pre_is_0_and_fpd_is_1_is_answered_but_not_recorded() {
    let rig = Rig::new(VtdParams::default());
    without_pre(&rig, true);
    refused(&rig, page_request(SID, None, 0x7000), None);
}

#[test]
fn a_page_request_from_a_device_without_a_context_entry_faults() {
    let rig = Rig::new(VtdParams::default());
    rig.set_context(SID, ContextEntry::default());
    refused(
        &rig,
        page_request(SID, None, 0x7000),
        Some(FaultReason::Sct2),
    );
}

#[test]
fn a_page_request_for_a_pasid_without_an_entry_faults() {
    let rig = Rig::new(VtdParams::default());
    refused(
        &rig,
        page_request(SID, Some(9), 0x7000),
        Some(FaultReason::Spt2),
    );
}

#[test]
fn rta_3_page_request_in_legacy_mode() {
    let rig = Rig::new(VtdParams::default());
    rig.latch_root(rig.root);
    refused(
        &rig,
        page_request(SID, Some(5), 0x7000),
        Some(FaultReason::Rta3),
    );
}

/// Pages 0x1000 and 0x2000 are translated (and cached) through `pasid`, then unmapped from
/// the tables without an invalidation: both still translate from the IOTLB.
fn cached_then_unmapped(rig: &Rig, pasid: Option<u32>, unmap: impl FnOnce()) {
    for page in [0x1000, 0x2000] {
        assert!(rig.translate(dma(SID, pasid, page, Access::READ)).is_ok());
    }
    unmap();
    for page in [0x1000, 0x2000] {
        assert!(
            rig.translate(dma(SID, pasid, page, Access::READ)).is_ok(),
            "stale until invalidated"
        );
    }
}

/// Whether `page` of `pasid` still translates (from the IOTLB: the tables no longer have
/// it).
fn still_cached(rig: &Rig, pasid: Option<u32>, page: u64) -> bool {
    rig.translate(dma(SID, pasid, page, Access::READ)).is_ok()
}

#[test]
fn a_second_stage_page_request_invalidates_its_page_before_it_is_queued() {
    let rig = Rig::new(VtdParams::default());
    let mut ss = rig.ss_table(false);
    ss.map(0x1000, 0x20_0000, 0x2000, Prot::RW).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 3));
    cached_then_unmapped(&rig, None, || {
        ss.unmap(0x1000, 0x2000).unwrap();
    });
    let req = page_request(SID, None, 0x1000);
    rig.unit.page_request(req);
    queued(&rig, &req);
    // IOTLB page-selective for domain 3 and page 0x1000 only.
    assert_eq!(
        rig.translate(dma(SID, None, 0x1000, Access::READ))
            .unwrap_err()
            .reason,
        FaultReason::Sss2
    );
    assert!(still_cached(&rig, None, 0x2000));
    assert_eq!(rig.unit.stats().implicit_invalidations, 1);
}

#[test]
fn a_first_stage_page_request_invalidates_its_pasid_and_page() {
    let rig = Rig::new(VtdParams::default());
    let mut fs = rig.fs_table();
    fs.map(0x1000, 0x20_0000, 0x2000, Prot::RW).unwrap();
    rig.set_pasid(5, fs_entry(fs.root(), 3));
    rig.set_pasid(6, fs_entry(fs.root(), 3));
    for page in [0x1000, 0x2000] {
        assert!(still_cached(&rig, Some(6), page));
    }
    cached_then_unmapped(&rig, Some(5), || {
        fs.unmap(0x1000, 0x2000).unwrap();
    });
    let req = page_request(SID, Some(5), 0x1000);
    rig.unit.page_request(req);
    queued(&rig, &req);
    // p_iotlb page-selective: domain 3, PASID 5, page 0x1000.
    assert!(!still_cached(&rig, Some(5), 0x1000));
    assert!(still_cached(&rig, Some(5), 0x2000));
    assert!(
        still_cached(&rig, Some(6), 0x1000),
        "another PASID keeps it"
    );
}

#[test]
fn a_nested_page_request_invalidates_its_whole_domain() {
    let rig = Rig::new(VtdParams::default());
    let mut fs = rig.guest_fs_table();
    fs.map(0x1000, 0x20_0000, 0x2000, Prot::RW).unwrap();
    let mut ss = rig.ss_table(false);
    ss.map(0x20_0000, 0x30_0000, 0x2000, Prot::RW).unwrap();
    ss.map(FS_TABLES, FS_TABLES, 0x4000, Prot::RW).unwrap();
    rig.set_pasid(5, nested_entry(fs.root(), ss.root(), 3));
    cached_then_unmapped(&rig, Some(5), || {
        fs.unmap(0x1000, 0x2000).unwrap();
    });
    let req = page_request(SID, Some(5), 0x1000);
    rig.unit.page_request(req);
    queued(&rig, &req);
    // IOTLB domain-selective: domain 3.
    assert!(!still_cached(&rig, Some(5), 0x1000));
    assert!(!still_cached(&rig, Some(5), 0x2000));
}

//! ATS through the bus: translation requests answered from the context and PASID entries
//! and the page tables (with the device-TLB rules and the answers each failure gives), and
//! translated requests allowed only where the context entry allows them.

use softiommu_devices::bus::{
    AtsFailure, AtsRequest, AtsTranslation, DmaFault, DmaRequest, PasidPrefix, Rights, Translation,
    Upstream,
};
use softiommu_devices::testing::{bus_op, issue};
use softiommu_pgtable::{Access, Prot};
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::regs::VtdParams;

use crate::rig::{Expected, Rig, SID, context, dma, ss_entry};

/// The translation request for the page at `addr` without a PASID.
fn treq(addr: u64, no_write: bool) -> AtsRequest {
    AtsRequest {
        rid: SID,
        pasid: None,
        addr,
        no_write,
    }
}

/// A rig whose RID_PASID entry is second stage, mapping 0x1000 read/write to 0x30_0000 and
/// 0x2000 read-only to 0x31_0000.
fn mapped(params: VtdParams) -> Rig {
    let rig = Rig::new(params);
    let mut ss = rig.ss_table(false);
    ss.map(0x1000, 0x30_0000, 0x1000, Prot::RW).unwrap();
    ss.map(0x2000, 0x31_0000, 0x1000, Prot::READ).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 1));
    rig
}

/// The context entry of [`SID`] with DTE=0 (and PRE=0, which DTE=0 requires).
fn without_dte(rig: &Rig) {
    let mut e = context(rig.dir);
    e.qw0 = e.qw0.with_dte(false).with_pre(false);
    rig.set_context(SID, e);
}

/// The fault record of a request of address type `at` (1 translation request, 2 translated).
fn record(req: softiommu_vtd::model::Request, reason: FaultReason, at: u8) -> Expected {
    Expected {
        at,
        ..Expected::dma(req, reason)
    }
}

#[test]
fn translation_request_grants_the_rights_the_tables_give() {
    let rig = mapped(VtdParams::default());
    let rw = rig.unit.ats_translate(&treq(0x1234, false)).unwrap();
    assert_eq!(
        rw,
        AtsTranslation {
            untranslated: 0x1000,
            translated: 0x30_0000,
            size_log2: 12,
            rights: Rights::READ_WRITE,
            global: false,
            untranslated_only: false,
        }
    );
    // No Write: read only, though the page is writable.
    let nw = rig.unit.ats_translate(&treq(0x1000, true)).unwrap();
    assert_eq!((nw.rights.read, nw.rights.write), (true, false));
    let ro = rig.unit.ats_translate(&treq(0x2000, false)).unwrap();
    assert_eq!(ro.translated, 0x31_0000);
    assert_eq!((ro.rights.read, ro.rights.write), (true, false));
    rig.expect_nothing_recorded();
}

#[test]
fn translation_request_for_an_unmapped_page_answers_no_access_unrecorded() {
    let rig = mapped(VtdParams::default());
    let t = rig.unit.ats_translate(&treq(0x5000, false)).unwrap();
    assert_eq!(t, AtsTranslation::no_access(0x5000));
    assert!(!t.is_available());
    rig.expect_nothing_recorded();
}

#[test]
fn sct_5_translation_request_while_dte_is_0() {
    let rig = mapped(VtdParams::default());
    without_dte(&rig);
    assert_eq!(
        rig.unit.ats_translate(&treq(0x1000, false)),
        Err(AtsFailure::UnsupportedRequest)
    );
    rig.expect_recorded(record(
        dma(SID, None, 0x1000, Access::READ),
        FaultReason::Sct5,
        1,
    ));
}

#[test]
fn sct_5_translated_request_while_dte_is_0() {
    let rig = mapped(VtdParams::default());
    without_dte(&rig);
    let req = DmaRequest::write(SID, 0x30_0000, 64).translated();
    assert_eq!(
        Upstream::translate(&rig.unit, &req),
        Err(DmaFault::UnsupportedRequest)
    );
    rig.expect_recorded(record(
        dma(SID, None, 0x30_0000, Access::WRITE),
        FaultReason::Sct5,
        2,
    ));
}

#[test]
fn sct_10_translated_request_with_pasid_while_eptr_is_0() {
    let rig = mapped(VtdParams::default());
    let req = DmaRequest::read(SID, 0x30_0000, 8)
        .with_pasid(PasidPrefix::new(5))
        .translated();
    assert_eq!(
        Upstream::translate(&rig.unit, &req),
        Err(DmaFault::UnsupportedRequest)
    );
    rig.expect_recorded(record(
        dma(SID, Some(5), 0x30_0000, Access::READ),
        FaultReason::Sct10,
        2,
    ));
}

#[test]
fn translated_request_reaches_its_own_address_where_dte_is_1() {
    let rig = mapped(VtdParams::default());
    let req = DmaRequest::write(SID, 0x30_0010, 64).translated();
    let t: Translation = Upstream::translate(&rig.unit, &req).unwrap();
    assert_eq!((t.addr, t.len), (0x30_0010, 0xff0));
    rig.unit.dma_write(&req, &[7u8; 64]).unwrap();
    let mut back = [0u8; 64];
    rig.unit.memory().read(0x30_0010, &mut back).unwrap();
    assert_eq!(back, [7u8; 64]);
    rig.expect_nothing_recorded();
}

#[test]
fn translated_request_beyond_haw_faults_with_sgn_4() {
    let rig = mapped(VtdParams::default());
    let beyond = 1u64 << VtdParams::default().haw;
    let req = DmaRequest::read(SID, beyond, 8).translated();
    assert_eq!(
        Upstream::translate(&rig.unit, &req),
        Err(DmaFault::UnsupportedRequest)
    );
    rig.expect_recorded(record(
        dma(SID, None, beyond, Access::READ),
        FaultReason::Sgn4,
        2,
    ));
}

#[test]
fn context_table_access_error_aborts_a_translation_request() {
    let rig = mapped(VtdParams::default());
    rig.set_root_entry(softiommu_vtd::structs::ScalableRootEntry::new(
        Some(crate::rig::UNBACKED),
        None,
    ));
    assert_eq!(
        rig.unit.ats_translate(&treq(0x1000, false)),
        Err(AtsFailure::CompleterAbort)
    );
    rig.expect_recorded(record(
        dma(SID, None, 0x1000, Access::READ),
        FaultReason::Sct1,
        1,
    ));
}

#[test]
fn without_device_tlb_support_ats_traffic_is_unsupported_and_unrecorded() {
    let rig = mapped(VtdParams {
        device_tlb: false,
        page_requests: false,
        ..VtdParams::default()
    });
    assert_eq!(
        rig.unit.ats_translate(&treq(0x1000, false)),
        Err(AtsFailure::UnsupportedRequest)
    );
    let req = DmaRequest::read(SID, 0x30_0000, 8).translated();
    assert_eq!(
        Upstream::translate(&rig.unit, &req),
        Err(DmaFault::UnsupportedRequest)
    );
    rig.expect_nothing_recorded();
}

#[test]
fn untranslated_dma_through_the_bus_follows_the_tables() {
    let rig = mapped(VtdParams::default());
    let data: Vec<u8> = (0..0x1000u32).map(|i| i as u8).collect();
    rig.unit
        .dma_write(&DmaRequest::write(SID, 0x1000, 0), &data)
        .unwrap();
    let mut back = vec![0u8; 0x1000];
    rig.unit.memory().read(0x30_0000, &mut back).unwrap();
    assert_eq!(back, data);
    // The read-only page refuses the write where it begins, with the fault recorded.
    let err = rig
        .unit
        .dma_write(&DmaRequest::write(SID, 0x1800, 0), &data)
        .unwrap_err();
    assert_eq!((err.addr, err.done), (0x2000, 0x800));
    assert_eq!(err.fault, DmaFault::UnsupportedRequest);
    rig.expect_recorded(Expected::dma(
        dma(SID, None, 0x2000, Access::WRITE),
        FaultReason::Sgn6,
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn random_bus_requests_never_panic(ops in proptest::collection::vec(bus_op(SID), 1..24)) {
        let rig = mapped(VtdParams::default());
        for op in &ops {
            issue(&rig.unit, op);
        }
        // Nothing wrote the read-only page.
        let mut b = [0u8; 8];
        rig.unit.memory().read(0x31_0000, &mut b).unwrap();
        proptest::prop_assert_eq!(b, [0u8; 8]);
    }
}

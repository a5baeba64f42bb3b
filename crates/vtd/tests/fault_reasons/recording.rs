//! How faults are recorded: fault processing disabled (FPD) at each level for qualified
//! faults only, the overflow of the fault recording registers, and the fault table of
//! `fault.rs` against the tests of this suite.

use std::collections::BTreeSet;

use softiommu_pgtable::Access;
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::regs::VtdParams;
use softiommu_vtd::structs::{ContextEntry, PasidDirEntry, PasidEntry, PasidQw0};

use crate::rig::{Expected, Rig, SID, UNBACKED, context, dma};

/// A rig whose context entry has FPD=1.
fn fpd_context(rig: &Rig, e: ContextEntry) {
    let mut e = e;
    e.qw0 = e.qw0.with_fpd(true);
    rig.set_context(SID, e);
}

#[test]
fn fpd_in_the_context_entry_suppresses_qualified_faults() {
    let rig = Rig::new(VtdParams::default());
    fpd_context(&rig, context(rig.dir));
    // SPT.2 (qualified): not recorded, but the request still faults.
    rig.expect_unrecorded_fault(dma(SID, Some(6), 0x1000, Access::READ), FaultReason::Spt2);
    rig.expect_nothing_recorded();
}

#[test]
fn fpd_in_a_context_entry_that_is_not_present_suppresses_sct_2() {
    let rig = Rig::new(VtdParams::default());
    fpd_context(&rig, ContextEntry::default());
    rig.expect_unrecorded_fault(dma(SID, None, 0x1000, Access::READ), FaultReason::Sct2);
    rig.expect_nothing_recorded();
}

#[test]
fn fpd_in_the_pasid_directory_and_pasid_entries_suppresses_qualified_faults() {
    let rig = Rig::new(VtdParams::default());
    // PASID 64: a directory entry with FPD and no P.
    rig.set_dir_entry(1, PasidDirEntry::new().with_fpd(true));
    rig.expect_unrecorded_fault(dma(SID, Some(64), 0, Access::READ), FaultReason::Spd2);
    // PASID 7: a PASID entry with FPD and no P.
    rig.set_pasid(
        7,
        PasidEntry {
            qw0: PasidQw0::new().with_fpd(true),
            ..PasidEntry::default()
        },
    );
    rig.expect_unrecorded_fault(dma(SID, Some(7), 0, Access::READ), FaultReason::Spt2);
    rig.expect_nothing_recorded();
}

#[test]
fn fpd_does_not_suppress_an_access_error() {
    let rig = Rig::new(VtdParams::default());
    // SPD.1 is not qualified: recorded with FPD=1.
    fpd_context(&rig, context(UNBACKED));
    let req = dma(SID, None, 0x1000, Access::READ);
    rig.expect_fault(req, FaultReason::Spd1);
}

#[test]
fn a_full_set_of_records_overflows_into_pfo() {
    let rig = Rig::new(VtdParams {
        fault_records: 2,
        ..VtdParams::default()
    });
    let fault = |pasid: u32| {
        let req = dma(SID, Some(pasid), u64::from(pasid) << 12, Access::WRITE);
        assert_eq!(rig.translate(req).unwrap_err().reason, FaultReason::Spt2);
    };
    fault(1);
    fault(2);
    assert_eq!(rig.faulted(), [0, 1]);
    assert_eq!(rig.fsts() & 0xff03, 0x0002, "FRI 0, PPF, no PFO");
    // Both records full: the third fault sets PFO and is dropped.
    fault(3);
    assert_eq!(rig.fsts() & 0xff03, 0x0003, "FRI 0, PPF, PFO");
    assert_eq!(rig.frcd(0).0, 1 << 12);
    assert_eq!(rig.frcd(1).0, 2 << 12);
    // One fault event for all of it: PPF was set already.
    assert_eq!(rig.fault_events(), 1);
    // Software frees record 0 (F is RW1C); with PFO still set the next fault is dropped.
    let (fro, _) = rig.frcd_layout();
    rig.unit.mmio_write(fro + 12, 4, 1 << 31);
    assert_eq!(rig.faulted(), [1]);
    fault(4);
    assert_eq!(rig.faulted(), [1]);
    // PFO cleared (RW1C): the next fault goes into record 0, the next one in turn.
    rig.unit.mmio_write(softiommu_vtd::regs::FSTS_REG, 4, 1);
    fault(5);
    assert_eq!(rig.faulted(), [0, 1]);
    assert_eq!(rig.frcd(0).0, 5 << 12);
    let mut e = Expected::dma(dma(SID, Some(5), 5 << 12, Access::WRITE), FaultReason::Spt2);
    assert_eq!(rig.frcd(0).1, e.high());
    e.pasid = Some(2);
    assert_eq!(rig.frcd(1).1, e.high());
    // FRI moves only when PPF goes from 0 to 1.
    assert_eq!(rig.fsts() & 0xff03, 0x0002, "FRI 0, PPF");
}

/// Every reason the model raises, each with its test in this suite.
const TESTED: &[(FaultReason, &str)] = &[
    (
        FaultReason::Rta1,
        "structures::rta_1_bad_root_table_programming",
    ),
    (
        FaultReason::Rta2,
        "structures::rta_2_request_with_pasid_in_legacy_mode",
    ),
    (
        FaultReason::Rta3,
        "page_requests::rta_3_page_request_in_legacy_mode",
    ),
    (
        FaultReason::Srt1,
        "structures::srt_1_root_table_access_error",
    ),
    (
        FaultReason::Srt2,
        "structures::srt_2_root_entry_half_not_present",
    ),
    (
        FaultReason::Srt3,
        "structures::srt_3_reserved_bits_in_root_entry",
    ),
    (
        FaultReason::Sct1,
        "structures::sct_1_context_table_access_error",
    ),
    (
        FaultReason::Sct2,
        "structures::sct_2_context_entry_not_present",
    ),
    (
        FaultReason::Sct3,
        "structures::sct_3_reserved_bits_in_context_entry",
    ),
    (FaultReason::Sct4, "structures::sct_4_invalid_context_entry"),
    (
        FaultReason::Sct5,
        "ats::sct_5_translation_request_while_dte_is_0",
    ),
    (
        FaultReason::Sct6,
        "structures::sct_6_request_with_pasid_while_paside_is_0",
    ),
    (
        FaultReason::Sct7,
        "structures::sct_7_pasid_beyond_the_directory",
    ),
    (
        FaultReason::Sct8,
        "page_requests::sct_8_page_request_while_pre_is_0",
    ),
    (
        FaultReason::Sct9,
        "structures::sct_9_explicit_pasid_equal_to_rid_pasid",
    ),
    (
        FaultReason::Sct10,
        "ats::sct_10_translated_request_with_pasid_while_eptr_is_0",
    ),
    (
        FaultReason::Spd1,
        "structures::spd_1_pasid_directory_access_error",
    ),
    (
        FaultReason::Spd2,
        "structures::spd_2_pasid_directory_entry_not_present",
    ),
    (
        FaultReason::Spd3,
        "structures::spd_3_reserved_bits_in_pasid_directory_entry",
    ),
    (
        FaultReason::Spt1,
        "structures::spt_1_pasid_table_access_error",
    ),
    (
        FaultReason::Spt2,
        "structures::spt_2_pasid_entry_not_present",
    ),
    (
        FaultReason::Spt3,
        "structures::spt_3_reserved_bits_in_pasid_entry",
    ),
    (FaultReason::Spt4, "structures::spt_4_invalid_pasid_entry"),
    (
        FaultReason::Spt5,
        "structures::spt_5_execute_request_with_pasid",
    ),
    (
        FaultReason::Spt6,
        "structures::spt_6_supervisor_request_with_sre_0",
    ),
    (
        FaultReason::Sfs1,
        "paging::sfs_1_first_stage_entry_access_error",
    ),
    (
        FaultReason::Sfs2,
        "paging::sfs_2_first_stage_entry_not_present",
    ),
    (
        FaultReason::Sfs3,
        "paging::sfs_3_reserved_bits_in_first_stage_entry",
    ),
    (
        FaultReason::Sfs4,
        "paging::sfs_4_first_stage_root_access_error",
    ),
    (
        FaultReason::Sfs5,
        "paging::sfs_5_nested_first_stage_address_beyond_mgaw",
    ),
    (
        FaultReason::Sfs6,
        "paging::sfs_6_nested_no_read_permission_for_the_first_stage_root",
    ),
    (
        FaultReason::Sfs7,
        "paging::sfs_7_nested_no_read_permission_for_a_first_stage_entry",
    ),
    (
        FaultReason::Sfs8,
        "paging::sfs_8_nested_no_write_permission_for_an_accessed_flag_update",
    ),
    (
        FaultReason::Sfs10,
        "paging::sfs_10_first_stage_accessed_flag_update_failed",
    ),
    (
        FaultReason::Sss1,
        "paging::sss_1_second_stage_entry_access_error",
    ),
    (
        FaultReason::Sss2,
        "paging::sss_2_second_stage_entry_not_present",
    ),
    (
        FaultReason::Sss3,
        "paging::sss_3_reserved_bits_in_second_stage_entry",
    ),
    (
        FaultReason::Sss4,
        "paging::sss_4_second_stage_root_access_error",
    ),
    (
        FaultReason::Sss6,
        "paging::sss_6_second_stage_accessed_flag_update_failed",
    ),
    (
        FaultReason::Sgn1,
        "paging::sgn_1_non_canonical_first_stage_input",
    ),
    (
        FaultReason::Sgn2,
        "paging::sgn_2_user_request_to_a_supervisor_page",
    ),
    (
        FaultReason::Sgn4,
        "paging::sgn_4_pass_through_address_beyond_haw",
    ),
    (
        FaultReason::Sgn5,
        "paging::sgn_5_second_stage_address_beyond_aw",
    ),
    (
        FaultReason::Sgn6,
        "paging::sgn_6_write_without_write_permission",
    ),
    (
        FaultReason::Sgn7,
        "paging::sgn_7_read_without_read_permission",
    ),
    (
        FaultReason::Sgn8,
        "paging::sgn_8_output_in_the_interrupt_range",
    ),
    (
        FaultReason::Sgn10,
        "structures::sgn_10_pasid_wider_than_pss",
    ),
];

/// The rows of the table in `fault.rs`: (FR, name, whether the model raises it).
fn table_rows() -> Vec<(u8, String, bool)> {
    let src = include_str!("../../src/fault.rs");
    src.lines()
        .filter_map(|l| l.strip_prefix("//! | "))
        .filter_map(|row| {
            let row = row.trim_end().trim_end_matches('|');
            let cells: Vec<&str> = row.split(" | ").map(str::trim).collect();
            let code = u8::from_str_radix(cells.first()?.strip_suffix('h')?, 16).ok()?;
            let raised = match *cells.get(4)? {
                "yes" => true,
                c if c.starts_with("no") => false,
                c => panic!("FR {code:#x}: the Model column says {c:?}"),
            };
            Some((code, cells.get(1)?.to_string(), raised))
        })
        .collect()
}

#[test]
fn the_fault_table_and_these_tests_agree() {
    let rows = table_rows();
    let all: BTreeSet<u8> = FaultReason::ALL.iter().map(|r| r.code()).collect();
    let listed: BTreeSet<u8> = rows.iter().map(|r| r.0).collect();
    assert_eq!(listed, all, "the table lists every reason once");
    assert_eq!(rows.len(), all.len());
    for (code, name, _) in &rows {
        assert_eq!(FaultReason::from_code(*code).unwrap().name(), name);
    }
    let raised: BTreeSet<u8> = rows.iter().filter(|r| r.2).map(|r| r.0).collect();
    let tested: BTreeSet<u8> = TESTED.iter().map(|t| t.0.code()).collect();
    assert_eq!(
        raised, tested,
        "a test for every reason the table says the model raises"
    );
    for (reason, test) in TESTED {
        let (_, name) = test.split_once("::").unwrap();
        let prefix = reason.name().to_lowercase().replace('.', "_") + "_";
        assert!(name.starts_with(&prefix), "{test} is named after {reason}");
    }
}

//! Faults of the root-table programming and of the structures above the page tables: root,
//! context, PASID-directory and PASID-table entries.

use softiommu_pgtable::{Access, Prot};
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::regs::VtdParams;
use softiommu_vtd::structs::{
    ContextEntry, ContextQw0, PasidDirEntry, PasidEntry, ScalableRootEntry,
};

use crate::rig::{Rig, SID, SID_UPPER, UNBACKED, context, dma, ss_entry};

/// An unprivileged read in page 0x1000 from [`SID`], with `pasid`.
fn read(pasid: Option<u32>) -> softiommu_vtd::model::Request {
    dma(SID, pasid, 0x1234, Access::READ)
}

/// A rig whose RID_PASID entry (PASID 0) and PASID 5 translate page 0x1000 to 2 MiB,
/// read/write.
fn mapped() -> Rig {
    let rig = Rig::new(VtdParams::default());
    let mut ss = rig.ss_table(false);
    ss.map(0x1000, 0x20_0000, 0x1000, Prot::RW).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 1));
    rig.set_pasid(5, ss_entry(ss.root(), 1));
    rig
}

#[test]
fn rta_1_bad_root_table_programming() {
    let rig = mapped();
    // TTM=10b is reserved.
    rig.latch_root(rig.root | 2 << 10);
    rig.expect_fault(read(None), FaultReason::Rta1);
}

#[test]
fn rta_2_request_with_pasid_in_legacy_mode() {
    let rig = mapped();
    rig.latch_root(rig.root);
    rig.expect_fault(read(Some(5)), FaultReason::Rta2);
}

#[test]
fn srt_1_root_table_access_error() {
    let rig = mapped();
    rig.latch_root(UNBACKED | 1 << 10);
    rig.expect_fault(read(None), FaultReason::Srt1);
}

#[test]
fn srt_2_root_entry_half_not_present() {
    let rig = mapped();
    // Bus 3's root entry has only its lower half (devfn 00h–7Fh).
    rig.expect_fault(
        dma(SID_UPPER, None, 0x1000, Access::READ),
        FaultReason::Srt2,
    );
}

#[test]
fn srt_3_reserved_bits_in_root_entry() {
    let rig = mapped();
    let [lo, hi] = ScalableRootEntry::new(Some(rig.ctx_table), None).to_words();
    // Bit 1 (of 11:1) is reserved.
    rig.set_root_entry(ScalableRootEntry::from_words([lo | 1 << 1, hi]));
    rig.expect_fault(read(None), FaultReason::Srt3);
}

#[test]
fn sct_1_context_table_access_error() {
    let rig = mapped();
    rig.set_root_entry(ScalableRootEntry::new(Some(UNBACKED), None));
    rig.expect_fault(read(None), FaultReason::Sct1);
}

#[test]
fn sct_2_context_entry_not_present() {
    let rig = mapped();
    rig.set_context(SID, ContextEntry::default());
    rig.expect_fault(read(None), FaultReason::Sct2);
}

#[test]
fn sct_3_reserved_bits_in_context_entry() {
    let rig = mapped();
    // Bits 191:128 are reserved.
    let e = ContextEntry {
        qw2: 1,
        ..context(rig.dir)
    };
    rig.set_context(SID, e);
    rig.expect_fault(read(None), FaultReason::Sct3);
}

/// Gives [`SID`] the rig's context entry with `edit` made to its bits 63:0.
fn edit_context(rig: &Rig, edit: impl FnOnce(ContextQw0) -> ContextQw0) {
    let mut e = context(rig.dir);
    e.qw0 = edit(e.qw0);
    rig.set_context(SID, e);
}

#[test]
fn sct_4_invalid_context_entry() {
    let rig = mapped();
    // Page requests allowed without device-TLBs.
    edit_context(&rig, |q| q.with_dte(false));
    rig.expect_fault(read(None), FaultReason::Sct4);
}

#[test]
fn sct_6_request_with_pasid_while_paside_is_0() {
    let rig = mapped();
    edit_context(&rig, |q| q.with_paside(false));
    rig.expect_fault(read(Some(5)), FaultReason::Sct6);
}

#[test]
fn sct_7_pasid_beyond_the_directory() {
    let rig = mapped();
    // PDTS=0: 128 directory entries, PASIDs below 128·64.
    rig.expect_fault(read(Some(128 * 64)), FaultReason::Sct7);
}

#[test]
fn sct_9_explicit_pasid_equal_to_rid_pasid() {
    let rig = mapped();
    // Without ECAP.RPS, RID_PASID is 0.
    rig.expect_fault(read(Some(0)), FaultReason::Sct9);
}

#[test]
fn spd_1_pasid_directory_access_error() {
    let rig = mapped();
    rig.set_context(SID, context(UNBACKED));
    rig.expect_fault(read(None), FaultReason::Spd1);
}

#[test]
fn spd_2_pasid_directory_entry_not_present() {
    let rig = mapped();
    // PASID 64 is in directory entry 1, which is not present.
    rig.expect_fault(read(Some(64)), FaultReason::Spd2);
}

#[test]
fn spd_3_reserved_bits_in_pasid_directory_entry() {
    let rig = mapped();
    let good = PasidDirEntry::new()
        .with_p(true)
        .with_smptblptr(rig.pasid_table >> 12);
    // Bit 2 (of 11:2) is reserved.
    rig.set_dir_entry(0, PasidDirEntry::from_bits(good.into_bits() | 1 << 2));
    rig.expect_fault(read(None), FaultReason::Spd3);
}

#[test]
fn spt_1_pasid_table_access_error() {
    let rig = mapped();
    rig.set_dir_entry(
        1,
        PasidDirEntry::new()
            .with_p(true)
            .with_smptblptr(UNBACKED >> 12),
    );
    rig.expect_fault(read(Some(64)), FaultReason::Spt1);
}

#[test]
fn spt_2_pasid_entry_not_present() {
    let rig = mapped();
    rig.expect_fault(read(Some(6)), FaultReason::Spt2);
}

#[test]
fn spt_3_reserved_bits_in_pasid_entry() {
    let rig = mapped();
    let mut w = ss_entry(0x10_0000, 1).to_words();
    // Bit 5 (SLEE in rev 3.x) is reserved.
    w[0] |= 1 << 5;
    rig.set_pasid(5, PasidEntry::from_words(w));
    rig.expect_fault(read(Some(5)), FaultReason::Spt3);
}

#[test]
fn spt_4_invalid_pasid_entry() {
    let rig = mapped();
    // AW=3 (5-level) is not in SAGAW.
    let mut e = ss_entry(0x10_0000, 1);
    e.qw0 = e.qw0.with_aw(3);
    rig.set_pasid(5, e);
    rig.expect_fault(read(Some(5)), FaultReason::Spt4);
}

#[test]
fn spt_5_execute_request_with_pasid() {
    let rig = mapped();
    let exec = Access {
        exec: true,
        ..Access::READ
    };
    // The same page read (and cached) first: the execute request still faults.
    assert_eq!(rig.translate(read(Some(5))).unwrap().pa, 0x20_0234);
    rig.expect_fault(dma(SID, Some(5), 0x1234, exec), FaultReason::Spt5);
}

#[test]
fn spt_6_supervisor_request_with_sre_0() {
    let rig = mapped();
    rig.expect_fault(
        dma(SID, Some(5), 0x1234, Access::READ.privileged()),
        FaultReason::Spt6,
    );
}

#[test]
fn sgn_10_pasid_wider_than_pss() {
    let rig = Rig::new(VtdParams {
        pasid_bits: 8,
        ..VtdParams::default()
    });
    rig.expect_fault(read(Some(0x100)), FaultReason::Sgn10);
}

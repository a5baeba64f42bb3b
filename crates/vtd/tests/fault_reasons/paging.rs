//! Faults of the page walks: first stage, second stage, nested, pass-through, and the checks
//! on their input and output addresses.

use softiommu_mem::AddressSpace;
use softiommu_pgtable::{Access, Prot};
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::regs::VtdParams;
use softiommu_vtd::structs::{PasidEntry, PasidQw0, PasidQw1, Pgtt};

use crate::rig::{FS_TABLES, MEM, Rig, SID, UNBACKED, dma, fs_entry, nested_entry, ss_entry};

/// Present, writable, user: the bits of a first-stage table entry that points on.
const FS_NEXT: u64 = 0b111;
/// The Accessed flag of a first-stage entry.
const FS_A: u64 = 1 << 5;
/// Read and write: a second-stage entry that points on.
const SS_NEXT: u64 = 0b11;
/// The PASID the first-stage and nested tests use.
const PASID: u32 = 5;

/// A rig whose PASID 5 is first-stage only, over tables `root`.
fn first_stage(params: VtdParams, root: impl FnOnce(&Rig) -> u64) -> Rig {
    let rig = Rig::new(params);
    let r = root(&rig);
    rig.set_pasid(PASID, fs_entry(r, 1));
    rig
}

/// A rig whose RID_PASID entry is second-stage only, over tables `root`, with SSADE=`ad`.
fn second_stage(ad: bool, root: impl FnOnce(&Rig) -> u64) -> Rig {
    let rig = Rig::new(VtdParams::default());
    let r = root(&rig);
    let mut e = ss_entry(r, 1);
    e.qw0 = e.qw0.with_ssade(ad);
    rig.set_pasid(0, e);
    rig
}

/// A rig whose PASID 5 is nested: a first stage mapping page 0 to guest-physical 16 MiB,
/// its table pages from [`FS_TABLES`] at the same guest-physical addresses, and a second
/// stage mapping 16 MiB read/write and the first-stage table pages with `tables` (the first
/// one, the root, with `root`).
fn nested(params: VtdParams, root: Prot, tables: Prot) -> Rig {
    let rig = Rig::new(params);
    let mut fs = rig.guest_fs_table();
    fs.map(0, 16 << 20, 0x1000, Prot::RW).unwrap();
    assert_eq!(fs.root(), FS_TABLES);
    let mut ss = rig.ss_table(false);
    ss.map(16 << 20, 16 << 20, 0x1000, Prot::RW).unwrap();
    ss.map(FS_TABLES, FS_TABLES, 0x1000, root).unwrap();
    ss.map(FS_TABLES + 0x1000, FS_TABLES + 0x1000, 0x3000, tables)
        .unwrap();
    rig.set_pasid(PASID, nested_entry(fs.root(), ss.root(), 1));
    rig
}

impl Rig {
    /// Clears the Accessed flag of the first-stage entry at `pa` (the table editor sets it
    /// when it writes an entry).
    fn clear_accessed(&self, pa: u64) {
        self.store(pa, self.mem.load_u64(pa).unwrap() & !FS_A);
    }
}

fn read(pasid: Option<u32>, addr: u64) -> softiommu_vtd::model::Request {
    dma(SID, pasid, addr, Access::READ)
}

#[test]
fn nested_tables_as_built_translate() {
    let rig = nested(VtdParams::default(), Prot::RW, Prot::RW);
    let t = rig.translate(read(Some(PASID), 0x123)).unwrap();
    assert_eq!(t.pa, (16 << 20) + 0x123);
}

#[test]
fn sfs_1_first_stage_entry_access_error() {
    let rig = first_stage(VtdParams::default(), |rig| {
        let root = rig.page();
        rig.store(root, UNBACKED | FS_NEXT);
        root
    });
    rig.expect_fault(read(Some(PASID), 0x1000), FaultReason::Sfs1);
}

#[test]
fn sfs_2_first_stage_entry_not_present() {
    let rig = first_stage(VtdParams::default(), |rig| rig.fs_table().root());
    rig.expect_fault(read(Some(PASID), 0x1000), FaultReason::Sfs2);
}

#[test]
fn sfs_3_reserved_bits_in_first_stage_entry() {
    let rig = first_stage(VtdParams::default(), |rig| {
        let root = rig.page();
        // PS (bit 7) is reserved in a PML4E.
        rig.store(root, rig.page() | FS_NEXT | 1 << 7);
        root
    });
    rig.expect_fault(read(Some(PASID), 0x1000), FaultReason::Sfs3);
}

#[test]
fn sfs_4_first_stage_root_access_error() {
    let rig = first_stage(VtdParams::default(), |_| UNBACKED);
    rig.expect_fault(read(Some(PASID), 0x1000), FaultReason::Sfs4);
}

#[test]
fn sfs_5_nested_first_stage_address_beyond_mgaw() {
    let params = VtdParams {
        mgaw: 39,
        ..VtdParams::default()
    };
    let rig = nested(params, Prot::RW, Prot::RW);
    // The PML4E now points at guest-physical 1 TiB: inside HAW (48), beyond MGAW (39).
    rig.store(FS_TABLES, 1 << 40 | FS_NEXT);
    rig.expect_fault(read(Some(PASID), 0x123), FaultReason::Sfs5);
}

#[test]
fn sfs_6_nested_no_read_permission_for_the_first_stage_root() {
    let rig = nested(VtdParams::default(), Prot::WRITE, Prot::RW);
    rig.expect_fault(read(Some(PASID), 0x123), FaultReason::Sfs6);
}

#[test]
fn sfs_7_nested_no_read_permission_for_a_first_stage_entry() {
    let rig = nested(VtdParams::default(), Prot::RW, Prot::WRITE);
    rig.expect_fault(read(Some(PASID), 0x123), FaultReason::Sfs7);
}

#[test]
fn sfs_8_nested_no_write_permission_for_an_accessed_flag_update() {
    // With A=0 in the PML4E, setting it needs second-stage write permission.
    let rig = nested(VtdParams::default(), Prot::READ, Prot::READ);
    rig.clear_accessed(FS_TABLES);
    rig.expect_fault(read(Some(PASID), 0x123), FaultReason::Sfs8);
}

#[test]
fn sfs_10_first_stage_accessed_flag_update_failed() {
    let mut root = 0;
    let rig = first_stage(VtdParams::default(), |rig| {
        let mut fs = rig.fs_table();
        fs.map(0x1000, 0x20_0000, 0x1000, Prot::RW).unwrap();
        root = fs.root();
        root
    });
    rig.clear_accessed(root);
    rig.contend(root);
    rig.expect_fault(read(Some(PASID), 0x1000), FaultReason::Sfs10);
}

#[test]
fn sss_1_second_stage_entry_access_error() {
    let rig = second_stage(false, |rig| {
        let root = rig.page();
        rig.store(root, UNBACKED | SS_NEXT);
        root
    });
    rig.expect_fault(read(None, 0x1000), FaultReason::Sss1);
}

#[test]
fn sss_2_second_stage_entry_not_present() {
    let rig = second_stage(false, |rig| rig.ss_table(false).root());
    rig.expect_fault(read(None, 0x1000), FaultReason::Sss2);
}

#[test]
fn sss_3_reserved_bits_in_second_stage_entry() {
    let rig = second_stage(false, |rig| {
        let root = rig.page();
        // PS (bit 7) is reserved in an SS-PML4E.
        rig.store(root, rig.page() | SS_NEXT | 1 << 7);
        root
    });
    rig.expect_fault(read(None, 0x1000), FaultReason::Sss3);
}

#[test]
fn sss_4_second_stage_root_access_error() {
    let rig = second_stage(false, |_| UNBACKED);
    rig.expect_fault(read(None, 0x1000), FaultReason::Sss4);
}

#[test]
fn sss_6_second_stage_accessed_flag_update_failed() {
    let mut root = 0;
    let rig = second_stage(true, |rig| {
        let mut ss = rig.ss_table(true);
        ss.map(0x1000, 0x20_0000, 0x1000, Prot::RW).unwrap();
        root = ss.root();
        root
    });
    rig.contend(root);
    rig.expect_fault(read(None, 0x1000), FaultReason::Sss6);
}

#[test]
fn sgn_1_non_canonical_first_stage_input() {
    let rig = first_stage(VtdParams::default(), |rig| rig.fs_table().root());
    // Bit 47 set, bits 63:48 clear.
    rig.expect_fault(read(Some(PASID), 1 << 47), FaultReason::Sgn1);
}

#[test]
fn sgn_2_user_request_to_a_supervisor_page() {
    let rig = first_stage(VtdParams::default(), |rig| {
        let mut fs = rig.fs_table();
        fs.map(0x1000, 0x20_0000, 0x1000, Prot::RW | Prot::PRIV)
            .unwrap();
        fs.root()
    });
    rig.expect_fault(read(Some(PASID), 0x1000), FaultReason::Sgn2);
}

#[test]
fn sgn_4_pass_through_address_beyond_haw() {
    let rig = Rig::new(VtdParams::default());
    let e = PasidEntry {
        qw0: PasidQw0::new().with_p(true).with_pgtt(Pgtt::PassThrough),
        qw1: PasidQw1::new().with_did(1),
        ..PasidEntry::default()
    };
    rig.set_pasid(0, e);
    assert_eq!(rig.translate(read(None, MEM - 8)).unwrap().pa, MEM - 8);
    rig.expect_fault(read(None, 1 << 48), FaultReason::Sgn4);
}

#[test]
fn sgn_5_second_stage_address_beyond_aw() {
    let rig = second_stage(false, |rig| rig.ss_table(false).root());
    rig.expect_fault(read(None, 1 << 48), FaultReason::Sgn5);
}

/// A rig whose RID_PASID entry maps page 0x1000 with `prot` at the second stage.
fn ss_mapped(prot: Prot) -> Rig {
    second_stage(false, |rig| {
        let mut ss = rig.ss_table(false);
        ss.map(0x1000, 0x20_0000, 0x1000, prot).unwrap();
        ss.root()
    })
}

#[test]
fn sgn_6_write_without_write_permission() {
    let rig = ss_mapped(Prot::READ);
    rig.expect_fault(dma(SID, None, 0x1008, Access::WRITE), FaultReason::Sgn6);
}

#[test]
fn sgn_7_read_without_read_permission() {
    let rig = ss_mapped(Prot::WRITE);
    rig.expect_fault(read(None, 0x1008), FaultReason::Sgn7);
}

/// A rig whose RID_PASID entry and PASID 5 map page 0x1000 onto the interrupt range.
fn onto_interrupts() -> Rig {
    let rig = Rig::new(VtdParams::default());
    let mut ss = rig.ss_table(false);
    ss.map(0x1000, 0xfee0_0000, 0x1000, Prot::RW).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 1));
    rig.set_pasid(PASID, ss_entry(ss.root(), 1));
    rig
}

#[test]
fn sgn_8_output_in_the_interrupt_range() {
    let rig = onto_interrupts();
    rig.expect_fault(read(None, 0x1004), FaultReason::Sgn8);
}

#[test]
fn sgn_8_output_in_the_interrupt_range_with_a_pasid_too() {
    let rig = onto_interrupts();
    rig.expect_fault(read(Some(PASID), 0x1004), FaultReason::Sgn8);
}

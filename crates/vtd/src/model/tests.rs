//! The translation engine against structures and tables built in memory as a driver would.

use std::sync::Arc;

use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::{Access, PageTable, Prot};

use super::*;
use crate::fault::FaultReason;
use crate::regs::VtdParams;
use crate::structs::testutil::ss_entry;
use crate::structs::{
    ContextEntry, ContextQw0, ContextQw1, PasidDirEntry, PasidEntry, PasidQw0, PasidQw1, PasidQw2,
    Pgtt, ScalableRootEntry, pasid_dir_index, pasid_table_index, root_entry_address,
};

const MEM: u64 = 256 << 20;
const SID: u16 = 0x0310; // 00:03.2... bus 3, devfn 0x10

fn caps() -> ModelCaps {
    ModelCaps::from_params(&VtdParams::default()).expect("the default parameters are valid")
}

struct Rig {
    mem: Arc<RamArena>,
    alloc: Arc<PageAlloc<Arc<RamArena>>>,
    unit: TranslationUnit<Arc<RamArena>>,
    pasid_table: u64,
}

impl Rig {
    /// Root table, one context entry for `SID` with PASIDs enabled, a PASID directory with
    /// one table (PASIDs 0..63).
    fn new() -> Rig {
        let mem = Arc::new(RamArena::new(0, MEM).unwrap());
        let alloc = Arc::new(PageAlloc::new(mem.clone(), 64 << 20, MEM - (64 << 20)).unwrap());
        let unit = TranslationUnit::new(caps(), mem.clone()).unwrap();
        let root = alloc.alloc(4096).unwrap();
        let ctx_table = alloc.alloc(4096).unwrap();
        let dir = alloc.alloc(4096).unwrap();
        let pasid_table = alloc.alloc(4096).unwrap();
        let bus = (SID >> 8) as u8;
        let devfn = SID as u8;
        ScalableRootEntry::new(Some(ctx_table), None)
            .write(&*mem, root_entry_address(root, bus))
            .unwrap();
        let ctx = ContextEntry {
            qw0: ContextQw0::new()
                .with_p(true)
                .with_dte(true)
                .with_paside(true)
                .with_pdts(0)
                .with_pasiddirptr(dir >> 12),
            qw1: ContextQw1::new(),
            qw2: 0,
            qw3: 0,
        };
        ctx.write(&*mem, ctx_table + u64::from(devfn & 0x7f) * 32)
            .unwrap();
        PasidDirEntry::new()
            .with_p(true)
            .with_smptblptr(pasid_table >> 12)
            .write(&*mem, dir + u64::from(pasid_dir_index(0)) * 8)
            .unwrap();
        unit.set_root_table(root);
        unit.enable(true);
        Rig {
            mem,
            alloc,
            unit,
            pasid_table,
        }
    }

    fn set_pasid(&self, pasid: u32, e: PasidEntry) {
        e.write(
            &*self.mem,
            self.pasid_table + u64::from(pasid_table_index(pasid)) * 64,
        )
        .unwrap();
    }

    fn ss_table(&self, ad: bool) -> PageTable<VtdSs, Arc<RamArena>> {
        let f = VtdSs::new(VtdSsConfig {
            ad,
            ..VtdSsConfig::default()
        })
        .unwrap();
        PageTable::new(f, self.alloc.clone()).unwrap()
    }

    fn fs_table(&self) -> PageTable<X86, Arc<RamArena>> {
        PageTable::new(X86::new(X86Config::default()).unwrap(), self.alloc.clone()).unwrap()
    }
}

fn fs_entry(root: u64, did: u16, sre: bool) -> PasidEntry {
    PasidEntry {
        qw0: PasidQw0::new().with_p(true).with_pgtt(Pgtt::FirstStage),
        qw1: PasidQw1::new().with_did(did),
        qw2: PasidQw2::new().with_sre(sre).with_fsptptr(root >> 12),
        ..PasidEntry::default()
    }
}

fn req(pasid: Option<u32>, addr: u64, access: Access) -> Request {
    Request {
        sid: SID,
        pasid,
        addr,
        access,
    }
}

fn reason(r: Result<Translated, Fault>) -> FaultReason {
    r.expect_err("a fault").reason
}

#[test]
fn second_stage_translates_caches_and_faults_with_spec_reasons() {
    let rig = Rig::new();
    let mut ss = rig.ss_table(false);
    ss.map(0x1000_0000, 0x20_0000, 0x2000, Prot::READ).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 7));
    let t = rig
        .unit
        .translate(req(None, 0x1000_1234, Access::READ))
        .unwrap();
    assert_eq!(t.pa, 0x20_1234);
    assert_eq!(t.len, 0x1000 - 0x234);
    // A write to a read-only page: SGN.6; an unmapped page: SSS.2.
    assert_eq!(
        reason(rig.unit.translate(req(None, 0x1000_0000, Access::WRITE))),
        FaultReason::Sgn6
    );
    assert_eq!(
        reason(rig.unit.translate(req(None, 0x3000_0000, Access::READ))),
        FaultReason::Sss2
    );
    // Beyond the 48-bit width: SGN.5.
    assert_eq!(
        reason(rig.unit.translate(req(None, 1 << 50, Access::READ))),
        FaultReason::Sgn5
    );
    // The IOTLB holds the page until it is invalidated, as hardware does.
    ss.unmap(0x1000_0000, 0x2000).unwrap();
    assert_eq!(
        rig.unit
            .translate(req(None, 0x1000_1000, Access::READ))
            .unwrap()
            .pa,
        0x20_1000
    );
    rig.unit.caches().invalidate_iotlb(IotlbScope::Pages {
        did: 7,
        addr: 0x1000_1000,
        size: 0x1000,
    });
    assert_eq!(
        reason(rig.unit.translate(req(None, 0x1000_1000, Access::READ))),
        FaultReason::Sss2
    );
}

#[test]
fn first_stage_checks_user_supervisor_and_canonical_addresses() {
    let rig = Rig::new();
    let mut fs = rig.fs_table();
    fs.map(0x40_0000, 0x80_0000, 0x1000, Prot::RW).unwrap();
    fs.map(0x50_0000, 0x90_0000, 0x1000, Prot::RW | Prot::PRIV)
        .unwrap();
    rig.set_pasid(5, fs_entry(fs.root(), 9, false));
    let t = rig
        .unit
        .translate(req(Some(5), 0x40_0010, Access::WRITE))
        .unwrap();
    assert_eq!(t.pa, 0x80_0010);
    // A user request to a supervisor page: SGN.2.
    assert_eq!(
        reason(rig.unit.translate(req(Some(5), 0x50_0000, Access::READ))),
        FaultReason::Sgn2
    );
    // A supervisor request with SRE=0: SPT.6.
    let sup = Access::READ.privileged();
    assert_eq!(
        reason(rig.unit.translate(req(Some(5), 0x50_0000, sup))),
        FaultReason::Spt6
    );
    // Non-canonical: SGN.1; not present: SFS.2.
    assert_eq!(
        reason(
            rig.unit
                .translate(req(Some(5), 0x8000_0000_0000, Access::READ))
        ),
        FaultReason::Sgn1
    );
    assert_eq!(
        reason(rig.unit.translate(req(Some(5), 0x60_0000, Access::READ))),
        FaultReason::Sfs2
    );
    // The write set Accessed and Dirty in the leaf.
    let leaf = fs.lookup(0x40_0000).unwrap().pte;
    assert_eq!(leaf & 0x60, 0x60);
}

#[test]
fn structure_faults_have_their_reasons_and_fpd_suppresses_qualified_ones() {
    let rig = Rig::new();
    // PASID entry not present: SPT.2 for requests without PASID (RID_PASID 0).
    assert_eq!(
        reason(rig.unit.translate(req(None, 0, Access::READ))),
        FaultReason::Spt2
    );
    // A PASID equal to RID_PASID: SCT.9. PDTS=0 gives 128 directory entries (PASIDs below
    // 8192): beyond them SCT.7; inside them, an absent directory entry is SPD.2.
    assert_eq!(
        reason(rig.unit.translate(req(Some(0), 0, Access::READ))),
        FaultReason::Sct9
    );
    assert_eq!(
        reason(rig.unit.translate(req(Some(0x2000), 0, Access::READ))),
        FaultReason::Sct7
    );
    assert_eq!(
        reason(rig.unit.translate(req(Some(0x1000), 0, Access::READ))),
        FaultReason::Spd2
    );
    // Another bus: root half not present: SRT.2.
    let other = Request {
        sid: 0x0700,
        ..req(None, 0, Access::READ)
    };
    assert_eq!(reason(rig.unit.translate(other)), FaultReason::Srt2);
    // Pass-through with an output in the interrupt range: SGN.8.
    rig.set_pasid(
        0,
        PasidEntry {
            qw0: PasidQw0::new()
                .with_p(true)
                .with_fpd(true)
                .with_pgtt(Pgtt::PassThrough),
            ..PasidEntry::default()
        },
    );
    rig.unit.caches().invalidate_pasid(None, None);
    assert_eq!(
        rig.unit
            .translate(req(None, 0x1234_5000, Access::READ))
            .unwrap()
            .pa,
        0x1234_5000
    );
    let f = rig
        .unit
        .translate(req(None, 0xfee0_0000, Access::WRITE))
        .unwrap_err();
    assert_eq!(f.reason, FaultReason::Sgn8);
    assert!(
        !f.record || !FaultReason::Sgn8.qualified(),
        "FPD suppresses a qualified fault"
    );
}

#[test]
fn nested_walk_goes_through_the_second_stage_and_faults_at_either_stage() {
    let rig = Rig::new();
    // The guest's first-stage table is built in memory the second stage maps at GPA = HPA +
    // 0x1_0000_0000 (the guest sees its RAM at a different address).
    const SHIFT: u64 = 0x1_0000_0000;
    let mut fs = rig.fs_table();
    let mut ss = rig.ss_table(false);
    // Guest RAM: the table pages' region and a data page.
    ss.map(SHIFT + (64 << 20), 64 << 20, 32 << 20, Prot::RW)
        .unwrap();
    ss.map(SHIFT + 0x30_0000, 0x30_0000, 0x1000, Prot::RW)
        .unwrap();
    // The guest maps its IOVA 0x7000 to guest-physical SHIFT + 0x30_0000. Table pointers in
    // the guest table must be guest-physical: rewrite each link.
    fs.map(0x7000, SHIFT + 0x30_0000, 0x1000, Prot::RW).unwrap();
    for step in fs.trace(0x7000) {
        if let softiommu_pgtable::Pte::Table { next, .. } = step.pte {
            let raw = step.raw - next + next + SHIFT;
            rig.mem.store_u64(step.entry_pa, raw).unwrap();
        }
    }
    let e = PasidEntry {
        qw0: PasidQw0::new()
            .with_p(true)
            .with_aw(2)
            .with_pgtt(Pgtt::Nested)
            .with_ssptptr(ss.root() >> 12),
        qw1: PasidQw1::new().with_did(3),
        qw2: PasidQw2::new().with_fsptptr((fs.root() + SHIFT) >> 12),
        ..PasidEntry::default()
    };
    rig.set_pasid(2, e);
    let t = rig
        .unit
        .translate(req(Some(2), 0x7abc, Access::WRITE))
        .unwrap();
    assert_eq!(t.pa, 0x30_0abc);
    // First-stage miss: SFS.2.
    assert_eq!(
        reason(rig.unit.translate(req(Some(2), 0x9000, Access::READ))),
        FaultReason::Sfs2
    );
    // Second stage refuses the final output: unmap the data page in stage 2.
    ss.unmap(SHIFT + 0x30_0000, 0x1000).unwrap();
    rig.unit.caches().invalidate_iotlb(IotlbScope::Domain(3));
    assert_eq!(
        reason(rig.unit.translate(req(Some(2), 0x7000, Access::READ))),
        FaultReason::Sss2
    );
    // Second stage makes the guest tables read-only: the first-stage A/D update needs write
    // rights there (SFS.8). (The leaf already has A and D set by the write above, so clear
    // them first.)
    ss.map(SHIFT + 0x30_0000, 0x30_0000, 0x1000, Prot::RW)
        .unwrap();
    ss.unmap(SHIFT + (64 << 20), 32 << 20).unwrap();
    ss.map(SHIFT + (64 << 20), 64 << 20, 32 << 20, Prot::READ)
        .unwrap();
    let leaf = fs.trace(0x7000).last().unwrap().entry_pa;
    let v = rig.mem.load_u64(leaf).unwrap();
    rig.mem.store_u64(leaf, v & !0x60).unwrap();
    rig.unit.caches().invalidate_iotlb(IotlbScope::Domain(3));
    assert_eq!(
        reason(rig.unit.translate(req(Some(2), 0x7000, Access::WRITE))),
        FaultReason::Sfs8
    );
    // The first-stage root itself unreadable in stage 2: SFS.6 is for permission; unmapped
    // is the second-stage fault.
    ss.unmap(SHIFT + (64 << 20), 32 << 20).unwrap();
    rig.unit.caches().invalidate_iotlb(IotlbScope::Domain(3));
    assert_eq!(
        reason(rig.unit.translate(req(Some(2), 0x7000, Access::READ))),
        FaultReason::Sss2
    );
}

#[test]
fn checking_mode_reports_a_skipped_invalidation() {
    let rig = Rig::new();
    let mut ss = rig.ss_table(false);
    ss.map(0x1000, 0x5000, 0x1000, Prot::RW).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 1));
    rig.unit.set_checking(true);
    assert_eq!(
        rig.unit
            .translate(req(None, 0x1000, Access::READ))
            .unwrap()
            .pa,
        0x5000
    );
    assert_eq!(
        rig.unit
            .translate(req(None, 0x1000, Access::READ))
            .unwrap()
            .pa,
        0x5000
    );
    assert_eq!(rig.unit.stale_count(), 0);
    // The driver remaps the page and forgets the invalidation.
    ss.unmap(0x1000, 0x1000).unwrap();
    ss.map(0x1000, 0x9000, 0x1000, Prot::RW).unwrap();
    assert_eq!(
        rig.unit
            .translate(req(None, 0x1008, Access::READ))
            .unwrap()
            .pa,
        0x5008
    );
    assert_eq!(rig.unit.stale_count(), 1);
    let r = rig.unit.stale_reports()[0];
    assert_eq!((r.did, r.cached, r.fresh), (1, 0x5008, Ok(0x9008)));
    // With the invalidation, nothing more to report.
    rig.unit.caches().invalidate_iotlb(IotlbScope::Domain(1));
    assert_eq!(
        rig.unit
            .translate(req(None, 0x1008, Access::READ))
            .unwrap()
            .pa,
        0x9008
    );
    assert_eq!(rig.unit.stale_count(), 1);
}

#[test]
fn invalidation_reaches_what_the_spec_says() {
    let rig = Rig::new();
    let mut ss = rig.ss_table(false);
    let mut fs = rig.fs_table();
    ss.map(0, 0x10_0000, 0x4000, Prot::RW).unwrap();
    fs.map(0, 0x20_0000, 0x4000, Prot::RW).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 4));
    rig.set_pasid(8, fs_entry(fs.root(), 4, false));
    let warm = |rig: &Rig| {
        for a in [0u64, 0x1000, 0x2000] {
            rig.unit.translate(req(None, a, Access::READ)).unwrap();
            rig.unit.translate(req(Some(8), a, Access::READ)).unwrap();
        }
    };
    warm(&rig);
    // PSI of one page: that second-stage page, and every first-stage entry of the domain.
    let n = rig.unit.caches().invalidate_iotlb(IotlbScope::Pages {
        did: 4,
        addr: 0x1000,
        size: 0x1000,
    });
    assert_eq!(n, 1 + 3);
    warm(&rig);
    // p_iotlb page-selective: only first-stage entries of that PASID and page.
    let n = rig.unit.caches().invalidate_iotlb(IotlbScope::PasidPages {
        did: 4,
        pasid: 8,
        addr: 0,
        size: 0x2000,
    });
    assert_eq!(n, 2);
    // PASID-selective for PASID 0 (RID_PASID): the entries of requests without a PASID.
    warm(&rig);
    let n = rig
        .unit
        .caches()
        .invalidate_iotlb(IotlbScope::Pasid { did: 4, pasid: 0 });
    assert_eq!(n, 3);
    assert_eq!(
        rig.unit
            .caches()
            .invalidate_iotlb(IotlbScope::Pasid { did: 4, pasid: 8 }),
        3
    );
    warm(&rig);
    // DSI of another domain: nothing.
    assert_eq!(rig.unit.caches().invalidate_iotlb(IotlbScope::Domain(5)), 0);
    assert_eq!(rig.unit.caches().invalidate_iotlb(IotlbScope::Domain(4)), 6);
}

mod large_pages;
mod structure_caches;

mod malformed {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn random_structures_end_in_a_fault_or_a_translation(
            ctx in proptest::array::uniform4(any::<u64>()),
            dir in any::<u64>(),
            pe in proptest::array::uniform8(any::<u64>()),
            pasid in proptest::option::of(0u32..1 << 20),
            addr in any::<u64>(),
            write in any::<bool>(),
            privileged in any::<bool>(),
        ) {
            let rig = Rig::new();
            let ctx_at = {
                let root = ScalableRootEntry::read(&*rig.mem, rig.unit_root() + u64::from(SID >> 8) * 16).unwrap();
                root.context_entry_address(SID as u8).unwrap()
            };
            // Random context entry, but keep its directory pointer inside memory half the time.
            let mut c = ctx;
            if c[0] & 1 == 0 { c[0] = (c[0] & 0xfff) | (rig.pasid_table - 0x1000); }
            for (i, w) in c.iter().enumerate() { rig.mem.store_u64(ctx_at + 8 * i as u64, *w).unwrap(); }
            // A random directory entry 0 (the directory is the page below the PASID table);
            // keep it pointing at the PASID table half the time.
            let dir_entry = if dir & 2 == 0 { (dir & 0xfff) | rig.pasid_table } else { dir };
            rig.mem.store_u64(rig.pasid_table - 0x1000, dir_entry).unwrap();
            for (i, w) in pe.iter().enumerate() { rig.mem.store_u64(rig.pasid_table + 8 * i as u64, *w).unwrap(); }
            let access = Access { write, exec: false, privileged };
            match rig.unit.translate(Request { sid: SID, pasid, addr, access }) {
                Ok(t) => prop_assert!(t.len > 0 && t.len <= 1 << 30),
                Err(f) => prop_assert!(FaultReason::from_code(f.reason.code()).is_some()),
            }
        }
    }
}

impl Rig {
    fn unit_root(&self) -> u64 {
        // The root table is the first page the rig allocated.
        self.alloc.base()
    }
}

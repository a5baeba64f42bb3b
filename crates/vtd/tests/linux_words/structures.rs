//! The context and PASID entries Linux writes, for the configurations it uses: accepted by
//! the unit's checks, decoded to the fields Linux set, and a DMA through each translates as
//! Linux intended.

use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::{Access, PageTable, Prot};
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::model::ModelCaps;
use softiommu_vtd::regs::VtdParams;
use softiommu_vtd::structs::{ContextEntry, Fspm, PasidEntry, Pgtt, StructCaps};

use crate::invalidations::rig;
use crate::linux::{FLPT_DEFAULT_DID, context, pasid};
use crate::rig::{FS_TABLES, Rig, SID, dma};

/// The structure checks of the default unit.
fn caps() -> StructCaps {
    ModelCaps::from_params(&VtdParams::default())
        .unwrap()
        .structs
}

#[test]
fn context_entries() {
    let caps = caps();
    // (ATS, PASID, PRI) as Linux finds them on a device (PRI only with ATS), and the PASID
    // table sizes it allocates: one page at least (2^15 PASIDs), 2^20 at most.
    for (ats, has_pasid, pri) in [
        (false, false, false),
        (true, false, false),
        (false, true, false),
        (true, true, false),
        (true, true, true),
    ] {
        for (max_pasid, pdts) in [(1u32 << 15, 2u8), (1 << 17, 4), (1 << 20, 7)] {
            let dev = context::Device {
                dir: 0x45_6000,
                max_pasid,
                ats,
                pasid: has_pasid,
                pri,
                rid_priv: false,
            };
            let e = ContextEntry::from_words(context::sm_entry(&dev));
            assert_eq!(e.check(&caps), Ok(()), "{dev:?}");
            let q = e.qw0;
            assert!(q.p() && !q.fpd());
            assert_eq!((q.dte(), q.paside(), q.pre()), (ats, has_pasid, pri));
            assert_eq!((q.pdts(), e.pasid_dir()), (pdts, 0x45_6000));
            assert_eq!(e.pasid_dir_entries(), max_pasid >> 6);
            assert_eq!((e.qw1.rid_pasid(), e.qw1.rid_priv()), (0, false));
        }
    }
    // Older kernels set bit 84 (RID_PRIV) along with RID_PASID. Rev 5.x of the
    // specification makes it RID_PRIV, reserved unless ECAP.RPRIVS; this unit reports
    // RPRIVS=0, so the model faults such an entry with SCT.3 (a unit with RPRIVS takes it).
    let old = context::Device {
        dir: 0x45_6000,
        max_pasid: 1 << 20,
        ats: true,
        pasid: true,
        pri: true,
        rid_priv: true,
    };
    let e = ContextEntry::from_words(context::sm_entry(&old));
    assert_eq!(e.check(&caps), Err(FaultReason::Sct3));
    assert_eq!(
        e.check(&StructCaps {
            rprivs: true,
            ..caps
        }),
        Ok(())
    );
}

/// Linux's AGAW on the default unit (SAGAW 0110b): 48-bit, 4-level.
const AGAW: u64 = 2;
const IOVA: u64 = 0x40_0000;
const PA: u64 = 0x120_0000;
/// The PASID of the entries under test (RID_PASID 0 for the second-stage RID entry).
const P: u32 = 12;

/// A first-stage table (4- or 5-level) mapping one page at [`IOVA`] to [`PA`].
fn fs_table(r: &Rig, levels: u8) -> u64 {
    let f = X86::new(X86Config {
        levels,
        ..X86Config::default()
    })
    .unwrap();
    let mut t = PageTable::new(f, r.alloc.clone()).unwrap();
    t.map(IOVA, PA, 0x1000, Prot::RW).unwrap();
    let root = t.root();
    std::mem::forget(t);
    root
}

/// A second-stage table (4-level) mapping one page at [`IOVA`] to [`PA`].
fn ss_table(r: &Rig) -> u64 {
    let mut t = r.ss_table(false);
    t.map(IOVA, PA, 0x1000, Prot::RW).unwrap();
    let root = t.root();
    std::mem::forget(t);
    root
}

/// The default unit's checks, with supervisor requests (ECAP.SRS).
fn with_srs() -> StructCaps {
    StructCaps {
        srs: true,
        ..caps()
    }
}

/// Writes `e` at PASID `p`: the unit faults a request through it with SPT.3 (a reserved
/// field set), and a unit that also reports `more` takes it.
fn reserved_here(r: &Rig, p: u32, e: &pasid::Entry, more: StructCaps) {
    r.put_pasid(p, e);
    let f = r
        .translate(dma(SID, Some(p), IOVA, Access::READ))
        .unwrap_err();
    assert_eq!(f.reason, FaultReason::Spt3);
    assert_eq!(PasidEntry::from_words(*e).check(&more), Ok(()));
}

/// Checks the entry at PASID `p` as the unit does and translates a read and a write of
/// [`IOVA`] + 0x123 through it.
fn translates(r: &Rig, p: Option<u32>, e: &pasid::Entry, to: u64) -> PasidEntry {
    r.put_pasid(p.unwrap_or(0), e);
    let d = PasidEntry::from_words(*e);
    assert_eq!(d.check(&caps()), Ok(()), "{e:#x?}");
    for access in [Access::READ, Access::WRITE] {
        let t = r.translate(dma(SID, p, IOVA + 0x123, access)).unwrap();
        assert_eq!(t.pa, to + 0x123, "{access:?} through {e:#x?}");
    }
    d
}

#[test]
fn second_stage_entries() {
    for dirty in [false, true] {
        let r = rig();
        let e = pasid::second_level(ss_table(&r), AGAW, 7, true, dirty);
        let d = translates(&r, None, &e, PA);
        assert_eq!(
            (d.qw0.pgtt(), d.qw0.aw(), d.qw0.ssade()),
            (Pgtt::SecondStage, 2, dirty)
        );
        assert_eq!((d.qw1.did(), d.qw1.pwsnp(), d.qw0.fpd()), (7, true, false));
        assert_eq!(d.ss_table() >> 12, e[0] >> 12);
        // Older kernels also set PGSNP for unmanaged domains (accepted: the unit has snoop
        // control) and SRE for entries other than RID_PASID. SRE is reserved unless
        // ECAP.SRS, which this unit does not report: the model faults the entry with SPT.3,
        // and a unit with SRS takes it.
        let mut old = e;
        pasid::set_pgsnp(&mut old);
        translates(&r, Some(P), &old, PA);
        pasid::set_sre(&mut old);
        reserved_here(&r, P + 1, &old, with_srs());
    }
}

#[test]
fn first_stage_entries() {
    for (levels, fl5lp) in [(4u8, false), (5, true)] {
        for page_snoop in [false, true] {
            let r = rig();
            let flags = pasid::FlFlags {
                fl5lp,
                page_snoop,
                pwsnp: true,
            };
            let e = pasid::first_level(fs_table(&r, levels), 9, AGAW, flags);
            let d = translates(&r, Some(P), &e, PA);
            assert_eq!(
                (d.qw0.pgtt(), d.qw0.aw(), d.qw1.did()),
                (Pgtt::FirstStage, 2, 9)
            );
            let fspm = if fl5lp {
                Fspm::FiveLevel
            } else {
                Fspm::FourLevel
            };
            assert_eq!(
                (d.qw2.fspm(), d.qw1.pgsnp(), d.qw1.pwsnp()),
                (fspm, page_snoop, true)
            );
            assert_eq!(d.fs_table() >> 12, e[2] >> 12);
            // Kernels before 6.x set NXE (bit 133) in every first-level entry; rev 5.x makes
            // it ignored, and the entry translates the same.
            let mut old = e;
            pasid::set_nxe(&mut old);
            translates(&r, Some(P + 1), &old, PA);
        }
    }
}

#[test]
fn pass_through_entries() {
    let r = rig();
    let e = pasid::pass_through(AGAW, true);
    let d = translates(&r, None, &e, IOVA);
    assert_eq!(
        (d.qw0.pgtt(), d.qw0.aw(), d.qw1.did()),
        (Pgtt::PassThrough, 2, FLPT_DEFAULT_DID)
    );
    assert!(d.qw1.pwsnp());
    translates(&r, Some(P), &e, IOVA);
    // Kernels before 6.x set SRE in pass-through entries: SPT.3 on this unit (no SRS), as
    // for second-stage entries above.
    let mut old = e;
    pasid::set_sre(&mut old);
    reserved_here(&r, P + 1, &old, with_srs());
}

#[test]
fn sva_entries() {
    for (levels, la57) in [(4u8, false), (5, true)] {
        let r = rig();
        let e = pasid::sva(fs_table(&r, levels), AGAW, la57);
        let d = translates(&r, Some(P), &e, PA);
        assert_eq!(
            (d.qw0.pgtt(), d.qw1.did(), d.qw1.pwsnp()),
            (Pgtt::FirstStage, FLPT_DEFAULT_DID, true)
        );
        assert_eq!(d.qw2.fspm() == Fspm::FiveLevel, la57);
    }
}

#[test]
fn nested_entries() {
    for dirty in [false, true] {
        let r = rig();
        // The guest's first stage maps IOVA to guest-physical 16 MiB, its table pages at the
        // same guest-physical addresses; the parent's second stage maps those and 16 MiB to
        // PA.
        let mut fs = r.guest_fs_table();
        fs.map(IOVA, 16 << 20, 0x1000, Prot::RW).unwrap();
        assert_eq!(fs.root(), FS_TABLES);
        let mut ss = r.ss_table(dirty);
        ss.map(16 << 20, PA, 0x1000, Prot::RW).unwrap();
        ss.map(FS_TABLES, FS_TABLES, 0x4000, Prot::RW).unwrap();
        let s1 = pasid::S1 {
            pgtbl: fs.root(),
            ..pasid::S1::default()
        };
        let e = pasid::nested(s1, ss.root(), AGAW, 11, true, false, dirty);
        let d = translates(&r, Some(P), &e, PA);
        assert_eq!(
            (d.qw0.pgtt(), d.qw0.aw(), d.qw0.ssade()),
            (Pgtt::Nested, 2, dirty)
        );
        assert_eq!(
            (d.qw1.did(), d.qw1.pwsnp(), d.fs_table()),
            (11, true, FS_TABLES)
        );
        assert_eq!(d.ss_table(), ss.root());
        // Force-snooping parents add PGSNP: accepted.
        let snoop = pasid::nested(s1, ss.root(), AGAW, 11, true, true, dirty);
        translates(&r, Some(P + 1), &snoop, PA);
        // A guest that asks for SRE (and WPE) or EAFE gets them only from a unit that reports
        // SRS or EAFS; this one reports neither, so the model faults such an entry with
        // SPT.3, and a unit reporting them takes it.
        for s1 in [
            pasid::S1 {
                sre: true,
                wpe: true,
                ..s1
            },
            pasid::S1 { eafe: true, ..s1 },
        ] {
            let e = pasid::nested(s1, ss.root(), AGAW, 11, true, false, dirty);
            let full = StructCaps {
                srs: true,
                eafs: true,
                ..caps()
            };
            reserved_here(&r, P + 2, &e, full);
            let d = PasidEntry::from_words(e);
            assert_eq!(
                (d.qw2.sre(), d.qw2.wpe(), d.qw2.eafe()),
                (s1.sre, s1.wpe, s1.eafe)
            );
        }
        std::mem::forget((fs, ss));
    }
}

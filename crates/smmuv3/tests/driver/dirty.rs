//! Dirty tracking with hardware updates of stage-1 dirty state (IDR0.HTTU = 0b10): CD.HA and
//! CD.HD, leaves mapped writable-clean, DMA writes read back and cleared through the core.

use std::collections::BTreeSet;

use proptest::prelude::*;
use softiommu_core::testing::{DEV, Platform};
use softiommu_core::{CoreError, DeviceId, Domain, Gather, IommuDriver, PagingRequest};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::{Access, DirtyBitmap, Prot};
use softiommu_smmuv3::cd::{Cd, CdLocation, L1Cd, Substream, locate_cd};
use softiommu_smmuv3::regs::{Httu, SmmuParams};

use crate::common::{SmmuHarness, Unit};
use crate::tables::ste_of;

const IOVA: u64 = 0x10_0000;
/// Pages of 4 KiB the tests map.
const PAGES: u64 = 32;
const SIZE: u64 = PAGES << 12;

const DIRTY: PagingRequest = PagingRequest {
    nest_parent: false,
    dirty_tracking: true,
    pasid: false,
};

/// The pages of `[IOVA, IOVA + SIZE)` `d` reports dirty, cleaning them with `clear`.
fn dirty(d: &Domain, clear: bool) -> Vec<u64> {
    let mut bm = DirtyBitmap::new(IOVA, SIZE, 0x1000).unwrap();
    d.read_and_clear_dirty(IOVA, SIZE, &mut bm, clear).unwrap();
    bm.dirty_pages().collect()
}

/// Reads and clears the dirty state of `d`, then flushes as the caller must before trusting
/// the clean state.
fn clear(d: &Domain) -> Vec<u64> {
    let pages = dirty(d, true);
    let mut g = Gather::new();
    g.add(IOVA, IOVA + SIZE);
    d.sync(&mut g);
    pages
}

/// The CD `dev`'s RID translates through, read as the SMMU finds it.
fn rid_cd(p: &Platform, u: &Unit, dev: DeviceId) -> Cd {
    let ste = ste_of(p, u, dev);
    let at = match locate_cd(&ste, Substream::Index(0)).unwrap() {
        CdLocation::Cd(at) => at,
        CdLocation::Level1 {
            desc,
            leaf_index,
            leaf_bits,
            ..
        } => L1Cd::read(&**p.mem(), desc)
            .unwrap()
            .cd_address(leaf_index, leaf_bits, 48)
            .unwrap(),
    };
    Cd::read(&**p.mem(), at).unwrap()
}

/// A platform of one full SMMU, a device on it, and a dirty-tracking domain attached at its
/// RID mapping `[IOVA, IOVA + SIZE)`.
fn tracked() -> (
    Platform,
    Vec<std::sync::Arc<Unit>>,
    DeviceId,
    std::sync::Arc<Domain>,
) {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let [a] = p.devices([(0, DEV)]);
    let d = p.iommu.new_paging(a, DIRTY).unwrap();
    p.iommu.attach(a, &d).unwrap();
    let pa = p.alloc(SIZE);
    d.map_sync(IOVA, pa, SIZE, Prot::RW).unwrap();
    (p, units, a, d)
}

#[test]
fn a_dirty_tracking_domain_has_ha_hd_and_reports_dma_writes() {
    let (p, units, a, d) = tracked();
    let u = &units[0];
    assert!(u.driver.caps().dirty_tracking);
    let hd = d
        .with_table(
            |t| matches!(t.format(), Some(AnyFormat::ArmS1(f)) if f.config().hd && f.config().ha),
        )
        .unwrap();
    assert!(hd, "a stage-1 table with hardware dirty state");
    let cd = rid_cd(&p, u, a);
    assert!(cd.dw0.v() && cd.dw0.ha() && cd.dw0.hd());
    assert_eq!(
        dirty(&d, false),
        Vec::<u64>::new(),
        "mapped, not yet written"
    );

    // Reads leave pages clean; writes make them dirty.
    p.dma(a, None, IOVA, Access::READ).unwrap();
    p.dma(a, None, IOVA + 0x1000, Access::WRITE).unwrap();
    p.dma(a, None, IOVA + 0x3008, Access::WRITE).unwrap();
    assert_eq!(dirty(&d, false), vec![IOVA + 0x1000, IOVA + 0x3000]);
    // A read of a clean page cached it clean: the write that follows is still recorded.
    p.dma(a, None, IOVA, Access::WRITE).unwrap();
    assert_eq!(clear(&d), vec![IOVA, IOVA + 0x1000, IOVA + 0x3000]);
    assert_eq!(dirty(&d, false), Vec::<u64>::new());
    // Cleared pages, cached dirty before, are recorded again on the next write.
    p.dma(a, None, IOVA + 0x1000, Access::READ).unwrap();
    assert_eq!(dirty(&d, false), Vec::<u64>::new());
    p.dma(a, None, IOVA + 0x1000, Access::WRITE).unwrap();
    p.dma(a, None, IOVA + 0x2000, Access::WRITE).unwrap();
    assert_eq!(clear(&d), vec![IOVA + 0x1000, IOVA + 0x2000]);
    assert_eq!(u.unit.stale_count(), 0);

    // A domain without dirty tracking: no HA/HD, and no dirty report.
    let plain = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    p.iommu.replace(a, &plain).unwrap();
    let cd = rid_cd(&p, u, a);
    assert!(!cd.dw0.ha() && !cd.dw0.hd());
    let mut bm = DirtyBitmap::new(IOVA, SIZE, 0x1000).unwrap();
    assert!(matches!(
        plain.read_and_clear_dirty(IOVA, SIZE, &mut bm, true),
        Err(CoreError::NotSupported(_))
    ));
}

#[test]
fn clearing_is_invalidated_by_address_at_the_leaves() {
    let (p, units, a, d) = tracked();
    let u = &units[0];
    p.dma(a, None, IOVA + 0x5000, Access::WRITE).unwrap();
    let before = u.unit.stats();
    assert_eq!(clear(&d), vec![IOVA + 0x5000]);
    let after = u.unit.stats();
    // One batch of CMD_TLBI_NH_VA (opcode 0x12), not an ASID-wide invalidation (0x11).
    assert_eq!(after.tlbi_batches - before.tlbi_batches, 1);
    assert!(after.commands.get(0x12) > before.commands.get(0x12));
    assert_eq!(after.commands.get(0x11), before.commands.get(0x11));
    p.dma(a, None, IOVA + 0x5000, Access::WRITE).unwrap();
    assert_eq!(dirty(&d, false), vec![IOVA + 0x5000]);
    assert_eq!(u.unit.stale_count(), 0);
}

#[test]
fn without_the_flush_a_write_hits_the_stale_dirty_entry() {
    let (p, units, a, d) = tracked();
    let u = &units[0].unit;
    p.dma(a, None, IOVA, Access::WRITE).unwrap();
    // Cleared but not flushed: the TLB still holds the entry as dirty, and the write that
    // hits it does not mark the page (what the flush after clearing is for). The checking
    // mode's walk leaves the flags alone and reports the hit.
    assert_eq!(dirty(&d, true), vec![IOVA]);
    assert_eq!(u.stale_count(), 0);
    p.dma(a, None, IOVA, Access::WRITE).unwrap();
    assert_eq!(dirty(&d, false), Vec::<u64>::new());
    let stale = u.stale_reports();
    assert_eq!(stale.len(), 1);
    assert!(stale[0].flags_cleared);
    assert_eq!(stale[0].fresh, Ok(stale[0].cached));
    assert_eq!(stale[0].request.addr, IOVA);
    // The flush makes the next write miss and mark the page.
    let mut g = Gather::new();
    g.add(IOVA, IOVA + 0x1000);
    d.sync(&mut g);
    p.dma(a, None, IOVA, Access::WRITE).unwrap();
    assert_eq!(dirty(&d, false), vec![IOVA]);
}

#[test]
fn dirty_tracking_is_refused_without_coherent_httu_dirty_or_at_stage_2() {
    let mut access_only = SmmuParams::full();
    access_only.httu = Httu::Access;
    let (p, units) = SmmuHarness::build(&[access_only, SmmuParams::full()]);
    let [a, b] = p.devices([(0, DEV), (1, DEV)]);
    let u = &units[0];
    assert!(!u.driver.caps().dirty_tracking);
    assert!(matches!(
        p.iommu.new_paging(a, DIRTY),
        Err(CoreError::NotSupported(_))
    ));
    assert!(matches!(
        u.driver.alloc_table(&DIRTY, p.iommu.tables()),
        Err(CoreError::NotSupported(_))
    ));
    // A dirty-tracking table made on an SMMU with HTTU is not one this SMMU updates.
    let d = p.iommu.new_paging(b, DIRTY).unwrap();
    assert!(u.driver.check_domain(&d).is_err());
    assert!(p.iommu.attach(a, &d).is_err());
    // Stage 2 has no dirty tracking here, even with HTTU.
    let s2 = PagingRequest {
        nest_parent: true,
        ..DIRTY
    };
    assert!(matches!(
        p.iommu.new_paging(b, s2),
        Err(CoreError::NotSupported(_))
    ));
    // Nor on an SMMU whose table accesses are not coherent, nor on one without stage 1.
    let mut not_coherent = SmmuParams::full();
    not_coherent.coherent = false;
    let mut s2_only = SmmuParams::full();
    s2_only.stage1 = false;
    s2_only.hyp = false;
    s2_only.two_level_cd = false;
    for params in [not_coherent, s2_only] {
        let (q, units) = SmmuHarness::build(&[params]);
        let [c] = q.devices([(0, DEV)]);
        assert!(!units[0].driver.caps().dirty_tracking);
        assert!(matches!(
            q.iommu.new_paging(c, DIRTY),
            Err(CoreError::NotSupported(_))
        ));
    }
}

/// One step of a device and its dirty-tracking user.
#[derive(Debug, Clone)]
enum Op {
    /// A DMA access to page `n`.
    Dma { page: u64, write: bool },
    /// Read the dirty pages, clearing them (and flushing) with `clear`.
    Read { clear: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..PAGES, any::<bool>()).prop_map(|(page, write)| Op::Dma { page, write }),
        1 => any::<bool>().prop_map(|clear| Op::Read { clear }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn dirty_pages_match_a_model_of_dma_writes(ops in prop::collection::vec(op(), 1..60)) {
        let (p, units, a, d) = tracked();
        let mut model = BTreeSet::new();
        for o in ops {
            match o {
                Op::Dma { page, write } => {
                    let iova = IOVA + (page << 12) + 8;
                    let access = if write { Access::WRITE } else { Access::READ };
                    p.dma(a, None, iova, access).unwrap();
                    if write {
                        model.insert(IOVA + (page << 12));
                    }
                }
                Op::Read { clear: c } => {
                    let got = if c { clear(&d) } else { dirty(&d, false) };
                    prop_assert_eq!(got, model.iter().copied().collect::<Vec<_>>());
                    if c {
                        model.clear();
                    }
                }
            }
        }
        prop_assert_eq!(dirty(&d, false), model.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(units[0].unit.stale_count(), 0);
    }
}

#[test]
fn a_write_after_a_read_marks_the_page_even_when_the_read_filled_the_tlb() {
    let (p, units, a, d) = tracked();
    // No checking walks: the TLB alone answers hits.
    units[0].unit.set_checking(false);
    p.dma(a, None, IOVA + 0x1000, Access::READ).unwrap();
    p.dma(a, None, IOVA + 0x1000, Access::READ).unwrap();
    assert_eq!(dirty(&d, false), Vec::<u64>::new());
    p.dma(a, None, IOVA + 0x1000, Access::WRITE).unwrap();
    assert_eq!(dirty(&d, false), vec![IOVA + 0x1000]);
    assert_eq!(clear(&d), vec![IOVA + 0x1000]);
    p.dma(a, None, IOVA + 0x1000, Access::READ).unwrap();
    p.dma(a, None, IOVA + 0x1000, Access::WRITE).unwrap();
    assert_eq!(dirty(&d, false), vec![IOVA + 0x1000]);
}

//! Dirty tracking: second-stage domains with SSADE, and units without SSADS.

use super::*;
use softiommu_core::{Gather, IommuDriver};
use softiommu_pgtable::DirtyBitmap;
use softiommu_vtd::structs::Pgtt;

const IOVA: u64 = 0x10_0000;
const SIZE: u64 = 0x4000;

/// The pages of `[IOVA, IOVA + SIZE)` the domain reports dirty, cleaning them with `clear`.
fn dirty(d: &softiommu_core::Domain, clear: bool) -> Vec<u64> {
    let mut bm = DirtyBitmap::new(IOVA, SIZE, 0x1000).unwrap();
    d.read_and_clear_dirty(IOVA, SIZE, &mut bm, clear).unwrap();
    bm.dirty_pages().collect()
}

#[test]
fn a_dirty_tracking_domain_has_ssade_and_reports_dma_writes() {
    let r = rig(VtdParams::default());
    assert!(r.driver.caps().dirty_tracking);
    let (dev, rid) = (r.devs[0], r.rid(0));
    let d = r
        .iommu
        .new_paging(
            dev,
            PagingRequest {
                dirty_tracking: true,
                ..Default::default()
            },
        )
        .unwrap();
    let ad = d
        .with_table(|t| matches!(t.format(), Some(AnyFormat::VtdSs(f)) if f.config().ad))
        .unwrap();
    assert!(ad, "a second-stage table with accessed and dirty bits");
    r.iommu.attach(dev, &d).unwrap();
    let e = r.pasid_entry(rid, 0).unwrap();
    assert_eq!(e.qw0.pgtt(), Pgtt::SecondStage);
    assert!(e.qw0.ssade());
    d.map_sync(IOVA, 0x30_0000, SIZE, Prot::RW).unwrap();
    assert_eq!(
        dirty(&d, false),
        Vec::<u64>::new(),
        "mapped, not yet written"
    );

    // Reads leave pages clean; writes make them dirty.
    r.iommu.dma(dev, None, IOVA, Access::READ).unwrap();
    r.iommu
        .dma(dev, None, IOVA + 0x1000, Access::WRITE)
        .unwrap();
    r.iommu
        .dma(dev, None, IOVA + 0x3008, Access::WRITE)
        .unwrap();
    assert_eq!(dirty(&d, false), vec![IOVA + 0x1000, IOVA + 0x3000]);
    // Read and clear, then flush as the caller must: clean until written again.
    assert_eq!(dirty(&d, true), vec![IOVA + 0x1000, IOVA + 0x3000]);
    let mut g = Gather::new();
    g.add(IOVA, IOVA + SIZE);
    d.sync(&mut g);
    assert_eq!(dirty(&d, false), Vec::<u64>::new());
    r.iommu.dma(dev, None, IOVA + 0x1000, Access::READ).unwrap();
    assert_eq!(dirty(&d, false), Vec::<u64>::new());
    r.iommu
        .dma(dev, None, IOVA + 0x1000, Access::WRITE)
        .unwrap();
    r.iommu
        .dma(dev, None, IOVA + 0x2000, Access::WRITE)
        .unwrap();
    assert_eq!(dirty(&d, true), vec![IOVA + 0x1000, IOVA + 0x2000]);
    assert_eq!(r.unit.stale_count(), 0);

    // A domain without dirty tracking: no SSADE, and no dirty report.
    let plain = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    r.iommu.replace(dev, &plain).unwrap();
    assert!(!r.pasid_entry(rid, 0).unwrap().qw0.ssade());
    let mut bm = DirtyBitmap::new(IOVA, SIZE, 0x1000).unwrap();
    assert!(matches!(
        plain.read_and_clear_dirty(IOVA, SIZE, &mut bm, true),
        Err(CoreError::NotSupported(_))
    ));
}

#[test]
fn dirty_tracking_is_refused_on_a_unit_without_ssads() {
    let r = rig(VtdParams {
        ss_ad: false,
        ..VtdParams::default()
    });
    assert!(!r.driver.caps().dirty_tracking);
    let req = PagingRequest {
        dirty_tracking: true,
        ..Default::default()
    };
    assert!(matches!(
        r.iommu.new_paging(r.devs[0], req),
        Err(CoreError::NotSupported(_))
    ));
    assert!(matches!(
        r.driver.alloc_table(&req, &r.alloc),
        Err(CoreError::NotSupported(_))
    ));
    // A dirty-tracking table made elsewhere is not one this unit walks.
    let other = rig(VtdParams::default());
    let d = other.iommu.new_paging(other.devs[0], req).unwrap();
    assert!(r.driver.check_domain(&d).is_err());
}

#[test]
fn a_write_after_a_read_marks_the_page_even_when_the_read_filled_the_iotlb() {
    let r = rig(VtdParams::default());
    // No checking walks: the IOTLB alone answers hits.
    r.unit.set_checking(false);
    let (dev, d) = tracked(&r);
    r.iommu.dma(dev, None, IOVA + 0x1000, Access::READ).unwrap();
    r.iommu.dma(dev, None, IOVA + 0x1000, Access::READ).unwrap();
    assert_eq!(dirty(&d, false), Vec::<u64>::new());
    r.iommu
        .dma(dev, None, IOVA + 0x1000, Access::WRITE)
        .unwrap();
    assert_eq!(dirty(&d, false), vec![IOVA + 0x1000]);
    // Written again after clearing and the flush: marked again.
    assert_eq!(dirty(&d, true), vec![IOVA + 0x1000]);
    let mut g = Gather::new();
    g.add(IOVA, IOVA + SIZE);
    d.sync(&mut g);
    r.iommu.dma(dev, None, IOVA + 0x1000, Access::READ).unwrap();
    r.iommu
        .dma(dev, None, IOVA + 0x1000, Access::WRITE)
        .unwrap();
    assert_eq!(dirty(&d, false), vec![IOVA + 0x1000]);
}

#[test]
fn the_checking_mode_reports_a_dirty_flag_cleared_without_a_flush_and_leaves_it_clear() {
    let r = rig(VtdParams::default());
    let (dev, d) = tracked(&r);
    r.iommu.dma(dev, None, IOVA, Access::WRITE).unwrap();
    // Cleared but not flushed: the IOTLB still holds the entry as dirty, and the write that
    // hits it leaves the page clean. The checking walk sets no flag and reports the hit.
    assert_eq!(dirty(&d, true), vec![IOVA]);
    assert_eq!(r.unit.stale_count(), 0);
    r.iommu.dma(dev, None, IOVA + 8, Access::WRITE).unwrap();
    assert_eq!(dirty(&d, false), Vec::<u64>::new());
    let stale = r.unit.stale_reports();
    assert_eq!(stale.len(), 1);
    assert!(stale[0].flags_cleared);
    assert_eq!(stale[0].fresh, Ok(stale[0].cached));
    assert_eq!(stale[0].request.addr, IOVA + 8);
}

/// A dirty-tracking domain on the rig's first device, `[IOVA, IOVA + SIZE)` mapped.
fn tracked(
    r: &Rig,
) -> (
    softiommu_core::DeviceId,
    std::sync::Arc<softiommu_core::Domain>,
) {
    let dev = r.devs[0];
    let tracked = PagingRequest {
        dirty_tracking: true,
        ..Default::default()
    };
    let d = r.iommu.new_paging(dev, tracked).unwrap();
    r.iommu.attach(dev, &d).unwrap();
    d.map_sync(IOVA, 0x30_0000, SIZE, Prot::RW).unwrap();
    (dev, d)
}

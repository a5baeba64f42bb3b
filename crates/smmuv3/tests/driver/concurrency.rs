//! DMA from several device threads while the driver maps, unmaps and invalidates.

use softiommu_core::testing::DEV;
use softiommu_core::{DmaFaultKind, PagingRequest};
use softiommu_pgtable::Prot;
use softiommu_smmuv3::regs::SmmuParams;

use crate::common::SmmuHarness;

const IOVA: u64 = 0x10_0000;
const CHURN: u64 = 0x80_0000;

#[test]
fn dma_runs_while_other_pages_are_mapped_and_unmapped() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let [a, b] = p.devices([(0, DEV), (0, DEV)]);
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    let buf = p.alloc(0x10000);
    let churn = p.alloc(0x10000);
    d.map_sync(IOVA, buf, 0x10000, Prot::RW).unwrap();
    p.iommu.attach(a, &d).unwrap();
    p.iommu.attach_pasid(b, 3, &d).unwrap();
    std::thread::scope(|s| {
        for (dev, pasid) in [(a, None), (b, Some(3)), (a, None)] {
            let p = &p;
            s.spawn(move || {
                for i in 0..300u64 {
                    let off = (i * 0x48) % 0x10000;
                    assert_eq!(p.pa(dev, pasid, IOVA + off), buf + off);
                    match p.dma(dev, pasid, CHURN + off, softiommu_pgtable::Access::READ) {
                        Ok(t) => assert_eq!(t.pa, churn + off),
                        Err(f) => assert_eq!(f.kind, DmaFaultKind::NotPresent),
                    }
                }
            });
        }
        for _ in 0..50 {
            d.map_sync(CHURN, churn, 0x10000, Prot::RW).unwrap();
            d.unmap_sync(CHURN, 0x10000).unwrap();
        }
    });
    assert_eq!(p.fault_kind(a, None, CHURN), DmaFaultKind::NotPresent);
    // A hit between an unmap and its invalidation is stale, as on hardware; only the pages
    // being unmapped can be.
    for r in units[0].unit.stale_reports() {
        assert!((CHURN..CHURN + 0x10000).contains(&r.request.addr), "{r:?}");
    }
}

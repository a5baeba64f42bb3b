//! Invalidation queue errors: a descriptor the unit refuses is recorded and skipped, and the
//! queue runs on.

use super::*;
use softiommu_vtd::desc::{CcGranularity, CcInv, CcInvQw0};
use softiommu_vtd::regs::{FSTS_REG, Fsts, IQA_REG, IQH_REG, IQT_REG, Iqa, Iqei};

#[test]
fn a_refused_descriptor_is_recorded_skipped_and_later_invalidations_work() {
    let r = rig(VtdParams::default());
    let dev = r.devs[0];
    let d = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    d.map_sync(0x1000, 0x20_0000, 0x2000, Prot::RW).unwrap();
    r.iommu.attach(dev, &d).unwrap();
    r.iommu.dma(dev, None, 0x1000, Access::READ).unwrap();
    assert!(r.driver.queue_errors().is_empty());

    let cc = CcInv {
        qw0: CcInvQw0::new().with_g(CcGranularity::Global),
    }
    .to_words();
    // A context-cache invalidation with reserved bit 12 set, and one with type 11h.
    let reserved = [cc[0] | 1 << 12, 0, 0, 0];
    let bad_type = [cc[0] | 1 << 9, 0, 0, 0];
    let tail = r.unit.mmio_read(IQT_REG, 8);
    // Byte offset of the k-th descriptor from the tail.
    let size = Iqa::from_bits(r.unit.mmio_read(IQA_REG, 8)).size_bytes();
    let at = |k: u64| (tail + 32 * k) % size;
    let err = r.driver.invalidate(&[cc, reserved, cc, bad_type, cc]);
    assert!(matches!(err, Err(CoreError::Driver(_))), "{err:?}");
    let errs = r.driver.queue_errors();
    assert_eq!(errs.len(), 2);
    // IQH stopped at each bad descriptor, and IQERCD said why.
    assert_eq!(errs[0].iqei, Some(Iqei::ReservedField));
    assert_eq!(errs[0].offset, at(1));
    assert_eq!(errs[0].descriptor, reserved);
    assert_eq!(errs[1].iqei, Some(Iqei::InvalidType));
    assert_eq!(errs[1].offset, at(3));
    assert_eq!(errs[1].descriptor, bad_type);
    // Recovered: IQE clear, and the queue ran to its tail (the batch's wait included).
    assert!(!Fsts::from_bits(r.unit.mmio_read(FSTS_REG, 4) as u32).iqe());
    assert_eq!(r.unit.mmio_read(IQH_REG, 8), r.unit.mmio_read(IQT_REG, 8));
    assert_eq!(r.unit.mmio_read(IQT_REG, 8), at(6));

    // Later invalidations work: an unmap reaches the IOTLB.
    r.driver.invalidate(&[cc]).unwrap();
    d.unmap_sync(0x1000, 0x1000).unwrap();
    assert_eq!(
        r.iommu
            .dma(dev, None, 0x1000, Access::READ)
            .unwrap_err()
            .kind,
        DmaFaultKind::NotPresent
    );
    assert_eq!(
        r.iommu.dma(dev, None, 0x2000, Access::READ).unwrap().pa,
        0x20_1000
    );
    assert_eq!(r.driver.queue_errors().len(), 2);
    assert_eq!(r.unit.stale_count(), 0);
}

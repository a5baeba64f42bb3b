//! PASIDs at the core's edge: values wider than 20 bits refused by every call that takes one.

#![allow(clippy::unwrap_used)]

use super::{IOVA, PASID_REQ, mapped};
use crate::testing::harness::{DEV, Harness, InstSpec, PAGE};
use crate::{CoreError, DmaFault, PageRequest};
use softiommu_pgtable::{Access, Prot};

/// A PASID of 2^20 or more is refused by every call that takes one, with
/// [`CoreError::Invalid`] (or a blocked DMA), before any driver sees it: no descriptor or
/// command is built from it, no page response is sent, and nothing changes.
pub fn pasids_wider_than_20_bits_are_refused(h: &dyn Harness) {
    let p = h.platform(&[InstSpec::full()]);
    let [a] = p.devices([(0, DEV)]);
    let mm = p.iommu.new_mm(p.stage1.clone()).unwrap();
    mm.mmap(0x40_0000, 0x1000, Prot::RW).unwrap();
    let pasid = p.iommu.sva_bind(a, &mm).unwrap();
    let (d, _) = mapped(&p, a, PASID_REQ, IOVA, PAGE);
    let used = p.iommu.pasids_in_use();
    for wide in [1 << 20, (1 << 20) + pasid, u32::MAX] {
        let request = |last| PageRequest {
            device: a,
            pasid: Some(wide),
            addr: 0x40_0000,
            access: Access::READ,
            group: 1,
            last,
        };
        let responses = p.page_responses(0).len();
        refused!(p.iommu.page_request(request(false)), CoreError::Invalid(_));
        refused!(p.iommu.page_request(request(true)), CoreError::Invalid(_));
        assert_eq!(p.page_responses(0).len(), responses, "no response sent");
        refused!(
            p.iommu.dma(a, Some(wide), 0x40_0000, Access::READ),
            DmaFault::BLOCKED
        );
        refused!(
            p.iommu
                .dma_with_page_request(a, Some(wide), 0x40_0000, Access::READ),
            DmaFault::BLOCKED
        );
        assert_eq!(p.page_responses(0).len(), responses, "no page request sent");
        refused!(p.iommu.attach_pasid(a, wide, &d), CoreError::Invalid(_));
        refused!(p.iommu.replace_pasid(a, wide, &d), CoreError::Invalid(_));
        refused!(p.iommu.detach_pasid(a, wide), CoreError::Invalid(_));
        refused!(p.iommu.pasid_domain(a, wide), CoreError::Invalid(_));
        refused!(p.iommu.free_pasid(wide), CoreError::Invalid(_));
        refused!(p.iommu.free_private_pasid(a, wide), CoreError::Invalid(_));
    }
    assert_eq!(p.iommu.pasids_in_use(), used);
    // The bound PASID still works, and its page requests are answered.
    let t = p
        .dma_with_page_request(a, Some(pasid), 0x40_0000, Access::READ)
        .unwrap();
    assert_eq!(Some(t.pa), mm.lookup(0x40_0000));
}

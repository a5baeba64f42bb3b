//! PASIDs at the core's edge: values wider than 20 bits refused by every call that takes
//! one, and each PASID changed only by its owner.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

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
        refused!(p.iommu.free_pasid(wide, 1), CoreError::Invalid(_));
        refused!(p.iommu.free_private_pasid(a, wide), CoreError::Invalid(_));
    }
    assert_eq!(p.iommu.pasids_in_use(), used);
    // The bound PASID still works, and its page requests are answered.
    let t = p
        .dma_with_page_request(a, Some(pasid), 0x40_0000, Access::READ)
        .unwrap();
    assert_eq!(Some(t.pa), mm.lookup(0x40_0000));
}

/// A PASID that [`sva_bind`](crate::Iommu::sva_bind) attached is the binding's: detach and
/// replace are refused with [`CoreError::Busy`] (only unbinding detaches it), an SVA domain
/// is attached by binding alone ([`CoreError::Invalid`] elsewhere), and binding and
/// unbinding again find the PASID as the binding left it.
pub fn sva_bound_pasids_stay_with_their_binding(h: &dyn Harness) {
    let p = h.platform(&[InstSpec::full()]);
    let [a, b] = p.devices([(0, DEV), (0, DEV)]);
    const VA: u64 = 0x40_0000;
    let mm = p.iommu.new_mm(p.stage1.clone()).unwrap();
    mm.mmap(VA, 0x2000, Prot::RW).unwrap();
    let pasid = p.iommu.sva_bind(a, &mm).unwrap();
    let sva = p.iommu.pasid_domain(a, pasid).unwrap().unwrap();
    let (user, buf) = mapped(&p, a, PASID_REQ, IOVA, PAGE);
    let other = pasid + 1;
    p.iommu.attach_pasid(a, other, &user).unwrap();

    refused!(p.iommu.detach_pasid(a, pasid), CoreError::Busy(_));
    refused!(p.iommu.replace_pasid(a, pasid, &user), CoreError::Busy(_));
    refused!(p.iommu.attach_pasid(a, pasid, &user), CoreError::Busy(_));
    refused!(p.iommu.attach_pasid(b, pasid, &sva), CoreError::Invalid(_));
    refused!(p.iommu.replace_pasid(a, other, &sva), CoreError::Invalid(_));
    assert!(Arc::ptr_eq(
        &p.iommu.pasid_domain(a, pasid).unwrap().unwrap(),
        &sva
    ));
    assert!(p.iommu.pasid_domain(b, pasid).unwrap().is_none());
    assert_eq!(p.pa(a, Some(other), IOVA), buf);

    // Bound twice, the PASID still translates through the address space.
    assert_eq!(p.iommu.sva_bind(a, &mm).unwrap(), pasid);
    let t = p
        .dma_with_page_request(a, Some(pasid), VA, Access::WRITE)
        .unwrap();
    assert_eq!(Some(t.pa), mm.lookup(VA));
    // The last unbind detaches the binding's PASID and nothing else.
    p.iommu.sva_unbind(a, &mm).unwrap();
    assert_eq!(p.pa(a, Some(pasid), VA), t.pa);
    p.iommu.sva_unbind(a, &mm).unwrap();
    assert!(p.iommu.pasid_domain(a, pasid).unwrap().is_none());
    refused!(p.iommu.sva_unbind(a, &mm), CoreError::Invalid(_));
    assert!(Arc::ptr_eq(
        &p.iommu.pasid_domain(a, other).unwrap().unwrap(),
        &user
    ));
    assert_eq!(p.pa(a, Some(other), IOVA), buf);
    // Now a user PASID like any other: detached and attached at will.
    p.iommu.detach_pasid(a, other).unwrap();
}

/// Each PASID of the global space has one owner: a user (by its token), an address space's
/// SVA bindings, or a device's kernel driver. Only the owner frees it ([`CoreError::Busy`]
/// for anyone else, [`CoreError::Invalid`] for a PASID nobody has), so the space never hands
/// a PASID in use to a second owner; a user attaches neither an address space's PASID nor
/// another device's private one.
pub fn each_pasid_has_one_owner(h: &dyn Harness) {
    let p = h.platform(&[InstSpec::full()]);
    let [a, b] = p.devices([(0, DEV), (0, DEV)]);
    let (me, you) = (1, 2);
    let mine = p.iommu.alloc_pasid(me).unwrap();
    let yours = p.iommu.alloc_pasid(you).unwrap();
    let mm = p.iommu.new_mm(p.stage1.clone()).unwrap();
    let sva = p.iommu.sva_bind(a, &mm).unwrap();
    let private = p.iommu.alloc_private_pasid(a).unwrap();
    let (d, buf) = mapped(&p, a, PASID_REQ, IOVA, PAGE);
    p.iommu.attach_pasid(a, private, &d).unwrap();
    let used = p.iommu.pasids_in_use();
    assert_eq!(used, 4);

    // Nobody frees a PASID another owner has.
    refused!(p.iommu.free_pasid(yours, me), CoreError::Busy(_));
    refused!(p.iommu.free_pasid(sva, me), CoreError::Busy(_));
    refused!(p.iommu.free_pasid(private, me), CoreError::Busy(_));
    refused!(p.iommu.free_private_pasid(a, sva), CoreError::Invalid(_));
    refused!(p.iommu.free_private_pasid(a, mine), CoreError::Invalid(_));
    refused!(
        p.iommu.free_private_pasid(b, private),
        CoreError::Invalid(_)
    );
    assert_eq!(p.iommu.pasids_in_use(), used);
    // So none of them is handed out again while its owner has it.
    let fresh: Vec<_> = (0..8).map(|_| p.iommu.alloc_pasid(me).unwrap()).collect();
    assert!(
        fresh
            .iter()
            .all(|f| ![mine, yours, sva, private].contains(f)),
        "{fresh:?}"
    );
    for f in fresh {
        p.iommu.free_pasid(f, me).unwrap();
    }
    // A user attaches neither an address space's PASID nor another device's private one.
    refused!(p.iommu.attach_pasid(b, sva, &d), CoreError::Busy(_));
    refused!(p.iommu.attach_pasid(b, private, &d), CoreError::Busy(_));
    assert!(p.iommu.pasid_domain(b, sva).unwrap().is_none());
    assert_eq!(p.pa(a, Some(private), IOVA), buf);

    // Each owner frees its own, once.
    p.iommu.free_pasid(mine, me).unwrap();
    refused!(p.iommu.free_pasid(mine, me), CoreError::Invalid(_));
    p.iommu.free_pasid(yours, you).unwrap();
    p.iommu.free_private_pasid(a, private).unwrap();
    assert_eq!(p.iommu.pasids_in_use(), used - 3);
    // The address space keeps its PASID after its last unbind, and binds with it again.
    p.iommu.sva_unbind(a, &mm).unwrap();
    refused!(p.iommu.free_pasid(sva, me), CoreError::Busy(_));
    assert_eq!(p.iommu.sva_bind(b, &mm).unwrap(), sva);
}

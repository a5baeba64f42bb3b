//! Teardown: a platform dropped in any state, in any order with its domains, leaves no
//! domain, driver or table page behind.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Weak};

use super::{IOVA, NEST_PARENT, PASID_REQ, mapped};
use crate::testing::harness::{DEV, Harness, InstSpec, PAGE, Platform};
use crate::{Domain, Mm, NestedData, PagingRequest};
use softiommu_pgtable::{Access, Prot};

/// What is attached when the platform goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    /// Devices, nothing attached.
    Nothing,
    /// A paging domain at a RID, used by DMA.
    Rid,
    /// A paging domain at a PASID, used by DMA.
    Pasid,
    /// A nested domain over a nesting parent.
    Nested,
    /// A process address space bound for SVA, a page faulted in.
    Sva,
    /// All of them at once, the paging domain at RIDs and PASIDs of two devices.
    Everything,
}

/// What the test keeps of a platform's objects while it goes.
#[derive(Default)]
struct Kept {
    domains: Vec<Arc<Domain>>,
    mms: Vec<Arc<Mm>>,
}

/// Builds `held` on `p`; returns the objects the test holds.
fn build(h: &dyn Harness, p: &Platform, held: Held) -> Kept {
    let [a, b, c] = p.devices([(0, DEV), (0, DEV), (0, DEV)]);
    let mut kept = Kept::default();
    let all = held == Held::Everything;
    if held == Held::Rid || all {
        let (d, buf) = mapped(p, a, PagingRequest::default(), IOVA, PAGE);
        p.iommu.attach(a, &d).unwrap();
        assert_eq!(p.pa(a, None, IOVA), buf);
        if all {
            p.iommu.attach_pasid(b, 9, &d).unwrap();
            assert_eq!(p.pa(b, Some(9), IOVA), buf);
        }
        kept.domains.push(d);
    }
    if held == Held::Pasid || all {
        let (d, buf) = mapped(p, b, PASID_REQ, IOVA, PAGE);
        p.iommu.attach_pasid(b, 5, &d).unwrap();
        assert_eq!(p.pa(b, Some(5), IOVA), buf);
        kept.domains.push(d);
    }
    if held == Held::Nested || all {
        let parent = p.iommu.new_paging(c, NEST_PARENT).unwrap();
        let gpa = p.alloc(PAGE);
        parent.map_sync(gpa, gpa, PAGE, Prot::RW).unwrap();
        let nested = if h.nested_pasid_table() {
            let data = NestedData::PasidTable {
                format: p.stage1.clone(),
                root: gpa,
                entries: 8,
                ats: 0,
            };
            let n = p.iommu.new_nested(&parent, data).unwrap();
            p.iommu.attach(c, &n).unwrap();
            n
        } else {
            let data = NestedData::Stage1 {
                format: p.stage1.clone(),
                root: gpa,
            };
            let n = p.iommu.new_nested(&parent, data).unwrap();
            p.iommu.attach_pasid(c, 3, &n).unwrap();
            n
        };
        kept.domains.push(parent);
        kept.domains.push(nested);
    }
    if held == Held::Sva || all {
        const VA: u64 = 0x40_0000;
        let mm = p.iommu.new_mm(p.stage1.clone()).unwrap();
        mm.mmap(VA, 0x2000, Prot::RW).unwrap();
        let pasid = p.iommu.sva_bind(a, &mm).unwrap();
        assert_eq!(p.iommu.sva_bind(b, &mm).unwrap(), pasid);
        p.dma_with_page_request(a, Some(pasid), VA, Access::WRITE)
            .unwrap();
        kept.domains
            .push(p.iommu.pasid_domain(a, pasid).unwrap().unwrap());
        kept.mms.push(mm);
    }
    kept
}

/// Every state of [`Held`], with the devices removed first or not, and the test's domains
/// dropped before or after the platform: afterwards no domain and no driver is alive, and
/// every page the platform's table allocator handed out — domains' tables, process pages,
/// the drivers' own structures — is back.
pub fn teardown_leaves_nothing_behind(h: &dyn Harness) {
    use Held::*;
    for held in [Nothing, Rid, Pasid, Nested, Sva, Everything] {
        for remove_devices in [false, true] {
            for domains_first in [false, true] {
                let case = format!(
                    "{held:?}, devices removed: {remove_devices}, domains first: {domains_first}"
                );
                let p = h.platform(&[InstSpec::full()]);
                let tables = p.iommu.tables().clone();
                let drivers: Vec<_> = p
                    .inst
                    .iter()
                    .map(|&i| p.iommu.driver_weak(i).unwrap())
                    .collect();
                let kept = build(h, &p, held);
                let domains: Vec<Weak<Domain>> = kept.domains.iter().map(Arc::downgrade).collect();
                if remove_devices {
                    let devices: Vec<_> = (0..64)
                        .map(crate::DeviceId)
                        .filter(|&d| p.iommu.device_info(d).is_ok())
                        .collect();
                    for d in devices {
                        p.iommu.remove_device(d).unwrap();
                    }
                }
                if domains_first {
                    drop(kept);
                    drop(p);
                } else {
                    drop(p);
                    drop(kept);
                }
                assert!(
                    domains.iter().all(|d| d.strong_count() == 0),
                    "{case}: a domain outlives everything"
                );
                assert!(
                    drivers.iter().all(|d| d.strong_count() == 0),
                    "{case}: a driver outlives everything"
                );
                assert_eq!(
                    tables.stats().allocated,
                    0,
                    "{case}: table pages still held"
                );
            }
        }
    }
}

//! S8, S9, S11, groups and atomic replace: nested PASID tables, SVA and page faults, private
//! PASIDs, group attachment, and replace failures that change nothing. The ids, and the seed
//! threads each behaviour comes from, are those of `docs/design.md`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{IOVA, NEST_PARENT, PASID_REQ, incompatible, mapped, places};
use crate::testing::harness::{DEV, Harness, InstSpec, PAGE, Platform, Shape};
use crate::{
    Bridge, CoreError, DeviceCaps, DeviceDesc, DeviceId, DmaFault, DmaFaultKind, Domain,
    DomainKind, GroupId, NestedData, PageRequest, PagingRequest, ResponseCode, Topology,
};
use softiommu_mem::PageAlloc;
use softiommu_pgtable::{Access, PageTable, Prot};

/// Guest memory for S8: guest-physical addresses a nesting parent maps.
struct Guest {
    /// Guest-physical = host-physical here: the guest's tables.
    tables: Arc<PageAlloc<crate::Mem>>,
    /// The guest-physical address of the guest's data pages.
    data_gpa: u64,
    /// Where the parent puts them.
    data_hpa: u64,
}

const GUEST_TABLES: u64 = 1 << 20;
const DATA_GPA: u64 = 0x8000_0000;

fn guest(p: &Platform, parent: &Domain, pages: u64) -> Guest {
    let base = p.alloc(GUEST_TABLES);
    parent.map_sync(base, base, GUEST_TABLES, Prot::RW).unwrap();
    let data_hpa = p.alloc(pages * PAGE);
    parent
        .map_sync(DATA_GPA, data_hpa, pages * PAGE, Prot::RW)
        .unwrap();
    Guest {
        tables: Arc::new(PageAlloc::new(p.mem().clone(), base, GUEST_TABLES).unwrap()),
        data_gpa: DATA_GPA,
        data_hpa,
    }
}

/// S8 (seed 004): a nested domain whose stage 1 is a guest-owned PASID table claims the RID
/// and every PASID; PASID attach is refused while it is attached. A single stage-1 table
/// (VT-d style) attaches at a PASID.
pub fn s8_nested_pasid_table_claims_every_pasid(h: &dyn Harness) {
    let p = h.platform(&[
        InstSpec::full(),
        InstSpec::full().shape(Shape::Other),
        InstSpec::full().no_nesting(),
    ]);
    let [a, b, o, plain] = p.devices([(0, DEV), (0, DEV), (1, DEV), (2, DEV)]);
    let nest_parent = NEST_PARENT;
    refused!(
        p.iommu.new_paging(plain, nest_parent),
        CoreError::NotSupported(_)
    );
    let parent = p.iommu.new_paging(a, nest_parent).unwrap();
    let g = guest(&p, &parent, 4);

    // The guest's stage-1 tables, in its memory: PASID 0 (requests without PASID) maps IOVA
    // to its data page 0, PASID 3 to page 1; a third table, for a PASID of b, to page 2.
    let s1 = |page: u64| {
        let mut t = PageTable::new(p.stage1.clone(), g.tables.clone()).unwrap();
        t.map(IOVA, g.data_gpa + page * PAGE, PAGE, Prot::RW)
            .unwrap();
        t
    };
    let (s1_rid, s1_p3, s1_b) = (s1(0), s1(1), s1(2));
    let table = g.tables.alloc(4096).unwrap();
    h.write_pasid_entry(&p, table, 0, s1_rid.root(), true);
    h.write_pasid_entry(&p, table, 3, s1_p3.root(), true);
    // Entry 5 holds a root but is not valid.
    h.write_pasid_entry(&p, table, 5, s1_p3.root(), false);

    let not_parent = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    let data = NestedData::PasidTable {
        format: p.stage1.clone(),
        root: table,
        entries: 8,
        ats: 0,
    };
    refused!(
        p.iommu.new_nested(&not_parent, data.clone()),
        CoreError::Invalid(_)
    );
    let nested = p.iommu.new_nested(&parent, data).unwrap();
    assert!(nested.claims_pasids());
    // Not at a PASID, not on an instance without nesting.
    refused!(p.iommu.attach_pasid(b, 2, &nested), CoreError::Invalid(_));
    assert_eq!(
        incompatible(p.iommu.attach(plain, &nested)),
        (p.inst[2], nested.id())
    );

    if !h.nested_pasid_table() {
        // A driver without user-owned PASID tables (VT-d nests one stage-1 table per PASID
        // entry) refuses to attach one, with its reason, and nothing changes.
        assert_eq!(
            incompatible(p.iommu.attach(a, &nested)),
            (p.inst[0], nested.id())
        );
        assert!(nested.attachments().is_empty());
        assert!(p.iommu.rid_domain(a).unwrap().is_none());
        assert_eq!(p.fault_kind(a, None, IOVA), DmaFaultKind::Blocked);
        // Its nesting is a single stage-1 table over the parent, at the RID or at a PASID.
        let s1_nested = |root: u64| {
            p.iommu
                .new_nested(
                    &parent,
                    NestedData::Stage1 {
                        format: p.stage1.clone(),
                        root,
                    },
                )
                .unwrap()
        };
        let (at_rid, at_pasid) = (s1_nested(s1_rid.root()), s1_nested(s1_b.root()));
        assert!(!at_rid.claims_pasids());
        p.iommu.attach(a, &at_rid).unwrap();
        p.iommu.attach_pasid(b, 6, &at_pasid).unwrap();
        assert_eq!(p.pa(a, None, IOVA + 0x28), g.data_hpa + 0x28);
        assert_eq!(p.pa(b, Some(6), IOVA + 8), g.data_hpa + 2 * PAGE + 8);
        // The parent's changes reach them.
        parent.unmap_sync(g.data_gpa, PAGE).unwrap();
        assert_eq!(p.fault_kind(a, None, IOVA), DmaFaultKind::NotPresent);
        assert_eq!(p.pa(b, Some(6), IOVA + 8), g.data_hpa + 2 * PAGE + 8);
        return;
    }

    // Attached at the RID it translates requests without PASID and with any PASID through
    // the guest's tables, then the parent.
    p.iommu.attach(a, &nested).unwrap();
    assert_eq!(parent.iova_to_phys(g.data_gpa), Some(g.data_hpa));
    assert_eq!(p.pa(a, None, IOVA + 0x28), g.data_hpa + 0x28);
    assert_eq!(p.pa(a, Some(3), IOVA + 0x28), g.data_hpa + PAGE + 0x28);
    p.dma_write(a, Some(3), IOVA + 0x100, b"nested").unwrap();
    assert_eq!(p.read(g.data_hpa + PAGE + 0x100, 6), b"nested");
    // What the guest's tables do not map faults.
    assert_eq!(p.fault_kind(a, None, IOVA + PAGE), DmaFaultKind::NotPresent);
    // An invalid entry, or a PASID past the table: the guest's configuration is at fault,
    // and no page request can fix it.
    for pasid in [5, 9] {
        let f = p.fault(a, Some(pasid), IOVA);
        assert!(
            matches!(f.kind, DmaFaultKind::NotPresent | DmaFaultKind::BadConfig) && !f.recoverable,
            "PASID {pasid}: {f:?}"
        );
    }

    // It claims every PASID: attach there is refused, SVA too, and nothing changes.
    let (q, buf_q) = mapped(&p, a, PASID_REQ, IOVA, PAGE);
    refused!(p.iommu.attach_pasid(a, 7, &q), CoreError::Busy(_));
    refused!(p.iommu.attach_pasid(a, 3, &q), CoreError::Busy(_));
    let mm = p.iommu.new_mm(p.stage1.clone()).unwrap();
    refused!(p.iommu.sva_bind(a, &mm), CoreError::Busy(_));
    assert!(p.iommu.pasid_domain(a, 7).unwrap().is_none());
    assert_eq!(p.pa(a, Some(3), IOVA), g.data_hpa + PAGE);

    // The guest validates entry 5 and invalidates its stage 1.
    h.write_pasid_entry(&p, table, 5, s1_p3.root(), true);
    nested.invalidate_stage1().unwrap();
    assert_eq!(p.pa(a, Some(5), IOVA), g.data_hpa + PAGE);

    // It is not attached where PASIDs are attached.
    p.iommu.attach_pasid(b, 4, &q).unwrap();
    refused!(p.iommu.attach(b, &nested), CoreError::Busy(_));
    assert!(p.iommu.rid_domain(b).unwrap().is_none());
    assert_eq!(p.fault_kind(b, None, IOVA), DmaFaultKind::Blocked);
    assert_eq!(p.pa(b, Some(4), IOVA), buf_q);

    // A single stage-1 table over the same parent attaches at a PASID, where the driver
    // nests one stage-1 table; a driver that nests only whole tables refuses it.
    let s1_only = p
        .iommu
        .new_nested(
            &parent,
            NestedData::Stage1 {
                format: p.stage1.clone(),
                root: s1_b.root(),
            },
        )
        .unwrap();
    assert!(!s1_only.claims_pasids());
    if h.nested_stage1() {
        p.iommu.attach_pasid(b, 6, &s1_only).unwrap();
        assert_eq!(p.pa(b, Some(6), IOVA + 8), g.data_hpa + 2 * PAGE + 8);
    } else {
        assert_eq!(
            incompatible(p.iommu.attach_pasid(b, 6, &s1_only)),
            (p.inst[0], s1_only.id())
        );
        assert!(p.iommu.pasid_domain(b, 6).unwrap().is_none());
    }

    // A replace that fails leaves the nested domain attached and translating as before.
    let other = p.iommu.new_paging(o, PagingRequest::default()).unwrap();
    assert_eq!(
        incompatible(p.iommu.replace(a, &other)),
        (p.inst[0], other.id())
    );
    let sva_domain = {
        p.iommu.sva_bind(b, &mm).unwrap();
        p.iommu
            .pasid_domain(b, mm.pasid().unwrap())
            .unwrap()
            .unwrap()
    };
    refused!(p.iommu.replace(a, &sva_domain), CoreError::Invalid(_));
    assert_eq!(p.iommu.rid_domain(a).unwrap().unwrap().id(), nested.id());
    assert_eq!(p.pa(a, None, IOVA), g.data_hpa);
    assert_eq!(p.pa(a, Some(3), IOVA), g.data_hpa + PAGE);

    // The parent's changes reach every nested translation over it.
    parent.unmap_sync(g.data_gpa, PAGE).unwrap();
    assert_eq!(p.fault_kind(a, None, IOVA), DmaFaultKind::NotPresent);
    assert_eq!(p.pa(a, Some(3), IOVA), g.data_hpa + PAGE);

    // Replaced by a paging domain, the RID gives the PASIDs back.
    p.iommu.replace(a, &q).unwrap();
    p.iommu.attach_pasid(a, 7, &q).unwrap();
    assert_eq!(p.pa(a, None, IOVA), buf_q);
    assert_eq!(p.pa(a, Some(7), IOVA), buf_q);
    assert_eq!(p.fault_kind(a, Some(3), IOVA), DmaFaultKind::Blocked);
}

/// S9 (seeds 000, 004): a process address space bound to device PASIDs (SVA); missing pages
/// come back as I/O page faults, resolved per page-request group.
pub fn s9_sva_bind_and_io_page_faults(h: &dyn Harness) {
    let p = h.platform(&[InstSpec::full(), InstSpec::full().shape(Shape::Other)]);
    let [a, b, c] = p.devices([(0, DEV), (1, DEV), (0, DEV)]);
    const VA: u64 = 0x40_0000;
    const RO: u64 = 0x80_0000;
    const OUTSIDE: u64 = 0x1000_0000;
    let mm = p.iommu.new_mm(p.stage1.clone()).unwrap();
    mm.mmap(VA, 0x10000, Prot::RW).unwrap();
    mm.mmap(RO, 0x1000, Prot::READ).unwrap();
    refused!(mm.mmap(VA + 0x1000, 0x1000, Prot::RW), CoreError::Busy(_));
    refused!(
        mm.mmap(VA + 0x10001, 0x1000, Prot::RW),
        CoreError::Invalid(_)
    );

    // Two devices (on two instances) bound to one address space use one PASID and one SVA
    // domain.
    let pasid = p.iommu.sva_bind(a, &mm).unwrap();
    assert_eq!(p.iommu.sva_bind(b, &mm).unwrap(), pasid);
    assert_eq!(mm.pasid(), Some(pasid));
    let sva = p.iommu.pasid_domain(a, pasid).unwrap().unwrap();
    assert!(matches!(sva.kind(), DomainKind::Sva(_)));
    assert_eq!(
        p.iommu.pasid_domain(b, pasid).unwrap().unwrap().id(),
        sva.id()
    );
    // An SVA domain is attached at a PASID, never at a RID.
    refused!(p.iommu.attach(c, &sva), CoreError::Invalid(_));
    let pa = Some(pasid);

    // An unpopulated page faults recoverably; the page request populates it.
    let f = p.fault_on(a, pa, VA + 0x10, Access::WRITE);
    assert_eq!(f.kind, DmaFaultKind::NotPresent);
    assert!(f.recoverable);
    let responses = p.page_responses(0).len();
    let t = p
        .dma_with_page_request(a, pa, VA + 0x10, Access::WRITE)
        .unwrap();
    assert_eq!(Some(t.pa), mm.lookup(VA + 0x10));
    let r = p.page_responses(0);
    assert_eq!(r.len(), responses + 1);
    assert_eq!(r.last().unwrap().code, ResponseCode::Success);
    assert_eq!(r.last().unwrap().pasid, pa);
    // The other device sees the same page; its neighbour is a page of its own.
    assert_eq!(p.pa(b, pa, VA + 0x10), t.pa);
    p.dma_write(a, pa, VA + 0x20, b"sva").unwrap();
    assert_eq!(p.dma_read(b, pa, VA + 0x20, 3).unwrap(), b"sva");
    let f = p.fault(b, pa, VA + 0x1010);
    assert!(f.recoverable && f.kind == DmaFaultKind::NotPresent, "{f:?}");
    let t2 = p
        .dma_with_page_request(b, pa, VA + 0x1010, Access::READ)
        .unwrap();
    assert_eq!(Some(t2.pa), mm.lookup(VA + 0x1010));
    assert_ne!(mm.lookup(VA + 0x1000), mm.lookup(VA).map(|x| x + 0x1000));
    assert_eq!(p.pa(a, pa, VA + 0x1010), t2.pa);

    // Outside every mapping, and a write to a read-only one: Invalid.
    let req = |addr, access, group, last| PageRequest {
        device: a,
        pasid: pa,
        addr,
        access,
        group,
        last,
    };
    assert_eq!(
        p.iommu
            .page_request(req(OUTSIDE, Access::READ, 1, true))
            .unwrap(),
        Some(ResponseCode::Invalid)
    );
    assert_eq!(
        p.page_responses(0).last().unwrap().code,
        ResponseCode::Invalid
    );
    refused!(
        p.dma_with_page_request(a, pa, OUTSIDE, Access::READ),
        DmaFault {
            kind: DmaFaultKind::NotPresent,
            ..
        }
    );
    assert_eq!(mm.lookup(OUTSIDE), None);
    let t = p.dma_with_page_request(a, pa, RO, Access::READ).unwrap();
    assert_eq!(Some(t.pa), mm.lookup(RO));
    let f = p.fault_on(a, pa, RO, Access::WRITE);
    assert_eq!(f.kind, DmaFaultKind::Permission);
    assert_eq!(
        p.iommu
            .page_request(req(RO, Access::WRITE, 2, true))
            .unwrap(),
        Some(ResponseCode::Invalid)
    );
    refused!(
        p.dma_with_page_request(a, pa, RO, Access::WRITE),
        DmaFault {
            kind: DmaFaultKind::Permission,
            ..
        }
    );

    // A page-request group is answered once, after its last request.
    let n = p.page_responses(0).len();
    assert_eq!(
        p.iommu
            .page_request(req(VA + 0x2000, Access::WRITE, 3, false))
            .unwrap(),
        None
    );
    assert_eq!(
        p.iommu
            .page_request(req(VA + 0x3000, Access::READ, 3, false))
            .unwrap(),
        None
    );
    assert_eq!(
        p.page_responses(0).len(),
        n,
        "nothing answered before the last request"
    );
    assert_eq!(mm.lookup(VA + 0x2000), None);
    assert_eq!(
        p.iommu
            .page_request(req(VA + 0x4000, Access::READ, 3, true))
            .unwrap(),
        Some(ResponseCode::Success)
    );
    let r = p.page_responses(0);
    assert_eq!(r.len(), n + 1, "exactly one response for the group");
    assert_eq!(
        (r[n].group, r[n].code, r[n].device),
        (3, ResponseCode::Success, a)
    );
    for va in [VA + 0x2000, VA + 0x3000, VA + 0x4000] {
        assert!(mm.lookup(va).is_some());
        assert_eq!(Some(p.pa(a, pa, va)), mm.lookup(va));
    }
    // One bad page makes the whole group Invalid.
    assert_eq!(
        p.iommu
            .page_request(req(VA + 0x5000, Access::READ, 4, false))
            .unwrap(),
        None
    );
    assert_eq!(
        p.iommu
            .page_request(req(OUTSIDE, Access::READ, 4, true))
            .unwrap(),
        Some(ResponseCode::Invalid)
    );
    assert_eq!(p.page_responses(0).len(), n + 2);
    // A page request for a PASID with no address space behind it is Invalid too.
    let other = PageRequest {
        pasid: Some(pasid + 1),
        ..req(VA, Access::READ, 5, true)
    };
    assert_eq!(
        p.iommu.page_request(other).unwrap(),
        Some(ResponseCode::Invalid)
    );

    // munmap takes the pages out of every device's view.
    assert_eq!(p.pa(a, pa, VA + 0x10), mm.lookup(VA + 0x10).unwrap());
    assert!(p.dma(b, pa, VA + 0x10, Access::READ).is_ok());
    mm.munmap(VA, 0x2000).unwrap();
    assert_eq!(mm.lookup(VA), None);
    for dev in [a, b] {
        let f = p.fault(dev, pa, VA + 0x10);
        assert_eq!(f.kind, DmaFaultKind::NotPresent);
        refused!(
            p.dma_with_page_request(dev, pa, VA + 0x1010, Access::READ),
            DmaFault {
                kind: DmaFaultKind::NotPresent,
                ..
            }
        );
    }
    assert_eq!(Some(p.pa(b, pa, VA + 0x2000)), mm.lookup(VA + 0x2000));

    // Binding counts references: the last unbind detaches the PASID.
    assert_eq!(p.iommu.sva_bind(a, &mm).unwrap(), pasid);
    p.iommu.sva_unbind(a, &mm).unwrap();
    assert!(p.dma(a, pa, VA + 0x2000, Access::READ).is_ok());
    p.iommu.sva_unbind(a, &mm).unwrap();
    assert_eq!(p.fault_kind(a, pa, VA + 0x2000), DmaFaultKind::Blocked);
    assert!(p.iommu.pasid_domain(a, pasid).unwrap().is_none());
    assert!(p.dma(b, pa, VA + 0x2000, Access::READ).is_ok());
    refused!(p.iommu.sva_unbind(a, &mm), CoreError::Invalid(_));
    refused!(p.iommu.sva_unbind(c, &mm), CoreError::Invalid(_));
    let mm2 = p.iommu.new_mm(p.stage1.clone()).unwrap();
    refused!(p.iommu.sva_unbind(b, &mm2), CoreError::Invalid(_));

    // Unbound everywhere (the SVA domain goes), then bound again: the same PASID, and one
    // SVA domain again.
    p.iommu.sva_unbind(b, &mm).unwrap();
    let gone = Arc::downgrade(&sva);
    drop(sva);
    assert_eq!(
        gone.strong_count(),
        0,
        "unbound everywhere, the SVA domain is gone"
    );
    assert_eq!(p.fault_kind(b, pa, VA + 0x2000), DmaFaultKind::Blocked);
    assert_eq!(p.iommu.sva_bind(a, &mm).unwrap(), pasid);
    assert_eq!(p.iommu.sva_bind(b, &mm).unwrap(), pasid);
    let da = p.iommu.pasid_domain(a, pasid).unwrap().unwrap();
    let db = p.iommu.pasid_domain(b, pasid).unwrap().unwrap();
    assert_eq!(
        da.id(),
        db.id(),
        "one SVA domain per address space and family"
    );
    assert_eq!(Some(p.pa(a, pa, VA + 0x2000)), mm.lookup(VA + 0x2000));
    assert_eq!(Some(p.pa(b, pa, VA + 0x2000)), mm.lookup(VA + 0x2000));
}

/// S11 (seed 003): kernel drivers take private PASIDs on a device for their own DMA.
pub fn s11_private_pasids_for_kernel_dma(h: &dyn Harness) {
    let p = h.platform(&[
        InstSpec::full(),
        InstSpec::full().pasid_bits(0).no_sva().no_pri(),
    ]);
    let no_pasid = DeviceCaps {
        pasid_bits: 0,
        pri: false,
        ..DEV
    };
    let [a, b, c] = p.devices([(0, DEV), (0, no_pasid), (1, DEV)]);

    let private = p.iommu.alloc_private_pasid(a).unwrap();
    let (k, buf) = mapped(&p, a, PASID_REQ, IOVA, PAGE);
    p.iommu.attach_pasid(a, private, &k).unwrap();
    assert_eq!(p.pa(a, Some(private), IOVA + 4), buf + 4);
    p.dma_write(a, Some(private), IOVA, b"kernel").unwrap();
    assert_eq!(p.read(buf, 6), b"kernel");

    // Private, user and SVA PASIDs come from one space: never the same.
    let user = p.iommu.alloc_pasid(1).unwrap();
    let mm = p.iommu.new_mm(p.stage1.clone()).unwrap();
    let sva = p.iommu.sva_bind(a, &mm).unwrap();
    let private2 = p.iommu.alloc_private_pasid(a).unwrap();
    assert_eq!(
        BTreeSet::from([private, user, sva, private2]).len(),
        4,
        "{private} {user} {sva} {private2}"
    );
    let in_use = p.iommu.pasids_in_use();
    assert_eq!(in_use, 4);

    // Freeing a private PASID detaches it.
    p.iommu.free_private_pasid(a, private).unwrap();
    assert!(p.iommu.pasid_domain(a, private).unwrap().is_none());
    assert_eq!(p.fault_kind(a, Some(private), IOVA), DmaFaultKind::Blocked);
    assert!(k.attachments().is_empty());
    assert_eq!(p.iommu.pasids_in_use(), in_use - 1);
    // Only the device's own private PASIDs are freed this way.
    refused!(
        p.iommu.free_private_pasid(a, private),
        CoreError::Invalid(_)
    );
    refused!(p.iommu.free_private_pasid(a, user), CoreError::Invalid(_));
    refused!(p.iommu.free_private_pasid(a, sva), CoreError::Invalid(_));
    refused!(
        p.iommu.free_private_pasid(c, private2),
        CoreError::Invalid(_)
    );
    assert_eq!(p.iommu.pasids_in_use(), in_use - 1);

    // No PASIDs on the device, or none on its instance: not supported.
    refused!(p.iommu.alloc_private_pasid(b), CoreError::NotSupported(_));
    refused!(p.iommu.alloc_private_pasid(c), CoreError::NotSupported(_));
    assert_eq!(p.iommu.pasids_in_use(), in_use - 1);
}

/// Groups: devices the IOMMU cannot isolate (behind a bridge without ACS, or sharing a DMA
/// alias) share a group, attached and claimed whole.
pub fn groups_are_attached_and_claimed_whole(h: &dyn Harness) {
    let p = h.platform(&[InstSpec::full(), InstSpec::full().shape(Shape::Other)]);
    let alias = p.rid();
    let behind = |bridge, alias| DeviceDesc {
        bridge,
        alias,
        ..p.desc(0, DEV)
    };
    let topo = Topology {
        bridges: vec![Bridge { acs: false }, Bridge { acs: true }],
        devices: vec![
            behind(Some(0), None),
            behind(Some(0), None),
            behind(Some(1), None),
            behind(Some(1), None),
            behind(None, Some(alias)),
            behind(None, Some(alias)),
        ],
    };
    let ids = p.add_topology(&topo).unwrap();
    let [g1, g2, s1, s2, x1, x2] = ids.try_into().unwrap();
    let group = p.iommu.group_of(g1).unwrap();
    assert_eq!(p.iommu.group_of(g2).unwrap(), group);
    assert_eq!(p.iommu.group_devices(group).unwrap(), vec![g1, g2]);
    assert_ne!(p.iommu.group_of(s1).unwrap(), p.iommu.group_of(s2).unwrap());
    assert_eq!(p.iommu.group_of(x1).unwrap(), p.iommu.group_of(x2).unwrap());
    assert_ne!(p.iommu.group_of(x1).unwrap(), group);

    // A device that shares its group is not attached alone, at its RID or at a PASID.
    let (d, buf) = mapped(&p, g1, PagingRequest::default(), IOVA, PAGE);
    refused!(p.iommu.attach(g1, &d), CoreError::Invalid(_));
    refused!(p.iommu.replace(g2, &d), CoreError::Invalid(_));
    refused!(p.iommu.attach_pasid(g1, 1, &d), CoreError::Invalid(_));
    assert!(d.attachments().is_empty());
    p.iommu.attach_group(group, &d).unwrap();
    assert_eq!(p.pa(g1, None, IOVA), buf);
    assert_eq!(p.pa(g2, None, IOVA), buf);
    assert_eq!(places(&d), BTreeSet::from([(g1, None), (g2, None)]));
    // A group refused by its instance stays as it was.
    let [o] = p.devices([(1, DEV)]);
    let other = p.iommu.new_paging(o, PagingRequest::default()).unwrap();
    assert_eq!(
        incompatible(p.iommu.attach_group(group, &other)),
        (p.inst[0], other.id())
    );
    assert_eq!(p.pa(g1, None, IOVA), buf);
    assert_eq!(p.pa(g2, None, IOVA), buf);
    assert!(other.attachments().is_empty());
    // Devices behind an ACS bridge are attached alone.
    p.iommu.attach(s1, &d).unwrap();
    assert_eq!(p.pa(s1, None, IOVA), buf);
    assert_eq!(p.fault_kind(s2, None, IOVA), DmaFaultKind::Blocked);

    // One owner at a time.
    p.iommu.claim_group(group, 1).unwrap();
    p.iommu.claim_group(group, 1).unwrap();
    refused!(p.iommu.claim_group(group, 2), CoreError::Busy(_));
    refused!(p.iommu.release_group(group, 2), CoreError::Busy(_));
    p.iommu.release_group(group, 1).unwrap();
    p.iommu.claim_group(group, 2).unwrap();
    refused!(p.iommu.claim_group(group, 1), CoreError::Busy(_));
    refused!(
        p.iommu.claim_group(GroupId(9999), 1),
        CoreError::NoGroup(GroupId(9999))
    );

    // A requester ID is one device's: a topology that reuses one adds nothing.
    let dup = Topology {
        bridges: Vec::new(),
        devices: vec![
            p.desc(0, DEV),
            DeviceDesc {
                rid: p.iommu.device_info(g1).unwrap().rid,
                ..p.desc(0, DEV)
            },
        ],
    };
    refused!(p.add_topology(&dup), CoreError::Busy(_));
    refused!(
        p.iommu.device_info(DeviceId(x2.0 + 2)),
        CoreError::NoDevice(_)
    );
}

/// Replace is atomic: a replace that fails leaves the old domain attached and working, at the
/// RID and at a PASID.
pub fn a_replace_that_fails_leaves_the_old_domain_working(h: &dyn Harness) {
    let p = h.platform(&[InstSpec::full(), InstSpec::full().shape(Shape::Other)]);
    let [a, o] = p.devices([(0, DEV), (1, DEV)]);
    let (d1, buf1) = mapped(&p, a, PagingRequest::default(), IOVA, PAGE);
    let (d2, buf2) = mapped(&p, a, PagingRequest::default(), IOVA, PAGE);
    let (other, _) = mapped(&p, o, PagingRequest::default(), IOVA, PAGE);
    let parent = p.iommu.new_paging(a, NEST_PARENT).unwrap();
    let claims = p
        .iommu
        .new_nested(
            &parent,
            NestedData::PasidTable {
                format: p.stage1.clone(),
                root: 0,
                entries: 1,
                ats: 0,
            },
        )
        .unwrap();

    p.iommu.attach(a, &d1).unwrap();
    assert_eq!(p.pa(a, None, IOVA), buf1);

    // Refused by the instance: the old domain stays, translating as before.
    assert_eq!(
        incompatible(p.iommu.replace(a, &other)),
        (p.inst[0], other.id())
    );
    assert_eq!(p.iommu.rid_domain(a).unwrap().unwrap().id(), d1.id());
    assert_eq!(p.pa(a, None, IOVA), buf1);
    assert_eq!(places(&d1), BTreeSet::from([(a, None)]));
    assert!(other.attachments().is_empty());
    // Refused by the core: a user PASID table while PASIDs are attached.
    p.iommu.attach_pasid(a, 5, &d1).unwrap();
    refused!(p.iommu.replace(a, &claims), CoreError::Busy(_));
    assert_eq!(p.pa(a, None, IOVA), buf1);
    // A replace that succeeds switches at once.
    p.iommu.replace(a, &d2).unwrap();
    assert_eq!(p.pa(a, None, IOVA), buf2);
    assert_eq!(places(&d1), BTreeSet::from([(a, Some(5))]));
    p.iommu.replace(a, &p.iommu.identity_domain()).unwrap();
    assert_eq!(p.pa(a, None, buf2 + 8), buf2 + 8);
    p.iommu.replace(a, &d2).unwrap();

    // The same at a PASID.
    assert_eq!(
        incompatible(p.iommu.replace_pasid(a, 5, &other)),
        (p.inst[0], other.id())
    );
    assert_eq!(p.pa(a, Some(5), IOVA), buf1);
    refused!(p.iommu.replace_pasid(a, 5, &claims), CoreError::Invalid(_));
    refused!(
        p.iommu.replace_pasid(a, 5, &p.iommu.blocked_domain()),
        CoreError::Invalid(_)
    );
    assert_eq!(p.iommu.pasid_domain(a, 5).unwrap().unwrap().id(), d1.id());
    assert_eq!(p.pa(a, Some(5), IOVA), buf1);
    p.iommu.replace_pasid(a, 5, &d2).unwrap();
    assert_eq!(p.pa(a, Some(5), IOVA), buf2);
    assert!(d1.attachments().is_empty());
    assert_eq!(
        p.iommu.replace_pasid(a, 6, &d2),
        Err(CoreError::NotAttached {
            device: a,
            pasid: Some(6)
        })
    );
}

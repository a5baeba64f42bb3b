//! The behaviours of DESIGN.md (S2–S9, S11, groups, atomic replace), shown through the core's
//! public API on every driver: each test is a function of a [`Harness`], run once per
//! harness by [`behaviour_tests!`](crate::behaviour_tests). Each shows the behaviour and the
//! refusal of the wrong case with its exact error.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use super::harness::{DEV, Harness, InstSpec, PAGE, Platform, Shape};
use crate::{
    Bridge, CoreError, DeviceCaps, DeviceDesc, DeviceId, DmaFault, DmaFaultKind, Domain, DomainId,
    DomainKind, Gather, GroupId, InstanceId, NestedData, PASID_LIMIT, PageRequest, PagingRequest,
    Pasid, ResponseCode, Topology,
};
use softiommu_mem::{AddressSpace, PageAlloc};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::{Access, PageTable, Prot};

/// An IOVA the tests map (below every harness's smallest input range).
const IOVA: u64 = 0x100_0000;

/// Asserts that `$call` returned `Err` matching the pattern.
macro_rules! refused {
    ($call:expr, $($pat:tt)+) => {{
        let r = $call;
        assert!(
            matches!(r, Err($($pat)+)),
            "{}: expected Err({}), got {:?}",
            stringify!($call),
            stringify!($($pat)+),
            r
        );
    }};
}

/// The instance and domain of an `Incompatible` refusal; panics on anything else.
#[track_caller]
fn incompatible<T: std::fmt::Debug>(r: crate::Result<T>) -> (InstanceId, DomainId) {
    match r {
        Err(CoreError::Incompatible {
            instance, domain, ..
        }) => (instance, domain),
        other => panic!("expected Err(Incompatible), got {other:?}"),
    }
}

/// A new paging domain for `dev` with `[iova, iova + size)` mapped read-write to fresh RAM;
/// returns the domain and the RAM's address.
fn mapped(
    p: &Platform,
    dev: DeviceId,
    req: PagingRequest,
    iova: u64,
    size: u64,
) -> (Arc<Domain>, u64) {
    let d = p.iommu.new_paging(dev, req).unwrap();
    let pa = p.alloc(size);
    d.map_sync(iova, pa, size, Prot::RW).unwrap();
    (d, pa)
}

const PASID_REQ: PagingRequest = PagingRequest {
    pasid: true,
    nest_parent: false,
    dirty_tracking: false,
};

/// Where a domain is attached, as (device, PASID) pairs.
fn places(d: &Domain) -> BTreeSet<(DeviceId, Option<Pasid>)> {
    d.attachments()
        .iter()
        .map(|a| (a.device, a.pasid))
        .collect()
}

// ------------------------------------------------------------------------------------------

/// S2 (seed 002): devices can share a domain or each have their own; devices in different
/// domains cannot reach each other's memory; peer-to-peer needs ATS, which the core reports
/// per device.
pub fn s2_devices_share_a_domain_or_not_and_separate_domains_isolate(h: &dyn Harness) {
    let p = h.platform(&[InstSpec::full(), InstSpec::full().no_ats()]);
    let [a, b, c] = p.devices([(0, DEV), (0, DEV), (0, DEV)]);

    // a and b in one domain: both reach its mapping, and see each other's data.
    let (shared, buf) = mapped(&p, a, PagingRequest::default(), IOVA, PAGE);
    p.iommu.attach(a, &shared).unwrap();
    p.iommu.attach(b, &shared).unwrap();
    assert_eq!(places(&shared), BTreeSet::from([(a, None), (b, None)]));
    assert_eq!(p.pa(a, None, IOVA + 0x10), buf + 0x10);
    assert_eq!(p.pa(b, None, IOVA + 0x10), buf + 0x10);
    p.dma_write(a, None, IOVA + 0x100, b"from a").unwrap();
    assert_eq!(p.dma_read(b, None, IOVA + 0x100, 6).unwrap(), b"from a");
    assert_eq!(p.read(buf + 0x100, 6), b"from a");
    // An attached RID is not attached again: it is replaced or detached first.
    refused!(p.iommu.attach(a, &shared), CoreError::Busy(_));

    // c in its own domain: it reaches its own memory and nothing of the shared domain's,
    // and the shared domain's devices reach nothing of c's.
    let iova_c = IOVA + 4 * PAGE;
    let (own, buf_c) = mapped(&p, c, PagingRequest::default(), iova_c, PAGE);
    p.iommu.attach(c, &own).unwrap();
    assert_eq!(p.pa(c, None, iova_c), buf_c);
    assert_eq!(
        p.fault_kind(c, None, IOVA + 0x100),
        DmaFaultKind::NotPresent
    );
    assert_eq!(p.fault_kind(a, None, iova_c), DmaFaultKind::NotPresent);
    assert_eq!(p.fault_kind(b, None, iova_c), DmaFaultKind::NotPresent);
    refused!(
        p.dma_read(c, None, IOVA + 0x100, 6),
        DmaFault {
            kind: DmaFaultKind::NotPresent,
            ..
        }
    );
    p.dma_write(c, None, iova_c, b"from c").unwrap();
    assert_eq!(p.read(buf + 0x100, 6), b"from a");

    // Peer-to-peer: the core offers no peer-to-peer path of its own; it needs ATS (a device
    // translates ahead and sends translated requests), which the core reports per device:
    // only when both the device and the instance behind it have it.
    let [ats_dev, plain_dev, ats_dev_no_ats_iommu] =
        p.devices([(0, DEV), (0, DeviceCaps { ats: false, ..DEV }), (1, DEV)]);
    assert!(p.iommu.device_caps(ats_dev).unwrap().ats);
    assert!(!p.iommu.device_caps(plain_dev).unwrap().ats);
    assert!(!p.iommu.device_caps(ats_dev_no_ats_iommu).unwrap().ats);
    refused!(
        p.iommu.device_caps(DeviceId(9999)),
        CoreError::NoDevice(DeviceId(9999))
    );
}

/// S3 (seeds 002, 003): one domain spans instances of one family with different
/// capabilities; an instance that cannot use its format refuses it; every map and unmap is
/// invalidated on every instance that uses it, and until then the caches hold.
pub fn s3_one_domain_spans_instances_and_every_unmap_is_flushed_everywhere(h: &dyn Harness) {
    let p = h.platform(&[
        InstSpec::full(),
        InstSpec::full()
            .pasid_bits(0)
            .no_sva()
            .no_pri()
            .no_nesting(),
        InstSpec::full().shape(Shape::Narrow),
        InstSpec::full().shape(Shape::Other),
        InstSpec::full(),
    ]);
    let [a, a2, b, n, o, unrelated] =
        p.devices([(0, DEV), (0, DEV), (1, DEV), (2, DEV), (3, DEV), (4, DEV)]);
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();

    // Instances that cannot use the domain refuse it, and nothing changes.
    assert_eq!(incompatible(p.iommu.attach(n, &d)), (p.inst[2], d.id()));
    assert_eq!(incompatible(p.iommu.attach(o, &d)), (p.inst[3], d.id()));
    assert!(d.attachments().is_empty());
    assert!(p.iommu.rid_domain(n).unwrap().is_none());
    assert_eq!(p.fault_kind(n, None, IOVA), DmaFaultKind::Blocked);
    // A domain of the narrow instance fits a full one; the other's fits none.
    let (dn, buf_n) = mapped(&p, n, PagingRequest::default(), IOVA, PAGE);
    p.iommu.attach(n, &dn).unwrap();
    p.iommu.attach(unrelated, &dn).unwrap();
    assert_eq!(p.pa(n, None, IOVA), buf_n);
    assert_eq!(p.pa(unrelated, None, IOVA), buf_n);
    let dother = p.iommu.new_paging(o, PagingRequest::default()).unwrap();
    assert_eq!(
        incompatible(p.iommu.attach(a, &dother)),
        (p.inst[0], dother.id())
    );

    // One domain on two instances (one without PASIDs at all), two devices on the first.
    p.iommu.attach(a, &d).unwrap();
    p.iommu.attach(a2, &d).unwrap();
    p.iommu.attach(b, &d).unwrap();
    let buf = p.alloc(4 * PAGE);
    d.map_sync(IOVA, buf, 4 * PAGE, Prot::RW).unwrap();
    let all = [a, a2, b];
    let before = [0, 1, 2, 3].map(|i| p.stats(i));
    for dev in all {
        assert_eq!(p.pa(dev, None, IOVA + 0x40), buf + 0x40);
        assert_eq!(p.pa(dev, None, IOVA + 0x40), buf + 0x40);
    }
    // Both instances cached the translation: the repeated requests were answered from the
    // TLB.
    for i in [0, 1] {
        if let (Some(s0), Some(s1)) = (before[i], p.stats(i)) {
            assert!(s1.hits > s0.hits, "instance {i} answered from its TLB");
        }
    }

    // An unmap without sync: the tables no longer have the page, but both instances still
    // serve the cached translation, as hardware does until it is invalidated.
    let mut g = Gather::new();
    assert_eq!(d.unmap(IOVA, PAGE, &mut g).unwrap(), PAGE);
    assert_eq!(d.iova_to_phys(IOVA), None);
    assert!(!g.is_empty());
    for dev in all {
        assert_eq!(
            p.pa(dev, None, IOVA + 0x40),
            buf + 0x40,
            "stale until synced"
        );
    }
    // One sync invalidates it on every instance where the domain is attached, once each,
    // and nowhere else.
    let before = [0, 1, 2, 3, 4].map(|i| p.stats(i));
    d.sync(&mut g);
    assert!(g.is_empty());
    let after = [0, 1, 2, 3, 4].map(|i| p.stats(i));
    if let (
        [Some(b0), Some(b1), Some(b2), Some(b3), Some(b4)],
        [Some(f0), Some(f1), Some(f2), Some(f3), Some(f4)],
    ) = (before, after)
    {
        assert_eq!(f0.flushes - b0.flushes, 1, "one flush for two devices");
        assert_eq!(f1.flushes - b1.flushes, 1);
        assert_eq!(
            (
                f2.flushes - b2.flushes,
                f3.flushes - b3.flushes,
                f4.flushes - b4.flushes
            ),
            (0, 0, 0),
            "instances that do not use the domain are left alone"
        );
    }
    for dev in all {
        assert_eq!(
            p.fault_kind(dev, None, IOVA + 0x40),
            DmaFaultKind::NotPresent
        );
        assert_eq!(
            p.pa(dev, None, IOVA + PAGE),
            buf + PAGE,
            "the rest stays mapped"
        );
    }

    // unmap_sync does both at once.
    for dev in all {
        assert_eq!(p.pa(dev, None, IOVA + PAGE), buf + PAGE);
    }
    assert_eq!(d.unmap_sync(IOVA + PAGE, PAGE).unwrap(), PAGE);
    for dev in all {
        assert_eq!(
            p.fault_kind(dev, None, IOVA + PAGE),
            DmaFaultKind::NotPresent
        );
    }

    // Several unmaps gathered, one sync for all.
    for dev in all {
        assert_eq!(p.pa(dev, None, IOVA + 2 * PAGE), buf + 2 * PAGE);
        assert_eq!(p.pa(dev, None, IOVA + 3 * PAGE), buf + 3 * PAGE);
    }
    let mut g = Gather::new();
    d.unmap(IOVA + 2 * PAGE, PAGE, &mut g).unwrap();
    d.unmap(IOVA + 3 * PAGE, PAGE, &mut g).unwrap();
    assert_eq!(
        p.pa(b, None, IOVA + 3 * PAGE),
        buf + 3 * PAGE,
        "stale until synced"
    );
    d.sync(&mut g);
    for dev in all {
        assert_eq!(
            p.fault_kind(dev, None, IOVA + 2 * PAGE),
            DmaFaultKind::NotPresent
        );
        assert_eq!(
            p.fault_kind(dev, None, IOVA + 3 * PAGE),
            DmaFaultKind::NotPresent
        );
    }

    // A new map of the same IOVA elsewhere is seen everywhere at once.
    let buf2 = p.alloc(PAGE);
    d.map_sync(IOVA, buf2, PAGE, Prot::RW).unwrap();
    for dev in all {
        assert_eq!(p.pa(dev, None, IOVA + 0x40), buf2 + 0x40);
    }
    // The map refuses what the domain's format cannot hold.
    refused!(d.map_sync(IOVA, buf2, PAGE, Prot::RW), CoreError::Table(_));
    refused!(d.unmap_sync(IOVA + 8 * PAGE, PAGE), CoreError::Table(_));
}

/// S4 (seed 003): capabilities are asked of a device — the instance behind it — never of the
/// system as a whole.
pub fn s4_capabilities_are_asked_of_the_device(h: &dyn Harness) {
    let p = h.platform(&[
        InstSpec::full(),
        InstSpec::full().pasid_bits(8).no_sva().no_pri(),
        InstSpec::full().pasid_bits(0).no_sva().no_pri(),
    ]);
    let no_pri = DeviceCaps { pri: false, ..DEV };
    let [a, b, c, a_no_pri] = p.devices([(0, DEV), (1, DEV), (2, DEV), (0, no_pri)]);

    let ca = p.iommu.device_caps(a).unwrap();
    let cb = p.iommu.device_caps(b).unwrap();
    let cc = p.iommu.device_caps(c).unwrap();
    let cn = p.iommu.device_caps(a_no_pri).unwrap();
    assert_eq!((ca.pasid_bits, ca.sva, ca.pri), (20, true, true));
    assert_eq!((cb.pasid_bits, cb.sva, cb.pri), (8, false, false));
    assert_eq!((cc.pasid_bits, cc.sva, cc.pri), (0, false, false));
    assert_eq!((cn.pasid_bits, cn.sva, cn.pri), (20, false, false));
    assert_eq!(ca.iommu, cn.iommu, "same instance, different devices");
    assert!(ca.iommu.sva && !cb.iommu.sva);

    // SVA works behind the instance that has it, and is refused elsewhere (and for a device
    // without page requests), without taking a PASID.
    let mm = p.iommu.new_mm(p.stage1.clone()).unwrap();
    mm.mmap(0x40_0000, 0x1000, Prot::RW).unwrap();
    refused!(p.iommu.sva_bind(b, &mm), CoreError::NotSupported(_));
    refused!(p.iommu.sva_bind(c, &mm), CoreError::NotSupported(_));
    refused!(p.iommu.sva_bind(a_no_pri, &mm), CoreError::NotSupported(_));
    assert_eq!(mm.pasid(), None);
    assert_eq!(p.iommu.pasids_in_use(), 0);
    let pasid = p.iommu.sva_bind(a, &mm).unwrap();
    assert_eq!(mm.pasid(), Some(pasid));
    let t = p
        .dma_with_page_request(a, Some(pasid), 0x40_0008, Access::WRITE)
        .unwrap();
    assert_eq!(Some(t.pa), mm.lookup(0x40_0008));

    // The PASID width is the device's: 8 bits behind the second instance, none behind the
    // third.
    let (d, buf) = mapped(&p, b, PASID_REQ, IOVA, PAGE);
    p.iommu.attach_pasid(b, 255, &d).unwrap();
    assert_eq!(p.pa(b, Some(255), IOVA), buf);
    refused!(p.iommu.attach_pasid(b, 256, &d), CoreError::Invalid(_));
    p.iommu.attach_pasid(a, 256, &d).unwrap();
    assert_eq!(p.pa(a, Some(256), IOVA), buf);
    refused!(p.iommu.attach_pasid(c, 1, &d), CoreError::Invalid(_));
    assert_eq!(places(&d), BTreeSet::from([(b, Some(255)), (a, Some(256))]));
}

/// S5 (seeds 000, 003, 004): a paging domain is attached at PASID granularity, to many RIDs
/// and PASIDs at once, on several instances; first-stage formats included.
pub fn s5_paging_domain_attached_to_many_rids_and_pasids(h: &dyn Harness) {
    let p = h.platform(&[InstSpec::full(), InstSpec::full()]);
    let narrow = DeviceCaps {
        pasid_bits: 4,
        ..DEV
    };
    let [a, b, c, e] = p.devices([(0, DEV), (0, DEV), (1, DEV), (0, narrow)]);
    let (d, buf) = mapped(&p, a, PASID_REQ, IOVA, PAGE);
    // A domain asked for PASIDs, in a hardware format, is a first-stage one (x86-64 or Arm
    // stage 1), the kind every PASID-capable IOMMU walks per PASID.
    if let Some(f) = d.with_table(|t| t.format().cloned()).unwrap() {
        assert!(
            matches!(f, AnyFormat::X86(_) | AnyFormat::ArmS1(_)),
            "a PASID domain in {f:?}"
        );
    }

    p.iommu.attach(a, &d).unwrap();
    p.iommu.attach_pasid(b, 5, &d).unwrap();
    p.iommu.attach_pasid(b, 9, &d).unwrap();
    p.iommu.attach_pasid(c, 5, &d).unwrap();
    assert_eq!(
        places(&d),
        BTreeSet::from([(a, None), (b, Some(5)), (b, Some(9)), (c, Some(5))])
    );
    let instances: BTreeSet<InstanceId> = d.attachments().iter().map(|x| x.instance).collect();
    assert_eq!(instances, BTreeSet::from([p.inst[0], p.inst[1]]));
    for (dev, pasid) in [(a, None), (b, Some(5)), (b, Some(9)), (c, Some(5))] {
        assert_eq!(p.pa(dev, pasid, IOVA + 0x18), buf + 0x18);
        assert_eq!(
            p.iommu
                .pasid_domain(dev, pasid.unwrap_or(0))
                .unwrap()
                .is_some(),
            pasid.is_some()
        );
    }
    // Only what was attached: not a's PASIDs, not b's RID, not c's PASID 9.
    assert_eq!(p.fault_kind(a, Some(5), IOVA), DmaFaultKind::Blocked);
    assert_eq!(p.fault_kind(b, None, IOVA), DmaFaultKind::Blocked);
    assert_eq!(p.fault_kind(c, Some(9), IOVA), DmaFaultKind::Blocked);

    // PASIDs the device cannot use, PASID 0 (the RID's), and PASIDs past 20 bits.
    p.iommu.attach_pasid(e, 15, &d).unwrap();
    assert_eq!(p.pa(e, Some(15), IOVA), buf);
    refused!(p.iommu.attach_pasid(e, 16, &d), CoreError::Invalid(_));
    refused!(p.iommu.attach_pasid(a, 0, &d), CoreError::Invalid(_));
    refused!(
        p.iommu.attach_pasid(a, PASID_LIMIT, &d),
        CoreError::Invalid(_)
    );
    // A PASID is attached once; replacing it is a separate call.
    let (other, _) = mapped(&p, a, PASID_REQ, IOVA, PAGE);
    refused!(p.iommu.attach_pasid(b, 5, &d), CoreError::Busy(_));
    refused!(p.iommu.attach_pasid(b, 5, &other), CoreError::Busy(_));
    assert_eq!(p.pa(b, Some(5), IOVA), buf);
    assert!(other.attachments().is_empty());

    // One unmap reaches every RID and PASID on both instances.
    d.unmap_sync(IOVA, PAGE).unwrap();
    for (dev, pasid) in [
        (a, None),
        (b, Some(5)),
        (b, Some(9)),
        (c, Some(5)),
        (e, Some(15)),
    ] {
        assert_eq!(p.fault_kind(dev, pasid, IOVA), DmaFaultKind::NotPresent);
    }
}

/// S6 (seed 004): the PASID table belongs to the device, not to a domain: one domain at the
/// same PASID of two devices, one domain at the RID of two devices with different PASIDs
/// each.
pub fn s6_pasid_state_belongs_to_the_device(h: &dyn Harness) {
    let p = h.platform(&[InstSpec::full()]);
    let [a, b] = p.devices([(0, DEV), (0, DEV)]);
    let (d, buf) = mapped(&p, a, PASID_REQ, IOVA, PAGE);
    p.iommu.attach_pasid(a, 7, &d).unwrap();
    p.iommu.attach_pasid(b, 7, &d).unwrap();
    assert_eq!(p.pa(a, Some(7), IOVA), buf);
    assert_eq!(p.pa(b, Some(7), IOVA), buf);
    // Detaching a's PASID 7 leaves b's PASID 7 as it was.
    p.iommu.detach_pasid(a, 7).unwrap();
    assert_eq!(p.fault_kind(a, Some(7), IOVA), DmaFaultKind::Blocked);
    assert_eq!(p.pa(b, Some(7), IOVA), buf);
    assert!(p.iommu.pasid_domain(a, 7).unwrap().is_none());
    assert_eq!(p.iommu.pasid_domain(b, 7).unwrap().unwrap().id(), d.id());
    assert_eq!(places(&d), BTreeSet::from([(b, Some(7))]));
    assert_eq!(
        p.iommu.detach_pasid(a, 7),
        Err(CoreError::NotAttached {
            device: a,
            pasid: Some(7)
        })
    );

    // One domain at the RID of both; each device has its own PASIDs, the same number going
    // to different domains.
    let (r, buf_r) = mapped(&p, a, PagingRequest::default(), IOVA, PAGE);
    let (e, buf_e) = mapped(&p, a, PASID_REQ, IOVA, PAGE);
    let (f, buf_f) = mapped(&p, b, PASID_REQ, IOVA, PAGE);
    p.iommu.attach(a, &r).unwrap();
    p.iommu.attach(b, &r).unwrap();
    p.iommu.attach_pasid(a, 3, &e).unwrap();
    p.iommu.attach_pasid(b, 3, &f).unwrap();
    p.iommu.attach_pasid(b, 4, &e).unwrap();
    assert_eq!(p.pa(a, None, IOVA), buf_r);
    assert_eq!(p.pa(b, None, IOVA), buf_r);
    assert_eq!(p.pa(a, Some(3), IOVA), buf_e);
    assert_eq!(p.pa(b, Some(3), IOVA), buf_f);
    assert_eq!(p.pa(b, Some(4), IOVA), buf_e);
    assert_eq!(p.fault_kind(a, Some(4), IOVA), DmaFaultKind::Blocked);
    // Changing a's RID domain touches neither a's PASIDs nor b.
    p.iommu.replace(a, &e).unwrap();
    assert_eq!(p.pa(a, None, IOVA), buf_e);
    assert_eq!(p.pa(a, Some(3), IOVA), buf_e);
    assert_eq!(p.pa(b, None, IOVA), buf_r);
    assert_eq!(p.pa(b, Some(3), IOVA), buf_f);
    refused!(p.iommu.attach_pasid(a, 3, &f), CoreError::Busy(_));
}

/// S7 (seed 004): detaching a RID's domain leaves that device's PASID attachments working.
pub fn s7_detaching_the_rid_leaves_pasids_working(h: &dyn Harness) {
    let p = h.platform(&[InstSpec::full()]);
    let [a, b] = p.devices([(0, DEV), (0, DEV)]);
    let (r, buf_r) = mapped(&p, a, PagingRequest::default(), IOVA, 2 * PAGE);
    let (q, buf_q) = mapped(&p, a, PASID_REQ, IOVA, PAGE);
    p.iommu.attach(a, &r).unwrap();
    p.iommu.attach_pasid(a, 3, &q).unwrap();
    p.iommu.attach_pasid(a, 4, &r).unwrap();
    assert_eq!(p.pa(a, None, IOVA), buf_r);

    p.iommu.detach(a).unwrap();
    assert_eq!(p.fault_kind(a, None, IOVA), DmaFaultKind::Blocked);
    assert_eq!(p.pa(a, Some(3), IOVA), buf_q);
    assert_eq!(p.pa(a, Some(4), IOVA), buf_r);
    assert!(p.iommu.rid_domain(a).unwrap().is_none());
    assert_eq!(places(&r), BTreeSet::from([(a, Some(4))]));
    assert_eq!(
        p.iommu.detach(a),
        Err(CoreError::NotAttached {
            device: a,
            pasid: None
        })
    );
    // The domain still flushes where it is still attached.
    r.unmap_sync(IOVA, PAGE).unwrap();
    assert_eq!(p.fault_kind(a, Some(4), IOVA), DmaFaultKind::NotPresent);
    assert_eq!(p.pa(a, Some(4), IOVA + PAGE), buf_r + PAGE);
    // The RID takes a domain again.
    p.iommu.attach(a, &q).unwrap();
    assert_eq!(p.pa(a, None, IOVA), buf_q);
    assert_eq!(p.pa(a, Some(3), IOVA), buf_q);

    // A domain detached from everything leaves nothing cached behind: changed while
    // unattached (no instance to flush), it shows its new mappings when attached again.
    let (s, buf_s) = mapped(&p, b, PagingRequest::default(), IOVA, PAGE);
    p.iommu.attach(b, &s).unwrap();
    assert_eq!(p.pa(b, None, IOVA), buf_s);
    p.iommu.detach(b).unwrap();
    s.unmap_sync(IOVA, PAGE).unwrap();
    let buf_s2 = p.alloc(PAGE);
    s.map_sync(IOVA, buf_s2, PAGE, Prot::RW).unwrap();
    p.iommu.attach(b, &s).unwrap();
    assert_eq!(p.pa(b, None, IOVA), buf_s2);
    // The same at a PASID.
    p.iommu.attach_pasid(b, 2, &s).unwrap();
    assert_eq!(p.pa(b, Some(2), IOVA), buf_s2);
    p.iommu.detach(b).unwrap();
    p.iommu.detach_pasid(b, 2).unwrap();
    s.unmap_sync(IOVA, PAGE).unwrap();
    s.map_sync(IOVA, buf_s, PAGE, Prot::RW).unwrap();
    p.iommu.attach_pasid(b, 2, &s).unwrap();
    assert_eq!(p.pa(b, Some(2), IOVA), buf_s);
}

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
    let nest_parent = PagingRequest {
        nest_parent: true,
        ..PagingRequest::default()
    };
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
    let mem = p.mem();
    mem.store_u64(table, s1_rid.root() | 1).unwrap();
    mem.store_u64(table + 3 * 8, s1_p3.root() | 1).unwrap();
    // Entry 5 holds a root but is not valid.
    mem.store_u64(table + 5 * 8, s1_p3.root()).unwrap();

    let not_parent = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    let data = NestedData::PasidTable {
        format: p.stage1.clone(),
        root: table,
        entries: 8,
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
    mem.store_u64(table + 5 * 8, s1_p3.root() | 1).unwrap();
    nested.invalidate_stage1().unwrap();
    assert_eq!(p.pa(a, Some(5), IOVA), g.data_hpa + PAGE);

    // It is not attached where PASIDs are attached.
    p.iommu.attach_pasid(b, 4, &q).unwrap();
    refused!(p.iommu.attach(b, &nested), CoreError::Busy(_));
    assert!(p.iommu.rid_domain(b).unwrap().is_none());
    assert_eq!(p.fault_kind(b, None, IOVA), DmaFaultKind::Blocked);
    assert_eq!(p.pa(b, Some(4), IOVA), buf_q);

    // A single stage-1 table over the same parent attaches at a PASID.
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
    p.iommu.attach_pasid(b, 6, &s1_only).unwrap();
    assert_eq!(p.pa(b, Some(6), IOVA + 8), g.data_hpa + 2 * PAGE + 8);

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
        p.iommu.page_request(req(OUTSIDE, Access::READ, 1, true)),
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
        p.iommu.page_request(req(RO, Access::WRITE, 2, true)),
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
            .page_request(req(VA + 0x2000, Access::WRITE, 3, false)),
        None
    );
    assert_eq!(
        p.iommu
            .page_request(req(VA + 0x3000, Access::READ, 3, false)),
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
            .page_request(req(VA + 0x4000, Access::READ, 3, true)),
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
            .page_request(req(VA + 0x5000, Access::READ, 4, false)),
        None
    );
    assert_eq!(
        p.iommu.page_request(req(OUTSIDE, Access::READ, 4, true)),
        Some(ResponseCode::Invalid)
    );
    assert_eq!(p.page_responses(0).len(), n + 2);
    // A page request for a PASID with no address space behind it is Invalid too.
    let other = PageRequest {
        pasid: Some(pasid + 1),
        ..req(VA, Access::READ, 5, true)
    };
    assert_eq!(p.iommu.page_request(other), Some(ResponseCode::Invalid));

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
    let user = p.iommu.alloc_pasid().unwrap();
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
    let parent = p
        .iommu
        .new_paging(
            a,
            PagingRequest {
                nest_parent: true,
                ..PagingRequest::default()
            },
        )
        .unwrap();
    let claims = p
        .iommu
        .new_nested(
            &parent,
            NestedData::PasidTable {
                format: p.stage1.clone(),
                root: 0,
                entries: 1,
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

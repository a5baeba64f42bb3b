//! S2–S7: sharing and isolating domains, spanning instances, capabilities per device,
//! PASID attachment and its independence from the RID. The ids, and the seed threads each
//! behaviour comes from, are those of `docs/design.md`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use super::{IOVA, PASID_REQ, incompatible, mapped, places};
use crate::testing::harness::{DEV, Harness, InstSpec, PAGE, Shape};
use crate::{
    CoreError, DeviceCaps, DeviceId, DmaFault, DmaFaultKind, Gather, InstanceId, PASID_LIMIT,
    PagingRequest,
};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::{Access, Prot};

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

//! What the driver writes where Linux's intel-iommu decides from the unit's capabilities:
//! PWSNP and AW in PASID entries, the IOTLB drain bits, the invalidation queue's size, the
//! caching-mode invalidation of a new mapping, and the page-request drain before an SVA
//! PASID is reused.

use super::*;
use softiommu_core::Mm;
use softiommu_vtd::desc::{
    DescCaps, Descriptor, IotlbGranularity, PageRequest, PageRequestQw0, PageRequestQw1, QueueMode,
};
use softiommu_vtd::regs::{IQA_REG, Iqa, PQH_REG, PQT_REG};
use softiommu_vtd::structs::Pgtt;

/// Every descriptor in the invalidation queue's memory (what the driver last wrote in each
/// slot), decoded as the unit decodes it.
fn queue_slots(r: &Rig) -> Vec<Descriptor> {
    let iqa = Iqa::from_bits(r.unit.mmio_read(IQA_REG, 8));
    let mem = r.iommu.mem();
    let caps = DescCaps {
        dit: false,
        pds: true,
        prs: true,
        hpts: false,
        mamv: 63,
    };
    let mode = QueueMode {
        scalable: true,
        dw256: true,
    };
    (0..iqa.size_bytes() / 32)
        .filter_map(|i| {
            let at = iqa.base() + 32 * i;
            let w = [0, 1, 2, 3].map(|k| mem.load_u64(at + 8 * k).unwrap());
            (w != [0; 4]).then(|| Descriptor::decode(w, mode, &caps).unwrap())
        })
        .collect()
}

/// A process address space with one page mapped read-write.
fn mm(r: &Rig) -> Arc<Mm> {
    let fmt: AnyFormat = X86::new(X86Config::default()).unwrap().into();
    let mm = r.iommu.new_mm(fmt).unwrap();
    mm.mmap(0x40_0000, 0x1000, Prot::RW).unwrap();
    mm
}

/// A paging domain for PASIDs: first-stage tables.
fn first_stage_domain(r: &Rig, dev: DeviceId) -> Arc<softiommu_core::Domain> {
    let req = PagingRequest {
        pasid: true,
        ..PagingRequest::default()
    };
    r.iommu.new_paging(dev, req).unwrap()
}

#[test]
fn pasid_entries_snoop_page_walks_and_carry_the_units_address_width() {
    // The default unit snoops its walks (SMPWCS) and reports 3- and 4-level second-stage
    // tables (SAGAW 0110b): Linux's AW for entries that do not walk a second stage is 2.
    let r = rig(VtdParams::default());
    let (dev, rid) = (r.devs[0], r.rid(0));
    let ss = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    r.iommu.attach(dev, &ss).unwrap();
    let fs = first_stage_domain(&r, dev);
    r.iommu.attach_pasid(dev, 5, &fs).unwrap();
    let ident = r.iommu.identity_domain();
    r.iommu.attach_pasid(dev, 6, &ident).unwrap();
    let m = mm(&r);
    let sva = r.iommu.sva_bind(dev, &m).unwrap();
    for (pasid, pgtt, aw) in [
        (0, Pgtt::SecondStage, 2),
        (5, Pgtt::FirstStage, 2),
        (6, Pgtt::PassThrough, 2),
        (sva, Pgtt::FirstStage, 2),
    ] {
        let e = r.pasid_entry(rid, pasid).unwrap();
        assert_eq!(e.qw0.pgtt(), pgtt, "PASID {pasid}");
        assert_eq!(e.qw0.aw(), aw, "PASID {pasid}");
        assert!(e.qw1.pwsnp(), "PASID {pasid}: PWSNP");
    }

    // A unit with a 5-level second stage: AW 3 for the first stage too.
    let r = rig(VtdParams {
        ss_5level: true,
        mgaw: 57,
        ..VtdParams::default()
    });
    let (dev, rid) = (r.devs[0], r.rid(0));
    let ident = r.iommu.identity_domain();
    r.iommu.attach_pasid(dev, 6, &ident).unwrap();
    assert_eq!(r.pasid_entry(rid, 6).unwrap().qw0.aw(), 3);
}

#[test]
fn iotlb_invalidations_drain_reads_and_writes_and_the_queue_holds_256() {
    let r = rig(VtdParams::default());
    let dev = r.devs[0];
    let d = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    r.iommu.attach(dev, &d).unwrap();
    d.map_sync(0x1000, 0x20_0000, 0x1000, Prot::RW).unwrap();
    d.unmap_sync(0x1000, 0x1000).unwrap();
    // The RID's entry torn down: a domain-selective invalidation.
    r.iommu.detach(dev).unwrap();
    // Linux's queue: QS=1 with 256-bit descriptors, two pages of 256 descriptors.
    let iqa = Iqa::from_bits(r.unit.mmio_read(IQA_REG, 8));
    assert_eq!((iqa.qs(), iqa.dw(), iqa.size_bytes() / 32), (1, true, 256));
    // The unit reports DRD and DWD: every iotlb_inv_dsc (global at bring-up, domain- and
    // page-selective since) sets DR and DW.
    let iotlbs: Vec<_> = queue_slots(&r)
        .into_iter()
        .filter_map(|d| match d {
            Descriptor::Iotlb(i) => Some(i),
            _ => None,
        })
        .collect();
    let grans: Vec<_> = iotlbs.iter().map(|i| i.qw0.g()).collect();
    assert!(grans.contains(&IotlbGranularity::Global), "{grans:?}");
    assert!(grans.contains(&IotlbGranularity::Domain), "{grans:?}");
    assert!(grans.contains(&IotlbGranularity::Page), "{grans:?}");
    assert!(iotlbs.iter().all(|i| i.qw0.dr() && i.qw0.dw()));
    assert!(r.driver.queue_errors().is_empty());
}

/// Invalidation descriptors counted by the unit: (iotlb, p_iotlb, waits).
fn counts(r: &Rig) -> (u64, u64, u64) {
    let d = r.unit.stats().descriptors;
    (d.iotlb, d.pasid_iotlb, d.wait)
}

#[test]
fn a_map_is_invalidated_only_in_caching_mode() {
    for cm in [false, true] {
        let r = rig(VtdParams {
            caching_mode: cm,
            ..VtdParams::default()
        });
        let dev = r.devs[0];
        let d = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
        r.iommu.attach(dev, &d).unwrap();
        let before = counts(&r);
        // 3 pages straddling a 4-page boundary: one descriptor covers them.
        d.map_sync(0x3000, 0x20_0000, 0x3000, Prot::RW).unwrap();
        let after = counts(&r);
        let sent = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
        if cm {
            assert_eq!(sent, (1, 0, 1), "one iotlb_inv_dsc and its wait");
            let last = queue_slots(&r)
                .into_iter()
                .filter_map(|d| match d {
                    Descriptor::Iotlb(i) => Some(i),
                    _ => None,
                })
                .find(|i| i.qw0.g() == IotlbGranularity::Page)
                .unwrap();
            assert_eq!(
                (last.qw1.address(), last.qw1.am(), last.qw1.ih()),
                (0, 3, false)
            );
            assert_eq!(Some(last.qw0.did()), r.driver.domain_id_of(d.id()));
        } else {
            assert_eq!(sent, (0, 0, 0), "nothing without caching mode");
        }
        assert_eq!(
            r.iommu.dma(dev, None, 0x4000, Access::READ).unwrap().pa,
            0x20_1000
        );

        // A first-stage domain gets nothing even in caching mode, as in Linux.
        let fs = first_stage_domain(&r, dev);
        r.iommu.attach_pasid(dev, 9, &fs).unwrap();
        let before = counts(&r);
        fs.map_sync(0x1000, 0x30_0000, 0x1000, Prot::RW).unwrap();
        assert_eq!(counts(&r), before);
    }
}

/// A read request of `sid` for `pasid`, group `prgi`, `last` of its group.
fn request(sid: u16, pasid: u32, prgi: u16, last: bool) -> PageRequest {
    PageRequest {
        qw0: PageRequestQw0::new()
            .with_pp(true)
            .with_rid(sid)
            .with_pasid(pasid),
        qw1: PageRequestQw1::new()
            .with_rdr(true)
            .with_lpig(last)
            .with_prgi(prgi)
            .with_addr(0x40_0000 >> 12),
    }
}

#[test]
fn sva_unbind_drains_the_pasids_page_requests_before_it_is_reused() {
    let r = rig(VtdParams::default());
    let (dev, sid) = (r.devs[0], r.rid(0).source_id());
    let (m1, m2) = (mm(&r), mm(&r));
    let p1 = r.iommu.sva_bind(dev, &m1).unwrap();
    let p2 = r.iommu.sva_bind(dev, &m2).unwrap();
    // Requests queued by the unit, not yet taken by the driver: a group of two of p1, one of
    // p2.
    r.unit.page_request(request(sid, p1, 7, false));
    r.unit.page_request(request(sid, p2, 8, true));
    r.unit.page_request(request(sid, p1, 7, true));
    let pqt = r.unit.mmio_read(PQT_REG, 8);
    assert_ne!(r.unit.mmio_read(PQH_REG, 8), pqt);
    let waits = counts(&r).2;

    r.iommu.sva_unbind(dev, &m1).unwrap();
    // The queue was handled: p1's group answered Invalid by the driver (nothing handles it
    // any more), p2's request kept for the core.
    assert_eq!(r.unit.mmio_read(PQH_REG, 8), pqt);
    assert_eq!(
        r.responses(),
        vec![(sid, Some(p1), 7, ResponseCode::InvalidRequest)]
    );
    // Then the fenced wait, the PASID's invalidations and a wait with page-request drain.
    let slots = queue_slots(&r);
    let drain = slots
        .iter()
        .position(|d| matches!(d, Descriptor::Wait(w) if w.qw0.pd()))
        .expect("a wait with PD");
    assert!(drain >= 3);
    assert!(matches!(slots[drain - 3], Descriptor::Wait(w) if w.qw0.fn_flag() && !w.qw0.sw()));
    assert!(matches!(slots[drain - 2], Descriptor::PasidIotlb(p) if p.qw0.pasid() == p1));
    assert!(matches!(slots[drain - 1], Descriptor::PasidDevTlb(p) if p.qw0.pasid() == p1));
    assert!(counts(&r).2 > waits);

    // p2's request reaches the core with the next event, and is answered.
    assert_eq!(r.iommu.page_request_event(r.inst).unwrap(), 1);
    assert_eq!(
        r.responses().last(),
        Some(&(sid, Some(p2), 8, ResponseCode::Success))
    );
    assert!(r.driver.queue_errors().is_empty());
}

#[test]
fn new_entries_are_invalidated_in_caching_mode_and_pass_through_goes_pasid_selective() {
    for cm in [false, true] {
        let r = rig(VtdParams {
            caching_mode: cm,
            ..VtdParams::default()
        });
        let dev = r.devs[0];
        let pc = |r: &Rig| r.unit.stats().descriptors.pasid_cache;
        let d = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
        let (c0, p0) = (counts(&r), pc(&r));
        r.iommu.attach_pasid(dev, 3, &d).unwrap();
        let (c1, p1) = (counts(&r), pc(&r));
        // Linux's pasid_flush_caches: PASID-selective pc and p_iotlb in caching mode only.
        let want = u64::from(cm);
        assert_eq!(
            (p1 - p0, c1.1 - c0.1, c1.0 - c0.0),
            (want, want, 0),
            "CM={cm}"
        );
        // A pass-through entry torn down: PASID-selective p_iotlb, no iotlb_inv_dsc.
        let ident = r.iommu.identity_domain();
        r.iommu.attach_pasid(dev, 4, &ident).unwrap();
        let c2 = counts(&r);
        r.iommu.detach_pasid(dev, 4).unwrap();
        let c3 = counts(&r);
        assert_eq!((c3.0 - c2.0, c3.1 - c2.1), (0, 1), "CM={cm}");
        assert!(r.driver.queue_errors().is_empty());
    }
}

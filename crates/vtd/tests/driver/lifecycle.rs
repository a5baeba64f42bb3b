//! A device's release, and domain IDs running out.

use std::collections::HashSet;

use super::*;
use softiommu_core::IommuDriver;
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::model::Request;
use softiommu_vtd::regs::{FRCD_REG, FRCD_SIZE, Frcd};

impl Rig {
    /// The fault reasons recorded for requester `sid` in the fault recording registers.
    fn recorded_faults(&self, sid: u16) -> Vec<u8> {
        (0..8)
            .map(|i| {
                let at = FRCD_REG + FRCD_SIZE * i;
                let (lo, hi) = (self.unit.mmio_read(at, 8), self.unit.mmio_read(at + 8, 8));
                Frcd::from_bits(u128::from(hi) << 64 | u128::from(lo))
            })
            .filter(|f| f.f() && f.sid() == sid)
            .map(|f| f.fr())
            .collect()
    }

    /// What the unit answers a read of `addr` by requester `sid`.
    fn unit_read(&self, sid: u16, pasid: Option<u32>, addr: u64) -> Result<u64, FaultReason> {
        self.unit
            .translate(Request {
                sid,
                pasid,
                addr,
                access: Access::READ,
            })
            .map(|t| t.pa)
            .map_err(|f| f.reason)
    }
}

#[test]
fn release_clears_the_context_entry_and_frees_pasid_structures_and_dids() {
    let r = rig(VtdParams::default());
    // Domains made through another device, so that only the new device's structures come
    // and go with it.
    let ss = r
        .iommu
        .new_paging(r.devs[0], PagingRequest::default())
        .unwrap();
    ss.map_sync(0x1000, 0x20_0000, 0x1000, Prot::RW).unwrap();
    let fs = r
        .iommu
        .new_paging(
            r.devs[0],
            PagingRequest {
                pasid: true,
                ..Default::default()
            },
        )
        .unwrap();
    fs.map_sync(0x5000, 0x21_0000, 0x1000, Prot::RW).unwrap();
    // On bus 0's lower half, whose context table devs[0] made: it stays.
    let rid = Rid::new(0, 3, 0, 2);
    let sid = rid.source_id();
    let before = r.alloc.stats().allocated;
    let dev = add_device(&r.iommu, r.inst, rid);
    r.iommu.attach(dev, &ss).unwrap();
    r.iommu.attach_pasid(dev, 5, &fs).unwrap();
    // A PASID in another PASID table.
    r.iommu.attach_pasid(dev, 0x1_0005, &fs).unwrap();
    let dids = [ss.id(), fs.id()].map(|d| r.driver.domain_id_of(d).unwrap());
    assert_ne!(dids[0], dids[1]);
    // Translations cached in the IOTLB.
    assert_eq!(r.unit_read(sid, None, 0x1000), Ok(0x20_0000));
    assert_eq!(r.unit_read(sid, Some(5), 0x5000), Ok(0x21_0000));
    assert_eq!(r.unit_read(sid, Some(0x1_0005), 0x5000), Ok(0x21_0000));
    let (_, ctx) = r.context_entry(rid);
    assert!(ctx.qw0.p());
    assert!(r.alloc.stats().allocated > before);

    r.iommu.remove_device(dev).unwrap();
    assert_eq!(
        r.context_entry(rid).1,
        ContextEntry::default(),
        "context entry cleared"
    );
    assert_eq!(r.driver.domain_id_of(ss.id()), None, "DIDs freed");
    assert_eq!(r.driver.domain_id_of(fs.id()), None);
    assert_eq!(
        r.alloc.stats().allocated,
        before,
        "PASID directory and tables back with the allocator"
    );
    // The device's DMA faults at its context entry (no cached translation answers it), and
    // the fault is recorded.
    assert_eq!(r.unit_read(sid, None, 0x1000), Err(FaultReason::Sct2));
    assert_eq!(r.unit_read(sid, Some(5), 0x5000), Err(FaultReason::Sct2));
    assert!(r.recorded_faults(sid).contains(&(FaultReason::Sct2 as u8)));
    assert_eq!(
        r.iommu
            .dma(dev, None, 0x1000, Access::READ)
            .unwrap_err()
            .kind,
        DmaFaultKind::Blocked
    );
    assert_eq!(r.unit.stale_count(), 0);

    // A device at the same RID starts from nothing: blocked until attached.
    let again = add_device(&r.iommu, r.inst, rid);
    assert!(r.context_entry(rid).1.qw0.p());
    assert_eq!(
        r.iommu
            .dma(again, None, 0x1000, Access::READ)
            .unwrap_err()
            .kind,
        DmaFaultKind::Blocked
    );
    assert_eq!(
        r.iommu
            .dma(again, Some(5), 0x5000, Access::READ)
            .unwrap_err()
            .kind,
        DmaFaultKind::Blocked
    );
    // The domains live on at the other devices.
    r.iommu.attach(r.devs[1], &ss).unwrap();
    assert_eq!(
        r.iommu
            .dma(r.devs[1], None, 0x1000, Access::READ)
            .unwrap()
            .pa,
        0x20_0000
    );
}

#[test]
fn release_with_attachments_left_still_takes_everything_down() {
    // The trait's contract is that nothing is attached any more; a driver still cleans up if
    // something is.
    let r = rig(VtdParams::default());
    let dev = r.devs[2];
    let rid = r.rid(2);
    let d = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    d.map_sync(0x1000, 0x20_0000, 0x1000, Prot::RW).unwrap();
    r.iommu.attach(dev, &d).unwrap();
    assert_eq!(r.unit_read(rid.source_id(), None, 0x1000), Ok(0x20_0000));
    let info = r.iommu.device_info(dev).unwrap();
    r.driver.release(&info);
    assert_eq!(r.driver.domain_id_of(d.id()), None);
    assert_eq!(r.context_entry(rid).1, ContextEntry::default());
    assert_eq!(
        r.unit_read(rid.source_id(), None, 0x1000),
        Err(FaultReason::Sct2)
    );
    assert_eq!(r.unit.stale_count(), 0);
}

#[test]
fn domain_ids_run_out_with_a_typed_error_and_freeing_one_makes_room() {
    // CAP.ND=0: 16 domain IDs; 0 is never used and 1 tags pass-through entries.
    let r = rig(VtdParams {
        domain_id_bits: 4,
        ..VtdParams::default()
    });
    let (dev, rid) = (r.devs[0], r.rid(0));
    let fs = PagingRequest {
        pasid: true,
        ..Default::default()
    };
    let domains: Vec<_> = (0..15u64)
        .map(|i| {
            let d = r.iommu.new_paging(dev, fs).unwrap();
            d.map_sync(0x1000, 0x20_0000 + 0x1000 * i, 0x1000, Prot::RW)
                .unwrap();
            d
        })
        .collect();
    for (i, d) in (1u32..).zip(&domains[..14]) {
        r.iommu.attach_pasid(dev, i, d).unwrap();
    }
    let ids: HashSet<u16> = domains[..14]
        .iter()
        .map(|d| r.driver.domain_id_of(d.id()).unwrap())
        .collect();
    assert_eq!(ids, (2..16).collect());

    // The fifteenth domain: refused, nothing programmed.
    match r.iommu.attach_pasid(dev, 15, &domains[14]) {
        Err(e @ CoreError::Exhausted(_)) => assert_eq!(e.errno(), CoreError::NoPasid.errno()),
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(r.driver.domain_id_of(domains[14].id()), None);
    assert!(r.pasid_entry(rid, 15).is_none_or(|e| !e.qw0.p()));
    assert!(r.iommu.pasid_domain(dev, 15).unwrap().is_none());
    assert_eq!(
        r.iommu
            .dma(dev, Some(15), 0x1000, Access::READ)
            .unwrap_err()
            .kind,
        DmaFaultKind::Blocked
    );
    let ss = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    assert!(matches!(
        r.iommu.attach(r.devs[1], &ss),
        Err(CoreError::Exhausted(_))
    ));
    assert!(r.pasid_entry(r.rid(1), 0).is_none_or(|e| !e.qw0.p()));
    // A domain with an ID here, and pass-through, need no new one.
    r.iommu.attach_pasid(r.devs[1], 3, &domains[0]).unwrap();
    r.iommu
        .attach(r.devs[1], &r.iommu.identity_domain())
        .unwrap();
    // Everything attached still translates.
    for (i, p) in (0..14u64).zip(1u32..) {
        let pa = r.iommu.dma(dev, Some(p), 0x1000, Access::READ).unwrap().pa;
        assert_eq!(pa, 0x20_0000 + 0x1000 * i);
    }

    // Freeing one makes room: the ID goes to the new domain, at the same PASID, with no
    // translation of the old domain left behind.
    let freed = r.driver.domain_id_of(domains[4].id()).unwrap();
    r.iommu.detach_pasid(dev, 5).unwrap();
    assert_eq!(r.driver.domain_id_of(domains[4].id()), None);
    r.iommu.attach_pasid(dev, 5, &domains[14]).unwrap();
    assert_eq!(r.driver.domain_id_of(domains[14].id()), Some(freed));
    let pa = r.iommu.dma(dev, Some(5), 0x1000, Access::READ).unwrap().pa;
    assert_eq!(pa, 0x20_0000 + 0x1000 * 14);
    assert_eq!(r.unit.stale_count(), 0);
}

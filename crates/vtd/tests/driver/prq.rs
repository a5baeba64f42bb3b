//! Page requests through the page request queue: unit → PRQ → driver → core → page group
//! response → unit → device.

use super::*;
use softiommu_core::Mm;
use softiommu_vtd::desc::{PageRequest, PageRequestQw0, PageRequestQw1};
use softiommu_vtd::regs::{PQA_REG, PQH_REG, PQT_REG, PRS_REG, Pqa, Pqh, Pqt, Prs};

const VA: u64 = 0x40_0000;

/// A process address space with `[VA, VA + 64 KiB)` mapped read-write, not yet populated.
fn mm(r: &Rig) -> Arc<Mm> {
    let fmt: AnyFormat = X86::new(X86Config::default()).unwrap().into();
    let mm = r.iommu.new_mm(fmt).unwrap();
    mm.mmap(VA, 0x1_0000, Prot::RW).unwrap();
    mm
}

/// A read request of `sid` at `addr` with `pasid`, group `prgi`, `last` of its group: what a
/// device sends to the unit.
fn read_request(sid: u16, pasid: Option<u32>, addr: u64, prgi: u16, last: bool) -> PageRequest {
    PageRequest {
        qw0: PageRequestQw0::new()
            .with_pp(pasid.is_some())
            .with_rid(sid)
            .with_pasid(pasid.unwrap_or(0)),
        qw1: PageRequestQw1::new()
            .with_rdr(true)
            .with_lpig(last)
            .with_prgi(prgi)
            .with_addr(addr >> 12),
    }
}

impl Rig {
    fn pqa(&self) -> Pqa {
        Pqa::from_bits(self.unit.mmio_read(PQA_REG, 8))
    }

    fn pqh(&self) -> u64 {
        u64::from(Pqh::from_bits(self.unit.mmio_read(PQH_REG, 8)).pqh())
    }

    fn pqt(&self) -> u64 {
        u64::from(Pqt::from_bits(self.unit.mmio_read(PQT_REG, 8)).pqt())
    }

    fn prs(&self) -> Prs {
        Prs::from_bits(self.unit.mmio_read(PRS_REG, 4) as u32)
    }

    /// The descriptor in slot `i` of the page request queue, as the unit wrote it.
    fn prq_slot(&self, i: u64) -> PageRequest {
        let pqa = self.pqa();
        let at = pqa.base() + 32 * i % pqa.size_bytes();
        let w = |k: u64| self.iommu.mem().load_u64(at + 8 * k).unwrap();
        PageRequest::decode([w(0), w(1), w(2), w(3)]).unwrap()
    }
}

#[test]
fn page_request_travels_through_the_queue_and_the_response_reaches_the_device() {
    let r = rig(VtdParams::default());
    let (dev, sid) = (r.devs[0], r.rid(0).source_id());
    // The queue is programmed at bring-up: 16 pages, as Linux has it, empty.
    assert_ne!(r.pqa().base(), 0);
    assert_eq!(r.pqa().pqs(), 4);
    assert_eq!(r.pqh(), r.pqt());
    // Page requests are off until an attachment takes I/O page faults.
    assert!(!r.context_entry(r.rid(0)).1.qw0.pre());
    let mm = mm(&r);
    let pasid = r.iommu.sva_bind(dev, &mm).unwrap();
    assert!(r.context_entry(r.rid(0)).1.qw0.pre(), "SVA bound: PRE on");
    assert!(!r.context_entry(r.rid(1)).1.qw0.pre(), "PRE is per device");

    // The device's DMA faults; its page request goes into the queue and comes back answered.
    let t0 = r.pqt();
    let t = r
        .iommu
        .dma_with_page_request(dev, Some(pasid), VA + 0x1010, Access::WRITE)
        .unwrap();
    assert_eq!(Some(t.pa - 0x10), mm.lookup(VA + 0x1000));
    let d = r.prq_slot(t0);
    assert!(d.qw0.pp());
    assert_eq!(d.qw0.pasid(), pasid);
    assert_eq!(d.qw0.rid(), sid);
    assert!(d.qw1.wrr() && !d.qw1.rdr());
    assert!(
        d.qw1.lpig(),
        "the device's only request is the last of its group"
    );
    assert_eq!(d.qw1.prgi(), 0);
    assert_eq!(d.address(), VA + 0x1000);
    assert_eq!(r.pqt(), t0 + 1);
    assert_eq!(r.pqh(), r.pqt(), "the driver consumed the queue");
    assert!(!r.prs().ppr(), "the driver cleared PPR");
    assert!(r.events.lock().contains(&Event::PageRequest));
    assert_eq!(
        r.responses().last(),
        Some(&(sid, Some(pasid), 0, ResponseCode::Success))
    );

    // A group of three straight from the device: queued with its index and last-page bit,
    // answered once, when the page-request event is handled.
    let n = r.responses().len();
    r.unit
        .page_request(read_request(sid, Some(pasid), VA + 0x2000, 0x1a5, false));
    r.unit
        .page_request(read_request(sid, Some(pasid), VA + 0x3000, 0x1a5, false));
    r.unit
        .page_request(read_request(sid, Some(pasid), VA + 0x4000, 0x1a5, true));
    for (i, last) in [false, false, true].into_iter().enumerate() {
        let d = r.prq_slot(t0 + 1 + i as u64);
        assert_eq!((d.qw1.prgi(), d.qw1.lpig()), (0x1a5, last));
        assert_eq!(d.qw0.pasid(), pasid);
    }
    assert!(r.prs().ppr());
    assert_eq!(r.responses().len(), n, "nothing answered before the event");
    assert_eq!(mm.lookup(VA + 0x2000), None);
    assert_eq!(r.iommu.page_request_event(r.inst).unwrap(), 3);
    assert_eq!(r.pqh(), t0 + 4);
    assert_eq!(r.responses().len(), n + 1, "one response for the group");
    assert_eq!(
        r.responses()[n],
        (sid, Some(pasid), 0x1a5, ResponseCode::Success)
    );
    for va in [VA + 0x2000, VA + 0x3000, VA + 0x4000] {
        let pa = r.iommu.dma(dev, Some(pasid), va, Access::READ).unwrap().pa;
        assert_eq!(Some(pa), mm.lookup(va));
    }
    assert_eq!(r.iommu.page_request_event(r.inst).unwrap(), 0);

    // Unbound: page requests off again, and faults are not recoverable any more.
    r.iommu.sva_unbind(dev, &mm).unwrap();
    assert!(!r.context_entry(r.rid(0)).1.qw0.pre());
    assert_eq!(r.unit.stale_count(), 0);
}

#[test]
fn requests_the_driver_cannot_route_are_answered_invalid_or_dropped() {
    let r = rig(VtdParams::default());
    let (dev, sid) = (r.devs[0], r.rid(0).source_id());
    let mm = mm(&r);
    let pasid = r.iommu.sva_bind(dev, &mm).unwrap();
    let p = Some(pasid);
    let privileged = PageRequest {
        qw0: read_request(sid, p, VA, 1, true).qw0.with_pmr(true),
        ..read_request(sid, p, VA, 1, true)
    };
    let stop = PageRequest {
        qw1: read_request(sid, p, VA, 2, true).qw1.with_rdr(false),
        ..read_request(sid, p, VA, 2, true)
    };
    let requests = [
        // An unknown requester: Invalid when it is the last of its group, else nothing.
        read_request(0x0999, p, VA, 3, false),
        read_request(0x0999, p, VA, 3, true),
        // A privileged request and a non-canonical address: Invalid.
        privileged,
        read_request(sid, p, 0x0100_0000_0000_0000, 4, true),
        // A stop marker: no response.
        stop,
    ];
    // A function is on the bus at the unknown requester ID, though no driver knows it.
    softiommu_devices::bus::Upstream::attach(&*r.unit, 0x0999, r.bus.clone());
    for q in requests {
        r.unit.page_request(q);
    }
    assert_eq!(
        r.iommu.page_request_event(r.inst).unwrap(),
        0,
        "none routed"
    );
    assert_eq!(
        r.responses(),
        vec![
            (0x0999, p, 3, ResponseCode::InvalidRequest),
            (sid, p, 1, ResponseCode::InvalidRequest),
            (sid, p, 4, ResponseCode::InvalidRequest),
        ]
    );
    assert_eq!(
        mm.lookup(VA),
        None,
        "the refused requests populated nothing"
    );
    // An address outside the address space reaches the core, whose handler answers Invalid.
    r.unit
        .page_request(read_request(sid, p, 0x1000_0000, 5, true));
    assert_eq!(r.iommu.page_request_event(r.inst).unwrap(), 1);
    assert_eq!(
        r.responses().last(),
        Some(&(sid, p, 5, ResponseCode::InvalidRequest))
    );
    assert_eq!(mm.lookup(0x1000_0000), None);
    // A PASID with nothing attached is answered Invalid too.
    r.unit
        .page_request(read_request(sid, Some(pasid + 1), VA, 6, true));
    r.iommu.page_request_event(r.inst).unwrap();
    assert_eq!(
        r.responses().last(),
        Some(&(sid, Some(pasid + 1), 6, ResponseCode::InvalidRequest))
    );
}

#[test]
fn an_overflowed_queue_is_drained_cleared_and_its_cut_groups_dropped() {
    let r = rig(VtdParams::default());
    let (dev, sid) = (r.devs[0], r.rid(0).source_id());
    let mm = mm(&r);
    let p = Some(r.iommu.sva_bind(dev, &mm).unwrap());
    let room = r.pqa().size_bytes() / 32 - 1;
    // Group 7 starts; group 8 fills the queue; the end of group 7 is dropped, and the unit
    // answers it Success itself.
    r.unit.page_request(read_request(sid, p, VA, 7, false));
    for _ in 1..room {
        r.unit
            .page_request(read_request(sid, p, VA + 0x1000, 8, false));
    }
    assert!(!r.prs().pro());
    r.unit
        .page_request(read_request(sid, p, VA + 0x2000, 7, true));
    assert!(r.prs().pro());
    assert_eq!(r.responses(), vec![(sid, p, 7, ResponseCode::Success)]);
    // The driver drains everything, clears PRO, and the core drops the cut groups.
    assert_eq!(
        r.iommu.page_request_event(r.inst).unwrap(),
        usize::try_from(room).unwrap()
    );
    assert!(!r.prs().pro());
    assert_eq!(r.pqh(), r.pqt());
    assert_eq!(r.responses().len(), 1, "open groups get no answer");
    // A new group 7 is a group of its own: the dropped requests are not handled with it.
    r.unit
        .page_request(read_request(sid, p, VA + 0x3000, 7, true));
    assert_eq!(r.iommu.page_request_event(r.inst).unwrap(), 1);
    assert_eq!(
        r.responses().last(),
        Some(&(sid, p, 7, ResponseCode::Success))
    );
    assert!(mm.lookup(VA + 0x3000).is_some());
    assert_eq!(mm.lookup(VA), None);
    assert_eq!(mm.lookup(VA + 0x1000), None);
}

#[test]
fn sva_is_refused_on_a_device_whose_page_requests_cannot_be_enabled() {
    let r = rig(VtdParams::default());
    // PRI without ATS: PRE needs DTE, so the unit cannot take its page requests.
    let desc = DeviceDesc {
        rid: Rid::new(0, 4, 0, 0),
        instance: r.inst,
        caps: DeviceCaps {
            pasid_bits: 20,
            ats: false,
            pri: true,
        },
        bridge: None,
        alias: None,
    };
    let dev = r
        .iommu
        .add_devices(&Topology {
            bridges: vec![],
            devices: vec![desc],
        })
        .unwrap()[0];
    let mm = mm(&r);
    match r.iommu.sva_bind(dev, &mm) {
        Err(CoreError::NotSupported(_)) => {}
        other => panic!("expected NotSupported, got {other:?}"),
    }
    assert_eq!(mm.pasid(), None, "nothing kept of the refused bind");
    let (_, ctx) = r.context_entry(desc.rid);
    assert!(!ctx.qw0.pre() && !ctx.qw0.dte());
    // The PASID table of the first PASIDs holds nothing present.
    for pasid in 1..64 {
        assert!(r.pasid_entry(desc.rid, pasid).is_none_or(|e| !e.qw0.p()));
    }
}

#[test]
fn concurrent_page_requests_each_get_their_answer() {
    let r = rig(VtdParams::default());
    let fmt: AnyFormat = X86::new(X86Config::default()).unwrap().into();
    let mm = r.iommu.new_mm(fmt).unwrap();
    mm.mmap(VA, 0x40_0000, Prot::RW).unwrap();
    let devs = [r.devs[0], r.devs[1], r.devs[2]];
    let pasid = r.iommu.sva_bind(devs[0], &mm).unwrap();
    for &d in &devs[1..] {
        assert_eq!(r.iommu.sva_bind(d, &mm).unwrap(), pasid);
    }
    // Three devices, each faulting in 64 pages of its own, at once.
    std::thread::scope(|s| {
        for (i, &dev) in (0u64..).zip(&devs) {
            let (r, mm) = (&r, &mm);
            s.spawn(move || {
                for k in 0..64u64 {
                    let va = VA + (i * 64 + k) * 0x1000;
                    let t = r
                        .iommu
                        .dma_with_page_request(dev, Some(pasid), va, Access::WRITE)
                        .unwrap();
                    assert_eq!(Some(t.pa), mm.lookup(va));
                }
            });
        }
    });
    assert_eq!(r.responses().len(), 3 * 64);
    assert!(
        r.responses()
            .iter()
            .all(|&(_, p, _, c)| p == Some(pasid) && c == ResponseCode::Success)
    );
    assert_eq!(r.pqh(), r.pqt());
    assert_eq!(r.unit.stale_count(), 0);
}

#[test]
fn the_driver_builds_no_descriptor_from_a_pasid_wider_than_20_bits() {
    use softiommu_core::IommuDriver;
    let r = rig(VtdParams::default());
    let info = r.iommu.device_info(r.devs[0]).unwrap();
    let t0 = r.pqt();
    for wide in [1 << 20, u32::MAX] {
        r.driver.page_response(
            &info,
            &softiommu_core::PageResponse {
                device: info.id,
                pasid: Some(wide),
                group: 2,
                code: softiommu_core::ResponseCode::Success,
            },
        );
        let req = softiommu_core::PageRequest {
            device: info.id,
            pasid: Some(wide),
            addr: VA,
            access: Access::READ,
            group: 3,
            last: true,
        };
        assert_eq!(r.driver.send_page_request(&info, &req).requests, []);
    }
    assert_eq!(r.responses(), []);
    assert_eq!(r.pqt(), t0, "nothing queued");
}

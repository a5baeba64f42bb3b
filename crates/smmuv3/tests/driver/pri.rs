//! The PRI queue under the driver: page requests drained in order (and until the queue reads
//! empty), an overflow reported once and acknowledged, and the answers sent back with
//! `CMD_PRI_RESP`.

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::testing::faulty::add_device;
use softiommu_core::testing::{DEV, IrqLine, platform_memory};
use softiommu_core::{DeviceId, IommuDriver, Mem, PageResponse, ResponseCode, Rid};
use softiommu_devices::bus::{
    PageRequest as BusPageRequest, PageResponse as BusResponse, PageResponseCode, Upstream,
};
use softiommu_pgtable::Access;
use softiommu_smmuv3::driver::{SmmuDriver, SmmuHw};
use softiommu_smmuv3::model::{DeviceMessage, Fault, Request, SmmuUnit, Translated};
use softiommu_smmuv3::pri::{PageRequest, PriAccess, PriResponse};
use softiommu_smmuv3::regs::{Interrupt, Irq, SMMU_PRIQ_PROD, SmmuParams};

use crate::common::SmmuHarness;

fn request(sid: u32, prgi: u16, addr: u64, last: bool) -> PageRequest {
    let access = PriAccess {
        read: true,
        write: false,
        exec: false,
        privileged: false,
    };
    PageRequest::new(sid, Some(4), prgi, addr, access, last)
}

#[test]
fn page_requests_are_drained_in_order_and_an_overflow_is_reported_once() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let [a] = p.devices([(0, DEV)]);
    let info = p.iommu.device_info(a).unwrap();
    let sid = u32::from(info.rid.source_id());
    let (unit, drv) = (&units[0].unit, &units[0].driver);
    // More requests than the driver's 128-entry queue holds, none drained meanwhile.
    for i in 0..200u64 {
        unit.page_request(request(sid, 1, 0x1000 * i, false));
    }
    let batch = drv.take_page_requests();
    assert_eq!(batch.requests.len(), 128);
    assert!(batch.overflowed);
    for (i, r) in batch.requests.iter().enumerate() {
        assert_eq!((r.device, r.pasid, r.group), (a, Some(4), 1));
        assert_eq!(r.addr, 0x1000 * i as u64);
        assert_eq!(r.access, Access::READ);
        assert!(!r.last);
    }
    // The overflow was acknowledged: the next request gets through, and no overflow again.
    unit.page_request(request(sid, 2, 0x5000, true));
    let batch = drv.take_page_requests();
    assert!(!batch.overflowed);
    assert_eq!(batch.requests.len(), 1);
    assert!(batch.requests[0].last);
    // The core's answer goes back as CMD_PRI_RESP.
    drv.page_response(
        &info,
        &PageResponse {
            device: a,
            pasid: Some(4),
            group: 2,
            code: ResponseCode::Success,
        },
    );
    assert!(units[0].bus.responses.lock().contains(&BusResponse {
        rid: info.rid.source_id(),
        pasid: Some(4),
        prgi: 2,
        code: PageResponseCode::Success,
    }));
}

#[test]
fn a_request_from_a_stream_without_a_device_is_answered_invalid() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let [_a] = p.devices([(0, DEV)]);
    let stranger = 0x77;
    let m = units[0].msgs.clone();
    units[0]
        .unit
        .attach_device(stranger, std::sync::Arc::new(move |msg| m.lock().push(msg)));
    units[0]
        .unit
        .page_request(request(stranger, 9, 0x1000, true));
    let batch = units[0].driver.take_page_requests();
    assert!(batch.requests.is_empty());
    assert!(units[0].msgs.lock().contains(&DeviceMessage::PageResponse {
        sid: stranger,
        pasid: Some(4),
        prgi: 9,
        response: PriResponse::InvalidRequest,
    }));
}

#[test]
fn the_driver_builds_no_command_or_request_from_a_pasid_wider_than_20_bits() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let [a] = p.devices([(0, DEV)]);
    let info = p.iommu.device_info(a).unwrap();
    let drv = &units[0].driver;
    for wide in [1 << 20, u32::MAX] {
        drv.page_response(
            &info,
            &PageResponse {
                device: a,
                pasid: Some(wide),
                group: 2,
                code: ResponseCode::Success,
            },
        );
        let req = softiommu_core::PageRequest {
            device: a,
            pasid: Some(wide),
            addr: 0x1000,
            access: Access::READ,
            group: 3,
            last: true,
        };
        assert_eq!(drv.send_page_request(&info, &req).requests, []);
    }
    assert!(units[0].msgs.lock().is_empty());
    assert!(units[0].bus.responses.lock().is_empty());
}

/// The SMMU as the driver reaches it, with one page request arriving right after the
/// driver's next read of PRIQ_PROD: between the handler's read of PROD and its write of
/// CONS, into a queue that is not empty, so that it raises no interrupt.
struct LateRequest {
    unit: Arc<SmmuUnit<Mem>>,
    late: Mutex<Option<BusPageRequest>>,
}

impl SmmuHw for LateRequest {
    fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        let v = self.unit.mmio_read(offset, size);
        if offset == SMMU_PRIQ_PROD
            && let Some(r) = self.late.lock().take()
        {
            Upstream::page_request(&*self.unit, &r);
        }
        v
    }

    fn mmio_write(&self, offset: u64, size: u32, value: u64) {
        self.unit.mmio_write(offset, size, value);
    }

    fn translate(&self, req: Request) -> Result<Translated, Fault> {
        self.unit.translate(req)
    }

    fn page_request(&self, req: &BusPageRequest) {
        Upstream::page_request(&*self.unit, req);
    }
}

/// The PRI queue interrupt comes only when the SMMU writes into an empty queue, so the
/// handler drains until the queue reads empty: a request written while it drained is taken
/// in the same run (no interrupt will announce it), and the next request, into the empty
/// queue, raises the interrupt again.
#[test]
fn a_page_request_written_while_the_queue_drains_is_taken_in_the_same_run() {
    let (mem, alloc, iommu) = platform_memory(8 << 20..64 << 20);
    let irq = Arc::new(IrqLine::new());
    let line = irq.clone();
    let sink = Arc::new(move |i: Interrupt| {
        if i.irq == Irq::PriQueue {
            line.raise();
        }
    });
    let unit = Arc::new(SmmuUnit::new(SmmuParams::full(), mem.clone(), sink).unwrap());
    let hw = Arc::new(LateRequest {
        unit: unit.clone(),
        late: Mutex::new(None),
    });
    let drv = Arc::new(SmmuDriver::new(hw.clone(), mem, alloc).unwrap());
    let inst = iommu.add_instance(drv.clone());
    let rid = Rid::new(0, 3, 0, 0);
    let dev = add_device(&iommu, inst, rid).unwrap();
    let message = |addr: u64, prgi: u16| {
        BusPageRequest::for_access(rid.source_id(), None, addr, true, prgi, true)
    };
    let taken = |drv: &SmmuDriver| -> Vec<(DeviceId, u64, u16)> {
        let batch = drv.take_page_requests();
        batch
            .requests
            .iter()
            .map(|r| (r.device, r.addr, r.group))
            .collect()
    };

    let before = irq.raised();
    Upstream::page_request(&*unit, &message(0x1000, 1));
    assert_eq!(
        irq.raised(),
        before + 1,
        "into the empty queue: the interrupt"
    );
    *hw.late.lock() = Some(message(0x2000, 2));
    assert_eq!(taken(&drv), [(dev, 0x1000, 1), (dev, 0x2000, 2)]);
    assert!(hw.late.lock().is_none());
    assert_eq!(irq.raised(), before + 1, "the late request raised none");
    Upstream::page_request(&*unit, &message(0x3000, 3));
    assert_eq!(irq.raised(), before + 2, "the queue was left empty");
    assert_eq!(taken(&drv), [(dev, 0x3000, 3)]);
}

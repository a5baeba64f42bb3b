//! The PRI queue under the driver: page requests drained in order, an overflow reported once
//! and acknowledged, and the answers sent back with `CMD_PRI_RESP`.

use softiommu_core::testing::DEV;
use softiommu_core::{IommuDriver, PageResponse, ResponseCode};
use softiommu_devices::bus::{PageResponse as BusResponse, PageResponseCode};
use softiommu_pgtable::Access;
use softiommu_smmuv3::model::DeviceMessage;
use softiommu_smmuv3::pri::{PageRequest, PriAccess, PriResponse};
use softiommu_smmuv3::regs::SmmuParams;

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

//! Helpers shared by the VT-d integration tests.

use softiommu_devices::bus::PageResponseCode;
pub use softiommu_devices::testing::BusLog;
use softiommu_vtd::desc::ResponseCode;

/// The page responses the functions on the bus received, oldest first, as (RID, PASID, PRGI,
/// code).
pub fn page_responses(log: &BusLog) -> Vec<(u16, Option<u32>, u16, ResponseCode)> {
    log.responses
        .lock()
        .iter()
        .map(|r| {
            let code = match r.code {
                PageResponseCode::Success => ResponseCode::Success,
                PageResponseCode::InvalidRequest => ResponseCode::InvalidRequest,
                PageResponseCode::ResponseFailure => ResponseCode::Failure,
            };
            (r.rid, r.pasid, r.prgi, code)
        })
        .collect()
}

//! Helpers shared by the VT-d integration tests.

use parking_lot::Mutex;
use softiommu_devices::bus::{
    AtcInvalidation, AtcInvalidationStatus, Endpoint, PageResponse, PageResponseCode,
};
use softiommu_vtd::desc::ResponseCode;

/// What a unit sent to the functions attached on the bus, oldest first.
#[derive(Debug, Default)]
pub struct BusLog {
    /// Device-TLB invalidations (every one completes).
    pub invalidations: Mutex<Vec<AtcInvalidation>>,
    /// Page group responses.
    pub responses: Mutex<Vec<PageResponse>>,
}

impl Endpoint for BusLog {
    fn invalidate_atc(&self, inv: &AtcInvalidation) -> AtcInvalidationStatus {
        self.invalidations.lock().push(*inv);
        AtcInvalidationStatus::Completed
    }

    fn page_response(&self, resp: &PageResponse) {
        self.responses.lock().push(*resp);
    }
}

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

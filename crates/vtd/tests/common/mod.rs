//! Helpers shared by the VT-d integration tests.

use softiommu_vtd::desc::ResponseCode;
use softiommu_vtd::model::DeviceMessage;

/// The page responses among the messages a unit sent to its devices, oldest first, as
/// (SID, PASID, PRGI, code).
pub fn page_responses(msgs: &[DeviceMessage]) -> Vec<(u16, Option<u32>, u16, ResponseCode)> {
    msgs.iter()
        .filter_map(|m| match *m {
            DeviceMessage::PageResponse {
                sid,
                pasid,
                prgi,
                code,
            } => Some((sid, pasid, prgi, code)),
            DeviceMessage::InvalidateAtc { .. } => None,
        })
        .collect()
}

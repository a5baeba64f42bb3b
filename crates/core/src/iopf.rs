//! I/O page faults: page requests from devices, gathered into page-request groups, and the
//! responses that go back.

use softiommu_pgtable::Access;

use crate::ids::{DeviceId, Pasid};

/// A page request a device sent (through its IOMMU) for an address it could not translate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PageRequest {
    /// The requesting device.
    pub device: DeviceId,
    /// The PASID of the request, if it had one.
    pub pasid: Option<Pasid>,
    /// The page address asked for.
    pub addr: u64,
    /// The access the device needs.
    pub access: Access,
    /// Page request group index (9 bits in PCIe).
    pub group: u16,
    /// Last request of its group: the group is answered after this one.
    pub last: bool,
}

/// How a page-request group was answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ResponseCode {
    /// Every page is there now: retry.
    Success,
    /// At least one page cannot be made present: do not retry.
    Invalid,
    /// The handler failed: the device should stop asking.
    Failure,
}

/// The response to a page-request group, as the driver sends it to the device.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PageResponse {
    /// The device the group came from.
    pub device: DeviceId,
    /// The group's PASID.
    pub pasid: Option<Pasid>,
    /// The group index.
    pub group: u16,
    /// The answer.
    pub code: ResponseCode,
}

/// The page requests a driver collected from its hardware in one handling of its
/// page-request event, for the core to route.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PageRequestBatch {
    /// The requests, oldest first.
    pub requests: Vec<PageRequest>,
    /// The hardware dropped requests since the last batch (its queue overflowed): a group
    /// left open may never see its last request, so the core drops the open groups of the
    /// instance's devices once it has routed `requests`.
    pub overflowed: bool,
}

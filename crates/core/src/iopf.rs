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

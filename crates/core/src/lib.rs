//! The IOMMU core of softiommu: Linux's object model of IOMMU instances, devices, groups and
//! domains, with attachment at the RID and at the PASID, process address spaces bound for
//! SVA, and I/O page faults routed to their handlers.

mod caps;
mod domain;
mod driver;
mod error;
mod ids;
mod iommu;
mod iopf;
mod pasid;
pub mod reference;
mod sva;
mod table;
mod topology;

pub use caps::{DeviceCaps, EffectiveCaps, Family, IommuCaps};
pub use domain::{Attachment, Domain, DomainKind, Gather, Nested, NestedData, Paging};
pub use driver::{
    DeviceInfo, DmaFault, DmaFaultKind, DmaTranslation, IommuDriver, PagingRequest, Target,
};
pub use error::{CoreError, Result};
pub use ids::{BridgeId, DeviceId, DomainId, GroupId, InstanceId, PASID_LIMIT, PASID_MIN, Pasid, Rid};
pub use iommu::Iommu;
pub use iopf::{PageRequest, PageResponse, ResponseCode};
pub use sva::Mm;
pub use table::{HwTable, IoPageTable, Mem, TableAlloc};
pub use topology::{Bridge, DeviceDesc, Topology};

//! The IOMMU core of softiommu: Linux's object model of IOMMU instances, devices, groups and
//! domains, with attachment at the RID and at the PASID, process address spaces bound for
//! SVA, and I/O page faults routed to their handlers.
//!
//! # The object model
//!
//! ```text
//!   Iommu (the registry)
//!    |-- instances:  InstanceId -> Arc<dyn IommuDriver>   caps: IommuCaps (per instance!)
//!    |-- groups:     GroupId -> [DeviceId]    formed from a Topology (aliases, bridges w/o ACS)
//!    |-- devices:    DeviceId -> Rid, DeviceCaps, instance, and what it is attached to:
//!    |                  RID   ----------------------------> Domain (blocked/identity/paging/nested)
//!    |                  PASID p1 -------------------------> Domain (paging/sva/nested stage 1)
//!    |                  PASID p2 -------------------------> Domain ...
//!    |-- PASID space: 1 .. 2^20-1, for SVA, users and private kernel PASIDs
//!    '-- open page-request groups
//!
//!   Domain                                   Mm (process address space)
//!    |-- kind: Blocked | Identity             |-- its page table (x86-64 or Arm stage 1)
//!    |         Paging(table)                 |-- mappings, populated on first touch
//!    |         Sva(Arc<Mm>)   --------------->|-- one PASID, shared by every bound device
//!    |         Nested(parent, user stage 1)   '-- an SVA domain per hardware family
//!    '-- attachments: [(device, RID or PASID, instance)]  -> who to flush on sync
//! ```
//!
//! What belongs to whom, as in Linux since the PASID rework (the ids S3–S11 name the
//! behaviours of `docs/design.md`, at the root of the repository, which also tells where
//! this crate sits among the others and where each behaviour is tested):
//!
//! - **Capabilities are asked of a device** ([`Iommu::device_caps`]): the instance behind it
//!   decides, and instances differ (S4).
//! - **A domain holds only the address space** (its page table). The per-device PASID state —
//!   the VT-d PASID table or the SMMUv3 CD table — belongs to the device and is kept by the
//!   driver (S6). One paging domain can be attached to many RIDs and PASIDs on several
//!   instances of one family at once (S3, S5); [`Domain::sync`] flushes every instance where it
//!   is attached, once.
//! - **RID and PASID attachments are independent**: [`Iommu::detach`] blocks the RID and leaves
//!   the PASIDs working (S7). The one exception is a nested domain whose stage 1 is a whole
//!   user-owned PASID table: attached at the RID, it claims every PASID, and PASID attach is
//!   refused while it is there (S8).
//! - **Replace is atomic**: a driver either programs the new target or changes nothing, so a
//!   failed [`Iommu::replace`] leaves the old domain attached and working.
//! - **SVA** ([`Iommu::sva_bind`]) attaches an address space at its PASID; a device's page
//!   request for a missing page goes to its instance, whose driver hands what its hardware
//!   queued to the core ([`IommuDriver::send_page_request`], [`Iommu::page_request_event`]);
//!   [`Iommu::page_request`] answers a whole page-request group once, after its last request,
//!   through the driver (S9).
//! - **Private PASIDs** ([`Iommu::alloc_private_pasid`]) let a kernel driver put its own DMA
//!   on a PASID of its device (S11).
//!
//! Drivers implement [`IommuDriver`]: the reference driver in [`mod@reference`] is pure software;
//! the VT-d and SMMUv3 drivers program their hardware models. A driver's `dma` call is the
//! device side, so the same behaviour tests run against every driver.
//!
//! # Example
//!
//! [`Iommu`] shows the whole path on the reference driver: an instance, a device, a paging
//! domain attached and mapped, and the device's DMA. The VT-d and SMMUv3 crates have the same
//! over their hardware models, as examples (`cargo run --example vtd_dma -p softiommu-vtd`,
//! `cargo run --example smmu_dma -p softiommu-smmuv3`).

mod caps;
mod domain;
mod driver;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod ids;
mod iommu;
mod iopf;
mod pasid;
pub mod reference;
mod sva;
mod table;
#[cfg(feature = "testing")]
pub mod testing;
mod topology;

pub use caps::{DeviceCaps, EffectiveCaps, Family, IommuCaps};
pub use domain::{Attachment, Domain, DomainKind, Gather, Nested, NestedData, Paging};
pub use driver::{
    DeviceInfo, DmaFault, DmaFaultKind, DmaTranslation, HwInfo, IommuDriver, PagingRequest,
    ReservedKind, ReservedRegion, Target,
};
pub use error::{CoreError, HwError, Result};
pub use ids::{
    BridgeId, DeviceId, DomainId, GroupId, InstanceId, PASID_LIMIT, PASID_MIN, Pasid, Rid,
};
pub use iommu::Iommu;
pub use iopf::{PageRequest, PageRequestBatch, PageResponse, ResponseCode};
pub use sva::Mm;
pub use table::{HwTable, IoPageTable, Mem, TableAlloc};
pub use topology::{Bridge, DeviceDesc, Topology};

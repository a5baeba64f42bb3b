//! What a VMM does for the devices of a guest over softiommu.
//!
//! - [`Guest`]: a guest's RAM as rust-vmm `vm-memory` guest memory, mapped into a host IOAS
//!   of the iommufd layer at IOVA = guest-physical address, as a VMM maps it through
//!   `/dev/iommu`, so that a device assigned to the guest and attached to that IOAS reaches
//!   exactly the guest's RAM.
//! - [`viommu`]: a vIOMMU — a VT-d or SMMUv3 unit model whose physical space is the guest's
//!   RAM, brought up by this project's own driver running against guest memory as a guest
//!   kernel would — and, per device, an adapter that is vm-memory's
//!   [`Iommu`](vm_memory::iommu::Iommu), so that a VMM's `IommuMemory` translates the DMA of
//!   its emulated devices through the model (its IOTLB, its walks, its fault or event queue).
//! - [`assign`]: one device assigned to a guest, as an [`Assigned`](assign::Assigned) per
//!   mechanism (direct, shadowing, nesting, with host-allocated PASIDs).
//! - [`host`]: the host the guests run on ([`HostRig`]): a VT-d or SMMUv3 unit with two
//!   functions of a copy engine bound to VFIO and a third shared out as mdevs.
//! - [`GuestDriver`]: the guest's driver of an assigned copy engine, through its device file.
//! - [`matrix`]: every cell of the guest-assignment matrix run with two guests on one host,
//!   with what each guest saw, as a table or JSON.
//! - [`Shadow`], [`SmmuShadow`]: a VT-d vIOMMU in caching mode, or an SMMUv3 one whose
//!   guest driver invalidates after maps, whose guest mappings are mirrored into a
//!   host IOAS for an assigned device, on each IOTLB invalidation the guest queues.
//! - [`nest`]: nesting, the guest's own stage-1 configuration given to the host (on
//!   SMMUv3: its STE as a vSTE through a vIOMMU, with the guest's command queue trapped; on
//!   VT-d: its first-stage table as a nested HWPT, with the guest's invalidation queue
//!   trapped, its faults forwarded and PASIDs handed out from the host's space).

pub mod assign;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod guest;
mod guest_driver;
pub mod host;
pub mod matrix;
pub mod nest;
mod shadow;
pub mod viommu;

pub use error::{Error, Result};
pub use guest::Guest;
pub use guest_driver::GuestDriver;
pub use host::{HostRig, IommuKind};
pub use shadow::{Shadow, ShadowStats, SmmuShadow};

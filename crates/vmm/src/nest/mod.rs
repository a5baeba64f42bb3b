//! Nesting: the guest's own first-stage tables given to the host over a second stage that
//! holds the guest's RAM, its invalidations forwarded. On SMMUv3 the guest's STE becomes a
//! vSTE through a vIOMMU; on VT-d each PASID entry's first-stage table becomes a nested HWPT,
//! the host's faults on it are recorded in the guest's vIOMMU, and the VMM hands a guest
//! PASIDs from the host's space through the vIOMMU's virtual commands.

mod faults;
mod smmu;
mod trap;
mod vtd;

pub use faults::{HostFaults, take_records};
pub use smmu::SmmuNest;
pub use vtd::{GUEST_RID, VtdNest, nest_viommu_params, nest_vtd};

//! Nesting: a guest's own first-stage tables given to the host as nested HWPTs over the
//! guest-RAM second stage, the guest's invalidations forwarded as HWPT invalidations, the
//! host's faults on them forwarded to the guest's vIOMMU, and PASIDs the VMM hands a guest
//! from the host's space.

mod faults;
mod trap;
mod vtd;

pub use faults::{HostFaults, take_records};
pub use vtd::{GUEST_RID, VtdNest, nest_viommu_params, nest_vtd};

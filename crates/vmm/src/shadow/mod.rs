//! Shadowing: the VMM walks the guest's I/O page tables on the guest's invalidations and
//! mirrors each mapping into a host IOAS (guest IOVA to the host memory of the guest
//! page), removing it on the invalidation that follows its unmap. The device's page
//! requests for pages the host lacks are served by the VMM from the guest's tables
//! ([`faults`]): mirrored on demand, or reported to the guest's vIOMMU.

mod faults;
mod smmu;
mod vtd;

pub(crate) use faults::{FaultService, PageServer};

pub use smmu::SmmuShadow;
pub use vtd::{Shadow, ShadowStats};

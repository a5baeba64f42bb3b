//! Shadowing: the VMM walks the guest's I/O page tables on the guest's invalidations and
//! mirrors each mapping into a host IOAS (guest IOVA to the host memory of the guest
//! page), removing it on the invalidation that follows its unmap.

mod smmu;
mod vtd;

pub use smmu::SmmuShadow;
pub use vtd::{Shadow, ShadowStats};

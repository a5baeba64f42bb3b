//! Nesting: the guest's own first-stage tables given to the host over a second stage that
//! holds the guest's RAM, its invalidations forwarded.

mod smmu;

pub use smmu::SmmuNest;

//! The SMMUv3 platform of the integration tests: the crate's own harness.

#![allow(unused_imports)]

pub use softiommu_smmuv3::harness::*;

//! Helpers shared by the VT-d integration tests: the crate's own harness module.

#![allow(unused_imports)]

pub use softiommu_vtd::harness::*;

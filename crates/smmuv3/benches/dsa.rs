//! A DSA-compatible engine's memory moves through the SMMU under its driver, beside
//! `memcpy`, and one descriptor's round trip (see [`softiommu_core::dsa_benches`]).

#[path = "../tests/common/mod.rs"]
mod common;

softiommu_core::dsa_benches!("smmuv3", common::UncheckedHarness);

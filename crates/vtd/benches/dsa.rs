//! A DSA-compatible engine's memory moves through the VT-d unit under its driver, beside
//! `memcpy`, and one descriptor's round trip (see [`softiommu_core::dsa_benches`]).

#![allow(dead_code)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/harness.rs"]
mod harness;

softiommu_core::dsa_benches!("vtd", harness::VtdHarness::unchecked());

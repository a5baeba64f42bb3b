//! A DSA-compatible engine's memory moves through the VT-d unit under its driver, beside
//! `memcpy`, and one descriptor's round trip (see [`softiommu_core::dsa_benches`]).

#![allow(dead_code)]

use softiommu_vtd::harness::VtdHarness;

softiommu_core::dsa_benches!("vtd", VtdHarness::unchecked());

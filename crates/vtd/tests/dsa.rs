//! The core's end-to-end scenarios ([`softiommu_core::testing::dsa`]) on the VT-d driver
//! over the unit model: a DSA-compatible engine's DMA through the unit's bus, in `vtd::`.

mod common;
#[path = "common/harness.rs"]
mod harness;

use harness::VtdHarness;

softiommu_core::dsa_tests!(vtd, VtdHarness::plain());

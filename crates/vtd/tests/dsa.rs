//! The core's end-to-end scenarios ([`softiommu_core::testing::dsa`]) on the VT-d driver
//! over the unit model: a DSA-compatible engine's DMA through the unit's bus, in `vtd::`.

use softiommu_vtd::harness::VtdHarness;

softiommu_core::dsa_tests!(vtd, VtdHarness::plain());

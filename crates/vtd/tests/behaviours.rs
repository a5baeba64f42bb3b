//! The core's behaviour tests of `docs/design.md` ([`softiommu_core::testing::behaviours`]) on
//! the VT-d driver over the unit model: one `#[test]` per behaviour in `vtd::`.

use softiommu_vtd::harness::VtdHarness;

softiommu_core::behaviour_tests!(vtd, VtdHarness::plain());

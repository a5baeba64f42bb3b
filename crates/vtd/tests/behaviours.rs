//! The core's behaviour tests of `docs/design.md` ([`softiommu_core::testing::behaviours`]) on
//! the VT-d driver over the unit model: one `#[test]` per behaviour in `vtd::`.

mod common;
#[path = "common/harness.rs"]
mod harness;

use harness::VtdHarness;

softiommu_core::behaviour_tests!(vtd, VtdHarness::plain());

//! The core's behaviour tests of `docs/design.md` ([`softiommu_core::testing::behaviours`]) on
//! the SMMUv3 driver over the unit model: one `#[test]` per behaviour in `smmu::`.

mod common;

use common::SmmuHarness;

softiommu_core::behaviour_tests!(smmu, SmmuHarness);

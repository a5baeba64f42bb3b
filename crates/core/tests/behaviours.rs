//! The behaviour tests of `docs/design.md` ([`softiommu_core::testing::behaviours`]) on the
//! reference driver, with its private table format and with the VT-d second-stage and Arm
//! stage-1 hardware formats.

use softiommu_core::behaviour_tests;
use softiommu_core::testing::RefHarness;

behaviour_tests!(reference_private, RefHarness::Private);
behaviour_tests!(reference_vtd_ss, RefHarness::VtdSs);
behaviour_tests!(reference_arm_s1, RefHarness::ArmS1);

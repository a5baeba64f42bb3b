//! The behaviour tests of `docs/design.md` (S2–S9, S11 and more), for every driver (feature
//! `testing`).
//!
//! [`harness`] is the platform the tests run on, behind the [`Harness`] trait, with the
//! reference driver's harnesses ([`RefHarness`]); [`behaviours`] holds one `pub fn(&dyn
//! Harness)` per behaviour. A driver crate implements [`Harness`] in its own `tests/` (with
//! this crate as a dev-dependency with the `testing` feature) and runs every behaviour with
//! [`behaviour_tests!`](crate::behaviour_tests): one `#[test]` per behaviour, named after
//! it, in a module named after the harness. [`faulty`] holds misbehaving registers and
//! memory for drivers' robustness tests. [`dsa`] holds the end-to-end scenarios with a
//! DSA-compatible copy engine on a model's bus ([`dsa_tests!`](crate::dsa_tests)) and the
//! engine's benchmarks ([`dsa_benches!`](crate::dsa_benches)).

pub mod behaviours;
pub mod dsa;
pub mod faulty;
pub mod harness;
mod irq;

pub use harness::*;
pub use irq::IrqLine;

/// A behaviour test: a function of the harness it runs on.
pub type Behaviour = fn(&dyn Harness);

/// Every behaviour test, by name, in the order of `docs/design.md`.
pub const ALL: &[(&str, Behaviour)] = &[
    (
        "s2_devices_share_a_domain_or_not_and_separate_domains_isolate",
        behaviours::s2_devices_share_a_domain_or_not_and_separate_domains_isolate,
    ),
    (
        "s3_one_domain_spans_instances_and_every_unmap_is_flushed_everywhere",
        behaviours::s3_one_domain_spans_instances_and_every_unmap_is_flushed_everywhere,
    ),
    (
        "s4_capabilities_are_asked_of_the_device",
        behaviours::s4_capabilities_are_asked_of_the_device,
    ),
    (
        "s5_paging_domain_attached_to_many_rids_and_pasids",
        behaviours::s5_paging_domain_attached_to_many_rids_and_pasids,
    ),
    (
        "s6_pasid_state_belongs_to_the_device",
        behaviours::s6_pasid_state_belongs_to_the_device,
    ),
    (
        "s7_detaching_the_rid_leaves_pasids_working",
        behaviours::s7_detaching_the_rid_leaves_pasids_working,
    ),
    (
        "s8_nested_pasid_table_claims_every_pasid",
        behaviours::s8_nested_pasid_table_claims_every_pasid,
    ),
    (
        "s9_sva_bind_and_io_page_faults",
        behaviours::s9_sva_bind_and_io_page_faults,
    ),
    (
        "s11_private_pasids_for_kernel_dma",
        behaviours::s11_private_pasids_for_kernel_dma,
    ),
    (
        "groups_are_attached_and_claimed_whole",
        behaviours::groups_are_attached_and_claimed_whole,
    ),
    (
        "a_replace_that_fails_leaves_the_old_domain_working",
        behaviours::a_replace_that_fails_leaves_the_old_domain_working,
    ),
    (
        "pasids_wider_than_20_bits_are_refused",
        behaviours::pasids_wider_than_20_bits_are_refused,
    ),
    (
        "sva_bound_pasids_stay_with_their_binding",
        behaviours::sva_bound_pasids_stay_with_their_binding,
    ),
    (
        "each_pasid_has_one_owner",
        behaviours::each_pasid_has_one_owner,
    ),
    (
        "teardown_leaves_nothing_behind",
        behaviours::teardown_leaves_nothing_behind,
    ),
    (
        "random_operations_agree_with_a_model",
        behaviours::random_operations_agree_with_a_model,
    ),
];

/// Runs every behaviour test on `h`, in order (panics at the first that fails).
pub fn run_all(h: &dyn Harness) {
    for (_, test) in ALL {
        test(h);
    }
}

/// Defines `mod $module` with one `#[test]` per behaviour test, named after it, each running
/// it on `$harness` (an expression evaluated inside the module, which sees the invoking
/// module's items through `use super::*`).
#[macro_export]
macro_rules! behaviour_tests {
    ($module:ident, $harness:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn s2_devices_share_a_domain_or_not_and_separate_domains_isolate() {
                $crate::testing::behaviours::s2_devices_share_a_domain_or_not_and_separate_domains_isolate(&$harness)
            }
            #[test]
            fn s3_one_domain_spans_instances_and_every_unmap_is_flushed_everywhere() {
                $crate::testing::behaviours::s3_one_domain_spans_instances_and_every_unmap_is_flushed_everywhere(&$harness)
            }
            #[test]
            fn s4_capabilities_are_asked_of_the_device() {
                $crate::testing::behaviours::s4_capabilities_are_asked_of_the_device(&$harness)
            }
            #[test]
            fn s5_paging_domain_attached_to_many_rids_and_pasids() {
                $crate::testing::behaviours::s5_paging_domain_attached_to_many_rids_and_pasids(&$harness)
            }
            #[test]
            fn s6_pasid_state_belongs_to_the_device() {
                $crate::testing::behaviours::s6_pasid_state_belongs_to_the_device(&$harness)
            }
            #[test]
            fn s7_detaching_the_rid_leaves_pasids_working() {
                $crate::testing::behaviours::s7_detaching_the_rid_leaves_pasids_working(&$harness)
            }
            #[test]
            fn s8_nested_pasid_table_claims_every_pasid() {
                $crate::testing::behaviours::s8_nested_pasid_table_claims_every_pasid(&$harness)
            }
            #[test]
            fn s9_sva_bind_and_io_page_faults() {
                $crate::testing::behaviours::s9_sva_bind_and_io_page_faults(&$harness)
            }
            #[test]
            fn s11_private_pasids_for_kernel_dma() {
                $crate::testing::behaviours::s11_private_pasids_for_kernel_dma(&$harness)
            }
            #[test]
            fn pasids_wider_than_20_bits_are_refused() {
                $crate::testing::behaviours::pasids_wider_than_20_bits_are_refused(&$harness)
            }
            #[test]
            fn sva_bound_pasids_stay_with_their_binding() {
                $crate::testing::behaviours::sva_bound_pasids_stay_with_their_binding(&$harness)
            }
            #[test]
            fn each_pasid_has_one_owner() {
                $crate::testing::behaviours::each_pasid_has_one_owner(&$harness)
            }
            #[test]
            fn teardown_leaves_nothing_behind() {
                $crate::testing::behaviours::teardown_leaves_nothing_behind(&$harness)
            }
            #[test]
            fn random_operations_agree_with_a_model() {
                $crate::testing::behaviours::random_operations_agree_with_a_model(&$harness)
            }
            #[test]
            fn groups_are_attached_and_claimed_whole() {
                $crate::testing::behaviours::groups_are_attached_and_claimed_whole(&$harness)
            }
            #[test]
            fn a_replace_that_fails_leaves_the_old_domain_working() {
                $crate::testing::behaviours::a_replace_that_fails_leaves_the_old_domain_working(&$harness)
            }
        }
    };
}

//! The core API fuzz target on the reference driver: every stored input
//! (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`) runs through its body on stable.

softiommu_mem::replay_tests!(
    core_api_ref => softiommu_core::fuzz::reference,
);

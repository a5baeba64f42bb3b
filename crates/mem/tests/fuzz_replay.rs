//! The address-space fuzz target: every stored input
//! (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`) runs through its body on stable.

softiommu_mem::replay_tests!(
    mem_spaces => softiommu_mem::fuzz::spaces,
);

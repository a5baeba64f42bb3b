//! The VMM layer's fuzz target: every stored input (`fuzz/corpus/guest_tables/` and
//! `fuzz/regressions/guest_tables/`) runs through its body on stable.

softiommu_mem::replay_tests!(guest_tables => softiommu_vmm::fuzz::guest_tables);

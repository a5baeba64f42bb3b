//! The VMM layer's fuzz targets: every stored input (`fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/`) runs through its body on stable.

softiommu_mem::replay_tests!(
    guest_tables => softiommu_vmm::fuzz::guest_tables,
    iommu_memory => softiommu_vmm::fuzz::iommu_memory,
);

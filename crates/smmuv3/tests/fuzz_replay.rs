//! The SMMUv3 fuzz targets (unit, core API on the driver): every stored input of each
//! (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`) runs through its body on stable.

softiommu_mem::replay_tests!(
    smmuv3_unit => softiommu_smmuv3::fuzz::unit,
    core_api_smmuv3 => softiommu_smmuv3::fuzz::api,
);

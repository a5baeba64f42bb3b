//! The VT-d fuzz targets (unit, core API on the driver): every stored input of each
//! (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`) runs through its body on stable.

softiommu_mem::replay_tests!(
    vtd_unit => softiommu_vtd::fuzz::unit,
    core_api_vtd => softiommu_vtd::fuzz::api,
);

//! The page-table fuzz targets: every stored input of each
//! (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`) runs through its body on stable.

softiommu_mem::replay_tests!(
    pgtable_walk => softiommu_pgtable::fuzz::walk,
    pgtable_ops => softiommu_pgtable::fuzz::ops,
);

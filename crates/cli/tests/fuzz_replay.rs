//! The CLI parser fuzz target: every stored input
//! (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`) runs through its body on stable.

softiommu_mem::replay_tests!(
    cli_parse => softiommu_cli::fuzz::parsers,
);

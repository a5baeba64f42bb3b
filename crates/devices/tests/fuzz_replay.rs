//! The device fuzz targets (configuration space, DSA-compatible engine, switch routing): every stored input of
//! each (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`) runs through its body on
//! stable.

softiommu_mem::replay_tests!(
    pci_config => softiommu_devices::pci::fuzz_config,
    dsa_engine => softiommu_devices::dsa::fuzz_engine,
    bus_switch => softiommu_devices::bus::fuzz_switch,
);

//! Fuzz target `pci_config`: the body is `softiommu_devices::pci::fuzz_config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_devices::pci::fuzz_config(data));

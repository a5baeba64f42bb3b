//! Fuzz target `guest_tables`: the body is `softiommu_vmm::fuzz::guest_tables`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_vmm::fuzz::guest_tables(data));

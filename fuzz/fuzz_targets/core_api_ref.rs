//! Fuzz target `core_api_ref`: the body is `softiommu_core::fuzz::reference`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_core::fuzz::reference(data));

//! Fuzz target `core_api_vtd`: the body is `softiommu_vtd::fuzz::api`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_vtd::fuzz::api(data));

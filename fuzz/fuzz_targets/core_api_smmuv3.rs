//! Fuzz target `core_api_smmuv3`: the body is `softiommu_smmuv3::fuzz::api`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_smmuv3::fuzz::api(data));

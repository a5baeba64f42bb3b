//! Fuzz target `device_list`: the body is `softiommu_preload::fuzz::device_list`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_preload::fuzz::device_list(data));

//! Fuzz target `mem_spaces`: the body is `softiommu_mem::fuzz::spaces`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_mem::fuzz::spaces(data));

//! Fuzz target `trap_instruction`: the body is `softiommu_preload::trap::fuzz::instruction`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_preload::trap::fuzz::instruction(data));

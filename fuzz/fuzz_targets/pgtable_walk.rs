//! Fuzz target `pgtable_walk`: the body is `softiommu_pgtable::fuzz::walk`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_pgtable::fuzz::walk(data));

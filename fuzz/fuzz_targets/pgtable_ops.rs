//! Fuzz target `pgtable_ops`: the body is `softiommu_pgtable::fuzz::ops`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_pgtable::fuzz::ops(data));

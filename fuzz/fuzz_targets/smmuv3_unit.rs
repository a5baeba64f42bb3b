//! Fuzz target `smmuv3_unit`: the body is `softiommu_smmuv3::fuzz::unit`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_smmuv3::fuzz::unit(data));

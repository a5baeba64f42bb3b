//! Fuzz target `vtd_unit`: the body is `softiommu_vtd::fuzz::unit`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_vtd::fuzz::unit(data));

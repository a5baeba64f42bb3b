//! Fuzz target `dsa_engine`: the body is `softiommu_devices::dsa::fuzz_engine`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_devices::dsa::fuzz_engine(data));

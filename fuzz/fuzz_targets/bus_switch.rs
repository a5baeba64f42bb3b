//! Fuzz target `bus_switch`: the body is `softiommu_devices::bus::fuzz_switch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_devices::bus::fuzz_switch(data));

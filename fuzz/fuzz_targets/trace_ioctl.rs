//! Fuzz target `trace_ioctl`: the body is `softiommu_preload::fuzz::trace_ioctl`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_preload::fuzz::trace_ioctl(data));

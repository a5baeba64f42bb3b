//! Fuzz target `cli_parse`: the body is `softiommu_cli::fuzz::parsers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_cli::fuzz::parsers(data));

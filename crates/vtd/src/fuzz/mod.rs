//! Bodies of the VT-d fuzz targets (feature `fuzzing`): the unit as hardware, driven through
//! MMIO, memory and device requests from the fuzzer's bytes; and the core's API on the VT-d
//! driver.

mod unit;

pub use unit::unit;

/// The core's API sequence of the bytes ([`softiommu_core::fuzz::api`]) on the VT-d driver
/// over unit models.
pub fn api(data: &[u8]) {
    softiommu_core::fuzz::api(&crate::harness::VtdHarness::plain(), data);
}

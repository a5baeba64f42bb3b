//! Bodies of the SMMUv3 fuzz targets (feature `fuzzing`): the SMMU as hardware, driven through
//! both register pages, memory and device requests from the fuzzer's bytes; and the core's
//! API on the SMMUv3 driver.

mod unit;

pub use unit::unit;

/// The core's API sequence of the bytes ([`softiommu_core::fuzz::api`]) on the SMMUv3 driver
/// over SMMU models.
pub fn api(data: &[u8]) {
    softiommu_core::fuzz::api(&crate::harness::SmmuHarness, data);
}

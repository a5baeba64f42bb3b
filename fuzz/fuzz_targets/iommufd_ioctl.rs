//! Fuzz target `iommufd_ioctl`: the body is `softiommu_iommufd::fuzz::ioctls`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_iommufd::fuzz::ioctls(data));

//! Fuzz target `iommu_memory`: the body is `softiommu_vmm::fuzz::iommu_memory`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| softiommu_vmm::fuzz::iommu_memory(data));

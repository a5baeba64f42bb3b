//! The iommufd fuzz target: every stored input (`fuzz/corpus/iommufd_ioctl/` and
//! `fuzz/regressions/iommufd_ioctl/`) runs through its body on stable.

softiommu_mem::replay_tests!(
    iommufd_ioctl => softiommu_iommufd::fuzz::ioctls,
);

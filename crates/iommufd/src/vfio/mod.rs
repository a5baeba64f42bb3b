//! VFIO on top of iommufd: the type1 container on a context (`/dev/vfio/vfio` answered by
//! iommufd), groups, and the VFIO device interface of emulated PCI functions, through the
//! group or through the device's own file bound to a context.

mod compat;
mod container;
mod device;
mod device_abi;
mod group;
mod interrupts;
mod irq;
mod mdev;
mod pasid;
mod pci;
mod region;

pub use compat::{
    VFIO_DMA_CC_IOMMU, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL,
    VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, VFIO_IOAS_CLEAR, VFIO_IOAS_GET, VFIO_IOAS_SET,
    VFIO_TYPE1_IOMMU, VFIO_TYPE1_NESTING_IOMMU, VFIO_TYPE1V2_IOMMU, VFIO_UNMAP_ALL, VfioIommuInfo,
};
pub use container::{
    VFIO_CHECK_EXTENSION, VFIO_GET_API_VERSION, VFIO_IOMMU_DIRTY_PAGES, VFIO_IOMMU_GET_INFO,
    VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA, VFIO_SET_IOMMU,
};

pub use device::{VfioDevice, VfioPci, pci_name};
pub use device_abi::*;
pub use group::*;
pub use interrupts::*;
pub use irq::{Irqs, MSI_ADDRESS, MSI_WINDOW};
pub(crate) use mdev::MdevBinding;
pub use mdev::MdevParent;
pub use pci::PciFunction;
pub use region::*;

pub(crate) use compat::CompatIoas;
pub(crate) use container::{container_ioctl, vfio_ioas};

/// The ioctl number of VFIO command `n` (`_IO(';', 100 + n)`).
pub const fn vfio_ioctl(n: u32) -> u32 {
    (crate::uapi::IOMMUFD_TYPE << 8) | (100 + n)
}

//! The user interface of softiommu: Linux's iommufd, as a typed API whose every call is one
//! ioctl of the kernel's `/dev/iommu` with its rules and errno, and as that binary interface
//! itself.
//!
//! - [`Host`]: what the contexts of one process share: its memory (a physical address is a
//!   host address), the IOMMU core, the pins on its pages and the locked-memory accounts;
//! - [`Context`]: one open of `/dev/iommu`, with its objects (ids from 1): IOASes with their
//!   areas, allowed and reserved ranges;
//! - pinning: nothing is pinned until a domain needs it; one pin per page however many
//!   domains or copies use it, charged against `RLIMIT_MEMLOCK` per user or per process;
//! - [`vfio`]: VFIO on top: the type1 container on a context, groups, and the VFIO device
//!   interface of emulated PCI functions, whose DMA goes through the IOMMU models.

mod context;
mod device;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod host;
mod hwpt;
mod ioas;
mod iopt;
mod objects;
mod pages;
mod spans;
mod uapi;
pub mod vfio;

pub use context::{Context, OPTION_HUGE_PAGES, OPTION_OP_GET, OPTION_OP_SET, OPTION_RLIMIT_MODE};
pub use device::Device;
pub use error::{Errno, Error, Result};
pub use host::{AccountMode, Credentials, FailPoints, Host, PAGE_SIZE};
pub use hwpt::{
    HWPT_ALLOC_DIRTY_TRACKING, HWPT_ALLOC_NEST_PARENT, HWPT_ALLOC_PASID, HWPT_FAULT_ID_VALID, Hwpt,
};
pub use ioas::{Ioas, IovaRanges, MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE};
pub use spans::SpanCounts;
pub use uapi::{IOMMUFD_TYPE, iommufd_ioctl};

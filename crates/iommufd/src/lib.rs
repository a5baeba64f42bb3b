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
//!   interface of emulated PCI functions, whose DMA goes through the IOMMU models;
//! - HWPTs: paging domains kept filled from an IOAS (with dirty tracking), and nested
//!   domains whose stage 1 the user owns (a VT-d first-stage table over a nesting parent, or
//!   an SMMUv3 STE through a vIOMMU), with the user's cache invalidations;
//! - devices attached at the RID and at PASIDs, their reserved regions held in the IOAS
//!   while attached; fault queues and vEVENTQs on real file descriptors;
//! - accesses: pins and CPU copies by IOVA for mediated devices, told synchronously when an
//!   area they use is unmapped; mediated devices of the copy engine in [`vfio`];
//! - the kernel's test channel (`IOMMU_TEST_CMD`) over a mock IOMMU, on a host made with
//!   [`Host::with_mock`].

mod access;
mod context;
mod device;
mod dirty;
mod error;
mod fault;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod host;
mod hw_info;
mod hwpt;
mod invalidate;
mod ioas;
mod iopt;
mod nested;
mod objects;
mod pages;
mod pasid;
pub mod quiesce;
mod selftest;
mod spans;
mod uapi;
mod veventq;
pub mod vfio;
mod viommu;

pub use access::{ACCESS_NEEDS_PIN_PAGES, Access, AccessOps};
pub use context::{Context, OPTION_HUGE_PAGES, OPTION_OP_GET, OPTION_OP_SET, OPTION_RLIMIT_MODE};
pub use device::Device;
pub use dirty::{DIRTY_BITMAP_NO_CLEAR, DIRTY_TRACKING_ENABLE};
pub use error::{Errno, Error, Result};
pub use fault::{
    FaultQueue, PAGE_RESP_INVALID, PAGE_RESP_SUCCESS, PAGE_RESPONSE_SIZE, PGFAULT_FLAGS_LAST_PAGE,
    PGFAULT_FLAGS_PASID_VALID, PGFAULT_PERM_EXEC, PGFAULT_PERM_PRIV, PGFAULT_PERM_READ,
    PGFAULT_PERM_WRITE, PGFAULT_SIZE,
};
pub use host::{AccountMode, Credentials, FailPoints, Host, PAGE_SIZE};
pub use hw_info::{
    HW_CAP_DIRTY_TRACKING, HW_CAP_PCI_ATS_NOT_SUPPORTED, HW_INFO_FLAG_INPUT_TYPE,
    HW_INFO_TYPE_ARM_SMMUV3, HW_INFO_TYPE_INTEL_VTD, HW_INFO_TYPE_NONE, HwInfoReply,
};
pub use hwpt::{
    HWPT_ALLOC_DIRTY_TRACKING, HWPT_ALLOC_NEST_PARENT, HWPT_ALLOC_PASID, HWPT_DATA_ARM_SMMUV3,
    HWPT_DATA_NONE, HWPT_DATA_VTD_S1, HWPT_FAULT_ID_VALID, Hwpt, HwptData,
};
pub use invalidate::{
    INVALIDATE_DATA_ARM_SMMUV3, INVALIDATE_DATA_VTD_S1, Invalidation, VTD_INV_FLAGS_LEAF,
    VtdInvalidation,
};
pub use ioas::{Ioas, IovaRanges, MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE};
pub use nested::{VTD_S1_EAFE, VTD_S1_SRE, VTD_S1_WPE};
pub use selftest::{
    HW_INFO_TYPE_SELFTEST, HWPT_DATA_SELFTEST, INVALIDATE_DATA_SELFTEST, MOCK_APERTURE,
    MOCK_FLAGS_DEVICE_NO_DIRTY, MOCK_FLAGS_DEVICE_PASID, MOCK_PAGE_SIZE, TEST_OP_ADD_RESERVED,
    TEST_OP_DEV_CHECK_CACHE, TEST_OP_DIRTY, TEST_OP_MD_CHECK_IOTLB, TEST_OP_MD_CHECK_MAP,
    TEST_OP_MD_CHECK_REFS, TEST_OP_MOCK_DOMAIN, TEST_OP_MOCK_DOMAIN_FLAGS,
    TEST_OP_MOCK_DOMAIN_REPLACE, TEST_OP_SET_TEMP_MEMORY_LIMIT,
};
pub use spans::{Edges, SpanCounts};
pub use uapi::{IOMMUFD_TYPE, iommufd_ioctl};
pub use veventq::{
    VEVENT_HEADER_SIZE, VEVENTQ_FLAG_LOST_EVENTS, VEVENTQ_TYPE_ARM_SMMUV3, VEVENTQ_TYPE_DEFAULT,
    Veventq,
};
pub use viommu::{VIOMMU_TYPE_ARM_SMMUV3, VIOMMU_TYPE_DEFAULT, Vdevice, Viommu};

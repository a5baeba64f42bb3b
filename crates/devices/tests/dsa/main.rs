//! The DSA-compatible engine as a driver sees it: bring-up, every operation, every error.

mod ats;
mod driver;
mod errors;
mod harness;
mod iommu;
mod pci;
mod pri;
mod props;
mod stale;

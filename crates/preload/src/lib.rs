//! softiommu inside an unmodified program: the library loaded with `LD_PRELOAD` that answers
//! the program's calls on `/dev/iommu` and `/dev/vfio`, and serves the BARs it maps.
//!
//! [`trap`] makes a mapped BAR work: its pages are inaccessible, and each load or store the
//! program makes there is decoded, performed on the device, and stepped past.

pub mod trap;

//! softiommu behind the real file descriptors of an unmodified, dynamically linked program.
//!
//! Loaded with `LD_PRELOAD` (by `softiommu exec`), the library answers `/dev/iommu`,
//! `/dev/vfio/vfio`, `/dev/vfio/N`, `/dev/vfio/devices/vfioN` and the sysfs entries of the
//! emulated PCI functions from the [`config`] in the environment: each open gives a real
//! descriptor, and calls on it go to softiommu's binary entry points; everything else goes to
//! the real libc.
//!
//! [`trap`] serves the BARs a program maps: their pages are inaccessible, and each load or
//! store the program makes there is decoded, performed on the device, and stepped past.

pub mod config;
pub mod platform;
pub mod trap;

mod hooks;
mod real;
mod state;
mod trace;
mod vfs;

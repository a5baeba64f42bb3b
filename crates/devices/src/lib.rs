//! Emulated DMA-capable PCI functions for softiommu.
//!
//! This crate is the devices layer of `docs/design.md`: PCI functions with configuration
//! space as hardware has it, the bus interface through which a function's requests reach an
//! IOMMU model (and the IOMMU's messages reach the function), the bridges between them (a
//! switch's downstream ports with ACS, a PCI Express to PCI bridge), a copy engine with Intel
//! DSA's programming model, and a memory buffer function that peer-to-peer DMA reaches. It
//! sits above `softiommu-mem` and below the hardware models, which implement its bus
//! interface without knowing each other or the core.

pub mod bus;
pub mod dsa;
pub mod membuf;
pub mod pci;
#[cfg(feature = "testing")]
pub mod testing;

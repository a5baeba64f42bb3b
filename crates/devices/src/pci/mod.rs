//! Configuration space of an emulated PCI Express function, as hardware has it.
//!
//! A function is declared with [`FunctionBuilder`] (IDs, class, 64-bit memory BARs, MSI-X
//! placement, PASID, ATS, PRI, ACS) and becomes a [`ConfigSpace`]: a 4 KiB space with a type-0
//! header, the PCI Express and MSI-X capabilities, and the extended capabilities. Writes change
//! only the bits the specification makes writable, clear the write-1-to-clear bits, and leave
//! reserved bits 0, so no configuration write can put the function in a state the
//! specification does not allow. The MSI-X table and PBA live in an [`MsixTable`] that the BAR
//! emulation maps and the device model fires vectors through.

mod builder;
pub mod caps;
mod config;
mod fuzz;
mod msix;
pub mod regs;

pub use builder::{BuildError, EXPRESS_CAP_OFFSET, FunctionBuilder, MSIX_CAP_OFFSET};
pub use config::{AccessSize, AtsState, ConfigSpace, MsixPlacement, PasidState, PriState};
pub use fuzz::{InvariantViolation, fuzz_config, run_config_ops};
pub use msix::{
    ENTRY_SIZE, FireOutcome, MAX_VECTORS, MsiMessage, MsiSink, MsixTable, VectorControl,
    VectorOutOfRange, entry_offset,
};

#[cfg(test)]
mod tests_behaviour;
#[cfg(test)]
mod tests_layout;
#[cfg(test)]
mod tests_msix;

//! The seam between the driver and a unit's register file: every register access the driver
//! makes goes through a [`VtdMmio`], so that a platform can put its own access path (or a
//! misbehaving one, in tests) between the driver and the unit.

use softiommu_mem::AddressSpace;

use crate::model::VtdUnit;

/// A VT-d register file as the driver reaches it: 4- and 8-byte MMIO reads and writes at
/// offsets of the unit's register set. [`VtdUnit`] is one.
pub trait VtdMmio: Send + Sync {
    /// Reads `size` (4 or 8) bytes at `offset`.
    fn mmio_read(&self, offset: u64, size: u32) -> u64;
    /// Writes the low `size` (4 or 8) bytes of `value` at `offset`.
    fn mmio_write(&self, offset: u64, size: u32, value: u64);
}

impl<M: AddressSpace> VtdMmio for VtdUnit<M> {
    fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        VtdUnit::mmio_read(self, offset, size)
    }

    fn mmio_write(&self, offset: u64, size: u32, value: u64) {
        VtdUnit::mmio_write(self, offset, size, value)
    }
}

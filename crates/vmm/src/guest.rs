//! A guest's RAM and its place in a host I/O address space.

use std::sync::Arc;

use softiommu_core::Mem;
use softiommu_iommufd::{Context, MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE};
use softiommu_mem::GuestRam;
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

use crate::{Error, Result};

/// A guest: its RAM as rust-vmm guest memory (anonymous host mappings, one per range).
#[derive(Debug, Clone)]
pub struct Guest {
    ram: GuestMemoryMmap,
}

impl Guest {
    /// A guest whose RAM is the guest-physical ranges `(start, length)`; lengths are
    /// multiples of 4 KiB and the ranges do not overlap.
    pub fn new(ranges: &[(u64, usize)]) -> Result<Guest> {
        let ranges: Vec<_> = ranges.iter().map(|&(a, l)| (GuestAddress(a), l)).collect();
        let ram = GuestMemoryMmap::from_ranges(&ranges).map_err(|e| Error::Ram(e.to_string()))?;
        Ok(Guest { ram })
    }

    /// The guest's RAM, for the VMM's own accesses.
    pub fn memory(&self) -> &GuestMemoryMmap {
        &self.ram
    }

    /// The guest's RAM as a physical address space (guest-physical addresses), for a model
    /// or a driver that runs on the guest's side.
    pub fn space(&self) -> Mem {
        Arc::new(GuestRam::new(self.ram.clone()))
    }

    /// The guest-physical ranges of RAM with the host address backing each:
    /// `(guest-physical start, host address, length)`.
    pub fn regions(&self) -> Vec<(u64, u64, u64)> {
        self.ram
            .iter()
            .map(|r| (r.start_addr().0, r.as_ptr() as u64, r.len()))
            .collect()
    }

    /// Maps every RAM range into IOAS `ioas` of `ctx` at IOVA = its guest-physical address,
    /// readable and writable (`IOMMU_IOAS_MAP` with a fixed IOVA of the host memory backing
    /// it), as a VMM does for a guest whose devices are assigned without a vIOMMU.
    pub fn map_into(&self, ctx: &Context, ioas: u32) -> Result<()> {
        let flags = MAP_READABLE | MAP_WRITEABLE | MAP_FIXED_IOVA;
        for (gpa, host, len) in self.regions() {
            ctx.ioas_map(ioas, flags, host, len, gpa)?;
        }
        Ok(())
    }

    /// Maps the 4 KiB guest-physical page `gpa` into IOAS `ioas` of `ctx` at `iova`,
    /// readable and, if `write`, writable: the host memory behind the page at a fixed IOVA,
    /// as a VMM mirrors one page of a guest's I/O mappings.
    pub fn map_page(
        &self,
        ctx: &Context,
        ioas: u32,
        iova: u64,
        gpa: u64,
        write: bool,
    ) -> Result<()> {
        let host = self
            .ram
            .get_host_address(GuestAddress(gpa))
            .map_err(|e| Error::Ram(e.to_string()))?;
        let flags = MAP_READABLE | MAP_FIXED_IOVA | if write { MAP_WRITEABLE } else { 0 };
        ctx.ioas_map(ioas, flags, host as u64, 4096, iova)?;
        Ok(())
    }

    /// Removes the guest's RAM from IOAS `ioas` of `ctx`.
    pub fn unmap_from(&self, ctx: &Context, ioas: u32) -> Result<()> {
        for (gpa, _, len) in self.regions() {
            ctx.ioas_unmap(ioas, gpa, len)?;
        }
        Ok(())
    }
}

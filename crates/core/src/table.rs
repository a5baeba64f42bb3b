//! The page table a paging domain holds: any I/O page table behind one trait.

use std::ops::Range;
use std::sync::Arc;

use softiommu_mem::{AddressSpace, PageAlloc};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::{
    Access, DirtyBitmap, Format, Mapping, PageTable, PgError, Prot, Translation, WalkFault,
};

/// The physical memory tables and data live in, as the core holds it.
pub type Mem = Arc<dyn AddressSpace>;
/// The allocator table pages come from.
pub type TableAlloc = Arc<PageAlloc<Mem>>;

/// An I/O page table as a domain sees it: built by the driver that chose its format, edited
/// by the core's map and unmap, walked by whoever translates through it.
pub trait IoPageTable: Send + Sync {
    /// Maps `[iova, iova + size)` to `pa` with `prot`.
    fn map(&mut self, iova: u64, pa: u64, size: u64, prot: Prot) -> Result<(), PgError>;
    /// Unmaps everything in `[iova, iova + size)`; returns the bytes unmapped.
    fn unmap(&mut self, iova: u64, size: u64) -> Result<u64, PgError>;
    /// The mapping of `iova`.
    fn lookup(&self, iova: u64) -> Option<Mapping>;
    /// The walk the hardware makes for one access (with Accessed/Dirty updates).
    fn translate(&self, iova: u64, access: Access) -> Result<Translation, WalkFault>;
    /// Page sizes the table can map, a bit per power of two.
    fn page_sizes(&self) -> u64;
    /// Input addresses the table accepts.
    fn aperture(&self) -> Range<u64>;
    /// Output-address width.
    fn oa_bits(&self) -> u8;
    /// The in-memory format, for tables hardware walks; `None` for a table only software
    /// reads.
    fn format(&self) -> Option<&AnyFormat>;
    /// Physical address of the root, for tables hardware walks.
    fn root(&self) -> Option<u64>;
    /// Gives back the pages of tables unmapping took out; called once every IOMMU that walks
    /// the table has completed the invalidation that followed.
    fn release_freed(&mut self) {}
    /// Marks dirty pages of `[iova, iova + size)` in `bitmap`, cleaning them with `clear`.
    fn read_and_clear_dirty(
        &self,
        iova: u64,
        size: u64,
        bitmap: &mut DirtyBitmap,
        clear: bool,
    ) -> Result<(), PgError>;
}

/// An [`IoPageTable`] in one of the hardware formats, in physical memory.
pub struct HwTable {
    table: PageTable<AnyFormat, Mem>,
    page_sizes: u64,
}

impl HwTable {
    /// An empty table of `format` with pages from `alloc`.
    pub fn new(format: AnyFormat, alloc: TableAlloc) -> Result<HwTable, PgError> {
        let page_sizes = format.geometry().page_sizes().fold(0, |m, s| m | s);
        Ok(HwTable {
            table: PageTable::new(format, alloc)?,
            page_sizes,
        })
    }

    /// The table itself.
    pub fn inner(&self) -> &PageTable<AnyFormat, Mem> {
        &self.table
    }
}

impl IoPageTable for HwTable {
    fn map(&mut self, iova: u64, pa: u64, size: u64, prot: Prot) -> Result<(), PgError> {
        self.table.map(iova, pa, size, prot)
    }
    fn unmap(&mut self, iova: u64, size: u64) -> Result<u64, PgError> {
        self.table.unmap(iova, size)
    }
    fn lookup(&self, iova: u64) -> Option<Mapping> {
        self.table.lookup(iova)
    }
    fn translate(&self, iova: u64, access: Access) -> Result<Translation, WalkFault> {
        self.table.translate(iova, access)
    }
    fn page_sizes(&self) -> u64 {
        self.page_sizes
    }
    fn aperture(&self) -> Range<u64> {
        0..self.table.format().geometry().map_limit()
    }
    fn oa_bits(&self) -> u8 {
        self.table.format().geometry().oa_bits()
    }
    fn format(&self) -> Option<&AnyFormat> {
        Some(self.table.format())
    }
    fn root(&self) -> Option<u64> {
        Some(self.table.root())
    }
    fn release_freed(&mut self) {
        self.table.release_freed();
    }
    fn read_and_clear_dirty(
        &self,
        iova: u64,
        size: u64,
        bitmap: &mut DirtyBitmap,
        clear: bool,
    ) -> Result<(), PgError> {
        self.table.read_and_clear_dirty(iova, size, bitmap, clear)
    }
}

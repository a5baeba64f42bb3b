//! What VFIO's type1 container needs of an IO page table: mappings cut where an unmap
//! starts and ends (type1 v1 may unmap part of a mapping), and the page sizes its domains
//! share.

use super::{Area, IoPt};
use crate::error::{Result, err};
use crate::host::PAGE_SIZE;

impl IoPt {
    /// Splits the mapping holding `iova` so that `iova` is the last IOVA of one part.
    /// Nothing to split is no error; a split off the table's alignment or inside a page of
    /// memory is `EINVAL`.
    pub(crate) fn cut(&mut self, iova: u64) -> Result<()> {
        let Some((start, area)) = self.area_at(iova) else {
            return Ok(());
        };
        if iova == area.last {
            return Ok(());
        }
        let second_start = iova + 1;
        let second_byte = area.start_byte + (second_start - start);
        let align = self.iova_alignment.max(PAGE_SIZE);
        if second_start & (align - 1) != 0 || !second_byte.is_multiple_of(align) {
            return err(libc::EINVAL, "the cut is not aligned to a page");
        }
        let second = Area {
            last: area.last,
            pages: area.pages.clone(),
            start_byte: second_byte,
            prot: area.prot,
        };
        if let Some(first) = self.areas.get_mut(&start) {
            first.last = iova;
        }
        self.areas.insert(second_start, second);
        Ok(())
    }

    /// The page sizes every domain of the table can map, as VFIO reports them: nothing
    /// below a page, and at least the table's alignment.
    pub(crate) fn page_size_bitmap(&self) -> u64 {
        let mut sizes = u64::MAX;
        for slot in &self.domains {
            if let Ok(s) = slot.domain.with_table(|t| t.page_sizes()) {
                sizes &= s;
            }
        }
        if sizes & (PAGE_SIZE - 1) != 0 {
            sizes = (sizes & !(PAGE_SIZE - 1)) | PAGE_SIZE;
        }
        sizes.max(self.iova_alignment)
    }
}

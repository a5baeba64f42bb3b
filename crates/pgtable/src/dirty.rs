//! A bitmap of dirty pages over an input range, filled by `read_and_clear_dirty`.

use crate::error::PgError;

/// One bit per page of `[iova, iova + size)`: set when the page was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyBitmap {
    iova: u64,
    page_shift: u32,
    pages: u64,
    bits: Vec<u64>,
}

impl DirtyBitmap {
    /// A clear bitmap for `[iova, iova + size)` at `page_size` (a power of two) granularity.
    ///
    /// Fails with [`PgError::BitmapRange`] when the range is not aligned to `page_size` or
    /// overflows, or when the host cannot give the memory for its bits.
    pub fn new(iova: u64, size: u64, page_size: u64) -> Result<DirtyBitmap, PgError> {
        let bad = PgError::BitmapRange { iova, size };
        if !page_size.is_power_of_two()
            || !iova.is_multiple_of(page_size)
            || !size.is_multiple_of(page_size)
        {
            return Err(bad);
        }
        iova.checked_add(size).ok_or(bad)?;
        let page_shift = page_size.trailing_zeros();
        let pages = size >> page_shift;
        let words = usize::try_from(pages.div_ceil(64)).map_err(|_| bad)?;
        // An allocation the host refuses is an error, not an abort.
        let mut bits = Vec::new();
        bits.try_reserve_exact(words).map_err(|_| bad)?;
        bits.resize(words, 0);
        Ok(DirtyBitmap {
            iova,
            page_shift,
            pages,
            bits,
        })
    }

    /// First address covered.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// Bytes covered.
    pub fn size(&self) -> u64 {
        self.pages << self.page_shift
    }

    /// Bytes per bit.
    pub fn page_size(&self) -> u64 {
        1 << self.page_shift
    }

    /// Whether `[iova, iova + size)` lies inside the bitmap.
    pub fn covers(&self, iova: u64, size: u64) -> bool {
        iova >= self.iova
            && iova
                .checked_add(size)
                .is_some_and(|end| end <= self.iova + self.size())
    }

    /// Marks every page that `[start, end)` touches; the part outside the bitmap is ignored.
    pub fn mark(&mut self, start: u64, end: u64) {
        let lo = start.max(self.iova);
        let hi = end.min(self.iova + self.size());
        if lo >= hi {
            return;
        }
        let first = (lo - self.iova) >> self.page_shift;
        let last = (hi - 1 - self.iova) >> self.page_shift;
        for page in first..=last {
            self.bits[(page / 64) as usize] |= 1 << (page % 64);
        }
    }

    /// Whether the page holding `iova` is marked.
    pub fn is_dirty(&self, iova: u64) -> bool {
        if !self.covers(iova, 1) {
            return false;
        }
        let page = (iova - self.iova) >> self.page_shift;
        self.bits[(page / 64) as usize] & (1 << (page % 64)) != 0
    }

    /// Input addresses of the marked pages, in order.
    pub fn dirty_pages(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.pages)
            .filter(|p| self.bits[(p / 64) as usize] & (1 << (p % 64)) != 0)
            .map(|p| self.iova + (p << self.page_shift))
    }

    /// Clears every bit.
    pub fn clear(&mut self) {
        self.bits.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_pages_touched_by_a_range() {
        let mut b = DirtyBitmap::new(0x10000, 0x100000, 0x1000).unwrap();
        b.mark(0x11800, 0x13001);
        let got: Vec<u64> = b.dirty_pages().collect();
        assert_eq!(got, vec![0x11000, 0x12000, 0x13000]);
        b.mark(0, 0x10000); // outside: ignored
        b.mark(0x10f000, 0x200000);
        assert!(b.is_dirty(0x10f000));
        assert_eq!(b.dirty_pages().count(), 4);
        b.clear();
        assert_eq!(b.dirty_pages().count(), 0);
        assert!(DirtyBitmap::new(0x800, 0x1000, 0x1000).is_err());
        assert!(DirtyBitmap::new(0, 0x1000, 0x1800).is_err());
    }
}

//! Dirty tracking of paging HWPTs: starting it from a clean state, and reading (and
//! clearing) the pages devices wrote into a user's bitmap.

use std::sync::Arc;

use softiommu_core::Gather;
use softiommu_pgtable::DirtyBitmap;

use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::hwpt::Hwpt;
use crate::objects::Object;
use crate::uapi::{read_user, write_user};

/// `IOMMU_HWPT_DIRTY_TRACKING_ENABLE`.
pub const DIRTY_TRACKING_ENABLE: u32 = 1;
/// `IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR`: read the dirty bits, leave them set.
pub const DIRTY_BITMAP_NO_CLEAR: u32 = 1;

/// Bitmap words read and written per step: the bitmap of a large range is never held whole.
const WORDS_PER_STEP: u64 = 4096;

impl Context {
    /// A paging HWPT: `ENOENT` for any other object.
    fn paging_hwpt(&self, id: u32) -> Result<Arc<Hwpt>> {
        match self.object(id)? {
            Object::Hwpt(h) if !h.is_nested() => Ok(h),
            _ => err(libc::ENOENT, "not a paging HWPT"),
        }
    }

    /// `IOMMU_HWPT_SET_DIRTY_TRACKING`: starts ([`DIRTY_TRACKING_ENABLE`]) or stops dirty
    /// tracking on paging HWPT `id`; starting clears every dirty bit first. `EOPNOTSUPP` for
    /// unknown flags or a HWPT made without `IOMMU_HWPT_ALLOC_DIRTY_TRACKING`.
    pub fn hwpt_set_dirty_tracking(&self, id: u32, flags: u32) -> Result<()> {
        if flags & !DIRTY_TRACKING_ENABLE != 0 {
            return err(libc::EOPNOTSUPP, "unknown dirty-tracking flags");
        }
        let hwpt = self.paging_hwpt(id)?;
        if !dirty_capable(&hwpt) {
            return err(libc::EOPNOTSUPP, "the HWPT was made without dirty tracking");
        }
        if flags & DIRTY_TRACKING_ENABLE == 0 {
            hwpt.dirty_on
                .store(false, std::sync::atomic::Ordering::Release);
            return Ok(());
        }
        let Some(ioas) = hwpt.ioas() else {
            return err(libc::ENOENT, "not a paging HWPT");
        };
        let areas = ioas.iopt.lock().area_ranges();
        for (first, last) in areas {
            harvest(&hwpt, first, last - first + 1, 1 << 12, true, |_| Ok(()))?;
        }
        hwpt.dirty_on
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// `IOMMU_HWPT_GET_DIRTY_BITMAP`: sets in the user's bitmap at `data` (bit `n` for the
    /// page `iova + n * page_size`, in 64-bit words) the pages of `[iova, iova + length)`
    /// that devices wrote, and clears them unless `flags` has [`DIRTY_BITMAP_NO_CLEAR`].
    /// `iova` and `length` must be aligned to the IOAS's alignment and to `page_size`
    /// (`EINVAL`); `EOVERFLOW` when the range wraps.
    pub fn hwpt_get_dirty_bitmap(
        &self,
        id: u32,
        flags: u32,
        iova: u64,
        length: u64,
        page_size: u64,
        data: u64,
    ) -> Result<()> {
        if flags & !DIRTY_BITMAP_NO_CLEAR != 0 {
            return err(libc::EOPNOTSUPP, "unknown dirty-bitmap flags");
        }
        let hwpt = self.paging_hwpt(id)?;
        if !dirty_capable(&hwpt) {
            return err(libc::EOPNOTSUPP, "the HWPT was made without dirty tracking");
        }
        let Some(ioas) = hwpt.ioas() else {
            return err(libc::ENOENT, "not a paging HWPT");
        };
        let align = ioas.iopt.lock().iova_alignment();
        let Some(last) = iova.checked_add(length.wrapping_sub(1)) else {
            return err(libc::EOVERFLOW, "IOVA plus length overflows");
        };
        let end = last.wrapping_add(1);
        if iova & (align - 1) != 0 || end & (align - 1) != 0 {
            return err(libc::EINVAL, "range not aligned to the IOAS's alignment");
        }
        if page_size == 0 || iova & (page_size - 1) != 0 || end & (page_size - 1) != 0 {
            return err(libc::EINVAL, "range not aligned to the bitmap's page size");
        }
        if length == 0 {
            return Ok(());
        }
        // One bit per page of the lowest set bit of `page_size`, as the kernel counts.
        let page = 1u64 << page_size.trailing_zeros();
        let clear = flags & DIRTY_BITMAP_NO_CLEAR == 0;
        harvest(&hwpt, iova, length, page, clear, |bits| {
            merge_into_user(self, data, iova, page, bits)
        })
    }
}

/// Whether `hwpt`'s domain was made to track dirty pages.
fn dirty_capable(hwpt: &Hwpt) -> bool {
    matches!(hwpt.domain.kind(), softiommu_core::DomainKind::Paging(p) if p.dirty_tracking)
}

/// Reads the dirty pages of `[iova, iova + length)` at `page` granularity step by step,
/// clearing them with `clear` (then flushing, so that the next write marks them again), and
/// hands each step's bitmap to `out`.
fn harvest(
    hwpt: &Hwpt,
    iova: u64,
    length: u64,
    page: u64,
    clear: bool,
    mut out: impl FnMut(&DirtyBitmap) -> Result<()>,
) -> Result<()> {
    let step = WORDS_PER_STEP * 64 * page;
    let mut at = 0u64;
    while at < length {
        let n = step.min(length - at);
        let start = iova + at;
        let mut bits = DirtyBitmap::new(start, n, page)
            .map_err(|_| Error::new(libc::ENOMEM, "no memory for the bitmap"))?;
        hwpt.domain
            .read_and_clear_dirty(start, n, &mut bits, clear)
            .map_err(Error::from)?;
        if clear {
            let mut g = Gather::new();
            g.add(start, start.saturating_add(n));
            hwpt.domain.sync(&mut g);
        }
        out(&bits)?;
        at += n;
    }
    Ok(())
}

/// Sets in the user's bitmap at `data` (whose bit 0 is page `base`) the bits of `bits`: the
/// words it covers are read, or-ed and written back, at any alignment of `data`.
fn merge_into_user(
    ctx: &Context,
    data: u64,
    base: u64,
    page: u64,
    bits: &DirtyBitmap,
) -> Result<()> {
    let first = (bits.iova() - base) / page;
    let pages = bits.size() / page;
    let w0 = first / 64;
    let words = (first + pages).div_ceil(64) - w0;
    let fault = || Error::new(libc::EFAULT, "bad bitmap address");
    let addr = data.checked_add(w0 * 8).ok_or_else(fault)?;
    let mut buf = vec![0u8; (words * 8) as usize];
    read_user(ctx, addr, &mut buf)?;
    let mut any = false;
    for iova in bits.dirty_pages() {
        let bit = (iova - base) / page - w0 * 64;
        buf[(bit / 8) as usize] |= 1 << (bit % 8);
        any = true;
    }
    if any {
        write_user(ctx, addr, &buf)?;
    }
    Ok(())
}

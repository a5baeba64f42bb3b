//! VFIO's type1 container on a context, as the kernel's iommufd answers `/dev/vfio/vfio`:
//! one IOAS (the compatibility IOAS) that the container calls map into, and
//! `IOMMU_VFIO_IOAS` to choose it.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::context::Context;
use crate::error::{Result, err};
use crate::ioas::{Ioas, MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE};
use crate::objects::Object;

/// `VFIO_TYPE1_IOMMU`: the first type1 interface, which may unmap part of a mapping.
pub const VFIO_TYPE1_IOMMU: u64 = 1;
/// `VFIO_TYPE1v2_IOMMU`: type1 whose unmaps remove whole mappings only.
pub const VFIO_TYPE1V2_IOMMU: u64 = 3;
/// `VFIO_DMA_CC_IOMMU`: whether every domain keeps DMA cache coherent.
pub const VFIO_DMA_CC_IOMMU: u64 = 4;
/// The number `VFIO_TYPE1_NESTING_IOMMU` had; the kernel no longer offers it.
pub const VFIO_TYPE1_NESTING_IOMMU: u64 = 6;
/// `VFIO_UNMAP_ALL`: `VFIO_DMA_UNMAP_FLAG_ALL` is understood.
pub const VFIO_UNMAP_ALL: u64 = 9;
/// `VFIO_DMA_MAP_FLAG_READ`.
pub const VFIO_DMA_MAP_FLAG_READ: u32 = 1;
/// `VFIO_DMA_MAP_FLAG_WRITE`.
pub const VFIO_DMA_MAP_FLAG_WRITE: u32 = 2;
/// `VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP`: not offered (dirty tracking is iommufd's).
pub const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP: u32 = 1;
/// `VFIO_DMA_UNMAP_FLAG_ALL`: unmap everything.
pub const VFIO_DMA_UNMAP_FLAG_ALL: u32 = 2;
/// `IOMMU_VFIO_IOAS_GET`.
pub const VFIO_IOAS_GET: u16 = 0;
/// `IOMMU_VFIO_IOAS_SET`.
pub const VFIO_IOAS_SET: u16 = 1;
/// `IOMMU_VFIO_IOAS_CLEAR`.
pub const VFIO_IOAS_CLEAR: u16 = 2;

/// What `VFIO_IOMMU_GET_INFO` reports of the compatibility IOAS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VfioIommuInfo {
    /// The page sizes mappings may use (`iova_pgsizes`).
    pub iova_pgsizes: u64,
    /// The usable IOVA ranges `(start, end)` (the IOVA-range capability).
    pub iova_ranges: Vec<(u64, u64)>,
    /// How many more mappings may be made (the DMA-available capability).
    pub dma_avail: u32,
}

/// Which IOAS a context's container calls use: the object id and the IOAS itself, so that
/// an IOAS destroyed since (whose id may be taken again) is not mistaken for it.
#[derive(Default)]
pub(crate) struct CompatIoas(Mutex<Option<(u32, Weak<Ioas>)>>);

impl Context {
    /// The compatibility IOAS: `ENODEV` when there is none.
    fn compat_ioas(&self) -> Result<(u32, Arc<Ioas>)> {
        let cur = self.vfio_ioas.0.lock().clone();
        if let Some((id, weak)) = cur
            && let Some(ioas) = weak.upgrade()
            && let Ok(Object::Ioas(found)) = self.object(id)
            && Arc::ptr_eq(&found, &ioas)
        {
            return Ok((id, ioas));
        }
        err(libc::ENODEV, "the context has no VFIO compatibility IOAS")
    }

    /// `IOMMU_VFIO_IOAS` with `IOMMU_VFIO_IOAS_GET`: the id of the compatibility IOAS
    /// (`ENODEV` when there is none).
    pub fn vfio_ioas_get(&self) -> Result<u32> {
        self.compat_ioas().map(|(id, _)| id)
    }

    /// `IOMMU_VFIO_IOAS` with `IOMMU_VFIO_IOAS_SET`: makes IOAS `ioas` the compatibility
    /// IOAS (`ENOENT` if it is not an IOAS).
    pub fn vfio_ioas_set(&self, ioas: u32) -> Result<()> {
        let a = self.ioas(ioas)?;
        *self.vfio_ioas.0.lock() = Some((ioas, Arc::downgrade(&a)));
        Ok(())
    }

    /// `IOMMU_VFIO_IOAS` with `IOMMU_VFIO_IOAS_CLEAR`: the context has no compatibility IOAS.
    pub fn vfio_ioas_clear(&self) {
        *self.vfio_ioas.0.lock() = None;
    }

    /// The compatibility IOAS, made if there is none (what attaching a VFIO group or device
    /// to the context does); returns its id.
    pub fn vfio_compat_ioas_create(&self) -> Result<u32> {
        if let Ok(id) = self.vfio_ioas_get() {
            return Ok(id);
        }
        let id = self.ioas_alloc()?;
        self.vfio_ioas_set(id)?;
        Ok(id)
    }

    /// `VFIO_GET_API_VERSION`: 0.
    pub fn vfio_api_version(&self) -> i64 {
        0
    }

    /// `VFIO_CHECK_EXTENSION`: 1 for type1, type1v2 and unmap-all; for DMA cache coherency,
    /// whether every domain of the compatibility IOAS keeps it (`ENODEV` without one); 0 for
    /// everything else, the retired nesting type among them.
    pub fn vfio_check_extension(&self, ext: u64) -> Result<i64> {
        match ext {
            VFIO_TYPE1_IOMMU | VFIO_TYPE1V2_IOMMU | VFIO_UNMAP_ALL => Ok(1),
            // The models snoop every DMA: every domain is coherent.
            VFIO_DMA_CC_IOMMU => self.compat_ioas().map(|_| 1),
            _ => Ok(0),
        }
    }

    /// `VFIO_SET_IOMMU`: type1 or type1v2 (`EINVAL` for any other), on a container with a
    /// group (`ENODEV` without the compatibility IOAS). Type1 turns large pages off, so that
    /// any range can be unmapped later (`EINVAL` once domains hold mappings).
    pub fn vfio_set_iommu(&self, ty: u64) -> Result<()> {
        if ty != VFIO_TYPE1_IOMMU && ty != VFIO_TYPE1V2_IOMMU {
            return err(libc::EINVAL, "the container offers type1 and type1v2 only");
        }
        let (_, ioas) = self.compat_ioas()?;
        if ty == VFIO_TYPE1_IOMMU {
            ioas.iopt.lock().set_huge_pages(false)?;
        }
        Ok(())
    }

    /// `VFIO_IOMMU_GET_INFO` of the compatibility IOAS.
    pub fn vfio_iommu_info(&self) -> Result<VfioIommuInfo> {
        let (_, ioas) = self.compat_ioas()?;
        let iopt = ioas.iopt.lock();
        Ok(VfioIommuInfo {
            iova_pgsizes: iopt.page_size_bitmap(),
            iova_ranges: iopt.iova_ranges(),
            dma_avail: u32::MAX,
        })
    }

    /// `VFIO_IOMMU_MAP_DMA`: maps `size` bytes of this process's memory at `vaddr` at
    /// `iova` of the compatibility IOAS. Flags other than read and write are `EINVAL`.
    pub fn vfio_map_dma(&self, flags: u32, vaddr: u64, iova: u64, size: u64) -> Result<()> {
        if flags & !(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE) != 0 {
            return err(libc::EINVAL, "unknown DMA map flags");
        }
        let mut map = MAP_FIXED_IOVA;
        if flags & VFIO_DMA_MAP_FLAG_READ != 0 {
            map |= MAP_READABLE;
        }
        if flags & VFIO_DMA_MAP_FLAG_WRITE != 0 {
            map |= MAP_WRITEABLE;
        }
        let (id, _) = self.compat_ioas()?;
        self.ioas_map(id, map, vaddr, size, iova).map(|_| ())
    }

    /// `VFIO_IOMMU_UNMAP_DMA`: unmaps `[iova, iova + size)` of the compatibility IOAS, or
    /// everything with [`VFIO_DMA_UNMAP_FLAG_ALL`] (then `iova` and `size` must be 0);
    /// returns the bytes unmapped. Type1 cuts mappings at the ends of the range first;
    /// type1v2 refuses a range that would split one (`ENOENT`). Other flags, the dirty
    /// bitmap among them, are `EINVAL`.
    pub fn vfio_unmap_dma(&self, flags: u32, iova: u64, size: u64) -> Result<u64> {
        if flags & !VFIO_DMA_UNMAP_FLAG_ALL != 0 {
            return err(libc::EINVAL, "unknown DMA unmap flags");
        }
        let (id, ioas) = self.compat_ioas()?;
        if flags & VFIO_DMA_UNMAP_FLAG_ALL != 0 {
            if iova != 0 || size != 0 {
                return err(libc::EINVAL, "unmap-all takes no range");
            }
            return self.ioas_unmap(id, 0, u64::MAX);
        }
        let mut iopt = ioas.iopt.lock();
        if !iopt.huge_pages() {
            iopt.cut(iova.wrapping_add(size).wrapping_sub(1))?;
            if iova != 0 {
                iopt.cut(iova - 1)?;
            }
        }
        if size == 0 {
            return err(libc::EINVAL, "zero length");
        }
        let Some(last) = iova.checked_add(size - 1) else {
            return err(libc::EOVERFLOW, "IOVA plus size overflows");
        };
        // Accesses that pinned what goes are told first.
        drop(iopt);
        ioas.unmap_range(iova, last, false)
    }
}

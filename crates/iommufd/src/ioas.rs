//! IO address spaces: the calls that map, unmap and copy user memory, and that set the
//! ranges an IOAS may use.

use std::os::fd::BorrowedFd;
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_pgtable::Prot;

use crate::context::Context;
use crate::error::{Result, err};
use crate::host::Payer;
use crate::iopt::{IoPt, ReservedBy, Slice};
use crate::objects::Object;
use crate::pages::Pages;

/// `IOMMU_IOAS_MAP_FIXED_IOVA`: map at the IOVA given, not at one chosen by the kernel.
pub const MAP_FIXED_IOVA: u32 = 1 << 0;
/// `IOMMU_IOAS_MAP_WRITEABLE`: devices may write.
pub const MAP_WRITEABLE: u32 = 1 << 1;
/// `IOMMU_IOAS_MAP_READABLE`: devices may read.
pub const MAP_READABLE: u32 = 1 << 2;
const MAP_FLAGS: u32 = MAP_FIXED_IOVA | MAP_WRITEABLE | MAP_READABLE;

/// IOVAs and lengths must be below this (`ULONG_MAX` on 64 bits): the kernel refuses
/// `>= ULONG_MAX`, which for a `u64` is this one value.
const ULONG_MAX: u64 = u64::MAX;

/// An IO address space.
pub struct Ioas {
    pub(crate) iopt: Mutex<IoPt>,
    /// The accesses on the IOAS, told when an area they pinned is unmapped.
    pub(crate) accesses: Mutex<Vec<std::sync::Weak<crate::access::Access>>>,
}

/// What `IOMMU_IOAS_IOVA_RANGES` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IovaRanges {
    /// The usable ranges, `(first, last)`.
    pub ranges: Vec<(u64, u64)>,
    /// The alignment every mapping must keep.
    pub alignment: u64,
}

/// Checks a map's flags and turns them into page protections.
fn map_prot(flags: u32) -> Result<Prot> {
    let prot = copy_prot(flags)?;
    if prot == Prot::NONE {
        return err(libc::EINVAL, "a mapping must be readable or writeable");
    }
    Ok(prot)
}

/// Checks a copy's flags and turns them into page protections: unlike a map, a copy may
/// grant no access (the kernel accepts it, and devices then reach nothing there).
fn copy_prot(flags: u32) -> Result<Prot> {
    if flags & !MAP_FLAGS != 0 {
        return err(libc::EOPNOTSUPP, "unknown map flags");
    }
    let mut prot = Prot::NONE;
    if flags & MAP_READABLE != 0 {
        prot = prot | Prot::READ;
    }
    if flags & MAP_WRITEABLE != 0 {
        prot = prot | Prot::WRITE;
    }
    Ok(prot)
}

fn fixed(flags: u32, iova: u64) -> Option<u64> {
    (flags & MAP_FIXED_IOVA != 0).then_some(iova)
}

impl Context {
    /// `IOMMU_IOAS_ALLOC`: a new, empty IOAS; returns its id.
    pub fn ioas_alloc(&self) -> Result<u32> {
        let ioas = Arc::new(Ioas {
            iopt: Mutex::new(IoPt::new(self.host().clone())),
            accesses: Mutex::new(Vec::new()),
        });
        self.insert(Object::Ioas(ioas))
    }

    /// `IOMMU_IOAS_MAP`: maps `length` bytes of this process's memory at `user_va` into IOAS
    /// `ioas`, at `iova` with [`MAP_FIXED_IOVA`] or at an IOVA chosen here; returns the IOVA.
    pub fn ioas_map(
        &self,
        ioas: u32,
        flags: u32,
        user_va: u64,
        length: u64,
        iova: u64,
    ) -> Result<u64> {
        self.map_new_pages(ioas, flags, length, iova, user_va, |w, payer| {
            Pages::user(self.host(), user_va, length, w, payer)
        })
    }

    /// `IOMMU_IOAS_MAP_FILE`: maps `length` bytes of file `fd` (a memfd) from byte `start`;
    /// returns the IOVA. The pages stay usable whatever the user does with its own mappings
    /// of the file.
    pub fn ioas_map_file(
        &self,
        ioas: u32,
        flags: u32,
        fd: BorrowedFd<'_>,
        start: u64,
        length: u64,
        iova: u64,
    ) -> Result<u64> {
        self.map_new_pages(ioas, flags, length, iova, start, |w, payer| {
            Pages::file(self.host(), fd, start, length, w, payer)
        })
    }

    /// The checks and the mapping shared by both map calls; `pages` makes the memory.
    fn map_new_pages(
        &self,
        ioas: u32,
        flags: u32,
        length: u64,
        iova: u64,
        hint: u64,
        pages: impl FnOnce(bool, Payer) -> Result<(Arc<Pages>, u64)>,
    ) -> Result<u64> {
        let prot = map_prot(flags)?;
        if iova == ULONG_MAX || length == ULONG_MAX {
            return err(libc::EOVERFLOW, "IOVA or length too large");
        }
        let ioas = self.ioas(ioas)?;
        let (pages, start_byte) = pages(prot.contains(Prot::WRITE), self.payer())?;
        let slice = Slice {
            pages,
            start_byte,
            length,
        };
        let mut iopt = ioas.iopt.lock();
        iopt.map_one(slice, fixed(flags, iova), hint, prot)
    }

    /// `IOMMU_IOAS_UNMAP`: unmaps the mappings wholly inside `[iova, iova + length)`;
    /// `(0, u64::MAX)` unmaps everything. Returns the bytes unmapped.
    pub fn ioas_unmap(&self, ioas: u32, iova: u64, length: u64) -> Result<u64> {
        let ioas = self.ioas(ioas)?;
        if iova == 0 && length == u64::MAX {
            return ioas.unmap_range(0, u64::MAX, true);
        }
        if iova == ULONG_MAX || length == ULONG_MAX {
            return err(libc::EOVERFLOW, "IOVA or length too large");
        }
        if length == 0 {
            return err(libc::EINVAL, "zero length");
        }
        let Some(last) = iova.checked_add(length - 1) else {
            return err(libc::EOVERFLOW, "IOVA plus length overflows");
        };
        ioas.unmap_range(iova, last, false)
    }

    /// `IOMMU_IOAS_COPY`: maps into `dst` the memory that `[src_iova, src_iova + length)`
    /// maps in `src`, sharing its pins; returns the destination IOVA.
    pub fn ioas_copy(
        &self,
        dst: u32,
        src: u32,
        flags: u32,
        dst_iova: u64,
        src_iova: u64,
        length: u64,
    ) -> Result<u64> {
        let prot = copy_prot(flags)?;
        if length == ULONG_MAX || src_iova == ULONG_MAX || dst_iova == ULONG_MAX {
            return err(libc::EOVERFLOW, "IOVA or length too large");
        }
        let slices = {
            let src = self.ioas(src)?;
            let iopt = src.iopt.lock();
            iopt.slices(src_iova, length)?
        };
        self.host().faults().check("allocating the copy's areas")?;
        let dst = self.ioas(dst)?;
        let hint = slices.first().map_or(0, |s| s.pages.origin(s.start_byte));
        let mut iopt = dst.iopt.lock();
        iopt.map(slices, fixed(flags, dst_iova), hint, prot)
    }

    /// `IOMMU_IOAS_ALLOW_IOVAS`: replaces the ranges automatic IOVAs are taken from.
    pub fn ioas_allow_iovas(&self, ioas: u32, ranges: &[(u64, u64)]) -> Result<()> {
        let ioas = self.ioas(ioas)?;
        let mut iopt = ioas.iopt.lock();
        iopt.set_allowed(ranges)
    }

    /// `IOMMU_IOAS_IOVA_RANGES`: the IOVA ranges mappings may use, and their alignment.
    pub fn ioas_iova_ranges(&self, ioas: u32) -> Result<IovaRanges> {
        let ioas = self.ioas(ioas)?;
        let iopt = ioas.iopt.lock();
        Ok(IovaRanges {
            ranges: iopt.iova_ranges(),
            alignment: iopt.iova_alignment(),
        })
    }

    /// `IOMMU_OPTION` with `IOMMU_OPTION_HUGE_PAGES` on IOAS `ioas`: reads (`None`) or sets
    /// (0 or 1) whether its mappings may use large pages.
    pub fn ioas_huge_pages(&self, ioas: u32, set: Option<u64>) -> Result<u64> {
        let ioas = self.ioas(ioas)?;
        let mut iopt = ioas.iopt.lock();
        match set {
            None => Ok(u64::from(iopt.huge_pages())),
            Some(v @ (0 | 1)) => iopt.set_huge_pages(v == 1).map(|()| v),
            Some(_) => err(libc::EINVAL, "the option is 0 or 1"),
        }
    }

    /// The mappings of IOAS `ioas` as `(first, last)` IOVAs, in order: what a debugger or a
    /// test looks at (the kernel has no such call).
    pub fn ioas_mappings(&self, ioas: u32) -> Result<Vec<(u64, u64)>> {
        let ioas = self.ioas(ioas)?;
        let iopt = ioas.iopt.lock();
        Ok(iopt.area_ranges())
    }

    /// The test channel's `ADD_RESERVED`: reserves `[start, start + length)` in `ioas`.
    pub fn test_add_reserved(&self, ioas: u32, start: u64, length: u64) -> Result<()> {
        let ioas = self.ioas(ioas)?;
        if length == 0 {
            return err(libc::EINVAL, "zero length");
        }
        let Some(last) = start.checked_add(length - 1) else {
            return err(libc::EOVERFLOW, "start plus length overflows");
        };
        let mut iopt = ioas.iopt.lock();
        iopt.reserve(start, last, ReservedBy::Test)
    }
}

//! An IO page table in the kernel's sense: the areas of one IOAS (IOVA ranges mapping slices
//! of pinned memory), its reserved and allowed ranges, and the domains it keeps filled.

mod access;
mod domains;
mod ranges;
mod vfio;

use std::collections::BTreeMap;
use std::sync::Arc;

use softiommu_pgtable::Prot;

use crate::error::{Result, err};
use crate::host::{Host, PAGE_SIZE};
use crate::pages::Pages;

pub(crate) use domains::DomainSlot;
pub(crate) use ranges::ReservedBy;

/// One mapping: `[iova, last]` maps bytes `[start_byte, start_byte + len)` of `pages`.
#[derive(Clone)]
pub(crate) struct Area {
    pub(crate) last: u64,
    pub(crate) pages: Arc<Pages>,
    pub(crate) start_byte: u64,
    pub(crate) prot: Prot,
}

impl Area {
    /// The page indices of `pages` the area covers, given its first IOVA.
    pub(crate) fn page_range(&self, iova: u64) -> std::ops::Range<u64> {
        let last_byte = self.start_byte + (self.last - iova);
        self.start_byte / PAGE_SIZE..last_byte / PAGE_SIZE + 1
    }

    /// The host address behind `iova`, given the area's first IOVA.
    pub(crate) fn addr(&self, first: u64, iova: u64) -> u64 {
        self.pages.addr(self.start_byte + (iova - first))
    }
}

/// A slice of pages to map as one area: the unit a map or a copy inserts.
pub(crate) struct Slice {
    pub(crate) pages: Arc<Pages>,
    pub(crate) start_byte: u64,
    pub(crate) length: u64,
}

/// The IO page table of one IOAS.
pub(crate) struct IoPt {
    host: Arc<Host>,
    /// Areas by first IOVA.
    areas: BTreeMap<u64, Area>,
    /// Reserved ranges (first, last, owner), sorted by first IOVA; they may overlap.
    reserved: Vec<(u64, u64, ReservedBy)>,
    /// Allowed ranges by first IOVA: last IOVA. Empty: everything is allowed.
    allowed: BTreeMap<u64, u64>,
    /// Domains kept filled with every area.
    domains: Vec<DomainSlot>,
    /// Alignments required by accesses, by access id.
    access_align: BTreeMap<u32, u64>,
    /// Whether large pages may be used (`IOMMU_OPTION_HUGE_PAGES`).
    huge_pages: bool,
    /// What every IOVA, length and page offset must be aligned to.
    iova_alignment: u64,
}

impl IoPt {
    /// An empty table of `host`'s memory.
    pub(crate) fn new(host: Arc<Host>) -> IoPt {
        IoPt {
            host,
            areas: BTreeMap::new(),
            reserved: Vec::new(),
            allowed: BTreeMap::new(),
            domains: Vec::new(),
            access_align: BTreeMap::new(),
            huge_pages: true,
            iova_alignment: 1,
        }
    }
}

/// First and last IOVA of the areas that intersect `[start, last]`.
fn intersects(map: &BTreeMap<u64, Area>, start: u64, last: u64) -> Option<(u64, u64)> {
    if let Some((&s, a)) = map.range(..=start).next_back()
        && a.last >= start
    {
        return Some((s, a.last));
    }
    map.range(start..=last).next().map(|(&s, a)| (s, a.last))
}

impl IoPt {
    /// The alignment every new mapping must keep.
    pub(crate) fn iova_alignment(&self) -> u64 {
        self.iova_alignment
    }

    /// The first and last IOVA of every area.
    pub(crate) fn area_ranges(&self) -> Vec<(u64, u64)> {
        self.areas.iter().map(|(&s, a)| (s, a.last)).collect()
    }

    /// The area holding `iova`.
    pub(crate) fn area_at(&self, iova: u64) -> Option<(u64, &Area)> {
        self.areas
            .range(..=iova)
            .next_back()
            .filter(|(_, a)| a.last >= iova)
            .map(|(&s, a)| (s, a))
    }

    /// Checks a fixed IOVA for a new mapping of `length` bytes.
    fn check_iova(&self, iova: u64, length: u64) -> Result<u64> {
        if iova & (self.iova_alignment - 1) != 0 {
            return err(libc::EINVAL, "IOVA not aligned to the IOAS's alignment");
        }
        let Some(last) = iova.checked_add(length - 1) else {
            return err(libc::EOVERFLOW, "IOVA plus length overflows");
        };
        if self.reserved_hits(iova, last) {
            return err(libc::EINVAL, "the range hits a reserved range");
        }
        if intersects(&self.areas, iova, last).is_some() {
            return err(libc::EEXIST, "the range overlaps a mapping");
        }
        Ok(last)
    }

    /// Maps `slices` one after the other from `iova` (or from an IOVA chosen here when
    /// `iova` is `None`, guided by `hint_addr`), with `prot`; fills every domain. Returns
    /// the first IOVA.
    pub(crate) fn map(
        &mut self,
        mut slices: Vec<Slice>,
        iova: Option<u64>,
        hint_addr: u64,
        prot: Prot,
    ) -> Result<u64> {
        if slices.len() == 1
            && let Some(one) = slices.pop()
        {
            return self.map_one(one, iova, hint_addr, prot);
        }
        let length = slices
            .iter()
            .try_fold(0u64, |acc, s| acc.checked_add(s.length));
        let iova = self.place(length, iova, hint_addr)?;
        // Check every slice before inserting anything.
        let mut at = iova;
        let mut areas = Vec::with_capacity(slices.len());
        for s in slices {
            let area = self.area_of(s, at, prot)?;
            let next = area.last.wrapping_add(1);
            areas.push((at, area));
            at = next;
        }
        // Fill the domains; undo what was filled on a failure.
        for (i, (start, area)) in areas.iter().enumerate() {
            if let Err(e) = self.fill_area(*start, area) {
                for (s, a) in &areas[..i] {
                    self.unfill_area(*s, a);
                }
                return Err(e);
            }
        }
        for (start, area) in areas {
            self.areas.insert(start, area);
        }
        Ok(iova)
    }

    /// [`map`](Self::map) of one slice, without gathering areas first.
    pub(crate) fn map_one(
        &mut self,
        slice: Slice,
        iova: Option<u64>,
        hint_addr: u64,
        prot: Prot,
    ) -> Result<u64> {
        let iova = self.place(Some(slice.length), iova, hint_addr)?;
        let area = self.area_of(slice, iova, prot)?;
        self.fill_area(iova, &area)?;
        self.areas.insert(iova, area);
        Ok(iova)
    }

    /// Checks the total `length` of a new mapping (`None`: it overflowed) and the IOVA
    /// given, or chooses one; returns the first IOVA.
    fn place(&self, length: Option<u64>, iova: Option<u64>, hint_addr: u64) -> Result<u64> {
        let Some(length) = length else {
            return err(libc::EOVERFLOW, "total length overflows");
        };
        if length == 0 || length & (self.iova_alignment - 1) != 0 {
            return err(
                libc::EINVAL,
                "length zero or not aligned to the IOAS's alignment",
            );
        }
        match iova {
            Some(iova) => {
                self.check_iova(iova, length)?;
                Ok(iova)
            }
            None => self.alloc_iova(hint_addr, length),
        }
    }

    /// Checks slice `s` for mapping at `at` with `prot`, and makes its area.
    fn area_of(&self, s: Slice, at: u64, prot: Prot) -> Result<Area> {
        if prot.contains(Prot::WRITE) && !s.pages.writable() {
            return err(libc::EPERM, "write access to memory mapped read-only");
        }
        if (s.start_byte % PAGE_SIZE) & (self.iova_alignment - 1) != 0 {
            return err(
                libc::EINVAL,
                "page offset not aligned to the IOAS's alignment",
            );
        }
        let Some(last) = at.checked_add(s.length - 1) else {
            return err(libc::EOVERFLOW, "IOVA plus length overflows");
        };
        Ok(Area {
            last,
            pages: s.pages,
            start_byte: s.start_byte,
            prot,
        })
    }

    /// Unmaps every area inside `[start, last]`; an area only partly inside is `ENOENT`, and
    /// so is a range holding no area. Returns the bytes unmapped.
    pub(crate) fn unmap(&mut self, start: u64, last: u64) -> Result<u64> {
        // Check the whole range first: nothing is removed when any area would be split.
        let (mut count, mut first) = (0u32, 0u64);
        self.each_area_in(start, last, |s, _| {
            count += 1;
            first = s;
        })?;
        if count == 1
            && let Some(area) = self.areas.remove(&first)
        {
            self.unfill_area(first, &area);
            return Ok(area.last - first + 1);
        }
        let mut bytes = 0u64;
        let mut at = start;
        while let Some((s, _)) = intersects(&self.areas, at, last) {
            let Some(area) = self.areas.remove(&s) else {
                break;
            };
            self.unfill_area(s, &area);
            bytes = bytes.wrapping_add(area.last - s + 1);
            match area.last.checked_add(1) {
                Some(n) if n <= last => at = n,
                _ => break,
            }
        }
        Ok(bytes)
    }

    /// The slices of memory behind `[iova, iova + length)`, which contiguous areas must
    /// cover wholly (`ENOENT` otherwise): what a copy maps elsewhere.
    pub(crate) fn slices(&self, iova: u64, length: u64) -> Result<Vec<Slice>> {
        if length == 0 {
            return err(libc::EINVAL, "zero length");
        }
        let Some(last) = iova.checked_add(length - 1) else {
            return err(libc::EOVERFLOW, "IOVA plus length overflows");
        };
        let mut out = Vec::new();
        let mut at = iova;
        loop {
            let Some((s, area)) = self.area_at(at) else {
                return err(libc::ENOENT, "the source range is not wholly mapped");
            };
            let end = area.last.min(last);
            out.push(Slice {
                pages: area.pages.clone(),
                start_byte: area.start_byte + (at - s),
                length: end - at + 1,
            });
            if end == last {
                return Ok(out);
            }
            at = end + 1;
        }
    }
}

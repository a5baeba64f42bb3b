//! Reserved and allowed IOVA ranges, the IOAS's alignment, and the choice of an IOVA when
//! the user leaves it to the kernel.

use super::{IoPt, intersects};
use crate::error::{Result, err};
use crate::host::PAGE_SIZE;

/// Who reserved a range: reservations are removed by their owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReservedBy {
    /// Outside a domain's aperture (the domain's slot id).
    Aperture(u32),
    /// The test channel's ADD_RESERVED.
    Test,
    /// A device's reserved regions while it is attached (a token per attachment).
    Device(u64),
}

/// The largest alignment an automatic IOVA is given (a transparent huge page).
const HPAGE_SIZE: u64 = 2 << 20;

/// Whether `[s, l]` intersects any range of `map` (start -> last).
fn hits<V>(
    map: &std::collections::BTreeMap<u64, V>,
    s: u64,
    l: u64,
    last: impl Fn(&V) -> u64,
) -> bool {
    if let Some((_, v)) = map.range(..=s).next_back()
        && last(v) >= s
    {
        return true;
    }
    map.range(s..=l).next().is_some()
}

/// The parts of `[start, last]` that no range of `used` (first, last; any order, may
/// overlap) covers.
fn gaps(mut used: Vec<(u64, u64)>, start: u64, last: u64) -> Vec<(u64, u64)> {
    used.sort_unstable();
    let mut out = Vec::new();
    let mut at = Some(start);
    for (s, l) in used {
        let Some(a) = at else { break };
        if l < a || s > last {
            continue;
        }
        if s > a {
            out.push((a, s - 1));
        }
        at = l.checked_add(1);
    }
    if let Some(a) = at
        && a <= last
    {
        out.push((a, last));
    }
    out
}

/// Rounds `start` up to `align` and puts `page_offset` back; `None` when `length` bytes
/// from there do not fit before `last`.
fn fit(start: u64, last: u64, length: u64, align: u64, page_offset: u64) -> Option<u64> {
    let aligned = (start.checked_add(align - 1)? & !(align - 1)) | page_offset;
    if aligned >= last || last - aligned < length - 1 {
        None
    } else {
        Some(aligned)
    }
}

impl IoPt {
    pub(super) fn reserved_hits(&self, start: u64, last: u64) -> bool {
        self.reserved.iter().any(|r| r.0 <= last && r.1 >= start)
    }

    /// Reserves `[start, last]` for `owner`: `EADDRINUSE` over a mapping or an allowed range.
    /// Reservations of different owners may overlap.
    pub(crate) fn reserve(&mut self, start: u64, last: u64, owner: ReservedBy) -> Result<()> {
        if start > last {
            return err(libc::EINVAL, "reserved range ends before it starts");
        }
        if intersects(&self.areas, start, last).is_some() {
            return err(libc::EADDRINUSE, "the reserved range overlaps a mapping");
        }
        if hits(&self.allowed, start, last, |&l| l) {
            return err(
                libc::EADDRINUSE,
                "the reserved range overlaps an allowed range",
            );
        }
        let at = self.reserved.partition_point(|r| r.0 <= start);
        self.reserved.insert(at, (start, last, owner));
        Ok(())
    }

    /// Removes every range `owner` reserved.
    pub(crate) fn unreserve(&mut self, owner: ReservedBy) {
        self.reserved.retain(|r| r.2 != owner);
    }

    /// Replaces the allowed ranges: `EINVAL` for an empty or overlapping range,
    /// `EADDRINUSE` when one hits a reserved range.
    pub(crate) fn set_allowed(&mut self, ranges: &[(u64, u64)]) -> Result<()> {
        let mut new = std::collections::BTreeMap::new();
        for &(start, last) in ranges {
            if start >= last {
                return err(libc::EINVAL, "allowed range is empty or reversed");
            }
            if hits(&new, start, last, |&l| l) {
                return err(libc::EINVAL, "allowed ranges overlap");
            }
            new.insert(start, last);
        }
        for (&start, &last) in &new {
            if self.reserved_hits(start, last) {
                return err(libc::EADDRINUSE, "an allowed range hits a reserved range");
            }
        }
        self.allowed = new;
        Ok(())
    }

    /// The usable IOVA ranges: the holes between reserved ranges.
    pub(crate) fn iova_ranges(&self) -> Vec<(u64, u64)> {
        let used = self.reserved.iter().map(|r| (r.0, r.1)).collect();
        gaps(used, 0, u64::MAX)
    }

    /// Chooses an IOVA for `length` bytes of memory at host address `addr`, as the kernel
    /// does: aligned for large pages where the address allows, never 0, inside the allowed
    /// ranges, clear of reserved ranges and mappings, keeping the page offset.
    pub(super) fn alloc_iova(&self, addr: u64, length: u64) -> Result<u64> {
        let page_offset = addr % PAGE_SIZE;
        if length == 0 || length >= u64::MAX / 2 {
            return err(libc::EOVERFLOW, "length too large for an automatic IOVA");
        }
        let mut align = length.next_power_of_two();
        if addr != 0 {
            align = align.min(1 << addr.trailing_zeros());
        }
        align = align.min(HPAGE_SIZE);
        if align < self.iova_alignment {
            return err(
                libc::EINVAL,
                "the address is not aligned to the IOAS's alignment",
            );
        }
        let windows: Vec<(u64, u64)> = if self.allowed.is_empty() {
            vec![(PAGE_SIZE, u64::MAX - PAGE_SIZE)]
        } else {
            self.allowed
                .iter()
                .filter_map(|(&s, &l)| {
                    let (s, l) = (s.max(PAGE_SIZE), l.min(u64::MAX - PAGE_SIZE));
                    (s <= l).then_some((s, l))
                })
                .collect()
        };
        for (ws, wl) in windows {
            if fit(ws, wl, length, align, page_offset).is_none() {
                continue;
            }
            for (hs, hl) in self.holes(ws, wl) {
                if let Some(iova) = fit(hs, hl, length, align, page_offset) {
                    return Ok(iova);
                }
            }
        }
        err(libc::ENOSPC, "no free IOVA range large enough")
    }

    /// The holes in `[start, last]` between reserved ranges and mappings.
    fn holes(&self, start: u64, last: u64) -> Vec<(u64, u64)> {
        let mut used: Vec<(u64, u64)> = self.reserved.iter().map(|r| (r.0, r.1)).collect();
        if let Some((&s, a)) = self.areas.range(..start).next_back() {
            used.push((s, a.last));
        }
        used.extend(self.areas.range(start..=last).map(|(&s, a)| (s, a.last)));
        gaps(used, start, last)
    }

    /// The alignment the domains, accesses and options ask for.
    fn wanted_alignment(&self) -> u64 {
        let mut align = if self.huge_pages { 1 } else { PAGE_SIZE };
        for d in &self.domains {
            align = align.max(d.min_page);
        }
        for &a in self.access_align.values() {
            align = align.max(a);
        }
        align
    }

    /// Raises or lowers the alignment to what is wanted now: `EADDRINUSE` if a mapping does
    /// not keep the new one, `EINVAL` if it is over a page.
    pub(crate) fn update_alignment(&mut self) -> Result<()> {
        let align = self.wanted_alignment();
        if align == self.iova_alignment {
            return Ok(());
        }
        if align > PAGE_SIZE {
            return err(libc::EINVAL, "an alignment larger than a page");
        }
        if align > self.iova_alignment {
            let bad = self.areas.iter().any(|(&s, a)| {
                s & (align - 1) != 0
                    || (a.last - s + 1) & (align - 1) != 0
                    || (a.start_byte % PAGE_SIZE) & (align - 1) != 0
            });
            if bad {
                return err(
                    libc::EADDRINUSE,
                    "a mapping does not keep the new alignment",
                );
            }
        }
        self.iova_alignment = align;
        Ok(())
    }

    /// Sets `IOMMU_OPTION_HUGE_PAGES`: turning large pages off with domains and mappings is
    /// `EINVAL` (the domains' tables would have to be rebuilt).
    pub(crate) fn set_huge_pages(&mut self, on: bool) -> Result<()> {
        if on == self.huge_pages {
            return Ok(());
        }
        if !on && !self.domains.is_empty() && !self.areas.is_empty() {
            return err(
                libc::EINVAL,
                "large pages cannot be turned off while domains are filled",
            );
        }
        self.huge_pages = on;
        let r = self.update_alignment();
        if r.is_err() {
            self.huge_pages = !on;
        }
        r
    }

    /// Whether large pages may be used.
    pub(crate) fn huge_pages(&self) -> bool {
        self.huge_pages
    }
}

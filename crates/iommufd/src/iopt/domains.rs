//! The domains an IO page table keeps filled: every area mapped into each, its pages pinned
//! once for all of them, and the IOVA outside each domain's aperture reserved.

use std::sync::Arc;

use softiommu_core::{Domain, Gather};

use super::{Area, IoPt, ReservedBy};
use crate::error::{Error, Result, err};
use crate::host::PAGE_SIZE;

/// A domain filled from the table.
pub(crate) struct DomainSlot {
    /// The id the table knows it by (its HWPT's object id).
    pub(crate) id: u32,
    pub(crate) domain: Arc<Domain>,
    /// The domain's smallest page size.
    pub(crate) min_page: u64,
}

impl IoPt {
    /// Maps area `[start, area.last]` into `domain`, in pages no larger than the table's
    /// option allows.
    fn map_into(&self, domain: &Domain, start: u64, area: &Area) -> Result<()> {
        self.host.faults().check("mapping into a domain")?;
        if !area.prot.intersects(softiommu_pgtable::Prot::RW) {
            // An area granting no access gives devices nothing to reach.
            return Ok(());
        }
        let mut gather = Gather::new();
        let len = area.last - start + 1;
        let step = if self.huge_pages { len } else { PAGE_SIZE };
        let mut done = 0;
        let mut result = Ok(());
        while done < len {
            let n = step.min(len - done);
            let pa = area.addr(start, start + done);
            if let Err(e) = domain.map(start + done, pa, n, area.prot, &mut gather) {
                result = Err(Error::from(e));
                break;
            }
            done += n;
        }
        if result.is_err() && done > 0 {
            let _ = domain.unmap(start, done, &mut gather);
        }
        domain.sync(&mut gather);
        result
    }

    fn unmap_from(domain: &Domain, start: u64, area: &Area) {
        let mut gather = Gather::new();
        // A failure here means the table was changed behind the domain's back; there is
        // nothing left to undo.
        let _ = domain.unmap(start, area.last - start + 1, &mut gather);
        domain.sync(&mut gather);
    }

    /// Pins a new area and maps it into every domain; undoes everything on a failure.
    pub(super) fn fill_area(&self, start: u64, area: &Area) -> Result<()> {
        if self.domains.is_empty() {
            return Ok(());
        }
        let pages = area.page_range(start);
        area.pages.pin(pages.clone())?;
        for (i, slot) in self.domains.iter().enumerate() {
            if let Err(e) = self.map_into(&slot.domain, start, area) {
                for s in &self.domains[..i] {
                    IoPt::unmap_from(&s.domain, start, area);
                }
                area.pages.unpin(pages);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Unmaps an area from every domain and drops its pin.
    pub(super) fn unfill_area(&self, start: u64, area: &Area) {
        if self.domains.is_empty() {
            return;
        }
        for slot in &self.domains {
            IoPt::unmap_from(&slot.domain, start, area);
        }
        area.pages.unpin(area.page_range(start));
    }

    /// Adds `domain` (known as `id`) to the domains kept filled: reserves the IOVA outside
    /// its aperture, raises the alignment to its smallest page, pins and maps every area.
    pub(crate) fn add_domain(&mut self, id: u32, domain: Arc<Domain>) -> Result<()> {
        let (aperture, sizes) = domain
            .with_table(|t| (t.aperture(), t.page_sizes()))
            .map_err(Error::from)?;
        if sizes == 0 {
            return err(libc::EINVAL, "the domain has no page size");
        }
        let min_page = 1u64 << sizes.trailing_zeros();
        let owner = ReservedBy::Aperture(id);
        let reserved = (|| {
            if aperture.start > 0 {
                self.reserve(0, aperture.start - 1, owner)?;
            }
            if aperture.end != 0 && aperture.end < u64::MAX {
                self.reserve(aperture.end, u64::MAX, owner)?;
            }
            Ok(())
        })();
        if let Err(e) = reserved {
            self.unreserve(owner);
            return Err(e);
        }
        self.domains.push(DomainSlot {
            id,
            domain: domain.clone(),
            min_page,
        });
        if let Err(e) = self.update_alignment() {
            self.drop_slot(id);
            return Err(e);
        }
        let first = self.domains.len() == 1;
        let areas: Vec<(u64, Area)> = self.areas.iter().map(|(&s, a)| (s, a.clone())).collect();
        for (i, (start, area)) in areas.iter().enumerate() {
            let filled = (|| {
                if first {
                    area.pages.pin(area.page_range(*start))?;
                }
                let r = self.map_into(&domain, *start, area);
                if r.is_err() && first {
                    area.pages.unpin(area.page_range(*start));
                }
                r
            })();
            if let Err(e) = filled {
                for (s, a) in &areas[..i] {
                    IoPt::unmap_from(&domain, *s, a);
                    if first {
                        a.pages.unpin(a.page_range(*s));
                    }
                }
                self.drop_slot(id);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Empties domain `id` of every area and stops filling it.
    pub(crate) fn remove_domain(&mut self, id: u32) {
        let Some(slot) = self.domains.iter().find(|d| d.id == id) else {
            return;
        };
        let domain = slot.domain.clone();
        let last = self.domains.len() == 1;
        for (&start, area) in &self.areas {
            IoPt::unmap_from(&domain, start, area);
            if last {
                area.pages.unpin(area.page_range(start));
            }
        }
        self.drop_slot(id);
    }

    fn drop_slot(&mut self, id: u32) {
        self.domains.retain(|d| d.id != id);
        self.unreserve(ReservedBy::Aperture(id));
        // Lowering the alignment never fails.
        let _ = self.update_alignment();
    }
}

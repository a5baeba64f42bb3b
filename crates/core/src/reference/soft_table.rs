//! A page table only software reads: mappings in an ordered map, at any power-of-two page
//! size, within an aperture (the reference driver's private format).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::{
    Access, DirtyBitmap, FaultKind, Mapping, Perm, PgError, Prot, Translation, WalkFault,
};

use crate::table::IoPageTable;

/// Mappings as ordered intervals, checked against a page size and an aperture.
pub struct SoftTable {
    page: u64,
    aperture: Range<u64>,
    oa_bits: u8,
    dirty_tracking: bool,
    map: BTreeMap<u64, (u64, u64, Prot)>,
    dirty: parking_lot::Mutex<BTreeSet<u64>>,
}

impl SoftTable {
    /// An empty table of `page`-byte pages accepting input addresses in `aperture`.
    pub fn new(page: u64, aperture: Range<u64>, oa_bits: u8, dirty_tracking: bool) -> SoftTable {
        SoftTable {
            page,
            aperture,
            oa_bits,
            dirty_tracking,
            map: BTreeMap::new(),
            dirty: parking_lot::Mutex::new(BTreeSet::new()),
        }
    }

    fn find(&self, iova: u64) -> Option<(u64, u64, u64, Prot)> {
        let (&s, &(e, pa, prot)) = self.map.range(..=iova).next_back()?;
        (iova < e).then_some((s, e, pa, prot))
    }

    fn check(&self, iova: u64, pa: u64, size: u64) -> Result<u64, PgError> {
        if (iova | pa | size) & (self.page - 1) != 0 {
            return Err(PgError::Unaligned {
                iova,
                pa,
                size,
                granule: self.page,
            });
        }
        let end = iova
            .checked_add(size)
            .filter(|&e| size > 0 && e <= self.aperture.end);
        match end {
            Some(end) if iova >= self.aperture.start => Ok(end),
            _ => Err(PgError::IovaOutOfRange {
                iova,
                size,
                limit: self.aperture.end,
            }),
        }
    }
}

fn fault(kind: FaultKind) -> WalkFault {
    WalkFault {
        kind,
        level: 0,
        number: 0,
        entry: 0,
    }
}

fn perm_of(prot: Prot) -> Perm {
    let r = prot.contains(Prot::READ);
    let w = prot.contains(Prot::WRITE);
    let x = r && !prot.contains(Prot::NOEXEC);
    let user = !prot.contains(Prot::PRIV);
    Perm::new(r && user, w && user, x && user, r, w, x)
}

impl IoPageTable for SoftTable {
    fn map(&mut self, iova: u64, pa: u64, size: u64, prot: Prot) -> Result<(), PgError> {
        let end = self.check(iova, pa, size)?;
        if pa
            .checked_add(size)
            .is_none_or(|e| self.oa_bits < 64 && e > 1u64 << self.oa_bits)
        {
            return Err(PgError::PaOutOfRange {
                pa,
                size,
                oa_bits: self.oa_bits,
            });
        }
        if !prot.intersects(Prot::RW) {
            return Err(PgError::BadProt(prot));
        }
        if let Some((&s, &(e, _, _))) = self.map.range(..end).next_back()
            && e > iova
        {
            return Err(PgError::AlreadyMapped { iova: s.max(iova) });
        }
        self.map.insert(iova, (end, pa, prot));
        Ok(())
    }

    fn unmap(&mut self, iova: u64, size: u64) -> Result<u64, PgError> {
        let end = self.check(iova, 0, size)?;
        let hits: Vec<u64> = self
            .map
            .range(..end)
            .filter(|(_, v)| v.0 > iova)
            .map(|(&k, _)| k)
            .collect();
        let mut done = 0;
        for k in hits {
            if let Some((e, pa, prot)) = self.map.remove(&k) {
                let (lo, hi) = (k.max(iova), e.min(end));
                done += hi - lo;
                if k < lo {
                    self.map.insert(k, (lo, pa, prot));
                }
                if hi < e {
                    self.map.insert(hi, (e, pa + (hi - k), prot));
                }
            }
        }
        if done == 0 {
            return Err(PgError::NotMapped { iova, size });
        }
        let mut d = self.dirty.lock();
        let gone: Vec<u64> = d.range(iova..end).copied().collect();
        for p in gone {
            d.remove(&p);
        }
        Ok(done)
    }

    fn lookup(&self, iova: u64) -> Option<Mapping> {
        let (s, _, pa, prot) = self.find(iova)?;
        let page = iova & !(self.page - 1);
        Some(Mapping {
            iova: page,
            pa: pa + (page - s),
            size: self.page,
            prot,
            pte: 0,
            level: 0,
        })
    }

    fn translate(&self, iova: u64, access: Access) -> Result<Translation, WalkFault> {
        if !self.aperture.contains(&iova) {
            return Err(fault(FaultKind::Input));
        }
        let m = self.lookup(iova).ok_or(fault(FaultKind::Translation))?;
        let perm = perm_of(m.prot);
        if !perm.allows(access) {
            return Err(fault(FaultKind::Permission));
        }
        if self.dirty_tracking && access.write {
            self.dirty.lock().insert(m.iova);
        }
        Ok(Translation {
            pa: m.pa + (iova - m.iova),
            page_size: self.page,
            perm,
            pte: 0,
            level: 0,
        })
    }

    fn page_sizes(&self) -> u64 {
        self.page
    }

    fn aperture(&self) -> Range<u64> {
        self.aperture.clone()
    }

    fn oa_bits(&self) -> u8 {
        self.oa_bits
    }

    fn format(&self) -> Option<&AnyFormat> {
        None
    }

    fn root(&self) -> Option<u64> {
        None
    }

    fn read_and_clear_dirty(
        &self,
        iova: u64,
        size: u64,
        bitmap: &mut DirtyBitmap,
        clear: bool,
    ) -> Result<(), PgError> {
        if !self.dirty_tracking {
            return Err(PgError::DirtyUnsupported);
        }
        let end = iova
            .checked_add(size)
            .ok_or(PgError::BitmapRange { iova, size })?;
        if !bitmap.covers(iova, size) {
            return Err(PgError::BitmapRange { iova, size });
        }
        let mut d = self.dirty.lock();
        let pages: Vec<u64> = d.range(iova..end).copied().collect();
        for p in pages {
            bitmap.mark(p, p + self.page);
            if clear {
                d.remove(&p);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_kib_pages_in_an_aperture() {
        let mut t = SoftTable::new(2048, 1 << 24..1 << 31, 48, true);
        t.map(1 << 24, 0x1000_0800, 0x1000, Prot::RW).unwrap();
        assert_eq!(t.lookup((1 << 24) + 0x900).map(|m| m.pa), Some(0x1000_1000));
        assert!(matches!(
            t.map(0, 0, 2048, Prot::RW),
            Err(PgError::IovaOutOfRange { .. })
        ));
        assert!(matches!(
            t.map(1 << 31, 0, 2048, Prot::RW),
            Err(PgError::IovaOutOfRange { .. })
        ));
        assert!(matches!(
            t.map((1 << 24) + 0x400, 0, 2048, Prot::RW),
            Err(PgError::Unaligned { .. })
        ));
        assert!(matches!(
            t.map((1 << 24) + 0x800, 0, 0x1000, Prot::RW),
            Err(PgError::AlreadyMapped { .. })
        ));
        t.translate((1 << 24) + 0x800, Access::WRITE).unwrap();
        let mut b = DirtyBitmap::new(1 << 24, 0x1000, 2048).unwrap();
        t.read_and_clear_dirty(1 << 24, 0x1000, &mut b, true)
            .unwrap();
        assert_eq!(b.dirty_pages().collect::<Vec<_>>(), vec![(1 << 24) + 0x800]);
        assert_eq!(t.unmap(1 << 24, 0x800).unwrap(), 0x800);
        assert!(matches!(
            t.unmap(1 << 24, 0x800),
            Err(PgError::NotMapped { .. })
        ));
        assert_eq!(t.lookup((1 << 24) + 0x800).map(|m| m.pa), Some(0x1000_1000));
    }
}

//! What a page table should hold: non-overlapping intervals in a `BTreeMap`, and the pages
//! written since their dirty state was last cleared.

use std::collections::{BTreeMap, BTreeSet};

use crate::prot::Prot;

/// Intervals `start -> (end, pa, prot)`, never overlapping, and written pages.
#[derive(Default, Debug)]
pub(super) struct Model {
    map: BTreeMap<u64, (u64, u64, Prot)>,
    /// Smallest pages written through a translation and not cleared since.
    pub(super) dirty: BTreeSet<u64>,
}

impl Model {
    /// Whether any byte of `[start, end)` is mapped.
    pub(super) fn overlaps(&self, start: u64, end: u64) -> bool {
        self.map
            .range(..end)
            .next_back()
            .is_some_and(|(_, &(e, _, _))| e > start)
    }

    /// Records a mapping of `[iova, iova + size)`; the caller checked it overlaps nothing.
    pub(super) fn map(&mut self, iova: u64, pa: u64, size: u64, prot: Prot) {
        self.map.insert(iova, (iova + size, pa, prot));
    }

    /// Takes out whatever of `[iova, iova + size)` is mapped, and returns how many bytes.
    pub(super) fn unmap(&mut self, iova: u64, size: u64) -> u64 {
        let end = iova + size;
        let hits: Vec<u64> = self
            .map
            .range(..end)
            .filter(|(_, v)| v.0 > iova)
            .map(|(&k, _)| k)
            .collect();
        let mut removed = 0;
        for k in hits {
            let Some((e, pa, prot)) = self.map.remove(&k) else {
                continue;
            };
            let (lo, hi) = (k.max(iova), e.min(end));
            removed += hi - lo;
            if k < lo {
                self.map.insert(k, (lo, pa, prot));
            }
            if hi < e {
                self.map.insert(hi, (e, pa + (hi - k), prot));
            }
        }
        let gone: Vec<u64> = self.dirty.range(iova..end).copied().collect();
        for page in gone {
            self.dirty.remove(&page);
        }
        removed
    }

    /// The output address and rights of `iova`, when it is mapped.
    pub(super) fn get(&self, iova: u64) -> Option<(u64, Prot)> {
        let (&k, &(e, pa, prot)) = self.map.range(..=iova).next_back()?;
        (iova < e).then_some((pa + (iova - k), prot))
    }

    /// Bytes mapped.
    pub(super) fn bytes(&self) -> u64 {
        self.map.iter().map(|(k, v)| v.0 - k).sum()
    }

    /// The mapped intervals, as `(start, end)`.
    pub(super) fn ranges(&self) -> Vec<(u64, u64)> {
        self.map.iter().map(|(&k, v)| (k, v.0)).collect()
    }
}

//! What a page table should hold: non-overlapping intervals in a `BTreeMap`, and the pages
//! written since their dirty state was last cleared.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::prot::Prot;

/// A reference model of a page table: intervals `start -> (end, pa, prot)` that never
/// overlap, and the smallest pages written through a translation and not cleared since.
#[derive(Default, Debug)]
pub struct Model {
    map: BTreeMap<u64, (u64, u64, Prot)>,
    written: BTreeSet<u64>,
}

impl Model {
    /// The start of the last interval that overlaps `[start, end)`, if any does.
    fn overlap(&self, start: u64, end: u64) -> Option<u64> {
        self.map
            .range(..end)
            .next_back()
            .filter(|(_, (e, _, _))| *e > start)
            .map(|(&k, _)| k)
    }

    /// Whether any byte of `[start, end)` is mapped.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.overlap(start, end).is_some()
    }

    /// Maps `[iova, iova + size)` to `pa` with `prot`; fails with the start of a mapping it
    /// would overlap, and then changes nothing.
    pub fn map(&mut self, iova: u64, pa: u64, size: u64, prot: Prot) -> Result<(), u64> {
        if let Some(at) = self.overlap(iova, iova + size) {
            return Err(at);
        }
        self.map.insert(iova, (iova + size, pa, prot));
        Ok(())
    }

    /// Takes out whatever of `[iova, iova + size)` is mapped (splitting mappings that reach
    /// beyond it) and returns how many bytes went.
    pub fn unmap(&mut self, iova: u64, size: u64) -> u64 {
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
        self.clean(iova..end);
        removed
    }

    /// The output address and rights of `iova`, when it is mapped.
    pub fn get(&self, iova: u64) -> Option<(u64, Prot)> {
        let (&k, &(e, pa, prot)) = self.map.range(..=iova).next_back()?;
        (iova < e).then_some((pa + (iova - k), prot))
    }

    /// Bytes mapped.
    pub fn bytes(&self) -> u64 {
        self.map.iter().map(|(k, v)| v.0 - k).sum()
    }

    /// The mapped intervals, as `(start, end)`.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.map.iter().map(|(&k, v)| (k, v.0)).collect()
    }

    /// Records a write to the page at `page`.
    pub fn write(&mut self, page: u64) {
        self.written.insert(page);
    }

    /// The pages in `range` written since they were last cleaned.
    pub fn written(&self, range: Range<u64>) -> Vec<u64> {
        self.written.range(range).copied().collect()
    }

    /// Forgets the writes to the pages in `range` (their dirty state was cleared).
    pub fn clean(&mut self, range: Range<u64>) {
        for page in self.written(range) {
            self.written.remove(&page);
        }
    }
}

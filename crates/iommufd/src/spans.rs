//! Counted spans of pages: how many users hold each page of a range, kept as runs so that a
//! gigabyte of pages costs one entry.

use std::collections::BTreeMap;
use std::ops::Range;

/// Per-page use counts over a space of page numbers, stored as maximal runs of equal,
/// non-zero count.
#[derive(Debug, Default, Clone)]
pub struct SpanCounts {
    /// The only run, while there is exactly one and `runs` is empty: the common case of
    /// one mapping's pages, held without allocating.
    lone: Option<(u64, u64, u32)>,
    /// Run start -> (run end, exclusive; count), when there is not exactly one run.
    runs: BTreeMap<u64, (u64, u32)>,
}

impl PartialEq for SpanCounts {
    fn eq(&self, other: &SpanCounts) -> bool {
        self.runs().eq(other.runs())
    }
}

impl Eq for SpanCounts {}

/// The sub-ranges of pages whose count went from zero to one or from one to zero in one
/// change, in order, touching ones joined. One range is held without allocating.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Edges {
    first: Option<Range<u64>>,
    rest: Vec<Range<u64>>,
}

impl Edges {
    fn one(r: Range<u64>) -> Edges {
        Edges {
            first: Some(r),
            rest: Vec::new(),
        }
    }

    /// Whether no page changed.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The ranges, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Range<u64>> {
        self.first.iter().chain(self.rest.iter())
    }

    /// How many pages the ranges hold.
    pub fn pages(&self) -> u64 {
        self.iter().map(|r| r.end - r.start).sum()
    }
}

impl IntoIterator for Edges {
    type Item = Range<u64>;
    type IntoIter =
        std::iter::Chain<std::option::IntoIter<Range<u64>>, std::vec::IntoIter<Range<u64>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

impl FromIterator<Range<u64>> for Edges {
    fn from_iter<I: IntoIterator<Item = Range<u64>>>(iter: I) -> Edges {
        let mut it = iter.into_iter();
        Edges {
            first: it.next(),
            rest: it.collect(),
        }
    }
}

impl PartialEq<Vec<Range<u64>>> for Edges {
    fn eq(&self, other: &Vec<Range<u64>>) -> bool {
        self.iter().eq(other.iter())
    }
}

impl SpanCounts {
    /// No page in use.
    pub fn new() -> SpanCounts {
        SpanCounts::default()
    }

    /// Whether no page is in use.
    pub fn is_empty(&self) -> bool {
        self.lone.is_none() && self.runs.is_empty()
    }

    /// The count of page `page`.
    pub fn count(&self, page: u64) -> u32 {
        if let Some((s, e, n)) = self.lone {
            return if (s..e).contains(&page) { n } else { 0 };
        }
        match self.runs.range(..=page).next_back() {
            Some((_, &(end, n))) if page < end => n,
            _ => 0,
        }
    }

    /// Pages with a non-zero count.
    pub fn pages_in_use(&self) -> u64 {
        self.runs().map(|(r, _)| r.end - r.start).sum()
    }

    /// The runs, as `(pages, count)`.
    pub fn runs(&self) -> impl Iterator<Item = (Range<u64>, u32)> + '_ {
        let lone = self.lone.map(|(s, e, n)| (s..e, n));
        lone.into_iter()
            .chain(self.runs.iter().map(|(&s, &(e, n))| (s..e, n)))
    }

    /// Adds one use to every page of `pages`; returns the sub-ranges that went from unused to
    /// used.
    pub fn add(&mut self, pages: Range<u64>) -> Edges {
        self.change(pages, true)
    }

    /// Removes one use from every page of `pages`; returns the sub-ranges that went from used
    /// to unused. Pages not in use stay unused (the caller's bookkeeping never asks that).
    pub fn remove(&mut self, pages: Range<u64>) -> Edges {
        self.change(pages, false)
    }

    /// Whether every page of `pages` has a count of at least one.
    pub fn covers(&self, pages: Range<u64>) -> bool {
        if let Some((s, e, _)) = self.lone {
            return pages.start >= pages.end || (s <= pages.start && pages.end <= e);
        }
        let mut at = pages.start;
        while at < pages.end {
            match self.runs.range(..=at).next_back() {
                Some((_, &(end, _))) if at < end => at = end,
                _ => return false,
            }
        }
        true
    }

    fn change(&mut self, pages: Range<u64>, add: bool) -> Edges {
        if pages.start >= pages.end {
            return Edges::default();
        }
        // The lone run: the first user of pages when nothing is in use, and the last user
        // of exactly that run.
        match self.lone {
            None if add && self.runs.is_empty() => {
                self.lone = Some((pages.start, pages.end, 1));
                return Edges::one(pages);
            }
            Some((s, e, 1)) if !add && s == pages.start && e == pages.end => {
                self.lone = None;
                return Edges::one(pages);
            }
            Some((s, e, n)) => {
                // Anything else works on the runs.
                self.lone = None;
                self.runs.insert(s, (e, n));
            }
            None => {}
        }
        let edges = self.change_runs(pages, add);
        if self.runs.len() == 1
            && let Some((s, (e, n))) = self.runs.pop_first()
        {
            self.lone = Some((s, e, n));
        }
        edges
    }

    fn change_runs(&mut self, pages: Range<u64>, add: bool) -> Edges {
        if let Some(edges) = self.change_alone(&pages, add) {
            return edges;
        }
        let mut edges = Vec::new();
        // Split the runs at both ends so that every run touched lies inside `pages`.
        self.split_at(pages.start);
        self.split_at(pages.end);
        let inside: Vec<(u64, (u64, u32))> = self
            .runs
            .range(pages.start..pages.end)
            .map(|(&s, &v)| (s, v))
            .collect();
        let mut at = pages.start;
        for (s, (e, n)) in inside {
            if at < s && add {
                // A gap: unused pages becoming used.
                self.runs.insert(at, (s, 1));
                edges.push(at..s);
            }
            if add {
                self.runs.insert(s, (e, n.saturating_add(1)));
            } else if n <= 1 {
                self.runs.remove(&s);
                edges.push(s..e);
            } else {
                self.runs.insert(s, (e, n - 1));
            }
            at = e;
        }
        if at < pages.end && add {
            self.runs.insert(at, (pages.end, 1));
            edges.push(at..pages.end);
        }
        self.merge_around(pages.start, pages.end);
        merge_ranges(edges).into_iter().collect()
    }

    /// The common cases without splitting or merging: a first user of pages that touch no
    /// run, and the last user of exactly one run. `None` when neither applies.
    fn change_alone(&mut self, pages: &Range<u64>, add: bool) -> Option<Edges> {
        let before = self.runs.range(..pages.end).next_back();
        if add {
            let free = before.is_none_or(|(_, &(e, _))| e < pages.start);
            let after_free = self.runs.get(&pages.end).is_none_or(|&(_, n)| n != 1);
            if free && after_free {
                self.runs.insert(pages.start, (pages.end, 1));
                return Some(Edges::one(pages.clone()));
            }
        } else if let Some((&s, &(e, 1))) = before
            && s == pages.start
            && e == pages.end
        {
            self.runs.remove(&s);
            return Some(Edges::one(pages.clone()));
        }
        None
    }

    /// Splits the run containing `at` (if any starts before it) into two at `at`.
    fn split_at(&mut self, at: u64) {
        if let Some((&s, &(e, n))) = self.runs.range(..at).next_back()
            && at < e
        {
            self.runs.insert(s, (at, n));
            self.runs.insert(at, (e, n));
        }
    }

    /// Joins neighbouring runs of equal count from just before `start` to `end`.
    fn merge_around(&mut self, start: u64, end: u64) {
        let from = self
            .runs
            .range(..start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        let keys: Vec<u64> = self.runs.range(from..=end).map(|(&s, _)| s).collect();
        let mut prev: Option<u64> = None;
        for s in keys {
            let Some(&(e, n)) = self.runs.get(&s) else {
                continue;
            };
            if let Some(p) = prev
                && let Some(&(pe, pn)) = self.runs.get(&p)
                && pe == s
                && pn == n
            {
                self.runs.remove(&s);
                self.runs.insert(p, (e, n));
                continue;
            }
            prev = Some(s);
        }
    }
}

/// Joins touching ranges of a sorted list.
fn merge_ranges(list: Vec<Range<u64>>) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::with_capacity(list.len());
    for r in list {
        match out.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges_report_first_and_last_users() {
        let mut s = SpanCounts::new();
        assert_eq!(s.add(10..20), vec![10..20]);
        assert_eq!(s.add(15..30), vec![20..30]);
        assert_eq!(s.count(14), 1);
        assert_eq!(s.count(15), 2);
        assert_eq!(s.count(30), 0);
        assert_eq!(s.remove(10..20), vec![10..15]);
        assert_eq!(s.remove(15..30), vec![15..30]);
        assert!(s.is_empty());
    }

    proptest! {
        /// Against a per-page model: counts, edges and the number of runs (always maximal).
        #[test]
        fn matches_a_page_model(ops in proptest::collection::vec((any::<bool>(), 0u64..64, 1u64..24), 1..60)) {
            let mut s = SpanCounts::new();
            let mut model = [0u32; 96];
            for (add, start, len) in ops {
                let r = start..start + len;
                // Removal only of what is held, as the callers guarantee.
                let add = add || model[r.start as usize..r.end as usize].contains(&0);
                let edges = if add { s.add(r.clone()) } else { s.remove(r.clone()) };
                let mut want = Vec::new();
                for p in r.clone() {
                    let c = &mut model[p as usize];
                    let before = *c;
                    if add { *c += 1 } else { *c -= 1 }
                    if (before == 0) != (*c == 0) {
                        want.push(p..p + 1);
                    }
                }
                prop_assert_eq!(edges, merge_ranges(want));
                for p in 0..96u64 {
                    prop_assert_eq!(s.count(p), model[p as usize]);
                }
                let runs = (1..96).filter(|&p| model[p] != model[p - 1] && model[p] != 0).count()
                    + usize::from(model[0] != 0);
                prop_assert_eq!(s.runs().count(), runs);
                prop_assert_eq!(s.pages_in_use(), model.iter().filter(|&&c| c > 0).count() as u64);
            }
        }
    }
}

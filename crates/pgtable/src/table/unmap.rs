//! The general unmap: runs of leaves cleared at once, blocks split where the range takes part
//! of one, tables that end empty taken out.

use std::sync::atomic::{AtomicU64, Ordering};

use softiommu_mem::AddressSpace;

use super::{Ctx, Pool, SPLIT_TRIES, State, fewer};
use crate::error::PgError;
use crate::format::{Format, Pte};
use crate::geometry::MAX_LEVELS;

/// By level and low byte of an entry: [`KIND_TABLE`] for a link, 1 for any other valid
/// entry, 0 for an invalid one.
pub(super) type Kinds = [[u8; 256]; MAX_LEVELS];

/// The kind of a link in [`Kinds`]: more than the other kinds of a chunk of
/// [`CHUNK`] entries add up to.
const KIND_TABLE: u8 = 0x40;

/// Entries a run is sorted in at a time, with one branch for the chunk.
const CHUNK: usize = 8;

/// The kinds of `fmt`'s entries by their low byte, when its [`kind_bits`](Format::kind_bits)
/// lie in that byte.
pub(super) fn kinds<F: Format>(fmt: &F) -> Option<Box<Kinds>> {
    if fmt.kind_bits() & !0xff != 0 {
        return None;
    }
    let mut kinds = Box::new([[0u8; 256]; MAX_LEVELS]);
    for (level, by_byte) in kinds.iter_mut().enumerate().take(fmt.geometry().depth()) {
        for (byte, kind) in by_byte.iter_mut().enumerate() {
            let pte = byte as u64;
            *kind = if fmt.next_table(pte, level).is_some() {
                KIND_TABLE
            } else {
                u8::from(fmt.is_valid(pte))
            };
        }
    }
    Some(kinds)
}

impl<F: Format, M: AddressSpace> Ctx<F, M> {
    pub(super) fn unmap_in(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        table: u64,
        i: usize,
        mut va: u64,
        end: u64,
    ) -> Result<u64, PgError> {
        let levels = self.fmt.geometry().levels();
        let lv = levels[i];
        let span = lv.span();
        let words = self.words(p, table, i)?;
        let mut idx = lv.index(va);
        let mut done = 0u64;
        if i + 1 == levels.len() {
            // Last level: every entry is a whole page.
            let n = ((end - va) / span) as usize;
            let cleared = self.clear_pages(&words[idx..idx + n]);
            if cleared > 0 {
                p.add_count(table, -(cleared as i64))?;
                fewer(&mut st.leaves[i], cleared, table)?;
            }
            return Ok(cleared * span);
        }
        while va < end {
            if lv.leaf && va & (span - 1) == 0 && end - va >= span {
                // A run of whole entries: as at the last level, every entry that is not a
                // table ends zero (invalid ones are zero already) and only valid ones are
                // counted, once for the run; a table stops the run and is handled below.
                let n = (((end - va) / span) as usize).min(words.len() - idx);
                let (valid, k) = self.clear_leaf_run(&words[idx..idx + n], i);
                if valid > 0 {
                    p.add_count(table, -(valid as i64))?;
                    fewer(&mut st.leaves[i], valid, table)?;
                    done += valid * span;
                }
                va += k as u64 * span;
                idx += k;
                if k == n {
                    continue;
                }
            }
            let entry_start = va & !(span - 1);
            let entry_end = entry_start + span;
            let sub_end = end.min(entry_end);
            let w = &words[idx];
            let at = table + idx as u64 * 8;
            let pte = w.load(Ordering::Acquire);
            match self.fmt.decode(pte, i) {
                Pte::Invalid | Pte::Reserved => {}
                Pte::Leaf { .. } if va == entry_start && sub_end == entry_end => {
                    w.store(0, Ordering::Release);
                    p.add_count(table, -1)?;
                    fewer(&mut st.leaves[i], 1, table)?;
                    done += span;
                }
                Pte::Leaf { .. } => {
                    let child = self.split(p, st, w, at, pte, i, va)?;
                    done += self.unmap_in(p, st, child, i + 1, va, sub_end)?;
                }
                Pte::Table { next, .. } => {
                    let next = Self::linked(st, at, next)?;
                    done += self.unmap_in(p, st, next, i + 1, va, sub_end)?;
                    if p.count(next)?.load(Ordering::Relaxed) == 0 {
                        w.store(0, Ordering::Release);
                        p.add_count(table, -1)?;
                        self.free_table(st, next, i + 1, va);
                    }
                }
            }
            va = sub_end;
            idx += 1;
        }
        Ok(done)
    }

    /// Unmaps `[iova, end)` when it is a run of whole entries of one table at the leaf level
    /// `level`: walks down to that table along the links the editor made, clears the run and
    /// takes out the tables that end empty, bottom up, with no recursion. `None` when the walk
    /// finds anything but such a link on the way (nothing changed then): the general path
    /// decides. A table among the run's entries hands the rest of the range to the general
    /// path.
    pub(super) fn unmap_run(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        iova: u64,
        end: u64,
        level: usize,
    ) -> Result<Option<u64>, PgError> {
        let geo = self.fmt.geometry();
        let levels = geo.levels();
        let Some(lv) = levels.get(level) else {
            return Ok(None);
        };
        let mut tables = [0u64; MAX_LEVELS];
        tables[0] = self.root;
        for i in 0..level.min(MAX_LEVELS - 1) {
            let at = tables[i] + geo.index(i, iova) as u64 * 8;
            match self.fmt.decode(p.entry(at)?.load(Ordering::Acquire), i) {
                Pte::Table { next, .. } => tables[i + 1] = Self::linked(st, at, next)?,
                _ => return Ok(None),
            }
        }
        let table = tables[level];
        let idx = lv.index(iova);
        let n = ((end - iova) >> lv.shift) as usize;
        let Some(run) = self.words(p, table, level)?.get(idx..idx + n) else {
            return Ok(None);
        };
        let (valid, k) = if level + 1 == levels.len() {
            (self.clear_pages(run), n)
        } else {
            self.clear_leaf_run(run, level)
        };
        let span = lv.span();
        if valid > 0 {
            p.add_count(table, -(valid as i64))?;
            fewer(&mut st.leaves[level], valid, table)?;
        }
        if k < n {
            // A table among the entries: the general path does the rest, and takes out the
            // tables that end empty.
            let rest = self.unmap_in(p, st, self.root, 0, iova + k as u64 * span, end)?;
            return Ok(Some(valid * span + rest));
        }
        let mut i = level;
        while i > 0 && p.count(tables[i])?.load(Ordering::Relaxed) == 0 {
            let parent = tables[i - 1];
            p.entry(parent + geo.index(i - 1, iova) as u64 * 8)?
                .store(0, Ordering::Release);
            p.add_count(parent, -1)?;
            self.free_table(st, tables[i], i, iova);
            i -= 1;
        }
        Ok(Some(valid * span))
    }

    /// Clears the entries of `run`, all pages of the last level; returns how many were valid.
    #[inline(always)]
    fn clear_pages(&self, run: &[AtomicU64]) -> u64 {
        // Every entry of the range ends zero (invalid entries of this table are zero already),
        // so the store needs no branch; only valid ones are counted.
        let mut cleared = 0u64;
        for w in run {
            cleared += u64::from(self.fmt.is_valid(w.load(Ordering::Relaxed)));
            w.store(0, Ordering::Release);
        }
        cleared
    }

    /// Clears the leaves at the start of `run` (entries of a table at level `i`) up to the
    /// first table entry; returns how many of them were valid and how many entries it passed.
    /// Every entry it passes ends zero (invalid ones are zero already).
    #[inline(never)]
    fn clear_leaf_run(&self, run: &[AtomicU64], i: usize) -> (u64, usize) {
        if let Some(kinds) = self.kinds.as_deref() {
            return Self::clear_leaf_run_by_kind(run, &kinds[i.min(MAX_LEVELS - 1)]);
        }
        // Relaxed loads: the editor wrote these entries itself (a walk only sets
        // Accessed/Dirty), and it lets the format's constants stay in registers.
        let mut valid = 0u64;
        let mut k = 0;
        // Four at a time, with one branch for the four.
        for quad in run.chunks_exact(4) {
            let e: [u64; 4] = std::array::from_fn(|j| quad[j].load(Ordering::Relaxed));
            let tables = e
                .iter()
                .fold(false, |t, &pte| t | self.fmt.next_table(pte, i).is_some());
            if tables {
                break;
            }
            valid += e
                .iter()
                .map(|&pte| u64::from(self.fmt.is_valid(pte)))
                .sum::<u64>();
            for w in quad {
                w.store(0, Ordering::Release);
            }
            k += 4;
        }
        while k < run.len() {
            let pte = run[k].load(Ordering::Relaxed);
            if self.fmt.next_table(pte, i).is_some() {
                break;
            }
            valid += u64::from(self.fmt.is_valid(pte));
            run[k].store(0, Ordering::Release);
            k += 1;
        }
        (valid, k)
    }

    /// [`clear_leaf_run`](Self::clear_leaf_run) with each entry's kind read from `kind` by
    /// its low byte: a few instructions an entry whatever the format's rules.
    #[inline(always)]
    fn clear_leaf_run_by_kind(run: &[AtomicU64], kind: &[u8; 256]) -> (u64, usize) {
        let kind_of = |pte: u64| u64::from(kind[(pte & 0xff) as usize]);
        let mut valid = 0u64;
        let mut k = 0;
        for chunk in run.chunks_exact(CHUNK) {
            let e: [u64; CHUNK] = std::array::from_fn(|j| chunk[j].load(Ordering::Relaxed));
            let kinds = e.iter().map(|&pte| kind_of(pte)).sum::<u64>();
            if kinds >= u64::from(KIND_TABLE) {
                break;
            }
            valid += kinds;
            for w in chunk {
                w.store(0, Ordering::Release);
            }
            k += CHUNK;
        }
        while k < run.len() {
            let kind = kind_of(run[k].load(Ordering::Relaxed));
            if kind >= u64::from(KIND_TABLE) {
                break;
            }
            valid += kind;
            run[k].store(0, Ordering::Release);
            k += 1;
        }
        (valid, k)
    }

    /// Replaces the block `pte` in `w` (the entry at `at`, level `i`, on the path of `iova`)
    /// by a table of smaller leaves that map the same; returns the new table.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn split(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        w: &AtomicU64,
        at: u64,
        mut pte: u64,
        i: usize,
        iova: u64,
    ) -> Result<u64, PgError> {
        let child_lv = self.fmt.geometry().levels()[i + 1];
        let child = self.new_table(st, i + 1, iova)?;
        let cw = self.words(p, child, i + 1)?;
        for _ in 0..SPLIT_TRIES {
            let first = self.fmt.demote(pte, i);
            for (k, e) in cw.iter().enumerate() {
                e.store(first + k as u64 * child_lv.span(), Ordering::Relaxed);
            }
            match w.compare_exchange(
                pte,
                self.fmt.table(child, i),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    Self::link(st, at, child);
                    p.count(child)?.store(cw.len() as u32, Ordering::Relaxed);
                    fewer(&mut st.leaves[i], 1, at)?;
                    st.leaves[i + 1] += cw.len() as u64;
                    return Ok(child);
                }
                // The hardware set Accessed or Dirty meanwhile: split what is there now.
                Err(now) => pte = now,
            }
        }
        for e in cw {
            e.store(0, Ordering::Relaxed);
        }
        self.free_table(st, child, i + 1, iova);
        Err(PgError::Contended { level: i })
    }
}

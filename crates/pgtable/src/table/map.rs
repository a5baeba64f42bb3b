//! The general map: runs of leaves written at once, the tables on the way made as needed,
//! and what a refused map made taken away again.

use std::sync::atomic::Ordering;

use softiommu_mem::AddressSpace;

use super::{Ctx, Pool, State};
use crate::error::PgError;
use crate::format::{Format, Pte};
use crate::prot::Prot;

/// Where a map stopped, so that what it did can be undone.
pub(super) struct Stop {
    pub(super) err: PgError,
    pub(super) reached: u64,
}

impl<F: Format, M: AddressSpace> Ctx<F, M> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn map_in(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        table: u64,
        i: usize,
        mut va: u64,
        mut pa: u64,
        end: u64,
        prot: Prot,
    ) -> Result<(), Stop> {
        let lv = self.fmt.geometry().levels()[i];
        let span = lv.span();
        let stop = |err: PgError, reached: u64| Stop { err, reached };
        let words = self.words(p, table, i).map_err(|e| stop(e.into(), va))?;
        let mut idx = lv.index(va);
        while va < end {
            if lv.leaf && (va | pa) & (span - 1) == 0 && end - va >= span {
                // A run of leaves at this level, all in this table.
                let n = (((end - va) / span) as usize).min(words.len() - idx);
                let run = &words[idx..idx + n];
                // A table with no valid entry (its count is exact) needs no look for conflicts.
                let empty = p.count(table).is_ok_and(|c| c.load(Ordering::Relaxed) == 0);
                let conflict = if empty {
                    None
                } else {
                    run.iter()
                        .position(|w| self.fmt.is_valid(w.load(Ordering::Relaxed)))
                };
                if let Some(k) = conflict {
                    let pte = run[k].load(Ordering::Acquire);
                    let at = self.first_mapped(p, pte, i, va + k as u64 * span);
                    return Err(stop(PgError::AlreadyMapped { iova: at }, va));
                }
                let first = self.fmt.leaf(pa, i, prot);
                for (k, w) in run.iter().enumerate() {
                    w.store(first + k as u64 * span, Ordering::Release);
                }
                p.add_count(table, n as i64).map_err(|e| stop(e, va))?;
                st.leaves[i] += n as u64;
                va += n as u64 * span;
                pa += n as u64 * span;
                idx += n;
                continue;
            }
            let entry_end = (va | (span - 1)) + 1;
            let sub_end = end.min(entry_end);
            let w = &words[idx];
            let at = table + idx as u64 * 8;
            let pte = w.load(Ordering::Acquire);
            let (next, fresh) = match self.fmt.decode(pte, i) {
                Pte::Table { next, .. } => {
                    (Self::linked(st, at, next).map_err(|e| stop(e, va))?, false)
                }
                Pte::Invalid => {
                    let t = self
                        .new_table(st, i + 1, va)
                        .map_err(|e| stop(e.into(), va))?;
                    w.store(self.fmt.table(t, i), Ordering::Release);
                    Self::link(st, at, t);
                    p.add_count(table, 1).map_err(|e| stop(e, va))?;
                    (t, true)
                }
                Pte::Leaf { .. } | Pte::Reserved => {
                    return Err(stop(PgError::AlreadyMapped { iova: va }, va));
                }
            };
            if let Err(s) = self.map_in(p, st, next, i + 1, va, pa, sub_end, prot) {
                if fresh && s.reached == va {
                    // The new table stayed empty: take it away before reporting.
                    w.store(0, Ordering::Release);
                    let _ = p.add_count(table, -1);
                    self.free_table(st, next, i + 1, va);
                }
                return Err(s);
            }
            pa += sub_end - va;
            va = sub_end;
            idx += 1;
        }
        Ok(())
    }

    /// The first mapped address under the valid entry `pte` at level `i`, whose span starts at
    /// `va`: `va` itself for a leaf; for a table, the first mapped address of its first valid
    /// entry (a linked table is never empty).
    pub(super) fn first_mapped(&self, p: &Pool<'_>, pte: u64, i: usize, va: u64) -> u64 {
        let Some(next) = self.fmt.next_table(pte, i) else {
            return va;
        };
        let span = self.fmt.geometry().levels()[i + 1].span();
        let words = self.words(p, next, i + 1).unwrap_or_default();
        let mut at = va;
        for w in words {
            let e = w.load(Ordering::Acquire);
            if self.fmt.is_valid(e) {
                return self.first_mapped(p, e, i + 1, at);
            }
            at += span;
        }
        va
    }
}

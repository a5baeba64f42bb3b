//! The one table editor: map, unmap (with block splitting and freeing of empty tables),
//! dirty harvesting, and teardown, for every format.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use softiommu_mem::{AddressSpace, MemError, PageAlloc};

use crate::dirty::DirtyBitmap;
use crate::error::PgError;
use crate::format::{Format, Pte};
use crate::geometry::MAX_LEVELS;
use crate::prot::{Access, Prot};
use crate::walk::{self, Mapping, Step, Translation, WalkFault};

/// Freed table pages kept for reuse before they go back to the allocator.
const STASH_MAX: usize = 32;
/// Tries to replace a block whose Accessed/Dirty bits keep changing under a split.
const SPLIT_TRIES: usize = 16;

/// Counts of what a table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStats {
    /// Table pages in use (the root counts as one, however many granules it spans).
    pub tables: u64,
    /// Bytes of table memory in use.
    pub table_bytes: u64,
    /// Leaves of each page size, largest first: (page size, count).
    pub pages: Vec<(u64, u64)>,
}

/// The parts of a table that do not change after creation.
struct Ctx<F, M> {
    fmt: F,
    alloc: Arc<PageAlloc<M>>,
    root: u64,
}

/// The bookkeeping that map and unmap change.
struct State {
    stash: Vec<u64>,
    tables: u64,
    leaves: [u64; MAX_LEVELS],
}

/// The allocator's whole range as one slice, taken once per operation: table entries and
/// per-table counts are then plain indexed accesses.
struct Pool<'a> {
    words: &'a [AtomicU64],
    meta: &'a [AtomicU32],
    base: u64,
}

impl<'a> Pool<'a> {
    #[inline(always)]
    fn table(&self, pa: u64, n: usize) -> Result<&'a [AtomicU64], MemError> {
        let i = (pa.wrapping_sub(self.base) >> 3) as usize;
        i.checked_add(n)
            .and_then(|end| self.words.get(i..end))
            .ok_or(MemError::OutOfRange {
                addr: pa,
                len: n as u64 * 8,
            })
    }

    #[inline(always)]
    fn entry(&self, pa: u64) -> Result<&'a AtomicU64, MemError> {
        self.words
            .get((pa.wrapping_sub(self.base) >> 3) as usize)
            .ok_or(MemError::OutOfRange { addr: pa, len: 8 })
    }

    /// The count of valid entries of the table at `table`, kept in the allocator's page word.
    #[inline(always)]
    fn count(&self, table: u64) -> Result<&'a AtomicU32, MemError> {
        self.meta
            .get((table.wrapping_sub(self.base) >> 12) as usize)
            .ok_or(MemError::NotAllocated {
                addr: table,
                size: 4096,
            })
    }

    #[inline(always)]
    fn add_count(&self, table: u64, delta: i64) -> Result<u32, MemError> {
        let c = self.count(table)?;
        let v = (i64::from(c.load(Ordering::Relaxed)) + delta) as u32;
        c.store(v, Ordering::Relaxed);
        Ok(v)
    }
}

/// Where a map stopped, so that what it did can be undone.
struct Stop {
    err: PgError,
    reached: u64,
}

/// A page table of format `F` whose table pages come from a [`PageAlloc`] over `M`.
///
/// `map` and `unmap` take `&mut self`; the table's memory itself may be walked at the same
/// time by hardware models through [`walk`](crate::walk) functions, which only read entries
/// and set Accessed/Dirty bits atomically.
pub struct PageTable<F: Format, M: AddressSpace> {
    ctx: Ctx<F, M>,
    st: State,
}

impl<F: Format, M: AddressSpace> PageTable<F, M> {
    /// An empty table: allocates the root.
    pub fn new(fmt: F, alloc: Arc<PageAlloc<M>>) -> Result<Self, PgError> {
        let root = alloc.alloc(fmt.geometry().root_bytes())?;
        Ok(PageTable {
            ctx: Ctx { fmt, alloc, root },
            st: State {
                stash: Vec::new(),
                tables: 1,
                leaves: [0; MAX_LEVELS],
            },
        })
    }

    /// The format.
    pub fn format(&self) -> &F {
        &self.ctx.fmt
    }

    /// Physical address of the root table (what a context, PASID entry, CD or STE points at).
    pub fn root(&self) -> u64 {
        self.ctx.root
    }

    /// The memory the table lives in.
    pub fn mem(&self) -> &M {
        self.ctx.alloc.mem()
    }

    /// The allocator table pages come from.
    pub fn allocator(&self) -> &Arc<PageAlloc<M>> {
        &self.ctx.alloc
    }

    /// Maps `[iova, iova + size)` to `[pa, pa + size)` with `prot`, using the largest pages that
    /// alignment allows. Refuses, changing nothing, when any part is mapped already.
    pub fn map(&mut self, iova: u64, pa: u64, size: u64, prot: Prot) -> Result<(), PgError> {
        self.ctx.check_range(iova, pa, size, true)?;
        if !prot.intersects(Prot::RW) {
            return Err(PgError::BadProt(prot));
        }
        let p = self.ctx.pool()?;
        if size == self.ctx.fmt.geometry().granule() {
            return self.ctx.map_one(&p, &mut self.st, iova, pa, prot);
        }
        match self.ctx.map_in(
            &p,
            &mut self.st,
            self.ctx.root,
            0,
            iova,
            pa,
            iova + size,
            prot,
        ) {
            Ok(()) => Ok(()),
            Err(stop) => {
                if stop.reached > iova {
                    // Everything below `reached` was empty before: take it away again.
                    let _ =
                        self.ctx
                            .unmap_in(&p, &mut self.st, self.ctx.root, 0, iova, stop.reached);
                }
                Err(stop.err)
            }
        }
    }

    /// Unmaps everything in `[iova, iova + size)`, splitting blocks that straddle its ends and
    /// freeing tables that become empty. Returns the bytes unmapped; refuses with
    /// [`PgError::NotMapped`] when nothing in the range was mapped.
    pub fn unmap(&mut self, iova: u64, size: u64) -> Result<u64, PgError> {
        self.ctx.check_range(iova, 0, size, false)?;
        let p = self.ctx.pool()?;
        if size == self.ctx.fmt.geometry().granule() {
            match self.ctx.unmap_one(&p, &mut self.st, iova)? {
                Some(0) => return Err(PgError::NotMapped { iova, size }),
                Some(done) => return Ok(done),
                None => {} // inside a block: the general path splits it
            }
        }
        let done = self
            .ctx
            .unmap_in(&p, &mut self.st, self.ctx.root, 0, iova, iova + size)?;
        if done == 0 {
            return Err(PgError::NotMapped { iova, size });
        }
        Ok(done)
    }

    /// The mapping of `iova`, if any.
    pub fn lookup(&self, iova: u64) -> Option<Mapping> {
        walk::lookup(&self.ctx.fmt, self.mem(), self.ctx.root, iova)
    }

    /// The output address of `iova`, if it is mapped.
    #[inline]
    pub fn iova_to_phys(&self, iova: u64) -> Option<u64> {
        walk::iova_to_phys(&self.ctx.fmt, self.mem(), self.ctx.root, iova)
    }

    /// The hardware's walk for one access, with its permission checks and Accessed/Dirty
    /// updates.
    pub fn translate(&self, iova: u64, access: Access) -> Result<Translation, WalkFault> {
        walk::translate(&self.ctx.fmt, self.mem(), self.ctx.root, iova, access)
    }

    /// Every entry a walk for `iova` reads.
    pub fn trace(&self, iova: u64) -> Vec<Step> {
        walk::trace(&self.ctx.fmt, self.mem(), self.ctx.root, iova)
    }

    /// Marks in `bitmap` every page of `[iova, iova + size)` whose leaf is dirty, and with
    /// `clear` makes those leaves clean again (atomically, against concurrent hardware updates).
    pub fn read_and_clear_dirty(
        &self,
        iova: u64,
        size: u64,
        bitmap: &mut DirtyBitmap,
        clear: bool,
    ) -> Result<(), PgError> {
        if !self.ctx.fmt.tracks_dirty() {
            return Err(PgError::DirtyUnsupported);
        }
        self.ctx.check_range(iova, 0, size, false)?;
        if !bitmap.covers(iova, size) {
            return Err(PgError::BitmapRange { iova, size });
        }
        let p = self.ctx.pool()?;
        self.ctx
            .dirty_in(&p, self.ctx.root, 0, iova, iova + size, bitmap, clear)
    }

    /// What the table holds.
    pub fn stats(&self) -> TableStats {
        let geo = self.ctx.fmt.geometry();
        let table_bytes = geo.root_bytes() + (self.st.tables.saturating_sub(1)) * geo.granule();
        TableStats {
            tables: self.st.tables,
            table_bytes,
            pages: geo
                .levels()
                .iter()
                .zip(self.st.leaves)
                .filter(|(l, _)| l.leaf)
                .map(|(l, n)| (l.span(), n))
                .collect(),
        }
    }
}

impl<F: Format, M: AddressSpace> Drop for PageTable<F, M> {
    fn drop(&mut self) {
        let ctx = &self.ctx;
        if let Ok(p) = ctx.pool() {
            ctx.free_tree(&p, ctx.root, 0);
        }
        let _ = ctx.alloc.free(ctx.root, ctx.fmt.geometry().root_bytes());
        for t in self.st.stash.drain(..) {
            let _ = ctx.alloc.free(t, ctx.fmt.geometry().granule());
        }
    }
}

impl<F: Format, M: AddressSpace> Ctx<F, M> {
    fn check_range(&self, iova: u64, pa: u64, size: u64, with_pa: bool) -> Result<(), PgError> {
        let geo = self.fmt.geometry();
        let g = geo.granule();
        if (iova | pa | size) & (g - 1) != 0 {
            return Err(PgError::Unaligned {
                iova,
                pa,
                size,
                granule: g,
            });
        }
        let limit = geo.map_limit();
        if size == 0 || iova.checked_add(size).is_none_or(|end| end > limit) {
            return Err(PgError::IovaOutOfRange { iova, size, limit });
        }
        let oa = geo.oa_bits();
        if with_pa && pa.checked_add(size).is_none_or(|end| end > 1u64 << oa) {
            return Err(PgError::PaOutOfRange {
                pa,
                size,
                oa_bits: oa,
            });
        }
        Ok(())
    }

    #[inline(always)]
    fn pool(&self) -> Result<Pool<'_>, MemError> {
        Ok(Pool {
            words: self.alloc.words()?,
            meta: self.alloc.metas(),
            base: self.alloc.base(),
        })
    }

    #[inline(always)]
    fn words<'p>(
        &self,
        p: &Pool<'p>,
        table: u64,
        level: usize,
    ) -> Result<&'p [AtomicU64], MemError> {
        p.table(table, self.fmt.geometry().levels()[level].entries())
    }

    fn new_table(&self, st: &mut State) -> Result<u64, MemError> {
        let t = match st.stash.pop() {
            Some(t) => t,
            None => self.alloc.alloc(self.fmt.geometry().granule())?,
        };
        st.tables += 1;
        Ok(t)
    }

    /// Takes back an empty (all-zero) non-root table.
    fn free_table(&self, st: &mut State, table: u64) {
        st.tables -= 1;
        if st.stash.len() < STASH_MAX {
            st.stash.push(table);
        } else {
            let _ = self.alloc.free(table, self.fmt.geometry().granule());
        }
    }

    /// Maps one smallest page: the common case, walked without recursion.
    fn map_one(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        iova: u64,
        pa: u64,
        prot: Prot,
    ) -> Result<(), PgError> {
        let mut made = [(0u64, 0u64, 0u64); MAX_LEVELS];
        let mut n = 0;
        let r = self.map_one_in(p, st, iova, pa, prot, &mut made, &mut n);
        if r.is_err() {
            // Take away the tables this call added (they are empty), deepest first.
            for &(parent, entry, child) in made[..n].iter().rev() {
                if let Ok(w) = p.entry(entry) {
                    w.store(0, Ordering::Release);
                }
                let _ = p.add_count(parent, -1);
                self.free_table(st, child);
            }
        }
        r
    }

    #[inline(always)]
    fn map_one_in(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        iova: u64,
        pa: u64,
        prot: Prot,
        made: &mut [(u64, u64, u64); MAX_LEVELS],
        n: &mut usize,
    ) -> Result<(), PgError> {
        let levels = self.fmt.geometry().levels();
        let last = levels.len() - 1;
        let mut table = self.root;
        for (i, lv) in levels[..last].iter().enumerate() {
            let entry = table + lv.index(iova) as u64 * 8;
            let w = p.entry(entry)?;
            let pte = w.load(Ordering::Acquire);
            match self.fmt.decode(pte, i) {
                Pte::Table { next, .. } => table = next,
                Pte::Invalid => {
                    let t = self.new_table(st)?;
                    w.store(self.fmt.table(t, i), Ordering::Release);
                    p.add_count(table, 1)?;
                    made[*n] = (table, entry, t);
                    *n += 1;
                    table = t;
                }
                Pte::Leaf { .. } | Pte::Reserved => return Err(PgError::AlreadyMapped { iova }),
            }
        }
        let w = p.entry(table + levels[last].index(iova) as u64 * 8)?;
        if self.fmt.is_valid(w.load(Ordering::Relaxed)) {
            return Err(PgError::AlreadyMapped { iova });
        }
        w.store(self.fmt.leaf(pa, last, prot), Ordering::Release);
        p.add_count(table, 1)?;
        st.leaves[last] += 1;
        Ok(())
    }

    /// Unmaps one smallest page without recursion, freeing the tables it empties. `None` when
    /// the page lies inside a block (the general path splits it).
    fn unmap_one(&self, p: &Pool<'_>, st: &mut State, iova: u64) -> Result<Option<u64>, PgError> {
        let levels = self.fmt.geometry().levels();
        let last = levels.len() - 1;
        let mut path = [(0u64, 0u64); MAX_LEVELS];
        let mut table = self.root;
        for (i, lv) in levels.iter().enumerate() {
            let entry = table + lv.index(iova) as u64 * 8;
            let w = p.entry(entry)?;
            let pte = w.load(Ordering::Acquire);
            if i == last {
                if !self.fmt.is_valid(pte) {
                    return Ok(Some(0));
                }
                w.store(0, Ordering::Release);
                st.leaves[last] -= 1;
                let mut left = p.add_count(table, -1)?;
                let mut child = table;
                // Free each table that became empty, up to (not including) the root.
                for &(parent, pentry) in path[..i].iter().rev() {
                    if left != 0 {
                        break;
                    }
                    p.entry(pentry)?.store(0, Ordering::Release);
                    self.free_table(st, child);
                    left = p.add_count(parent, -1)?;
                    child = parent;
                }
                return Ok(Some(lv.span()));
            }
            match self.fmt.decode(pte, i) {
                Pte::Table { next, .. } => {
                    path[i] = (table, entry);
                    table = next;
                }
                Pte::Leaf { .. } => return Ok(None),
                Pte::Invalid | Pte::Reserved => return Ok(Some(0)),
            }
        }
        Ok(Some(0))
    }

    #[allow(clippy::too_many_arguments)]
    fn map_in(
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
                if let Some(k) = run
                    .iter()
                    .position(|w| self.fmt.is_valid(w.load(Ordering::Relaxed)))
                {
                    let at = va + k as u64 * span;
                    return Err(stop(PgError::AlreadyMapped { iova: at }, va));
                }
                let first = self.fmt.leaf(pa, i, prot);
                for (k, w) in run.iter().enumerate() {
                    w.store(first + k as u64 * span, Ordering::Release);
                }
                p.add_count(table, n as i64)
                    .map_err(|e| stop(e.into(), va))?;
                st.leaves[i] += n as u64;
                va += n as u64 * span;
                pa += n as u64 * span;
                idx += n;
                continue;
            }
            let entry_end = (va | (span - 1)) + 1;
            let sub_end = end.min(entry_end);
            let w = &words[idx];
            let pte = w.load(Ordering::Acquire);
            let (next, fresh) = match self.fmt.decode(pte, i) {
                Pte::Table { next, .. } => (next, false),
                Pte::Invalid => {
                    let t = self.new_table(st).map_err(|e| stop(e.into(), va))?;
                    w.store(self.fmt.table(t, i), Ordering::Release);
                    p.add_count(table, 1).map_err(|e| stop(e.into(), va))?;
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
                    self.free_table(st, next);
                }
                return Err(s);
            }
            pa += sub_end - va;
            va = sub_end;
            idx += 1;
        }
        Ok(())
    }

    fn unmap_in(
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
            let mut cleared = 0u64;
            for w in &words[idx..idx + n] {
                if self.fmt.is_valid(w.load(Ordering::Relaxed)) {
                    w.store(0, Ordering::Release);
                    cleared += 1;
                }
            }
            if cleared > 0 {
                p.add_count(table, -(cleared as i64))?;
                st.leaves[i] -= cleared;
            }
            return Ok(cleared * span);
        }
        while va < end {
            let entry_start = va & !(span - 1);
            let entry_end = entry_start + span;
            let sub_end = end.min(entry_end);
            let w = &words[idx];
            let pte = w.load(Ordering::Acquire);
            match self.fmt.decode(pte, i) {
                Pte::Invalid | Pte::Reserved => {}
                Pte::Leaf { .. } if va == entry_start && sub_end == entry_end => {
                    w.store(0, Ordering::Release);
                    p.add_count(table, -1)?;
                    st.leaves[i] -= 1;
                    done += span;
                }
                Pte::Leaf { .. } => {
                    let child = self.split(p, st, w, pte, i)?;
                    done += self.unmap_in(p, st, child, i + 1, va, sub_end)?;
                }
                Pte::Table { next, .. } => {
                    done += self.unmap_in(p, st, next, i + 1, va, sub_end)?;
                    if p.count(next)?.load(Ordering::Relaxed) == 0 {
                        w.store(0, Ordering::Release);
                        p.add_count(table, -1)?;
                        self.free_table(st, next);
                    }
                }
            }
            va = sub_end;
            idx += 1;
        }
        Ok(done)
    }

    /// Replaces the block `pte` in `w` (at level `i`) by a table of smaller leaves that map
    /// the same; returns the new table.
    fn split(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        w: &AtomicU64,
        mut pte: u64,
        i: usize,
    ) -> Result<u64, PgError> {
        let child_lv = self.fmt.geometry().levels()[i + 1];
        let child = self.new_table(st)?;
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
                    p.count(child)?.store(cw.len() as u32, Ordering::Relaxed);
                    st.leaves[i] -= 1;
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
        self.free_table(st, child);
        Err(PgError::Contended { level: i })
    }

    fn dirty_in(
        &self,
        p: &Pool<'_>,
        table: u64,
        i: usize,
        mut va: u64,
        end: u64,
        bitmap: &mut DirtyBitmap,
        clear: bool,
    ) -> Result<(), PgError> {
        let lv = self.fmt.geometry().levels()[i];
        let span = lv.span();
        let words = self.words(p, table, i)?;
        let mut idx = lv.index(va);
        while va < end {
            let entry_start = va & !(span - 1);
            let sub_end = end.min(entry_start + span);
            let w = &words[idx];
            let mut pte = w.load(Ordering::Acquire);
            match self.fmt.decode(pte, i) {
                Pte::Table { next, .. } => {
                    self.dirty_in(p, next, i + 1, va, sub_end, bitmap, clear)?
                }
                Pte::Leaf { .. } => {
                    while self.fmt.is_dirty(pte, i) {
                        bitmap.mark(entry_start, entry_start + span);
                        if !clear {
                            break;
                        }
                        match w.compare_exchange(
                            pte,
                            self.fmt.clear_dirty(pte, i),
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            Ok(_) => break,
                            Err(now) => pte = now,
                        }
                    }
                }
                Pte::Invalid | Pte::Reserved => {}
            }
            va = sub_end;
            idx += 1;
        }
        Ok(())
    }

    /// Frees every table below `table` (not `table` itself).
    fn free_tree(&self, p: &Pool<'_>, table: u64, i: usize) {
        if i + 1 >= self.fmt.geometry().depth() {
            return;
        }
        let Ok(words) = self.words(p, table, i) else {
            return;
        };
        for w in words {
            if let Pte::Table { next, .. } = self.fmt.decode(w.load(Ordering::Acquire), i) {
                self.free_tree(p, next, i + 1);
                let _ = self.alloc.free(next, self.fmt.geometry().granule());
            }
        }
    }
}

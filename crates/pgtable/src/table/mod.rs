//! The one table editor: map, unmap (with block splitting and freeing of empty tables),
//! dirty harvesting, and teardown, for every format. The single-page and single-block fast
//! paths are in `single`, the general unmap in `unmap`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use softiommu_mem::{AddressSpace, MemError, PageAlloc};

use crate::dirty::DirtyBitmap;
use crate::error::PgError;
use crate::format::{Format, Pte};
use crate::geometry::MAX_LEVELS;
use crate::prot::{Access, Prot};
use crate::walk::{self, Mapping, Step, Translation, WalkFault};
use parked::Parked;
use pool::Pool;

/// Detached chains kept for reattachment before the oldest is taken apart.
const CHAINS_MAX: usize = 4;
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
    /// Shift that turns an IOVA into the name of its leaf table.
    key_shift: u8,
    /// By the log2 of a size: the level whose leaves are that size, or [`NO_LEVEL`].
    leaf_level: [u8; 64],
    /// The granule less one, the end of the input range `map` accepts, and the end of the
    /// output range: the geometry's bounds that every map and unmap checks, taken once.
    gmask: u64,
    map_limit: u64,
    oa_limit: u64,
    /// By the trailing zeros of an unmap's address and size: the leaf level of the largest
    /// pages the range is aligned to (or [`NO_LEVEL`]), and the shift of the span of a table
    /// at that level (a shift of 64 or more for the root).
    run_level: [(u8, u8); 64],
    /// By level, each entry's kind by its low byte ([`unmap::kinds`]), when the format
    /// decides validity and links by that byte alone.
    kinds: Option<Box<unmap::Kinds>>,
    /// The allocator's words and page counts, taken once. Handed out only with the lifetime
    /// of `&self`, see [`Ctx::pool`].
    pool: Pool<'static>,
}

/// [`Ctx::leaf_level`] for sizes no leaf has.
const NO_LEVEL: u8 = u8::MAX;

/// The bookkeeping that map and unmap change.
struct State {
    /// Empty, zeroed table pages taken out of the table, by the place they had there
    /// ([`Ctx::place`]). A walk that read the link to one before it was cleared may still be
    /// reading it, so a page is used again only at the same place, where whatever that walk
    /// finds in it describes the same input addresses; never elsewhere while the table lives.
    parked: Parked,
    /// Every non-root table page the table made and has not parked, by the address of the
    /// entry that links it (or linked it, for a detached chain's head). Only a link found at
    /// that entry is followed: an entry something else wrote never leads the table into a
    /// page it did not make, and the pages freed at the end are exactly these.
    links: HashMap<u64, u64, BuildHasherDefault<PageHash>>,
    /// By level: the last link a block map found good, as (entry, the entry's value, table),
    /// entry and table as indices of the pool's words ([`Pool::index`]), or [`NO_LINK`];
    /// forgotten whenever `links` changes, so the link of one is always in it, and an entry
    /// that still holds that value links that table.
    seen: [(usize, u64, usize); MAX_LEVELS],
    chains: Vec<Chain>,
    cursor: Cursor,
    tables: u64,
    leaves: [u64; MAX_LEVELS],
}

/// Tables that a single-page unmap emptied and detached, still linked to each other: from
/// `head` (at level `level`) down to the leaf table on the path of every IOVA whose leaf table
/// is the one `key` names. A single-page map under the same leaf table attaches them again
/// with one store; otherwise they are taken apart into zeroed pages, parked at their places.
#[derive(Debug, Clone, Copy)]
struct Chain {
    key: u64,
    level: usize,
    head: u64,
}

/// The path of tables to one leaf table, kept between single-page operations under it.
/// Levels `attached..` (when `attached` < depth) are a chain this cursor detached itself.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    live: bool,
    key: u64,
    tables: [u64; MAX_LEVELS],
    attached: usize,
}

/// Hashes table-page addresses with one multiply: the page number is spread over every bit
/// (the default hasher costs more than the single-page paths that look links up).
#[derive(Default, Clone, Copy)]
struct PageHash(u64);

impl Hasher for PageHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    #[inline(always)]
    fn write_u64(&mut self, x: u64) {
        self.0 = x.rotate_right(12).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// [`State::seen`] empty: no word of the pool has index `usize::MAX`.
const NO_LINK: (usize, u64, usize) = (usize::MAX, u64::MAX, usize::MAX);

/// Takes `n` leaves off the count of a level; fewer there than that means some were written
/// by something else.
#[inline(always)]
fn fewer(count: &mut u64, n: u64, table: u64) -> Result<(), PgError> {
    *count = count
        .checked_sub(n)
        .ok_or(PgError::Corrupt { addr: table })?;
    Ok(())
}

/// A page table of format `F` whose table pages come from a [`PageAlloc`] over `M`.
///
/// `map` and `unmap` take `&mut self`; the table's memory itself may be walked at the same
/// time by hardware models through [`walk`](crate::walk) functions, which only read entries
/// and set Accessed/Dirty bits atomically. Such a walk may still be reading a table that
/// `unmap` has just emptied and taken out, so the page of a table taken out is used again only
/// at the same place (same level, same input addresses), never for other addresses: whatever
/// a walk finds in it is an entry for the address it translates. Those pages go back to the
/// allocator when the owner says no walk can still read them ([`PageTable::release_freed`],
/// after its invalidation) or when the table is dropped.
pub struct PageTable<F: Format, M: AddressSpace> {
    ctx: Ctx<F, M>,
    st: State,
}

impl<F: Format, M: AddressSpace> PageTable<F, M> {
    /// An empty table: allocates the root. Refuses an allocator whose memory cannot be
    /// reached as one run of words.
    pub fn new(fmt: F, alloc: Arc<PageAlloc<M>>) -> Result<Self, PgError> {
        let pool = {
            let words = alloc.words()?;
            let meta = alloc.metas();
            // SAFETY: both slices borrow from the allocator, which sits behind the Arc
            // that the table keeps in its Ctx (so it neither moves nor goes away while the
            // table lives); `Ctx::pool` lends them out only for as long as `&self`.
            let (words, meta) = unsafe {
                (
                    &*std::ptr::from_ref::<[AtomicU64]>(words),
                    &*std::ptr::from_ref::<[AtomicU32]>(meta),
                )
            };
            Pool {
                words,
                meta,
                base: alloc.base(),
            }
        };
        let root = alloc.alloc(fmt.geometry().root_bytes())?;
        Ok(PageTable {
            ctx: Ctx {
                key_shift: {
                    let levels = fmt.geometry().levels();
                    levels[levels.len().saturating_sub(2)].shift
                },
                gmask: fmt.geometry().granule() - 1,
                map_limit: fmt.geometry().map_limit(),
                oa_limit: 1u64 << fmt.geometry().oa_bits(),
                pool,
                leaf_level: {
                    let mut by_shift = [NO_LEVEL; 64];
                    for (i, l) in fmt.geometry().levels().iter().enumerate() {
                        if l.leaf {
                            by_shift[usize::from(l.shift & 63)] = i as u8;
                        }
                    }
                    by_shift
                },
                kinds: unmap::kinds(&fmt),
                run_level: {
                    let levels = fmt.geometry().levels();
                    let mut by_zeros = [(NO_LEVEL, 0u8); 64];
                    for (zeros, slot) in by_zeros.iter_mut().enumerate() {
                        // Levels from the root: the first leaf level small enough is the one
                        // of the largest pages.
                        let found = levels
                            .iter()
                            .position(|l| l.leaf && usize::from(l.shift) <= zeros);
                        if let Some(i) = found {
                            let above = i.checked_sub(1).map_or(u8::MAX, |up| levels[up].shift);
                            *slot = (i as u8, above);
                        }
                    }
                    by_zeros
                },
                fmt,
                alloc,
                root,
            },
            st: State {
                parked: Parked::default(),
                links: HashMap::default(),
                seen: [NO_LINK; MAX_LEVELS],
                chains: Vec::with_capacity(CHAINS_MAX),
                cursor: Cursor::default(),
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
        let p = self.ctx.pool();
        if size == self.ctx.gmask + 1 {
            return self.ctx.map_one(p, &mut self.st, iova, pa, prot);
        }
        self.ctx.flush_cursor(p, &mut self.st);
        let level = self.ctx.leaf_level[(size.trailing_zeros() & 63) as usize];
        if size.is_power_of_two() && level != NO_LEVEL && (iova | pa) & (size - 1) == 0 {
            // One block: walked without recursion.
            return self
                .ctx
                .map_leaf(p, &mut self.st, iova, pa, prot, usize::from(level));
        }
        match self.ctx.map_in(
            p,
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
                            .unmap_in(p, &mut self.st, self.ctx.root, 0, iova, stop.reached);
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
        let p = self.ctx.pool();
        if size == self.ctx.gmask + 1 {
            match self.ctx.unmap_one(p, &mut self.st, iova)? {
                Some(0) => return Err(PgError::NotMapped { iova, size }),
                Some(done) => return Ok(done),
                None => {} // inside a block: the general path splits it
            }
        }
        self.ctx.flush_cursor(p, &mut self.st);
        let end = iova + size;
        // The leaf level of the largest pages the range is aligned to; when the range is
        // entries of one table at that level, no recursion.
        let (level, above) = self.ctx.run_level[((iova | size).trailing_zeros() & 63) as usize];
        let one_table = (iova ^ (end - 1))
            .checked_shr(u32::from(above))
            .is_none_or(|d| d == 0);
        let run = if level != NO_LEVEL && one_table {
            self.ctx
                .unmap_run(p, &mut self.st, iova, end, usize::from(level))?
        } else {
            None
        };
        let done = match run {
            Some(done) => done,
            None => self
                .ctx
                .unmap_in(p, &mut self.st, self.ctx.root, 0, iova, end)?,
        };
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
        // The table's own entries need no validation: walk them as indices into the
        // allocator's words. Relaxed loads: `map`/`unmap` cannot run meanwhile (`&mut self`),
        // and a walk only sets Accessed/Dirty bits.
        let fmt = &self.ctx.fmt;
        let &Pool { words, base, .. } = self.ctx.pool();
        let geo = fmt.geometry();
        let va = fmt.input(iova)?;
        let mut at = (self.ctx.root.wrapping_sub(base) >> 3) as usize;
        for i in 0..geo.depth() {
            let pte = words
                .get(at.wrapping_add(geo.index(i, va)))?
                .load(Ordering::Relaxed);
            if let Some(next) = fmt.next_table(pte, i) {
                at = (next.wrapping_sub(base) >> 3) as usize;
                continue;
            }
            return match fmt.decode(pte, i) {
                Pte::Leaf { pa, .. } => Some(pa | (va & (geo.levels()[i].span() - 1))),
                _ => None,
            };
        }
        None
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
        let p = self.ctx.pool();
        self.ctx.dirty_in(
            p,
            &self.st,
            self.ctx.root,
            0,
            iova,
            iova + size,
            bitmap,
            clear,
        )
    }

    /// Gives back to the allocator the pages of tables that unmapping took out. Call it only
    /// when no walk can still be reading them: after the invalidation that followed the
    /// unmaps has completed on every IOMMU that walks this table. Returns how many pages went
    /// back. (Detached chains kept for reattachment stay: they are few and bounded.)
    pub fn release_freed(&mut self) -> usize {
        if self.st.parked.is_empty() {
            return 0;
        }
        let granule = self.ctx.fmt.geometry().granule();
        let mut n = 0;
        for page in self.st.parked.drain() {
            if self.ctx.alloc.free(page, granule).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Table pages taken out by unmapping and not yet given back with
    /// [`release_freed`](PageTable::release_freed).
    pub fn freed_pages(&self) -> usize {
        self.st.parked.len()
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
    /// Frees exactly the pages the table made: linked, in detached chains, or parked
    /// (whatever the entries in memory now say).
    fn drop(&mut self) {
        let ctx = &self.ctx;
        let granule = ctx.fmt.geometry().granule();
        let linked = self.st.links.drain().map(|(page, _)| page);
        let parked = self.st.parked.drain();
        for t in linked.chain(parked) {
            let _ = ctx.alloc.free(t, granule);
        }
        let _ = ctx.alloc.free(ctx.root, ctx.fmt.geometry().root_bytes());
    }
}

impl<F: Format, M: AddressSpace> Ctx<F, M> {
    fn check_range(&self, iova: u64, pa: u64, size: u64, with_pa: bool) -> Result<(), PgError> {
        if (iova | pa | size) & self.gmask != 0 {
            return Err(PgError::Unaligned {
                iova,
                pa,
                size,
                granule: self.gmask + 1,
            });
        }
        let limit = self.map_limit;
        if size == 0 || iova.checked_add(size).is_none_or(|end| end > limit) {
            return Err(PgError::IovaOutOfRange { iova, size, limit });
        }
        if with_pa && pa.checked_add(size).is_none_or(|end| end > self.oa_limit) {
            return Err(PgError::PaOutOfRange {
                pa,
                size,
                oa_bits: self.fmt.geometry().oa_bits(),
            });
        }
        Ok(())
    }

    /// The allocator's words and counts, lent for as long as `&self` only (by reference: the
    /// fast paths read them where they are, with no copy).
    #[inline(always)]
    fn pool(&self) -> &Pool<'_> {
        &self.pool
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

    /// Where a non-root table at `level` on the path of `iova` sits: its level and the input
    /// bits above the span of the entry that links it.
    #[inline(always)]
    fn place(&self, level: usize, iova: u64) -> parked::Place {
        parked::place(level, iova >> self.fmt.geometry().levels()[level - 1].shift)
    }

    /// A zeroed table for `level` on the path of `iova`: one parked at that place, or a new page.
    fn new_table(&self, st: &mut State, level: usize, iova: u64) -> Result<u64, MemError> {
        let parked = st.parked.pop(self.place(level, iova));
        let t = match parked {
            Some(t) => t,
            None => self.alloc.alloc(self.fmt.geometry().granule())?,
        };
        st.tables += 1;
        Ok(t)
    }

    /// Takes back an empty (all-zero) non-root table at `level` on the path of `iova`.
    fn free_table(&self, st: &mut State, table: u64, level: usize, iova: u64) {
        st.tables = st.tables.saturating_sub(1);
        self.park(st, table, level, iova);
    }

    /// Records that the entry at `at` links the table page `table` the table made.
    #[inline(always)]
    fn link(st: &mut State, at: u64, table: u64) {
        st.links.insert(table, at);
        st.seen = [NO_LINK; MAX_LEVELS];
    }

    /// `next`, found as a link in the entry at `at`, when it is a table this table made and
    /// linked there; otherwise something else wrote the entry.
    #[inline(always)]
    fn linked(st: &State, at: u64, next: u64) -> Result<u64, PgError> {
        if st.links.get(&next) == Some(&at) {
            Ok(next)
        } else {
            Err(PgError::Corrupt { addr: at })
        }
    }

    /// Keeps an all-zero page that was the table at `level` on the path of `iova` for reuse at
    /// that place only (see [`State::parked`]).
    fn park(&self, st: &mut State, page: u64, level: usize, iova: u64) {
        st.links.remove(&page);
        st.seen = [NO_LINK; MAX_LEVELS];
        st.parked.push(self.place(level, iova), page);
    }

    #[allow(clippy::too_many_arguments)]
    fn dirty_in(
        &self,
        p: &Pool<'_>,
        st: &State,
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
                    let next = Self::linked(st, table + idx as u64 * 8, next)?;
                    self.dirty_in(p, st, next, i + 1, va, sub_end, bitmap, clear)?
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
}

mod map;
mod parked;
mod pool;
mod single;
#[cfg(test)]
mod tests;
mod unmap;

//! The fast paths: one smallest page or one block mapped or unmapped without recursion, the
//! cursor that keeps the path to the last leaf table, and the detached chains a single-page
//! unmap leaves for a map under the same leaf table.

use std::sync::atomic::{AtomicU64, Ordering};

use softiommu_mem::AddressSpace;

use super::{CHAINS_MAX, Chain, Ctx, Cursor, Pool, State, fewer};
use crate::error::PgError;
use crate::format::Format;
use crate::geometry::MAX_LEVELS;
use crate::prot::Prot;

impl<F: Format, M: AddressSpace> Ctx<F, M> {
    /// The input-address bits that name the leaf table an IOVA lies under.
    #[inline(always)]
    pub(super) fn chain_key(&self, iova: u64) -> u64 {
        iova >> self.key_shift
    }

    /// Takes a detached chain apart: clears its links and parks its pages at their places.
    pub(super) fn dissolve(&self, p: &Pool<'_>, st: &mut State, c: Chain) {
        let geo = self.fmt.geometry();
        let last = geo.depth() - 1;
        let iova = c.key << geo.levels()[last.saturating_sub(1)].shift;
        let mut table = c.head;
        for i in c.level..last {
            let entry = table + geo.index(i, iova) as u64 * 8;
            let Ok(w) = p.entry(entry) else {
                return;
            };
            // Only a link the table made there leads on; the rest of the chain, if any, is
            // freed with the table.
            let next = self
                .fmt
                .next_table(w.load(Ordering::Acquire), i)
                .filter(|&n| Self::linked(st, entry, n).is_ok());
            w.store(0, Ordering::Relaxed);
            if let Ok(cnt) = p.count(table) {
                cnt.store(0, Ordering::Relaxed);
            }
            self.park(st, table, i, iova);
            match next {
                Some(n) => table = n,
                None => return,
            }
        }
        self.park(st, table, last, iova);
    }

    /// Hands the cursor's detached chain (if any) to the chain cache and forgets the cursor:
    /// every operation other than a single-page one under the cursor's leaf table does this
    /// first, so that the cursor's tables are never changed behind its back.
    #[inline(always)]
    pub(super) fn flush_cursor(&self, p: &Pool<'_>, st: &mut State) {
        if st.cursor.live {
            self.flush_live_cursor(p, st);
        }
    }

    #[inline(never)]
    fn flush_live_cursor(&self, p: &Pool<'_>, st: &mut State) {
        let c = st.cursor;
        st.cursor.live = false;
        if c.attached < self.fmt.geometry().depth() {
            self.keep_chain(
                p,
                st,
                Chain {
                    key: c.key,
                    level: c.attached,
                    head: c.tables[c.attached],
                },
            );
        }
    }

    /// Adds a detached chain to the cache, taking the oldest apart when it is full.
    pub(super) fn keep_chain(&self, p: &Pool<'_>, st: &mut State, chain: Chain) {
        if st.chains.len() == CHAINS_MAX {
            let old = st.chains.remove(0);
            self.dissolve(p, st, old);
        }
        st.chains.push(chain);
    }

    /// Maps one smallest page: the common case. Under the cursor's leaf table it touches only
    /// the leaf (and the one entry that attaches a detached chain again); elsewhere it walks
    /// from the root and makes that path the cursor.
    pub(super) fn map_one(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        iova: u64,
        pa: u64,
        prot: Prot,
    ) -> Result<(), PgError> {
        let geo = self.fmt.geometry();
        let depth = geo.depth();
        let last = depth - 1;
        let key = self.chain_key(iova);
        if !(st.cursor.live && st.cursor.key == key) {
            self.flush_cursor(p, st);
            self.walk_for_map(p, st, iova, key)?;
        }
        let c = &mut st.cursor;
        if c.attached < depth {
            // The path below level `attached - 1` was detached by an earlier unmap: attach it
            // (at the entry its head's link record names: it was detached from there, or
            // [`walk_for_map`](Self::walk_for_map) recorded it there).
            let lvl = c.attached;
            let parent = c.tables[lvl - 1];
            p.entry(parent + geo.index(lvl - 1, iova) as u64 * 8)?
                .store(self.fmt.table(c.tables[lvl], lvl - 1), Ordering::Release);
            c.attached = depth;
            st.tables += (depth - lvl) as u64;
            p.add_count(parent, 1)?;
        }
        let leaf_table = st.cursor.tables[last];
        let w = p.entry(leaf_table + geo.index(last, iova) as u64 * 8)?;
        if self.fmt.is_valid(w.load(Ordering::Relaxed)) {
            return Err(PgError::AlreadyMapped { iova });
        }
        w.store(self.fmt.leaf(pa, last, prot), Ordering::Release);
        p.add_count(leaf_table, 1)?;
        st.leaves[last] += 1;
        Ok(())
    }

    /// Walks from the root to the leaf table of `iova`, making (or attaching from the chain
    /// cache) the tables that are missing, and makes the path the cursor. What it adds stays
    /// only if it succeeds; a leaf above the last level on the way is refused.
    pub(super) fn walk_for_map(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        iova: u64,
        key: u64,
    ) -> Result<(), PgError> {
        let geo = self.fmt.geometry();
        let depth = geo.depth();
        let mut tables = [0u64; MAX_LEVELS];
        tables[0] = self.root;
        let mut i = 0;
        while i + 1 < depth {
            let table = tables[i];
            let at = table + geo.index(i, iova) as u64 * 8;
            let w = p.entry(at)?;
            let pte = w.load(Ordering::Acquire);
            if let Some(next) = self.fmt.next_table(pte, i) {
                tables[i + 1] = Self::linked(st, at, next)?;
                i += 1;
                continue;
            }
            if self.fmt.is_valid(pte) {
                return Err(PgError::AlreadyMapped { iova });
            }
            // A chain detached from exactly here lies on this IOVA's path: attach it whole.
            if let Some(k) = st
                .chains
                .iter()
                .rposition(|c| c.key == key && c.level == i + 1)
            {
                let c = st.chains.swap_remove(k);
                // Its head goes under this entry (map_one links it there).
                Self::link(st, at, c.head);
                // Its tables lie on this path; record them for the cursor.
                let mut t = c.head;
                for (j, slot) in tables.iter_mut().enumerate().take(depth).skip(i + 1) {
                    *slot = t;
                    if j + 1 < depth {
                        let at = t + geo.index(j, iova) as u64 * 8;
                        let next = self.fmt.next_table(p.entry(at)?.load(Ordering::Acquire), j);
                        // A chain whose links changed is not attached; its pages stay the
                        // table's, freed with it.
                        t = Self::linked(st, at, next.unwrap_or(0))?;
                    }
                }
                st.cursor = Cursor {
                    live: true,
                    key,
                    tables,
                    attached: i + 1,
                };
                return Ok(());
            }
            let t = match self.new_table(st, i + 1, iova) {
                Ok(t) => t,
                Err(e) => {
                    self.prune(p, st, &tables, i, iova);
                    return Err(e.into());
                }
            };
            w.store(self.fmt.table(t, i), Ordering::Release);
            Self::link(st, at, t);
            tables[i + 1] = t;
            p.add_count(table, 1)?;
            i += 1;
        }
        st.cursor = Cursor {
            live: true,
            key,
            tables,
            attached: depth,
        };
        Ok(())
    }

    /// After a failed walk that reached level `deepest`: frees the tables on the path that
    /// are empty, deepest first.
    pub(super) fn prune(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        tables: &[u64; MAX_LEVELS],
        deepest: usize,
        iova: u64,
    ) {
        let geo = self.fmt.geometry();
        for i in (1..=deepest).rev() {
            let empty = p
                .count(tables[i])
                .is_ok_and(|c| c.load(Ordering::Relaxed) == 0);
            if !empty {
                return;
            }
            if let Ok(w) = p.entry(tables[i - 1] + geo.index(i - 1, iova) as u64 * 8) {
                w.store(0, Ordering::Release);
            }
            let _ = p.add_count(tables[i - 1], -1);
            self.free_table(st, tables[i], i, iova);
        }
    }

    /// Maps one leaf at `level` (a block), making the tables above it that are missing;
    /// changes nothing when it is refused.
    #[inline(always)]
    pub(super) fn map_leaf(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        iova: u64,
        pa: u64,
        prot: Prot,
        level: usize,
    ) -> Result<(), PgError> {
        let geo = self.fmt.geometry();
        // Below MAX_LEVELS (a leaf level is), said so that the per-level arrays need no
        // bounds checks in the loop.
        let level = level.min(MAX_LEVELS - 1);
        // Tables and entries as indices of the pool's words. Relaxed loads: the editor wrote
        // these entries itself (a walk only sets Accessed/Dirty bits); a link is followed
        // only where the editor made it.
        let mut t = p.index(self.root);
        for i in 0..level {
            let e = t.wrapping_add(geo.index(i, iova));
            let w = p.word(e)?;
            let pte = w.load(Ordering::Relaxed);
            let (seen_e, seen_pte, seen_t) = st.seen[i];
            if seen_e == e && seen_pte == pte {
                // The entry still holds the link found good last time (a run of block maps):
                // neither decoded nor looked up again.
                t = seen_t;
                continue;
            }
            let at = p.addr(e);
            if let Some(next) = self.fmt.next_table(pte, i) {
                Self::linked(st, at, next)?;
                t = p.index(next);
                st.seen[i] = (e, pte, t);
            } else if self.fmt.is_valid(pte) {
                // A leaf above covers this block.
                self.prune_path(p, st, i, iova);
                return Err(PgError::AlreadyMapped { iova });
            } else {
                let next = self.link_new_table(p, st, w, at, p.addr(t), i, iova)?;
                t = p.index(next);
            }
        }
        let w = p.word(t.wrapping_add(geo.index(level, iova)))?;
        let pte = w.load(Ordering::Relaxed);
        if self.fmt.is_valid(pte) {
            let at = self.first_mapped(p, pte, level, iova);
            return Err(PgError::AlreadyMapped { iova: at });
        }
        // The count found before the store: nothing is written when it cannot be.
        let table = p.addr(t);
        let count = p.count(table)?;
        w.store(self.fmt.leaf(pa, level, prot), Ordering::Release);
        Pool::add_to(count, table, 1)?;
        st.leaves[level] += 1;
        Ok(())
    }

    /// Links a new table below the empty entry `w` of `table` (the entry at `at`, level `i`,
    /// on the path of `iova`) and returns it; on failure, frees what the walk made on the way.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn link_new_table(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        w: &AtomicU64,
        at: u64,
        table: u64,
        i: usize,
        iova: u64,
    ) -> Result<u64, PgError> {
        let t = match self.new_table(st, i + 1, iova) {
            Ok(t) => t,
            Err(e) => {
                self.prune_path(p, st, i, iova);
                return Err(e.into());
            }
        };
        w.store(self.fmt.table(t, i), Ordering::Release);
        Self::link(st, at, t);
        p.add_count(table, 1)?;
        Ok(t)
    }

    /// [`prune`](Self::prune) for the path of `iova` down to level `deepest`, read from the
    /// table: it goes only as deep as the links the editor made there lead.
    #[cold]
    fn prune_path(&self, p: &Pool<'_>, st: &mut State, deepest: usize, iova: u64) {
        let geo = self.fmt.geometry();
        let mut tables = [0u64; MAX_LEVELS];
        tables[0] = self.root;
        for i in 0..deepest {
            let at = tables[i] + geo.index(i, iova) as u64 * 8;
            let next = p
                .entry(at)
                .ok()
                .and_then(|w| self.fmt.next_table(w.load(Ordering::Acquire), i))
                .filter(|&n| Self::linked(st, at, n).is_ok());
            match next {
                Some(next) => tables[i + 1] = next,
                None => return,
            }
        }
        self.prune(p, st, &tables, deepest, iova);
    }

    /// Unmaps one smallest page, freeing the tables it empties by detaching them. `None` when
    /// the page lies inside a block (the general path splits it).
    pub(super) fn unmap_one(
        &self,
        p: &Pool<'_>,
        st: &mut State,
        iova: u64,
    ) -> Result<Option<u64>, PgError> {
        let geo = self.fmt.geometry();
        let depth = geo.depth();
        let last = depth - 1;
        let key = self.chain_key(iova);
        if !(st.cursor.live && st.cursor.key == key) {
            self.flush_cursor(p, st);
            let mut tables = [0u64; MAX_LEVELS];
            tables[0] = self.root;
            for i in 0..last {
                let at = tables[i] + geo.index(i, iova) as u64 * 8;
                let pte = p.entry(at)?.load(Ordering::Acquire);
                match self.fmt.next_table(pte, i) {
                    Some(next) => tables[i + 1] = Self::linked(st, at, next)?,
                    None if self.fmt.is_valid(pte) => return Ok(None),
                    None => return Ok(Some(0)),
                }
            }
            st.cursor = Cursor {
                live: true,
                key,
                tables,
                attached: depth,
            };
        }
        let c = &mut st.cursor;
        if c.attached < depth {
            // The whole leaf table is detached: nothing under it is mapped.
            return Ok(Some(0));
        }
        let leaf_table = c.tables[last];
        let w = p.entry(leaf_table + geo.index(last, iova) as u64 * 8)?;
        if !self.fmt.is_valid(w.load(Ordering::Acquire)) {
            return Ok(Some(0));
        }
        w.store(0, Ordering::Release);
        fewer(&mut st.leaves[last], 1, leaf_table)?;
        if p.add_count(leaf_table, -1)? == 0 && last > 0 {
            // The leaf table is empty, and so is every table above it that holds nothing but
            // the link down: detach the top-most of them. The chain below stays linked, kept
            // by the cursor.
            let mut head = last;
            while head > 1 && p.count(c.tables[head - 1])?.load(Ordering::Relaxed) == 1 {
                head -= 1;
            }
            let parent = c.tables[head - 1];
            p.entry(parent + geo.index(head - 1, iova) as u64 * 8)?
                .store(0, Ordering::Release);
            c.attached = head;
            st.tables = st.tables.saturating_sub((depth - head) as u64);
            p.add_count(parent, -1)?;
        }
        Ok(Some(geo.granule()))
    }
}

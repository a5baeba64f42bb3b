//! The allocator's whole range as one slice of words, with the per-page counts beside it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use softiommu_mem::MemError;

use crate::error::PgError;

/// The allocator's whole range as one slice, taken once when the table is made: table entries and
/// per-table counts are then plain indexed accesses.
pub(super) struct Pool<'a> {
    pub(super) words: &'a [AtomicU64],
    pub(super) meta: &'a [AtomicU32],
    pub(super) base: u64,
}

impl<'a> Pool<'a> {
    #[inline(always)]
    pub(super) fn table(&self, pa: u64, n: usize) -> Result<&'a [AtomicU64], MemError> {
        let i = (pa.wrapping_sub(self.base) >> 3) as usize;
        i.checked_add(n)
            .and_then(|end| self.words.get(i..end))
            .ok_or(MemError::OutOfRange {
                addr: pa,
                len: n as u64 * 8,
            })
    }

    /// The index in the pool's words of the word at `pa` (past the end for an address
    /// outside the pool).
    #[inline(always)]
    pub(super) fn index(&self, pa: u64) -> usize {
        (pa.wrapping_sub(self.base) >> 3) as usize
    }

    /// The address of the word at index `i` (the inverse of [`index`](Self::index)).
    #[inline(always)]
    pub(super) fn addr(&self, i: usize) -> u64 {
        self.base.wrapping_add((i as u64).wrapping_mul(8))
    }

    /// The word at index `i`.
    #[inline(always)]
    pub(super) fn word(&self, i: usize) -> Result<&'a AtomicU64, MemError> {
        self.words.get(i).ok_or(MemError::OutOfRange {
            addr: self.addr(i),
            len: 8,
        })
    }

    #[inline(always)]
    pub(super) fn entry(&self, pa: u64) -> Result<&'a AtomicU64, MemError> {
        self.words
            .get((pa.wrapping_sub(self.base) >> 3) as usize)
            .ok_or(MemError::OutOfRange { addr: pa, len: 8 })
    }

    /// The count of valid entries of the table at `table`, kept in the allocator's page word.
    #[inline(always)]
    pub(super) fn count(&self, table: u64) -> Result<&'a AtomicU32, MemError> {
        self.meta
            .get((table.wrapping_sub(self.base) >> 12) as usize)
            .ok_or(MemError::NotAllocated {
                addr: table,
                size: 4096,
            })
    }

    /// Adds `delta` to the count of `table`; a count that would go below zero (or past any
    /// table's entries) means entries changed behind the table's back.
    #[inline(always)]
    pub(super) fn add_count(&self, table: u64, delta: i64) -> Result<u32, PgError> {
        Self::add_to(self.count(table)?, table, delta)
    }

    /// [`add_count`](Self::add_count) with the count of `table` already found.
    #[inline(always)]
    pub(super) fn add_to(c: &AtomicU32, table: u64, delta: i64) -> Result<u32, PgError> {
        let v = i64::from(c.load(Ordering::Relaxed)) + delta;
        let v = u32::try_from(v)
            .ok()
            .filter(|&v| v <= MAX_ENTRIES)
            .ok_or(PgError::Corrupt { addr: table })?;
        c.store(v, Ordering::Relaxed);
        Ok(v)
    }
}

/// More entries than any table of any format has.
const MAX_ENTRIES: u32 = 1 << 16;

//! A buddy allocator for table pages, carved from a range of a physical address space.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU32;

use parking_lot::Mutex;

use crate::error::{MemError, Result};
use crate::space::AddressSpace;

const PAGE_SHIFT: u32 = 12;
/// Largest block: 1 MiB, enough for sixteen concatenated 64 KiB stage-2 tables.
const MAX_ORDER: u32 = 8;

/// Counters of a [`PageAlloc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllocStats {
    /// Bytes handed out and not yet freed.
    pub allocated: u64,
    /// Blocks handed out and not yet freed.
    pub blocks: u64,
    /// Bytes the allocator manages.
    pub capacity: u64,
}

/// The buddy system works on offsets from the 1 MiB boundary at or below `base` (so that a
/// block aligned in offsets is aligned in physical addresses); the managed range is
/// `[lead, lead + size)` in those offsets, where `lead` is `base` modulo 1 MiB.
struct Buddy {
    /// Free blocks of each order (block size 4 KiB << order), by offset.
    free: Vec<BTreeSet<u64>>,
    /// Offset of the first page never handed out.
    fresh: u64,
    /// For each 4 KiB page: 0, or 1 + the order of the allocated block that starts there.
    heads: Vec<u8>,
    stats: AllocStats,
}

/// Naturally aligned, zeroed blocks of 4 KiB to 1 MiB (powers of two) from `[base, base + size)`
/// of an address space, for page tables and other in-memory structures.
///
/// The range must be one contiguous run of the address space (for guest memory: inside one
/// region), so that [`PageAlloc::words`] can give the whole of it as one slice.
///
/// Each 4 KiB page has one metadata word ([`PageAlloc::meta`]) that the owner of the block may
/// use as it likes (page tables keep the count of valid entries there); it is zero when the
/// block is handed out.
///
/// ```
/// use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
///
/// let ram = RamArena::new(0, 64 << 20)?;
/// // Table pages from [16 MiB, 32 MiB) of the arena.
/// let pages = PageAlloc::new(ram, 16 << 20, 16 << 20)?;
/// let table = pages.alloc(4096)?;
/// let big = pages.alloc(64 << 10)?;
/// assert_eq!(big % (64 << 10), 0, "naturally aligned");
/// assert_eq!(pages.mem().load_u64(table)?, 0, "zeroed");
/// pages.free(big, 64 << 10)?;
/// pages.free(table, 4096)?;
/// # Ok::<(), softiommu_mem::MemError>(())
/// ```
pub struct PageAlloc<M> {
    mem: M,
    base: u64,
    size: u64,
    /// `base` modulo the largest block: where the range starts in the buddy system's offsets.
    lead: u64,
    inner: Mutex<Buddy>,
    meta: Box<[AtomicU32]>,
}

impl<M: AddressSpace> PageAlloc<M> {
    /// An allocator over `[base, base + size)` of `mem`. Both must be 4 KiB aligned.
    pub fn new(mem: M, base: u64, size: u64) -> Result<Self> {
        if !base.is_multiple_of(4096) || !size.is_multiple_of(4096) {
            return Err(MemError::Unaligned {
                addr: base | size,
                align: 4096,
            });
        }
        let pages = usize::try_from(size >> PAGE_SHIFT).map_err(|_| MemError::BadSize { size })?;
        if size == 0 || base.checked_add(size).is_none() {
            return Err(MemError::OutOfRange {
                addr: base,
                len: size,
            });
        }
        // The whole range must be one contiguous run of backed memory.
        let words = usize::try_from(size / 8).map_err(|_| MemError::BadSize { size })?;
        mem.words(base, words)?;
        let meta: Box<[AtomicU32]> = (0..pages).map(|_| AtomicU32::new(0)).collect();
        let lead = base % (4096 << MAX_ORDER);
        Ok(Self {
            mem,
            base,
            size,
            lead,
            inner: Mutex::new(Buddy {
                free: (0..=MAX_ORDER).map(|_| BTreeSet::new()).collect(),
                fresh: lead,
                heads: vec![0; pages],
                stats: AllocStats {
                    capacity: size,
                    ..AllocStats::default()
                },
            }),
            meta,
        })
    }

    /// The address space blocks are carved from.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// Physical address of the managed range.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Size of the managed range.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn order_of(size: u64) -> Result<u32> {
        if !size.is_power_of_two() || !(4096..=(4096 << MAX_ORDER)).contains(&size) {
            return Err(MemError::BadSize { size });
        }
        Ok(size.trailing_zeros() - PAGE_SHIFT)
    }

    /// A zeroed block of `size` bytes (a power of two from 4 KiB to 1 MiB), aligned to `size`.
    pub fn alloc(&self, size: u64) -> Result<u64> {
        let order = Self::order_of(size)?;
        let off = {
            let mut b = self.inner.lock();
            let off = b
                .take(order, self.lead + self.size)
                .ok_or(MemError::Exhausted { size })?
                - self.lead;
            b.heads[(off >> PAGE_SHIFT) as usize] = order as u8 + 1;
            b.stats.allocated += size;
            b.stats.blocks += 1;
            off
        };
        let pa = self.base + off;
        let first = (off >> PAGE_SHIFT) as usize;
        for m in &self.meta[first..first + (1 << order)] {
            m.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        if let Err(e) = self.mem.fill(pa, size, 0) {
            // The block is not usable; give it back before reporting.
            let _ = self.free(pa, size);
            return Err(e);
        }
        Ok(pa)
    }

    /// Gives back a block that [`alloc`](Self::alloc) returned with the same `size`.
    pub fn free(&self, pa: u64, size: u64) -> Result<()> {
        let order = Self::order_of(size)?;
        let bad = MemError::NotAllocated { addr: pa, size };
        let off = pa.checked_sub(self.base).ok_or(bad)?;
        if off >= self.size || pa & (size - 1) != 0 {
            return Err(bad);
        }
        let mut b = self.inner.lock();
        let head = &mut b.heads[(off >> PAGE_SHIFT) as usize];
        if *head != order as u8 + 1 {
            return Err(bad);
        }
        *head = 0;
        b.stats.allocated -= size;
        b.stats.blocks -= 1;
        b.put(off + self.lead, order);
        Ok(())
    }

    /// The metadata word of the 4 KiB page at `pa`, or `None` outside the managed range.
    #[inline(always)]
    pub fn meta(&self, pa: u64) -> Option<&AtomicU32> {
        let off = pa.wrapping_sub(self.base);
        if off < self.size {
            self.meta.get((off >> PAGE_SHIFT) as usize)
        } else {
            None
        }
    }

    /// The whole managed range as 64-bit words: word `i` is at `base + 8 * i`.
    pub fn words(&self) -> Result<&[std::sync::atomic::AtomicU64]> {
        self.mem.words(self.base, (self.size / 8) as usize)
    }

    /// The metadata words of every 4 KiB page, in address order.
    pub fn metas(&self) -> &[AtomicU32] {
        &self.meta
    }

    /// Current counters.
    pub fn stats(&self) -> AllocStats {
        self.inner.lock().stats
    }
}

impl Buddy {
    /// A block of `order` from the free lists or from the never-used offsets below `end`.
    fn take(&mut self, order: u32, end: u64) -> Option<u64> {
        let found = (order..=MAX_ORDER).find(|&o| !self.free[o as usize].is_empty());
        let (mut off, mut have) = match found {
            Some(o) => (self.free[o as usize].pop_first()?, o),
            None => {
                let block = 4096u64 << MAX_ORDER;
                let off = self.fresh;
                if off.is_multiple_of(block) && off + block <= end {
                    self.fresh += block;
                    (off, MAX_ORDER)
                } else {
                    // A head or tail shorter than a max-order block: hand out an aligned block
                    // from it, and free the pages skipped to align it.
                    let need = 4096u64 << order;
                    let aligned = off.next_multiple_of(need);
                    if aligned + need > end {
                        return None;
                    }
                    for p in (off..aligned).step_by(4096) {
                        self.put(p, 0);
                    }
                    self.fresh = aligned + need;
                    return Some(aligned);
                }
            }
        };
        while have > order {
            have -= 1;
            self.free[have as usize].insert(off + (4096u64 << have));
        }
        off &= !((4096u64 << order) - 1);
        Some(off)
    }

    fn put(&mut self, mut off: u64, mut order: u32) {
        while order < MAX_ORDER {
            let buddy = off ^ (4096u64 << order);
            if !self.free[order as usize].remove(&buddy) {
                break;
            }
            off = off.min(buddy);
            order += 1;
        }
        self.free[order as usize].insert(off);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RamArena;

    fn pool(size: u64) -> PageAlloc<RamArena> {
        let mem = RamArena::new(0x4000_0000, size).unwrap();
        PageAlloc::new(mem, 0x4000_0000, size).unwrap()
    }

    #[test]
    fn blocks_are_aligned_zeroed_and_disjoint() {
        let a = pool(16 << 20);
        let mut got = Vec::new();
        for &size in &[4096u64, 16384, 65536, 4096, 1 << 20, 65536, 4096] {
            let pa = a.alloc(size).unwrap();
            assert_eq!(pa % size, 0, "{size:#x} block at {pa:#x}");
            let mut buf = vec![1u8; size as usize];
            a.mem().read(pa, &mut buf).unwrap();
            assert!(buf.iter().all(|&b| b == 0));
            a.mem().fill(pa, size, 0xff).unwrap();
            got.push((pa, size));
        }
        for (i, &(p, s)) in got.iter().enumerate() {
            for &(q, t) in &got[i + 1..] {
                assert!(
                    p + s <= q || q + t <= p,
                    "overlap {p:#x}+{s:#x} {q:#x}+{t:#x}"
                );
            }
        }
        // Freed memory comes back zeroed.
        for &(p, s) in &got {
            a.free(p, s).unwrap();
        }
        assert_eq!(a.stats().allocated, 0);
        let p = a.alloc(1 << 20).unwrap();
        let mut buf = vec![1u8; 1 << 20];
        a.mem().read(p, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn buddies_merge_back_to_large_blocks() {
        let a = pool(1 << 20);
        let pages: Vec<u64> = (0..256).map(|_| a.alloc(4096).unwrap()).collect();
        assert!(matches!(a.alloc(4096), Err(MemError::Exhausted { .. })));
        for p in pages {
            a.free(p, 4096).unwrap();
        }
        assert!(a.alloc(1 << 20).is_ok());
    }

    #[test]
    fn bad_sizes_and_foreign_frees_are_refused() {
        let a = pool(1 << 20);
        assert!(matches!(
            a.alloc(8192 + 4096),
            Err(MemError::BadSize { .. })
        ));
        assert!(matches!(a.alloc(2 << 20), Err(MemError::BadSize { .. })));
        assert!(matches!(a.alloc(0), Err(MemError::BadSize { .. })));
        let p = a.alloc(16384).unwrap();
        assert!(matches!(
            a.free(p, 4096),
            Err(MemError::NotAllocated { .. })
        ));
        assert!(matches!(
            a.free(p + 4096, 4096),
            Err(MemError::NotAllocated { .. })
        ));
        assert!(matches!(
            a.free(0, 4096),
            Err(MemError::NotAllocated { .. })
        ));
        a.free(p, 16384).unwrap();
        assert!(matches!(
            a.free(p, 16384),
            Err(MemError::NotAllocated { .. })
        ));
    }

    #[test]
    fn tail_smaller_than_max_block_is_usable() {
        let a = pool(0x5000);
        let p: Vec<u64> = (0..5).map(|_| a.alloc(4096).unwrap()).collect();
        assert_eq!(p.len(), 5);
        assert!(a.alloc(4096).is_err());
        assert!(a.meta(p[0]).is_some());
        assert!(a.meta(0x4000_0000 + 0x5000).is_none());
    }
}

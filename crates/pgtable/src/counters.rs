//! Hit and walk counters for a hardware model's translation path: a switch, and one
//! cache-line-sized shard per thread.
//!
//! Counting is off until switched on. Off, a hit reads one flag that nothing writes while DMA
//! runs and writes no memory; on, threads that translate at once write different cache lines
//! (up to [`SHARDS`] threads; beyond that two threads may share a shard, which stays correct
//! but may contend). A single shared counter would be written by every hit of every device
//! thread and bounce its cache line between them.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// How many per-thread shards the hit and walk counters have.
pub const SHARDS: usize = 16;

/// One thread's hit and walk counts, alone in its cache lines.
#[derive(Default)]
#[repr(align(128))]
struct Shard {
    hits: AtomicU64,
    walks: AtomicU64,
}

/// The shard the next thread to count takes.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard (`usize::MAX` until it first counts).
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's shard index, below [`SHARDS`].
fn shard() -> usize {
    SHARD.with(|s| {
        let mut i = s.get();
        if i >= SHARDS {
            i = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
            s.set(i);
        }
        i
    })
}

/// The translation engine's hit and walk counters: a switch, and one shard per thread.
pub struct HitCounters {
    on: AtomicBool,
    shards: Box<[Shard; SHARDS]>,
}

impl Default for HitCounters {
    fn default() -> Self {
        HitCounters {
            on: AtomicBool::new(false),
            shards: Box::new(std::array::from_fn(|_| Shard::default())),
        }
    }
}

impl HitCounters {
    /// Turns counting on or off.
    pub fn set_enabled(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// Counts a request answered from the IOTLB.
    #[inline(always)]
    pub fn hit(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.shards[shard()].hits.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request that walked the tables.
    #[inline(always)]
    pub fn walk(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.shards[shard()].walks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The sums over every shard: (hits, walks).
    pub fn totals(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(h, w), s| {
            (
                h + s.hits.load(Ordering::Relaxed),
                w + s.walks.load(Ordering::Relaxed),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_counted_while_counting_is_off() {
        let c = HitCounters::default();
        c.hit();
        c.walk();
        assert_eq!(c.totals(), (0, 0));
        c.set_enabled(true);
        c.hit();
        c.hit();
        c.walk();
        assert_eq!(c.totals(), (2, 1));
        c.set_enabled(false);
        c.hit();
        assert_eq!(c.totals(), (2, 1));
    }

    #[test]
    fn counts_of_many_threads_add_up() {
        let c = HitCounters::default();
        c.set_enabled(true);
        std::thread::scope(|s| {
            for _ in 0..2 * SHARDS {
                s.spawn(|| {
                    for _ in 0..100 {
                        c.hit();
                    }
                    c.walk();
                });
            }
        });
        assert_eq!(c.totals(), (200 * SHARDS as u64, 2 * SHARDS as u64));
    }

    #[test]
    fn a_shard_fills_its_cache_lines() {
        assert_eq!(std::mem::align_of::<Shard>(), 128);
        assert_eq!(std::mem::size_of::<Shard>(), 128);
    }
}

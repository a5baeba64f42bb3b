//! A translation cache that readers search without locks: set-associative, each slot guarded
//! by a sequence counter, so that a hit costs a few loads and scales across threads, while
//! fills and invalidations (the slow paths) claim one slot at a time through that counter.
//!
//! Each cache also keeps an [`Epoch`]: its id and a count of the entries that have left it
//! (swept or overwritten) and of the user's own changes ([`Tlb::advance`]). While the epoch
//! reads the same, every entry found is still there with its value, so a front cache of
//! answers (a VMM's, over many accesses) can keep them that long without looking again.
//!
//! Keys and values are two 64-bit words each; the user packs its tags (domain, PASID, page,
//! level...) and its translation into them. Key word 0 must be nonzero for a valid entry
//! (the user sets a valid bit in it).
//!
//! The races between fills, lookups and invalidations are model-checked with loom:
//! `RUSTFLAGS="--cfg loom" cargo test -p softiommu-pgtable --release --lib loom`.

use sync::{AtomicU64, Ordering, fence, spin_loop};

/// The atomics the cache is built of: the standard ones, or loom's when its models run
/// (`--cfg loom`, tests only).
mod sync {
    #[cfg(all(loom, test))]
    pub(super) use loom::{
        hint::spin_loop,
        sync::atomic::{AtomicU64, Ordering, fence},
    };
    #[cfg(not(all(loom, test)))]
    pub(super) use std::{
        hint::spin_loop,
        sync::atomic::{AtomicU64, Ordering, fence},
    };
}

#[cfg(all(loom, test))]
mod loom_models;

/// Ways per set.
pub const WAYS: usize = 4;

/// One entry: a sequence counter (odd while a writer is changing it), the key and the value.
#[repr(align(64))]
struct Slot<const V: usize> {
    seq: AtomicU64,
    k0: AtomicU64,
    k1: AtomicU64,
    v: [AtomicU64; V],
}

impl<const V: usize> Default for Slot<V> {
    fn default() -> Self {
        Slot {
            seq: AtomicU64::new(0),
            k0: AtomicU64::new(0),
            k1: AtomicU64::new(0),
            v: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl<const V: usize> Slot<V> {
    /// The slot's value if it holds `key`, read consistently; `None` when it holds another
    /// key or a writer was busy with it.
    #[inline(always)]
    fn read_matching(&self, key: [u64; 2]) -> Option<[u64; V]> {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 != 0
            || self.k0.load(Ordering::Relaxed) != key[0]
            || self.k1.load(Ordering::Relaxed) != key[1]
        {
            return None;
        }
        let v = self.value();
        fence(Ordering::Acquire);
        (self.seq.load(Ordering::Relaxed) == s1).then_some(v)
    }

    #[inline(always)]
    fn key(&self) -> [u64; 2] {
        [
            self.k0.load(Ordering::Relaxed),
            self.k1.load(Ordering::Relaxed),
        ]
    }

    #[inline(always)]
    fn value(&self) -> [u64; V] {
        std::array::from_fn(|i| self.v[i].load(Ordering::Relaxed))
    }

    /// Claims the slot for writing (its counter goes odd); `None` if another writer has it.
    #[inline(always)]
    fn try_claim(&self) -> Option<u64> {
        let s = self.seq.load(Ordering::Relaxed);
        if s & 1 != 0 {
            return None;
        }
        self.seq
            .compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        fence(Ordering::Release);
        Some(s)
    }

    /// Claims the slot, waiting for a writer that has it (writers hold a slot for a few
    /// stores).
    fn claim(&self) -> u64 {
        loop {
            if let Some(s) = self.try_claim() {
                return s;
            }
            spin_loop();
        }
    }

    /// Writes a claimed slot and releases it.
    #[inline(always)]
    fn write_claimed(&self, s: u64, k: [u64; 2], v: [u64; V]) {
        self.k0.store(k[0], Ordering::Relaxed);
        self.k1.store(k[1], Ordering::Relaxed);
        for (slot, x) in self.v.iter().zip(v) {
            slot.store(x, Ordering::Relaxed);
        }
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }
}

struct Set<const V: usize> {
    slots: [Slot<V>; WAYS],
    /// The next victim when no way is free.
    next: AtomicU64,
}

/// Counters of a [`Tlb`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlbStats {
    /// Entries written.
    pub fills: u64,
    /// Entries removed by invalidation.
    pub invalidated: u64,
}

/// What a cache's readers need to know of its contents having changed: which cache it is,
/// and how many entries have left it (swept by an invalidation, or overwritten by a fill in
/// their slot). While a cache's epoch stays the same, every entry that was found in it is
/// still there, with the value it was found with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch {
    /// The cache, unique in the process.
    pub cache: u64,
    /// Entries that have left it.
    pub removed: u64,
}

/// The cache, with values of `V` words.
pub struct Tlb<const V: usize = 2> {
    sets: Box<[Set<V>]>,
    mask: u64,
    invalidated: AtomicU64,
    /// Which cache this is (see [`Epoch`]).
    id: u64,
    /// Entries swept or overwritten, advanced after they went.
    removed: AtomicU64,
}

/// The ids given to caches so far.
static CACHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl<const V: usize> std::fmt::Debug for Tlb<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tlb")
            .field("entries", &(self.sets.len() * WAYS))
            .finish()
    }
}

#[inline(always)]
fn hash(index: u64) -> u64 {
    // Pages near each other land in different sets; the multiplier mixes the upper bits in.
    let h = index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

impl<const V: usize> Tlb<V> {
    /// A cache of at least `entries` entries (rounded up to a power of two sets of
    /// [`WAYS`]).
    pub fn new(entries: usize) -> Tlb<V> {
        let sets = entries.div_ceil(WAYS).max(1).next_power_of_two();
        Tlb {
            sets: (0..sets)
                .map(|_| Set {
                    slots: Default::default(),
                    next: AtomicU64::new(0),
                })
                .collect(),
            mask: sets as u64 - 1,
            invalidated: AtomicU64::new(0),
            id: CACHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            removed: AtomicU64::new(0),
        }
    }

    /// The cache's epoch now: an entry found after reading it stays in the cache, with its
    /// value, for as long as the epoch reads the same.
    #[inline(always)]
    pub fn epoch(&self) -> Epoch {
        Epoch {
            cache: self.id,
            removed: self.removed.load(Ordering::Acquire),
        }
    }

    /// Moves the epoch on with nothing removed: for a user whose hits hang on more than the
    /// entries, when that changes (a mode of its own that the hit path reads, or an entry
    /// that a look-up finds before one it found earlier).
    pub fn advance(&self) {
        self.removed.fetch_add(1, Ordering::Release);
    }

    /// Writes a claimed slot and releases it, counting the entry it held, if any, as
    /// removed once it is gone.
    #[inline(always)]
    fn fill_claimed(&self, slot: &Slot<V>, s: u64, key: [u64; 2], value: [u64; V]) {
        let replaced = slot.k0.load(Ordering::Relaxed) != 0;
        slot.write_claimed(s, key, value);
        if replaced {
            self.removed.fetch_add(1, Ordering::Release);
        }
    }

    /// Number of entries.
    pub fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }

    #[inline(always)]
    fn set(&self, index: u64) -> &Set<V> {
        &self.sets[(hash(index) & self.mask) as usize]
    }

    /// The value cached under `key` in the set chosen by `index` (the caller's page number,
    /// mixed with what else spreads its entries).
    #[inline(always)]
    pub fn lookup(&self, index: u64, key: [u64; 2]) -> Option<[u64; V]> {
        self.set(index).slots.iter().find_map(|slot| {
            // A slot whose second key word differs is passed over on one load; the match is
            // then read under the slot's sequence counter.
            if slot.k1.load(Ordering::Relaxed) != key[1] {
                return None;
            }
            slot.read_matching(key)
        })
    }

    /// Caches `value` under `key` in the set chosen by `index`, replacing an entry with the
    /// same key, else an empty slot, else a victim in turn. A fill that meets another writer
    /// on its slot is dropped (this is a cache).
    pub fn insert(&self, index: u64, key: [u64; 2], value: [u64; V]) {
        if let Some((slot, s)) = self.claim_for(index, key) {
            self.fill_claimed(slot, s, key, value);
        }
    }

    /// Picks the slot a fill of `key` goes to and claims it; `None` when another writer has
    /// it.
    #[inline(always)]
    fn claim_for(&self, index: u64, key: [u64; 2]) -> Option<(&Slot<V>, u64)> {
        let set = self.set(index);
        let keys: [[u64; 2]; WAYS] = std::array::from_fn(|i| set.slots[i].key());
        let same = keys.iter().position(|k| *k == key);
        let i = same
            .or_else(|| keys.iter().position(|k| k[0] == 0))
            .unwrap_or_else(|| {
                // The victim pointer is a hint: fills racing on it may pick the same way, and
                // one of them is then dropped at the claim.
                let n = set.next.load(Ordering::Relaxed);
                set.next.store(n.wrapping_add(1), Ordering::Relaxed);
                (n % WAYS as u64) as usize
            });
        let slot = set.slots.get(i)?;
        slot.try_claim().map(|s| (slot, s))
    }

    /// [`insert`](Self::insert) for a value computed by a walk that read `seen` from
    /// `generation` before it started: nothing is cached if an invalidation has bumped
    /// `generation` since, up to the moment the entry becomes visible. Invalidations bump
    /// `generation` before they call [`invalidate`](Self::invalidate), so that an entry either
    /// goes in before their sweep reaches its slot (and is swept) or is not made at all.
    pub fn insert_current(
        &self,
        index: u64,
        key: [u64; 2],
        value: [u64; V],
        generation: &AtomicU64,
        seen: u64,
    ) {
        if generation.load(Ordering::Acquire) != seen {
            return;
        }
        let Some((slot, s)) = self.claim_for(index, key) else {
            return;
        };
        // Pairs with the fence `invalidate` starts with: either this load sees the bump, or
        // the sweep that follows the bump sees this claim (and waits for the slot).
        fence(Ordering::SeqCst);
        if generation.load(Ordering::Relaxed) == seen {
            self.fill_claimed(slot, s, key, value);
        } else {
            // Released unchanged: readers that saw the old contents still may.
            slot.seq.store(s, Ordering::Release);
        }
    }

    fn sweep(&self, set: &Set<V>, drop: &mut impl FnMut([u64; 2], [u64; V]) -> bool) -> u64 {
        let mut n = 0;
        for slot in &set.slots {
            // A consistent look first: a slot that is empty or that `drop` keeps is passed
            // over without claiming it (a claimed slot makes its readers miss).
            let s1 = slot.seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                let (k, v) = (slot.key(), slot.value());
                fence(Ordering::Acquire);
                if slot.seq.load(Ordering::Relaxed) == s1 && (k[0] == 0 || !drop(k, v)) {
                    continue;
                }
            }
            let s = slot.claim();
            let (k, v) = (slot.key(), slot.value());
            if k[0] != 0 && drop(k, v) {
                slot.write_claimed(s, [0, 0], [0; V]);
                n += 1;
            } else {
                slot.seq.store(s, Ordering::Release);
            }
        }
        n
    }

    /// Removes every entry for which `drop(key, value)` says so, in the sets that `indices`
    /// choose (every set when `None`, or when they are more than the sets). Returns how many
    /// went. `drop` must answer the same for the same entry: it may be asked twice.
    pub fn invalidate(
        &self,
        indices: Option<std::ops::Range<u64>>,
        mut drop: impl FnMut([u64; 2], [u64; V]) -> bool,
    ) -> u64 {
        // Pairs with the fence in `insert_current`: a fill that missed the caller's
        // generation bump has its claim seen by the sweep.
        fence(Ordering::SeqCst);
        let n = match indices {
            // Two indices of the range may choose the same set: sweeping it again finds
            // nothing more to remove.
            Some(r) if r.end.saturating_sub(r.start) < self.sets.len() as u64 => {
                r.map(|i| self.sweep(self.set(i), &mut drop)).sum()
            }
            _ => self.sets.iter().map(|s| self.sweep(s, &mut drop)).sum(),
        };
        if n != 0 {
            self.invalidated.fetch_add(n, Ordering::Relaxed);
            self.removed.fetch_add(n, Ordering::Release);
        }
        n
    }

    /// Counters (exact when no fill or invalidation runs at the same time).
    pub fn stats(&self) -> TlbStats {
        // Every write to a slot — a fill or a removal — advances its counter by two, so the
        // fills are the writes less the removals, and a fill pays for no shared counter.
        let writes: u64 = self
            .sets
            .iter()
            .flat_map(|set| &set.slots)
            .map(|slot| slot.seq.load(Ordering::Relaxed) / 2)
            .sum();
        let invalidated = self.invalidated.load(Ordering::Relaxed);
        TlbStats {
            fills: writes.wrapping_sub(invalidated),
            invalidated,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn finds_what_was_inserted_and_forgets_what_was_invalidated() {
        let t: Tlb = Tlb::new(64);
        assert_eq!(t.capacity(), 64);
        for page in 0..16u64 {
            t.insert(page, [1 | page << 8, 7], [page * 0x1000, 3]);
        }
        for page in 0..16u64 {
            assert_eq!(t.lookup(page, [1 | page << 8, 7]), Some([page * 0x1000, 3]));
            assert_eq!(t.lookup(page, [1 | page << 8, 8]), None);
        }
        // Replacing under the same key keeps one entry.
        t.insert(3, [1 | 3 << 8, 7], [0xdead_0000, 1]);
        assert_eq!(t.lookup(3, [1 | 3 << 8, 7]), Some([0xdead_0000, 1]));
        // Page-selective: only pages 4..6.
        let n = t.invalidate(Some(4..6), |k, _| (4..6).contains(&(k[0] >> 8)));
        assert_eq!(n, 2);
        assert_eq!(t.lookup(4, [1 | 4 << 8, 7]), None);
        assert!(t.lookup(6, [1 | 6 << 8, 7]).is_some());
        // Global.
        t.invalidate(None, |_, _| true);
        assert!((0..16).all(|p| t.lookup(p, [1 | p << 8, 7]).is_none()));
    }

    #[test]
    fn the_epoch_moves_when_an_entry_leaves_and_only_then() {
        let t: Tlb = Tlb::new(4);
        let other: Tlb = Tlb::new(4);
        let e0 = t.epoch();
        assert_ne!(e0.cache, other.epoch().cache);
        // Fills into empty ways remove nothing.
        for k in 1..=4u64 {
            t.insert(0, [k, 0], [k, 0]);
        }
        assert_eq!(t.epoch(), e0);
        // A fill over an entry of the same key replaces it.
        t.insert(0, [2, 0], [20, 0]);
        let e1 = t.epoch();
        assert_ne!(e1, e0);
        // A fill into the full set evicts one.
        t.insert(0, [5, 0], [5, 0]);
        let e2 = t.epoch();
        assert_ne!(e2, e1);
        // An invalidation that finds nothing leaves it; one that removes moves it.
        t.invalidate(None, |k, _| k[0] == 99);
        assert_eq!(t.epoch(), e2);
        t.invalidate(None, |k, _| k[0] == 5);
        assert_ne!(t.epoch(), e2);
        // A fill made stale by a generation bump writes nothing and moves nothing.
        let e3 = t.epoch();
        let generation = AtomicU64::new(1);
        t.insert_current(0, [6, 0], [6, 0], &generation, 0);
        assert_eq!(t.epoch(), e3);
        // The user's own change moves it.
        t.advance();
        assert_ne!(t.epoch(), e3);
    }

    #[test]
    fn a_fill_from_before_an_invalidation_is_not_kept() {
        let t: Tlb = Tlb::new(16);
        let generation = AtomicU64::new(5);
        t.insert_current(1, [1, 1], [10, 0], &generation, 5);
        assert_eq!(t.lookup(1, [1, 1]), Some([10, 0]));
        // The walk read generation 4; an invalidation has happened since.
        t.insert_current(2, [1, 2], [20, 0], &generation, 4);
        assert_eq!(t.lookup(2, [1, 2]), None);
    }

    #[test]
    fn counts_fills_and_removals() {
        let t: Tlb = Tlb::new(64);
        for p in 0..10u64 {
            t.insert(p, [1 | p << 8, 0], [p, 0]);
        }
        // Rewriting an entry is a fill too.
        t.insert(3, [1 | 3 << 8, 0], [9, 9]);
        assert_eq!(t.invalidate(None, |k, _| k[0] >> 8 < 4), 4);
        assert_eq!(
            t.stats(),
            TlbStats {
                fills: 11,
                invalidated: 4
            }
        );
    }

    #[test]
    fn a_full_set_evicts_but_never_returns_a_wrong_value() {
        let t: Tlb = Tlb::new(8);
        let mut model = HashMap::new();
        for i in 0..1000u64 {
            let k = [1 | i << 1, i % 7];
            t.insert(i, k, [i, !i]);
            model.insert(k, [i, !i]);
        }
        let mut hits = 0;
        for (k, v) in &model {
            if let Some(got) = t.lookup(k[0] >> 1, *k) {
                assert_eq!(got, *v);
                hits += 1;
            }
        }
        assert!(hits > 0 && hits <= 8);
    }

    #[test]
    fn readers_never_see_a_torn_entry_while_writers_rewrite_it() {
        let t: Tlb = Tlb::new(4);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 1..200_000u64 {
                    t.insert(0, [1, 0], [i, i.wrapping_mul(3)]);
                    if i % 64 == 0 {
                        t.invalidate(None, |_, _| true);
                    }
                }
            });
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..200_000 {
                        if let Some([a, b]) = t.lookup(0, [1, 0]) {
                            assert_eq!(b, a.wrapping_mul(3), "torn read");
                        }
                    }
                });
            }
        });
    }
}

//! Model-checked races of the cache: every interleaving (and every value the memory model
//! lets a load return) of a few threads that fill, look up and invalidate one set.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p softiommu-pgtable --release --lib loom`.

use super::Tlb;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

/// The key every model caches under (one set of [`super::WAYS`] ways).
const KEY: [u64; 2] = [1, 7];

/// A value whose second word checks the first, so a mix of two writes shows.
fn value(x: u64) -> [u64; 2] {
    [x, x.wrapping_mul(3) ^ 0x55]
}

/// Asserts that a hit is a whole value that was written, and returns its first word.
fn whole(hit: Option<[u64; 2]>) -> Option<u64> {
    hit.map(|[a, b]| {
        assert_eq!(b, value(a)[1], "torn entry: {a:#x}, {b:#x}");
        a
    })
}

/// Runs `f` under loom, with at most `preemptions` forced thread switches per interleaving
/// (which keeps a model to seconds).
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.check(f);
}

#[test]
fn loom_a_reader_sees_a_whole_entry_while_it_is_rewritten_and_invalidated() {
    model(2, || {
        let t = Arc::new(Tlb::<2>::new(1));
        t.insert(0, KEY, value(1));
        let writer = {
            let t = t.clone();
            thread::spawn(move || t.insert(0, KEY, value(2)))
        };
        let invalidator = {
            let t = t.clone();
            thread::spawn(move || {
                t.invalidate(None, |k, _| k == KEY);
            })
        };
        let seen = whole(t.lookup(0, KEY));
        assert!(matches!(seen, None | Some(1 | 2)), "{seen:?}");
        writer.join().unwrap();
        invalidator.join().unwrap();
        let after = whole(t.lookup(0, KEY));
        assert!(matches!(after, None | Some(2)), "{after:?}");
    });
}

#[test]
fn loom_an_entry_invalidated_is_gone_for_whoever_looks_after() {
    model(3, || {
        let t = Arc::new(Tlb::<2>::new(1));
        t.insert(0, KEY, value(1));
        t.insert(0, [1, 8], value(5));
        let done = Arc::new(AtomicU64::new(0));
        let invalidator = {
            let (t, done) = (t.clone(), done.clone());
            thread::spawn(move || {
                assert_eq!(t.invalidate(Some(0..1), |k, _| k == KEY), 1);
                done.store(1, Ordering::Release);
            })
        };
        // A reader that learns the invalidation is complete must miss; the entry it kept
        // stays whole and findable throughout.
        let finished = done.load(Ordering::Acquire) == 1;
        let hit = whole(t.lookup(0, KEY));
        if finished {
            assert_eq!(hit, None, "stale entry after the invalidation completed");
        }
        assert_eq!(whole(t.lookup(0, [1, 8])), Some(5));
        invalidator.join().unwrap();
        assert_eq!(t.lookup(0, KEY), None);
    });
}

#[test]
fn loom_a_fill_from_a_walk_that_raced_an_invalidation_does_not_survive_it() {
    model(3, || {
        let t = Arc::new(Tlb::<2>::new(1));
        let generation = Arc::new(AtomicU64::new(0));
        // The table entry that the walk reads and the invalidation follows a change of.
        let entry = Arc::new(AtomicU64::new(1));
        let walker = {
            let (t, generation, entry) = (t.clone(), generation.clone(), entry.clone());
            thread::spawn(move || {
                let seen = generation.load(Ordering::Acquire);
                let x = entry.load(Ordering::Acquire);
                t.insert_current(0, KEY, value(x), &generation, seen);
            })
        };
        entry.store(2, Ordering::Release);
        generation.fetch_add(1, Ordering::AcqRel);
        t.invalidate(None, |_, _| true);
        // The walk may still be running, but what it read before the change must not be
        // found once the invalidation has returned.
        let hit = whole(t.lookup(0, KEY));
        assert_ne!(
            hit,
            Some(1),
            "stale entry found after the invalidation returned"
        );
        walker.join().unwrap();
        let hit = whole(t.lookup(0, KEY));
        assert_ne!(hit, Some(1), "stale entry survived the invalidation");
    });
}

/// Runs a reader against `remove`, which takes the entry of [`KEY`] out of a cache and
/// says whether it did: whatever left after the reader found it, and was seen to be done,
/// shows in the epoch. So a reader keeping the entry it found for as long as the epoch
/// holds never keeps a gone one.
fn epoch_moves_with(remove: fn(&Tlb<2>) -> bool) {
    model(3, move || {
        let t = Arc::new(Tlb::<2>::new(1));
        t.insert(0, KEY, value(1));
        let done = Arc::new(AtomicU64::new(0));
        let remover = {
            let (t, done) = (t.clone(), done.clone());
            thread::spawn(move || {
                if remove(&t) {
                    done.store(1, Ordering::Release);
                }
            })
        };
        let before = t.epoch();
        let found = whole(t.lookup(0, KEY));
        let finished = done.load(Ordering::Acquire);
        let after = t.epoch();
        if found == Some(1) && finished != 0 {
            assert_ne!(before, after, "an entry left without the epoch moving");
        }
        remover.join().unwrap();
    });
}

#[test]
fn loom_an_entry_overwritten_after_it_was_found_moves_the_epoch() {
    // The only writer: its fill always lands, over the entry.
    epoch_moves_with(|t| {
        t.insert(0, KEY, value(2));
        true
    });
}

#[test]
fn loom_an_entry_swept_after_it_was_found_moves_the_epoch() {
    epoch_moves_with(|t| t.invalidate(None, |k, _| k == KEY) != 0);
}

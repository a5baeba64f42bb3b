//! The checking mode's record: cached translations that a fresh walk contradicts.
//!
//! A hardware model in checking mode compares each cache hit with a walk of the tables as they
//! are now; a difference means the driver changed the tables without the invalidation the
//! specification requires. [`StaleLog`] counts every such hit and keeps the first reports,
//! whatever a model puts in them (its request, tags, cached and fresh translations).

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How many reports a [`StaleLog`] keeps; later ones are only counted.
pub const KEPT: usize = 1024;

/// Whether checking is on, how many stale hits were found, and the first [`KEPT`] reports.
#[derive(Debug)]
pub struct StaleLog<R> {
    on: AtomicBool,
    count: AtomicU64,
    kept: Mutex<Vec<R>>,
}

impl<R> Default for StaleLog<R> {
    fn default() -> Self {
        StaleLog {
            on: AtomicBool::new(false),
            count: AtomicU64::new(0),
            kept: Mutex::new(Vec::new()),
        }
    }
}

impl<R: Clone> StaleLog<R> {
    /// An empty log with checking off.
    pub fn new() -> StaleLog<R> {
        StaleLog::default()
    }

    /// Turns checking on or off.
    pub fn set_enabled(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// Whether checking is on.
    #[inline(always)]
    pub fn enabled(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Records one stale hit.
    pub fn report(&self, r: R) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.kept.lock();
        if kept.len() < KEPT {
            kept.push(r);
        }
    }

    /// How many stale hits were found.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The first [`KEPT`] reports, oldest first.
    pub fn reports(&self) -> Vec<R> {
        self.kept.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_all_and_keeps_the_first() {
        let log = StaleLog::new();
        assert!(!log.enabled());
        log.set_enabled(true);
        assert!(log.enabled());
        for i in 0..KEPT as u64 + 5 {
            log.report(i);
        }
        assert_eq!(log.count(), KEPT as u64 + 5);
        let r = log.reports();
        assert_eq!(r.len(), KEPT);
        assert_eq!(r[0], 0);
        assert_eq!(r[KEPT - 1], KEPT as u64 - 1);
    }
}

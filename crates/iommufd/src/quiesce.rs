//! A gate that keeps every thread out of softiommu while a process forks, so that the child
//! (which has only the forking thread) finds no lock of the library held by a thread it
//! does not have.
//!
//! Code that takes the library's locks runs inside [`enter`]'s guard; [`prepare`] (a
//! `pthread_atfork` prepare handler) closes the gate and waits until no thread is inside,
//! and [`parent`] and [`child`] open it again. A thread waiting at a closed gate holds no
//! lock and is not parked on one: it yields in a loop on two atomics, so the child inherits
//! no half-taken lock of the gate either. Entries nest: a thread already inside enters again
//! without waiting, so a call made from inside (a hook reached from the library's own libc
//! call, a trapped access in a signal handler) never waits on a fork that waits on it.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Threads inside (each counted once, at its outermost entry).
static INSIDE: AtomicUsize = AtomicUsize::new(0);
/// A fork is being prepared: entries wait.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// How long [`prepare`] waits for the threads inside to leave before letting the fork go on
/// (a thread inside may wait for one the closed gate holds back: a device blocked on a page
/// response that the fault queue's service thread would deliver).
const PATIENCE: Duration = Duration::from_secs(2);

thread_local! {
    /// This thread's nesting depth inside the gate.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// A thread's stay inside the gate; leaving is dropping it.
#[must_use = "the thread leaves the gate when this is dropped"]
pub struct Inside(());

/// Enters the gate: waits while a fork is being prepared (unless this thread is already
/// inside), then counts the thread in until the guard is dropped. Safe to call from a
/// signal handler.
pub fn enter() -> Inside {
    let depth = DEPTH.with(Cell::get);
    if depth > 0 {
        DEPTH.with(|d| d.set(depth + 1));
        return Inside(());
    }
    loop {
        while CLOSED.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        INSIDE.fetch_add(1, Ordering::SeqCst);
        if !CLOSED.load(Ordering::SeqCst) {
            break;
        }
        INSIDE.fetch_sub(1, Ordering::SeqCst);
    }
    DEPTH.with(|d| d.set(1));
    Inside(())
}

impl Drop for Inside {
    fn drop(&mut self) {
        let depth = DEPTH.with(Cell::get);
        DEPTH.with(|d| d.set(depth.saturating_sub(1)));
        if depth == 1 {
            INSIDE.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Before a fork: closes the gate (one fork at a time) and waits until no other thread is
/// inside, for at most two seconds. The forking thread must not be inside itself.
pub fn prepare() {
    while CLOSED
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        std::thread::yield_now();
    }
    let mine = usize::from(DEPTH.with(Cell::get) > 0);
    let until = Instant::now() + PATIENCE;
    while INSIDE.load(Ordering::SeqCst) > mine && Instant::now() < until {
        std::thread::yield_now();
    }
}

/// After a fork, in the parent: opens the gate.
pub fn parent() {
    CLOSED.store(false, Ordering::SeqCst);
}

/// After a fork, in the child: only the forking thread is left, so only it can be inside;
/// opens the gate.
pub fn child() {
    let mine = usize::from(DEPTH.with(Cell::get) > 0);
    INSIDE.store(mine, Ordering::SeqCst);
    CLOSED.store(false, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn a_closed_gate_holds_threads_back_until_it_opens() {
        let g = enter();
        let nested = enter();
        drop(nested);
        drop(g);
        prepare();
        let passed = Arc::new(AtomicU64::new(0));
        let p = passed.clone();
        let t = std::thread::spawn(move || {
            let _in = enter();
            p.store(1, Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(passed.load(Ordering::SeqCst), 0, "entered a closed gate");
        parent();
        t.join().expect("the thread ends");
        assert_eq!(passed.load(Ordering::SeqCst), 1);
        assert_eq!(INSIDE.load(Ordering::SeqCst), 0);
    }
}

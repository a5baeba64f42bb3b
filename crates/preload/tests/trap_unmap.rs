//! Unmapping part of a trapped window: the cut part is no longer served, the rest keeps its
//! device offsets.

mod trap_common;

use std::arch::asm;

use softiommu_preload::trap::{register, unregister, unregister_range, window_at};
use trap_common::{Recorder, Seen};

/// Three inaccessible pages of this process, with one more on each side that no window
/// holds (the tests run at once, and their cuts reach a page past their window).
fn pages() -> u64 {
    // SAFETY: a fresh anonymous mapping; nothing else refers to it.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            5 * 4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(at, libc::MAP_FAILED);
    at as u64 + 4096
}

fn load(at: u64) -> u32 {
    let v: u32;
    // SAFETY: a load from a trapped window, served by the trap.
    unsafe { asm!("mov {v:e}, dword ptr [{p}]", p = in(reg) at, v = out(reg) v) };
    v
}

#[test]
fn a_cut_in_the_middle_leaves_two_windows_at_their_offsets() {
    let r = Recorder::new();
    let base = pages();
    register(base, 3 * 4096, r.clone()).expect("registered");
    assert_eq!(unregister_range(base + 4096, 4096), 1);
    assert!(window_at(base + 4096).is_none());
    let (b0, l0, _) = window_at(base).expect("the first page");
    let (b2, l2, _) = window_at(base + 2 * 4096 + 8).expect("the last page");
    assert_eq!((b0, l0, b2, l2), (base, 4096, base + 2 * 4096, 4096));
    load(base + 4);
    load(base + 2 * 4096 + 8);
    assert_eq!(r.take(), vec![Seen::Read(4, 4), Seen::Read(0x2008, 4)]);
    // Cutting nothing of a window touches none; covering both ends them.
    assert_eq!(unregister_range(base + 4096, 4096), 0);
    assert_eq!(unregister_range(base, 3 * 4096), 2);
    assert!(window_at(base).is_none() && window_at(base + 2 * 4096).is_none());
    assert!(unregister(base).is_none());
}

#[test]
fn a_cut_at_either_end_keeps_the_other() {
    let r = Recorder::new();
    let base = pages();
    register(base, 3 * 4096, r.clone()).expect("registered");
    assert_eq!(unregister_range(base - 4096, 2 * 4096), 1);
    assert_eq!(unregister_range(base + 2 * 4096, 8192), 1);
    let (b, l, _) = window_at(base + 4096).expect("the middle page");
    assert_eq!((b, l), (base + 4096, 4096));
    assert!(window_at(base).is_none() && window_at(base + 2 * 4096).is_none());
    load(base + 4096 + 0x10);
    assert_eq!(r.take(), vec![Seen::Read(0x1010, 4)]);
    assert_eq!(unregister_range(base, 3 * 4096), 1);
}

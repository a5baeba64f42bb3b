//! ATC invalidations racing moves: the engine, with ATS enabled, keeps moving into a page
//! whose mapping another thread changes through the core, so that every unmap makes the
//! driver invalidate the IOTLB and then the function's ATC (a VT-d device-TLB
//! invalidation, an SMMUv3 `CMD_ATC_INV`), which the model delivers to the engine while
//! moves are in flight.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{Engine, StopOnDrop, pattern, platform};
use crate::PagingRequest;
use crate::testing::harness::{Harness, PAGE, Platform};
use softiommu_devices::dsa::Status;
use softiommu_devices::testing::Retired;
use softiommu_pgtable::Prot;

const SRC: u64 = 0x1000_0000;
/// The destination whose mapping changes.
const X: u64 = 0x2000_0000;
const CR: u64 = 0x3000_0000;
/// Bytes of each move: two ATC pages, so that an invalidation may fall between them.
const LEN: u32 = 0x2000;
/// Times the destination is unmapped and mapped again.
const REMAPS: usize = 300;
/// Physical pages the destination takes in turn.
const SLOTS: usize = 3;
/// What retired pages hold.
const GUARD: u8 = 0xc3;

/// What the mover did: moves completed, moves that faulted at the destination.
#[derive(Debug, Default)]
struct Moves {
    completed: usize,
    faulted: usize,
}

/// The engine moves `LEN` bytes from SRC into X again and again, while X is unmapped and
/// mapped to the next of three pages, 300 times. Once an unmap has returned, the
/// page it unmapped is filled with a guard byte, and it keeps it until X is mapped to it
/// again: no move, however far along when the unmap began, writes it after the unmap
/// returned. A move after a map lands in the page mapped. Every move completes, or ends
/// with a page fault at X with the bytes before it done. The engine used translation
/// requests and translated requests throughout, and completed an ATC invalidation for
/// every unmap.
pub fn an_atc_invalidation_racing_moves_leaves_no_stale_translation(h: &dyn Harness) {
    let p = platform(h);
    let e = Engine::new(&p, 0);
    e.enable_ats();
    e.bring_up(&[None]);
    let d = p.iommu.new_paging(e.dev, PagingRequest::default()).unwrap();
    p.iommu.attach(e.dev, &d).unwrap();
    let data = pattern(LEN as usize, 21);
    let (src_pa, cr_pa) = (p.alloc(PAGE), p.alloc(PAGE));
    p.mem().write(src_pa, &data).unwrap();
    let pages: [u64; SLOTS] = std::array::from_fn(|_| p.alloc(PAGE));
    d.map_sync(SRC, src_pa, PAGE, Prot::READ).unwrap();
    d.map_sync(CR, cr_pa, PAGE, Prot::RW).unwrap();
    d.map_sync(X, pages[0], PAGE, Prot::RW).unwrap();
    let mem = &**p.mem();
    let retired = Retired::new(GUARD);
    for &pa in &pages[1..] {
        retired.retire(mem, pa, PAGE);
    }

    // Maps made so far, and the latest map after which a move was submitted and completed.
    let maps = AtomicUsize::new(0);
    let landed = AtomicUsize::new(usize::MAX);
    let stop = AtomicBool::new(false);
    let moves = std::thread::scope(|s| {
        let mover = s.spawn(|| mover(&p, &e, cr_pa, &maps, &landed, &stop));
        let stopping = StopOnDrop {
            flag: &stop,
            line: None,
        };
        for round in 0..REMAPS {
            // A move submitted after the last map completed: it landed in the page mapped.
            while landed.load(Ordering::Acquire) != round {
                assert!(!mover.is_finished(), "the mover stopped");
                std::thread::yield_now();
            }
            let cur = pages[round % SLOTS];
            assert!(
                p.read(cur, LEN as usize) == data,
                "round {round}: a move after the map landed elsewhere"
            );
            d.unmap_sync(X, PAGE).unwrap();
            retired.retire(mem, cur, PAGE);
            let next = pages[(round + 1) % SLOTS];
            if let Err(w) = retired.reuse(mem, next) {
                panic!("round {round}: {w:?} in a page unmapped before");
            }
            d.map_sync(X, next, PAGE, Prot::RW).unwrap();
            maps.store(round + 1, Ordering::Release);
        }
        drop(stopping);
        mover.join().expect("the mover")
    });
    assert_eq!(
        retired.check(mem),
        Ok(()),
        "a write after its unmap returned ({moves:?})"
    );
    assert!(
        e.tap.invalidations().len() >= REMAPS,
        "an ATC invalidation per unmap ({} for {REMAPS})",
        e.tap.invalidations().len()
    );
    assert!(e.tap.translation_requests() > 0 && e.tap.translated_requests() > 0);
}

/// Moves until `stop`, noting in `landed` the number of maps made before each completed
/// move was submitted.
fn mover(
    p: &Platform,
    e: &Engine,
    cr_pa: u64,
    maps: &AtomicUsize,
    landed: &AtomicUsize,
    stop: &AtomicBool,
) -> Moves {
    let mut m = Moves::default();
    while !stop.load(Ordering::Acquire) {
        let before = maps.load(Ordering::Acquire);
        let r = e.memmove(p, 0, (SRC, X, LEN), (CR, cr_pa));
        if r.status == Status::Success as u8 {
            m.completed += 1;
            landed.store(before, Ordering::Release);
            continue;
        }
        let at = r.fault_addr.wrapping_sub(X);
        assert!(
            r.status == Status::PageFaultNoBof as u8
                && at.is_multiple_of(0x1000)
                && at < u64::from(LEN)
                && u64::from(r.bytes_completed) == at
                && r.fault_info & 1 == 1,
            "a move ended other than with success or a write fault at X: {r:?}"
        );
        m.faulted += 1;
    }
    m
}

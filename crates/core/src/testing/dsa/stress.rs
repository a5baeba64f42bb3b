//! Four engines moving data while another thread maps, unmaps and invalidates.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Engine, pattern, platform};
use crate::PagingRequest;
use crate::testing::harness::{Harness, PAGE, Platform};
use softiommu_devices::dsa::Status;
use softiommu_pgtable::Prot;

/// Moves each engine makes at least.
const MOVES: usize = 48;
/// Remappings of every slot the other thread makes.
const REMAPS: usize = 64;
/// Engines.
const ENGINES: usize = 4;
/// Guard byte.
const GUARD: u8 = 0xa5;

/// Where engine `i`'s buffers are: source, destination slot and completion record addresses,
/// one page each.
fn iovas(i: usize) -> (u64, u64, u64) {
    let base = 0x1000_0000 + i as u64 * 0x100_0000;
    (base, base + 0x10_0000, base + 0x20_0000)
}

/// Checks that a destination page holds, at every offset, either zero or the source byte
/// there: no other engine's bytes, nothing misplaced.
fn only_own_bytes(p: &Platform, pa: u64, src: &[u8], what: &str) {
    let got = p.read(pa, src.len());
    let bad = got.iter().zip(src).position(|(&g, &s)| g != 0 && g != s);
    assert_eq!(bad, None, "{what}: a foreign byte");
}

/// Four engines, each behind its own requester ID and sharing one domain, move their own
/// source page into a destination slot again and again, while another thread keeps
/// remapping every slot between two pages of RAM (unmapped in between, each unmap flushed).
/// Guard pages around every page of RAM are never written, no page ever holds another
/// engine's bytes, and a move either completes or ends with a page fault at the slot.
pub fn four_engines_never_write_outside_what_was_mapped(h: &dyn Harness) {
    let p = platform(h);
    let engines: Vec<Engine> = (0..ENGINES).map(|_| Engine::new(&p, 0)).collect();
    let d = p
        .iommu
        .new_paging(engines[0].dev, PagingRequest::default())
        .unwrap();
    // Per engine: [G][src][G][A][G][B][G][cr][G].
    let mut layout = Vec::new();
    for (i, e) in engines.iter().enumerate() {
        e.bring_up(&[None]);
        p.iommu.attach(e.dev, &d).unwrap();
        let block = p.alloc(9 * PAGE);
        p.mem().fill(block, 9 * PAGE, GUARD).unwrap();
        let [src, a, b, cr] = [1, 3, 5, 7].map(|k| block + k * PAGE);
        for pa in [a, b, cr] {
            p.mem().fill(pa, PAGE, 0).unwrap();
        }
        let data = pattern(PAGE as usize, 17 * i as u8 + 1);
        p.mem().write(src, &data).unwrap();
        let (s, dst, c) = iovas(i);
        d.map_sync(s, src, PAGE, Prot::READ).unwrap();
        d.map_sync(dst, a, PAGE, Prot::RW).unwrap();
        d.map_sync(c, cr, PAGE, Prot::RW).unwrap();
        layout.push((block, data, a, b, cr));
    }

    // Engines move until the remapping is over and each has made MOVES moves; the remapping
    // thread makes REMAPS rounds.
    let remapping = AtomicBool::new(true);
    let outcomes = std::thread::scope(|s| {
        let movers: Vec<_> = engines
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (p, remapping, cr) = (&p, &remapping, layout[i].4);
                s.spawn(move || {
                    let (src, dst, c) = iovas(i);
                    let (mut moved, mut faulted) = (0usize, 0usize);
                    while moved + faulted < MOVES || remapping.load(Ordering::Acquire) {
                        let r = e.memmove(p, 0, (src, dst, PAGE as u32), (c, cr));
                        let at = (dst + u64::from(r.bytes_completed)) & !0xfff;
                        if r.status == Status::Success as u8 {
                            moved += 1;
                        } else {
                            let fault = r.status == Status::PageFaultNoBof as u8
                                && r.fault_addr & !0xfff == at;
                            assert!(fault, "engine {i}: {r:?}");
                            faulted += 1;
                        }
                    }
                    (moved, faulted)
                })
            })
            .collect();
        for round in 0..REMAPS {
            for i in 0..ENGINES {
                d.unmap_sync(iovas(i).1, PAGE).unwrap();
            }
            // Let the engines run into the holes.
            std::thread::yield_now();
            for (i, (_, _, a, b, _)) in layout.iter().enumerate() {
                let to = if round % 2 == 0 { *b } else { *a };
                d.map_sync(iovas(i).1, to, PAGE, Prot::RW).unwrap();
            }
        }
        remapping.store(false, Ordering::Release);
        movers
            .into_iter()
            .map(|m| m.join().unwrap())
            .collect::<Vec<_>>()
    });
    // The faults are the moves the remapping caught; after it, every engine moves whole
    // pages into the page its slot maps last.
    let last = |a: u64, b: u64| if REMAPS % 2 == 1 { b } else { a };
    for (i, e) in engines.iter().enumerate() {
        let (src, dst, c) = iovas(i);
        let (_, data, a, b, cr) = &layout[i];
        let r = e.memmove(&p, 0, (src, dst, PAGE as u32), (c, *cr));
        assert_eq!(
            r.status,
            Status::Success as u8,
            "engine {i} after {outcomes:?}"
        );
        assert!(p.read(last(*a, *b), PAGE as usize) == *data);
    }
    for (i, (block, data, a, b, _)) in layout.iter().enumerate() {
        for g in [0, 2, 4, 6, 8] {
            let guard = p.read(block + g * PAGE, PAGE as usize);
            assert!(
                guard.iter().all(|&x| x == GUARD),
                "engine {i}: guard page {g} written"
            );
        }
        only_own_bytes(&p, *a, data, "page A");
        only_own_bytes(&p, *b, data, "page B");
    }
}

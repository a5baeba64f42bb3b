//! Four engines moving data while another thread maps, unmaps and invalidates.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Engine, pattern, platform};
use crate::PagingRequest;
use crate::testing::harness::{Harness, PAGE, Platform};
use softiommu_devices::dsa::Status;
use softiommu_pgtable::Prot;

/// Moves each engine makes.
const MOVES: usize = 48;
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

    let done = AtomicUsize::new(0);
    let remaps = std::thread::scope(|s| {
        for (i, e) in engines.iter().enumerate() {
            let (p, done, cr) = (&p, &done, layout[i].4);
            s.spawn(move || {
                let (src, dst, c) = iovas(i);
                for _ in 0..MOVES {
                    let r = e.memmove(p, 0, (src, dst, PAGE as u32), (c, cr));
                    let fault = r.status == Status::PageFaultNoBof as u8
                        && r.fault_addr & !0xfff == (dst + u64::from(r.bytes_completed)) & !0xfff;
                    assert!(r.status == Status::Success as u8 || fault, "{r:?}");
                }
                done.fetch_add(1, Ordering::Release);
            });
        }
        let mut remaps = 0usize;
        let mut on_b = false;
        while done.load(Ordering::Acquire) < ENGINES {
            on_b = !on_b;
            for (i, (_, _, a, b, _)) in layout.iter().enumerate() {
                let dst = iovas(i).1;
                d.unmap_sync(dst, PAGE).unwrap();
                d.map_sync(dst, if on_b { *b } else { *a }, PAGE, Prot::RW)
                    .unwrap();
            }
            remaps += 1;
        }
        remaps
    });
    assert!(remaps > 0);

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

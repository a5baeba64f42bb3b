//! The page allocator shared by several threads, and the ranges it refuses to manage.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_mem::{AddressSpace, GuestRam, MemError, PageAlloc, RamArena};
use vm_memory::{GuestAddress, GuestMemoryMmap};

const THREADS: u64 = 4;
const OPS_PER_THREAD: usize = 1500;
/// Block sizes the threads ask for, small ones more often than large ones.
const SIZES: [u64; 10] = [
    4096,
    4096,
    4096,
    8192,
    8192,
    16384,
    65536,
    65536,
    256 << 10,
    1 << 20,
];

/// A small deterministic generator, one per thread.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// The byte thread `tid` fills its blocks with.
fn fill_byte(tid: u64) -> u8 {
    0x11 * (tid as u8 + 1)
}

/// The word thread `tid` writes at the start of every 4 KiB page at `page`: unique to the thread
/// and to the page, so that an overlap with any other live block shows.
fn tag(tid: u64, page: u64) -> u64 {
    (tid + 1) << 56 | page
}

/// Writes thread `tid`'s pattern into the block.
fn stamp(a: &PageAlloc<Arc<RamArena>>, tid: u64, pa: u64, size: u64) {
    a.mem()
        .fill(pa, size, fill_byte(tid))
        .expect("fill a new block");
    for page in (pa..pa + size).step_by(4096) {
        a.mem().store_u64(page, tag(tid, page)).expect("tag a page");
    }
}

/// Whether the block still holds thread `tid`'s pattern.
fn intact(a: &PageAlloc<Arc<RamArena>>, tid: u64, pa: u64, size: u64) -> bool {
    let mut buf = vec![0u8; size as usize];
    a.mem().read(pa, &mut buf).expect("read back a live block");
    let fill = [fill_byte(tid); 4096];
    buf.chunks(4096)
        .zip((pa..).step_by(4096))
        .all(|(page, at)| page[..8] == tag(tid, at).to_le_bytes() && page[8..] == fill[8..])
}

/// Blocks handed out and not yet freed, by address, across all threads.
type Live = Mutex<BTreeMap<u64, (u64, u64)>>;

fn claim(live: &Live, pa: u64, size: u64, tid: u64) {
    let mut l = live.lock();
    if let Some((&p, &(s, t))) = l.range(..pa + size).next_back() {
        assert!(
            p + s <= pa,
            "thread {tid}: block {pa:#x}+{size:#x} overlaps {p:#x}+{s:#x} of thread {t}"
        );
    }
    l.insert(pa, (size, tid));
}

fn worker(a: &PageAlloc<Arc<RamArena>>, live: &Live, tid: u64) -> u64 {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (tid + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    let mut held: Vec<(u64, u64)> = Vec::new();
    let mut exhausted = 0;
    let release = |held: &mut Vec<(u64, u64)>, i: usize| {
        let (pa, size) = held.swap_remove(i);
        assert!(
            intact(a, tid, pa, size),
            "thread {tid}: block {pa:#x}+{size:#x} was overwritten while it was live"
        );
        live.lock().remove(&pa).expect("a live block is registered");
        a.free(pa, size).expect("free a live block");
    };
    for _ in 0..OPS_PER_THREAD {
        let r = rng.next();
        if !held.is_empty() && (r % 8 < 3 || held.len() >= 12) {
            let i = (r >> 8) as usize % held.len();
            release(&mut held, i);
            continue;
        }
        let size = SIZES[(r >> 16) as usize % SIZES.len()];
        match a.alloc(size) {
            Ok(pa) => {
                assert_eq!(pa % size, 0, "block {pa:#x} is not aligned to {size:#x}");
                assert!(
                    pa >= a.base() && pa + size <= a.base() + a.size(),
                    "block {pa:#x}+{size:#x} is outside the managed range"
                );
                claim(live, pa, size, tid);
                let mut buf = vec![0xa5u8; size as usize];
                a.mem().read(pa, &mut buf).expect("read a new block");
                assert!(buf.iter().all(|&b| b == 0), "block {pa:#x} not zeroed");
                let meta = a.meta(pa).expect("a block has metadata");
                assert_eq!(meta.load(std::sync::atomic::Ordering::Relaxed), 0);
                stamp(a, tid, pa, size);
                held.push((pa, size));
            }
            Err(MemError::Exhausted { size: s }) => {
                assert_eq!(s, size);
                exhausted += 1;
                if !held.is_empty() {
                    release(&mut held, 0);
                }
            }
            Err(e) => panic!("thread {tid}: alloc({size:#x}): {e}"),
        }
    }
    while !held.is_empty() {
        release(&mut held, 0);
    }
    exhausted
}

fn run_threads(base: u64, size: u64) -> Arc<PageAlloc<Arc<RamArena>>> {
    // The arena is larger than the managed range on both sides.
    let mem = Arc::new(RamArena::new(base & !0xf_ffff, size + (2 << 20)).expect("arena"));
    let a = Arc::new(PageAlloc::new(mem, base, size).expect("allocator"));
    let live: Arc<Live> = Arc::default();
    let handles: Vec<_> = (0..THREADS)
        .map(|tid| {
            let a = Arc::clone(&a);
            let live = Arc::clone(&live);
            std::thread::spawn(move || worker(&a, &live, tid))
        })
        .collect();
    for h in handles {
        h.join().expect("worker thread");
    }
    assert!(live.lock().is_empty());
    let st = a.stats();
    assert_eq!(st.allocated, 0, "all memory returned: {st:?}");
    assert_eq!(st.blocks, 0, "all blocks returned: {st:?}");
    assert_eq!(st.capacity, size);
    a
}

#[test]
fn four_threads_allocate_and_free_without_overlap() {
    // 12 MiB for four threads that may hold up to 12 blocks of up to 1 MiB each: some
    // requests meet an exhausted allocator, as they would under pressure.
    let a = run_threads(0x4000_0000, 12 << 20);
    // Everything merged back: the whole range is again twelve 1 MiB blocks.
    let blocks: Vec<u64> = (0..12)
        .map(|_| {
            a.alloc(1 << 20)
                .expect("a 1 MiB block after everything was freed")
        })
        .collect();
    assert!(matches!(a.alloc(4096), Err(MemError::Exhausted { .. })));
    for b in blocks {
        a.free(b, 1 << 20).expect("free");
    }
    assert_eq!(a.stats().allocated, 0);
}

#[test]
fn four_threads_share_a_range_that_is_not_megabyte_aligned() {
    // Blocks are naturally aligned in physical addresses even when the managed range starts
    // and ends between 1 MiB boundaries.
    let a = run_threads(0x4000_3000, (12 << 20) + 0x5000);
    let mut got = Vec::new();
    while let Ok(p) = a.alloc(4096) {
        got.push(p);
    }
    assert_eq!(got.len() as u64, a.size() / 4096, "every page is usable");
    for p in got {
        a.free(p, 4096).expect("free");
    }
    assert_eq!(a.stats().allocated, 0);
}

#[test]
fn new_refuses_a_range_that_is_not_backed_in_one_piece() {
    let arena = RamArena::new(0x10_0000, 0x10_0000).expect("arena");
    let out = |r: Result<PageAlloc<&RamArena>, MemError>| match r {
        Err(e @ MemError::OutOfRange { .. }) => e,
        Err(e) => panic!("wrong error {e:?}"),
        Ok(_) => panic!("an unbacked range was accepted"),
    };
    // Partly outside: past the end, before the start, entirely elsewhere.
    out(PageAlloc::new(&arena, 0x18_0000, 0x10_0000));
    out(PageAlloc::new(&arena, 0x1f_f000, 0x2000));
    out(PageAlloc::new(&arena, 0xf_f000, 0x2000));
    out(PageAlloc::new(&arena, 0x0, 0x20_0000));
    out(PageAlloc::new(&arena, 0x100_0000, 0x1000));
    out(PageAlloc::new(&arena, 0xffff_ffff_ffff_0000, 0x1000));
    // Wrapping around the address space, and empty.
    out(PageAlloc::new(&arena, 0xffff_ffff_ffff_f000, 0x2000));
    out(PageAlloc::new(&arena, 0x10_0000, 0));
    assert!(matches!(
        PageAlloc::new(&arena, 0x10_0800, 0x1000),
        Err(MemError::Unaligned { .. })
    ));
    assert!(matches!(
        PageAlloc::new(&arena, 0x10_0000, 0x1800),
        Err(MemError::Unaligned { .. })
    ));
    // Exactly the arena, and a part of it, are fine.
    assert!(PageAlloc::new(&arena, 0x10_0000, 0x10_0000).is_ok());
    assert!(PageAlloc::new(&arena, 0x1f_f000, 0x1000).is_ok());

    // Guest memory: two regions with a hole between them, and two that touch.
    let holed = GuestRam::new(
        GuestMemoryMmap::<()>::from_ranges(&[
            (GuestAddress(0), 0x10_0000),
            (GuestAddress(0x20_0000), 0x10_0000),
        ])
        .expect("guest memory"),
    );
    let touching = GuestRam::new(
        GuestMemoryMmap::<()>::from_ranges(&[
            (GuestAddress(0), 0x10_0000),
            (GuestAddress(0x10_0000), 0x10_0000),
        ])
        .expect("guest memory"),
    );
    let out_g = |r: Result<PageAlloc<&GuestRam<GuestMemoryMmap<()>>>, MemError>| match r {
        Err(MemError::OutOfRange { .. }) => {}
        Err(e) => panic!("wrong error {e:?}"),
        Ok(_) => panic!("a range across regions was accepted"),
    };
    // Across the hole, from the first region into the hole, in the hole.
    out_g(PageAlloc::new(&holed, 0, 0x30_0000));
    out_g(PageAlloc::new(&holed, 0xf_f000, 0x2000));
    out_g(PageAlloc::new(&holed, 0x18_0000, 0x1000));
    out_g(PageAlloc::new(&holed, 0x2f_f000, 0x2000));
    // Two regions that touch are backed, but not by one run of host memory.
    out_g(PageAlloc::new(&touching, 0, 0x20_0000));
    out_g(PageAlloc::new(&touching, 0xf_f000, 0x2000));
    // Inside one region is fine.
    let a = PageAlloc::new(&touching, 0x10_0000, 0x10_0000).expect("one region");
    let p = a.alloc(1 << 20).expect("the whole region");
    assert_eq!(p, 0x10_0000);
    assert!(PageAlloc::new(&holed, 0x20_0000, 0x10_0000).is_ok());
}

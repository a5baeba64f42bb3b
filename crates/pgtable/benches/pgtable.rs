//! Page-table speed: map/unmap pairs, 256-page runs, 2 MiB blocks and random look-ups, for the
//! VT-d second-stage and Arm stage-1 (4 KiB granule) formats, and two threads mapping one
//! table behind a lock.
//!
//! The baseline measured in the same run is a hand-written walk over the same table with raw
//! loads and no abstraction (`raw_walk`), so the look-up figure's ratio to it is the cost of
//! the generic walker.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::{Format, PageTable, Prot};

const BASE: u64 = 0x1_0000_0000;
const ARENA: u64 = 4 << 30;
const PA: u64 = 0x8000_0000;

fn table<F: Format>(fmt: F) -> PageTable<F, Arc<RamArena>> {
    let mem = Arc::new(RamArena::new(BASE, ARENA).expect("arena"));
    // Huge host pages where the host has them, so that look-ups measure the walk, not the
    // host's TLB (the baseline walks the same memory).
    let _ = mem.advise_huge_pages();
    let alloc = Arc::new(PageAlloc::new(mem, BASE, ARENA).expect("allocator"));
    PageTable::new(fmt, alloc).expect("table")
}

/// A small xorshift generator: the same addresses every run.
fn addresses(n: usize, span: u64) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % span) & !0xfff
        })
        .collect()
}

fn bench_format<F: Format>(c: &mut Criterion, name: &str, fmt: F) {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));

    // One 4 KiB page mapped and unmapped at the same IOVA (tables freed and re-made each time).
    let mut t = table(fmt.clone());
    g.bench_function("map_unmap_4k_pair", |b| {
        b.iter(|| {
            t.map(black_box(0x4000_0000), PA, 0x1000, Prot::RW)
                .expect("map");
            t.unmap(black_box(0x4000_0000), 0x1000).expect("unmap");
        })
    });

    // The same pair beside a page that keeps the tables alive (no table freed or made).
    t.map(0x4000_1000, PA, 0x1000, Prot::RW).expect("neighbour");
    g.bench_function("map_unmap_4k_pair_tables_kept", |b| {
        b.iter(|| {
            t.map(black_box(0x4000_0000), PA, 0x1000, Prot::RW)
                .expect("map");
            t.unmap(black_box(0x4000_0000), 0x1000).expect("unmap");
        })
    });
    t.unmap(0x4000_1000, 0x1000).expect("neighbour");

    // 256 contiguous 4 KiB pages in one call, eight calls per sample at different places;
    // reported per page.
    const RUNS: u64 = 8;
    const RUN: u64 = 256 * 0x1000;
    let run_iova = |k: u64| 0x4000_0000 + k * (4 << 20);
    g.bench_function("map_256x4k_per_page", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for k in 0..RUNS {
                    t.map(black_box(run_iova(k)), PA, RUN, Prot::RW)
                        .expect("map");
                }
                total += start.elapsed();
                for k in 0..RUNS {
                    t.unmap(run_iova(k), RUN).expect("unmap");
                }
            }
            total / (256 * RUNS as u32)
        })
    });
    g.bench_function("unmap_256x4k_per_page", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for k in 0..RUNS {
                    t.map(run_iova(k), PA, RUN, Prot::RW).expect("map");
                }
                let start = Instant::now();
                for k in 0..RUNS {
                    t.unmap(black_box(run_iova(k)), RUN).expect("unmap");
                }
                total += start.elapsed();
            }
            total / (256 * RUNS as u32)
        })
    });

    // One 2 MiB block per call, 64 calls per sample at different places; reported per block.
    const BLOCKS: u64 = 64;
    g.bench_function("map_2m_block", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for k in 0..BLOCKS {
                    t.map(
                        black_box(0x4000_0000 + (k << 21)),
                        PA + (k << 21),
                        2 << 20,
                        Prot::RW,
                    )
                    .expect("map");
                }
                total += start.elapsed();
                t.unmap(0x4000_0000, BLOCKS << 21).expect("unmap");
            }
            total / BLOCKS as u32
        })
    });
    // 64 contiguous 2 MiB blocks unmapped in one call, the emptied tables taken out; reported
    // per block.
    g.bench_function("unmap_64x2m_per_block", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                t.map(0x4000_0000, PA, BLOCKS << 21, Prot::RW).expect("map");
                let start = Instant::now();
                t.unmap(black_box(0x4000_0000), BLOCKS << 21)
                    .expect("unmap");
                total += start.elapsed();
                t.release_freed();
            }
            total / BLOCKS as u32
        })
    });
    drop(t);

    // Random look-ups over 1 GiB of 4 KiB mappings.
    let mut t = table(fmt);
    for i in 0..512u64 {
        // 2 MiB at a time, at an odd PA offset so that no block can be used.
        t.map(i << 21, PA + (i << 21) + 0x1000, 2 << 20, Prot::RW)
            .expect("map");
    }
    let stats = t.stats();
    assert_eq!(stats.pages.last().map(|p| p.1), Some(262_144));
    let addrs = addresses(1 << 16, 1 << 30);
    let mut k = 0usize;
    g.bench_function("iova_to_phys_random_1g", |b| {
        b.iter(|| {
            k = (k + 1) & 0xffff;
            black_box(t.iova_to_phys(black_box(addrs[k])))
        })
    });
    let levels = t.format().geometry().depth();
    let root = t.root();
    let mem = t.mem().clone();
    g.bench_function("baseline_raw_walk_random_1g", |b| {
        b.iter(|| {
            k = (k + 1) & 0xffff;
            black_box(raw_walk(&mem, root, levels, black_box(addrs[k])))
        })
    });
    g.finish();
}

/// A walk of a 9-bits-per-level table with raw loads, present bit 0, leaf bit 7 (x86 style):
/// the cost floor of a look-up on this machine.
fn raw_walk(mem: &RamArena, root: u64, levels: usize, iova: u64) -> Option<u64> {
    let words = mem.words(mem.base(), (mem.size() / 8) as usize).ok()?;
    let mut table = root;
    for l in (0..levels).rev() {
        let shift = 12 + 9 * l as u64;
        let idx = (iova >> shift) & 511;
        let pte = words[((table - mem.base()) / 8 + idx) as usize]
            .load(std::sync::atomic::Ordering::Relaxed);
        if pte & 3 == 0 {
            return None;
        }
        let addr = pte & 0x000f_ffff_ffff_f000;
        if l == 0 || pte & 0x80 != 0 {
            return Some((addr & !((1 << shift) - 1)) | (iova & ((1 << shift) - 1)));
        }
        table = addr;
    }
    None
}

/// Two threads mapping and unmapping single pages in disjoint ranges of one table, behind the
/// lock a domain keeps its table under (`parking_lot::RwLock`, written for map and unmap),
/// against one thread doing the same pairs alone; reported per map + unmap pair.
fn bench_two_mappers(c: &mut Criterion) {
    const PAIRS: u64 = 4096;
    let mut g = c.benchmark_group("vtd-ss-4level");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    let t = parking_lot::RwLock::new(table(VtdSs::new(VtdSsConfig::default()).expect("format")));
    // Each thread works under its own 2 MiB region, with a page there that keeps the tables.
    let region = |thread: u64| 0x4000_0000 + (thread << 21);
    for thread in 0..2 {
        t.write()
            .map(region(thread) + 0x1000, PA, 0x1000, Prot::RW)
            .expect("neighbour");
    }
    let pairs = |thread: u64, n: u64| {
        for _ in 0..n {
            t.write()
                .map(black_box(region(thread)), PA, 0x1000, Prot::RW)
                .expect("map");
            t.write()
                .unmap(black_box(region(thread)), 0x1000)
                .expect("unmap");
        }
    };
    g.bench_function("map_unmap_4k_pair_one_thread_locked", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                pairs(0, PAIRS);
            }
            start.elapsed() / PAIRS as u32
        })
    });
    g.bench_function("map_unmap_4k_pair_two_threads_locked", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for thread in 0..2 {
                    s.spawn(move || {
                        for _ in 0..iters {
                            pairs(thread, PAIRS / 2);
                        }
                    });
                }
            });
            start.elapsed() / PAIRS as u32
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_format(
        c,
        "arm-s1-4k",
        ArmS1::new(ArmS1Config::default()).expect("format"),
    );
    bench_format(
        c,
        "vtd-ss-4level",
        VtdSs::new(VtdSsConfig::default()).expect("format"),
    );
}

criterion_group!(pgtable, benches, bench_two_mappers);
criterion_main!(pgtable);

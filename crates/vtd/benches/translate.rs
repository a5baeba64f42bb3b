//! VT-d translation speed: an IOTLB hit, a miss with a 4-level second-stage walk (tables in
//! the CPU's caches, structure caches warm), a miss with a nested walk, one page-selective
//! invalidation, and hit throughput on two threads against one.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use softiommu_mem::{PageAlloc, RamArena};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::{Access, PageTable, Prot};
use softiommu_vtd::model::{IotlbScope, ModelCaps, Request, TranslationUnit};
use softiommu_vtd::regs::VtdParams;
use softiommu_vtd::structs::{
    ContextEntry, ContextQw0, ContextQw1, PasidDirEntry, PasidEntry, PasidQw0, PasidQw1, PasidQw2,
    Pgtt, ScalableRootEntry, root_entry_address,
};

const MEM: u64 = 1 << 30;
const SID: u16 = 0x0100;
/// Pages the miss benchmarks cycle through: far more than the IOTLB holds.
const PAGES: u64 = 1 << 16;

fn caps() -> ModelCaps {
    ModelCaps::from_params(&VtdParams::default()).expect("the default parameters are valid")
}

struct Rig {
    unit: TranslationUnit<Arc<RamArena>>,
    _tables: Vec<Box<dyn std::any::Any>>,
}

/// A unit whose RID_PASID entry is second-stage over 256 MiB of 4 KiB pages, and whose PASID
/// 1 entry is nested: a first-stage table over the same second stage (GPA = HPA).
fn rig() -> Rig {
    let mem = Arc::new(RamArena::new(0, MEM).expect("arena"));
    let _ = mem.advise_huge_pages();
    let alloc = Arc::new(PageAlloc::new(mem.clone(), 512 << 20, 512 << 20).expect("alloc"));
    let unit = TranslationUnit::new(caps(), mem.clone()).expect("unit");
    let page = || alloc.alloc(4096).expect("page");
    let (root, ctx, dir, table) = (page(), page(), page(), page());
    ScalableRootEntry::new(Some(ctx), None)
        .write(&*mem, root_entry_address(root, (SID >> 8) as u8))
        .expect("root");
    ContextEntry {
        qw0: ContextQw0::new()
            .with_p(true)
            .with_dte(true)
            .with_paside(true)
            .with_pasiddirptr(dir >> 12),
        qw1: ContextQw1::new(),
        qw2: 0,
        qw3: 0,
    }
    .write(&*mem, ctx + u64::from(SID as u8 & 0x7f) * 32)
    .expect("context");
    PasidDirEntry::new()
        .with_p(true)
        .with_smptblptr(table >> 12)
        .write(&*mem, dir)
        .expect("dir");
    let mut ss = PageTable::new(
        VtdSs::new(VtdSsConfig::default()).expect("ss"),
        alloc.clone(),
    )
    .expect("ss table");
    // Guest RAM identity-mapped in 4 KiB pages (no blocks: pa offset by one page).
    ss.map(0, 0x1000, 256 << 20, Prot::RW).expect("data");
    // The table pages themselves, for the nested walk.
    ss.map(512 << 20, 512 << 20, 512 << 20, Prot::RW)
        .expect("tables");
    let mut fs = PageTable::new(X86::new(X86Config::default()).expect("fs"), alloc.clone())
        .expect("fs table");
    fs.map(0, 0, 256 << 20, Prot::RW).expect("fs data");
    PasidEntry::second_stage(ss.root(), 2, 1)
        .write(&*mem, table)
        .expect("pasid 0");
    PasidEntry {
        qw0: PasidQw0::new()
            .with_p(true)
            .with_aw(2)
            .with_pgtt(Pgtt::Nested)
            .with_ssptptr(ss.root() >> 12),
        qw1: PasidQw1::new().with_did(2),
        qw2: PasidQw2::new().with_fsptptr(fs.root() >> 12),
        ..PasidEntry::default()
    }
    .write(&*mem, table + 64)
    .expect("pasid 1");
    unit.set_root_table(root);
    unit.enable(true);
    Rig {
        unit,
        _tables: vec![Box::new(ss), Box::new(fs), Box::new(alloc)],
    }
}

fn req(pasid: Option<u32>, addr: u64) -> Request {
    Request {
        sid: SID,
        pasid,
        addr,
        access: Access::READ,
    }
}

fn benches(c: &mut Criterion) {
    let r = rig();
    let mut g = c.benchmark_group("vtd");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));

    g.bench_function("iotlb_hit", |b| {
        b.iter(|| black_box(r.unit.translate(black_box(req(None, 0x4_2345)))))
    });

    let mut k = 0u64;
    g.bench_function("miss_second_stage_4level", |b| {
        b.iter(|| {
            k = (k + 1) % PAGES;
            black_box(r.unit.translate(black_box(req(None, k << 12))))
        })
    });
    g.bench_function("miss_nested_4x4", |b| {
        b.iter(|| {
            k = (k + 1) % PAGES;
            black_box(r.unit.translate(black_box(req(Some(1), k << 12))))
        })
    });
    g.bench_function("page_selective_invalidation", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let a = (i % 512) << 12;
                let _ = r.unit.translate(req(None, a));
                let start = Instant::now();
                psi(&r, a);
                total += start.elapsed();
            }
            total
        })
    });

    // Hit throughput: the same work on one thread and on two; criterion reports the time per
    // translation of each (the two-thread figure is wall time per translation per thread).
    const N: u64 = 1 << 20;
    let hits = |u: &TranslationUnit<Arc<RamArena>>| {
        for i in 0..N {
            black_box(u.translate(req(None, (i & 63) << 12)).is_ok());
        }
    };
    g.bench_function("hit_throughput_1_thread", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                hits(&r.unit);
            }
            start.elapsed() / N as u32
        })
    });
    g.bench_function("hit_throughput_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..iters {
                            hits(&r.unit);
                        }
                    });
                }
            });
            // Wall time per translation of the pair: half the one-thread figure means 2x.
            start.elapsed() / (2 * N) as u32
        })
    });
    g.finish();
}

/// One operation of a scenario, `n` times, in a function of its own so that
/// `valgrind --tool=callgrind --toggle-collect='*counted*'` counts exactly its instructions.
#[inline(never)]
fn counted(r: &Rig, scenario: &str, n: u64) {
    let mut k = 0u64;
    match scenario {
        "hit" => {
            for _ in 0..n {
                let _ = black_box(r.unit.translate(black_box(req(None, 0x4_2345))));
            }
        }
        "miss" => {
            for _ in 0..n {
                k = (k + 1) % PAGES;
                let _ = black_box(r.unit.translate(black_box(req(None, k << 12))));
            }
        }
        "nested" => {
            for _ in 0..n {
                k = (k + 1) % PAGES;
                let _ = black_box(r.unit.translate(black_box(req(Some(1), k << 12))));
            }
        }
        "psi" => {
            for i in 0..n {
                let a = (i % 512) << 12;
                let _ = r.unit.translate(req(None, a));
                psi(r, a);
            }
        }
        _ => {}
    }
}

/// One page-selective invalidation of the page at `a` in domain 1.
#[inline(always)]
fn psi(r: &Rig, a: u64) {
    r.unit
        .caches()
        .invalidate_iotlb(black_box(IotlbScope::Pages {
            did: 1,
            addr: a,
            size: 0x1000,
        }));
}

/// `VTD_BENCH_COUNT=SCENARIO:N` (hit, miss, nested, psi: a miss that fills a page, then its
/// invalidation) runs one scenario N times after a warm-up of N, for instruction counts. `VTD_BENCH_TIME=SCENARIO:N:BATCHES` times BATCHES
/// batches of N and prints the fastest and the median batch per operation: on a machine
/// whose neighbours come and go, the fastest batch is the figure least disturbed. Otherwise
/// the criterion benchmarks run.
fn main() {
    if let Ok(spec) = std::env::var("VTD_BENCH_COUNT") {
        let (scenario, n) = spec.split_once(':').unwrap_or((spec.as_str(), "10000"));
        let n = n.parse().unwrap_or(10_000);
        let r = rig();
        // Warm the structure caches and the IOTLB (the hit page, and the miss pages' walks).
        warm_up(&r, scenario, n);
        counted(&r, scenario, n);
        return;
    }
    if let Ok(spec) = std::env::var("VTD_BENCH_TIME") {
        let mut parts = spec.split(':');
        let scenario = parts.next().unwrap_or("hit");
        let n: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(20_000);
        let batches: usize = parts
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(50)
            .max(1);
        let r = rig();
        warm_up(&r, scenario, n);
        let mut per_op: Vec<f64> = (0..batches)
            .map(|_| {
                let start = Instant::now();
                counted(&r, scenario, n);
                start.elapsed().as_secs_f64() * 1e9 / n as f64
            })
            .collect();
        per_op.sort_by(f64::total_cmp);
        println!(
            "{scenario}: fastest {:.2} ns, median {:.2} ns per operation ({batches} batches of {n})",
            per_op[0],
            per_op[batches / 2]
        );
        return;
    }
    benches(&mut Criterion::default().configure_from_args());
    Criterion::default().configure_from_args().final_summary();
}

/// The warm-up of [`counted`], outside its count.
#[inline(never)]
fn warm_up(r: &Rig, scenario: &str, n: u64) {
    let mut k = PAGES / 2;
    for _ in 0..n {
        k = (k + 1) % PAGES;
        let pasid = (scenario == "nested").then_some(1);
        black_box(r.unit.translate(req(pasid, k << 12)).is_ok());
    }
    black_box(r.unit.translate(req(None, 0x4_2345)).is_ok());
}

//! SMMUv3 translation speed: a TLB hit, a miss with a 4-level stage-1 walk (4 KiB granule,
//! tables in the CPU's caches, configuration caches warm), a miss with a nested walk (4-level
//! stage 1 over 3-level stage 2), one page invalidation, hit throughput on two threads against
//! one, and a baseline measured in the same run: a hand-written 4-level walk of the same
//! stage-1 table with raw loads.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
use softiommu_pgtable::{Access, PageTable, Prot};
use softiommu_smmuv3::cd::Cd;
use softiommu_smmuv3::model::{InvalidationScope, ModelCaps, Request, TlbiRange, TranslationUnit};
use softiommu_smmuv3::ste::{Ste, SteConfig, StreamTable};

const MEM: u64 = 1 << 30;
/// Pages the miss benchmarks cycle through: far more than the TLB holds.
const PAGES: u64 = 1 << 16;
const S1_SID: u32 = 1;
const NESTED_SID: u32 = 2;

type Mem = Arc<RamArena>;

struct Rig {
    unit: TranslationUnit<Mem>,
    mem: Mem,
    s1_root: u64,
    _tables: Vec<Box<dyn std::any::Any>>,
}

/// Stream 1: stage 1 over 256 MiB of 4 KiB pages (PA = VA + 4 KiB). Stream 2: nested, the
/// same layout at stage 1 (IPA = VA + 4 KiB), stage 2 over 4 KiB pages (PA = IPA + 4 KiB)
/// and the table memory mapped IPA = PA.
fn rig() -> Rig {
    let mem = Arc::new(RamArena::new(0, MEM).expect("arena"));
    let _ = mem.advise_huge_pages();
    let alloc = Arc::new(PageAlloc::new(mem.clone(), 512 << 20, 512 << 20).expect("alloc"));
    let unit = TranslationUnit::new(ModelCaps::default(), mem.clone()).expect("unit");
    let page = || alloc.alloc(4096).expect("page");
    let strtab = page();
    unit.set_stream_table(StreamTable::linear(strtab, 6));
    let s1_table = || {
        let f = ArmS1::new(ArmS1Config::default()).expect("s1");
        let mut t = PageTable::new(f, alloc.clone()).expect("s1 table");
        t.map(0, 0x1000, 256 << 20, Prot::RW).expect("s1 map");
        t
    };
    let s1 = s1_table();
    let at = page();
    Cd::for_table(s1.format(), s1.root(), 1)
        .write(&*mem, at)
        .expect("cd");
    Ste::with_config(SteConfig::S1Translate)
        .with_s1_context_ptr(at)
        .write(&*mem, strtab + u64::from(S1_SID) * 64)
        .expect("ste");
    let nested_s1 = s1_table();
    let f2 = ArmS2::new(ArmS2Config::auto(Granule::K4, 40, 48).expect("s2 cfg")).expect("s2");
    let mut s2 = PageTable::new(f2, alloc.clone()).expect("s2 table");
    s2.map(0, 0x1000, 257 << 20, Prot::RW).expect("s2 data");
    s2.map(512 << 20, 512 << 20, 512 << 20, Prot::RW)
        .expect("s2 tables");
    let at = page();
    Cd::for_table(nested_s1.format(), nested_s1.root(), 2)
        .write(&*mem, at)
        .expect("cd");
    let ste = Ste::with_config(SteConfig::Nested)
        .with_s1_context_ptr(at)
        .with_s2_table(s2.format(), s2.root(), 2);
    ste.write(&*mem, strtab + u64::from(NESTED_SID) * 64)
        .expect("nested ste");
    unit.enable(true);
    Rig {
        unit,
        mem,
        s1_root: s1.root(),
        _tables: vec![
            Box::new(s1),
            Box::new(nested_s1),
            Box::new(s2),
            Box::new(alloc),
        ],
    }
}

fn req(sid: u32, addr: u64) -> Request {
    Request::new(sid, None, addr, Access::READ)
}

/// A 4-level, 4 KiB-granule Arm walk with raw loads: valid bit 0, table/page type 11, block
/// 01, output bits 47:12. The cost floor of a stage-1 miss on this machine.
fn raw_walk(mem: &RamArena, root: u64, va: u64) -> Option<u64> {
    let words = mem.words(0, (MEM / 8) as usize).ok()?;
    let mut table = root;
    for level in 0..4u64 {
        let shift = 39 - 9 * level;
        let index = (va >> shift) & 511;
        let pte = words
            .get((table / 8 + index) as usize)?
            .load(Ordering::Acquire);
        if pte & 1 == 0 {
            return None;
        }
        let addr = pte & 0x0000_ffff_ffff_f000;
        if level == 3 || pte & 2 == 0 {
            let span = (1u64 << shift) - 1;
            return Some((addr & !span) | (va & span));
        }
        table = addr;
    }
    None
}

fn benches(c: &mut Criterion) {
    let r = rig();
    // Warm the configuration caches.
    assert!(r.unit.translate(req(S1_SID, 0)).is_ok());
    assert_eq!(
        r.unit.translate(req(NESTED_SID, 0x5000)).map(|t| t.pa),
        Ok(0x7000)
    );
    let mut g = c.benchmark_group("smmuv3");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));

    g.bench_function("tlb_hit", |b| {
        b.iter(|| black_box(r.unit.translate(black_box(req(S1_SID, 0x4_2345)))))
    });

    let mut k = 0u64;
    g.bench_function("miss_stage1_4k_4level", |b| {
        b.iter(|| {
            k = (k + 1) % PAGES;
            black_box(r.unit.translate(black_box(req(S1_SID, k << 12))))
        })
    });
    g.bench_function("baseline_raw_walk_4level", |b| {
        b.iter(|| {
            k = (k + 1) % PAGES;
            black_box(raw_walk(&r.mem, r.s1_root, black_box(k << 12)))
        })
    });
    g.bench_function("miss_nested_4level_over_3level", |b| {
        b.iter(|| {
            k = (k + 1) % PAGES;
            black_box(r.unit.translate(black_box(req(NESTED_SID, k << 12))))
        })
    });
    g.bench_function("tlbi_nh_va_one_page", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let a = (i % 512) << 12;
                let _ = r.unit.translate(req(S1_SID, a));
                let start = Instant::now();
                r.unit.invalidate(black_box(InvalidationScope::NhVa {
                    vmid: 0,
                    asid: 1,
                    range: TlbiRange::page(a),
                    leaf: true,
                }));
                total += start.elapsed();
            }
            total
        })
    });

    // Hit throughput: the same work on one thread and on two; criterion reports the time per
    // translation of each (the two-thread figure is wall time per translation of the pair).
    const N: u64 = 1 << 20;
    let hits = |u: &TranslationUnit<Mem>| {
        for i in 0..N {
            black_box(u.translate(req(S1_SID, (i & 63) << 12)).is_ok());
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
            // Half the one-thread figure means twice the throughput.
            start.elapsed() / (2 * N) as u32
        })
    });
    g.finish();
}

criterion_group!(smmuv3, benches);
criterion_main!(smmuv3);

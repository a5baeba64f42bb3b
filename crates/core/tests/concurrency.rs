#![allow(clippy::unwrap_used)]
//! DMA lookups racing the core's map, unmap, sync and replace.
//!
//! Two threads translate DMA requests of two devices through [`Iommu::dma`] while a third
//! maps and unmaps pages (each flushed with [`Domain::sync`]) in two paging domains and
//! swaps the devices' RIDs between them with [`Iommu::replace`].
//!
//! The property: a lookup that starts after the sync of an unmap has returned never gets the
//! removed translation. Every mapping has an output page of its own, which names its
//! generation and slot; once the unmap of generation `g` is synced, the mutator records the
//! epoch `E` at which it was removed and then publishes `E`. A lookup reads the epoch before
//! it starts: if it then translates to `g` and `g` was removed at an epoch at or before the
//! one it read, it saw a translation that its IOMMU should have forgotten.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use softiommu_core::reference::{RefConfig, RefIommu};
use softiommu_core::{
    DeviceCaps, DeviceDesc, DeviceId, DmaFaultKind, Domain, Gather, Iommu, Mem, PagingRequest, Rid,
    TableAlloc, Topology,
};
use softiommu_mem::{PageAlloc, RamArena};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::{Access, Prot};

const PAGE: u64 = 4096;
const ARENA: u64 = 32 << 20;
/// How long each run races.
const RUN: Duration = Duration::from_millis(900);
/// Input pages the mutator maps and unmaps, each in a 2 MiB region of its own so that
/// unmapping in a hardware format takes a leaf table out.
const SLOTS: u64 = 8;
const IOVA_BASE: u64 = 0x1000_0000;
const SLOT_STRIDE: u64 = 2 << 20;
/// Output pages: generation `g` of slot `s` maps to `PA_BASE + (g * SLOTS + s) * PAGE`.
const PA_BASE: u64 = 0x1_0000_0000;
/// Generations the record has room for.
const GENS: usize = 1 << 20;
/// Mutations between two swaps of the devices' domain.
const SWAP_EVERY: u64 = 48;

fn iova_of(slot: u64) -> u64 {
    IOVA_BASE + slot * SLOT_STRIDE
}

fn pa_of(generation: u64, slot: u64) -> u64 {
    PA_BASE + (generation * SLOTS + slot) * PAGE
}

/// What the mutator publishes.
struct Shared {
    /// Bumped after each synced unmap.
    epoch: AtomicU64,
    /// For each generation, the epoch at which its unmap had been synced (0: still mapped or
    /// never mapped).
    removed: Vec<AtomicU64>,
    /// Generations handed out so far.
    generations: AtomicU64,
    stop: AtomicBool,
}

#[derive(Default, Debug)]
struct Seen {
    lookups: u64,
    translated: u64,
    stale: u64,
    bad: u64,
    first_problem: Option<String>,
}

impl Seen {
    fn problem(&mut self, what: String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(what);
        }
    }
}

fn lookups(iommu: &Iommu, devs: &[DeviceId], sh: &Shared, seed: u64) -> Seen {
    let mut seen = Seen::default();
    let mut i = seed;
    while !sh.stop.load(Ordering::Relaxed) {
        i = i.wrapping_add(1);
        let dev = devs[(i % devs.len() as u64) as usize];
        let slot = (i / devs.len() as u64) % SLOTS;
        let off = (i.wrapping_mul(0x9e37_79b9) >> 7) & (PAGE - 8);
        let iova = iova_of(slot) + off;
        let epoch = sh.epoch.load(Ordering::Acquire);
        let r = iommu.dma(dev, None, iova, Access::READ);
        seen.lookups += 1;
        match r {
            Ok(t) => {
                seen.translated += 1;
                let page = t.pa.wrapping_sub(PA_BASE) / PAGE;
                let (generation, s) = (page / SLOTS, page % SLOTS);
                let made = sh.generations.load(Ordering::Acquire);
                if t.pa < PA_BASE || s != slot || generation >= made || t.pa % PAGE != off {
                    seen.bad += 1;
                    seen.problem(format!("{iova:#x} translated to a wrong {:#x}", t.pa));
                    continue;
                }
                if t.len != PAGE - off {
                    seen.bad += 1;
                    seen.problem(format!("{iova:#x}: length {:#x}", t.len));
                }
                let gone = sh.removed[generation as usize].load(Ordering::Acquire);
                if gone != 0 && gone <= epoch {
                    seen.stale += 1;
                    seen.problem(format!(
                        "{iova:#x} -> {:#x} (generation {generation}), removed and synced at \
                         epoch {gone}, by a lookup that started at epoch {epoch}",
                        t.pa
                    ));
                }
            }
            Err(f) if f.kind == DmaFaultKind::NotPresent && !f.recoverable => {}
            Err(f) => {
                seen.bad += 1;
                seen.problem(format!("{iova:#x}: unexpected fault {f:?}"));
            }
        }
    }
    seen
}

#[derive(Default, Debug)]
struct Done {
    maps: u64,
    unmaps: u64,
    swaps: u64,
}

/// Small xorshift: the test needs no more.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn mutator(iommu: &Iommu, devs: &[DeviceId], doms: &[Arc<Domain>; 2], sh: &Shared) -> Done {
    let mut done = Done::default();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    // The generation mapped at each slot of each domain.
    let mut mapped = [[None::<u64>; SLOTS as usize]; 2];
    let mut cur = 0;
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < RUN {
        i += 1;
        if i.is_multiple_of(SWAP_EVERY) {
            cur ^= 1;
            for &d in devs {
                iommu.replace(d, &doms[cur]).unwrap();
            }
            done.swaps += 1;
        }
        let r = next(&mut rng);
        // Mostly the domain the devices use; sometimes the other one, behind their back.
        let dom = if r.is_multiple_of(4) { cur ^ 1 } else { cur };
        let slot = (r >> 8) % SLOTS;
        let iova = iova_of(slot);
        let mut g = Gather::new();
        match mapped[dom][slot as usize].take() {
            Some(generation) => {
                assert_eq!(doms[dom].unmap(iova, PAGE, &mut g).unwrap(), PAGE);
                doms[dom].sync(&mut g);
                // The unmap is synced: from now on no lookup may see it.
                let e = sh.epoch.load(Ordering::Relaxed) + 1;
                sh.removed[generation as usize].store(e, Ordering::Release);
                sh.epoch.store(e, Ordering::Release);
                done.unmaps += 1;
            }
            None => {
                let generation = sh.generations.load(Ordering::Relaxed);
                if generation as usize >= GENS {
                    break;
                }
                sh.generations.store(generation + 1, Ordering::Release);
                let pa = pa_of(generation, slot);
                doms[dom].map(iova, pa, PAGE, Prot::RW, &mut g).unwrap();
                doms[dom].sync(&mut g);
                mapped[dom][slot as usize] = Some(generation);
                done.maps += 1;
            }
        }
    }
    done
}

fn race(format: Option<AnyFormat>) {
    let mem: Mem = Arc::new(RamArena::new(0, ARENA).unwrap());
    let tables: TableAlloc = Arc::new(PageAlloc::new(mem.clone(), 0, ARENA).unwrap());
    let iommu = Iommu::new(mem.clone(), tables);
    let cfg = RefConfig {
        format,
        ..RefConfig::default()
    };
    let drv = RefIommu::new(cfg, mem).unwrap();
    let inst = iommu.add_instance(drv.clone());
    let topo = Topology {
        bridges: Vec::new(),
        devices: (0..2)
            .map(|i| DeviceDesc {
                rid: Rid::new(0, 2, i, 0),
                instance: inst,
                caps: DeviceCaps {
                    pasid_bits: 20,
                    ats: false,
                    pri: false,
                },
                bridge: None,
                alias: None,
            })
            .collect(),
    };
    let devs = iommu.add_devices(&topo).unwrap();
    let doms = [0, 1].map(|_| iommu.new_paging(devs[0], PagingRequest::default()).unwrap());
    for &d in &devs {
        iommu.attach(d, &doms[0]).unwrap();
    }
    let sh = Shared {
        epoch: AtomicU64::new(0),
        removed: (0..GENS).map(|_| AtomicU64::new(0)).collect(),
        generations: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    };
    let (done, seen) = thread::scope(|s| {
        let readers: Vec<_> = [1u64, 1 << 40]
            .into_iter()
            .map(|seed| {
                let (iommu, devs, sh) = (&iommu, &devs, &sh);
                s.spawn(move || lookups(iommu, devs, sh, seed))
            })
            .collect();
        let writer = s.spawn(|| {
            let d = mutator(&iommu, &devs, &doms, &sh);
            sh.stop.store(true, Ordering::Relaxed);
            d
        });
        let done = writer.join();
        sh.stop.store(true, Ordering::Relaxed);
        let seen: Vec<_> = readers.into_iter().map(|h| h.join()).collect();
        (done, seen)
    });
    let done = done.expect("the mutator panicked");
    let seen: Vec<Seen> = seen
        .into_iter()
        .map(|r| r.expect("a lookup thread panicked"))
        .collect();
    let stats = drv.stats();
    eprintln!("mutator: {done:?}\ndriver: {stats:?}");
    // The TLB must have been in play, or the property says nothing about it.
    assert!(
        stats.tlb_hits >= 100 && stats.walks >= 100,
        "the TLB was hardly used: {stats:?}"
    );
    for s in &seen {
        eprintln!("lookups: {s:?}");
        assert_eq!(s.stale, 0, "stale translations: {:?}", s.first_problem);
        assert_eq!(s.bad, 0, "wrong answers: {:?}", s.first_problem);
        assert!(s.lookups >= 1000, "too few lookups: {s:?}");
        // Each slot is mapped about half of the time in the domain the devices use.
        assert!(
            s.translated * 5 >= s.lookups,
            "too few valid translations: {s:?}"
        );
    }
    assert!(
        done.unmaps >= 200 && done.swaps >= 4,
        "the mutator did too little: {done:?}"
    );
}

#[test]
fn lookups_never_see_a_synced_unmap_private_format() {
    race(None);
}

#[test]
fn lookups_never_see_a_synced_unmap_vtd_second_stage() {
    let vtd = VtdSs::new(VtdSsConfig::default()).unwrap();
    race(Some(AnyFormat::VtdSs(vtd)));
}

//! Hardware walks racing with software: two threads run `walk::translate` on the table's root
//! in a loop while the main thread maps and unmaps single pages, runs of pages and blocks, and
//! unmaps parts of blocks (which splits them). Every mapping sends `iova` to `iova + OFFSET`, so
//! a walk that succeeds must give exactly that, whatever state of the table it saw; a walk that
//! does not succeed must find nothing (a translation fault). No thread may panic.
//!
//! The table's memory is shared with the walkers through an `Arc<RamArena>`; the `PageTable`
//! stays on the main thread.

// Tests unwrap freely (the workspace's `unwrap_used` lint is for library code).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::fixture::*;
use softiommu_mem::RamArena;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::vtd_ss::VtdSsConfig;
use softiommu_pgtable::formats::x86::X86Config;
use softiommu_pgtable::{Access, FaultKind, Format, PgError, Prot, Pte, walk};

/// Every mapping's output address is its input address plus this.
const OFFSET: u64 = 1 << 40;

/// The main thread makes at least this many operations per format, and goes on until the
/// walkers have seen a page, a block and a fault each at least once (on a loaded machine the
/// walkers may get little time)...
const MIN_OPS: usize = 2_000;
/// ...but never for longer than this, when the walkers never ran at all.
const MAX_TIME: Duration = Duration::from_secs(120);

/// Kinds of result in [`Seen`], as bits of the walkers' shared record.
const SAW_PAGE: u8 = 1;
const SAW_BLOCK: u8 = 2;
const SAW_FAULT: u8 = 4;
const SAW_ALL: u8 = SAW_PAGE | SAW_BLOCK | SAW_FAULT;

/// A small xorshift generator: the same sequence every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a walker saw.
#[derive(Debug, Default)]
struct Seen {
    translated: u64,
    blocks: u64,
    faults: u64,
}

/// What the main thread and the walkers share: when to stop, and the kinds of result seen.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    saw: AtomicU8,
}

/// Walks random addresses of `[base, base + span)` until `stop`, checking every result.
fn walker<F: Format>(
    fmt: F,
    mem: Arc<RamArena>,
    root: u64,
    base: u64,
    span: u64,
    seed: u64,
    shared: Arc<Shared>,
) -> Seen {
    let Shared { stop, saw } = &*shared;
    let mut rng = Rng(seed);
    let mut seen = Seen::default();
    let mut mine = 0u8;
    let mut note = |kind: u8| {
        if mine & kind == 0 {
            mine |= kind;
            saw.fetch_or(kind, Ordering::Relaxed);
        }
    };
    let sizes: Vec<u64> = fmt.geometry().page_sizes().collect();
    while !stop.load(Ordering::Relaxed) {
        let iova = base + (rng.below(span) & !7);
        let access = if rng.next() & 1 == 0 {
            Access::READ
        } else {
            Access::WRITE
        };
        match walk::translate(&fmt, &*mem, root, iova, access) {
            Ok(tr) => {
                assert_eq!(
                    tr.pa,
                    iova + OFFSET,
                    "{}: {iova:#x} translated to {:#x} ({tr:?})",
                    fmt.name(),
                    tr.pa
                );
                assert!(sizes.contains(&tr.page_size), "{tr:?}");
                seen.translated += 1;
                note(SAW_PAGE);
                if tr.page_size > sizes[sizes.len() - 1] {
                    seen.blocks += 1;
                    note(SAW_BLOCK);
                }
            }
            Err(f) => {
                assert_eq!(
                    f.kind,
                    FaultKind::Translation,
                    "{}: {iova:#x}: {f:?}",
                    fmt.name()
                );
                seen.faults += 1;
                note(SAW_FAULT);
            }
        }
    }
    seen
}

/// Accepts what a map or unmap may refuse because of what is there already.
fn refused_as_expected(e: PgError) {
    assert!(
        matches!(e, PgError::AlreadyMapped { .. } | PgError::NotMapped { .. }),
        "{e}"
    );
}

/// Runs the race for `fmt` over four blocks' worth of input addresses.
fn race<F: Format>(fmt: F) {
    let geo = *fmt.geometry();
    let g = geo.granule();
    let block = geo
        .page_sizes()
        .filter(|&s| s > g)
        .min()
        .expect("a block size");
    let base = 4 * block;
    let span = 4 * block;

    let mem = Arc::new(RamArena::new(0, ARENA).unwrap());
    let mut t = table_in(fmt.clone(), mem.clone());
    let shared = Arc::new(Shared::default());
    let walkers: Vec<_> = (0..2u64)
        .map(|k| {
            let (fmt, mem, shared) = (fmt.clone(), mem.clone(), shared.clone());
            let root = t.root();
            thread::spawn(move || walker(fmt, mem, root, base, span, 0x9e37_79b9 + k, shared))
        })
        .collect();

    let mut rng = Rng(0x1234_5678_9abc_def1);
    let page_at = |rng: &mut Rng| base + rng.below(span / g) * g;
    let block_at = |rng: &mut Rng| base + rng.below(4) * block;
    let start = Instant::now();
    let mut ops = 0;
    while ops < MIN_OPS
        || (shared.saw.load(Ordering::Relaxed) != SAW_ALL && start.elapsed() < MAX_TIME)
    {
        ops += 1;
        let result = match rng.below(8) {
            // One smallest page, mapped or unmapped: the single-page paths.
            0 | 1 => {
                let iova = page_at(&mut rng);
                t.map(iova, iova + OFFSET, g, Prot::RW)
            }
            2 => {
                let iova = page_at(&mut rng);
                t.unmap(iova, g).map(|_| ())
            }
            // A run of pages, clipped to the window.
            3 => {
                let iova = page_at(&mut rng);
                let len = ((1 + rng.below(64)) * g).min(base + span - iova);
                t.map(iova, iova + OFFSET, len, Prot::RW)
            }
            // A whole block, in place of whatever was there.
            4 | 5 => {
                let iova = block_at(&mut rng);
                if let Err(e) = t.unmap(iova, block) {
                    refused_as_expected(e);
                }
                t.map(iova, iova + OFFSET, block, Prot::RW)
            }
            // Part of the window: splits the blocks it cuts.
            6 => {
                let iova = page_at(&mut rng);
                let len = ((1 + rng.below(block / g)) * g).min(base + span - iova);
                t.unmap(iova, len).map(|_| ())
            }
            // A whole block's range.
            _ => {
                let iova = block_at(&mut rng);
                t.unmap(iova, block).map(|_| ())
            }
        };
        if let Err(e) = result {
            refused_as_expected(e);
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let mut total = Seen::default();
    for w in walkers {
        let seen = w.join().expect("a walker panicked");
        total.translated += seen.translated;
        total.blocks += seen.blocks;
        total.faults += seen.faults;
    }
    assert!(
        total.translated > 0 && total.blocks > 0 && total.faults > 0,
        "{}: walks saw both states: {total:?}",
        fmt.name()
    );
    // What is left is consistent too.
    for k in 0..64 {
        let iova = base + k * (span / 64) + g / 2;
        if let Some(pa) = t.iova_to_phys(iova) {
            assert_eq!(pa, iova + OFFSET);
        }
    }
}

#[test]
fn walks_racing_with_map_and_unmap_x86_see_only_real_mappings() {
    race(x86_with(X86Config {
        dirty_tracking: true,
        ..X86Config::default()
    }));
}

#[test]
fn walks_racing_with_map_and_unmap_vtd_see_only_real_mappings() {
    race(vtd_with(VtdSsConfig {
        ad: true,
        ..VtdSsConfig::default()
    }));
}

#[test]
fn walks_racing_with_map_and_unmap_arm_s1_see_only_real_mappings() {
    race(s1_hw(&s1(Granule::K4), true, true));
}

#[test]
fn walks_racing_with_map_and_unmap_arm_s2_see_only_real_mappings() {
    race(s2_hw(&s2_16k(), true, true));
}

/// The rest of a walk for `iova` that read the link to `table` (at `level`) before the table
/// was taken out: the output address it ends with, if any.
fn stale_walk<F: Format>(t: &Table<F>, table: u64, level: usize, iova: u64) -> Option<u64> {
    let levels = t.format().geometry().levels();
    let mut table = table;
    for (i, lv) in levels.iter().enumerate().skip(level) {
        let pte = load(t, table + lv.index(iova) as u64 * 8);
        match t.format().decode(pte, i) {
            Pte::Table { next, .. } => table = next,
            Pte::Leaf { pa, .. } => return Some(pa | (iova & (lv.span() - 1))),
            Pte::Invalid | Pte::Reserved => return None,
        }
    }
    None
}

/// Maps one page at `a`, keeps the tables of its walk as a stale walk would, unmaps it, and
/// churns at addresses `others` (same indices as `a` below the level where they differ) with
/// single pages and runs, then a block and its split. After every step, a walk that goes on
/// from any of the stale tables finds nothing or `a`'s own mapping.
fn stale_tables_hold_nothing_else<F: Format>(fmt: F, a: u64, others: &[u64]) {
    let name = fmt.name();
    let geo = *fmt.geometry();
    let g = geo.granule();
    let block = geo.page_sizes().filter(|&s| s > g).min().expect("a block");
    let mut t = table(fmt);
    t.map(a, a + OFFSET, g, Prot::RW).unwrap();
    let levels = geo.levels();
    let stale: Vec<(usize, u64)> = t
        .trace(a)
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, s)| (i, s.entry_pa - levels[i].index(a) as u64 * 8))
        .collect();
    assert_eq!(stale.len(), geo.depth() - 1);
    let check = |t: &Table<F>, what: &str| {
        for &(level, table) in &stale {
            if let Some(pa) = stale_walk(t, table, level, a) {
                assert_eq!(
                    pa,
                    a + OFFSET,
                    "{name}: stale level-{level} table after {what}"
                );
            }
        }
    };
    t.unmap(a, g).unwrap();
    check(&t, "unmap");
    for &b in others {
        t.map(b, b + OFFSET, g, Prot::RW).unwrap();
        check(&t, "map one");
        t.map(b + g, b + g + OFFSET, 4 * g, Prot::RW).unwrap();
        check(&t, "map run");
        t.unmap(b, g).unwrap();
        check(&t, "unmap one");
        t.unmap(b + g, 4 * g).unwrap();
        check(&t, "unmap run");
        let blk = b & !(block - 1);
        t.map(blk, blk + OFFSET, block, Prot::RW).unwrap();
        t.unmap(b, g).unwrap();
        check(&t, "split");
        t.unmap(blk, block).unwrap();
        check(&t, "unmap block");
    }
    // Mapped again, `a` is found through the stale tables too, or not at all.
    t.map(a, a + OFFSET, g, Prot::RW).unwrap();
    check(&t, "map again");
    assert_eq!(t.iova_to_phys(a), Some(a + OFFSET));
}

#[test]
fn a_walk_holding_a_table_taken_out_finds_nothing_or_its_own_mapping() {
    // Other addresses differ from `a` in the index of one level and share every index below,
    // so a table page of `a` reused for them would hold their entries at `a`'s index.
    let others = |a: u64, shift: u32, n: u64| (1..=n).map(|k| a ^ (k << shift)).collect::<Vec<_>>();
    let a = 0x2a5b_3c4d_5000;
    let mut o = others(a, 39, 8);
    o.extend(others(a, 30, 8));
    stale_tables_hold_nothing_else(x86(4), a, &o);
    stale_tables_hold_nothing_else(vtd(4), a, &o);
    stale_tables_hold_nothing_else(s1(Granule::K4), a, &o);
    let a = 0x2a5b_3c4d_4000;
    let mut o = others(a, 36, 8);
    o.extend(others(a, 25, 8));
    stale_tables_hold_nothing_else(s1(Granule::K16), a, &o);
    stale_tables_hold_nothing_else(s2_16k(), a, &o);
    let a = 0xab_3c4d_5000;
    let mut o = others(a, 30, 8);
    o.extend(others(a, 21, 8));
    stale_tables_hold_nothing_else(s2_4k(), a, &o);
}

//! Instruction counts of the page-table hot paths, for callgrind: each operation runs in a
//! function of its own (`measured_*`) that callgrind is told to count alone.
//!
//! ```sh
//! cargo bench -p softiommu-pgtable --bench instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*measured_*' \
//!     target/release/deps/instructions-* OP
//! ```
//!
//! with OP one of `arm-map-2m`, `vtd-map-2m`, `arm-unmap-64x2m`, `vtd-unmap-64x2m`,
//! `arm-iova-to-phys`, `vtd-iova-to-phys`, `arm-4k-pair`, `vtd-4k-pair`, `arm-4k-pair-kept`,
//! `vtd-4k-pair-kept` (a map and unmap of one page); the program prints how many operations the count
//! covers (divide callgrind's `Collected` by it).

use std::hint::black_box;
use std::sync::Arc;

use softiommu_mem::{PageAlloc, RamArena};
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::{Format, PageTable, Prot};

const BASE: u64 = 0x1_0000_0000;
const ARENA: u64 = 1 << 30;
const PA: u64 = 0x8000_0000;
const IOVA: u64 = 0x4000_0000;
/// Blocks per map or unmap round.
const BLOCKS: u64 = 64;
/// Rounds.
const ROUNDS: u64 = 100;

type Table<F> = PageTable<F, Arc<RamArena>>;

fn table<F: Format>(fmt: F) -> Table<F> {
    let mem = Arc::new(RamArena::new(BASE, ARENA).expect("arena"));
    let alloc = Arc::new(PageAlloc::new(mem, BASE, ARENA).expect("allocator"));
    PageTable::new(fmt, alloc).expect("table")
}

#[inline(never)]
fn measured_map_2m<F: Format>(t: &mut Table<F>, k: u64) {
    t.map(
        black_box(IOVA + (k << 21)),
        PA + (k << 21),
        2 << 20,
        Prot::RW,
    )
    .expect("map");
}

#[inline(never)]
fn measured_map_unmap_4k<F: Format>(t: &mut Table<F>) {
    t.map(black_box(IOVA), PA, 0x1000, Prot::RW).expect("map");
    t.unmap(black_box(IOVA), 0x1000).expect("unmap");
}

#[inline(never)]
fn measured_unmap<F: Format>(t: &mut Table<F>, iova: u64, size: u64) -> u64 {
    t.unmap(black_box(iova), size).expect("unmap")
}

#[inline(never)]
fn measured_iova_to_phys<F: Format>(t: &Table<F>, iova: u64) -> Option<u64> {
    t.iova_to_phys(black_box(iova))
}

/// Maps 64 blocks a round, unmapping them (not counted) after each.
fn map_2m<F: Format>(fmt: F) -> u64 {
    let mut t = table(fmt);
    for _ in 0..ROUNDS {
        for k in 0..BLOCKS {
            measured_map_2m(&mut t, k);
        }
        t.unmap(IOVA, BLOCKS << 21).expect("unmap");
    }
    ROUNDS * BLOCKS
}

/// Unmaps 64 blocks in one call a round, mapping them (not counted) before each; the emptied
/// tables go back to the allocator every round.
fn unmap_64x2m<F: Format>(fmt: F) -> u64 {
    let mut t = table(fmt);
    for _ in 0..ROUNDS {
        t.map(IOVA, PA, BLOCKS << 21, Prot::RW).expect("map");
        assert_eq!(measured_unmap(&mut t, IOVA, BLOCKS << 21), BLOCKS << 21);
        assert!(t.freed_pages() > 0 || t.stats().tables == 1);
        t.release_freed();
    }
    ROUNDS * BLOCKS
}

/// One page mapped and unmapped at the same IOVA, the tables freed each time or (`kept`)
/// kept by a neighbour.
fn map_unmap_4k<F: Format>(fmt: F, kept: bool) -> u64 {
    let mut t = table(fmt);
    if kept {
        t.map(IOVA + 0x1000, PA, 0x1000, Prot::RW)
            .expect("neighbour");
    }
    const N: u64 = 10_000;
    for _ in 0..N {
        measured_map_unmap_4k(&mut t);
    }
    N
}

/// Random look-ups over 256 MiB of 4 KiB pages.
fn iova_to_phys<F: Format>(fmt: F) -> u64 {
    let mut t = table(fmt);
    for i in 0..128u64 {
        // At an odd PA offset so that no block can be used.
        t.map(i << 21, PA + (i << 21) + 0x1000, 2 << 20, Prot::RW)
            .expect("map");
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    const N: u64 = 10_000;
    for _ in 0..N {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let iova = (x % (256 << 20)) & !0xfff;
        assert!(measured_iova_to_phys(&t, iova).is_some());
    }
    N
}

fn main() {
    let arm = || ArmS1::new(ArmS1Config::default()).expect("format");
    let vtd = || VtdSs::new(VtdSsConfig::default()).expect("format");
    // `cargo bench` runs every bench target with `--bench`: nothing to do then.
    let Some(op) = std::env::args().skip(1).find(|a| !a.starts_with('-')) else {
        return;
    };
    let n = match op.as_str() {
        "arm-map-2m" => map_2m(arm()),
        "vtd-map-2m" => map_2m(vtd()),
        "arm-4k-pair" => map_unmap_4k(arm(), false),
        "vtd-4k-pair" => map_unmap_4k(vtd(), false),
        "arm-4k-pair-kept" => map_unmap_4k(arm(), true),
        "vtd-4k-pair-kept" => map_unmap_4k(vtd(), true),
        "arm-unmap-64x2m" => unmap_64x2m(arm()),
        "vtd-unmap-64x2m" => unmap_64x2m(vtd()),
        "arm-iova-to-phys" => iova_to_phys(arm()),
        "vtd-iova-to-phys" => iova_to_phys(vtd()),
        _ => {
            eprintln!("unknown operation {op}");
            std::process::exit(2);
        }
    };
    println!("{op}: {n} operations");
}

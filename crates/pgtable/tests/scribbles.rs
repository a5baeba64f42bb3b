//! Something other than the table editor writes its table pages (DMA through an identity
//! domain, a misprogrammed queue, an MSI): random words land in them between random maps,
//! unmaps and dirty harvests. No call panics; a bookkeeping inconsistency is answered with a
//! typed error; and the editor never writes, frees or hands out a page it did not make: the
//! pages of another table and of other users of the same allocator stay as they were and
//! stay allocated, and every page goes back exactly once when the tables are dropped.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::fixture::{s2_4k, x86_with};
use proptest::prelude::*;
use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::DirtyBitmap;
use softiommu_pgtable::formats::x86::X86Config;
use softiommu_pgtable::{Format, PageTable, PgError, Prot};

/// Table pages come from `[POOL, POOL + POOL_SIZE)`.
const POOL: u64 = 1 << 20;
const POOL_SIZE: u64 = 3 << 20;
const PAGE: u64 = 4096;
/// Pages another user of the allocator holds, full of words that look like links.
const WITNESSES: usize = 8;

/// Where the table under test maps: four places that share upper tables, or do not.
const PLACES: [u64; 4] = [0, 0x20_0000, 0x4000_0000, 0x80_0000_0000];

#[derive(Debug, Clone)]
enum Op {
    /// Map `pages` pages (512: a 2 MiB block where aligned) at a place.
    Map { place: usize, page: u64, pages: u64 },
    /// Unmap as much.
    Unmap { place: usize, page: u64, pages: u64 },
    /// Harvest the dirty pages of a place's 2 MiB.
    Dirty { place: usize, clear: bool },
    /// Write `value` (`link`: a page of the pool with `low` bits) at word `word` of the
    /// `nth` page the table under test walks, or of any pool page.
    Scribble {
        nth: usize,
        anywhere: bool,
        word: u64,
        value: u64,
        link: Option<(u64, u64)>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let pages = prop_oneof![Just(1u64), Just(3), Just(512)];
    prop_oneof![
        3 => (0..PLACES.len(), 0u64..8, pages.clone())
            .prop_map(|(place, page, pages)| Op::Map { place, page, pages }),
        2 => (0..PLACES.len(), 0u64..8, pages)
            .prop_map(|(place, page, pages)| Op::Unmap { place, page, pages }),
        1 => (0..PLACES.len(), any::<bool>()).prop_map(|(place, clear)| Op::Dirty { place, clear }),
        3 => (
            any::<usize>(),
            prop::bool::weighted(0.2),
            0u64..512,
            any::<u64>(),
            prop::option::weighted(0.7, (0..POOL_SIZE / PAGE, 0u64..PAGE)),
        )
            .prop_map(|(nth, anywhere, word, value, link)| Op::Scribble {
                nth,
                anywhere,
                word,
                value,
                link,
            }),
    ]
}

/// The 4 KiB pages whose entries a walk of `t` reads for the places it maps.
fn walked<F: Format>(t: &PageTable<F, Arc<RamArena>>) -> Vec<u64> {
    let mut pages = BTreeSet::new();
    for place in PLACES {
        for page in [0, 1, 7, 511] {
            for s in t.trace(place + page * PAGE) {
                pages.insert(s.entry_pa & !(PAGE - 1));
            }
        }
    }
    pages.into_iter().collect()
}

/// The words of `pages`.
fn words(mem: &RamArena, pages: &[u64]) -> Vec<u64> {
    pages
        .iter()
        .flat_map(|&p| (0..PAGE / 8).map(move |k| p + 8 * k))
        .map(|a| mem.load_u64(a).unwrap())
        .collect()
}

/// What the editor may answer under scribbles: any refusal, never a panic.
fn allowed(r: Result<(), PgError>) -> Result<(), TestCaseError> {
    match r {
        Ok(())
        | Err(
            PgError::Corrupt { .. }
            | PgError::AlreadyMapped { .. }
            | PgError::NotMapped { .. }
            | PgError::Contended { .. }
            | PgError::Mem(_),
        ) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!("unexpected refusal: {e}"))),
    }
}

fn run<F: Format + Clone>(fmt: F, ops: &[Op]) -> Result<(), TestCaseError> {
    let mem = Arc::new(RamArena::new(0, POOL + POOL_SIZE).unwrap());
    let alloc = Arc::new(PageAlloc::new(mem.clone(), POOL, POOL_SIZE).unwrap());
    // A bystander table and another user's pages share the allocator.
    let mut bystander = PageTable::new(fmt.clone(), alloc.clone()).unwrap();
    bystander
        .map(0x1000_0000, 0x5000_0000, 3 * PAGE, Prot::RW)
        .unwrap();
    let witnesses: Vec<u64> = (0..WITNESSES).map(|_| alloc.alloc(PAGE).unwrap()).collect();
    let mut t = PageTable::new(fmt, alloc.clone()).unwrap();
    for (k, &w) in witnesses.iter().enumerate() {
        // Words that look like links to pool pages, witnesses included.
        for i in 0..PAGE / 8 {
            let target = witnesses[(k + i as usize) % WITNESSES];
            mem.store_u64(w + 8 * i, target | 0xe7).unwrap();
        }
    }
    let theirs: Vec<u64> = witnesses
        .iter()
        .copied()
        .chain(walked(&bystander))
        .collect();
    let before = words(&mem, &theirs);
    for op in ops {
        match *op {
            Op::Map { place, page, pages } => {
                let iova = PLACES[place] + page * PAGE * (pages % 512).max(1);
                let iova = if pages == 512 { PLACES[place] } else { iova };
                allowed(t.map(iova, 0x8000_0000 + iova % (1 << 30), pages * PAGE, Prot::RW))?;
            }
            Op::Unmap { place, page, pages } => {
                let iova = if pages == 512 {
                    PLACES[place]
                } else {
                    PLACES[place] + page * PAGE
                };
                allowed(t.unmap(iova, pages * PAGE).map(|_| ()))?;
            }
            Op::Dirty { place, clear } => {
                if t.format().tracks_dirty() {
                    let mut bitmap = DirtyBitmap::new(PLACES[place], 1 << 21, PAGE).unwrap();
                    allowed(t.read_and_clear_dirty(PLACES[place], 1 << 21, &mut bitmap, clear))?;
                }
            }
            Op::Scribble {
                nth,
                anywhere,
                word,
                value,
                link,
            } => {
                let page = if anywhere {
                    POOL + (nth as u64 % (POOL_SIZE / PAGE)) * PAGE
                } else {
                    let pages = walked(&t);
                    pages[nth % pages.len()]
                };
                if theirs.contains(&page) {
                    continue;
                }
                let value = link.map_or(value, |(p, low)| POOL + p * PAGE + low);
                mem.store_u64(page + 8 * word, value).unwrap();
            }
        }
        // Nothing the table did not make was written or taken.
        prop_assert_eq!(&words(&mem, &theirs), &before, "after {:?}", op);
        prop_assert_eq!(
            bystander.iova_to_phys(0x1000_2008),
            Some(0x5000_2008),
            "after {:?}",
            op
        );
    }
    drop(t);
    prop_assert_eq!(&words(&mem, &theirs), &before);
    // Each page went back once: the others' are still allocated, and nothing else is.
    drop(bystander);
    for w in witnesses {
        prop_assert!(alloc.free(w, PAGE).is_ok(), "a witness page was freed");
    }
    prop_assert_eq!(alloc.stats().allocated, 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn x86_tables_survive_scribbles(ops in prop::collection::vec(op(), 1..60)) {
        run(x86_with(X86Config { dirty_tracking: true, ..X86Config::default() }), &ops)?;
    }

    #[test]
    fn arm_stage2_tables_survive_scribbles(ops in prop::collection::vec(op(), 1..60)) {
        run(s2_4k(), &ops)?;
    }
}

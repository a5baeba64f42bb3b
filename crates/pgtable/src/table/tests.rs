//! The table editor's own bookkeeping: chains, the cursor, parked pages.

use super::*;
use crate::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_mem::RamArena;

fn table() -> PageTable<VtdSs, Arc<RamArena>> {
    let mem = Arc::new(RamArena::new(0, 64 << 20).unwrap());
    let alloc = Arc::new(PageAlloc::new(mem, 0, 64 << 20).unwrap());
    PageTable::new(VtdSs::new(VtdSsConfig::default()).unwrap(), alloc).unwrap()
}

/// [`table`], its runs of entries sorted by the kinds table (`sorted`) or by the format's
/// own functions, as for a format that keeps its kinds elsewhere than in the low byte.
fn table_sorting(sorted: bool) -> PageTable<VtdSs, Arc<RamArena>> {
    let mut t = table();
    if !sorted {
        t.ctx.kinds = None;
    }
    t
}

#[test]
fn single_page_unmap_detaches_empty_tables_and_map_attaches_them_again() {
    let mut t = table();
    let root_only = t.stats();
    t.map(0x4000_0000, 0x8000_0000, 0x1000, Prot::RW).unwrap();
    assert_eq!(t.stats().tables, 4);
    let allocated = t.allocator().stats().allocated;
    assert_eq!(t.unmap(0x4000_0000, 0x1000).unwrap(), 0x1000);
    // Detached: the root holds nothing, the walk sees nothing, only the root counts.
    assert_eq!(t.stats(), root_only);
    assert_eq!(t.mem().load_u64(t.root()).unwrap(), 0);
    assert_eq!(t.iova_to_phys(0x4000_0000), None);
    // Mapped again at the same place: the same pages, no new allocation.
    t.map(0x4000_0000, 0x9000_0000, 0x1000, Prot::READ).unwrap();
    assert_eq!(t.allocator().stats().allocated, allocated);
    assert_eq!(t.stats().tables, 4);
    assert_eq!(t.iova_to_phys(0x4000_0123), Some(0x9000_0123));
    assert!(t.st.chains.is_empty() && t.st.cursor.attached == 4);
    // The same churn many times over allocates nothing.
    for _ in 0..100 {
        t.unmap(0x4000_0000, 0x1000).unwrap();
        assert_eq!(t.st.cursor.attached, 1);
        t.map(0x4000_0000, 0x9000_0000, 0x1000, Prot::READ).unwrap();
        assert!(t.st.chains.is_empty() && t.st.cursor.attached == 4);
    }
    assert_eq!(t.allocator().stats().allocated, allocated);
    // Elsewhere: the chain is not attached there, and its pages are not used there either
    // (a walk that read the old links may still be reading them): new pages.
    t.unmap(0x4000_0000, 0x1000).unwrap();
    t.map(0x7fff_f000_0000, 0x1000, 0x1000, Prot::RW).unwrap();
    assert!(t.st.chains.len() == 1 && t.st.cursor.attached == 4);
    assert_eq!(t.allocator().stats().allocated, allocated + 3 * 4096);
    assert_eq!(t.iova_to_phys(0x4000_0000), None);
    assert_eq!(t.iova_to_phys(0x7fff_f000_0008), Some(0x1008));
    // Back at the first place, the cached chain is attached again.
    t.map(0x4000_0000, 0x9000_0000, 0x1000, Prot::READ).unwrap();
    assert!(t.st.chains.is_empty() && t.st.cursor.attached == 4);
    assert_eq!(t.allocator().stats().allocated, allocated + 3 * 4096);
    assert_eq!(t.iova_to_phys(0x4000_0123), Some(0x9000_0123));
    drop(t);
}

#[test]
fn chains_are_bounded_and_taken_apart_into_zeroed_pages_parked_at_their_places() {
    let mut t = table();
    let places = CHAINS_MAX as u64 + 3;
    for i in 0..places {
        let iova = i << 39; // a different PML4 entry each time
        t.map(iova, 0x1000, 0x1000, Prot::RW).unwrap();
        t.unmap(iova, 0x1000).unwrap();
    }
    assert!(t.st.chains.len() <= CHAINS_MAX);
    // A page taken out at one place is not used at another: three pages per place.
    let allocated = 4096 * (1 + 3 * places);
    assert_eq!(t.allocator().stats().allocated, allocated);
    // Churn at the same places again reuses them (cached chains, or parked pages).
    for _ in 0..3 {
        for i in 0..places {
            t.map(i << 39, 0x1000, 0x1000, Prot::RW).unwrap();
            t.unmap(i << 39, 0x1000).unwrap();
        }
    }
    assert_eq!(t.allocator().stats().allocated, allocated);
    // Pages from dissolved chains are zero: a fresh map through them sees empty tables.
    for i in 0..64u64 {
        t.map(0x100_0000_0000 + (i << 30), 0x2000, 0x1000, Prot::RW)
            .unwrap();
    }
    for i in 0..64u64 {
        assert_eq!(t.iova_to_phys(0x100_0000_0000 + (i << 30)), Some(0x2000));
        assert_eq!(t.iova_to_phys(0x100_0000_1000 + (i << 30)), None);
    }
    let alloc = t.allocator().clone();
    drop(t);
    assert_eq!(alloc.stats().allocated, 0);
}

#[test]
fn released_pages_go_back_to_the_allocator() {
    let mut t = table();
    let base = t.allocator().stats().allocated;
    // A multi-page map and unmap (general path) in eight different 1 GiB regions.
    for i in 0..8u64 {
        t.map(i << 30, 0x10_0000, 0x4000, Prot::RW).unwrap();
        t.unmap(i << 30, 0x4000).unwrap();
    }
    assert!(t.freed_pages() > 0);
    assert!(t.allocator().stats().allocated > base);
    let n = t.release_freed();
    assert!(n > 0);
    assert_eq!(t.freed_pages(), 0);
    assert_eq!(t.stats().tables, 1);
    // Only the root and what the chain cache keeps remain.
    assert!(t.allocator().stats().allocated <= base + 4096 * 4 * (CHAINS_MAX as u64 + 1));
    // The table still works after the release.
    t.map(0x4000_0000, 0x20_0000, 0x1000, Prot::RW).unwrap();
    assert_eq!(t.iova_to_phys(0x4000_0010), Some(0x20_0010));
}

#[test]
fn entries_written_behind_the_table_are_refused_with_corrupt_not_counted() {
    let mut t = table();
    t.map(0x4000_0000, 0x8000_0000, 0x1000, Prot::RW).unwrap();
    let leaf_at = |iova: u64| t.trace(iova).last().unwrap().entry_pa;
    // A valid leaf beside the table's own, written by something else: unmapping both finds
    // one more leaf than the table counted.
    let beside = leaf_at(0x4000_1000);
    let leaf = t.mem().load_u64(leaf_at(0x4000_0000)).unwrap();
    t.mem().store_u64(beside, leaf + 0x1000).unwrap();
    assert_eq!(
        t.unmap(0x4000_0000, 0x2000),
        Err(PgError::Corrupt {
            addr: beside & !0xfff
        })
    );

    // A link in the root to a page the table did not make is never followed: mapping under
    // it is refused and the page stays as it was.
    let mut t = table();
    let foreign = t.allocator().alloc(4096).unwrap();
    t.mem().store_u64(foreign, 0x1234_5007).unwrap();
    let link = t.root() + 8;
    t.mem().store_u64(link, foreign | 0x7).unwrap();
    let iova = 1u64 << 39;
    assert_eq!(
        t.map(iova, 0x8000_0000, 0x1000, Prot::RW),
        Err(PgError::Corrupt { addr: link })
    );
    assert_eq!(
        t.map(iova, 0x8000_0000, 0x20_0000, Prot::RW),
        Err(PgError::Corrupt { addr: link })
    );
    assert_eq!(t.unmap(iova, 0x1000), Err(PgError::Corrupt { addr: link }));
    assert_eq!(t.mem().load_u64(foreign).unwrap(), 0x1234_5007);
    let alloc = t.allocator().clone();
    drop(t);
    // The table freed its own pages and not the foreign one.
    assert_eq!(alloc.free(foreign, 4096), Ok(()));
    assert_eq!(alloc.stats().allocated, 0);
}

#[test]
fn one_unmap_of_a_run_of_blocks_with_a_table_among_them_takes_everything_out() {
    // Entries sorted by their low byte, and by the format's own functions.
    for sorted in [true, false] {
        let mut t = table_sorting(sorted);
        let root_only = t.stats();
        let iova = 0x4000_0000;
        let block = 2u64 << 20;
        t.map(iova, 0x8000_0000, 10 * block, Prot::RW).unwrap();
        // The eleventh block's span in 4 KiB pages (an odd output offset allows no block): a
        // table in the middle of the run.
        t.map(iova + 10 * block, 0x9000_1000, block, Prot::RW)
            .unwrap();
        t.map(iova + 11 * block, 0xa000_0000, 53 * block, Prot::RW)
            .unwrap();
        assert_eq!(t.stats().tables, 4);
        assert_eq!(t.unmap(iova, 64 * block).unwrap(), 64 * block);
        assert_eq!(t.stats(), root_only);
        for k in [0, 9, 10, 11, 63] {
            assert_eq!(t.iova_to_phys(iova + k * block + 0x3000), None);
        }
        // The level-1 table, the table of blocks and the table of pages, all taken out.
        assert_eq!(t.freed_pages(), 3);
        assert_eq!(t.release_freed(), 3);
        assert_eq!(
            t.unmap(iova, 64 * block),
            Err(PgError::NotMapped {
                iova,
                size: 64 * block
            })
        );
    }
}

#[test]
fn a_run_of_blocks_with_a_foreign_link_among_them_stops_at_the_link() {
    // Entries sorted by their low byte, and by the format's own functions.
    for sorted in [true, false] {
        let mut t = table_sorting(sorted);
        let iova = 0x4000_0000;
        let block = 2u64 << 20;
        t.map(iova, 0x8000_0000, 8 * block, Prot::RW).unwrap();
        // The fifth block's entry, rewritten by something else as a link to a page of its own.
        let foreign = t.allocator().alloc(4096).unwrap();
        t.mem().store_u64(foreign, 0x1234_5003).unwrap();
        let link = t.trace(iova + 4 * block).last().unwrap().entry_pa;
        t.mem().store_u64(link, foreign | 0x3).unwrap();
        assert_eq!(
            t.unmap(iova, 8 * block),
            Err(PgError::Corrupt { addr: link })
        );
        // Mapping a block under it is refused the same way, and the page stays as it was.
        assert_eq!(
            t.map(iova + 4 * block + 0x1000, 0x9000_0000, 0x1000, Prot::RW),
            Err(PgError::Corrupt { addr: link })
        );
        assert_eq!(t.mem().load_u64(foreign).unwrap(), 0x1234_5003);
        let alloc = t.allocator().clone();
        drop(t);
        assert_eq!(alloc.free(foreign, 4096), Ok(()));
        assert_eq!(alloc.stats().allocated, 0);
    }
}

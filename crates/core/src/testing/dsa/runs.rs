//! How far one translation of a long request reaches: a bus translation covers the pages
//! after the first only while they are cached for the same access, with the same rights, and
//! follow it physically; anything else is left to a request of its own.

use super::{Engine, platform};
use crate::PagingRequest;
use crate::testing::harness::Harness;
use softiommu_devices::bus::DmaRequest;
use softiommu_pgtable::Prot;

const IOVA: u64 = 0x40_0000;

/// Four pages: the first two map two pages that follow each other, the third a page
/// elsewhere, the fourth the page after that one, read-only. Cold, a translation covers its
/// first page; once each page has been used, a long write covers the two that follow each
/// other and stops at the third; the read-only page ends a write's run and (its rights
/// differing) a read's; an unmapped page ends a run once it is invalidated.
pub fn a_translation_covers_following_pages_only_while_they_are_cached_alike(h: &dyn Harness) {
    let p = platform(h);
    let e = Engine::new(&p, 0);
    let up = p.upstream(0).expect("a model with a bus");
    let d = p.iommu.new_paging(e.dev, PagingRequest::default()).unwrap();
    p.iommu.attach(e.dev, &d).unwrap();
    // The domain's smallest page: the unit its IOTLB caches.
    let pg = 1u64 << d.with_table(|t| t.page_sizes()).unwrap().trailing_zeros();
    let a = p.alloc(4 * pg);
    let b = p.alloc(4 * pg) + 2 * pg;
    d.map_sync(IOVA, a, 2 * pg, Prot::RW).unwrap();
    d.map_sync(IOVA + 2 * pg, b, pg, Prot::RW).unwrap();
    d.map_sync(IOVA + 3 * pg, b + pg, pg, Prot::READ).unwrap();
    let run = |req: DmaRequest| {
        let t = up.translate(&req).expect("mapped");
        (t.addr, t.len)
    };
    let write = |at: u64, len: u64| run(DmaRequest::write(e.rid, IOVA + at, len));
    let read = |at: u64, len: u64| run(DmaRequest::read(e.rid, IOVA + at, len));

    assert_eq!(write(0x10, 4 * pg), (a + 0x10, pg - 0x10), "cold: one page");
    for page in 0..3 {
        write(page * pg, 1);
    }
    read(3 * pg, 1);
    assert_eq!(
        write(0x10, 4 * pg),
        (a + 0x10, 2 * pg - 0x10),
        "the cached pages that follow, up to the one elsewhere"
    );
    assert_eq!(write(0x10, 100), (a + 0x10, pg - 0x10), "a short request");
    assert_eq!(
        write(2 * pg, 2 * pg),
        (b, pg),
        "a read-only page ends a write"
    );
    assert_eq!(read(2 * pg, 2 * pg), (b, pg), "other rights end a read");

    d.unmap_sync(IOVA + pg, pg).unwrap();
    assert_eq!(
        write(0, 4 * pg),
        (a, pg),
        "an invalidated page ends the run"
    );
    assert!(p.recorded_faults(0).is_empty());
}

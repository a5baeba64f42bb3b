//! `read_and_clear_dirty` end to end: writes made by the hardware walk (`translate` with
//! `Access::WRITE`) show up in the bitmap, and only those; clearing makes the leaves clean again
//! while they still translate. For every format that tracks dirt: x86 with `dirty_tracking`,
//! VT-d second stage with `ad`, Arm stage 1 and stage 2 with `ha` and `hd`.

// Tests unwrap freely (the workspace's `unwrap_used` lint is for library code).
#![allow(clippy::unwrap_used)]

mod common;

use common::fixture::*;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::ArmS1Config;
use softiommu_pgtable::formats::vtd_ss::VtdSsConfig;
use softiommu_pgtable::formats::x86::X86Config;
use softiommu_pgtable::{Access, DirtyBitmap, Format, PgError, Prot};

const K4: u64 = 1 << 12;
const M2: u64 = 1 << 21;
const M32: u64 = 1 << 25;
const M512: u64 = 1 << 29;

/// Smallest pages mapped one by one after the block.
const PAGES: u64 = 16;
/// Which of them are written.
const WRITTEN: [u64; 3] = [1, 5, 6];

/// The 4 KiB pages of `[start, start + size)`.
fn pages4k(start: u64, size: u64) -> Vec<u64> {
    (start..start + size).step_by(K4 as usize).collect()
}

/// What the harvest of `[iova, iova + size)` into a fresh 4K bitmap finds.
fn harvest<F: Format>(t: &Table<F>, iova: u64, size: u64, clear: bool) -> Vec<u64> {
    let mut b = DirtyBitmap::new(iova, size, K4).unwrap();
    t.read_and_clear_dirty(iova, size, &mut b, clear).unwrap();
    b.dirty_pages().collect()
}

/// A block at `4 × block` and `PAGES` smallest pages right after it; the whole range is
/// `2 × block`. Reads make nothing dirty; writes to one spot of the block and to `WRITTEN` pages
/// make exactly those dirty (the whole block); clear=false leaves them; clear=true empties the
/// next harvest, and the mappings still translate and can be made dirty again.
fn dirty_round_trip<F: Format>(fmt: F, block: u64) {
    let name = fmt.name();
    let g = fmt.geometry().granule();
    let mut t = table(fmt);
    let base = 4 * block;
    let pages = base + block;
    let range = 2 * block;
    t.map(base, PA_BASE, block, Prot::RW).unwrap();
    for k in 0..PAGES {
        t.map(pages + k * g, PA_BASE + block + k * g, g, Prot::RW)
            .unwrap();
    }
    assert_eq!(t.lookup(base).unwrap().size, block, "{name}: a block");
    assert_eq!(t.lookup(pages).unwrap().size, g, "{name}: a page");

    assert!(harvest(&t, base, range, true).is_empty(), "{name}: clean");
    for iova in [base, base + block / 2, pages, pages + 3 * g] {
        t.translate(iova + 8, Access::READ).unwrap();
    }
    assert!(harvest(&t, base, range, true).is_empty(), "{name}: reads");

    t.translate(base + block / 2 + 0x40, Access::WRITE).unwrap();
    for k in WRITTEN {
        let tr = t.translate(pages + k * g + 0x10, Access::WRITE).unwrap();
        assert_eq!(tr.pa, PA_BASE + block + k * g + 0x10);
    }
    let mut want = pages4k(base, block);
    for k in WRITTEN {
        want.extend(pages4k(pages + k * g, g));
    }

    // Without clearing, the bits stay.
    assert_eq!(harvest(&t, base, range, false), want, "{name}: clear=false");
    assert_eq!(harvest(&t, base, range, false), want, "{name}: still there");
    // Part of the range: only what lies in it (the block is not visited).
    let want_pages: Vec<u64> = want.iter().copied().filter(|&p| p >= pages).collect();
    let mut b = DirtyBitmap::new(base, range, K4).unwrap();
    t.read_and_clear_dirty(pages, block, &mut b, false).unwrap();
    assert_eq!(b.dirty_pages().collect::<Vec<_>>(), want_pages, "{name}");
    // A coarser bitmap: one bit per block-sized chunk.
    let mut b = DirtyBitmap::new(base, range, block).unwrap();
    t.read_and_clear_dirty(base, range, &mut b, false).unwrap();
    assert_eq!(b.dirty_pages().collect::<Vec<_>>(), vec![base, pages]);

    // Clearing: this harvest sees them, the next sees nothing.
    assert_eq!(harvest(&t, base, range, true), want, "{name}: clear=true");
    assert!(harvest(&t, base, range, true).is_empty(), "{name}: cleared");
    // The mappings are intact.
    for (iova, pa) in [
        (base + 0x1238, PA_BASE + 0x1238),
        (pages + 5 * g, PA_BASE + block + 5 * g),
    ] {
        assert_eq!(t.iova_to_phys(iova), Some(pa));
        assert_eq!(t.translate(iova, Access::READ).unwrap().pa, pa);
    }
    assert!(harvest(&t, base, range, true).is_empty(), "{name}: reads");
    // A clean leaf is made dirty again by the next write.
    t.translate(pages + 5 * g, Access::WRITE).unwrap();
    assert_eq!(
        harvest(&t, base, range, true),
        pages4k(pages + 5 * g, g),
        "{name}: dirty again"
    );

    // Splitting a dirty block keeps every part of it dirty.
    t.translate(base, Access::WRITE).unwrap();
    assert_eq!(t.unmap(base + block - g, g).unwrap(), g);
    let rest = pages4k(base, block - g);
    assert_eq!(harvest(&t, base, range, true), rest, "{name}: split");
    assert!(harvest(&t, base, range, true).is_empty());
}

#[test]
fn written_pages_and_blocks_are_harvested_and_cleared() {
    for levels in [4, 5] {
        let x86 = x86_with(X86Config {
            levels,
            dirty_tracking: true,
            ..X86Config::default()
        });
        dirty_round_trip(x86, M2);
    }
    for levels in [3, 4, 5] {
        let vtd = vtd_with(VtdSsConfig {
            levels,
            ad: true,
            ..VtdSsConfig::default()
        });
        dirty_round_trip(vtd, M2);
    }
    for (g, block) in [(Granule::K4, M2), (Granule::K16, M32), (Granule::K64, M512)] {
        dirty_round_trip(s1_hw(&s1(g), true, true), block);
    }
    dirty_round_trip(s2_hw(&s2_4k(), true, true), M2);
    dirty_round_trip(s2_hw(&s2_16k(), true, true), M32);
    dirty_round_trip(s2_hw(&s2_64k(), true, true), M512);
}

#[test]
fn a_written_1g_block_marks_every_page() {
    let mut t = table(vtd_with(VtdSsConfig {
        ad: true,
        ..VtdSsConfig::default()
    }));
    let g1 = 1u64 << 30;
    t.map(g1, PA_BASE, g1, Prot::RW).unwrap();
    t.translate(g1 + 0x1234_5678, Access::WRITE).unwrap();
    let got = harvest(&t, g1, g1, true);
    assert_eq!(got.len(), 1 << 18);
    assert_eq!(got, pages4k(g1, g1));
    assert!(harvest(&t, g1, g1, true).is_empty());
}

/// A table of `fmt` with one page mapped refuses to harvest.
fn unsupported<F: Format>(fmt: F) {
    let name = fmt.name();
    let g = fmt.geometry().granule();
    let mut t = table(fmt);
    t.map(0, PA_BASE, g, Prot::RW).unwrap();
    t.translate(0, Access::WRITE).unwrap();
    let mut b = DirtyBitmap::new(0, g, K4).unwrap();
    assert_eq!(
        t.read_and_clear_dirty(0, g, &mut b, true),
        Err(PgError::DirtyUnsupported),
        "{name}"
    );
    assert_eq!(b.dirty_pages().count(), 0);
    assert_eq!(PgError::DirtyUnsupported.errno(), libc::EOPNOTSUPP);
}

#[test]
fn a_configuration_without_dirty_tracking_refuses_with_dirty_unsupported() {
    unsupported(x86(4));
    unsupported(x86(5));
    unsupported(vtd(4));
    for g in [Granule::K4, Granule::K16, Granule::K64] {
        unsupported(s1(g));
        // HA alone does not track dirt; HD without HA is not in effect.
        unsupported(s1_hw(&s1(g), true, false));
        unsupported(s1_with(ArmS1Config {
            granule: g,
            hd: true,
            ..ArmS1Config::default()
        }));
    }
    unsupported(s2_4k());
    unsupported(s2_hw(&s2_16k(), true, false));
    unsupported(s2_hw(&s2_64k(), false, true));
}

#[test]
fn a_bitmap_that_does_not_cover_the_range_gives_bitmap_range() {
    let mut t = table(vtd_with(VtdSsConfig {
        ad: true,
        ..VtdSsConfig::default()
    }));
    let base = 4 * M2;
    t.map(base, PA_BASE, 2 * M2, Prot::RW).unwrap();
    t.translate(base, Access::WRITE).unwrap();
    let (iova, size) = (base, 2 * M2);
    for (b_iova, b_size) in [
        (base, M2),                   // too short
        (base + K4, 2 * M2),          // starts after the range
        (base - M2, 2 * M2),          // ends before the range does
        (base + 2 * M2, 2 * M2),      // beside it
        (base - 4 * M2, 4 * M2 - K4), // before it
    ] {
        let mut b = DirtyBitmap::new(b_iova, b_size, K4).unwrap();
        assert_eq!(
            t.read_and_clear_dirty(iova, size, &mut b, true),
            Err(PgError::BitmapRange { iova, size }),
            "bitmap {b_iova:#x}+{b_size:#x}"
        );
        assert_eq!(b.dirty_pages().count(), 0);
    }
    // Nothing was cleared by the refused calls.
    assert_eq!(harvest(&t, base, 2 * M2, true), pages4k(base, M2));
}

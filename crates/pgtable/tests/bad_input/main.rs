//! Bad input to `map`, `unmap`, `read_and_clear_dirty` and `DirtyBitmap::new`, for every format
//! and granule: each is refused with the right `PgError` (and errno), nothing changes, and no
//! input panics.
//!
//! "Nothing changes" is checked on a snapshot of every table page reachable from the root (its
//! bytes, read whole; each snapshot also checks every table's count of valid entries and
//! `stats()` against what it finds), the table's `stats()`, and the allocator's `allocated`
//! bytes. The last may differ by what the table keeps cached for reuse (freed table pages): the
//! fixed tests allow it only where a refused map had to make tables before it found the
//! conflict, and then asking again must not grow it further; the random tests allow it
//! wherever the table was walked. Every test ends by taking the table down and checking that
//! every page went back to the allocator.

#[path = "../common/mod.rs"]
mod common;

mod dirty;
mod fixture;
mod random;
mod refusals;
mod snapshot;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::Model;
use proptest::prelude::*;
use softiommu_mem::{AddressSpace, MemError, PageAlloc, RamArena};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::{Access, DirtyBitmap, Format, PageTable, PgError, Prot, Pte, TableStats};

/// Table pages a table may keep in its cache of detached chains (at most five chains of up
/// to five levels, see `CHAINS_MAX` in table.rs), besides the pages it parks until
/// `release_freed`.
const CACHE_PAGES: u64 = 32;
/// Table memory of the fixed tests.
const POOL: u64 = 64 << 20;
/// Table memory of the proptests: small, so that absurd maps run out of it quickly.
const PROP_POOL: u64 = 4 << 20;

type Table<F> = PageTable<F, Arc<RamArena>>;

// ---------------------------------------------------------------------------------------------
// Formats

fn x86_4(dirty: bool) -> X86 {
    X86::new(X86Config {
        dirty_tracking: dirty,
        ..X86Config::default()
    })
    .expect("x86-4")
}

fn x86_5(dirty: bool) -> X86 {
    X86::new(X86Config {
        levels: 5,
        haw: 52,
        dirty_tracking: dirty,
        ..X86Config::default()
    })
    .expect("x86-5")
}

fn vtd(levels: u8, haw: u8, dirty: bool) -> VtdSs {
    VtdSs::new(VtdSsConfig {
        levels,
        haw,
        ad: dirty,
        ..VtdSsConfig::default()
    })
    .expect("vtd-ss")
}

fn arm_s1(granule: Granule, ia_bits: u8, oa_bits: u8, dirty: bool) -> ArmS1 {
    ArmS1::new(ArmS1Config {
        granule,
        ia_bits,
        oa_bits,
        ha: dirty,
        hd: dirty,
    })
    .expect("arm-s1")
}

fn arm_s2(granule: Granule, ia_bits: u8, oa_bits: u8, dirty: bool) -> ArmS2 {
    let mut cfg = ArmS2Config::auto(granule, ia_bits, oa_bits).expect("arm-s2 config");
    cfg.ha = dirty;
    cfg.hd = dirty;
    ArmS2::new(cfg).expect("arm-s2")
}

use dirty::*;
use fixture::*;
use refusals::*;
use snapshot::*;

// ---------------------------------------------------------------------------------------------
// The fixed tests, one per format

fn suite<F: Format>(plain: F, dirty: F) {
    let mut fx = Fx::new(plain.clone(), POOL);
    refusals(&mut fx);
    partial_unmaps(&mut fx);
    fx.teardown();
    // The refusals again, on a table whose cache holds pages from earlier work.
    let mut fx = Fx::new(plain.clone(), POOL);
    let (far, g) = (fx.l.far, fx.l.g);
    fx.t.map(far, fx.l.q + g, 2 * fx.l.blk, Prot::RW)
        .expect("map pages");
    fx.t.unmap(far, 2 * fx.l.blk).expect("unmap pages");
    refusals(&mut fx);
    fx.teardown();
    dirty_refusals(plain, dirty);
}

#[test]
fn x86_4level() {
    suite(x86_4(false), x86_4(true));
}

#[test]
fn x86_5level() {
    suite(x86_5(false), x86_5(true));
}

#[test]
fn vtd_ss_3level() {
    suite(vtd(3, 39, false), vtd(3, 39, true));
}

#[test]
fn vtd_ss_4level() {
    suite(vtd(4, 48, false), vtd(4, 48, true));
}

#[test]
fn vtd_ss_5level() {
    suite(vtd(5, 52, false), vtd(5, 52, true));
}

#[test]
fn arm_s1_4k() {
    suite(
        arm_s1(Granule::K4, 48, 48, false),
        arm_s1(Granule::K4, 48, 48, true),
    );
}

#[test]
fn arm_s1_16k() {
    suite(
        arm_s1(Granule::K16, 47, 44, false),
        arm_s1(Granule::K16, 47, 44, true),
    );
}

#[test]
fn arm_s1_64k() {
    suite(
        arm_s1(Granule::K64, 42, 40, false),
        arm_s1(Granule::K64, 42, 40, true),
    );
}

#[test]
fn arm_s2_4k() {
    suite(
        arm_s2(Granule::K4, 40, 48, false),
        arm_s2(Granule::K4, 40, 48, true),
    );
}

#[test]
fn arm_s2_16k() {
    suite(
        arm_s2(Granule::K16, 39, 44, false),
        arm_s2(Granule::K16, 39, 44, true),
    );
}

#[test]
fn arm_s2_64k() {
    suite(
        arm_s2(Granule::K64, 44, 40, false),
        arm_s2(Granule::K64, 44, 40, true),
    );
}

#[test]
fn dirty_bitmap_refuses_bad_ranges() {
    let bad = |iova: u64, size: u64, page: u64| {
        let got = DirtyBitmap::new(iova, size, page);
        assert_eq!(
            got.as_ref().map(|b| b.size()),
            Err(&PgError::BitmapRange { iova, size }),
            "DirtyBitmap::new({iova:#x}, {size:#x}, {page:#x})"
        );
        assert_eq!(PgError::BitmapRange { iova, size }.errno(), libc::EINVAL);
    };
    bad(0, 0x1000, 0);
    bad(0, 0x3000, 3);
    bad(0, 0x3000, 0x1800);
    bad(0x800, 0x1000, 0x1000);
    bad(0x1000, 0x1800, 0x1000);
    bad(0x1000, 1, 0x1000);
    bad(0x20_0000, 0x1000, 0x20_0000);
    bad(u64::MAX, 1, 1);
    bad(0xffff_ffff_ffff_f000, 0x1000, 0x1000);
    bad(0xffff_ffff_ffff_f000, 0x2000, 0x1000);
    bad(0x1000, 0xffff_ffff_ffff_f000, 0x1000);
    bad(1 << 63, 1 << 63, 1 << 63);
    // Ranges whose bitmap could never be allocated are refused, not an abort.
    bad(0, 1 << 63, 0x1000);
    bad(0, 0xffff_ffff_ffff_f000, 0x1000);
    bad(0, u64::MAX, 1);
    bad(0, 1 << 62, 1);
    // Good ones, including the empty bitmap and single pages at the ends.
    for (iova, size, page) in [
        (0u64, 0u64, 0x1000u64),
        (0, 0x1000, 0x1000),
        (0, 1 << 63, 1 << 63),
        (0xffff_ffff_ffff_e000, 0x1000, 0x1000),
        (0x1000, 0x1000, 1),
    ] {
        let b = DirtyBitmap::new(iova, size, page).expect("a good bitmap");
        assert_eq!((b.iova(), b.size(), b.page_size()), (iova, size, page));
        assert_eq!(b.dirty_pages().count(), 0);
    }
}

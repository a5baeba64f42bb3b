//! Bad arguments to `read_and_clear_dirty` refused, and harvesting from a table without dirty
//! tracking.

use super::*;

pub(crate) fn dirty_refusals<F: Format>(plain: F, dirty: F) {
    // A format that does not track dirty state refuses even good arguments.
    let fx = Fx::new(plain, POOL);
    let l = fx.l;
    let mut bm = DirtyBitmap::new(l.r, 8 * l.blk, l.g).expect("bitmap");
    let before = snap(&fx.t);
    let got = fx.t.read_and_clear_dirty(l.r, 8 * l.blk, &mut bm, true);
    assert_eq!(got, Err(PgError::DirtyUnsupported));
    assert_eq!(PgError::DirtyUnsupported.errno(), libc::EOPNOTSUPP);
    assert_unchanged(
        &before,
        &snap(&fx.t),
        Alloc::Exact,
        l.g,
        "dirty unsupported",
    );
    assert_eq!(bm.dirty_pages().count(), 0);
    fx.verify();
    fx.teardown();

    let fx = Fx::new(dirty, POOL);
    let (g, blk) = (l.g, l.blk);
    let t = &fx.t;
    // Dirty two leaves: a page and a block.
    t.translate(l.p1, Access::WRITE).expect("write to p1");
    t.translate(l.b.0 + 3 * g, Access::WRITE)
        .expect("write to the block");
    let mut dirty_pages = vec![l.p1];
    dirty_pages.extend((l.b.0..l.b.1).step_by(g as usize));

    let bm = DirtyBitmap::new(l.r, 8 * blk, g).expect("bitmap");
    let edge = DirtyBitmap::new(l.limit - blk, 2 * blk, g).expect("bitmap at the limit");
    let top = 0u64.wrapping_sub(g);
    let unaligned = |iova, size| PgError::Unaligned {
        iova,
        pa: 0,
        size,
        granule: g,
    };
    let range = |iova, size| PgError::IovaOutOfRange {
        iova,
        size,
        limit: l.limit,
    };
    let uncovered = |iova, size| PgError::BitmapRange { iova, size };
    let mut cases: Vec<(u64, u64, &DirtyBitmap, Vec<PgError>)> = Vec::new();
    for off in misalignments(g) {
        cases.extend([
            (l.p1 + off, g, &bm, vec![unaligned(l.p1 + off, g)]),
            (l.r, 8 * blk - off, &bm, vec![unaligned(l.r, 8 * blk - off)]),
            (l.b.0, off, &bm, vec![unaligned(l.b.0, off)]),
        ]);
    }
    cases.extend([
        (l.r, 0, &bm, vec![range(l.r, 0)]),
        (l.p1, 0, &bm, vec![range(l.p1, 0)]),
        (l.limit - g, 2 * g, &edge, vec![range(l.limit - g, 2 * g)]),
        (l.limit, g, &edge, vec![range(l.limit, g)]),
        (
            top,
            2 * g,
            &bm,
            vec![range(top, 2 * g), uncovered(top, 2 * g)],
        ),
        (l.r, top, &bm, vec![range(l.r, top), uncovered(l.r, top)]),
        // The range is good, but the bitmap does not cover it (a naive implementation would
        // have cleared the dirty leaves it does cover).
        (l.r - g, 2 * g, &bm, vec![uncovered(l.r - g, 2 * g)]),
        (l.r - g, 8 * blk, &bm, vec![uncovered(l.r - g, 8 * blk)]),
        (l.r, 8 * blk + g, &bm, vec![uncovered(l.r, 8 * blk + g)]),
        (l.r + 8 * blk, g, &bm, vec![uncovered(l.r + 8 * blk, g)]),
        (0, l.limit, &bm, vec![uncovered(0, l.limit)]),
    ]);
    for (iova, size, bitmap, allowed) in cases {
        let what = format!(
            "{} read_and_clear_dirty({iova:#x}, {size:#x})",
            t.format().name()
        );
        for clear in [false, true] {
            let before = snap(t);
            let mut b = bitmap.clone();
            let got = t.read_and_clear_dirty(iova, size, &mut b, clear);
            let err = got.expect_err(&what);
            assert!(
                allowed.contains(&err),
                "{what}: {err:?}, not one of {allowed:?}"
            );
            assert_eq!(err.errno(), errno_of(&err), "{what}: errno");
            assert_eq!(&b, bitmap, "{what}: bitmap changed");
            assert_unchanged(&before, &snap(t), Alloc::Exact, g, &what);
        }
    }
    // Good arguments: reading leaves the table alone, clearing cleans the leaves.
    let before = snap(t);
    let mut b = bm.clone();
    t.read_and_clear_dirty(l.r, 8 * blk, &mut b, false)
        .expect("read dirty");
    assert_eq!(b.dirty_pages().collect::<Vec<_>>(), dirty_pages);
    assert_unchanged(&before, &snap(t), Alloc::Exact, g, "read dirty");
    let mut b = bm.clone();
    t.read_and_clear_dirty(l.r, 8 * blk, &mut b, true)
        .expect("read and clear dirty");
    assert_eq!(b.dirty_pages().collect::<Vec<_>>(), dirty_pages);
    let mut b = bm.clone();
    t.read_and_clear_dirty(l.r, 8 * blk, &mut b, true)
        .expect("read dirty again");
    assert_eq!(b.dirty_pages().count(), 0, "clean after clearing");
    fx.verify();
    fx.teardown();
}

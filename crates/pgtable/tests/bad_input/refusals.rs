//! Bad arguments to `map` and `unmap` refused with the right error, and unmaps over partly
//! mapped ranges.

use super::*;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Call {
    Map(u64, u64, u64, Prot),
    Unmap(u64, u64),
}

fn exec<F: Format>(t: &mut Table<F>, call: Call) -> Result<u64, PgError> {
    match call {
        Call::Map(iova, pa, size, prot) => t.map(iova, pa, size, prot).map(|()| size),
        Call::Unmap(iova, size) => t.unmap(iova, size),
    }
}

/// The errno each refusal must carry, as error.rs maps it.
pub(crate) fn errno_of(e: &PgError) -> i32 {
    match e {
        PgError::Unaligned { .. } | PgError::BadProt(_) | PgError::BitmapRange { .. } => {
            libc::EINVAL
        }
        PgError::IovaOutOfRange { .. } | PgError::PaOutOfRange { .. } => libc::ERANGE,
        PgError::AlreadyMapped { .. } => libc::EEXIST,
        PgError::NotMapped { .. } => libc::ENOENT,
        PgError::DirtyUnsupported => libc::EOPNOTSUPP,
        PgError::Mem(MemError::Exhausted { .. }) => libc::ENOMEM,
        other => panic!("no refusal expected to be {other:?}"),
    }
}

/// `call` is refused with `want` and changes nothing; so is the same call made again, which
/// must not cache anything more.
fn refuse<F: Format>(fx: &mut Fx<F>, call: Call, want: PgError, alloc: Alloc) {
    let what = format!("{} {call:x?}", fx.t.format().name());
    let before = snap(&fx.t);
    let got = exec(&mut fx.t, call);
    assert_eq!(got, Err(want), "{what}");
    assert_eq!(want.errno(), errno_of(&want), "{what}: errno of {want:?}");
    let after = snap(&fx.t);
    assert_unchanged(&before, &after, alloc, fx.l.g, &what);
    assert_eq!(exec(&mut fx.t, call), Err(want), "{what}, again");
    let again = snap(&fx.t);
    assert_unchanged(
        &after,
        &again,
        Alloc::Exact,
        fx.l.g,
        &format!("{what}, again"),
    );
    fx.verify();
}

/// Misaligned offsets that a granule-sized operation must refuse.
pub(crate) fn misalignments(g: u64) -> Vec<u64> {
    let mut v = vec![1, 8, g / 2, g - 1];
    if g > 4096 {
        v.push(4096);
    }
    v
}

pub(crate) fn refusals<F: Format>(fx: &mut Fx<F>) {
    let l = fx.l;
    let (g, blk, q) = (l.g, l.blk, l.q);
    let rw = Prot::RW;
    let unaligned = |iova, pa, size| PgError::Unaligned {
        iova,
        pa,
        size,
        granule: g,
    };
    let iova_range = |iova, size| PgError::IovaOutOfRange {
        iova,
        size,
        limit: l.limit,
    };
    let pa_range = |pa, size| PgError::PaOutOfRange {
        pa,
        size,
        oa_bits: l.oa_bits,
    };
    let exists = |iova| PgError::AlreadyMapped { iova };
    let unmapped = |iova, size| PgError::NotMapped { iova, size };
    use Alloc::{Cached, Exact};
    use Call::{Map, Unmap};

    let mut cases: Vec<(Call, PgError, Alloc)> = Vec::new();

    // Unaligned iova, pa or size, for single pages, ranges and blocks, over free and mapped
    // memory alike.
    for off in misalignments(g) {
        let (f, b) = (l.free, l.b.0);
        cases.extend([
            (Map(f + off, q, g, rw), unaligned(f + off, q, g), Exact),
            (Map(f, q + off, g, rw), unaligned(f, q + off, g), Exact),
            (Map(f, q, g + off, rw), unaligned(f, q, g + off), Exact),
            (Map(f, q, off, rw), unaligned(f, q, off), Exact),
            (
                Map(l.far + off, q, blk, rw),
                unaligned(l.far + off, q, blk),
                Exact,
            ),
            (
                Map(l.far, q + off, blk, rw),
                unaligned(l.far, q + off, blk),
                Exact,
            ),
            (
                Map(l.far, q, blk + off, rw),
                unaligned(l.far, q, blk + off),
                Exact,
            ),
            (
                Map(l.p1 + off, q, g, rw),
                unaligned(l.p1 + off, q, g),
                Exact,
            ),
            (Unmap(l.p1 + off, g), unaligned(l.p1 + off, 0, g), Exact),
            (Unmap(l.p1, g + off), unaligned(l.p1, 0, g + off), Exact),
            (Unmap(l.p1, off), unaligned(l.p1, 0, off), Exact),
            (
                Unmap(l.m.0 - off, 16 * g),
                unaligned(l.m.0 - off, 0, 16 * g),
                Exact,
            ),
            (Unmap(b + off, blk), unaligned(b + off, 0, blk), Exact),
            (Unmap(b, blk - off), unaligned(b, 0, blk - off), Exact),
        ]);
    }

    // Input ranges that are empty, reach past the format's width, or overflow.
    let top = 0u64.wrapping_sub(g);
    let high = 0u64.wrapping_sub(l.limit);
    cases.extend([
        (Map(l.limit, q, g, rw), iova_range(l.limit, g), Exact),
        (
            Map(l.limit - g, q, 2 * g, rw),
            iova_range(l.limit - g, 2 * g),
            Exact,
        ),
        (
            Map(l.limit - blk, q, 2 * blk, rw),
            iova_range(l.limit - blk, 2 * blk),
            Exact,
        ),
        (Map(top, q, g, rw), iova_range(top, g), Exact),
        (Map(high, q, g, rw), iova_range(high, g), Exact),
        (Map(g, q, top, rw), iova_range(g, top), Exact),
        (
            Map(l.free, q, l.limit, rw),
            iova_range(l.free, l.limit),
            Exact,
        ),
        (Map(l.free, q, 0, rw), iova_range(l.free, 0), Exact),
        (Map(l.p1, q, 0, rw), iova_range(l.p1, 0), Exact),
        (Map(0, 0, 0, rw), iova_range(0, 0), Exact),
        (Unmap(l.limit, g), iova_range(l.limit, g), Exact),
        (
            Unmap(l.limit - g, 2 * g),
            iova_range(l.limit - g, 2 * g),
            Exact,
        ),
        (Unmap(high, g), iova_range(high, g), Exact),
        (Unmap(l.p1, 0), iova_range(l.p1, 0), Exact),
        (Unmap(l.b.0, 0), iova_range(l.b.0, 0), Exact),
        // Ranges over everything mapped that a naive implementation would clear.
        (
            Unmap(l.r, 0u64.wrapping_sub(l.r)),
            iova_range(l.r, 0u64.wrapping_sub(l.r)),
            Exact,
        ),
        (Unmap(l.p1, l.limit), iova_range(l.p1, l.limit), Exact),
        (Unmap(0, top), iova_range(0, top), Exact),
        (Unmap(0, l.limit + g), iova_range(0, l.limit + g), Exact),
        (Unmap(g, top), iova_range(g, top), Exact),
    ]);

    // Output ranges past the output width, or overflowing.
    let oa = l.oa_limit;
    cases.extend([
        (Map(l.free, oa, g, rw), pa_range(oa, g), Exact),
        (
            Map(l.free, oa - g, 2 * g, rw),
            pa_range(oa - g, 2 * g),
            Exact,
        ),
        (
            Map(l.far, oa - blk, 2 * blk, rw),
            pa_range(oa - blk, 2 * blk),
            Exact,
        ),
        (Map(l.far, oa, blk, rw), pa_range(oa, blk), Exact),
        (Map(l.free, top, g, rw), pa_range(top, g), Exact),
        (Map(l.free, 1 << 63, g, rw), pa_range(1 << 63, g), Exact),
        (Map(l.free, g, top, rw), iova_range(l.free, top), Exact),
    ]);

    // Permissions with neither read nor write.
    let no_rw = Prot::ALL.without(Prot::RW);
    cases.extend([
        (
            Map(l.free, q, g, Prot::NONE),
            PgError::BadProt(Prot::NONE),
            Exact,
        ),
        (Map(l.free, q, g, no_rw), PgError::BadProt(no_rw), Exact),
        (
            Map(l.free, q, 4 * g, Prot::NOEXEC),
            PgError::BadProt(Prot::NOEXEC),
            Exact,
        ),
        (
            Map(l.far, q, blk, Prot::PRIV | Prot::CACHE),
            PgError::BadProt(Prot::PRIV | Prot::CACHE),
            Exact,
        ),
        (
            Map(l.far, q + g, 2 * blk + 4 * g, Prot::MMIO),
            PgError::BadProt(Prot::MMIO),
            Exact,
        ),
        (
            Map(l.free, q, g, Prot::from_bits_truncate(0xfc)),
            PgError::BadProt(Prot::from_bits_truncate(0x3c)),
            Exact,
        ),
    ]);

    // Maps over existing mappings, including ranges whose first part is free: the error names
    // the first mapped address of the range, and what a naive implementation would have written
    // before it found the conflict is not there.
    let (p1, m, b) = (l.p1, l.m, l.b);
    cases.extend([
        (Map(p1, q, g, rw), exists(p1), Exact),
        (Map(p1 - g, q, 2 * g, rw), exists(p1), Exact),
        (Map(p1 - 2 * g, q, 8 * g, rw), exists(p1), Exact),
        (Map(l.p3 - g, q, 2 * g, rw), exists(l.p3), Exact),
        (Map(m.0 - 4 * g, q, 8 * g, rw), exists(m.0), Exact),
        (Map(m.1 - 4 * g, q, 8 * g, rw), exists(m.1 - 4 * g), Exact),
        (Map(m.0, q, m.1 - m.0, rw), exists(m.0), Exact),
        (
            Map(m.0 - 2 * g, q, m.1 - m.0 + 4 * g, rw),
            exists(m.0),
            Exact,
        ),
        // First half under a leaf table that does not exist yet.
        (
            Map(m.0 - 4 * g - 8 * g, q + g, 16 * g, rw),
            exists(m.0),
            Cached,
        ),
        // A block-sized map over single pages inside it, with a block-aligned pa and without.
        (Map(l.r, q, blk, rw), exists(p1), Exact),
        (Map(l.r, q + g, blk, rw), exists(p1), Exact),
        (Map(m.0 - 4 * g, q, blk, rw), exists(m.0), Exact),
        // Inside the block, exactly the block, and a free block before it.
        (Map(b.0 + 5 * g, q, g, rw), exists(b.0 + 5 * g), Exact),
        (Map(b.0 + 4 * g, q, 4 * g, rw), exists(b.0 + 4 * g), Exact),
        (Map(b.0, q, blk, rw), exists(b.0), Exact),
        (Map(b.0 - blk, q, 2 * blk, rw), exists(b.0), Exact),
        (Map(b.1 - g, q, 2 * g, rw), exists(b.1 - g), Exact),
        // Pages before the block need a new leaf table first.
        (Map(b.0 - g, q, 2 * g, rw), exists(b.0), Cached),
        (
            Map(b.0 - blk / 2, q + g, blk / 2 + g, rw),
            exists(b.0),
            Cached,
        ),
        // New tables at every level below the root before the conflict.
        (Map(l.r - 4 * g, q + g, 8 * g, rw), exists(p1), Cached),
        // The whole first root entry, in the largest pages that fit, before the conflict.
        (Map(0, 0, l.r + 4 * g, rw), exists(p1), Cached),
    ]);

    // Unmaps of nothing: single pages with and without a leaf table, ranges next to mappings,
    // whole free tables, and everything above what is mapped.
    cases.extend([
        (Unmap(l.free, g), unmapped(l.free, g), Exact),
        (Unmap(l.far, g), unmapped(l.far, g), Exact),
        (Unmap(l.far, 4 * g), unmapped(l.far, 4 * g), Exact),
        (Unmap(l.r + blk, blk), unmapped(l.r + blk, blk), Exact),
        (Unmap(p1 + g, 3 * g), unmapped(p1 + g, 3 * g), Exact),
        (
            Unmap(l.p2 + g, blk - 8 * g),
            unmapped(l.p2 + g, blk - 8 * g),
            Exact,
        ),
        (Unmap(0, l.r), unmapped(0, l.r), Exact),
        (Unmap(m.1, 8 * g), unmapped(m.1, 8 * g), Exact),
        (
            Unmap(m.0 - 8 * g, 8 * g),
            unmapped(m.0 - 8 * g, 8 * g),
            Exact,
        ),
        (Unmap(b.1, blk), unmapped(b.1, blk), Exact),
        (Unmap(b.0 - g, g), unmapped(b.0 - g, g), Exact),
        (
            Unmap(l.r + 7 * blk, l.limit - (l.r + 7 * blk)),
            unmapped(l.r + 7 * blk, l.limit - (l.r + 7 * blk)),
            Exact,
        ),
    ]);

    let first = snap(&fx.t);
    for (call, want, alloc) in cases {
        refuse(fx, call, want, alloc);
    }
    // After all of them, the tables are exactly what the fixture made.
    let now = snap(&fx.t);
    assert_unchanged(&first, &now, Alloc::Cached, g, "after every refusal");
}

/// Unmaps that cover mapped and free memory alike unmap what is there and say how much; a
/// page inside a block is unmapped alone.
pub(crate) fn partial_unmaps<F: Format>(fx: &mut Fx<F>) {
    let l = fx.l;
    let (g, blk) = (l.g, l.blk);
    for (iova, size) in [
        (l.p1 - 2 * g, 4 * g),
        (l.m.1 - 4 * g, 8 * g),
        (l.b.0 - 2 * g, 4 * g),
        (l.b.0 + 5 * g, g),
        (l.b.1 - g, blk),
        (l.p2, g),
        (l.m.0 - blk, blk + 2 * g),
        (l.r, l.limit - l.r),
    ] {
        let want = overlap(&fx.model, iova, iova + size);
        assert!(want > 0, "a range with something mapped");
        assert_eq!(
            fx.t.unmap(iova, size),
            Ok(want),
            "unmap {iova:#x}+{size:#x}"
        );
        assert_eq!(fx.model.unmap(iova, size), want);
        snap(&fx.t);
        fx.verify();
        // Unmapping the same range again finds nothing.
        refuse(
            fx,
            Call::Unmap(iova, size),
            PgError::NotMapped { iova, size },
            Alloc::Exact,
        );
    }
    assert!(fx.model.ranges().is_empty());
}

/// Bytes of `[iova, end)` the model has mapped.
pub(crate) fn overlap(model: &Model, iova: u64, end: u64) -> u64 {
    model
        .ranges()
        .iter()
        .map(|&(s, e)| e.min(end).saturating_sub(s.max(iova)))
        .sum()
}

/// The first address of `[iova, end)` the model has mapped.
pub(crate) fn first_mapped(model: &Model, iova: u64, end: u64) -> Option<u64> {
    model
        .ranges()
        .iter()
        .find(|&&(s, e)| s < end && e > iova)
        .map(|&(s, _)| s.max(iova))
}

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

mod common;

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

// ---------------------------------------------------------------------------------------------
// The fixture: a table with single pages, a multi-page range and a block

/// Where the fixture's mappings are, for one format.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Smallest page.
    g: u64,
    /// Smallest block.
    blk: u64,
    /// Start of the second root entry: everything mapped lies at or above it, nothing below.
    r: u64,
    /// End of the input range `map` accepts.
    limit: u64,
    oa_bits: u8,
    oa_limit: u64,
    /// An output address aligned to every block size.
    q: u64,
    /// Single pages: two in one leaf table, one in another.
    p1: u64,
    p2: u64,
    p3: u64,
    /// A 16-page range.
    m: (u64, u64),
    /// One block.
    b: (u64, u64),
    /// A free page in the leaf table of `p3`.
    free: u64,
    /// A free, block-aligned address with two free blocks after it and no leaf table.
    far: u64,
}

impl Layout {
    fn of<F: Format>(fmt: &F) -> Layout {
        let geo = fmt.geometry();
        let g = geo.granule();
        let blk = geo
            .page_sizes()
            .filter(|&s| s > g)
            .min()
            .expect("a block size");
        let r = geo.levels()[0].span();
        let limit = geo.map_limit();
        assert!(r + 12 * blk <= limit, "{}: layout does not fit", fmt.name());
        let oa_bits = geo.oa_bits();
        let q = 1u64 << 36;
        assert!(geo.page_sizes().all(|s| q.is_multiple_of(s)));
        Layout {
            g,
            blk,
            r,
            limit,
            oa_bits,
            oa_limit: 1u64 << oa_bits,
            q,
            p1: r + 3 * g,
            p2: r + 7 * g,
            p3: r + 6 * blk + g,
            m: (r + 2 * blk + 4 * g, r + 2 * blk + 20 * g),
            b: (r + 4 * blk, r + 5 * blk),
            free: r + 6 * blk + 8 * g,
            far: r + 8 * blk,
        }
    }

    /// The fixture's mappings: (iova, pa, size, prot).
    fn mappings(&self) -> [(u64, u64, u64, Prot); 5] {
        let (g, q) = (self.g, self.q);
        [
            (self.p1, q + 0x11 * g, g, Prot::RW),
            (self.p2, q + 0x13 * g, g, Prot::READ),
            (
                self.m.0,
                q + 0x40 * g,
                self.m.1 - self.m.0,
                Prot::RW | Prot::CACHE,
            ),
            (
                self.b.0,
                q + 4 * self.blk,
                self.blk,
                Prot::RW | Prot::NOEXEC,
            ),
            (self.p3, q + 0x17 * g, g, Prot::WRITE),
        ]
    }

    /// Addresses whose mapping is checked after every operation.
    fn probes(&self) -> Vec<u64> {
        let g = self.g;
        let mut v = vec![0, self.r - g, self.free, self.far, self.limit - g];
        for a in [
            self.p1, self.p2, self.p3, self.m.0, self.m.1, self.b.0, self.b.1,
        ] {
            v.extend([a - g, a, a + g - 1, a + g]);
        }
        v
    }
}

struct Fx<F: Format> {
    t: Table<F>,
    model: Model,
    l: Layout,
}

impl<F: Format> Fx<F> {
    fn new(fmt: F, pool: u64) -> Fx<F> {
        let l = Layout::of(&fmt);
        let mem = Arc::new(RamArena::new(0, pool).expect("arena"));
        let alloc = Arc::new(PageAlloc::new(mem, 0, pool).expect("allocator"));
        let mut t = PageTable::new(fmt, alloc).expect("table");
        let mut model = Model::default();
        for (iova, pa, size, prot) in l.mappings() {
            t.map(iova, pa, size, prot).expect("fixture mapping");
            model.map(iova, pa, size, prot).expect("model mapping");
        }
        let fx = Fx { t, model, l };
        assert_eq!(
            fx.t.lookup(fx.l.b.0).map(|m| m.size),
            Some(fx.l.blk),
            "{}: the fixture's block is one leaf",
            fx.t.format().name()
        );
        fx.verify();
        fx
    }

    /// Every mapping of the model is in the table, and the probes agree with the model.
    fn verify(&self) {
        for (s, e) in self.model.ranges() {
            let (pa, prot) = self.model.get(s).expect("model range");
            verify_range(&self.t, s, pa, e - s, prot);
        }
        for iova in self.l.probes() {
            let want = self.model.get(iova);
            let got = self.t.lookup(iova);
            match (want, got) {
                (None, None) => {}
                (Some((pa, _)), Some(m)) => assert_eq!(m.pa + (iova - m.iova), pa),
                (w, g) => panic!("probe {iova:#x}: model {w:?}, table {g:?}"),
            }
            assert_eq!(self.t.iova_to_phys(iova), want.map(|(pa, _)| pa));
        }
    }

    /// Takes the table down: unmaps what the model holds, then drops it; every page must come
    /// back to the allocator.
    fn teardown(self) {
        let Fx { mut t, model, .. } = self;
        for (s, e) in model.ranges() {
            assert_eq!(t.unmap(s, e - s), Ok(e - s), "unmap {s:#x}+{:#x}", e - s);
        }
        snap(&t);
        assert_eq!(t.stats().tables, 1, "only the root is left");
        let alloc = t.allocator().clone();
        drop(t);
        assert_eq!(alloc.stats().allocated, 0, "every table page given back");
    }
}

/// Every leaf of `[iova, iova + size)` maps to `pa` plus its offset, with `prot`, and lies
/// inside the range.
fn verify_range<F: Format>(t: &Table<F>, iova: u64, pa: u64, size: u64, prot: Prot) {
    let end = iova + size;
    let mut at = iova;
    while at < end {
        let m = t
            .lookup(at)
            .unwrap_or_else(|| panic!("{iova:#x}+{size:#x}: {at:#x} is not mapped"));
        assert!(
            m.iova >= iova && m.iova <= at && m.iova + m.size > at,
            "lookup {at:#x}: {m:?} is not a leaf inside {iova:#x}+{size:#x}"
        );
        assert_eq!(m.pa + (at - m.iova), pa + (at - iova), "pa of {at:#x}");
        assert_eq!(m.prot, t.format().effective(prot), "prot of {at:#x}");
        assert_eq!(t.iova_to_phys(at), Some(pa + (at - iova)));
        let leaf_end = m.iova + m.size;
        assert!(leaf_end <= end, "leaf {m:?} reaches past {end:#x}");
        if leaf_end - 1 > at {
            assert_eq!(
                t.iova_to_phys(leaf_end - 1),
                Some(pa + (leaf_end - 1 - iova))
            );
        }
        at = leaf_end;
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots

#[derive(Debug, Clone, PartialEq, Eq)]
struct Snap {
    /// Every table page reachable from the root: its level and its bytes.
    tables: BTreeMap<u64, (usize, Vec<u8>)>,
    stats: TableStats,
    allocated: u64,
}

/// Walks the tables from the root and reads each one whole; checks on the way that every entry
/// decodes, that each table is linked once, that each table's count of valid entries is right
/// and that `stats()` counts what the walk finds.
fn snap<F: Format>(t: &Table<F>) -> Snap {
    let fmt = t.format();
    let geo = fmt.geometry();
    let depth = geo.depth();
    let mut tables = BTreeMap::new();
    let mut leaves = vec![0u64; depth];
    let mut todo = vec![(t.root(), 0usize)];
    while let Some((pa, level)) = todo.pop() {
        let mut buf = vec![0u8; geo.table_bytes(level) as usize];
        t.mem()
            .read(pa, &mut buf)
            .unwrap_or_else(|e| panic!("table {pa:#x} at level {level}: {e}"));
        let entries = geo.levels()[level].entries();
        let mut valid = 0u32;
        // Runs of empty entries are skipped a block at a time (memcmp), so that large tables
        // cost little in debug builds.
        const RUN: usize = 64;
        const ZERO: [u8; RUN * 8] = [0; RUN * 8];
        for (c, chunk) in buf[..entries * 8].chunks(RUN * 8).enumerate() {
            if chunk == &ZERO[..chunk.len()] {
                continue;
            }
            for (j, raw) in chunk.chunks_exact(8).enumerate() {
                let k = c * RUN + j;
                let pte = u64::from_le_bytes(raw.try_into().expect("8 bytes"));
                if pte == 0 {
                    continue; // not present in any format
                }
                let decoded = fmt.decode(pte, level);
                let next = match decoded {
                    Pte::Invalid => None,
                    Pte::Reserved => panic!("table {pa:#x} entry {k}: reserved {pte:#x}"),
                    Pte::Table { next, .. } => {
                        assert!(
                            level + 1 < depth,
                            "table {pa:#x} entry {k}: table at the last level"
                        );
                        todo.push((next, level + 1));
                        Some(next)
                    }
                    Pte::Leaf { .. } => {
                        assert!(
                            geo.levels()[level].leaf,
                            "table {pa:#x} entry {k}: leaf where none may be"
                        );
                        leaves[level] += 1;
                        None
                    }
                };
                assert_eq!(
                    fmt.next_table(pte, level),
                    next,
                    "table {pa:#x} entry {k}: {pte:#x}"
                );
                assert_eq!(fmt.is_valid(pte), decoded != Pte::Invalid);
                valid += u32::from(decoded != Pte::Invalid);
            }
        }
        assert!(
            buf[entries * 8..]
                .chunks(RUN * 8)
                .all(|c| c == &ZERO[..c.len()]),
            "table {pa:#x}: bytes past its entries"
        );
        let count = t
            .allocator()
            .meta(pa)
            .unwrap_or_else(|| panic!("table {pa:#x} is not from the allocator"))
            .load(Ordering::Relaxed);
        assert_eq!(count, valid, "count of valid entries of table {pa:#x}");
        assert!(
            tables.insert(pa, (level, buf)).is_none(),
            "table {pa:#x} is linked twice"
        );
    }
    let stats = t.stats();
    assert_eq!(stats.tables, tables.len() as u64, "tables counted");
    let pages: Vec<(u64, u64)> = geo
        .levels()
        .iter()
        .zip(&leaves)
        .filter(|(l, _)| l.leaf)
        .map(|(l, &n)| (l.span(), n))
        .collect();
    assert_eq!(stats.pages, pages, "leaves counted");
    Snap {
        tables,
        stats,
        // Pages of tables taken out wait in the table until `release_freed`: they count as
        // given back.
        allocated: t.allocator().stats().allocated
            - t.freed_pages() as u64 * t.format().geometry().granule(),
    }
}

/// How `allocated` may differ across a refused operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alloc {
    /// Not at all.
    Exact,
    /// By table pages kept cached for reuse: up to the cache's size.
    Cached,
}

fn assert_unchanged(before: &Snap, after: &Snap, alloc: Alloc, granule: u64, what: &str) {
    if before.tables != after.tables {
        let b: Vec<_> = before.tables.keys().collect();
        let a: Vec<_> = after.tables.keys().collect();
        if a != b {
            panic!("{what}: tables {b:x?} became {a:x?}");
        }
        for (pa, (level, bytes)) in &before.tables {
            let now = &after.tables[pa].1;
            if let Some(i) = (0..bytes.len())
                .step_by(8)
                .find(|&i| bytes[i..i + 8] != now[i..i + 8])
            {
                let word = |v: &[u8]| u64::from_le_bytes(v[i..i + 8].try_into().expect("8"));
                panic!(
                    "{what}: level-{level} table {pa:#x} entry {}: {:#x} became {:#x}",
                    i / 8,
                    word(bytes),
                    word(now)
                );
            }
        }
    }
    assert_eq!(before.stats, after.stats, "{what}: stats");
    match alloc {
        Alloc::Exact => assert_eq!(before.allocated, after.allocated, "{what}: allocated"),
        Alloc::Cached => assert!(
            after.allocated <= before.allocated + CACHE_PAGES * granule,
            "{what}: allocated {:#x} -> {:#x}",
            before.allocated,
            after.allocated
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals

#[derive(Debug, Clone, Copy)]
enum Call {
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
fn errno_of(e: &PgError) -> i32 {
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
fn misalignments(g: u64) -> Vec<u64> {
    let mut v = vec![1, 8, g / 2, g - 1];
    if g > 4096 {
        v.push(4096);
    }
    v
}

fn refusals<F: Format>(fx: &mut Fx<F>) {
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
fn partial_unmaps<F: Format>(fx: &mut Fx<F>) {
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
fn overlap(model: &Model, iova: u64, end: u64) -> u64 {
    model
        .ranges()
        .iter()
        .map(|&(s, e)| e.min(end).saturating_sub(s.max(iova)))
        .sum()
}

/// The first address of `[iova, end)` the model has mapped.
fn first_mapped(model: &Model, iova: u64, end: u64) -> Option<u64> {
    model
        .ranges()
        .iter()
        .find(|&&(s, e)| s < end && e > iova)
        .map(|&(s, _)| s.max(iova))
}

// ---------------------------------------------------------------------------------------------
// Dirty harvesting

fn dirty_refusals<F: Format>(plain: F, dirty: F) {
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

// ---------------------------------------------------------------------------------------------
// Random, possibly absurd, arguments

#[derive(Debug, Clone)]
enum IovaPick {
    Any(u64),
    /// An address of the fixture, moved by whole pages.
    Anchor(usize, i8),
    Pow(u8),
    BelowLimit(u16),
    Low(u16),
}

#[derive(Debug, Clone)]
enum SizePick {
    Any(u64),
    Pages(u16),
    Blocks(u8),
    Pow(u8),
    NearMax(u16),
    Zero,
    One,
}

#[derive(Debug, Clone)]
enum PaPick {
    Any(u64),
    Page(u16),
    Block(u8),
    Zero,
    BelowOa(u16),
    Pow(u8),
    SameAsIova,
}

#[derive(Debug, Clone)]
struct RawOp {
    unmap: bool,
    iova: IovaPick,
    pa: PaPick,
    size: SizePick,
    /// Which argument gets a few extra bytes (0 iova, 1 pa, 2 size, else none), and how many.
    jitter: (u8, u64),
    prot: u8,
}

fn raw_op() -> impl Strategy<Value = RawOp> {
    let iova = prop_oneof![
        1 => any::<u64>().prop_map(IovaPick::Any),
        6 => (any::<usize>(), -8i8..8).prop_map(|(i, d)| IovaPick::Anchor(i, d)),
        1 => (0u8..64).prop_map(IovaPick::Pow),
        1 => (0u16..64).prop_map(IovaPick::BelowLimit),
        1 => (0u16..256).prop_map(IovaPick::Low),
    ];
    let size = prop_oneof![
        1 => any::<u64>().prop_map(SizePick::Any),
        4 => (1u16..=64).prop_map(SizePick::Pages),
        2 => (1u8..=4).prop_map(SizePick::Blocks),
        1 => (0u8..64).prop_map(SizePick::Pow),
        1 => (0u16..16).prop_map(SizePick::NearMax),
        1 => Just(SizePick::Zero),
        2 => Just(SizePick::One),
    ];
    let pa = prop_oneof![
        1 => any::<u64>().prop_map(PaPick::Any),
        3 => (0u16..512).prop_map(PaPick::Page),
        2 => (0u8..8).prop_map(PaPick::Block),
        1 => Just(PaPick::Zero),
        1 => (0u16..64).prop_map(PaPick::BelowOa),
        1 => (0u8..64).prop_map(PaPick::Pow),
        1 => Just(PaPick::SameAsIova),
    ];
    (
        prop::bool::weighted(0.4),
        iova,
        pa,
        size,
        (0u8..12, 1u64..0x1_0000),
        any::<u8>(),
    )
        .prop_map(|(unmap, iova, pa, size, jitter, prot)| RawOp {
            unmap,
            iova,
            pa,
            size,
            jitter,
            prot,
        })
}

impl RawOp {
    fn resolve(&self, l: &Layout) -> (u64, u64, u64, Prot) {
        let g = l.g;
        let anchors = [
            0,
            l.r - 4 * g,
            l.r,
            l.p1,
            l.p2,
            l.m.0,
            l.m.1,
            l.b.0,
            l.b.1,
            l.p3,
            l.free,
            l.far,
            l.limit,
            l.limit - l.blk,
        ];
        let mut iova = match self.iova {
            IovaPick::Any(v) => v,
            IovaPick::Anchor(i, d) => {
                anchors[i % anchors.len()].wrapping_add((i64::from(d) * g as i64) as u64)
            }
            IovaPick::Pow(k) => 1u64 << (k % 64),
            IovaPick::BelowLimit(n) => l.limit.wrapping_sub(u64::from(n) * g),
            IovaPick::Low(n) => u64::from(n) * g,
        };
        let mut size = match self.size {
            SizePick::Any(v) => v,
            SizePick::Pages(n) => u64::from(n) * g,
            SizePick::Blocks(n) => u64::from(n) * l.blk,
            SizePick::Pow(k) => 1u64 << (k % 64),
            SizePick::NearMax(n) => 0u64.wrapping_sub(u64::from(n) * g),
            SizePick::Zero => 0,
            SizePick::One => g,
        };
        let mut pa = match self.pa {
            PaPick::Any(v) => v,
            PaPick::Page(n) => l.q + u64::from(n) * g,
            PaPick::Block(n) => l.q + u64::from(n) * l.blk,
            PaPick::Zero => 0,
            PaPick::BelowOa(n) => l.oa_limit.wrapping_sub(u64::from(n) * g),
            PaPick::Pow(k) => 1u64 << (k % 64),
            PaPick::SameAsIova => iova,
        };
        let (which, by) = self.jitter;
        let by = by % g;
        match which {
            0 => iova = iova.wrapping_add(by),
            1 => pa = pa.wrapping_add(by),
            2 => size = size.wrapping_add(by),
            _ => {}
        }
        (iova, pa, size, Prot::from_bits_truncate(self.prot))
    }
}

/// The refusals bad arguments allow (any one of them when there are several); empty when the
/// arguments are good. `map` is `Some((pa, prot))` for a map.
fn arg_faults(l: &Layout, iova: u64, size: u64, map: Option<(u64, Prot)>) -> Vec<PgError> {
    let g = l.g;
    let pa = map.map_or(0, |(pa, _)| pa);
    let mut v = Vec::new();
    if (iova | pa | size) & (g - 1) != 0 {
        v.push(PgError::Unaligned {
            iova,
            pa,
            size,
            granule: g,
        });
    }
    if size == 0 || iova.checked_add(size).is_none_or(|end| end > l.limit) {
        v.push(PgError::IovaOutOfRange {
            iova,
            size,
            limit: l.limit,
        });
    }
    if let Some((pa, prot)) = map {
        if pa.checked_add(size).is_none_or(|end| end > l.oa_limit) {
            v.push(PgError::PaOutOfRange {
                pa,
                size,
                oa_bits: l.oa_bits,
            });
        }
        if !prot.intersects(Prot::RW) {
            v.push(PgError::BadProt(prot));
        }
    }
    v
}

fn prop_run<F: Format>(fmt: F, ops: &[RawOp]) {
    let mut fx = Fx::new(fmt, PROP_POOL);
    let l = fx.l;
    let name = fx.t.format().name();
    for op in ops {
        // No walk runs beside this table: the pages of tables taken out go back at once, as
        // an owner gives them back after its invalidation (the pool is small on purpose).
        fx.t.release_freed();
        let (iova, pa, size, prot) = op.resolve(&l);
        let before = snap(&fx.t);
        if op.unmap {
            let what = format!("{name} unmap({iova:#x}, {size:#x})");
            let faults = arg_faults(&l, iova, size, None);
            let got = fx.t.unmap(iova, size);
            if !faults.is_empty() {
                let e = got.expect_err(&what);
                assert!(faults.contains(&e), "{what}: {e:?}, not one of {faults:?}");
                assert_eq!(e.errno(), errno_of(&e), "{what}: errno");
                assert_unchanged(&before, &snap(&fx.t), Alloc::Exact, l.g, &what);
            } else {
                let want = overlap(&fx.model, iova, iova + size);
                if want == 0 {
                    assert_eq!(got, Err(PgError::NotMapped { iova, size }), "{what}");
                    assert_unchanged(&before, &snap(&fx.t), Alloc::Cached, l.g, &what);
                } else {
                    assert_eq!(got, Ok(want), "{what}");
                    assert_eq!(fx.model.unmap(iova, size), want);
                    snap(&fx.t);
                }
            }
        } else {
            let what = format!("{name} map({iova:#x}, {pa:#x}, {size:#x}, {prot})");
            let faults = arg_faults(&l, iova, size, Some((pa, prot)));
            let got = fx.t.map(iova, pa, size, prot);
            if !faults.is_empty() {
                let e = got.expect_err(&what);
                assert!(faults.contains(&e), "{what}: {e:?}, not one of {faults:?}");
                assert_eq!(e.errno(), errno_of(&e), "{what}: errno");
                assert_unchanged(&before, &snap(&fx.t), Alloc::Exact, l.g, &what);
            } else if let Some(at) = first_mapped(&fx.model, iova, iova + size) {
                // Refused for the mapping in its way, or for running out of table memory on
                // the way there.
                match got {
                    Err(PgError::AlreadyMapped { .. }) => {
                        assert_eq!(got, Err(PgError::AlreadyMapped { iova: at }), "{what}");
                    }
                    Err(PgError::Mem(MemError::Exhausted { .. })) => {}
                    other => panic!("{what}: {other:?}"),
                }
                assert_unchanged(&before, &snap(&fx.t), Alloc::Cached, l.g, &what);
            } else {
                match got {
                    Ok(()) => {
                        snap(&fx.t);
                        verify_range(&fx.t, iova, pa, size, prot);
                        // Taking it away again restores the tables exactly.
                        assert_eq!(fx.t.unmap(iova, size), Ok(size), "{what}, undone");
                        assert_unchanged(&before, &snap(&fx.t), Alloc::Cached, l.g, &what);
                    }
                    Err(e @ PgError::Mem(MemError::Exhausted { .. })) => {
                        // Too big for the table memory: refused as a whole.
                        assert_eq!(e.errno(), libc::ENOMEM);
                        assert_unchanged(&before, &snap(&fx.t), Alloc::Cached, l.g, &what);
                    }
                    Err(e) => panic!("{what}: {e:?}"),
                }
            }
        }
        // Look-ups of any address answer as the model says, and walks do not panic.
        let want = if iova < l.limit {
            fx.model.get(iova).map(|(pa, _)| pa)
        } else {
            None
        };
        assert_eq!(fx.t.iova_to_phys(iova), want, "iova_to_phys({iova:#x})");
        assert_eq!(
            fx.t.lookup(iova).is_some(),
            want.is_some(),
            "lookup({iova:#x})"
        );
        let _ = fx.t.trace(iova);
        let _ = fx.t.translate(iova, Access::READ);
        fx.verify();
    }
    fx.teardown();
}

/// Cases per format: 11 formats, 2,200 cases, each a few operations.
const PROP_CASES: u32 = 200;
const PROP_OPS: usize = 6;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: PROP_CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn prop_x86_4level(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(x86_4(false), &ops);
    }

    #[test]
    fn prop_x86_5level(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(x86_5(false), &ops);
    }

    #[test]
    fn prop_vtd_ss_3level(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(vtd(3, 39, false), &ops);
    }

    #[test]
    fn prop_vtd_ss_4level(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(vtd(4, 48, false), &ops);
    }

    #[test]
    fn prop_vtd_ss_5level(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(vtd(5, 52, false), &ops);
    }

    #[test]
    fn prop_arm_s1_4k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s1(Granule::K4, 48, 48, false), &ops);
    }

    #[test]
    fn prop_arm_s1_16k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s1(Granule::K16, 47, 44, false), &ops);
    }

    #[test]
    fn prop_arm_s1_64k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s1(Granule::K64, 42, 40, false), &ops);
    }

    #[test]
    fn prop_arm_s2_4k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s2(Granule::K4, 40, 48, false), &ops);
    }

    #[test]
    fn prop_arm_s2_16k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s2(Granule::K16, 39, 44, false), &ops);
    }

    #[test]
    fn prop_arm_s2_64k(ops in prop::collection::vec(raw_op(), PROP_OPS)) {
        prop_run(arm_s2(Granule::K64, 44, 40, false), &ops);
    }
}

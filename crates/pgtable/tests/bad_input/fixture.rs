//! The fixture: a table with single pages, a multi-page range and a block, and where they are
//! for each format.

use super::*;

/// Where the fixture's mappings are, for one format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// Smallest page.
    pub(crate) g: u64,
    /// Smallest block.
    pub(crate) blk: u64,
    /// Start of the second root entry: everything mapped lies at or above it, nothing below.
    pub(crate) r: u64,
    /// End of the input range `map` accepts.
    pub(crate) limit: u64,
    pub(crate) oa_bits: u8,
    pub(crate) oa_limit: u64,
    /// An output address aligned to every block size.
    pub(crate) q: u64,
    /// Single pages: two in one leaf table, one in another.
    pub(crate) p1: u64,
    pub(crate) p2: u64,
    pub(crate) p3: u64,
    /// A 16-page range.
    pub(crate) m: (u64, u64),
    /// One block.
    pub(crate) b: (u64, u64),
    /// A free page in the leaf table of `p3`.
    pub(crate) free: u64,
    /// A free, block-aligned address with two free blocks after it and no leaf table.
    pub(crate) far: u64,
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

pub(crate) struct Fx<F: Format> {
    pub(crate) t: Table<F>,
    pub(crate) model: Model,
    pub(crate) l: Layout,
}

impl<F: Format> Fx<F> {
    pub(crate) fn new(fmt: F, pool: u64) -> Fx<F> {
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
    pub(crate) fn verify(&self) {
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
    pub(crate) fn teardown(self) {
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
pub(crate) fn verify_range<F: Format>(t: &Table<F>, iova: u64, pa: u64, size: u64, prot: Prot) {
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

//! Map/unmap/translate/dirty sequences on a page table, checked against the model.

use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use softiommu_mem::{PageAlloc, RamArena};

use super::model::Model;
use crate::format::Format;
use crate::formats::any::AnyFormat;
use crate::walk::FaultKind;
use crate::{DirtyBitmap, PageTable, PgError};

/// Table memory, `[0, ARENA)`: small enough that running out of it is reachable.
const ARENA: u64 = 16 << 20;
/// Slots of input addresses the operations aim at.
const SLOTS: u64 = 4;

type Table = PageTable<AnyFormat, Arc<RamArena>>;

/// Runs the operations the bytes describe on a fresh table of a format they choose, next to
/// the model: every map and unmap must succeed, fail or refuse as the model says and change
/// nothing when it fails; look-ups, translations, counts and dirty reports must agree with
/// the model after every step; and taking everything out must free every table page.
pub fn ops(data: &[u8]) {
    let _ = run(&mut Unstructured::new(data));
}

/// Where the operations aim: the smallest page, a block size, and slots of input addresses.
struct Window {
    granule: u64,
    block: u64,
    span: u64,
    oa_limit: u64,
    map_limit: u64,
}

impl Window {
    fn new(fmt: &AnyFormat) -> Window {
        let geo = fmt.geometry();
        let granule = geo.granule();
        let block = geo
            .page_sizes()
            .find(|&s| s > granule && s <= 1 << 30)
            .unwrap_or(granule * 512);
        Window {
            granule,
            block,
            span: (block * 4).min(geo.map_limit() / SLOTS),
            oa_limit: 1u64 << geo.oa_bits(),
            map_limit: geo.map_limit(),
        }
    }

    /// A unit of size: the granule, a block, or half a block.
    fn unit(&self, u: &mut Unstructured<'_>) -> Result<u64> {
        Ok(match u.int_in_range(0u8..=3)? {
            0 | 1 => self.granule,
            2 => self.block,
            _ => (self.block / 2).max(self.granule),
        })
    }

    /// An aligned range inside one slot.
    fn range(&self, u: &mut Unstructured<'_>) -> Result<(u64, u64)> {
        let unit = self.unit(u)?;
        let slot = u.int_in_range(0..=SLOTS - 1)?;
        let off = u64::from(u.arbitrary::<u16>()?) * unit % self.span;
        let iova = slot * self.span + off;
        let len = u64::from(u.int_in_range(1u16..=1024)?) * unit;
        let size = len.min(self.span - off).max(self.granule);
        Ok((iova, size))
    }

    /// An input address in the window (any alignment).
    fn address(&self, u: &mut Unstructured<'_>) -> Result<u64> {
        u.int_in_range(0..=SLOTS * self.span - 1)
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let Some(fmt) = super::format(u)? else {
        return Ok(());
    };
    let Ok(mem) = RamArena::new(0, ARENA) else {
        return Ok(());
    };
    let Ok(alloc) = PageAlloc::new(Arc::new(mem), 0, ARENA).map(Arc::new) else {
        return Ok(());
    };
    let Ok(mut t) = PageTable::new(fmt.clone(), alloc.clone()) else {
        return Ok(());
    };
    let w = Window::new(&fmt);
    let mut m = Model::default();
    while !u.is_empty() {
        match u.int_in_range(0u8..=7)? {
            0..=2 => {
                let (iova, size) = w.range(u)?;
                let pa = (u64::from(u.arbitrary::<u16>()?) * w.block + iova % w.block)
                    % (w.oa_limit / 2);
                let prot = super::prot(u)?;
                map(&mut t, &mut m, &w, iova, pa, size, prot);
            }
            3 | 4 => {
                let (iova, size) = w.range(u)?;
                unmap(&mut t, &mut m, &w, iova, size);
            }
            5 => {
                // Anything at all: the table must refuse what is wrong and change nothing.
                let (iova, pa, size) = (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
                if u.arbitrary()? {
                    map(&mut t, &mut m, &w, iova, pa, size, super::prot(u)?);
                } else {
                    unmap(&mut t, &mut m, &w, iova, size);
                }
            }
            6 => {
                let iova = w.address(u)?;
                let access = super::access(u)?;
                translate(&t, &mut m, &w, iova, access);
            }
            _ => {
                if u.arbitrary()? {
                    t.release_freed();
                }
                let slot = u.int_in_range(0..=SLOTS - 1)?;
                dirty(&t, &mut m, &w, slot * w.span, u.arbitrary()?);
            }
        }
        let mapped: u64 = t.stats().pages.iter().map(|(s, n)| s * n).sum();
        assert_eq!(mapped, m.bytes(), "bytes mapped");
    }
    for (s, e) in m.ranges() {
        let removed = t.unmap(s, e - s);
        assert_eq!(
            removed.ok(),
            Some(e - s),
            "unmap {s:#x}..{e:#x} at teardown"
        );
    }
    assert_eq!(
        t.stats().tables,
        1,
        "tables left after unmapping everything"
    );
    drop(t);
    assert_eq!(
        alloc.stats().allocated,
        0,
        "pages left after the table is dropped"
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn map(t: &mut Table, m: &mut Model, w: &Window, iova: u64, pa: u64, size: u64, prot: crate::Prot) {
    let got = t.map(iova, pa, size, prot);
    let aligned = [iova, pa, size].iter().all(|v| v.is_multiple_of(w.granule));
    let in_range = size > 0
        && iova.checked_add(size).is_some_and(|e| e <= w.map_limit)
        && pa.checked_add(size).is_some_and(|e| e <= w.oa_limit);
    let usable = prot.intersects(crate::Prot::RW);
    match got {
        Ok(()) => {
            assert!(
                aligned && in_range && usable,
                "map {iova:#x}+{size:#x} accepted"
            );
            let model = m.map(iova, pa, size, prot);
            assert_eq!(model, Ok(()), "map over {iova:#x}+{size:#x}");
        }
        Err(PgError::AlreadyMapped { .. }) => {
            assert!(
                m.overlaps(iova, iova.saturating_add(size)),
                "{iova:#x} not mapped"
            );
        }
        Err(PgError::Mem(_)) => {}
        Err(e) => assert!(
            !(aligned && in_range && usable),
            "map {iova:#x}->{pa:#x}+{size:#x} {prot:?}: {e}"
        ),
    }
    probe(t, m, w, iova);
    probe(t, m, w, iova.wrapping_add(size).wrapping_sub(1));
    probe(t, m, w, iova.wrapping_add(size));
}

fn unmap(t: &mut Table, m: &mut Model, w: &Window, iova: u64, size: u64) {
    let valid = iova.is_multiple_of(w.granule)
        && size.is_multiple_of(w.granule)
        && size > 0
        && iova.checked_add(size).is_some_and(|e| e <= w.map_limit);
    match t.unmap(iova, size) {
        Ok(n) => {
            assert!(valid, "unmap {iova:#x}+{size:#x} accepted");
            assert_eq!(
                n,
                m.unmap(iova, size),
                "bytes unmapped at {iova:#x}+{size:#x}"
            );
        }
        Err(PgError::NotMapped { .. }) => {
            assert!(
                !m.overlaps(iova, iova.saturating_add(size)),
                "{iova:#x} mapped"
            );
        }
        Err(PgError::Mem(_)) => {}
        Err(e) => assert!(!valid, "unmap {iova:#x}+{size:#x}: {e}"),
    }
    probe(t, m, w, iova.wrapping_sub(w.granule));
    probe(t, m, w, iova);
    probe(t, m, w, iova.wrapping_add(size).wrapping_sub(w.granule));
    probe(t, m, w, iova.wrapping_add(size));
}

/// The table's look-up of `iova` is the model's.
fn probe(t: &Table, m: &Model, w: &Window, iova: u64) {
    if iova >= w.map_limit {
        assert_eq!(t.lookup(iova), None, "look-up beyond the input range");
        return;
    }
    match (m.get(iova), t.lookup(iova)) {
        (None, None) => {}
        (Some((pa, prot)), Some(map)) => {
            assert_eq!(map.pa + (iova - map.iova), pa, "pa of {iova:#x}");
            assert_eq!(t.iova_to_phys(iova), Some(pa), "iova_to_phys of {iova:#x}");
            assert_eq!(map.prot, t.format().effective(prot), "prot of {iova:#x}");
        }
        (want, got) => panic!("look-up of {iova:#x}: model {want:?}, table {got:?}"),
    }
}

/// A device access: it reaches the model's address or faults for its rights, never elsewhere.
fn translate(t: &Table, m: &mut Model, w: &Window, iova: u64, access: crate::Access) {
    match (m.get(iova), t.translate(iova, access)) {
        (Some((pa, _)), Ok(tr)) => {
            assert_eq!(tr.pa, pa, "translation of {iova:#x}");
            if access.write {
                m.write(iova & !(w.granule - 1));
            }
        }
        (Some(_), Err(f)) => assert!(
            matches!(f.kind, FaultKind::Permission | FaultKind::AccessFlag),
            "mapped {iova:#x} faults {f:?}"
        ),
        (None, Err(f)) => assert_eq!(f.kind, FaultKind::Translation, "unmapped {iova:#x}"),
        (None, Ok(tr)) => panic!("unmapped {iova:#x} translates to {tr:?}"),
    }
}

/// The dirty report of one slot: every page written since the last clear, nothing unmapped;
/// after a clearing report, a second one finds nothing.
fn dirty(t: &Table, m: &mut Model, w: &Window, start: u64, clear: bool) {
    let Ok(mut bitmap) = DirtyBitmap::new(start, w.span, w.granule) else {
        return;
    };
    match t.read_and_clear_dirty(start, w.span, &mut bitmap, clear) {
        Err(PgError::DirtyUnsupported) => {
            assert!(!t.format().tracks_dirty());
            return;
        }
        Err(e) => panic!("dirty report of {start:#x}: {e}"),
        Ok(()) => {}
    }
    for page in m.written(start..start + w.span) {
        assert!(bitmap.is_dirty(page), "written page {page:#x} not reported");
    }
    for page in bitmap.dirty_pages() {
        assert!(
            m.get(page).is_some(),
            "unmapped page {page:#x} reported dirty"
        );
    }
    if clear {
        m.clean(start..start + w.span);
        let Ok(mut again) = DirtyBitmap::new(start, w.span, w.granule) else {
            return;
        };
        let second = t.read_and_clear_dirty(start, w.span, &mut again, false);
        assert!(second.is_ok(), "second dirty report: {second:?}");
        assert_eq!(again.dirty_pages().next(), None, "dirty after clearing");
    }
}

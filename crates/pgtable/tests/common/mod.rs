//! A reference model of a page table (intervals in a `BTreeMap`) and a driver that runs random
//! operations against a real table and the model side by side.

#![allow(dead_code)]

pub mod fixture;

use std::sync::Arc;

use proptest::prelude::*;
use softiommu_mem::{PageAlloc, RamArena};
use softiommu_pgtable::{Format, PageTable, PgError, Prot};

pub use softiommu_pgtable::fuzz::Model;

/// One random operation, in units the harness scales to the format.
#[derive(Debug, Clone)]
pub enum Op {
    Map {
        slot: u64,
        off: u64,
        len: u64,
        big: u8,
        pa_slot: u64,
        prot: u8,
    },
    Unmap {
        slot: u64,
        off: u64,
        len: u64,
        big: u8,
    },
    Probe {
        slot: u64,
        off: u64,
    },
    /// One smallest page mapped or unmapped, near others: the single-page paths.
    One {
        map: bool,
        slot: u64,
        page: u64,
    },
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..8u64, 0..1024u64, 1..64u64, 0..4u8, 0..64u64, any::<u8>()).prop_map(
            |(slot, off, len, big, pa_slot, prot)| Op::Map { slot, off, len, big, pa_slot, prot }
        ),
        3 => (0..8u64, 0..1024u64, 1..1024u64, 0..4u8)
            .prop_map(|(slot, off, len, big)| Op::Unmap { slot, off, len, big }),
        1 => (0..8u64, 0..1u64 << 40).prop_map(|(slot, off)| Op::Probe { slot, off }),
        4 => (any::<bool>(), 0..3u64, 0..2048u64)
            .prop_map(|(map, slot, page)| Op::One { map, slot, page }),
    ]
}

pub fn prot_of(bits: u8) -> Prot {
    let mut p = Prot::from_bits_truncate(bits);
    if !p.intersects(Prot::RW) {
        p = p | Prot::READ;
    }
    p
}

/// Runs `ops` against a fresh table of `fmt` and the model, checking after every step.
pub fn run<F: Format>(fmt: F, ops: &[Op]) {
    let geo = *fmt.geometry();
    let g = geo.granule();
    let sizes: Vec<u64> = geo.page_sizes().collect();
    // The second-largest block size (or the largest when there is one) makes the slots.
    let block = sizes
        .iter()
        .copied()
        .find(|&s| s > g && s <= 1 << 30)
        .unwrap_or(g * 512);
    let slot_span = (block * 4).min(geo.map_limit() / 8);
    let mem = Arc::new(RamArena::new(0, 1 << 32).expect("arena"));
    let alloc = Arc::new(PageAlloc::new(mem, 0, 1 << 32).expect("allocator"));
    let mut t = PageTable::new(fmt.clone(), alloc.clone()).expect("table");
    let mut m = Model::default();
    let oa_limit = 1u64 << geo.oa_bits();
    let scale = |big: u8| match big {
        0 | 1 => g,
        2 => block,
        _ => block / 2,
    };
    for op in ops {
        match *op {
            Op::Map {
                slot,
                off,
                len,
                big,
                pa_slot,
                prot,
            } => {
                let unit = scale(big);
                let iova = slot * slot_span + (off * unit) % slot_span;
                let size = (len * unit).min(slot_span - (iova % slot_span)).max(g);
                let pa = (pa_slot * block * 8 + (iova % block)) % (oa_limit / 2);
                let prot = prot_of(prot);
                let want = m.map(iova, pa, size, prot);
                let got = t.map(iova, pa, size, prot);
                match (want, got) {
                    (Ok(()), Ok(())) => {}
                    (Err(_), Err(PgError::AlreadyMapped { .. })) => {}
                    (w, g) => panic!("map {iova:#x}+{size:#x}: model {w:?}, table {g:?}"),
                }
                check(&t, &m, iova);
                check(&t, &m, iova + size - 1);
                check(&t, &m, iova + size);
            }
            Op::Unmap {
                slot,
                off,
                len,
                big,
            } => {
                let unit = scale(big);
                let iova = slot * slot_span + (off * unit) % slot_span;
                let size = (len * unit).min(slot_span - (iova % slot_span)).max(g);
                let want = m.unmap(iova, size);
                let got = t.unmap(iova, size);
                match got {
                    Ok(n) => assert_eq!(n, want, "unmap {iova:#x}+{size:#x}"),
                    Err(PgError::NotMapped { .. }) => assert_eq!(want, 0),
                    Err(e) => panic!("unmap {iova:#x}+{size:#x}: {e}"),
                }
                check(&t, &m, iova.wrapping_sub(g));
                check(&t, &m, iova);
                check(&t, &m, iova + size - g);
                check(&t, &m, iova + size);
            }
            Op::One { map, slot, page } => {
                // Pages spread over a few leaf tables (and, for big granules, a few tables
                // further up), so that chains are detached, attached again, and taken apart.
                let iova = ((slot * slot_span + page * g * 97) % geo.map_limit()) & !(g - 1);
                if map {
                    let pa = (iova + 0x40_0000_0000) % (oa_limit / 2);
                    let want = m.map(iova, pa, g, Prot::RW);
                    let got = t.map(iova, pa, g, Prot::RW);
                    match (want, got) {
                        (Ok(()), Ok(())) => {}
                        (Err(_), Err(PgError::AlreadyMapped { .. })) => {}
                        (w, got) => panic!("map one {iova:#x}: model {w:?}, table {got:?}"),
                    }
                } else {
                    let want = m.unmap(iova, g);
                    match t.unmap(iova, g) {
                        Ok(n) => assert_eq!(n, want, "unmap one {iova:#x}"),
                        Err(PgError::NotMapped { .. }) => assert_eq!(want, 0),
                        Err(e) => panic!("unmap one {iova:#x}: {e}"),
                    }
                }
                check(&t, &m, iova);
            }
            Op::Probe { slot, off } => {
                let iova = slot * slot_span + (off % slot_span);
                check(&t, &m, iova);
            }
        }
        let st = t.stats();
        if std::env::var("MODEL_DEBUG").is_ok() {
            eprintln!("{op:?} -> {:?}", st.pages);
        }
        let mapped: u64 = st.pages.iter().map(|(s, n)| s * n).sum();
        assert_eq!(mapped, m.bytes(), "bytes mapped");
    }
    for (s, e) in m.ranges() {
        t.unmap(s, e - s).expect("unmap what the model holds");
    }
    assert_eq!(
        t.stats().tables,
        1,
        "every table but the root is freed once empty"
    );
    drop(t);
    assert_eq!(alloc.stats().allocated, 0, "teardown gives every page back");
}

pub fn check<F: Format>(t: &PageTable<F, Arc<RamArena>>, m: &Model, iova: u64) {
    if iova >= t.format().geometry().map_limit() {
        return;
    }
    let want = m.get(iova);
    let got = t.lookup(iova);
    match (want, got) {
        (None, None) => {}
        (Some((pa, prot)), Some(map)) => {
            assert_eq!(map.pa + (iova - map.iova), pa, "pa of {iova:#x}");
            assert_eq!(t.iova_to_phys(iova), Some(pa));
            assert_eq!(map.prot, t.format().effective(prot), "prot of {iova:#x}");
        }
        (w, g) => panic!("lookup {iova:#x}: model {w:?}, table {g:?}"),
    }
}

//! IOTLB entries of superpages: a 2 MiB or 1 GiB leaf is cached as one entry that answers
//! every address inside it, and a page-selective invalidation of any part of it removes it
//! (spec 6.5.2.3, 6.5.2.4), checked against a model of what may still be stale.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

const MIB2: u64 = 0x20_0000;
const GIB: u64 = 0x4000_0000;
/// An input address aligned to 1 GiB.
const IOVA: u64 = 0x40_0000_0000;

fn stats(rig: &Rig) -> (u64, u64) {
    rig.unit.hit_counts()
}

/// Translations of `addrs` (reads without a PASID, or with `pasid`): their output addresses.
fn outputs(rig: &Rig, pasid: Option<u32>, addrs: &[u64]) -> Vec<u64> {
    addrs
        .iter()
        .map(|&a| rig.unit.translate(req(pasid, a, Access::READ)).unwrap().pa)
        .collect()
}

#[test]
fn a_2mib_second_stage_block_is_one_iotlb_entry_for_all_of_it() {
    let rig = Rig::new();
    let mut ss = rig.ss_table(false);
    ss.map(IOVA, 0x8000_0000, 2 * MIB2, Prot::RW).unwrap();
    assert_eq!(ss.lookup(IOVA).unwrap().size, MIB2, "mapped as blocks");
    rig.set_pasid(0, ss_entry(ss.root(), 7));
    rig.unit.set_stats(true);
    let t = rig
        .unit
        .translate(req(None, IOVA + 0x1_2345, Access::READ))
        .unwrap();
    assert_eq!((t.pa, t.len), (0x8001_2345, MIB2 - 0x1_2345));
    assert_eq!(stats(&rig), (0, 1));
    // Every other page of the block hits that entry, reads and writes alike (the second
    // stage tracks no Dirty flag here).
    let addrs: Vec<u64> = (0..512).map(|p| IOVA + p * 0x1000 + 8).collect();
    let want: Vec<u64> = (0..512).map(|p| 0x8000_0000 + p * 0x1000 + 8).collect();
    assert_eq!(outputs(&rig, None, &addrs), want);
    let w = rig
        .unit
        .translate(req(None, IOVA + MIB2 - 1, Access::WRITE))
        .unwrap();
    assert_eq!((w.pa, w.len), (0x8000_0000 + MIB2 - 1, 1));
    assert_eq!(stats(&rig), (513, 1));
    // The next block is an entry of its own; the run of the first is lengthened over it,
    // one entry at a time.
    rig.unit
        .translate(req(None, IOVA + MIB2, Access::READ))
        .unwrap();
    let r = req(None, IOVA + 0x1000, Access::READ);
    let t = rig.unit.translate(r).unwrap();
    let long = rig.unit.extend_hits(r, t, 4 * MIB2);
    assert_eq!((long.pa, long.len), (0x8000_1000, 2 * MIB2 - 0x1000));
    assert_eq!(stats(&rig), (515, 2));
}

#[test]
fn a_1gib_leaf_of_either_stage_is_one_entry() {
    let rig = Rig::new();
    let mut ss = rig.ss_table(false);
    let mut fs = rig.fs_table();
    // (Outputs above 4 GiB: the gigabyte below it holds the interrupt range.)
    ss.map(IOVA, 4 * GIB, GIB, Prot::RW).unwrap();
    fs.map(IOVA, 5 * GIB, GIB, Prot::RW).unwrap();
    assert_eq!(fs.lookup(IOVA).unwrap().size, GIB);
    rig.set_pasid(0, ss_entry(ss.root(), 7));
    rig.set_pasid(4, fs_entry(fs.root(), 8, false));
    rig.unit.set_stats(true);
    for (pasid, out) in [(None, 4 * GIB), (Some(4), 5 * GIB)] {
        let ends = [IOVA, IOVA + GIB / 2 + 0x10, IOVA + GIB - 1];
        let want: Vec<u64> = ends.iter().map(|a| out + (a - IOVA)).collect();
        assert_eq!(outputs(&rig, pasid, &ends), want);
        let t = rig
            .unit
            .translate(req(pasid, IOVA + 0x1000, Access::READ))
            .unwrap();
        assert_eq!(t.len, GIB - 0x1000);
    }
    assert_eq!(stats(&rig), (6, 2));
}

#[test]
fn a_superpage_whose_output_holds_interrupt_addresses_is_cached_by_the_page() {
    let rig = Rig::new();
    let mut ss = rig.ss_table(false);
    // 0xfee0_0000 is 2 MiB-aligned: the block's first MiB is the interrupt range.
    ss.map(IOVA, 0xfee0_0000, MIB2, Prot::RW).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 7));
    let t = rig
        .unit
        .translate(req(None, IOVA + 0x10_0000, Access::READ))
        .unwrap();
    assert_eq!((t.pa, t.len), (0xfef0_0000, 0x1000));
    assert_eq!(
        reason(rig.unit.translate(req(None, IOVA, Access::READ))),
        FaultReason::Sgn8
    );
}

/// A rig's first-stage and second-stage tables.
type Tables = (
    PageTable<X86, Arc<RamArena>>,
    PageTable<VtdSs, Arc<RamArena>>,
);

/// Where the nested rig's second stage maps the data.
const NESTED_OUT: u64 = 8 * GIB;

/// Builds a nested PASID entry for PASID 2, domain 3, whose first stage maps `IOVA` to a GPA
/// with `s1`-byte leaves, and whose second stage maps that GPA to `NESTED_OUT` with `s2`-byte
/// leaves, two leaves of the larger size; returns the tables (to keep them alive).
fn nested_rig(s1: u64, s2: u64) -> (Rig, Tables) {
    const SHIFT: u64 = 0x1_0000_0000;
    let rig = Rig::new();
    let mut fs = rig.fs_table();
    let mut ss = rig.ss_table(false);
    // The tables' memory, seen by the guest at SHIFT above its host address.
    ss.map(SHIFT + (64 << 20), 64 << 20, 32 << 20, Prot::RW)
        .unwrap();
    let gpa = 16 * GIB;
    let size = 2 * s1.max(s2);
    for at in (0..size).step_by(s2 as usize) {
        ss.map(gpa + at, NESTED_OUT + at, s2, Prot::RW).unwrap();
    }
    for at in (0..size).step_by(s1 as usize) {
        fs.map(IOVA + at, gpa + at, s1, Prot::RW).unwrap();
    }
    // The first stage's links are guest-physical: rewrite each, once all are found.
    let mut links = HashSet::new();
    for at in (0..size).step_by(s1 as usize) {
        for step in fs.trace(IOVA + at) {
            if let softiommu_pgtable::Pte::Table { .. } = step.pte {
                links.insert((step.entry_pa, step.raw));
            }
        }
    }
    for (at, raw) in links {
        rig.mem.store_u64(at, raw + SHIFT).unwrap();
    }
    let e = PasidEntry {
        qw0: PasidQw0::new()
            .with_p(true)
            .with_aw(2)
            .with_pgtt(Pgtt::Nested)
            .with_ssptptr(ss.root() >> 12),
        qw1: PasidQw1::new().with_did(3),
        qw2: PasidQw2::new().with_fsptptr((fs.root() + SHIFT) >> 12),
        ..PasidEntry::default()
    };
    rig.set_pasid(2, e);
    (rig, (fs, ss))
}

#[test]
fn a_nested_entry_covers_the_smaller_of_the_two_leaves() {
    for (s1, s2, cached) in [
        (0x1000, MIB2, 0x1000),
        (MIB2, 0x1000, 0x1000),
        (MIB2, MIB2, MIB2),
        (GIB, MIB2, MIB2),
        (MIB2, GIB, MIB2),
    ] {
        let (rig, _tables) = nested_rig(s1, s2);
        rig.unit.set_stats(true);
        let t = rig
            .unit
            .translate(req(Some(2), IOVA + 0x3008, Access::READ))
            .unwrap();
        assert_eq!(
            (t.pa, t.len),
            (NESTED_OUT + 0x3008, cached - 0x3008 % cached)
        );
        // The rest of that page hits; the page after it walks.
        rig.unit
            .translate(req(Some(2), IOVA + cached - 8, Access::READ))
            .unwrap();
        let after = rig
            .unit
            .translate(req(Some(2), IOVA + cached, Access::READ))
            .unwrap();
        assert_eq!(after.pa, NESTED_OUT + cached);
        assert_eq!(
            stats(&rig),
            (u64::from(cached > 0x1000), 3 - u64::from(cached > 0x1000)),
            "s1 {s1:#x} s2 {s2:#x}"
        );
    }
}

#[test]
fn a_psi_of_one_page_inside_a_cached_2mib_entry_removes_it() {
    let rig = Rig::new();
    let mut ss = rig.ss_table(false);
    ss.map(IOVA, 0x8000_0000, MIB2, Prot::RW).unwrap();
    rig.set_pasid(0, ss_entry(ss.root(), 7));
    assert_eq!(outputs(&rig, None, &[IOVA + 0x5000]), [0x8000_5000]);
    // Software moves the block and, until it invalidates, the IOTLB keeps the old one.
    ss.unmap(IOVA, MIB2).unwrap();
    ss.map(IOVA, 0xa000_0000, MIB2, Prot::RW).unwrap();
    assert_eq!(outputs(&rig, None, &[IOVA]), [0x8000_0000]);
    // A PSI (AM 0) of another domain, or of pages just outside the block, leaves it.
    for (did, addr) in [(8, IOVA + 0x1_3000), (7, IOVA - 0x1000), (7, IOVA + MIB2)] {
        let n = rig.unit.caches().invalidate_iotlb(IotlbScope::Pages {
            did,
            addr,
            size: 0x1000,
        });
        assert_eq!(n, 0);
    }
    assert_eq!(outputs(&rig, None, &[IOVA + 0x1_3000]), [0x8001_3000]);
    // A PSI of one 4 KiB page inside it removes the whole entry: the next access anywhere in
    // the block walks and sees the new mapping.
    let n = rig.unit.caches().invalidate_iotlb(IotlbScope::Pages {
        did: 7,
        addr: IOVA + 0x1_3000,
        size: 0x1000,
    });
    assert_eq!(n, 1);
    assert_eq!(outputs(&rig, None, &[IOVA + 0x1f_f000]), [0xa01f_f000]);
}

#[test]
fn a_pasid_based_psi_of_one_page_inside_a_cached_superpage_removes_it() {
    let rig = Rig::new();
    let mut fs = rig.fs_table();
    fs.map(IOVA, 0x8000_0000, MIB2, Prot::RW).unwrap();
    rig.set_pasid(4, fs_entry(fs.root(), 8, false));
    rig.set_pasid(5, fs_entry(fs.root(), 8, false));
    assert_eq!(outputs(&rig, Some(4), &[IOVA + 0x7000]), [0x8000_7000]);
    assert_eq!(outputs(&rig, Some(5), &[IOVA + 0x7000]), [0x8000_7000]);
    fs.unmap(IOVA, MIB2).unwrap();
    fs.map(IOVA, 0xa000_0000, MIB2, Prot::RW).unwrap();
    // Another PASID's invalidation leaves PASID 4's entry.
    let pages = |pasid| IotlbScope::PasidPages {
        did: 8,
        pasid,
        addr: IOVA + 0x10_0000,
        size: 0x1000,
    };
    assert_eq!(rig.unit.caches().invalidate_iotlb(pages(6)), 0);
    assert_eq!(outputs(&rig, Some(4), &[IOVA]), [0x8000_0000]);
    assert_eq!(rig.unit.caches().invalidate_iotlb(pages(4)), 1);
    assert_eq!(outputs(&rig, Some(4), &[IOVA]), [0xa000_0000]);
    // PASID 5 still has the old entry until its own invalidation.
    assert_eq!(outputs(&rig, Some(5), &[IOVA]), [0x8000_0000]);
    assert_eq!(rig.unit.caches().invalidate_iotlb(pages(5)), 1);
    assert_eq!(outputs(&rig, Some(5), &[IOVA]), [0xa000_0000]);
}

/// How one of the three 2 MiB regions of the window is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    /// Not mapped.
    Unmapped,
    /// One 2 MiB leaf to output `out`.
    Block(u64),
    /// 512 4 KiB leaves, page `i` to output `out + (i * 7 % 512) * 4 KiB`.
    Pages(u64),
}

/// Regions in the window at `IOVA`.
const REGIONS: u64 = 3;
const PAGES: u64 = REGIONS * 512;

impl Region {
    /// Output address of page `i` of the region.
    fn page_out(self, i: u64) -> Option<u64> {
        match self {
            Region::Unmapped => None,
            Region::Block(out) => Some(out + i * 0x1000),
            Region::Pages(out) => Some(out + (i * 7 % 512) * 0x1000),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Region `r` is unmapped and mapped anew as `to`.
    Remap { r: u64, to: Region },
    /// Page-selective invalidation of the 2^`am` pages around page `page` of the window.
    Invalidate { page: u64, am: u8 },
    /// Invalidation of the whole domain (or PASID).
    InvalidateAll,
    /// A read of `page`, offset `off`.
    Access { page: u64, off: u64 },
}

fn region() -> impl Strategy<Value = Region> {
    prop_oneof![
        Just(Region::Unmapped),
        (1u64..4).prop_map(|k| Region::Block(0x8000_0000 + k * MIB2)),
        (1u64..4).prop_map(|k| Region::Pages(0xa000_0000 + k * MIB2)),
    ]
}

/// A page of the window: mostly one of a few at the ends and the middle of each region, so
/// that accesses often land in the pages invalidations name.
fn page() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0..REGIONS, prop::sample::select(vec![0u64, 1, 255, 256, 510, 511]))
            .prop_map(|(r, i)| r * 512 + i),
        1 => 0..PAGES,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..REGIONS, region()).prop_map(|(r, to)| Op::Remap { r, to }),
        3 => (page(), prop_oneof![3 => 0u8..2, 1 => 0u8..12])
            .prop_map(|(page, am)| Op::Invalidate { page, am }),
        1 => Just(Op::InvalidateAll),
        6 => (page(), 0u64..0x1000).prop_map(|(page, off)| Op::Access { page, off }),
    ]
}

/// Runs `ops` on second-stage tables (requests without a PASID, IOTLB PSI) or first-stage
/// ones (PASID 4, PASID-based PSI), checking every access against the model: a page changed
/// since the last invalidation that reached it may be answered from either mapping; any other
/// must be answered as the tables now say.
fn check_against_model(first_stage: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let rig = Rig::new();
    let mut ss = rig.ss_table(false);
    let mut fs = rig.fs_table();
    let (pasid, did) = if first_stage {
        rig.set_pasid(4, fs_entry(fs.root(), 9, false));
        (Some(4), 9)
    } else {
        rig.set_pasid(0, ss_entry(ss.root(), 9));
        (None, 9)
    };
    let mut regions = [Region::Unmapped; REGIONS as usize];
    let mut changed: HashSet<u64> = HashSet::new();
    for &op in ops {
        match op {
            Op::Remap { r, to } => {
                let at = IOVA + r * MIB2;
                // Unmapping what is not mapped is no error to the model.
                let _ = if first_stage {
                    fs.unmap(at, MIB2)
                } else {
                    ss.unmap(at, MIB2)
                };
                let mut put = |iova: u64, out: u64, size: u64| {
                    if first_stage {
                        fs.map(iova, out, size, Prot::RW).unwrap();
                    } else {
                        ss.map(iova, out, size, Prot::RW).unwrap();
                    }
                };
                match to {
                    Region::Unmapped => {}
                    Region::Block(out) => put(at, out, MIB2),
                    Region::Pages(_) => {
                        for i in 0..512 {
                            put(at + i * 0x1000, to.page_out(i).unwrap(), 0x1000);
                        }
                    }
                }
                regions[r as usize] = to;
                changed.extend(r * 512..(r + 1) * 512);
            }
            Op::Invalidate { page, am } => {
                let pages = 1u64 << am;
                let first = page & !(pages - 1);
                let (addr, size) = (IOVA + first * 0x1000, pages * 0x1000);
                let scope = match pasid {
                    Some(pasid) => IotlbScope::PasidPages {
                        did,
                        pasid,
                        addr,
                        size,
                    },
                    None => IotlbScope::Pages { did, addr, size },
                };
                rig.unit.caches().invalidate_iotlb(scope);
                for p in first..first + pages {
                    changed.remove(&p);
                }
            }
            Op::InvalidateAll => {
                let scope = match pasid {
                    Some(pasid) => IotlbScope::Pasid { did, pasid },
                    None => IotlbScope::Domain(did),
                };
                rig.unit.caches().invalidate_iotlb(scope);
                changed.clear();
            }
            Op::Access { page, off } => {
                let got = rig
                    .unit
                    .translate(req(pasid, IOVA + page * 0x1000 + off, Access::READ));
                if changed.contains(&page) {
                    continue;
                }
                let region = regions[(page / 512) as usize];
                match (region.page_out(page % 512), got) {
                    (Some(out), Ok(t)) => {
                        prop_assert_eq!(t.pa, out + off, "page {} {:?}", page, region);
                        let leaf = if matches!(region, Region::Block(_)) {
                            MIB2
                        } else {
                            0x1000
                        };
                        prop_assert_eq!(t.len, leaf - (page * 0x1000 + off) % leaf);
                    }
                    (None, Err(_)) => {}
                    (want, got) => {
                        prop_assert!(false, "page {page}: {want:?} against {got:?}")
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_access_inside_an_invalidated_range_is_served_from_a_stale_entry(
        first_stage in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        check_against_model(first_stage, &ops)?;
    }
}

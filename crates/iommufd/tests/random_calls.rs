//! Random ioctls: any numbers and structure bytes (the fuzz target's body under proptest),
//! and random sequences of valid IOAS calls checked against a model of the areas, read back
//! through the domain and through an access.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{Buffer, vtd};
use proptest::prelude::*;
use softiommu_iommufd::{MAP_FIXED_IOVA as FIXED, MAP_READABLE, MAP_WRITEABLE};

const RW: u32 = MAP_READABLE | MAP_WRITEABLE;
const PAGE: u64 = 4096;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_ioctl_bytes_leave_no_panic_and_no_leak(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        softiommu_iommufd::fuzz::ioctls(&data);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Map { page: u64, pages: u64 },
    Unmap { page: u64, pages: u64 },
    UnmapAll,
    Copy { from: u64, to: u64, pages: u64 },
    Attach,
    Detach,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..64u64, 1..8u64).prop_map(|(page, pages)| Op::Map { page, pages }),
        3 => (0..64u64, 1..16u64).prop_map(|(page, pages)| Op::Unmap { page, pages }),
        1 => Just(Op::UnmapAll),
        2 => (0..64u64, 64..128u64, 1..8u64).prop_map(|(from, to, pages)| Op::Copy { from, to, pages }),
        1 => Just(Op::Attach),
        1 => Just(Op::Detach),
    ]
}

/// The model: areas by first page, (pages, backing page of the buffer).
type Model = BTreeMap<u64, (u64, u64)>;

fn overlaps(m: &Model, page: u64, pages: u64) -> bool {
    m.iter()
        .any(|(&s, &(n, _))| s < page + pages && page < s + n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn valid_calls_agree_with_a_model_of_the_areas(ops in proptest::collection::vec(op(), 1..40)) {
        let p = vtd(1);
        let ctx = p.context(1 << 30);
        let ioas = ctx.ioas_alloc().unwrap();
        let dev = ctx.device_bind(p.devs[0]).unwrap();
        let mut buf = Buffer::new(128 * PAGE as usize, 4096);
        for (i, b) in buf.bytes_mut().iter_mut().enumerate() {
            *b = (i / 8) as u8 ^ (i / 4096) as u8;
        }
        let access = ctx.access_create(ioas, 0, Arc::new(Quiet)).unwrap();
        let mut model = Model::new();
        let mut attached = false;
        for op in ops {
            match op {
                Op::Map { page, pages } => {
                    let r = ctx.ioas_map(ioas, RW | FIXED, buf.addr((page * PAGE) as usize), pages * PAGE, page * PAGE);
                    if overlaps(&model, page, pages) {
                        prop_assert_eq!(r.unwrap_err().errno(), libc::EEXIST);
                    } else {
                        prop_assert_eq!(r.unwrap(), page * PAGE);
                        model.insert(page, (pages, page));
                    }
                }
                Op::Unmap { page, pages } => {
                    let r = ctx.ioas_unmap(ioas, page * PAGE, pages * PAGE);
                    let hit: Vec<u64> = model.iter()
                        .filter(|(s, (n, _))| **s < page + pages && page < **s + *n)
                        .map(|(s, _)| *s).collect();
                    let split = hit.iter().any(|s| *s < page || s + model[s].0 > page + pages);
                    if hit.is_empty() || split {
                        prop_assert_eq!(r.unwrap_err().errno(), libc::ENOENT);
                    } else {
                        let bytes: u64 = hit.iter().map(|s| model[s].0 * PAGE).sum();
                        prop_assert_eq!(r.unwrap(), bytes);
                        for s in hit { model.remove(&s); }
                    }
                }
                Op::UnmapAll => {
                    let bytes: u64 = model.values().map(|(n, _)| n * PAGE).sum();
                    prop_assert_eq!(ctx.ioas_unmap(ioas, 0, u64::MAX).unwrap(), bytes);
                    model.clear();
                }
                Op::Copy { from, to, pages } => {
                    let r = ctx.ioas_copy(ioas, ioas, RW | FIXED, to * PAGE, from * PAGE, pages * PAGE);
                    // Contiguous areas must cover [from, from + pages).
                    let mut at = from;
                    let mut pieces = Vec::new();
                    while at < from + pages {
                        match model.range(..=at).next_back() {
                            Some((&s, &(n, back))) if at < s + n => {
                                let end = (s + n).min(from + pages);
                                pieces.push((end - at, back + (at - s)));
                                at = end;
                            }
                            _ => break,
                        }
                    }
                    if at < from + pages {
                        prop_assert_eq!(r.unwrap_err().errno(), libc::ENOENT);
                    } else if overlaps(&model, to, pages) {
                        prop_assert_eq!(r.unwrap_err().errno(), libc::EEXIST);
                    } else {
                        prop_assert_eq!(r.unwrap(), to * PAGE);
                        let mut t = to;
                        for (n, back) in pieces {
                            model.insert(t, (n, back));
                            t += n;
                        }
                    }
                }
                Op::Attach => {
                    let r = ctx.device_attach(dev, ioas);
                    prop_assert_eq!(r.is_ok(), !attached);
                    attached = true;
                }
                Op::Detach => {
                    let r = ctx.device_detach(dev);
                    prop_assert_eq!(r.is_ok(), attached);
                    attached = false;
                }
            }
            let want: Vec<(u64, u64)> = model.iter().map(|(&s, &(n, _))| (s * PAGE, (s + n) * PAGE - 1)).collect();
            prop_assert_eq!(ctx.ioas_mappings(ioas).unwrap(), want);
            // With a domain, every mapped page is pinned and translates to its backing page.
            let pinned: std::collections::BTreeSet<u64> = model.values().flat_map(|&(n, b)| b..b + n).collect();
            prop_assert_eq!(p.host.pinned_pages(), if attached { pinned.len() as u64 } else { 0 });
            // An access reads what the model says is there, and nothing where it is not.
            for (&s, &(n, back)) in &model {
                let mut got = [0u8; 16];
                access.read((s + n - 1) * PAGE + 8, &mut got).unwrap();
                let at = ((back + n - 1) * PAGE + 8) as usize;
                prop_assert_eq!(&got[..], &buf.bytes()[at..at + 16]);
            }
            if let Some(hole) = (0..128u64).find(|p| !model.iter().any(|(&s, &(n, _))| s <= *p && *p < s + n)) {
                prop_assert_eq!(access.read(hole * PAGE, &mut [0u8; 4]).unwrap_err().errno(), libc::ENOENT);
            }
            if attached {
                for (&s, &(n, back)) in &model {
                    let last = s + n - 1;
                    let t = p.host.iommu().dma(p.devs[0], None, last * PAGE + 8, softiommu_pgtable::Access::READ).unwrap();
                    prop_assert_eq!(t.pa, buf.addr(((back + n - 1) * PAGE + 8) as usize));
                }
            }
        }
        drop(access);
        drop(ctx);
        prop_assert_eq!(p.host.pinned_pages(), 0);
    }
}

/// An access owner with nothing to unpin.
struct Quiet;

impl softiommu_iommufd::AccessOps for Quiet {
    fn unmap(&self, _: &softiommu_iommufd::Access, _: u64, _: u64) {}
}

//! What an adapter hands vm-memory for one access: an IOTLB that maps the access's range
//! exactly as the model answers it.
//!
//! A single run of pages the model maps with one output offset and rights is handed out as
//! an IOTLB mapping every IOVA so (vm-memory looks at nothing outside the access). Each
//! thread keeps a few of these, so that an access answered as before reuses one built then
//! and allocates nothing. Beside each, the thread keeps the IOVA range in which the model
//! answered one requester's accesses so from its own IOTLB, and the epoch of that IOTLB then
//! (see [`Epoch`](softiommu_pgtable::tlb::Epoch)): while the model's epoch reads the same,
//! those pages are answered the same by the model, so they are answered without asking it.
//! Every other access asks the model: a miss, a refusal, a page answered by a walk, any
//! access while the model's checking mode or counting is on (turning either on or off moves
//! the epoch).

use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;

use softiommu_pgtable::tlb::Epoch;
use vm_memory::iommu::Iotlb;
use vm_memory::{GuestAddress, Permissions};

/// The translations of one access, as vm-memory's IOTLB hands them out: over the access's
/// range, the runs the model translated.
#[derive(Debug, Clone)]
pub struct Run(Rc<Iotlb>);

impl Deref for Run {
    type Target = Iotlb;

    fn deref(&self) -> &Iotlb {
        &self.0
    }
}

/// A mapping of `len` bytes from `iova` to `pa`, for `perm`.
pub(super) type Mapping = (u64, u64, u64, Permissions);

/// Who asks, besides the model: the requester (its IDs packed by the adapter) and the
/// access it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Asker {
    /// The requester's IDs, as the adapter packs them.
    pub tag: u64,
    /// The access asked for.
    pub access: Permissions,
}

const SLOTS: usize = 16;

/// A kept run: an IOTLB mapping every IOVA with output offset `diff` for `perm`, and the
/// IOVA range `[lo, hi)` (empty when `lo > hi`) in which the model answered the accesses of
/// requester `tag` so, for `perm`, from its IOTLB, under the epoch `cache`/`removed`.
#[repr(align(64))]
struct Kept {
    tag: u64,
    cache: u64,
    removed: u64,
    lo: u64,
    hi: u64,
    tlb: Rc<Iotlb>,
    diff: u64,
    perm: Permissions,
}

thread_local! {
    static CACHE: RefCell<[Option<Kept>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
}

/// The slot of the runs `asker` reaches around `iova`: one per 2 MiB of IOVA space per
/// requester. (Requesters of different models may share one; what a slot holds is checked
/// in full before it is used.)
#[inline(always)]
fn slot(asker: Asker, iova: u64) -> usize {
    ((iova >> 21) ^ asker.tag ^ asker.tag >> 16) as usize % SLOTS
}

/// Adds `m` to `tlb`.
pub(super) fn insert(tlb: &mut Iotlb, (iova, pa, len, perm): Mapping) -> Result<(), String> {
    let n = usize::try_from(len).map_err(|_| "run too long".to_string())?;
    tlb.set_mapping(GuestAddress(iova), GuestAddress(pa), n, perm)
        .map_err(|e| e.to_string())
}

/// A run of the runs in `tlb`.
pub(super) fn many(tlb: Iotlb) -> Run {
    Run(Rc::new(tlb))
}

/// The run this thread keeps that the model answered `[iova, end)` in for `asker` from its
/// IOTLB under `epoch`, if there is one: the model's answer now, while its epoch reads
/// `epoch`.
#[inline(always)]
pub(super) fn answered(asker: Asker, epoch: Epoch, iova: u64, end: u64) -> Option<Run> {
    let i = slot(asker, iova);
    CACHE
        .try_with(move |c| {
            let c = c.try_borrow().ok()?;
            let k = c.get(i)?.as_ref()?;
            (k.tag == asker.tag
                && k.perm == asker.access
                && k.removed == epoch.removed
                && k.cache == epoch.cache
                && k.lo <= iova
                && end <= k.hi)
                .then(|| Run(k.tlb.clone()))
        })
        .ok()
        .flatten()
}

/// A run holding the one mapping `m` the model has just given `asker` for an access at
/// `iova`, having read `epoch` before it began; `hit` when it answered all of `m` from its
/// IOTLB alone. It is the run this thread keeps in the access's slot when that has `m`'s offset
/// and rights, or is made anew in its place.
pub(super) fn single(
    asker: Asker,
    iova: u64,
    m: Mapping,
    epoch: Epoch,
    hit: bool,
) -> Result<Run, String> {
    let (lo, pa, len, perm) = m;
    let diff = pa.wrapping_sub(lo);
    let hi = lo.saturating_add(len);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let kept = &mut c[slot(asker, iova)];
        let k = match kept {
            Some(k) if k.diff == diff && k.perm == perm => k,
            _ => {
                // Every IOVA vm-memory can name (it counts lengths in `usize`).
                let mut tlb = Iotlb::new();
                tlb.set_mapping(GuestAddress(0), GuestAddress(diff), usize::MAX, perm)
                    .map_err(|e| e.to_string())?;
                kept.insert(Kept {
                    tag: 0,
                    cache: 0,
                    removed: 0,
                    lo: u64::MAX,
                    hi: 0,
                    tlb: Rc::new(tlb),
                    diff,
                    perm,
                })
            }
        };
        if hit {
            let same = k.tag == asker.tag && k.cache == epoch.cache && k.removed == epoch.removed;
            if same && k.lo <= k.hi && lo <= k.hi && k.lo <= hi {
                // Touching pages answered under the same epoch: one range, all answered.
                (k.lo, k.hi) = (k.lo.min(lo), k.hi.max(hi));
            } else {
                (k.tag, k.cache, k.removed, k.lo, k.hi) =
                    (asker.tag, epoch.cache, epoch.removed, lo, hi);
            }
        }
        Ok(Run(k.tlb.clone()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where `run` sends `iova` for `access`, if it maps it.
    fn target(run: Run, iova: u64, access: Permissions) -> Option<u64> {
        let mut it = Iotlb::lookup(run, GuestAddress(iova), 1, access).ok()?;
        it.next().map(|m| m.base.0)
    }

    const A: Asker = Asker {
        tag: 3,
        access: Permissions::Read,
    };
    const E: Epoch = Epoch {
        cache: 1,
        removed: 0,
    };

    /// [`single`] for a page answered by a walk.
    fn walked(iova: u64, pa: u64, perm: Permissions) -> Run {
        single(A, iova, (iova, pa, 0x1000, perm), E, false).unwrap()
    }

    #[test]
    fn a_run_maps_what_the_model_answered_last() {
        std::thread::spawn(|| {
            let r = walked(0x1000, 0x5000, Permissions::Read);
            assert_eq!(target(r, 0x1800, Permissions::Read), Some(0x5800));
            // The same page answered elsewhere (after an invalidation): the new answer.
            let r = walked(0x1000, 0x9000, Permissions::Read);
            assert_eq!(target(r, 0x1800, Permissions::Read), Some(0x9800));
            // Answered with fewer rights: a write is refused.
            let r = walked(0x1000, 0x9000, Permissions::Read);
            assert_eq!(target(r, 0x1800, Permissions::Write), None);
            let r = walked(0x1000, 0x9000, Permissions::ReadWrite);
            assert_eq!(target(r, 0x1800, Permissions::Write), Some(0x9800));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_run_handed_out_stays_as_it_was() {
        std::thread::spawn(|| {
            let held = walked(0x1000, 0x5000, Permissions::Read);
            // The next page follows on: the same run.
            let next = walked(0x2000, 0x6000, Permissions::Read);
            assert_eq!(target(next, 0x2000, Permissions::Read), Some(0x6000));
            // A page elsewhere takes the slot; the run held maps as before.
            let other = walked(0x3000, 0x1_0000, Permissions::Read);
            assert_eq!(target(other, 0x3000, Permissions::Read), Some(0x1_0000));
            assert_eq!(target(held, 0x1000, Permissions::Read), Some(0x5000));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn pages_the_model_answered_from_its_iotlb_are_answered_while_its_epoch_holds() {
        std::thread::spawn(|| {
            // Answered by a walk: not kept as answered.
            walked(0x1000, 0x5000, Permissions::Read);
            assert!(answered(A, E, 0x1000, 0x1100).is_none());
            // Answered from the IOTLB, page after page: one answered range.
            for p in 1..4u64 {
                let m = (p << 12, 0x4000 + (p << 12), 0x1000, Permissions::Read);
                single(A, p << 12, m, E, true).unwrap();
            }
            let r = answered(A, E, 0x1800, 0x3800).unwrap();
            assert_eq!(target(r, 0x3000, Permissions::Read), Some(0x7000));
            // Not for another asker, another access, another epoch or beyond the range.
            let other = Asker { tag: 4, ..A };
            assert!(answered(other, E, 0x1000, 0x1100).is_none());
            let write = Asker {
                access: Permissions::Write,
                ..A
            };
            assert!(answered(write, E, 0x1000, 0x1100).is_none());
            let moved = Epoch { removed: 1, ..E };
            assert!(answered(A, moved, 0x1000, 0x1100).is_none());
            assert!(answered(A, Epoch { cache: 2, ..E }, 0x1000, 0x1100).is_none());
            assert!(answered(A, E, 0x3800, 0x4800).is_none());
            // Answered again under the new epoch: only that page, until more are.
            let m = (0x2000, 0x6000, 0x1000, Permissions::Read);
            single(A, 0x2000, m, moved, true).unwrap();
            assert!(answered(A, moved, 0x2000, 0x3000).is_some());
            assert!(answered(A, moved, 0x1000, 0x2000).is_none());
            assert!(answered(A, E, 0x1000, 0x2000).is_none());
            // A page mapped elsewhere takes the slot: nothing of the old run is answered.
            single(
                A,
                0x2000,
                (0x2000, 0x9000, 0x1000, Permissions::Read),
                moved,
                false,
            )
            .unwrap();
            assert!(answered(A, moved, 0x2000, 0x3000).is_none());
        })
        .join()
        .unwrap();
    }
}

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

use std::cell::Cell;
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

/// A kept run, in one cache line: an IOTLB mapping every IOVA with output offset `diff` for
/// `perm` (none yet when `tlb` is empty), and the IOVA range `[lo, hi)` (empty when
/// `lo > hi`) in which the model answered the accesses of requester `tag` so, for `perm`,
/// from its IOTLB, under the epoch `cache`/`removed`.
#[repr(align(64))]
struct Kept {
    tag: Cell<u64>,
    cache: Cell<u64>,
    removed: Cell<u64>,
    lo: Cell<u64>,
    hi: Cell<u64>,
    diff: Cell<u64>,
    perm: Cell<Permissions>,
    tlb: Cell<Option<Rc<Iotlb>>>,
}

const _: () = assert!(
    std::mem::size_of::<Kept>() == 64,
    "a kept run is one cache line"
);

impl Kept {
    /// A slot holding nothing.
    const fn empty() -> Kept {
        Kept {
            tag: Cell::new(0),
            cache: Cell::new(0),
            removed: Cell::new(0),
            lo: Cell::new(u64::MAX),
            hi: Cell::new(0),
            diff: Cell::new(0),
            perm: Cell::new(Permissions::No),
            tlb: Cell::new(None),
        }
    }

    /// The run's IOTLB, if it has one.
    #[inline(always)]
    fn run(&self) -> Option<Run> {
        let tlb = self.tlb.take()?;
        let run = Run(tlb.clone());
        self.tlb.set(Some(tlb));
        Some(run)
    }
}

thread_local! {
    static CACHE: [Kept; SLOTS] = const { [const { Kept::empty() }; SLOTS] };
}

/// The slot of the runs `asker` reaches around `iova`: one per 2 MiB of IOVA space per
/// requester and access, so that a device's reads and writes in one region keep theirs.
/// (Others may share one; what a slot holds is checked in full before it is used.)
#[inline(always)]
fn slot(asker: Asker, iova: u64) -> usize {
    let access = asker.access as u64;
    ((iova >> 21) ^ asker.tag ^ asker.tag >> 16 ^ access << 2) as usize % SLOTS
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
            let k = c.get(i)?;
            if k.tag.get() == asker.tag
                && k.perm.get() == asker.access
                && k.removed.get() == epoch.removed
                && k.cache.get() == epoch.cache
                && k.lo.get() <= iova
                && end <= k.hi.get()
            {
                k.run()
            } else {
                None
            }
        })
        .ok()
        .flatten()
}

/// A run holding the one mapping `m` the model has just given `asker` for an access at
/// `iova`, having read `epoch` before it began; `hit` when it answered all of `m` from its
/// IOTLB alone. It is the run this thread keeps in the access's slot when that has `m`'s
/// offset and rights, or is made anew in its place.
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
    let made = |k: &Kept| -> Result<Run, String> {
        match k.run() {
            Some(run) if k.diff.get() == diff && k.perm.get() == perm => Ok(run),
            _ => {
                // Every IOVA vm-memory can name (it counts lengths in `usize`).
                let mut tlb = Iotlb::new();
                tlb.set_mapping(GuestAddress(0), GuestAddress(diff), usize::MAX, perm)
                    .map_err(|e| e.to_string())?;
                let tlb = Rc::new(tlb);
                k.tlb.set(Some(tlb.clone()));
                k.diff.set(diff);
                k.perm.set(perm);
                k.lo.set(u64::MAX);
                k.hi.set(0);
                Ok(Run(tlb))
            }
        }
    };
    let kept = |c: &[Kept; SLOTS]| -> Result<Run, String> {
        let k = c.get(slot(asker, iova)).ok_or("no slot")?;
        let run = made(k)?;
        if hit {
            let (klo, khi) = (k.lo.get(), k.hi.get());
            let same = k.tag.get() == asker.tag
                && k.cache.get() == epoch.cache
                && k.removed.get() == epoch.removed;
            if same && klo <= khi && lo <= khi && klo <= hi {
                // Touching pages answered under the same epoch: one range, all answered.
                k.lo.set(klo.min(lo));
                k.hi.set(khi.max(hi));
            } else {
                k.tag.set(asker.tag);
                k.cache.set(epoch.cache);
                k.removed.set(epoch.removed);
                k.lo.set(lo);
                k.hi.set(hi);
            }
        }
        Ok(run)
    };
    CACHE
        .try_with(kept)
        .map_err(|_| "the thread's runs are gone".to_string())?
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

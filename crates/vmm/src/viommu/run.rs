//! What an adapter hands vm-memory for one access: an IOTLB in which the access's range
//! holds exactly what the model has just answered for it. Single-mapping ones are kept per
//! thread, by the mapping's offset and rights, so that an access the model answers as
//! before reuses one built then and allocates nothing; the model is still asked every
//! time. Finding a kept run that covers the answer is inline and only reads; growing or
//! replacing one is out of line.

use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;

use vm_memory::iommu::Iotlb;
use vm_memory::{GuestAddress, Permissions};

/// The translations of one access, as vm-memory's IOTLB hands them out: over the access's
/// range, the runs the model has just translated.
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

const SLOTS: usize = 8;

/// A kept run: the output-minus-input offset and rights of its one mapping, the IOVA range
/// `[lo, hi)` it covers, and the IOTLB holding it.
struct Kept {
    diff: u64,
    perm: Permissions,
    lo: u64,
    hi: u64,
    tlb: Rc<Iotlb>,
}

thread_local! {
    static CACHE: RefCell<[Option<Kept>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
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

/// A run holding the one mapping `m` the model has just given. It comes from the run this
/// thread keeps for `m`'s offset and rights when that run covers `m` (it maps `m`'s range
/// exactly as `m` does, and vm-memory looks at nothing outside the access), grown by `m`
/// when it touches it, or is made anew.
#[inline]
pub(super) fn single(m: Mapping) -> Result<Run, String> {
    let (iova, pa, len, perm) = m;
    let diff = pa.wrapping_sub(iova);
    let end = iova.saturating_add(len);
    let slot = (diff >> 12) as usize % SLOTS;
    let kept = CACHE.with(|c| {
        let c = c.borrow();
        match &c[slot] {
            Some(k) if k.diff == diff && k.perm == perm && k.lo <= iova && end <= k.hi => {
                Some(Run(k.tlb.clone()))
            }
            _ => None,
        }
    });
    match kept {
        Some(run) => Ok(run),
        None => keep(m, diff, end, slot),
    }
}

/// [`single`] when the run kept for `m`'s offset and rights does not cover it: that run
/// grown by `m` when it touches it and is not in use elsewhere, or a new one kept in its
/// place.
#[cold]
#[inline(never)]
fn keep(m: Mapping, diff: u64, end: u64, slot: usize) -> Result<Run, String> {
    let (iova, _, _, perm) = m;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(k) = &mut c[slot]
            && k.diff == diff
            && k.perm == perm
            && iova <= k.hi
            && k.lo <= end
            && let Some(tlb) = Rc::get_mut(&mut k.tlb)
        {
            insert(tlb, m)?;
            (k.lo, k.hi) = (k.lo.min(iova), k.hi.max(end));
            return Ok(Run(k.tlb.clone()));
        }
        let mut tlb = Iotlb::new();
        insert(&mut tlb, m)?;
        let tlb = Rc::new(tlb);
        c[slot] = Some(Kept {
            diff,
            perm,
            lo: iova,
            hi: end,
            tlb: tlb.clone(),
        });
        Ok(Run(tlb))
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

    #[test]
    fn a_run_maps_what_the_model_answered_last() {
        std::thread::spawn(|| {
            let r = single((0x1000, 0x5000, 0x1000, Permissions::Read)).unwrap();
            assert_eq!(target(r, 0x1800, Permissions::Read), Some(0x5800));
            // The same page answered elsewhere (after an invalidation): the new answer.
            let r = single((0x1000, 0x9000, 0x1000, Permissions::Read)).unwrap();
            assert_eq!(target(r, 0x1800, Permissions::Read), Some(0x9800));
            // Answered with fewer rights: a write is refused.
            let r = single((0x1000, 0x9000, 0x1000, Permissions::Read)).unwrap();
            assert_eq!(target(r, 0x1800, Permissions::Write), None);
            let r = single((0x1000, 0x9000, 0x1000, Permissions::ReadWrite)).unwrap();
            assert_eq!(target(r, 0x1800, Permissions::Write), Some(0x9800));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_run_in_use_is_left_as_it_was_handed_out() {
        std::thread::spawn(|| {
            let held = single((0x1000, 0x5000, 0x1000, Permissions::Read)).unwrap();
            // The next page follows on: a run that maps it, the one handed out unchanged.
            let next = single((0x2000, 0x6000, 0x1000, Permissions::Read)).unwrap();
            assert_eq!(target(next, 0x2000, Permissions::Read), Some(0x6000));
            assert_eq!(target(held.clone(), 0x2000, Permissions::Read), None);
            assert_eq!(target(held, 0x1000, Permissions::Read), Some(0x5000));
            // Once nothing holds it, the kept run grows over both pages.
            let grown = single((0x1000, 0x5000, 0x1000, Permissions::Read)).unwrap();
            drop(grown);
            let r = single((0x3000, 0x7000, 0x1000, Permissions::Read)).unwrap();
            assert_eq!(target(r.clone(), 0x3000, Permissions::Read), Some(0x7000));
            assert_eq!(target(r, 0x2000, Permissions::Read), Some(0x6000));
        })
        .join()
        .unwrap();
    }
}

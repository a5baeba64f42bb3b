//! What an adapter hands vm-memory for one access: an IOTLB in which the access's range
//! holds exactly what the model has just answered for it. Single-mapping ones are kept per
//! thread, by the mapping's offset and rights, so that an access the model answers as
//! before reuses one built then and allocates nothing; the model is still asked every
//! time.

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
    static CACHE: RefCell<Vec<Option<Kept>>> = RefCell::new((0..SLOTS).map(|_| None).collect());
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
pub(super) fn single(m: Mapping) -> Result<Run, String> {
    let (iova, pa, len, perm) = m;
    let diff = pa.wrapping_sub(iova);
    let end = iova.saturating_add(len);
    let slot = (diff >> 12) as usize % SLOTS;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(k) = &mut c[slot]
            && k.diff == diff
            && k.perm == perm
        {
            if k.lo <= iova && end <= k.hi {
                return Ok(Run(k.tlb.clone()));
            }
            if iova <= k.hi
                && k.lo <= end
                && let Some(tlb) = Rc::get_mut(&mut k.tlb)
            {
                insert(tlb, m)?;
                (k.lo, k.hi) = (k.lo.min(iova), k.hi.max(end));
                return Ok(Run(k.tlb.clone()));
            }
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

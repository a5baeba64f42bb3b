//! What an adapter hands vm-memory for one access: an IOTLB holding only the runs the model
//! translated for it. Single-run ones are kept per thread, keyed by their one mapping, so
//! that an access the model answers as before reuses the one built then and allocates
//! nothing; the model is still asked every time.

use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;

use vm_memory::iommu::Iotlb;
use vm_memory::{GuestAddress, Permissions};

/// The translations of one access, as vm-memory's IOTLB hands them out: the runs the model
/// translated, and nothing else.
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

const SLOTS: usize = 64;

/// One kept run and the mapping it holds.
type Slot = Option<(Mapping, Rc<Iotlb>)>;

thread_local! {
    static CACHE: RefCell<Vec<Slot>> = RefCell::new(vec![None; SLOTS]);
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

/// A run of the one mapping `m`: the one this thread built last for the same mapping, if
/// it is still kept.
pub(super) fn single(m: Mapping) -> Result<Run, String> {
    let slot = (m.0 >> 12) as usize % SLOTS;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((k, tlb)) = &c[slot]
            && *k == m
        {
            return Ok(Run(tlb.clone()));
        }
        let mut tlb = Iotlb::new();
        insert(&mut tlb, m)?;
        let tlb = Rc::new(tlb);
        c[slot] = Some((m, tlb.clone()));
        Ok(Run(tlb))
    })
}

//! vIOMMUs: a VT-d or SMMUv3 unit model whose physical space is a guest's RAM, brought up
//! by this project's own driver and IOMMU core running against guest memory, as a guest
//! kernel would; and for each device behind it an adapter that is vm-memory's
//! [`Iommu`](vm_memory::iommu::Iommu), so that a VMM's [`IommuMemory`](vm_memory::iommu::IommuMemory) translates the
//! device's DMA through the model.
//!
//! Every translation goes to the model: its IOTLB on a hit, a walk of the guest's tables
//! on a miss, and on a refusal the fault or event the model records where the guest's
//! driver finds it. No access is answered without the model, so an invalidation the guest
//! carries out is seen at once, and one it forgets leaves the model's stale entry in use,
//! as on hardware.

mod guest_os;
mod run;
mod smmu;
pub(crate) mod smmu_guest;
pub(crate) mod smmu_trap;
pub(crate) mod vtd;

use softiommu_pgtable::Access;
use vm_memory::iommu::{Error as IommuError, IotlbIterator, IovaRange};
use vm_memory::{GuestAddress, Permissions, iommu::Iotlb};

use run::{Mapping, insert, many, single};

pub use guest_os::GuestOs;
pub use run::Run;
pub use smmu::{SmmuIommu, SmmuViommu};
pub use vtd::{VtdIommu, VtdViommu};

/// A model's answer to one request at an address: the output address and the bytes to
/// the end of its page; or why it refused.
type Step = Result<(u64, u64), String>;

/// Translates `[iova, iova + length)` for `access` through `translate`, merging contiguous
/// runs; a refusal anywhere refuses the whole access.
fn translate_range(
    iova: GuestAddress,
    length: usize,
    access: Permissions,
    mut translate: impl FnMut(u64, Access) -> Step,
) -> Result<IotlbIterator<Run>, IommuError> {
    let range = IovaRange { base: iova, length };
    let fail = |reason: String| IommuError::CannotResolve {
        iova_range: range.clone(),
        reason,
    };
    let end = u64::try_from(length)
        .ok()
        .and_then(|l| iova.0.checked_add(l))
        .ok_or_else(|| fail("the range wraps".into()))?;
    let kinds: &[Access] = match access {
        // An access that asks for no rights is translated as a read.
        Permissions::No | Permissions::Read => &[Access::READ],
        Permissions::Write => &[Access::WRITE],
        Permissions::ReadWrite => &[Access::WRITE, Access::READ],
    };
    // Page by page (a request at the end of each answer; one when the first answer covers
    // the access), merging what follows physically into the run being built: a whole page
    // or more, as the model's extents are kept whole, so the run serves any access in them.
    let mut tlb = Iotlb::new();
    let mut run: Option<Mapping> = None;
    let mut several = false;
    let mut at = iova.0;
    while at < end {
        let mut step = (at, 0);
        for &kind in kinds {
            step = translate(at, kind).map_err(&fail)?;
        }
        let (pa, len) = (step.0, step.1.clamp(1, u64::MAX - at));
        match &mut run {
            Some(r) if r.1.wrapping_add(r.2) == pa => r.2 += len,
            Some(r) => {
                insert(&mut tlb, *r).map_err(&fail)?;
                several = true;
                *r = (at, pa, len, access);
            }
            None => run = Some((at, pa, len, access)),
        }
        at += len;
    }
    let out = match run {
        Some(r) if !several => single(page_start(r)).map_err(&fail)?,
        Some(r) => {
            insert(&mut tlb, r).map_err(&fail)?;
            many(tlb)
        }
        None => many(tlb),
    };
    Iotlb::lookup(out, iova, length, access).map_err(|_| fail("not translated".into()))
}

/// Run `r` from the start of its first 4 KiB page, where input and output share their
/// offset in it (so that accesses anywhere in the page find the same run).
fn page_start((iova, pa, len, perm): Mapping) -> Mapping {
    let off = iova & 0xfff;
    if pa & 0xfff == off {
        (iova - off, pa - off, len + off, perm)
    } else {
        (iova, pa, len, perm)
    }
}

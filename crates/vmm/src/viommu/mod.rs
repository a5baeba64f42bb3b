//! vIOMMUs: a VT-d or SMMUv3 unit model whose physical space is a guest's RAM, brought up
//! by this project's own driver and IOMMU core running against guest memory, as a guest
//! kernel would; and for each device behind it an adapter that is vm-memory's
//! [`Iommu`], so that a VMM's [`IommuMemory`](vm_memory::iommu::IommuMemory) translates the
//! device's DMA through the model.
//!
//! Every translation goes to the model: its IOTLB on a hit, a walk of the guest's tables
//! on a miss, and on a refusal the fault or event the model records where the guest's
//! driver finds it. Nothing is cached outside the model, so an invalidation the guest
//! carries out is seen at once, and one it forgets leaves the model's stale entry in use,
//! as on hardware.

mod guest_os;
mod smmu;
mod vtd;

use std::ops::Deref;

use softiommu_pgtable::Access;
use vm_memory::iommu::{Error as IommuError, IotlbIterator, IovaRange};
use vm_memory::{GuestAddress, Permissions, iommu::Iotlb};

pub use guest_os::GuestOs;
pub use smmu::{SmmuIommu, SmmuViommu};
pub use vtd::{VtdIommu, VtdViommu};

/// The translations of one access, as vm-memory's IOTLB hands them out: the runs the model
/// translated, and nothing else.
#[derive(Debug, Default)]
pub struct Run(Iotlb);

impl Deref for Run {
    type Target = Iotlb;

    fn deref(&self) -> &Iotlb {
        &self.0
    }
}

/// A model's answer to one request at an address: the output address and the bytes to
/// the end of its page; or why it refused.
type Step = Result<(u64, u64), String>;

/// Translates `[iova, iova + length)` for `access` page by page through `translate`,
/// merging contiguous runs; a refusal anywhere refuses the whole access.
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
    let mut tlb = Iotlb::new();
    let mut at = iova.0;
    // The run being built: (IOVA, output address, length).
    let mut run: Option<(u64, u64, u64)> = None;
    while at < end {
        let mut step = (at, 0);
        for &kind in kinds {
            step = translate(at, kind).map_err(&fail)?;
        }
        let (pa, len) = step;
        let len = len.clamp(1, end - at);
        run = match run {
            Some((i, p, l)) if p.wrapping_add(l) == pa => Some((i, p, l + len)),
            Some(r) => {
                insert(&mut tlb, r, access).map_err(&fail)?;
                Some((at, pa, len))
            }
            None => Some((at, pa, len)),
        };
        at += len;
    }
    if let Some(r) = run {
        insert(&mut tlb, r, access).map_err(&fail)?;
    }
    Iotlb::lookup(Run(tlb), iova, length, access).map_err(|_| fail("not translated".into()))
}

fn insert(tlb: &mut Iotlb, (iova, pa, len): (u64, u64, u64), perm: Permissions) -> Step {
    let n = usize::try_from(len).map_err(|_| "run too long".to_string())?;
    tlb.set_mapping(GuestAddress(iova), GuestAddress(pa), n, perm)
        .map_err(|e| e.to_string())?;
    Ok((pa, len))
}

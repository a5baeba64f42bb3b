//! vIOMMUs: a VT-d or SMMUv3 unit model whose physical space is a guest's RAM, brought up
//! by this project's own driver and IOMMU core running against guest memory, as a guest
//! kernel would; and for each device behind it an adapter that is vm-memory's
//! [`Iommu`](vm_memory::iommu::Iommu), so that a VMM's [`IommuMemory`](vm_memory::iommu::IommuMemory) translates the
//! device's DMA through the model.
//!
//! Every translation is the model's: its IOTLB on a hit, a walk of the guest's tables on a
//! miss, and on a refusal the fault or event the model records where the guest's driver
//! finds it. An access to pages the model has answered from its IOTLB is answered again
//! without asking it while the IOTLB's epoch holds (no entry has left it since, and no mode
//! that decides a hit has changed), which is exactly what the model would answer. So an
//! invalidation the guest carries out is seen at once, and one it forgets leaves the
//! model's stale entry in use, as on hardware. With the model's checking mode or counting
//! on, every access asks the model.

mod guest_os;
mod run;
mod smmu;
pub(crate) mod smmu_guest;
pub(crate) mod smmu_trap;
pub(crate) mod vtd;

use softiommu_pgtable::Access;
use softiommu_pgtable::tlb::Epoch;
use vm_memory::iommu::{Error as IommuError, IotlbIterator, IovaRange};
use vm_memory::{GuestAddress, Permissions, iommu::Iotlb};

use run::{Asker, Mapping, answered, insert, many, single};

pub use guest_os::GuestOs;
pub use run::Run;
pub use smmu::{SmmuIommu, SmmuViommu};
pub use vtd::{VtdIommu, VtdViommu};

/// A model's answer to one request at an address: the output address, the bytes to the
/// end of its page, and whether it came from the model's IOTLB alone; or why it refused.
type Step = Result<(u64, u64, bool), String>;

/// A model, as an adapter asks it for one requester.
trait Model {
    /// The model's IOTLB epoch (see
    /// [`VtdUnit::hit_epoch`](softiommu_vtd::model::VtdUnit::hit_epoch)).
    fn epoch(&self) -> Epoch;

    /// The model's answer to `access` at `addr`.
    fn step(&self, addr: u64, access: Access) -> Step;
}

/// Translates `[iova, iova + length)` for `access` by the requester with IDs `tag` through
/// `model`, merging contiguous runs; a refusal anywhere refuses the whole access. Pages
/// the model answered from its IOTLB are answered again without it while its epoch holds.
#[inline]
fn translate_range(
    model: &impl Model,
    tag: u64,
    iova: GuestAddress,
    length: usize,
    access: Permissions,
) -> Result<IotlbIterator<Run>, IommuError> {
    let asker = Asker { tag, access };
    let epoch = model.epoch();
    if let Ok(len) = u64::try_from(length)
        && let Some(end) = iova.0.checked_add(len)
        && let Some(run) = answered(asker, epoch, iova.0, end)
    {
        // The run maps all of the access for it.
        return Iotlb::lookup(run, iova, length, access).map_err(|_| IommuError::CannotResolve {
            iova_range: IovaRange { base: iova, length },
            reason: "not translated".into(),
        });
    }
    ask(model, asker, epoch, iova, length)
}

/// [`translate_range`] by asking `model`, having read its `epoch`.
#[inline(never)]
fn ask(
    model: &impl Model,
    asker: Asker,
    epoch: Epoch,
    iova: GuestAddress,
    length: usize,
) -> Result<IotlbIterator<Run>, IommuError> {
    let access = asker.access;
    let fail = |reason: String| IommuError::CannotResolve {
        iova_range: IovaRange { base: iova, length },
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
    let (mut several, mut hits) = (false, true);
    let mut at = iova.0;
    while at < end {
        let mut step = (at, 0, true);
        for &kind in kinds {
            step = model.step(at, kind).map_err(&fail)?;
            hits &= step.2;
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
        Some(r) if !several => single(asker, iova.0, page_start(r), epoch, hits).map_err(&fail)?,
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

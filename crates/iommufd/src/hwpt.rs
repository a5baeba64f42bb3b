//! Hardware page tables: a domain of the IOMMU core, kept filled from an IOAS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use softiommu_core::{Domain, PagingRequest};

use crate::context::Context;
use crate::device::Device;
use crate::error::{Result, err};
use crate::ioas::Ioas;
use crate::objects::Object;

/// `IOMMU_HWPT_ALLOC_NEST_PARENT`: the HWPT can be the second stage of nested HWPTs.
pub const HWPT_ALLOC_NEST_PARENT: u32 = 1 << 0;
/// `IOMMU_HWPT_ALLOC_DIRTY_TRACKING`: the HWPT records the pages devices write.
pub const HWPT_ALLOC_DIRTY_TRACKING: u32 = 1 << 1;
/// `IOMMU_HWPT_FAULT_ID_VALID`: faults go to the fault queue named in the call.
pub const HWPT_FAULT_ID_VALID: u32 = 1 << 2;
/// `IOMMU_HWPT_ALLOC_PASID`: the HWPT may be attached at PASIDs.
pub const HWPT_ALLOC_PASID: u32 = 1 << 3;

/// Ids the IOAS knows its domains by, unique in the process.
static NEXT_SLOT: AtomicU32 = AtomicU32::new(1);

/// A paging HWPT: a domain filled with every mapping of its IOAS.
pub struct Hwpt {
    slot: u32,
    pub(crate) ioas: Arc<Ioas>,
    pub(crate) domain: Arc<Domain>,
    /// Made by attaching a device to an IOAS: destroyed when its last device leaves.
    pub(crate) auto: bool,
}

impl Hwpt {
    /// A domain for `device` made from `req`, filled from `ioas`.
    pub(crate) fn new(
        ctx: &Context,
        ioas: Arc<Ioas>,
        device: &Device,
        flags: u32,
        auto: bool,
    ) -> Result<Arc<Hwpt>> {
        let req = PagingRequest {
            nest_parent: flags & HWPT_ALLOC_NEST_PARENT != 0,
            dirty_tracking: flags & HWPT_ALLOC_DIRTY_TRACKING != 0,
            pasid: flags & HWPT_ALLOC_PASID != 0,
        };
        ctx.host().faults().check("allocating a domain")?;
        let domain = ctx.host().iommu().new_paging(device.id, req)?;
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        ioas.iopt.lock().add_domain(slot, domain.clone())?;
        Ok(Arc::new(Hwpt {
            slot,
            ioas,
            domain,
            auto,
        }))
    }

    /// The core's domain.
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }
}

impl Drop for Hwpt {
    fn drop(&mut self) {
        self.ioas.iopt.lock().remove_domain(self.slot);
    }
}

impl Context {
    /// `IOMMU_HWPT_ALLOC` of a paging HWPT for bound device `dev_id` over IOAS `pt_id`;
    /// returns its id.
    pub fn hwpt_alloc(&self, dev_id: u32, pt_id: u32, flags: u32) -> Result<u32> {
        let known = HWPT_ALLOC_NEST_PARENT | HWPT_ALLOC_DIRTY_TRACKING | HWPT_ALLOC_PASID;
        if flags & !(known | HWPT_FAULT_ID_VALID) != 0 {
            return err(libc::EOPNOTSUPP, "unknown HWPT flags");
        }
        if flags & HWPT_FAULT_ID_VALID != 0 {
            return err(libc::EOPNOTSUPP, "fault queues are not available yet");
        }
        let dev = self.device(dev_id)?;
        let ioas = match self.object(pt_id)? {
            Object::Ioas(a) => a,
            _ => return err(libc::EINVAL, "a paging HWPT is made over an IOAS"),
        };
        let hwpt = Hwpt::new(self, ioas, &dev, flags, false)?;
        self.insert(Object::Hwpt(hwpt))
    }
}

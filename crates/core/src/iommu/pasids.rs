//! The global PASID space: PASIDs that users and devices' kernel drivers take and give back.

use super::{Iommu, check_pasid};
use crate::caps::EffectiveCaps;
use crate::error::{CoreError, Result};
use crate::ids::{DeviceId, PASID_LIMIT, Pasid};
use crate::pasid::{FreeError, PasidOwner};

impl Iommu {
    /// A PASID from the global space, for a user (VFIO) to attach with; `owner` (a token of
    /// the user's choosing, as for [`claim_group`](Iommu::claim_group)) alone may free it.
    pub fn alloc_pasid(&self, owner: u64) -> Result<Pasid> {
        self.pasids
            .lock()
            .alloc(PASID_LIMIT, PasidOwner::User(owner))
            .ok_or(CoreError::NoPasid)
    }

    /// Gives back a PASID that `owner` took with [`alloc_pasid`](Iommu::alloc_pasid);
    /// refused ([`CoreError::Busy`]) for a PASID another user, an SVA binding or a device's
    /// kernel driver has.
    pub fn free_pasid(&self, pasid: Pasid, owner: u64) -> Result<()> {
        check_pasid(pasid)?;
        match self.pasids.lock().free(pasid, PasidOwner::User(owner)) {
            Ok(()) => Ok(()),
            Err(FreeError::NotTaken) => Err(CoreError::Invalid("PASID not allocated")),
            Err(FreeError::NotOwner(PasidOwner::User(_))) => {
                Err(CoreError::Busy("PASID owned by another user"))
            }
            Err(FreeError::NotOwner(PasidOwner::Sva(_))) => {
                Err(CoreError::Busy("PASID of an address space's SVA bindings"))
            }
            Err(FreeError::NotOwner(PasidOwner::Private(_))) => {
                Err(CoreError::Busy("private PASID of a device"))
            }
        }
    }

    /// How many PASIDs of the global space are taken.
    pub fn pasids_in_use(&self) -> u32 {
        self.pasids.lock().used()
    }

    /// A private PASID that a kernel driver of `dev` takes for its own DMA: global, within the
    /// device's width, and released with [`free_private_pasid`](Iommu::free_private_pasid).
    pub fn alloc_private_pasid(&self, dev: DeviceId) -> Result<Pasid> {
        let mut st = self.state.write();
        let d = st.dev(dev)?;
        let caps = EffectiveCaps::of(st.driver(d.info.instance)?.caps(), d.info.caps);
        if caps.pasid_bits == 0 {
            return Err(CoreError::NotSupported("PASIDs"));
        }
        let limit = (1u64 << caps.pasid_bits).min(u64::from(PASID_LIMIT)) as Pasid;
        let p = self
            .pasids
            .lock()
            .alloc(limit, PasidOwner::Private(dev))
            .ok_or(CoreError::NoPasid)?;
        st.dev_mut(dev)?.private.insert(p);
        Ok(p)
    }

    /// Gives back a private PASID, detaching it first if it is attached.
    pub fn free_private_pasid(&self, dev: DeviceId, pasid: Pasid) -> Result<()> {
        check_pasid(pasid)?;
        let mut st = self.state.write();
        if !st.dev(dev)?.private.contains(&pasid) {
            return Err(CoreError::Invalid("not a private PASID of this device"));
        }
        if st.dev(dev)?.pasids.contains_key(&pasid) {
            self.set_pasid(&mut st, dev, pasid, None)?;
        }
        st.dev_mut(dev)?.private.remove(&pasid);
        // The device's set and the space agree: the space has it for this device.
        let _ = self.pasids.lock().free(pasid, PasidOwner::Private(dev));
        Ok(())
    }
}

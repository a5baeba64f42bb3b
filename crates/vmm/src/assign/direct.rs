//! Assignment without a vIOMMU: the guest's RAM is mapped into a host IOAS at IOVA =
//! guest-physical address, and the device (a whole function, or an mdev of the host's
//! parent) is bound to the VMM's context and attached to that IOAS.

use std::sync::Arc;

use softiommu_devices::dsa::CompletionRecord;
use softiommu_iommufd::Context;
use softiommu_iommufd::vfio::{MdevParent, VfioDevice};

use super::{Assigned, Counts, GuestFault, Mechanism, Unit};
use crate::{Error, Guest, GuestDriver, HostRig, Result};

/// A device assigned to a guest that has no vIOMMU.
pub struct Direct {
    guest: Guest,
    ctx: Arc<Context>,
    ioas: u32,
    driver: GuestDriver,
    /// The mdev made for this guest, removed with it.
    mdev: Option<(Arc<MdevParent>, String)>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("ioas", &self.ioas)
            .field("driver", &self.driver)
            .finish_non_exhaustive()
    }
}

impl Direct {
    /// `unit` of `rig` assigned to `guest`: function `slot` (0 or 1) of the engine bound to
    /// VFIO, or a new mdev of the parent. The VMM's context gets an IOAS holding the guest's
    /// RAM at IOVA = guest-physical address; the device is bound to it and attached, and
    /// the guest's driver brings its work queue up.
    pub fn new(rig: &HostRig, guest: &Guest, unit: Unit, slot: usize) -> Result<Direct> {
        let ctx = rig.context();
        let ioas = ctx.ioas_alloc()?;
        guest.map_into(&ctx, ioas)?;
        let (dev, mdev) = match unit {
            Unit::Vf => (rig.vfio().open_device(rig.vf(slot)?)?, None),
            Unit::Mdev => {
                let parent = rig.parent().clone();
                let name = parent.create()?;
                let dev = parent.open(&name);
                (dev?, Some((parent, name)))
            }
        };
        Self::attach(&dev, &ctx, ioas)?;
        let mut driver = GuestDriver::new(dev);
        driver.bring_up(None)?;
        Ok(Direct {
            guest: guest.clone(),
            ctx,
            ioas,
            driver,
            mdev,
        })
    }

    fn attach(dev: &VfioDevice, ctx: &Arc<Context>, ioas: u32) -> Result<()> {
        dev.bind_iommufd(ctx)?;
        dev.attach_pt(ioas)?;
        Ok(())
    }

    /// Whether `[gpa, gpa + len)` is all guest RAM.
    fn in_ram(&self, gpa: u64, len: u64) -> bool {
        let end = gpa.checked_add(len);
        self.guest
            .regions()
            .iter()
            .any(|&(start, _, l)| gpa >= start && end.is_some_and(|e| e <= start + l))
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        let _ = self.guest.unmap_from(&self.ctx, self.ioas);
        if let Some((parent, name)) = self.mdev.take() {
            let _ = parent.remove(&name);
        }
    }
}

impl Assigned for Direct {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Direct
    }

    fn guest(&self) -> &Guest {
        &self.guest
    }

    fn pasid(&self) -> Option<u32> {
        None
    }

    /// The guest's RAM is in the IOAS from boot: a map of RAM at IOVA = GPA has nothing to
    /// do; any other is refused.
    fn map(&mut self, iova: u64, gpa: u64, len: u64, _write: bool) -> Result<()> {
        if iova != gpa || !self.in_ram(gpa, len) {
            return Err(Error::Viommu(format!(
                "no vIOMMU: device addresses are guest RAM ({iova:#x} -> {gpa:#x}, {len:#x} bytes)"
            )));
        }
        Ok(())
    }

    /// Without a vIOMMU the guest cannot take RAM away from its device: nothing changes.
    fn unmap(&mut self, _iova: u64, _len: u64) -> Result<()> {
        Ok(())
    }

    fn memmove(&mut self, src: u64, dst: u64, len: u32, cr: u64) -> Result<CompletionRecord> {
        self.driver.memmove(&self.guest, (src, dst, len), (cr, cr))
    }

    /// The guest has no IOMMU, so no queue a fault could reach: always empty.
    fn faults(&mut self) -> Vec<GuestFault> {
        Vec::new()
    }

    fn counts(&self) -> Counts {
        Counts::default()
    }

    fn undelivered_faults(&self) -> Option<&str> {
        Some("no guest IOMMU queue in this column; the fault is in the completion record")
    }
}

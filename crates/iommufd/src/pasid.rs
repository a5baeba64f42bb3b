//! PASID attach of bound devices: a PASID of a device attached to, replaced on, or detached
//! from a HWPT made for PASIDs, through the core's PASID attach on the device's IOMMU.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result, err};
use crate::fault::FaultQueue;
use crate::hwpt::Hwpt;
use crate::objects::Object;

impl Context {
    /// Attaches PASID `pasid` of bound device `dev_id` to HWPT `pt_id`; returns the HWPT's
    /// id. `EINVAL` for a device without that PASID, for an IOAS (its automatic domain is
    /// not made for PASIDs), for a HWPT made without [`HWPT_ALLOC_PASID`](crate::HWPT_ALLOC_PASID),
    /// or while the RID is attached to such a HWPT; `EBUSY` if the PASID is attached.
    pub fn device_pasid_attach(&self, dev_id: u32, pasid: u32, pt_id: u32) -> Result<u32> {
        self.pasid_attach_with(dev_id, pasid, pt_id, &|_| Ok(()))
    }

    /// [`device_pasid_attach`](Context::device_pasid_attach), with `driver` asked last,
    /// before the core: an error from it fails the call with nothing changed (what a
    /// driver's refusal to set the PASID does).
    pub(crate) fn pasid_attach_with(
        &self,
        dev_id: u32,
        pasid: u32,
        pt_id: u32,
        driver: &dyn Fn(&Device) -> Result<()>,
    ) -> Result<u32> {
        let (dev, hwpt) = self.pasid_target(dev_id, pasid, pt_id)?;
        let mut pasids = dev.pasids.lock();
        if pasids.contains_key(&pasid) {
            return err(libc::EBUSY, "the PASID is attached: replace or detach it");
        }
        self.pasid_set(&dev, dev_id, pasid, &hwpt, driver, false)?;
        pasids.insert(pasid, hwpt);
        Ok(pt_id)
    }

    /// Replaces what PASID `pasid` of bound device `dev_id` is attached to with HWPT
    /// `pt_id`, atomically: on a failure the old HWPT stays attached and working. The
    /// errors of [`device_pasid_attach`](Context::device_pasid_attach), and `EINVAL` if the
    /// PASID is not attached.
    pub fn device_pasid_replace(&self, dev_id: u32, pasid: u32, pt_id: u32) -> Result<u32> {
        self.pasid_replace_with(dev_id, pasid, pt_id, &|_| Ok(()))
    }

    /// [`device_pasid_replace`](Context::device_pasid_replace), with `driver` asked last,
    /// before the core: an error from it fails the call with the old HWPT kept.
    pub(crate) fn pasid_replace_with(
        &self,
        dev_id: u32,
        pasid: u32,
        pt_id: u32,
        driver: &dyn Fn(&Device) -> Result<()>,
    ) -> Result<u32> {
        let (dev, hwpt) = self.pasid_target(dev_id, pasid, pt_id)?;
        let mut pasids = dev.pasids.lock();
        if !pasids.contains_key(&pasid) {
            return err(libc::EINVAL, "the PASID is not attached");
        }
        if pasids.get(&pasid).is_some_and(|h| Arc::ptr_eq(h, &hwpt)) {
            return Ok(pt_id);
        }
        self.pasid_set(&dev, dev_id, pasid, &hwpt, driver, true)?;
        let old = pasids.insert(pasid, hwpt);
        let queue = unused_queue(&pasids, old.as_deref());
        drop(pasids);
        release_fault_queue(&dev, queue);
        drop(old);
        Ok(pt_id)
    }

    /// Detaches PASID `pasid` of bound device `dev_id`: its requests with that PASID are
    /// blocked. Nothing happens if it was not attached.
    pub fn device_pasid_detach(&self, dev_id: u32, pasid: u32) -> Result<()> {
        let dev = self.device(dev_id)?;
        let mut pasids = dev.pasids.lock();
        if !pasids.contains_key(&pasid) {
            return Ok(());
        }
        self.host()
            .iommu()
            .detach_pasid(dev.id, pasid)
            .map_err(Error::from)?;
        let old = pasids.remove(&pasid);
        let queue = unused_queue(&pasids, old.as_deref());
        drop(pasids);
        release_fault_queue(&dev, queue);
        drop(old);
        Ok(())
    }

    /// What PASID `pasid` of bound device `dev_id` is attached to: its HWPT's id, or
    /// `None` (what the test channel's `PASID_CHECK_HWPT` asks).
    pub fn device_pasid_hwpt(&self, dev_id: u32, pasid: u32) -> Result<Option<u32>> {
        let dev = self.device(dev_id)?;
        let Some(hwpt) = dev.pasids.lock().get(&pasid).cloned() else {
            return Ok(None);
        };
        Ok(self.object_id(|o| matches!(o, Object::Hwpt(h) if Arc::ptr_eq(h, &hwpt))))
    }

    /// Sets PASID `pasid` of `dev` (bound as `dev_id`) to `hwpt` in the core, attaching or
    /// (with `replace`) replacing, once the page-request check and `driver` agree; the
    /// HWPT's fault queue then hears of the device.
    fn pasid_set(
        &self,
        dev: &Device,
        dev_id: u32,
        pasid: u32,
        hwpt: &Hwpt,
        driver: &dyn Fn(&Device) -> Result<()>,
        replace: bool,
    ) -> Result<()> {
        self.check_page_requests(dev, hwpt)?;
        driver(dev)?;
        let iommu = self.host().iommu();
        let r = if replace {
            iommu.replace_pasid(dev.id, pasid, &hwpt.domain)
        } else {
            iommu.attach_pasid(dev.id, pasid, &hwpt.domain)
        };
        r.map_err(Error::from)?;
        if let Some(q) = hwpt.fault.get() {
            q.add_device(dev.id, dev_id);
        }
        Ok(())
    }

    /// A HWPT with a fault queue needs a device that sends page requests (`ENODEV`).
    fn check_page_requests(&self, dev: &Device, hwpt: &Hwpt) -> Result<()> {
        if hwpt.fault.get().is_some() && !self.host().iommu().device_caps(dev.id)?.pri {
            return err(libc::ENODEV, "the device sends no page requests");
        }
        Ok(())
    }

    /// The device and the HWPT of a PASID attach, with the checks both calls share.
    fn pasid_target(
        &self,
        dev_id: u32,
        pasid: u32,
        pt_id: u32,
    ) -> Result<(Arc<Device>, Arc<Hwpt>)> {
        let dev = self.device(dev_id)?;
        let caps = self.host().iommu().device_caps(dev.id)?;
        if !caps.pasid_ok(pasid) {
            return err(libc::EINVAL, "the device has no such PASID");
        }
        let hwpt = match self.object(pt_id)? {
            Object::Hwpt(h) => h,
            Object::Ioas(_) => {
                return err(
                    libc::EINVAL,
                    "an IOAS's automatic domain is not made for PASIDs",
                );
            }
            _ => return err(libc::EINVAL, "a PASID is attached to a HWPT"),
        };
        check_pasid_hwpt(&dev, &hwpt)?;
        Ok((dev, hwpt))
    }
}

/// A PASID may use `hwpt` if it was made for PASIDs, and the RID is attached to nothing
/// or to a HWPT made for PASIDs.
pub(crate) fn check_pasid_hwpt(dev: &Device, hwpt: &Hwpt) -> Result<()> {
    if !hwpt.pasid {
        return err(libc::EINVAL, "the HWPT was not made for PASIDs");
    }
    if dev.attached.lock().as_ref().is_some_and(|r| !r.pasid) {
        return err(libc::EINVAL, "the RID's HWPT was not made for PASIDs");
    }
    Ok(())
}

/// The fault queue of `old`, which left a PASID, if no PASID in `pasids` still uses it.
fn unused_queue(pasids: &BTreeMap<u32, Arc<Hwpt>>, old: Option<&Hwpt>) -> Option<Arc<FaultQueue>> {
    let q = old.and_then(|h| h.fault.get())?;
    let uses = |h: &Arc<Hwpt>| h.fault.get().is_some_and(|f| Arc::ptr_eq(f, q));
    (!pasids.values().any(uses)).then(|| q.clone())
}

/// Fault queue `queue`, which no PASID of `dev` uses any more, forgets the device
/// (answering what is outstanding) unless the RID still uses it.
fn release_fault_queue(dev: &Device, queue: Option<Arc<FaultQueue>>) {
    let Some(q) = queue else {
        return;
    };
    let uses = |h: &Arc<Hwpt>| h.fault.get().is_some_and(|f| Arc::ptr_eq(f, &q));
    let rid = dev.attached.lock().as_ref().is_some_and(uses);
    if !rid {
        q.remove_device(dev.id);
    }
}

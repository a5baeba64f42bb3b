//! Devices bound to a context: their group's DMA claimed for the context, and what their RID
//! is attached to.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use softiommu_core::{DeviceId, GroupId};

use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::host::Host;
use crate::hwpt::Hwpt;
use crate::ioas::Ioas;
use crate::iopt::ReservedBy;
use crate::objects::Object;

/// A device bound to a context.
pub struct Device {
    pub(crate) id: DeviceId,
    group: GroupId,
    owner: u64,
    host: Arc<Host>,
    pub(crate) attached: Mutex<Option<Arc<Hwpt>>>,
    /// What its PASIDs are attached to.
    pub(crate) pasids: Mutex<std::collections::BTreeMap<u32, Arc<Hwpt>>>,
    /// The device's reserved regions in the IOAS its RID's domain is filled from.
    reserved: Mutex<Option<Reservation>>,
}

/// A device's reserved regions held in one IOAS; dropping it gives them back.
struct Reservation {
    ioas: Arc<Ioas>,
    token: u64,
}

impl Reservation {
    /// Reserves `dev`'s regions in `ioas`: `EADDRINUSE` if one overlaps a mapping or an
    /// allowed range.
    fn take(host: &Host, dev: DeviceId, ioas: &Arc<Ioas>) -> Result<Reservation> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let regions = host.iommu().reserved_regions(dev).map_err(Error::from)?;
        let token = NEXT.fetch_add(1, Ordering::Relaxed);
        let r = Reservation {
            ioas: ioas.clone(),
            token,
        };
        let mut iopt = ioas.iopt.lock();
        for reg in regions {
            iopt.reserve(reg.start, reg.last, ReservedBy::Device(token))?;
        }
        drop(iopt);
        Ok(r)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.ioas
            .iopt
            .lock()
            .unreserve(ReservedBy::Device(self.token));
    }
}

impl Device {
    /// The core's id of the device.
    pub fn core_id(&self) -> DeviceId {
        self.id
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        for (pasid, _) in std::mem::take(self.pasids.get_mut()) {
            let _ = self.host.iommu().detach_pasid(self.id, pasid);
        }
        if let Some(old) = self.attached.get_mut().take() {
            // Back to blocking DMA; nothing else can be done if the core refuses.
            let _ = self.host.iommu().detach(self.id);
            if let Some(q) = old.fault.get() {
                q.remove_device(self.id);
            }
        }
        self.reserved.get_mut().take();
        self.host.unbind(self.id, self.group, self.owner);
    }
}

impl Context {
    pub(crate) fn device(&self, id: u32) -> Result<Arc<Device>> {
        match self.object(id)? {
            Object::Device(d) => Ok(d),
            _ => err(libc::ENOENT, "not a device"),
        }
    }

    /// Binds the core's device `dev` to this context (what `VFIO_DEVICE_BIND_IOMMUFD`
    /// does): claims its group's DMA for the context (`EBUSY` if another context has it or
    /// the device is bound already). Returns the device's object id.
    pub fn device_bind(&self, dev: DeviceId) -> Result<u32> {
        let group = self.host().iommu().group_of(dev).map_err(Error::from)?;
        self.host().bind(dev, group, self.owner())?;
        let device = Arc::new(Device {
            id: dev,
            group,
            owner: self.owner(),
            host: self.host().clone(),
            attached: Mutex::new(None),
            pasids: Mutex::new(Default::default()),
            reserved: Mutex::new(None),
        });
        self.insert(Object::Device(device))
    }

    /// Attaches bound device `dev_id` to `pt_id`: a paging HWPT, or an IOAS (through a
    /// domain made for it, or one already made for the IOAS that the device can use).
    /// `EINVAL` if it is attached already. Returns the HWPT's id.
    pub fn device_attach(&self, dev_id: u32, pt_id: u32) -> Result<u32> {
        self.attach_device(dev_id, pt_id, false)
    }

    /// Replaces what bound device `dev_id` is attached to with `pt_id`, atomically.
    pub fn device_replace(&self, dev_id: u32, pt_id: u32) -> Result<u32> {
        self.attach_device(dev_id, pt_id, true)
    }

    /// Detaches bound device `dev_id`: its DMA is blocked.
    pub fn device_detach(&self, dev_id: u32) -> Result<()> {
        let dev = self.device(dev_id)?;
        let old = dev.attached.lock().take();
        if old.is_none() {
            return err(libc::EINVAL, "the device is not attached");
        }
        self.host().iommu().detach(dev.id).map_err(Error::from)?;
        if let Some(q) = old.as_ref().and_then(|h| h.fault.get()) {
            q.remove_device(dev.id);
        }
        drop(old);
        dev.reserved.lock().take();
        self.sweep_auto();
        Ok(())
    }

    fn attach_device(&self, dev_id: u32, pt_id: u32, replace: bool) -> Result<u32> {
        let dev = self.device(dev_id)?;
        let mut attached = dev.attached.lock();
        match (attached.is_some(), replace) {
            (true, false) => return err(libc::EINVAL, "the device is attached: replace it"),
            (false, true) => return err(libc::EINVAL, "the device is not attached"),
            _ => {}
        }
        let set = |hwpt: &Arc<Hwpt>| -> Result<()> {
            if !hwpt.pasid && !dev.pasids.lock().is_empty() {
                return err(
                    libc::EINVAL,
                    "PASIDs are attached: the RID needs a HWPT made for PASIDs",
                );
            }
            crate::selftest::check_attach(&dev, hwpt)?;
            let iommu = self.host().iommu();
            if let Some(q) = hwpt.fault.get() {
                // Faults are reported only by a device that sends page requests.
                if !iommu.device_caps(dev.id)?.pri {
                    return err(libc::ENODEV, "the device sends no page requests");
                }
                q.add_device(dev.id, dev_id);
            }
            let r = if replace {
                iommu.replace(dev.id, &hwpt.domain)
            } else {
                iommu.attach(dev.id, &hwpt.domain)
            };
            r.map_err(Error::from)
        };
        // The device's reserved regions go into the IOAS a paging domain is filled from
        // before it is attached there, and leave the old one once it is not.
        let reserve = |ioas: Option<&Arc<Ioas>>| -> Result<Option<Reservation>> {
            ioas.map(|i| Reservation::take(self.host(), dev.id, i))
                .transpose()
        };
        let reservation;
        let (id, hwpt) = match self.object(pt_id)? {
            Object::Hwpt(h) => {
                reservation = reserve(h.ioas())?;
                set(&h)?;
                (pt_id, h)
            }
            Object::Ioas(ioas) => {
                reservation = reserve(Some(&ioas))?;
                self.attach_auto(ioas, dev.id, 0, set)?
            }
            _ => return err(libc::EINVAL, "attach to an IOAS or a HWPT"),
        };
        let old = attached.replace(hwpt.clone());
        drop(attached);
        if let Some(q) = old.as_ref().and_then(|h| h.fault.get())
            && !hwpt.fault.get().is_some_and(|n| Arc::ptr_eq(n, q))
        {
            q.remove_device(dev.id);
        }
        drop(old);
        let old = std::mem::replace(&mut *dev.reserved.lock(), reservation);
        drop(old);
        self.sweep_auto();
        Ok(id)
    }
}

impl Host {
    /// Marks `dev` bound for `owner`, claiming its group.
    pub(crate) fn bind(&self, dev: DeviceId, group: GroupId, owner: u64) -> Result<()> {
        let mut b = self.bindings.lock();
        if b.devices.contains(&dev) {
            return err(libc::EBUSY, "the device is bound already");
        }
        match b.groups.get_mut(&group) {
            Some((o, _)) if *o != owner => {
                return err(libc::EBUSY, "another context owns the device's group");
            }
            Some((_, n)) => *n += 1,
            None => {
                self.iommu()
                    .claim_group(group, owner)
                    .map_err(Error::from)?;
                b.groups.insert(group, (owner, 1));
            }
        }
        b.devices.insert(dev);
        Ok(())
    }

    /// Undoes [`bind`](Host::bind); the group's claim goes with its last bound device.
    pub(crate) fn unbind(&self, dev: DeviceId, group: GroupId, owner: u64) {
        let mut b = self.bindings.lock();
        b.devices.remove(&dev);
        if let Some((_, n)) = b.groups.get_mut(&group) {
            *n -= 1;
            if *n == 0 {
                b.groups.remove(&group);
                let _ = self.iommu().release_group(group, owner);
            }
        }
    }
}

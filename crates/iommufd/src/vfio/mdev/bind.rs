//! An mdev bound to a context: the object its `VFIO_DEVICE_BIND_IOMMUFD` makes there, and
//! what attaching it does. An mdev of a parent with PASIDs attaches the mdev's PASID of the
//! parent to a HWPT made for PASIDs (an IOAS gets one made automatically); an mdev of a
//! parent without PASID gets an access to the IOAS, which its DMA is copied through. A HWPT
//! with a fault queue hears of the mdev (under the mdev's device id) while the mdev's PASID
//! is attached to it, the parent's page requests at that PASID going there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use softiommu_core::{DeviceId, Family};

use super::dma::SoftLink;
use crate::access::{ACCESS_NEEDS_PIN_PAGES, Access};
use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::host::Host;
use crate::hwpt::{HWPT_ALLOC_NEST_PARENT, HWPT_ALLOC_PASID, HWPT_FAULT_ID_VALID, Hwpt};
use crate::objects::Object;

/// How an mdev's DMA reaches its user's memory.
#[derive(Clone)]
pub(crate) enum LinkKind {
    /// Through `pasid` of the parent device `parent`.
    Pasid { parent: DeviceId, pasid: u32 },
    /// Through an access, by CPU copy.
    Soft(Arc<SoftLink>),
}

/// An mdev as its bindings know it: how its DMA goes, and whether it still exists (a
/// removed mdev's PASID may be another's by now).
#[derive(Clone)]
pub(crate) struct MdevLink {
    pub(crate) kind: LinkKind,
    pub(crate) alive: Arc<AtomicBool>,
    /// Whether the mdev's descriptors block on faults.
    pub(crate) faults: Arc<super::MdevFaults>,
    /// The further PASIDs of the parent the host gave the mdev.
    pub(crate) given: Arc<Mutex<std::collections::BTreeSet<u32>>>,
}

impl MdevLink {
    fn check_alive(&self) -> Result<()> {
        if self.alive.load(Ordering::Acquire) {
            Ok(())
        } else {
            err(libc::ENODEV, "the mdev was removed")
        }
    }
}

/// What a bound mdev is attached to.
enum Attached {
    /// A HWPT, kept busy while its domain is on the mdev's PASID.
    Hwpt { held: Arc<Hwpt> },
    /// An access, its DMA copied through it.
    Access(Arc<Access>),
}

/// An mdev bound to a context: the object its device id names.
pub(crate) struct MdevBinding {
    link: MdevLink,
    host: Arc<Host>,
    attached: Mutex<Option<Attached>>,
    /// The given PASIDs attached, each to its HWPT.
    extra: Mutex<std::collections::BTreeMap<u32, Arc<Hwpt>>>,
}

impl MdevBinding {
    /// Detaches: on a refusal of the core the PASID stays attached, and recorded so.
    fn detach_now(&self, attached: &mut Option<Attached>) -> Result<()> {
        match (&*attached, &self.link.kind) {
            (Some(Attached::Hwpt { held }), LinkKind::Pasid { parent, pasid }) => {
                match self.host.iommu().detach_pasid(*parent, *pasid) {
                    // Detached already: the mdev was removed and its PASID taken back.
                    Err(softiommu_core::CoreError::NotAttached { .. }) | Ok(()) => {}
                    Err(e) => return Err(Error::from(e)),
                }
                if let Some(q) = held.fault.get() {
                    self.link.faults.turn_off(*pasid);
                    q.remove_device(*parent);
                }
            }
            (Some(Attached::Access(a)), LinkKind::Soft(link)) => {
                link.set_access(None);
                a.destroy();
            }
            _ => {}
        }
        // The HWPT is free once nothing translates through it.
        *attached = None;
        Ok(())
    }
}

impl Drop for MdevBinding {
    fn drop(&mut self) {
        let mut attached = self.attached.lock().take();
        // Nothing else can be done if the core refuses.
        let _ = self.detach_now(&mut attached);
        let extra = std::mem::take(&mut *self.extra.lock());
        if let LinkKind::Pasid { parent, .. } = &self.link.kind {
            for (p, h) in extra {
                let _ = self.host.iommu().detach_pasid(*parent, p);
                if let Some(q) = h.fault.get() {
                    q.remove_device(*parent);
                }
            }
        }
    }
}

impl Context {
    fn mdev(&self, id: u32) -> Result<Arc<MdevBinding>> {
        match self.object(id)? {
            Object::Mdev(m) => Ok(m),
            _ => err(libc::ENOENT, "not an mdev"),
        }
    }

    /// Binds an mdev whose DMA goes by `link`; returns its device id.
    pub(crate) fn mdev_bind(&self, link: MdevLink) -> Result<u32> {
        link.check_alive()?;
        let b = Arc::new(MdevBinding {
            link,
            host: self.host().clone(),
            attached: Mutex::new(None),
            extra: Mutex::new(Default::default()),
        });
        self.insert(Object::Mdev(b))
    }

    /// Attaches (or moves) bound mdev `id` to `pt_id`; returns the id of the HWPT (or of the
    /// IOAS, for an mdev copying through an access).
    pub(crate) fn mdev_attach(&self, id: u32, pt_id: u32) -> Result<u32> {
        let b = self.mdev(id)?;
        b.link.check_alive()?;
        let mut attached = b.attached.lock();
        let r = match &b.link.kind {
            LinkKind::Pasid { parent, pasid } => self.mdev_attach_pasid(
                (id, &b.link.faults),
                (*parent, *pasid),
                pt_id,
                &mut attached,
            ),
            LinkKind::Soft(link) => self.mdev_attach_access(link, pt_id, &mut attached),
        };
        drop(attached);
        self.sweep_auto();
        r
    }

    /// Sets the mdev's PASID (the mdev bound as `id`, its descriptors' blocking on faults
    /// `faults`) to `pt_id`. A HWPT with a fault queue needs a parent that sends page
    /// requests (`ENODEV`): the parent's PRI is turned on and the queue hears of the mdev;
    /// a queue the PASID leaves forgets it, answering what is outstanding.
    fn mdev_attach_pasid(
        &self,
        (id, faults): (u32, &super::MdevFaults),
        (parent, pasid): (DeviceId, u32),
        pt_id: u32,
        attached: &mut Option<Attached>,
    ) -> Result<u32> {
        let iommu = self.host().iommu();
        let old = match &*attached {
            Some(Attached::Hwpt { held }) => held.fault.get().cloned(),
            _ => None,
        };
        let set = |h: &Arc<Hwpt>| -> Result<()> {
            if !h.pasid {
                return err(libc::EINVAL, "the HWPT was not made for PASIDs");
            }
            let queue = h.fault.get();
            if queue.is_some() && !iommu.device_caps(parent)?.pri {
                return err(libc::ENODEV, "the mdev's parent sends no page requests");
            }
            if queue.is_some() && !faults.turn_on(pasid) {
                return err(libc::ENODEV, "the mdev's parent has no PRI capability");
            }
            let r = if attached.is_some() {
                iommu.replace_pasid(parent, pasid, &h.domain)
            } else {
                iommu.attach_pasid(parent, pasid, &h.domain)
            };
            if let Err(e) = r {
                if old.is_none() {
                    faults.turn_off(pasid);
                }
                return Err(Error::from(e));
            }
            if let Some(q) = queue {
                q.add_device(parent, id);
            } else {
                faults.turn_off(pasid);
            }
            if let Some(o) = &old
                && !queue.is_some_and(|q| Arc::ptr_eq(q, o))
            {
                o.remove_device(parent);
            }
            Ok(())
        };
        let (id, hwpt) = match self.object(pt_id)? {
            Object::Hwpt(h) => {
                set(&h)?;
                (pt_id, h)
            }
            Object::Ioas(ioas) => self.attach_auto(ioas, parent, HWPT_ALLOC_PASID, set)?,
            _ => return err(libc::EINVAL, "attach to an IOAS or a HWPT"),
        };
        *attached = Some(Attached::Hwpt { held: hwpt });
        Ok(id)
    }

    fn mdev_attach_access(
        &self,
        link: &Arc<SoftLink>,
        pt_id: u32,
        attached: &mut Option<Attached>,
    ) -> Result<u32> {
        // An access reaches an IOAS only.
        self.ioas(pt_id)?;
        match attached {
            Some(Attached::Access(a)) => self.access_replace_ioas(a, pt_id)?,
            _ => {
                let a = self.access_create(pt_id, ACCESS_NEEDS_PIN_PAGES, link.clone())?;
                link.set_access(Some(a.clone()));
                *attached = Some(Attached::Access(a));
            }
        }
        Ok(pt_id)
    }

    /// `IOMMU_HWPT_ALLOC` for bound mdev `m`, for the parent's PASID: a paging HWPT over
    /// IOAS `pt_id` (flags [`HWPT_ALLOC_PASID`], [`HWPT_FAULT_ID_VALID`] with fault queue
    /// `fault_id` and, on VT-d, [`HWPT_ALLOC_NEST_PARENT`] but not with a fault queue; no
    /// driver data), or a nested one of VT-d stage-1 data over a nesting-parent HWPT `pt_id` (VT-d
    /// has one second stage per PASID, so each mdev may nest over a parent of its own);
    /// other flags or data are `EOPNOTSUPP`. An mdev copying through an access has no domain
    /// (`ENOENT`, as it is no device of the core).
    pub(crate) fn mdev_hwpt_alloc(
        &self,
        m: &MdevBinding,
        pt_id: u32,
        flags: u32,
        data: crate::hwpt::HwptData,
        fault_id: u32,
    ) -> Result<u32> {
        use crate::hwpt::HwptData;
        m.link.check_alive()?;
        let LinkKind::Pasid { parent, .. } = &m.link.kind else {
            return err(libc::ENOENT, "the mdev copies through an access");
        };
        let hwpt = match (self.object(pt_id), data) {
            (Ok(Object::Hwpt(over)), HwptData::VtdS1 { .. }) => {
                if flags & !HWPT_ALLOC_PASID != 0 {
                    return err(libc::EOPNOTSUPP, "a nested HWPT takes no flags but PASID");
                }
                if over.auto || !over.is_nest_parent() {
                    return err(
                        libc::EINVAL,
                        "the parent must be a HWPT allocated as a nesting parent",
                    );
                }
                self.vtd_nested(*parent, over, flags & HWPT_ALLOC_PASID != 0, data)?
            }
            (Ok(Object::Ioas(ioas)), HwptData::None) => {
                if flags & !(HWPT_ALLOC_PASID | HWPT_ALLOC_NEST_PARENT | HWPT_FAULT_ID_VALID) != 0 {
                    return err(
                        libc::EOPNOTSUPP,
                        "an mdev's HWPT is a paging one for PASIDs, or a nesting parent",
                    );
                }
                if flags & HWPT_FAULT_ID_VALID != 0 && flags & HWPT_ALLOC_NEST_PARENT != 0 {
                    return err(libc::EOPNOTSUPP, "a nesting parent takes no fault queue");
                }
                let family = self.host().iommu().device_caps(*parent)?.iommu.family;
                if flags & HWPT_ALLOC_NEST_PARENT != 0 && family != Family::Vtd {
                    return err(
                        libc::EOPNOTSUPP,
                        "only VT-d has a second stage per PASID: an mdev cannot nest here",
                    );
                }
                let hwpt = Hwpt::new_for(self, ioas, *parent, flags, false)?;
                if flags & HWPT_FAULT_ID_VALID != 0 {
                    self.with_fault(hwpt, fault_id)?
                } else {
                    hwpt
                }
            }
            (Ok(Object::Ioas(_) | Object::Hwpt(_)), _) => {
                return err(
                    libc::EOPNOTSUPP,
                    "an mdev's HWPT is a paging one, or nests VT-d stage-1 data",
                );
            }
            _ => {
                return err(
                    libc::EINVAL,
                    "an mdev's HWPT is made over an IOAS or a HWPT",
                );
            }
        };
        self.insert(Object::Hwpt(hwpt))
    }

    /// `VFIO_DEVICE_ATTACH_PASID` on bound mdev `id`: attaches (or moves) `pasid`, which must
    /// be one the host gave this mdev (`EINVAL` otherwise, as for a PASID a device does not
    /// have), to HWPT `pt_id` made for PASIDs (`EINVAL` for an IOAS or another HWPT). A
    /// HWPT with a fault queue needs a parent that sends page requests (`ENODEV`); the
    /// parent's PRI is then turned on and the mdev's descriptors block on faults.
    pub(crate) fn mdev_attach_given(&self, id: u32, pasid: u32, pt_id: u32) -> Result<u32> {
        let b = self.mdev(id)?;
        b.link.check_alive()?;
        let LinkKind::Pasid { parent, .. } = &b.link.kind else {
            return err(
                libc::EINVAL,
                "the mdev copies in software: it has no PASIDs",
            );
        };
        if !b.link.given.lock().contains(&pasid) {
            return err(libc::EINVAL, "the host gave the mdev no such PASID");
        }
        let hwpt = match self.object(pt_id)? {
            Object::Hwpt(h) if h.pasid => h,
            _ => {
                return err(
                    libc::EINVAL,
                    "a PASID is attached to a HWPT made for PASIDs",
                );
            }
        };
        let iommu = self.host().iommu();
        let queue = hwpt.fault.get();
        if queue.is_some() && !iommu.device_caps(*parent)?.pri {
            return err(libc::ENODEV, "the mdev's parent sends no page requests");
        }
        if queue.is_some() && !b.link.faults.turn_on(pasid) {
            return err(libc::ENODEV, "the mdev's parent has no PRI capability");
        }
        let mut extra = b.extra.lock();
        let old = extra.get(&pasid).cloned();
        let r = if old.is_some() {
            iommu.replace_pasid(*parent, pasid, &hwpt.domain)
        } else {
            iommu.attach_pasid(*parent, pasid, &hwpt.domain)
        };
        if let Err(e) = r {
            if old.is_none() {
                b.link.faults.turn_off(pasid);
            }
            return Err(Error::from(e));
        }
        match queue {
            Some(q) => q.add_device(*parent, id),
            None => b.link.faults.turn_off(pasid),
        }
        if let Some(o) = old.as_ref().and_then(|o| o.fault.get())
            && !queue.is_some_and(|q| Arc::ptr_eq(q, o))
        {
            o.remove_device(*parent);
        }
        extra.insert(pasid, hwpt);
        Ok(pt_id)
    }

    /// `VFIO_DEVICE_DETACH_PASID` on bound mdev `id`: requests with given PASID `pasid` are
    /// blocked (no error if it was not attached; `EINVAL` for a PASID not given to it).
    pub(crate) fn mdev_detach_given(&self, id: u32, pasid: u32) -> Result<()> {
        let b = self.mdev(id)?;
        let LinkKind::Pasid { parent, .. } = &b.link.kind else {
            return err(
                libc::EINVAL,
                "the mdev copies in software: it has no PASIDs",
            );
        };
        if !b.link.given.lock().contains(&pasid) {
            return err(libc::EINVAL, "the host gave the mdev no such PASID");
        }
        let Some(old) = b.extra.lock().remove(&pasid) else {
            return Ok(());
        };
        match self.host().iommu().detach_pasid(*parent, pasid) {
            Err(softiommu_core::CoreError::NotAttached { .. }) | Ok(()) => {}
            Err(e) => return Err(Error::from(e)),
        }
        b.link.faults.turn_off(pasid);
        if let Some(q) = old.fault.get() {
            q.remove_device(*parent);
        }
        Ok(())
    }

    /// Detaches bound mdev `id`: its DMA faults.
    pub(crate) fn mdev_detach(&self, id: u32) -> Result<()> {
        let b = self.mdev(id)?;
        let mut attached = b.attached.lock();
        b.detach_now(&mut attached)?;
        drop(attached);
        self.sweep_auto();
        Ok(())
    }
}

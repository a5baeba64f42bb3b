//! Shared virtual addressing and I/O page faults: binding process address spaces to PASIDs,
//! DMA on behalf of devices, and page-request groups routed to their handlers.

use std::sync::Arc;

use softiommu_pgtable::Access;

use super::{Iommu, OPEN_GROUPS_MAX, check_pasid};
use crate::caps::EffectiveCaps;
use crate::domain::{Domain, DomainKind};
use crate::driver::{DeviceInfo, DmaFault, DmaTranslation, IommuDriver};
use crate::error::{CoreError, Result};
use crate::ids::{DeviceId, InstanceId, Pasid};
use crate::iopf::{PageRequest, PageRequestBatch, PageResponse, ResponseCode};
use crate::pasid::PasidOwner;
use crate::sva::Mm;

impl Iommu {
    /// A new, empty process address space whose table has `format`.
    pub fn new_mm(&self, format: softiommu_pgtable::formats::any::AnyFormat) -> Result<Arc<Mm>> {
        Mm::new(format, self.tables.clone())
    }

    /// Binds `mm` to `dev` for shared virtual addressing; returns the PASID the device uses
    /// for it. Every device bound to one address space uses the same PASID; binding again
    /// counts one more reference.
    pub fn sva_bind(&self, dev: DeviceId, mm: &Arc<Mm>) -> Result<Pasid> {
        let mut st = self.state.write();
        let d = st.dev(dev)?;
        let drv = st.driver(d.info.instance)?;
        let caps = EffectiveCaps::of(drv.caps(), d.info.caps);
        if !caps.sva {
            return Err(CoreError::NotSupported(
                "SVA (PASIDs, page requests and SVA in the IOMMU)",
            ));
        }
        if let Some(e) = st.dev_mut(dev)?.sva.get_mut(&mm.id()) {
            e.2 += 1;
            return Ok(e.0);
        }
        let mut fresh = false;
        let pasid = {
            let mut p = mm.pasid.lock();
            match *p {
                Some(p) => p,
                None => {
                    let limit = 1u32 << caps.pasid_bits.min(20);
                    let n = self
                        .pasids
                        .lock()
                        .alloc(limit, PasidOwner::Sva(mm.id()))
                        .ok_or(CoreError::NoPasid)?;
                    *p = Some(n);
                    fresh = true;
                    n
                }
            }
        };
        let family = caps.iommu.family;
        let domain = match mm.domain_for(family) {
            Some(d) => d,
            None => {
                let d = Domain::new(self.domain_id(), Some(family), DomainKind::Sva(mm.clone()));
                let mut domains = mm.domains.lock();
                // Domains of unbound address spaces are gone: forget them.
                domains.retain(|(_, w)| w.strong_count() > 0);
                domains.push((family, Arc::downgrade(&d)));
                d
            }
        };
        let r = if st.dev(dev)?.pasids.contains_key(&pasid) {
            Err(CoreError::Busy(
                "the address space's PASID is in use on this device",
            ))
        } else {
            self.set_pasid(&mut st, dev, pasid, Some(&domain))
        };
        if let Err(e) = r {
            if fresh {
                *mm.pasid.lock() = None;
                let _ = self.pasids.lock().free(pasid, PasidOwner::Sva(mm.id()));
            }
            return Err(e);
        }
        st.dev_mut(dev)?.sva.insert(mm.id(), (pasid, mm.clone(), 1));
        Ok(pasid)
    }

    /// Drops one binding of `mm` to `dev`; the last one detaches the PASID.
    pub fn sva_unbind(&self, dev: DeviceId, mm: &Arc<Mm>) -> Result<()> {
        let mut st = self.state.write();
        let d = st.dev_mut(dev)?;
        let Some(e) = d.sva.get_mut(&mm.id()) else {
            return Err(CoreError::Invalid("address space not bound to this device"));
        };
        e.2 -= 1;
        if e.2 > 0 {
            return Ok(());
        }
        let pasid = e.0;
        self.set_pasid(&mut st, dev, pasid, None)?;
        st.dev_mut(dev)?.sva.remove(&mm.id());
        Ok(())
    }

    /// One DMA request of `dev`, answered by the instance behind it.
    pub fn dma(
        &self,
        dev: DeviceId,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        if pasid.is_some_and(|p| check_pasid(p).is_err()) {
            return Err(DmaFault::BLOCKED);
        }
        let (drv, info) = {
            let st = self.state.read();
            let d = st.dev(dev).map_err(|_| DmaFault::BLOCKED)?;
            (
                st.driver(d.info.instance).map_err(|_| DmaFault::BLOCKED)?,
                d.info,
            )
        };
        drv.dma(&info, pasid, iova, access)
    }

    /// A DMA request from a device with page requests: when the translation faults in a way a
    /// page request can fix, the device sends a page request (group 0, the last of its
    /// group) to its instance, whose driver hands the core what its page-request event
    /// collected; the core routes those requests, and the device retries once if its group
    /// was answered with success.
    pub fn dma_with_page_request(
        &self,
        dev: DeviceId,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        match self.dma(dev, pasid, iova, access) {
            Err(f) if f.recoverable && self.device_caps(dev).is_ok_and(|c| c.pri) => {
                let req = PageRequest {
                    device: dev,
                    pasid,
                    addr: iova,
                    access,
                    group: 0,
                    last: true,
                };
                let Ok((drv, info)) = self.driver_of(dev) else {
                    return Err(f);
                };
                let batch = drv.send_page_request(&info, &req);
                let answer = self
                    .route_page_requests(info.instance, batch)
                    .into_iter()
                    .find_map(|(r, code)| {
                        (r.device == dev && r.pasid == pasid && r.group == req.group)
                            .then_some(code)
                            .flatten()
                    });
                match answer {
                    Some(ResponseCode::Success) => self.dma(dev, pasid, iova, access),
                    _ => Err(f),
                }
            }
            r => r,
        }
    }

    /// The page-request event of instance `inst` (its hardware queued page requests and
    /// raised its interrupt): the driver collects what the hardware queued, and the core
    /// routes each request as [`page_request`](Self::page_request) does. Returns how many
    /// requests were routed.
    pub fn page_request_event(&self, inst: InstanceId) -> Result<usize> {
        let drv = self.state.read().driver(inst)?;
        let batch = drv.take_page_requests();
        Ok(self.route_page_requests(inst, batch).len())
    }

    /// The driver and the driver's view of `dev`.
    fn driver_of(&self, dev: DeviceId) -> Result<(Arc<dyn IommuDriver>, DeviceInfo)> {
        let st = self.state.read();
        let d = st.dev(dev)?;
        Ok((st.driver(d.info.instance)?, d.info))
    }

    /// Routes the requests of `batch`, collected from instance `inst`, in order; after an
    /// overflow, drops the groups its devices still have open. Returns each request with the
    /// answer its group got, if it completed one.
    fn route_page_requests(
        &self,
        inst: InstanceId,
        batch: PageRequestBatch,
    ) -> Vec<(PageRequest, Option<ResponseCode>)> {
        let out: Vec<_> = batch
            .requests
            .into_iter()
            .map(|r| (r, self.page_request(r).ok().flatten()))
            .collect();
        if batch.overflowed {
            let st = self.state.read();
            self.open_groups.lock().retain(|k, _| {
                st.dev(k.0)
                    .map(|d| d.info.instance != inst)
                    .unwrap_or(false)
            });
        }
        out
    }

    /// A page request from a device, as its IOMMU reports it. Requests gather into their
    /// group; the last one of a group has the whole group handled by the fault handler of the
    /// domain at the request's PASID (or RID), and the answer sent to the device once.
    /// Returns the answer when the group is complete. A request with a PASID wider than 20
    /// bits, or from a device the core does not have, is refused: no answer can reach it.
    pub fn page_request(&self, req: PageRequest) -> Result<Option<ResponseCode>> {
        tracing::debug!(target: "core", request = ?req, "I/O page fault");
        if let Some(p) = req.pasid {
            check_pasid(p)?;
        }
        let (drv, info, domain) = {
            let st = self.state.read();
            let d = st.dev(req.device)?;
            let domain = match req.pasid {
                Some(p) => d.pasids.get(&p).cloned(),
                None => d.rid.clone(),
            };
            (st.driver(d.info.instance)?, d.info, domain)
        };
        let key = (req.device, req.pasid, req.group);
        let group = {
            let mut open = self.open_groups.lock();
            let per_device = open.keys().filter(|k| k.0 == req.device).count();
            let known = open.contains_key(&key);
            if !known && per_device >= OPEN_GROUPS_MAX {
                None
            } else {
                open.entry(key).or_default().push(req);
                if !req.last {
                    return Ok(None);
                }
                open.remove(&key)
            }
        };
        if let (Some(reqs), Some(h)) = (&group, domain.as_ref().and_then(|d| d.fault_handler())) {
            // The domain's user answers through `page_response`.
            h.page_request_group(reqs.clone());
            return Ok(None);
        }
        let code = match (group, domain.as_ref().map(|d| d.kind())) {
            (None, _) => ResponseCode::Failure,
            (Some(reqs), Some(DomainKind::Sva(mm))) => {
                let mut code = ResponseCode::Success;
                for r in reqs {
                    let c = mm.handle_fault(r.addr, r.access);
                    if c != ResponseCode::Success {
                        code = c;
                        break;
                    }
                }
                code
            }
            (Some(_), _) => ResponseCode::Invalid,
        };
        drv.page_response(
            &info,
            &PageResponse {
                device: req.device,
                pasid: req.pasid,
                group: req.group,
                code,
            },
        );
        Ok(Some(code))
    }

    /// Sends the answer to a page-request group that a domain's [`FaultHandler`] was
    /// given, through the driver of the device's instance.
    ///
    /// [`FaultHandler`]: crate::FaultHandler
    pub fn page_response(&self, resp: PageResponse) -> Result<()> {
        tracing::debug!(target: "core", response = ?resp, "page response");
        let (drv, info) = self.driver_of(resp.device)?;
        drv.page_response(&info, &resp);
        Ok(())
    }

    /// The event interrupt of instance `inst`: the driver takes the events the hardware
    /// recorded for devices whose domain leaves them to its user, and each goes to the
    /// [`EventHandler`](crate::EventHandler) of the domain at the device's RID. Returns how
    /// many were delivered.
    pub fn event_interrupt(&self, inst: InstanceId) -> Result<usize> {
        let drv = self.state.read().driver(inst)?;
        let mut n = 0;
        for e in drv.take_events() {
            let handler = {
                let st = self.state.read();
                st.dev(e.device)
                    .ok()
                    .and_then(|d| d.rid.clone())
                    .and_then(|d| d.event_handler())
            };
            if let Some(h) = handler {
                h.device_event(e.device, &e.record);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Has the driver of instance `inst` carry out a guest's invalidation commands for its
    /// nested `domains` (see [`IommuDriver::guest_invalidate`]).
    pub fn guest_invalidate(
        &self,
        inst: InstanceId,
        domains: &[Arc<Domain>],
        cmds: &[crate::GuestCommand],
    ) -> Result<()> {
        let drv = self.state.read().driver(inst)?;
        drv.guest_invalidate(domains, cmds)
    }
}

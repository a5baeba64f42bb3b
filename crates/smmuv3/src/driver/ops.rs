//! [`IommuDriver`] for [`SmmuDriver`]: what the core asks of the SMMU, carried out by
//! register writes, structures in memory and commands.

use softiommu_core::{
    CoreError, DeviceInfo, DmaFault, DmaFaultKind, DmaTranslation, Domain, DomainKind, Family,
    HwInfo, HwTable, IoPageTable, IommuCaps, IommuDriver, NestedData, PageRequest,
    PageRequestBatch, PageResponse, PagingRequest, Pasid, ReservedKind, ReservedRegion, Result,
    TableAlloc, Target,
};
use softiommu_pgtable::Access;
use softiommu_pgtable::formats::any::AnyFormat;

use crate::event::EventId;
use crate::model::{Request, RequestKind};
use crate::pri::PriResponse;
use crate::ste::{Ste, SteConfig};
use softiommu_devices::bus::{PageRequest as BusPageRequest, PasidPrefix};

use super::attach::Programmed;
use super::hw::S1_IA_BITS;
use super::{Dev, SmmuDriver};

/// Where the OS maps MSI doorbells for a device's domains: first IOVA and length.
const SOFTWARE_MSI_WINDOW: (u64, u64) = (0x0800_0000, 0x10_0000);

impl IommuDriver for SmmuDriver {
    fn reserved_regions(&self, _dev: &DeviceInfo) -> Vec<ReservedRegion> {
        vec![ReservedRegion {
            start: SOFTWARE_MSI_WINDOW.0,
            last: SOFTWARE_MSI_WINDOW.0 + SOFTWARE_MSI_WINDOW.1 - 1,
            kind: ReservedKind::SoftwareMsi,
        }]
    }

    fn hw_info(&self) -> HwInfo {
        use crate::regs::{
            SMMU_AIDR, SMMU_IDR0, SMMU_IDR1, SMMU_IDR2, SMMU_IDR3, SMMU_IDR4, SMMU_IDR5, SMMU_IIDR,
        };
        // The identification registers are read-only: read them as they are now.
        let r = |off| self.unit.mmio_read(off, 4) as u32;
        HwInfo::Smmuv3 {
            idr: [
                SMMU_IDR0, SMMU_IDR1, SMMU_IDR2, SMMU_IDR3, SMMU_IDR4, SMMU_IDR5,
            ]
            .map(r),
            iidr: r(SMMU_IIDR),
            aidr: r(SMMU_AIDR),
        }
    }

    fn caps(&self) -> IommuCaps {
        let h = &self.hw;
        let (s1, s2) = (h.idr0.s1p(), h.idr0.s2p());
        let ssid = h.ssid_bits();
        IommuCaps {
            family: Family::Smmuv3,
            page_sizes: h.page_sizes(),
            ia_bits: if s1 { S1_IA_BITS } else { h.oas },
            oa_bits: h.oas,
            pasid_bits: ssid,
            first_stage: s1,
            second_stage: s2,
            nesting: s1 && s2,
            sva: s1 && ssid > 0 && h.idr0.pri(),
            dirty_tracking: h.dirty_ok(),
            ats: h.idr0.ats(),
            pri: h.idr0.pri(),
        }
    }

    fn probe(&self, dev: &DeviceInfo) -> Result<()> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        if st.devices.contains_key(&dev.id) {
            return Err(CoreError::Busy("device probed twice"));
        }
        let sid = u32::from(dev.rid.source_id());
        if st.devices.values().any(|d| d.sid == sid) {
            return Err(CoreError::Busy("StreamID already probed"));
        }
        let ste_at = st.strtab.ste_at(&self.mem, &self.alloc, sid)?;
        let abort = Ste::with_config(SteConfig::Abort);
        // The STE already aborts (every fresh STE does); make sure of it.
        let current = Ste::read(&*self.mem, ste_at)?;
        let ats = self.hw.idr0.ats() && dev.caps.ats;
        st.devices.insert(
            dev.id,
            Dev {
                info: *dev,
                sid,
                ste_at,
                ste: current,
                ssid_bits: dev.caps.pasid_bits.min(self.hw.ssid_bits()),
                cd: None,
                rid: Programmed::Blocked,
                pasids: Default::default(),
                ats,
                pri: ats && self.hw.idr0.pri() && dev.caps.pri,
            },
        );
        self.write_ste(st, dev.id, abort)
    }

    fn release(&self, dev: &DeviceInfo) {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        if !st.devices.contains_key(&dev.id) {
            return;
        }
        let _ = self.write_ste(st, dev.id, Ste::with_config(SteConfig::Abort));
        let Some(d) = st.devices.remove(&dev.id) else {
            return;
        };
        let mut inv = self.release_dev(st, &d);
        if d.ats {
            inv.push(Self::atc_inv(d.sid, None));
        }
        let ok = self.run_invalidations(st, &inv).is_ok();
        if ok && let Some(t) = &d.cd {
            // Nothing walks it any more.
            t.free(&self.alloc);
        }
    }

    fn alloc_table(&self, req: &PagingRequest, alloc: &TableAlloc) -> Result<Box<dyn IoPageTable>> {
        // Dirty tracking is stage 1's (HTTU); a nesting parent is a stage-2 table.
        if req.dirty_tracking && req.nest_parent {
            return Err(CoreError::NotSupported("dirty tracking of a stage-2 table"));
        }
        let format = if req.nest_parent || !self.hw.idr0.s1p() {
            if req.dirty_tracking {
                return Err(CoreError::NotSupported("dirty tracking without stage 1"));
            }
            self.hw.s2_format()?
        } else {
            self.hw.s1_format(req.dirty_tracking)?
        };
        Ok(Box::new(HwTable::new(format, alloc.clone())?))
    }

    fn check_domain(&self, domain: &Domain) -> std::result::Result<(), &'static str> {
        match domain.kind() {
            DomainKind::Paging(_) => {
                let f = domain.table_format()?;
                if matches!(f, AnyFormat::ArmS2(_)) {
                    self.hw.check_s2(&f).map(|_| ())
                } else {
                    self.hw.check_s1(&f).map(|_| ())
                }
            }
            DomainKind::Sva(mm) => self.hw.check_s1(mm.format()).map(|_| ()),
            DomainKind::Nested(n) => match &n.data {
                NestedData::PasidTable { format, .. } => {
                    self.hw.check_s1(format)?;
                    self.hw.check_s2(&n.parent.table_format()?).map(|_| ())
                }
                NestedData::Stage1 { .. } => {
                    Err("SMMUv3 nests a user's whole CD table, not one stage-1 table")
                }
            },
            DomainKind::Blocked | DomainKind::Identity => Ok(()),
        }
    }

    fn set_rid(&self, dev: &DeviceInfo, new: Target<'_>, _old: Target<'_>) -> Result<()> {
        self.set_target(dev, None, new)
    }

    fn set_pasid(
        &self,
        dev: &DeviceInfo,
        pasid: Pasid,
        new: Target<'_>,
        _old: Target<'_>,
    ) -> Result<()> {
        self.set_target(dev, Some(pasid), new)
    }

    fn flush(&self, domain: &Domain, range: Option<(u64, u64)>, tables_freed: bool) {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let cmds = self.flush_cmds(st, domain, range, tables_freed);
        if !cmds.is_empty() {
            // The trait gives flush no way to fail; a refused command was recovered from.
            let _ = self.run_invalidations(st, &cmds);
        }
    }

    fn flush_map(&self, domain: &Domain, range: (u64, u64)) {
        if self.tlbi_on_map() {
            self.flush(domain, Some(range), false);
        }
    }

    fn page_response(&self, dev: &DeviceInfo, resp: &PageResponse) {
        // A PASID the command cannot hold names no group of the device.
        if !self.hw.idr0.pri() || resp.pasid.is_some_and(|p| p >= softiommu_core::PASID_LIMIT) {
            return;
        }
        let code = match resp.code {
            softiommu_core::ResponseCode::Success => PriResponse::Success,
            softiommu_core::ResponseCode::Invalid => PriResponse::InvalidRequest,
            softiommu_core::ResponseCode::Failure => PriResponse::Failure,
        };
        let cmd = Self::pri_resp_for(u32::from(dev.rid.source_id()), resp.pasid, resp.group, code);
        let mut st = self.state.lock();
        let _ = self.run(&mut st, &[cmd]);
    }

    fn send_page_request(&self, dev: &DeviceInfo, req: &PageRequest) -> PageRequestBatch {
        // No device sends a PASID wider than the request's field.
        if !self.hw.idr0.pri() || req.pasid.is_some_and(|p| p >= softiommu_core::PASID_LIMIT) {
            return PageRequestBatch::default();
        }
        let prefix = req.pasid.map(|pasid| PasidPrefix {
            pasid,
            execute: req.access.exec,
            privileged: req.access.privileged,
        });
        let rid = dev.rid.source_id();
        let (write, group) = (req.access.write, req.group);
        let message = BusPageRequest::for_access(rid, prefix, req.addr, write, group, req.last);
        // The request and the drain that follows run under the lock, so that concurrent
        // senders each find their own request.
        let mut st = self.state.lock();
        self.unit.page_request(&message);
        self.drain_priq(&mut st)
    }

    fn take_page_requests(&self) -> PageRequestBatch {
        self.drain_priq(&mut self.state.lock())
    }

    fn guest_invalidate(
        &self,
        domains: &[std::sync::Arc<softiommu_core::Domain>],
        cmds: &[softiommu_core::GuestCommand],
    ) -> Result<()> {
        self.guest_commands(domains, cmds)
    }

    fn take_events(&self) -> Vec<softiommu_core::DeviceEvent> {
        let mut st = self.state.lock();
        self.drain_events(&mut st);
        st.user_events.drain(..).collect()
    }

    fn dma(
        &self,
        dev: &DeviceInfo,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        let req = Request {
            sid: u32::from(dev.rid.source_id()),
            ssid: pasid,
            addr: iova,
            access,
            kind: RequestKind::default(),
        };
        match self.unit.translate(req) {
            Ok(t) => Ok(DmaTranslation {
                pa: t.pa,
                len: t.len,
            }),
            Err(f) => Err(self.dma_fault(dev, pasid, f.id())),
        }
    }
}

impl SmmuDriver {
    /// A refused DMA as the core sees it; the event queue is drained on the way.
    fn dma_fault(&self, dev: &DeviceInfo, pasid: Option<Pasid>, id: Option<EventId>) -> DmaFault {
        use EventId as E;
        let mut st = self.state.lock();
        self.drain_events(&mut st);
        let d = st.devices.get(&dev.id);
        let guest_owned = d.is_some_and(|d| d.rid.claims());
        let kind = match id {
            None => DmaFaultKind::Blocked,
            Some(E::Translation | E::Access) => DmaFaultKind::NotPresent,
            Some(E::Permission) => DmaFaultKind::Permission,
            Some(E::AddrSize) => DmaFaultKind::AddressSize,
            Some(E::StreamDisabled | E::BadStreamId) => DmaFaultKind::Blocked,
            // A host CD table: nothing is attached there. A user's: its configuration.
            Some(E::BadCd | E::BadSubstreamId) if !guest_owned => DmaFaultKind::Blocked,
            Some(_) => DmaFaultKind::BadConfig,
        };
        // A fault an I/O page fault handler can resolve, from a device that can ask: not
        // present or not writable in an SVA address space, with page requests.
        DmaFault::new(kind, || {
            d.is_some_and(|d| {
                d.pri
                    && pasid
                        .and_then(|p| d.pasids.get(&p))
                        .is_some_and(|p| matches!(p, Programmed::S1 { sva: true, .. }))
            })
        })
    }
}

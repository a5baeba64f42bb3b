//! [`IommuDriver`] for [`VtdDriver`]: what the core asks of the unit, carried out by
//! register writes and structures in memory.

use softiommu_core::{
    CoreError, DeviceInfo, DmaFault, DmaTranslation, Domain, DomainKind, Family, HwInfo, HwTable,
    IoPageTable, IommuCaps, IommuDriver, NestedData, PageRequest, PageRequestBatch, PageResponse,
    PagingRequest, Pasid, ReservedKind, ReservedRegion, Result, TableAlloc, Target,
};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;
use softiommu_pgtable::formats::any::AnyFormat;

use crate::desc::ResponseCode;
use crate::model::Request;

use super::{Dev, RID_PASID, VtdDriver, prq};

impl<M: AddressSpace + 'static> IommuDriver for VtdDriver<M> {
    fn caps(&self) -> IommuCaps {
        let h = &self.hw;
        let fs = h.ecap.fsts();
        let ss = h.ss_levels.is_some();
        let mut page_sizes = 0;
        let mut ia_bits = 0;
        if ss {
            page_sizes |= h.ss_sizes();
            ia_bits = (12 + 9 * h.ss_levels.unwrap_or(4)).min(h.mgaw.max(39));
        }
        if fs {
            page_sizes |= h.fs_sizes();
            ia_bits = ia_bits.max(48);
        }
        IommuCaps {
            family: Family::Vtd,
            page_sizes,
            ia_bits,
            oa_bits: h.haw,
            pasid_bits: h.pasid_bits,
            first_stage: fs,
            second_stage: ss,
            nesting: h.ecap.nest() && fs && ss,
            sva: fs && h.ecap.prs() && h.pasid_bits > 0,
            dirty_tracking: ss && h.ecap.ssads(),
            ats: h.ecap.dt(),
            pri: h.ecap.prs(),
        }
    }

    fn hw_info(&self) -> HwInfo {
        // CAP and ECAP as read at bring-up: read-only registers.
        HwInfo::Vtd {
            cap: self.hw.cap.into_bits(),
            ecap: self.hw.ecap.into_bits(),
        }
    }

    fn reserved_regions(&self, _dev: &DeviceInfo) -> Vec<ReservedRegion> {
        // Requests to the interrupt window are interrupt requests, never translated DMA.
        vec![ReservedRegion {
            start: *crate::model::INTERRUPT_WINDOW.start(),
            last: *crate::model::INTERRUPT_WINDOW.end(),
            kind: ReservedKind::Msi,
        }]
    }

    fn probe(&self, dev: &DeviceInfo) -> Result<()> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        if st.devices.contains_key(&dev.id) {
            return Err(CoreError::Busy("device probed twice"));
        }
        let (bus, devfn) = (dev.rid.bus, dev.rid.devfn);
        if st
            .devices
            .values()
            .any(|d| d.info.rid.source_id() == dev.rid.source_id())
        {
            return Err(CoreError::Busy("requester ID already probed"));
        }
        let ctx_at = self.context_entry(st, bus, devfn)?;
        // A directory for the whole PASID width: 2^(PDTS+7) entries of 64 PASIDs each.
        let bits = self.hw.pasid_bits.max(13);
        let pdts = (bits - 13).min(7);
        let dir_bytes = 8u64 << (pdts + 7);
        let dir = self.alloc.alloc(dir_bytes.max(4096))?;
        let ats = self.hw.ecap.dt() && dev.caps.ats;
        let ctx = self.context_for(dir, pdts, ats, dev.caps.pasid_bits > 0);
        if let Err(e) = ctx.write(&*self.mem, ctx_at) {
            let _ = self.alloc.free(dir, dir_bytes.max(4096));
            return Err(e.into());
        }
        st.devices.insert(
            dev.id,
            Dev {
                info: *dev,
                ctx_at,
                dir,
                dir_bytes,
                tables: Default::default(),
                entries: Default::default(),
                ats,
                // PRE needs DTE (SCT.4).
                pri: ats && self.hw.ecap.prs() && dev.caps.pri,
                ctx,
            },
        );
        Ok(())
    }

    fn release(&self, dev: &DeviceInfo) {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let Some(d) = st.devices.remove(&dev.id) else {
            return;
        };
        // The context entry goes not present, then Table 28's context-entry sequence:
        // device-selective cc, domain-selective pc and iotlb per DID, device-TLB.
        let _ = self.mem.store_u64(d.ctx_at, 0);
        for k in 1..4 {
            let _ = self.mem.store_u64(d.ctx_at + 8 * k, 0);
        }
        let descs = self.context_change_descs(&d);
        let ok = self.run(st, &descs).is_ok();
        for (&pasid, p) in &d.entries {
            if let Some(dom) = p.domain {
                Self::did_drop(st, dom, (dev.id, pasid));
            }
        }
        if ok {
            // Nothing walks them any more.
            for &t in d.tables.values() {
                let _ = self.alloc.free(t, 4096);
            }
            let _ = self.alloc.free(d.dir, d.dir_bytes.max(4096));
        }
    }

    fn alloc_table(&self, req: &PagingRequest, alloc: &TableAlloc) -> Result<Box<dyn IoPageTable>> {
        let format = if req.pasid && !req.nest_parent && !req.dirty_tracking && self.hw.ecap.fsts()
        {
            self.hw.fs_format()?
        } else {
            if req.dirty_tracking && !self.hw.ecap.ssads() {
                return Err(CoreError::NotSupported("second-stage dirty tracking"));
            }
            self.hw.ss_format(req.dirty_tracking)?
        };
        Ok(Box::new(HwTable::new(format, alloc.clone())?))
    }

    fn check_domain(&self, domain: &Domain) -> std::result::Result<(), &'static str> {
        match domain.kind() {
            DomainKind::Paging(_) => {
                let f = domain.table_format()?;
                if matches!(f, AnyFormat::X86(_)) {
                    self.hw.check_fs(&f).map(|_| ())
                } else {
                    self.hw.check_ss(&f).map(|_| ())
                }
            }
            DomainKind::Sva(mm) => self.hw.check_fs(mm.format()).map(|_| ()),
            DomainKind::Nested(n) => match &n.data {
                NestedData::Stage1 { format, .. } => {
                    if !self.hw.ecap.nest() {
                        return Err("no nesting");
                    }
                    self.hw.check_fs(format)?;
                    let parent = n.parent.table_format()?;
                    self.hw.check_ss(&parent).map(|_| ())
                }
                NestedData::PasidTable { .. } => Err(
                    "a user-owned PASID table is the SMMUv3 model; VT-d nests one stage-1 table",
                ),
            },
            DomainKind::Blocked => Ok(()),
            DomainKind::Identity => {
                if self.hw.ecap.pt() {
                    Ok(())
                } else {
                    Err("no pass-through")
                }
            }
        }
    }

    fn set_rid(&self, dev: &DeviceInfo, new: Target<'_>, _old: Target<'_>) -> Result<()> {
        self.set_target(dev, RID_PASID, new)
    }

    fn set_pasid(
        &self,
        dev: &DeviceInfo,
        pasid: Pasid,
        new: Target<'_>,
        _old: Target<'_>,
    ) -> Result<()> {
        if pasid == RID_PASID {
            return Err(CoreError::Invalid("PASID 0 is the RID's (RID_PASID)"));
        }
        self.set_target(dev, pasid, new)
    }

    fn flush(&self, domain: &Domain, range: Option<(u64, u64)>, tables_freed: bool) {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let mut descs = std::mem::take(&mut st.flush_buf);
        descs.clear();
        self.flush_descs(st, domain, range, tables_freed, &mut descs);
        if !descs.is_empty() {
            // The trait gives flush no way to fail; a queue error was recovered from already.
            let _ = self.run(st, &descs);
        }
        st.flush_buf = descs;
    }

    fn flush_map(&self, domain: &Domain, range: (u64, u64)) {
        // Only a unit in caching mode is owed anything for a new mapping (CAP is read-only).
        if !self.hw.cap.cm() {
            return;
        }
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let descs = self.flush_map_descs(st, domain, range);
        if !descs.is_empty() {
            // As for `flush`: no way to fail, a queue error was recovered from already.
            let _ = self.run(st, &descs);
        }
    }

    fn page_response(&self, dev: &DeviceInfo, resp: &PageResponse) {
        // A PASID the descriptor cannot hold names no group of the device.
        if !self.hw.ecap.prs() || resp.pasid.is_some_and(|p| p >= softiommu_core::PASID_LIMIT) {
            return;
        }
        let rc = match resp.code {
            softiommu_core::ResponseCode::Success => ResponseCode::Success,
            softiommu_core::ResponseCode::Invalid => ResponseCode::InvalidRequest,
            softiommu_core::ResponseCode::Failure => ResponseCode::Failure,
        };
        let d = prq::group_response(dev.rid.source_id(), resp.pasid, resp.group, rc);
        let mut st = self.state.lock();
        let _ = self.run(&mut st, &[d.to_words()]);
    }

    fn send_page_request(&self, dev: &DeviceInfo, req: &PageRequest) -> PageRequestBatch {
        // No device sends a PASID wider than the request's field.
        if !self.hw.ecap.prs() || req.pasid.is_some_and(|p| p >= softiommu_core::PASID_LIMIT) {
            return PageRequestBatch::default();
        }
        self.prq_send(&Self::prq_message(dev, req))
    }

    fn take_page_requests(&self) -> PageRequestBatch {
        self.prq_drain(&mut self.state.lock())
    }

    fn dma(
        &self,
        dev: &DeviceInfo,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        let req = Request {
            sid: dev.rid.source_id(),
            pasid,
            addr: iova,
            access,
        };
        match self.unit.translate(req) {
            Ok(t) => Ok(DmaTranslation {
                pa: t.pa,
                len: t.len,
            }),
            Err(f) => Err(self.dma_fault(dev, pasid, f.reason)),
        }
    }
}

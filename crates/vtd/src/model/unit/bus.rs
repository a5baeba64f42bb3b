//! The unit on the bus: a PCI function's DMA, ATS translation requests, page requests and
//! MSIs come in through [`Upstream`]; device-TLB invalidations and page group responses go
//! out to the [`Endpoint`] attached for the requester.
//!
//! - A translated request or an ATS translation request to a unit without ECAP.DT, or while
//!   translation is disabled (a translation request; a translated request then passes as
//!   every request does), answers Unsupported Request without a fault record.
//! - A DMA fault answers Completer Abort when it is an access error and Unsupported Request
//!   otherwise.
//! - An MSI to the interrupt range (FEEx_xxxxh) without a PASID is an interrupt request,
//!   which DMA remapping leaves alone; interrupt remapping is not modelled, so it is written
//!   to memory as it is (compatibility format). Any other MSI is a 4-byte DMA write.
//! - An endpoint that reports a device-TLB invalidation as timed out sets FSTS.ITE with its
//!   requester in IQERCD.ITESID; the queue stops fetching after that descriptor.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use softiommu_devices::bus::{
    AddressType as At, AtcInvalidation, AtcInvalidationStatus, AtsFailure, AtsRequest,
    AtsTranslation, DmaFault, DmaRequest, Endpoint, MsiMessage, PageRequest as BusPageRequest,
    PageResponse, PageResponseCode, PasidPrefix, Rights, Translation, Upstream,
};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::{Access, Perm};

use super::VtdUnit;
use crate::desc::{PageRequest, PageRequestQw0, PageRequestQw1, ResponseCode};
use crate::model::{AtsDisposition, Fault, Request};
use crate::regs::{AddressType, RegisterFile};

use crate::model::INTERRUPT_WINDOW as INTERRUPTS;

/// The model's request for a bus request's fields; `None` when its PASID does not fit 20
/// bits (a malformed request).
fn request(rid: u16, pasid: Option<PasidPrefix>, addr: u64, write: bool) -> Option<Request> {
    if pasid.is_some_and(|p| !p.is_valid()) {
        return None;
    }
    Some(Request {
        sid: rid,
        pasid: pasid.map(|p| p.pasid),
        addr,
        access: Access {
            write,
            exec: pasid.is_some_and(|p| p.execute),
            privileged: pasid.is_some_and(|p| p.privileged),
        },
    })
}

/// The rights `perm` gives a request at privilege `privileged`.
fn rights(perm: Perm, privileged: bool) -> Rights {
    let (r, w, x) = if privileged {
        (Perm::PR, Perm::PW, Perm::PX)
    } else {
        (Perm::UR, Perm::UW, Perm::UX)
    };
    Rights {
        read: perm.contains(r),
        write: perm.contains(w),
        execute: perm.contains(x),
        privileged,
    }
}

/// What the device sees of fault `f`.
fn dma_fault(f: &Fault) -> DmaFault {
    if f.reason.is_access_error() {
        DmaFault::CompleterAbort
    } else {
        DmaFault::UnsupportedRequest
    }
}

/// The bus's code for a page group response code (a reserved one is a failure to the
/// device).
fn response_code(code: ResponseCode) -> PageResponseCode {
    match code {
        ResponseCode::Success => PageResponseCode::Success,
        ResponseCode::InvalidRequest => PageResponseCode::InvalidRequest,
        ResponseCode::Failure | ResponseCode::Reserved(_) => PageResponseCode::ResponseFailure,
    }
}

impl<M: AddressSpace> VtdUnit<M> {
    /// The endpoint attached for `rid`.
    fn endpoint(&self, rid: u16) -> Option<Arc<dyn Endpoint>> {
        self.endpoints.read().get(&rid).cloned()
    }

    /// Sends a page group response to requester `rid`: to the device sink and to the
    /// endpoint attached for `rid`.
    pub(super) fn send_page_response(
        &self,
        rid: u16,
        pasid: Option<u32>,
        prgi: u16,
        code: ResponseCode,
    ) {
        self.device.page_response(rid, pasid, prgi, code);
        if let Some(ep) = self.endpoint(rid) {
            ep.page_response(&PageResponse {
                rid,
                pasid,
                prgi,
                code: response_code(code),
            });
        }
    }

    /// Invalidates the device-TLB of requester `sid` (the `pages` pages from `page`, of
    /// `pasid` or, with `global`, of every PASID), and waits for
    /// the attached endpoint to complete it. Returns `false` after a time-out, with FSTS.ITE
    /// set.
    pub(super) fn send_atc_invalidation(
        &self,
        regs: &mut RegisterFile,
        sid: u16,
        pasid: Option<u32>,
        global: bool,
        (page, pages): (u64, u64),
    ) -> bool {
        let addr = page << 12;
        self.device
            .invalidate_atc(sid, pasid.filter(|_| !global), addr, pages);
        let Some(ep) = self.endpoint(sid) else {
            return true;
        };
        let inv = AtcInvalidation {
            rid: sid,
            pasid,
            global,
            addr,
            size_log2: (12 + pages.trailing_zeros()).min(64) as u8,
        };
        match ep.invalidate_atc(&inv) {
            AtcInvalidationStatus::Completed => true,
            AtcInvalidationStatus::TimedOut => {
                regs.set_ite(sid);
                false
            }
        }
    }
}

impl<M: AddressSpace> VtdUnit<M> {
    /// [`Upstream::translate`] of a request that is not a plain IOTLB hit.
    #[inline(never)]
    fn translate_slow(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        let r = request(req.rid, req.pasid, req.addr, req.is_write())
            .ok_or(DmaFault::UnsupportedRequest)?;
        let result = match req.at {
            At::Untranslated => {
                VtdUnit::translate(self, r).map(|t| self.engine.extend_hits(r, t, req.len))
            }
            At::Translated if !self.te.load(Ordering::Acquire) => VtdUnit::translate(self, r),
            At::Translated if !self.dt => return Err(DmaFault::UnsupportedRequest),
            At::Translated => self.remap(r, AddressType::Translated, |r| {
                self.engine.translated_request(r)
            }),
        };
        match result {
            Ok(t) => Ok(Translation {
                addr: t.pa,
                len: t.len,
                rights: rights(t.perm, r.access.privileged),
            }),
            Err(f) => Err(dma_fault(&f)),
        }
    }
}

impl<M: AddressSpace> Upstream for VtdUnit<M> {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        // A plain IOTLB hit is answered here, its values kept in registers; anything else
        // goes out of line.
        if matches!(req.at, At::Untranslated)
            && let Some(r) = request(req.rid, req.pasid, req.addr, req.is_write())
            && let Some(mut t) = self.translate_hit(r)
        {
            if t.len < req.len {
                t = self.engine.extend_hits(r, t, req.len);
            }
            return Ok(Translation {
                addr: t.pa,
                len: t.len,
                rights: rights(t.perm, r.access.privileged),
            });
        }
        self.translate_slow(req)
    }

    fn memory(&self) -> &dyn AddressSpace {
        &self.mem
    }

    fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        let r =
            request(req.rid, req.pasid, req.addr, false).ok_or(AtsFailure::UnsupportedRequest)?;
        if !self.dt || !self.te.load(Ordering::Acquire) {
            return Err(AtsFailure::UnsupportedRequest);
        }
        let answer = self.remap(r, AddressType::TranslationRequest, |r| {
            match self.engine.translation_request(r, req.no_write) {
                Err(f) if f.reason.ats_disposition() == AtsDisposition::NoAccess => Ok(None),
                other => other,
            }
        });
        let no_access = AtsTranslation::no_access(req.addr);
        match answer {
            Ok(Some(g)) => Ok(AtsTranslation {
                translated: g.pa,
                rights: Rights {
                    read: g.read,
                    write: g.write,
                    execute: false,
                    privileged: r.access.privileged,
                },
                ..no_access
            }),
            Ok(None) => Ok(no_access),
            Err(f) => Err(match f.reason.ats_disposition() {
                AtsDisposition::CompleterAbort => AtsFailure::CompleterAbort,
                _ => AtsFailure::UnsupportedRequest,
            }),
        }
    }

    fn page_request(&self, req: &BusPageRequest) {
        if !req.is_valid() {
            return;
        }
        let p = req.pasid;
        VtdUnit::page_request(
            self,
            PageRequest {
                qw0: PageRequestQw0::new()
                    .with_pp(p.is_some())
                    .with_rid(req.rid)
                    .with_pasid(p.map_or(0, |p| p.pasid))
                    .with_exr(p.is_some_and(|p| p.execute))
                    .with_pmr(p.is_some_and(|p| p.privileged)),
                qw1: PageRequestQw1::new()
                    .with_rdr(req.read)
                    .with_wrr(req.write)
                    .with_lpig(req.last)
                    .with_prgi(req.prgi)
                    .with_addr(req.addr >> 12),
            },
        );
    }

    fn msi(&self, rid: u16, msg: MsiMessage) -> Result<(), DmaFault> {
        let data = msg.data.to_le_bytes();
        if INTERRUPTS.contains(&msg.addr) {
            return self
                .mem
                .write(msg.addr, &data)
                .map_err(|_| DmaFault::UnsupportedRequest);
        }
        self.dma_write(&DmaRequest::write(rid, msg.addr, 4), &data)
            .map_err(|e| e.fault)
    }

    fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>) {
        self.endpoints.write().insert(rid, endpoint);
    }

    fn detach(&self, rid: u16) {
        self.endpoints.write().remove(&rid);
    }
}

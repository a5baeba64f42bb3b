//! The SMMU on the bus: a PCI function's DMA, ATS translation requests, page requests and
//! MSIs come in through [`Upstream`] (its requester ID is its StreamID); what the SMMU sends
//! a function goes to the [`Endpoint`] attached for it, through a [`DeviceSink`] that
//! speaks the bus's terms.
//!
//! Model choices:
//!
//! - A refused DMA request with an abort answers Completer Abort after an external abort
//!   (F_STE_FETCH, F_CD_FETCH, F_WALK_EABT) and Unsupported Request otherwise; CD.A=0
//!   terminates it as reads of zeros and discarded writes; a stalled one reports its STAG.
//! - An ATS translation request asks for read and, unless it says No Write, write; each
//!   right is granted only if the translation for it succeeds (so the dirty state is set
//!   before write is granted). A translation-related fault (F_TRANSLATION, F_ADDR_SIZE,
//!   F_ACCESS, F_PERMISSION) answers R=W=0; an external abort, Completer Abort; anything
//!   else (F_BAD_ATS_TREQ, configuration errors, an aborting STE), Unsupported Request.
//!   Completions cover one 4 KiB page.
//! - An MSI is a 32-bit DMA write, translated as any other (the doorbell is mapped in the
//!   function's domain).

use std::sync::Arc;

use softiommu_devices::bus::{
    AddressType, AtcInvalidation as BusInvalidation, AtcInvalidationStatus, AtsFailure, AtsRequest,
    AtsTranslation, DmaFault, DmaRequest, Endpoint, MsiMessage, PageRequest as BusPageRequest,
    PageResponse, PageResponseCode, PasidPrefix, Rights, StallOutcome, Translation, Upstream,
};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::{Access, Perm};

use super::{AtcCompletion, AtcInvalidation, DeviceSink, SmmuUnit};
use crate::cmd::ResumeAction;
use crate::event::EventId;
use crate::model::{Fault, Request, RequestKind, Translated};
use crate::pri::{PageRequest, PriAccess, PriResponse};

/// The SMMU's request for a bus request's fields; `None` when its PASID does not fit 20
/// bits.
fn request(
    rid: u16,
    pasid: Option<PasidPrefix>,
    addr: u64,
    write: bool,
    kind: RequestKind,
) -> Option<Request> {
    if pasid.is_some_and(|p| !p.is_valid()) {
        return None;
    }
    Some(Request {
        sid: u32::from(rid),
        ssid: pasid.map(|p| p.pasid),
        addr,
        access: Access {
            write,
            exec: pasid.is_some_and(|p| p.execute),
            privileged: pasid.is_some_and(|p| p.privileged),
        },
        kind,
    })
}

/// Whether fault `f` is an external abort.
fn external_abort(f: &Fault) -> bool {
    matches!(
        f.id(),
        Some(EventId::SteFetch | EventId::CdFetch | EventId::WalkEabt)
    )
}

/// What the function sees of fault `f`.
fn dma_fault(f: &Fault) -> DmaFault {
    if let Some(tag) = f.stalled() {
        DmaFault::Stalled { tag }
    } else if !f.abort {
        DmaFault::ReadAsZero
    } else if external_abort(f) {
        DmaFault::CompleterAbort
    } else {
        DmaFault::UnsupportedRequest
    }
}

/// The rights `t` gives a request at privilege `privileged`.
fn rights(t: &Translated, privileged: bool) -> Rights {
    let [r, w, x] = if privileged {
        [Perm::PR, Perm::PW, Perm::PX]
    } else {
        [Perm::UR, Perm::UW, Perm::UX]
    };
    Rights {
        read: t.perm.contains(r),
        write: t.perm.contains(w),
        execute: t.perm.contains(x),
        privileged,
    }
}

/// The SMMU's messages to one function, passed on to its endpoint in the bus's terms.
struct OnBus {
    rid: u16,
    endpoint: Arc<dyn Endpoint>,
}

impl DeviceSink for OnBus {
    fn invalidate_atc(&self, _sid: u32, inv: AtcInvalidation) -> AtcCompletion {
        let inv = BusInvalidation {
            rid: self.rid,
            pasid: inv.pasid,
            global: inv.global,
            addr: inv.addr,
            size_log2: inv.span_log2.min(64) as u8,
        };
        match self.endpoint.invalidate_atc(&inv) {
            AtcInvalidationStatus::Completed => AtcCompletion::Completed,
            AtcInvalidationStatus::TimedOut => AtcCompletion::Failed,
        }
    }

    fn page_response(&self, _sid: u32, pasid: Option<u32>, prgi: u16, response: PriResponse) {
        let code = match response {
            PriResponse::Success => PageResponseCode::Success,
            PriResponse::InvalidRequest => PageResponseCode::InvalidRequest,
            PriResponse::Failure | PriResponse::Reserved => PageResponseCode::ResponseFailure,
        };
        self.endpoint.page_response(&PageResponse {
            rid: self.rid,
            pasid,
            prgi,
            code,
        });
    }

    fn resume(&self, _sid: u32, stag: u16, action: ResumeAction) {
        let outcome = match action {
            ResumeAction::Retry => StallOutcome::Retry,
            ResumeAction::Terminate { abort } => StallOutcome::Terminate { abort },
        };
        self.endpoint.resume(self.rid, stag, outcome);
    }
}

impl<M: AddressSpace> Upstream for SmmuUnit<M> {
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault> {
        let kind = match req.at {
            AddressType::Untranslated => RequestKind::Untranslated,
            AddressType::Translated => RequestKind::Translated,
        };
        let r = request(req.rid, req.pasid, req.addr, req.is_write(), kind)
            .ok_or(DmaFault::UnsupportedRequest)?;
        match SmmuUnit::translate(self, r).map(|t| self.engine.extend_hits(r, t, req.len)) {
            Ok(t) => Ok(Translation {
                addr: t.pa,
                len: t.len,
                rights: rights(&t, r.access.privileged),
            }),
            Err(f) => Err(dma_fault(&f)),
        }
    }

    fn memory(&self) -> &dyn AddressSpace {
        self.engine.memory()
    }

    fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure> {
        let page = req.addr & !0xfff;
        let read = request(
            req.rid,
            req.pasid.map(|p| PasidPrefix {
                execute: false,
                ..p
            }),
            page,
            false,
            RequestKind::TranslationRequest,
        )
        .ok_or(AtsFailure::UnsupportedRequest)?;
        let t = match SmmuUnit::translate(self, read) {
            Ok(t) => t,
            Err(f) if f.id().is_some_and(EventId::translation_related) => {
                return Ok(AtsTranslation::no_access(page));
            }
            Err(f) if external_abort(&f) => return Err(AtsFailure::CompleterAbort),
            Err(_) => return Err(AtsFailure::UnsupportedRequest),
        };
        let privileged = read.access.privileged;
        let mut rights = rights(&t, privileged);
        rights.execute = false;
        if rights.write {
            let write = Request {
                access: Access {
                    write: true,
                    ..read.access
                },
                ..read
            };
            rights.write = !req.no_write && SmmuUnit::translate(self, write).is_ok();
        }
        Ok(AtsTranslation {
            translated: t.pa & !0xfff,
            rights,
            ..AtsTranslation::no_access(page)
        })
    }

    fn page_request(&self, req: &BusPageRequest) {
        if !req.is_valid() {
            return;
        }
        let p = req.pasid;
        SmmuUnit::page_request(
            self,
            PageRequest::new(
                u32::from(req.rid),
                p.map(|p| p.pasid),
                req.prgi,
                req.addr,
                PriAccess {
                    read: req.read,
                    write: req.write,
                    exec: p.is_some_and(|p| p.execute),
                    privileged: p.is_some_and(|p| p.privileged),
                },
                req.last,
            ),
        );
    }

    fn msi(&self, rid: u16, msg: MsiMessage) -> Result<(), DmaFault> {
        self.dma_write(
            &DmaRequest::write(rid, msg.addr, 4),
            &msg.data.to_le_bytes(),
        )
        .map_err(|e| e.fault)
    }

    fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>) {
        self.attach_device(u32::from(rid), Arc::new(OnBus { rid, endpoint }));
    }

    fn detach(&self, rid: u16) {
        self.detach_device(u32::from(rid));
    }
}

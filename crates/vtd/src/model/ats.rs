//! ATS traffic through the engine: translation requests answered from the structures and
//! the page tables, and translated requests checked against the context entry.
//!
//! Model choices (the specification's table of translation-request outcomes, as read here):
//!
//! - A fault of the page walk itself (not present, permission, address width, canonical
//!   form, U/S, output in the interrupt range) is no error for a translation request: it is
//!   answered with R=W=0 and nothing is recorded, so the device may ask for the page with a
//!   page request.
//! - An error reading a structure or paging entry answers Completer Abort; every other
//!   structure fault (not present, reserved bits, invalid programming, DTE=0) answers
//!   Unsupported Request. Both are recorded as for any request (qualified ones not when FPD
//!   is 1), with address type "translation request".
//! - Execute is never granted (ECAP.ERS=0), so a translation request asks for read and,
//!   unless it says No Write, write; each right is granted only if the walk for it succeeds
//!   (the write walk sets the dirty state the device may then use).

use softiommu_mem::AddressSpace;
use softiommu_pgtable::{Access, Perm};

use super::{Fault, Request, Translated, TranslationUnit};
use crate::fault::FaultReason;

/// How a fault of a DMA-remapping walk ends an ATS translation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtsDisposition {
    /// Answered with R=W=0, not recorded.
    NoAccess,
    /// Completer Abort (an access error).
    CompleterAbort,
    /// Unsupported Request.
    UnsupportedRequest,
}

impl FaultReason {
    /// Whether the fault is an error reading or updating memory (the root, context, PASID
    /// and paging structures): the request ends in a Completer Abort.
    pub const fn is_access_error(self) -> bool {
        matches!(
            self,
            FaultReason::Srt1
                | FaultReason::Sct1
                | FaultReason::Spd1
                | FaultReason::Spt1
                | FaultReason::Sfs1
                | FaultReason::Sfs4
                | FaultReason::Sfs10
                | FaultReason::Sss1
                | FaultReason::Sss4
                | FaultReason::Sss6
        )
    }

    /// How the fault ends an ATS translation request.
    pub const fn ats_disposition(self) -> AtsDisposition {
        match self {
            FaultReason::Sfs2
            | FaultReason::Sfs5
            | FaultReason::Sfs6
            | FaultReason::Sfs7
            | FaultReason::Sfs8
            | FaultReason::Sss2
            | FaultReason::Sgn1
            | FaultReason::Sgn2
            | FaultReason::Sgn4
            | FaultReason::Sgn5
            | FaultReason::Sgn6
            | FaultReason::Sgn7
            | FaultReason::Sgn8 => AtsDisposition::NoAccess,
            r if r.is_access_error() => AtsDisposition::CompleterAbort,
            _ => AtsDisposition::UnsupportedRequest,
        }
    }
}

/// The translation a successful translation request hands the device: one 4 KiB page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AtsGrant {
    /// Output address of the page.
    pub pa: u64,
    /// Read granted.
    pub read: bool,
    /// Write granted.
    pub write: bool,
}

impl<M: AddressSpace> TranslationUnit<M> {
    /// An ATS translation request for the page of `req.addr` (`req.access` gives PASID
    /// privilege; its write bit is ignored): the context entry must have DTE=1 (SCT.5), then
    /// the page is walked for read and, unless `no_write`, for write. `Ok(None)` is the
    /// R=W=0 answer; `Err` a fault whose [`FaultReason::ats_disposition`] is not
    /// [`AtsDisposition::NoAccess`].
    pub(crate) fn translation_request(
        &self,
        req: Request,
        no_write: bool,
    ) -> Result<Option<AtsGrant>, Fault> {
        let page = Request {
            addr: req.addr & !0xfff,
            access: Access {
                write: false,
                exec: false,
                ..req.access
            },
            ..req
        };
        self.device_tlb_allowed(page)?;
        let no_access = |f: Fault| match f.reason.ats_disposition() {
            AtsDisposition::NoAccess => Ok(None),
            _ => Err(f),
        };
        let generation = self.caches().generation();
        let read = match self.walk(&self.mem, page, true, generation) {
            Ok(w) => w.t,
            Err(f) => return no_access(f),
        };
        let write = Request {
            access: Access {
                write: true,
                ..page.access
            },
            ..page
        };
        let writable = !no_write
            && read.perm.allows(write.access)
            && self.walk(&self.mem, write, true, generation).is_ok();
        Ok(Some(AtsGrant {
            pa: read.pa & !0xfff,
            read: read.perm.allows(page.access),
            write: writable,
        }))
    }

    /// A translated request: allowed when the context entry has DTE=1 (else SCT.5) and, for
    /// one with a PASID, EPTR=1 (else SCT.10); its address must lie below HAW (SGN.4). It
    /// then reaches memory at its own address.
    pub(crate) fn translated_request(&self, req: Request) -> Result<Translated, Fault> {
        let ctx = self.device_tlb_allowed(req)?;
        if req.pasid.is_some() && !ctx.qw0.eptr() {
            return Err(self.fault(req, FaultReason::Sct10, ctx.qw0.fpd()));
        }
        let haw = self.caps.structs.haw;
        if haw < 64 && req.addr >> haw != 0 {
            return Err(self.fault(req, FaultReason::Sgn4, ctx.qw0.fpd()));
        }
        Ok(Translated {
            pa: req.addr,
            len: 0x1000 - (req.addr & 0xfff),
            perm: Perm::ALL,
        })
    }

    /// The context entry of `req`'s source when it allows the device-TLB (DTE=1); SCT.5
    /// otherwise, after the root and context entries' own faults.
    fn device_tlb_allowed(&self, req: Request) -> Result<crate::structs::ContextEntry, Fault> {
        let ctx = self.context(req, true, self.caches().generation())?;
        if !ctx.qw0.dte() {
            return Err(self.fault(req, FaultReason::Sct5, ctx.qw0.fpd()));
        }
        Ok(ctx)
    }
}

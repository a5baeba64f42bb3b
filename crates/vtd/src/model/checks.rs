//! Requests the engine answers from the structures alone, without a page walk: page
//! requests, checked against the context entry and turned into the IOTLB invalidation the
//! hardware makes before queuing one; and execute requests with a PASID, which this unit
//! refuses.

use softiommu_mem::AddressSpace;

use super::{Fault, IotlbScope, Request, TranslationUnit};
use crate::fault::FaultReason;
use crate::structs::Pgtt;

impl<M: AddressSpace> TranslationUnit<M> {
    /// The fault of an execute request with a PASID: ECAP.ERS is 0 and VER is below 8, so
    /// after the structure walk to its PASID entry (whose faults come first) it faults with
    /// SPT.5, qualified by the entries' FPD.
    pub(super) fn execute_refused(&self, req: Request) -> Fault {
        match self.steer(req, true, self.caches().generation()) {
            Ok(st) => self.fault(req, FaultReason::Spt5, st.fpd),
            Err(f) => f,
        }
    }

    /// What a page request for `req.addr` (and `req.pasid`) from `req.sid` invalidates before
    /// it is queued, after the checks a page request gets: the root and context entries (their
    /// faults), SCT.8 when the context entry does not allow page requests (PRE=0), then the
    /// structure walk to the PASID entry, whose PGTT and DID choose the invalidation (spec
    /// Table 27):
    ///
    /// | PGTT | invalidation |
    /// |---|---|
    /// | 001 first stage | p_iotlb page-selective: DID, PASID, the page (AM=0) |
    /// | 010 second stage | IOTLB page-selective: DID, the page |
    /// | 011 nested | IOTLB domain-selective: DID |
    /// | 100 pass-through | IOTLB page-selective: DID, the page |
    pub(crate) fn page_request_scope(&self, req: Request) -> Result<IotlbScope, Fault> {
        let generation = self.caches().generation();
        let ctx = self.context(req, true, generation)?;
        if !ctx.qw0.pre() {
            return Err(self.fault(req, FaultReason::Sct8, ctx.qw0.fpd()));
        }
        let st = self.steer(req, true, generation)?;
        let did = st.entry.qw1.did();
        let addr = req.addr & !0xfff;
        Ok(match st.entry.qw0.pgtt() {
            Pgtt::FirstStage => IotlbScope::PasidPages {
                did,
                pasid: st.pasid,
                addr,
                size: 0x1000,
            },
            Pgtt::Nested => IotlbScope::Domain(did),
            // A reserved PGTT failed the PASID-entry check (SPT.4) before this.
            Pgtt::SecondStage | Pgtt::PassThrough | Pgtt::Reserved(_) => IotlbScope::Pages {
                did,
                addr,
                size: 0x1000,
            },
        })
    }
}

//! The page request queue: the checks a device's page request passes before the unit writes
//! it into the queue, the IOTLB invalidation it makes first, and the answers it sends itself
//! when the request cannot be queued.

use std::sync::atomic::Ordering;

use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;

use super::{RootMode, VtdUnit, fault_record};
use crate::desc::{PageGroupResp, PageRequest, ResponseCode};
use crate::fault::FaultReason;
use crate::model::{Fault, Request};
use crate::regs::{AddressType, RequestKind};

impl<M: AddressSpace> VtdUnit<M> {
    /// A page request from a device: written into the page request queue with PRS.PPR set
    /// and the page-request event raised.
    ///
    /// - Without ECAP.PRS the request is dropped.
    /// - Outside scalable mode it faults: RTA.3 in legacy mode, RTA.1 when RTADDR was
    ///   programmed with a mode the unit does not have.
    /// - While translation is enabled it is checked as the hardware checks it: the root and
    ///   context entries of its requester (their faults), SCT.8 when the context entry has
    ///   PRE=0, then the PASID directory and PASID-table entry of its PASID (RID_PASID
    ///   without one). A fault is recorded (request type "page request"; qualified faults
    ///   not when FPD is 1) and the request is not queued.
    /// - Before it is written to the queue, the IOTLB invalidation of spec Table 27 is made
    ///   for its domain, PASID and page, as the PASID entry's PGTT chooses.
    /// - When the queue is full, or PRS.PRO is already set, the request is dropped and PRO
    ///   set.
    ///
    /// A request that is not queued and is the last of its group (LPIG=1, not a stop marker)
    /// is answered by the unit itself: Invalid Request after a fault, Success when it was
    /// dropped for lack of room (or its queue entry could not be written).
    pub fn page_request(&self, req: PageRequest) {
        tracing::debug!(
            target: "vtd",
            rid = format_args!("{:#06x}", req.qw0.rid()),
            pasid = ?req.qw0.pp().then_some(req.qw0.pasid()),
            addr = format_args!("{:#x}", req.address()),
            write = req.qw1.wrr(),
            "page request"
        );
        let mut inner = self.inner.lock();
        if !inner.regs.ecap().prs() {
            return;
        }
        let request = Request {
            sid: req.qw0.rid(),
            pasid: req.qw0.pp().then_some(req.qw0.pasid()),
            addr: req.address(),
            access: Access {
                write: req.qw1.wrr(),
                exec: req.qw0.exr(),
                privileged: req.qw0.pmr(),
            },
        };
        let root_fault = |reason| Fault {
            reason,
            request,
            record: true,
        };
        let checked = match self.mode() {
            RootMode::Legacy => Err(root_fault(FaultReason::Rta3)),
            RootMode::Bad => Err(root_fault(FaultReason::Rta1)),
            RootMode::Scalable if self.te.load(Ordering::Acquire) => {
                self.engine.page_request_scope(request).map(Some)
            }
            RootMode::Scalable => Ok(None),
        };
        let scope = match checked {
            Ok(scope) => scope,
            Err(f) => {
                if f.record {
                    inner.regs.record_fault(fault_record(
                        &f,
                        RequestKind::PageRequest,
                        AddressType::Untranslated,
                    ));
                }
                self.answer(&req, ResponseCode::InvalidRequest);
                return;
            }
        };
        let regs = &mut inner.regs;
        let pqa = regs.pqa();
        let size = pqa.size_bytes();
        let head = u64::from(regs.pqh().pqh()) * 32 % size;
        let tail = u64::from(regs.pqt().pqt()) * 32 % size;
        let next = (tail + 32) % size;
        if regs.prs().pro() || next == head {
            regs.set_page_request_overflow();
            self.answer(&req, ResponseCode::Success);
            return;
        }
        if let Some(scope) = scope {
            self.engine.caches().invalidate_iotlb(scope);
            inner.tally.implicit += 1;
        }
        let words = req.encode();
        let mut bytes = [0u8; 32];
        for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        let written = pqa
            .base()
            .checked_add(tail)
            .map(|at| self.mem.write(at, &bytes));
        if !matches!(written, Some(Ok(()))) {
            self.answer(&req, ResponseCode::Success);
            return;
        }
        let regs = &mut inner.regs;
        regs.set_pq_tail(next);
        regs.set_page_request_pending();
    }

    /// The unit's own page group response to `req`, when it is the last of its group and not
    /// a stop marker.
    fn answer(&self, req: &PageRequest, code: ResponseCode) {
        if req.qw1.lpig() && !req.is_stop_marker() {
            let r = PageGroupResp::for_request(req, code);
            let pasid = r.qw0.pp().then_some(r.qw0.pasid());
            self.send_page_response(r.qw0.rid(), pasid, r.qw1.prgi(), code);
        }
    }
}

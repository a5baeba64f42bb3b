//! The PRI queue: page requests from devices, and the automatic responses for those the SMMU
//! discards (spec 8.1 and 8.2).

use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;

use super::{Inner, SmmuUnit};
use crate::model::Request;
use crate::pri::{PageRequest, PriResponse};
use crate::regs::{Gerror, OutputSlot};

/// What the SMMU did with a page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageRequestOutcome {
    /// Written to the PRI queue.
    Queued,
    /// Discarded; the device got this automatic response (with the PASID, if any).
    AutoResponse {
        /// The response code.
        response: PriResponse,
        /// The PASID the response carries.
        pasid: Option<u32>,
    },
    /// Discarded without a response (Last = 0 in an overflow, or a Stop marker).
    Discarded,
}

impl<M: AddressSpace> SmmuUnit<M> {
    /// A page request from a device (PCIe PRI): written to the PRI queue, or discarded as the
    /// module documentation says, with the automatic response sent through the device's
    /// [`super::DeviceSink`].
    pub fn page_request(&self, req: PageRequest) -> PageRequestOutcome {
        tracing::debug!(target: "smmuv3", request = ?req, "page request");
        let sid = req.dw0.sid();
        let last = req.dw0.last();
        let outcome = self.locked(|inner| self.queue_page_request(inner, &req, last));
        if let PageRequestOutcome::AutoResponse { response, pasid } = outcome
            && let Some(dev) = self.device(sid)
        {
            dev.page_response(sid, pasid, req.dw1.prgi(), response);
        }
        outcome
    }

    fn queue_page_request(
        &self,
        inner: &mut Inner,
        req: &PageRequest,
        last: bool,
    ) -> PageRequestOutcome {
        let stop = req.is_stop_marker();
        let failure = if stop {
            PageRequestOutcome::Discarded
        } else {
            PageRequestOutcome::AutoResponse {
                response: PriResponse::Failure,
                pasid: None,
            }
        };
        if inner.regs.active_gerrors().priq_abt_err() {
            return failure;
        }
        match inner.regs.page_request_slot() {
            OutputSlot::Disabled => failure,
            OutputSlot::Full => {
                if let Some(i) = inner.regs.page_request_overflow(last) {
                    self.signal(inner, i);
                }
                if last && !stop {
                    self.overflow_response(req)
                } else {
                    PageRequestOutcome::Discarded
                }
            }
            OutputSlot::Free(at) => {
                let w = req.encode();
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&w[0].to_le_bytes());
                bytes[8..].copy_from_slice(&w[1].to_le_bytes());
                if self.engine.memory().write(at, &bytes).is_err() {
                    self.global_error(inner, Gerror::new().with_priq_abt_err(true));
                    return failure;
                }
                if let Some(i) = inner.regs.page_request_written(last) {
                    self.signal(inner, i);
                }
                PageRequestOutcome::Queued
            }
        }
    }

    /// The automatic response to a request with Last = 1 lost to an overflow: Success, with
    /// the PASID when the STE's PPAR asks for one (IDR3.PPS = 0); Failure without a PASID
    /// when the STE cannot be read or is not valid.
    fn overflow_response(&self, req: &PageRequest) -> PageRequestOutcome {
        let Some(pasid) = req.pasid() else {
            return PageRequestOutcome::AutoResponse {
                response: PriResponse::Success,
                pasid: None,
            };
        };
        let probe = Request::new(req.dw0.sid(), None, req.address(), Access::READ);
        let generation = self.engine.caches().generation();
        match self.engine.resolve_ste(&probe, true, generation) {
            Ok(ste) => PageRequestOutcome::AutoResponse {
                response: PriResponse::Success,
                pasid: ste.dw1.ppar().then_some(pasid),
            },
            Err(_) => PageRequestOutcome::AutoResponse {
                response: PriResponse::Failure,
                pasid: None,
            },
        }
    }
}

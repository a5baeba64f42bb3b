//! What the model reports to the register file: completions, faults, queue errors and
//! the events they raise.

use super::super::event::Event;
use super::super::layout::fit;
use super::super::{FaultRecord, Iqei, Iqh, Pqt, Vcrsp};
use super::RegisterFile;

impl RegisterFile {
    /// GSTS.RTPS: the root table latched by the last SRTP is in use.
    pub fn complete_root_table(&mut self) {
        self.gsts.set_srtp(true);
    }

    /// GSTS.IRTPS: the interrupt-remapping table latched by the last SIRTP is in use.
    pub fn complete_ir_table(&mut self) {
        self.gsts.set_sirtp(true);
    }

    /// Finishes the virtual command in progress with status code `sc` (7 bits) and
    /// `result` (48 bits).
    pub fn complete_virtual_command(&mut self, sc: u8, result: u64) {
        self.vcrsp = Vcrsp::new()
            .with_sc(fit(sc.into(), 7) as u8)
            .with_rslt(fit(result, 48));
    }

    /// Moves IQH to the descriptor at byte offset `offset` of the queue.
    pub fn set_iq_head(&mut self, offset: u64) {
        self.iqh = Iqh::new().with_qh(fit(offset / 16, 15) as u16);
    }

    /// Moves PQT to the descriptor at byte offset `offset` of the page request queue.
    pub fn set_pq_tail(&mut self, offset: u64) {
        self.pqt = Pqt::new().with_pqt(fit(offset / 32, 14) as u16);
    }

    /// Records a primary fault (spec 7.2.1) and raises the fault event when it is the first
    /// pending one. Returns whether the fault was recorded; it is dropped while PFO is set
    /// and, setting PFO, when the next record is still in use.
    pub fn record_fault(&mut self, fault: FaultRecord) -> bool {
        if self.fsts.pfo() {
            return false;
        }
        let already = self.fault_pending();
        let idx = self.fault_idx;
        if self.frcd[idx].f() {
            self.fsts.set_pfo(true);
            self.fault.condition(already, Event::Fault, &*self.sink);
            return false;
        }
        let ppf = self.ppf();
        self.frcd[idx] = fault.frcd().with_f(true);
        if !ppf {
            self.fsts.set_fri(idx as u8);
        }
        self.fault_idx = (idx + 1) % self.frcd.len();
        if !ppf {
            self.fault.condition(already, Event::Fault, &*self.sink);
        }
        true
    }

    /// An invalidation queue error: sets FSTS.IQE with IQERCD.IQEI = `iqei` and raises the
    /// fault event. Ignored while IQE is already set.
    pub fn set_queue_error(&mut self, iqei: Iqei) {
        if self.fsts.iqe() {
            return;
        }
        let already = self.fault_pending();
        self.fsts.set_iqe(true);
        self.iqercd.set_iqei(iqei.code());
        self.fault.condition(already, Event::Fault, &*self.sink);
    }

    /// A device-TLB invalidation timed out for requester `sid`: sets FSTS.ITE (with
    /// IQERCD.ITESID) and raises the fault event. Ignored while ITE is already set.
    pub fn set_ite(&mut self, sid: u16) {
        if self.fsts.ite() {
            return;
        }
        let already = self.fault_pending();
        self.fsts.set_ite(true);
        self.iqercd.set_itesid(sid);
        self.fault.condition(already, Event::Fault, &*self.sink);
    }

    /// Requester `sid` sent an invalid device-TLB invalidation completion: sets FSTS.ICE
    /// (with IQERCD.ICESID) and raises the fault event. Ignored while ICE is already set.
    pub fn set_ice(&mut self, sid: u16) {
        if self.fsts.ice() {
            return;
        }
        let already = self.fault_pending();
        self.fsts.set_ice(true);
        self.iqercd.set_icesid(sid);
        self.fault.condition(already, Event::Fault, &*self.sink);
    }

    /// An invalidation wait descriptor with IF=1 completed: sets ICS.IWC and raises the
    /// invalidation-completion event.
    pub fn set_iwc(&mut self) {
        let already = self.ics.iwc();
        self.ics.set_iwc(true);
        self.inv
            .condition(already, Event::InvalidationCompletion, &*self.sink);
    }

    /// A page request or page group response was written into the page request queue: sets
    /// PRS.PPR and raises the page-request event.
    pub fn set_page_request_pending(&mut self) {
        let already = self.prs.ppr();
        self.prs.set_ppr(true);
        self.pr.condition(already, Event::PageRequest, &*self.sink);
    }

    /// A page request was dropped because the page request queue was full (or PRO already
    /// set): sets PRS.PRO. It raises no event of its own.
    pub fn set_page_request_overflow(&mut self) {
        self.prs.set_pro(true);
    }
}

//! The event and PRI queues, as Linux's arm-smmu-v3 runs them: programmed at bring-up,
//! drained from CONS up to PROD by their interrupt handlers, CONS written back, an overflow
//! acknowledged by copying OVFLG to OVACKFLG. Events are kept for the driver's user; page
//! requests go to the core, or are answered by the driver itself when they cannot be (Linux's
//! `arm_smmu_handle_ppr`).

use softiommu_core::{HwError, PageRequestBatch, Result, TableAlloc};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;

use crate::cmd::{Command, PriResp};
use crate::event::Event;
use crate::pri::{PageRequest, PriResponse};
use crate::queue::{Queue, QueueBase, QueueCons, QueueKind, QueueProd};
use crate::regs::{
    SMMU_EVENTQ_BASE, SMMU_EVENTQ_CONS, SMMU_EVENTQ_PROD, SMMU_PRIQ_BASE, SMMU_PRIQ_CONS,
    SMMU_PRIQ_PROD,
};

use super::{SmmuDriver, State};

/// Events the driver keeps.
const EVENTS_KEPT: usize = 1024;
/// Log2 of the entries of the event and PRI queues (at most what IDR1 allows).
const QUEUE_LOG2: u8 = 7;

/// Bit 31 of an event or PRI queue's PROD (OVFLG) and CONS (OVACKFLG).
const OVERFLOW_FLAG: u32 = 1 << 31;

/// Whether `raw`, a queue pointer without its flag fields, fits a queue of 2^`log2size`
/// entries: nothing set above the wrap bit.
pub(super) fn pointer_in_range(raw: u32, log2size: u8) -> bool {
    u64::from(raw) >> (u32::from(log2size) + 1) == 0
}

/// One queue the SMMU produces into.
#[derive(Debug)]
pub(super) struct OutQueue {
    kind: QueueKind,
    base: QueueBase,
    /// An overflow was seen (and acknowledged) since bring-up.
    pub(super) overflowed: bool,
}

/// The event queue.
pub(super) type EventQueue = OutQueue;
/// The PRI queue.
pub(super) type PriQueue = OutQueue;

impl OutQueue {
    fn alloc(kind: QueueKind, alloc: &TableAlloc, max_log2: u8) -> Result<OutQueue> {
        let log2 = QUEUE_LOG2.min(max_log2);
        let bytes = (kind.entry_bytes() << log2).max(4096);
        let base = alloc.alloc(bytes)?;
        Ok(OutQueue {
            kind,
            base: QueueBase::new()
                .with_log2size(log2)
                .with_address(base)
                .with_alloc_hint(true),
            overflowed: false,
        })
    }
}

impl OutQueue {
    /// The queue's pages, as (address, bytes).
    pub(super) fn pages(&self) -> (u64, u64) {
        let bytes = (self.kind.entry_bytes() << self.base.log2size()).max(4096);
        (self.base.address(), bytes)
    }
}

impl EventQueue {
    /// The event queue's pages.
    pub(super) fn alloc_events(alloc: &TableAlloc, max_log2: u8) -> Result<EventQueue> {
        OutQueue::alloc(QueueKind::Event, alloc, max_log2)
    }
}

impl PriQueue {
    /// The PRI queue's pages.
    pub(super) fn alloc_pri(alloc: &TableAlloc, max_log2: u8) -> Result<PriQueue> {
        OutQueue::alloc(QueueKind::PageRequest, alloc, max_log2)
    }
}

/// The registers of one queue.
struct Regs {
    base: u64,
    prod: u64,
    cons: u64,
}

const EVTQ: Regs = Regs {
    base: SMMU_EVENTQ_BASE,
    prod: SMMU_EVENTQ_PROD,
    cons: SMMU_EVENTQ_CONS,
};
const PRIQ: Regs = Regs {
    base: SMMU_PRIQ_BASE,
    prod: SMMU_PRIQ_PROD,
    cons: SMMU_PRIQ_CONS,
};

impl SmmuDriver {
    fn queue_enable(&self, q: &OutQueue, r: &Regs) {
        self.unit.mmio_write(r.base, 8, q.base.into_bits());
        self.unit.mmio_write(r.prod, 4, 0);
        self.unit.mmio_write(r.cons, 4, 0);
    }

    /// Programs the event queue (bring-up).
    pub(super) fn evtq_enable(&self, q: &EventQueue) {
        self.queue_enable(q, &EVTQ);
    }

    /// Programs the PRI queue (bring-up).
    pub(super) fn priq_enable(&self, q: &PriQueue) {
        self.queue_enable(q, &PRIQ);
    }

    /// Reads every entry from CONS up to PROD (`words` words each), advances CONS, and
    /// acknowledges an overflow. PROD or CONS out of range reads nothing: the error is
    /// returned and the queue left as it is.
    fn drain(
        &self,
        q: &mut OutQueue,
        r: &Regs,
        words: usize,
    ) -> std::result::Result<Vec<[u64; 4]>, HwError> {
        let log2 = q.base.log2size();
        let read = |register, off| {
            let raw = self.unit.mmio_read(off, 4) as u32;
            if pointer_in_range(raw & !OVERFLOW_FLAG, log2) {
                Ok(raw)
            } else {
                Err(HwError::BadRegister {
                    register,
                    value: u64::from(raw),
                    why: "pointer beyond the queue",
                })
            }
        };
        let (prod_name, cons_name) = match q.kind {
            QueueKind::Event => ("EVENTQ_PROD", "EVENTQ_CONS"),
            _ => ("PRIQ_PROD", "PRIQ_CONS"),
        };
        let prod = QueueProd::from_bits(read(prod_name, r.prod)?);
        let cons = QueueCons::from_bits(read(cons_name, r.cons)?);
        let snap = Queue::new(q.kind, q.base, log2, prod.wr(), cons.rd());
        let mut out = Vec::new();
        let mut pos = snap.cons();
        for _ in 0..snap.len() {
            let at = snap.entry_address(pos);
            let mut e = [0u64; 4];
            for (k, w) in e.iter_mut().enumerate().take(words) {
                *w = self.mem.load_u64(at + 8 * k as u64).unwrap_or_default();
            }
            out.push(e);
            pos = pos.next();
        }
        let mut new_cons = QueueCons::new().with_rd(pos.raw());
        if prod.ovflg() != cons.ovackflg() {
            q.overflowed = true;
        }
        new_cons = new_cons.with_ovackflg(prod.ovflg());
        self.unit
            .mmio_write(r.cons, 4, u64::from(new_cons.into_bits()));
        Ok(out)
    }

    /// The event queue's handler: decodes and keeps what the SMMU recorded.
    pub(super) fn drain_events(&self, st: &mut State) {
        // Drained again until it reads empty, as for the PRI queue below: an event written
        // between the read of PROD and the write of CONS raises no interrupt of its own.
        let mut records = Vec::new();
        for _ in 0..1usize << st.evtq.base.log2size() {
            match self.drain(&mut st.evtq, &EVTQ, 4) {
                Ok(r) if r.is_empty() => break,
                Ok(r) => records.extend(r),
                Err(e) => {
                    st.hw_error(e);
                    break;
                }
            }
        }
        for r in records {
            if let Ok(e) = Event::decode(r) {
                if st.events.len() == EVENTS_KEPT {
                    st.events.remove(0);
                }
                st.events.push(e);
                // A stage-1 fault of a stream whose STE a user owns is the user's, as
                // Linux reports it to the vIOMMU (not a stall, not a stage-2 fault).
                let user = st
                    .devices
                    .values()
                    .find(|d| d.sid == e.sid && d.rid.claims())
                    .map(|d| d.info.id);
                if let Some(device) = user
                    && !e.s2
                    && e.stall.is_none()
                {
                    if st.user_events.len() == EVENTS_KEPT {
                        st.user_events.pop_front();
                    }
                    st.user_events.push_back(softiommu_core::DeviceEvent {
                        device,
                        record: r.to_vec(),
                    });
                }
            }
        }
    }

    /// The PRI queue's handler: each page request for the core, or answered Invalid here
    /// when it comes from a stream the driver does not know (the last of its group).
    ///
    /// The queue is drained again until it reads empty, as Linux's handler does: the SMMU
    /// signals the interrupt only when it writes into an empty queue, so a request written
    /// between the read of PROD and the write of CONS raises none, and would wait for a
    /// later one. The passes are bounded (by the queue's entries) so that an SMMU whose
    /// pointers never agree cannot hold the handler.
    pub(super) fn drain_priq(&self, st: &mut State) -> PageRequestBatch {
        let mut batch = PageRequestBatch::default();
        let Some(mut q) = st.priq.take() else {
            return batch;
        };
        let was = q.overflowed;
        let passes = 1usize << q.base.log2size();
        let mut records = Vec::new();
        let mut failed = None;
        for _ in 0..passes {
            match self.drain(&mut q, &PRIQ, 2) {
                Ok(r) if r.is_empty() => break,
                Ok(r) => records.extend(r),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        batch.overflowed = q.overflowed && !was;
        st.priq = Some(q);
        if let Some(e) = failed {
            st.hw_error(e);
            if records.is_empty() {
                return batch;
            }
        }
        let mut refused = Vec::new();
        for r in records {
            let req = PageRequest::decode([r[0], r[1]]);
            if req.is_stop_marker() {
                continue;
            }
            let sid = req.dw0.sid();
            let Some(dev) = st.devices.values().find(|d| d.sid == sid) else {
                if req.dw0.last() {
                    refused.push(Self::pri_resp(sid, &req, PriResponse::InvalidRequest));
                }
                continue;
            };
            let a = req.access();
            batch.requests.push(softiommu_core::PageRequest {
                device: dev.info.id,
                pasid: req.pasid(),
                addr: req.address(),
                access: Access {
                    write: a.write,
                    exec: a.exec,
                    privileged: a.privileged,
                },
                group: req.dw1.prgi(),
                last: req.dw0.last(),
            });
        }
        if !refused.is_empty() {
            let _ = self.run(st, &refused);
        }
        batch
    }

    /// `CMD_PRI_RESP` answering `req`'s group with `resp`.
    fn pri_resp(sid: u32, req: &PageRequest, resp: PriResponse) -> Command {
        Self::pri_resp_for(sid, req.pasid(), req.dw1.prgi(), resp)
    }

    /// `CMD_PRI_RESP` for group `prgi` of `sid` (at `pasid`).
    pub(super) fn pri_resp_for(
        sid: u32,
        pasid: Option<u32>,
        prgi: u16,
        resp: PriResponse,
    ) -> Command {
        let mut c = PriResp::new();
        c.dw0 = c.dw0.with_sid(sid);
        if let Some(p) = pasid {
            c.dw0 = c.dw0.with_ssv(true).with_ssid(p);
        }
        c.dw1 = c.dw1.with_prgi(prgi & 0x1ff).with_resp(resp);
        Command::PriResp(c)
    }
}

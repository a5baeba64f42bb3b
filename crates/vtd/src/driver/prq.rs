//! The page request queue, as Linux's intel-iommu runs it: allocated and programmed at
//! bring-up (PQH, PQT, PQA, the event unmasked), drained by the page-request event's handler
//! — PRS.PPR cleared, descriptors read from PQH up to PQT, PQH advanced, an overflow cleared
//! once the queue is empty — and each request handed to the core, or answered Invalid by the
//! driver itself when it cannot be.

use softiommu_core::{DeviceInfo, HwError, PageRequestBatch, Result};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;

use crate::desc::{PageGroupResp, PageRequest, PageRequestQw0, PageRequestQw1, ResponseCode};
use crate::regs::{PECTL_REG, PQA_REG, PQH_REG, PQT_REG, PRS_REG, Pqa, Pqh, Pqt, Prs};

use super::{State, VtdDriver};

/// The queue is 2^PRQ_ORDER pages (Linux's PRQ_ORDER): 2048 requests of 32 bytes.
const PRQ_ORDER: u8 = 4;
/// Bytes of one page request descriptor.
const PRQ_ENTRY_BYTES: u64 = 32;

/// Where the driver's page request queue is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Prq {
    /// Physical base.
    pub(super) base: u64,
    /// Size in bytes.
    pub(super) size: u64,
}

impl Prq {
    /// Allocates the queue's pages when the unit has page requests (ECAP.PRS).
    pub(super) fn alloc(prs: bool, alloc: &softiommu_core::TableAlloc) -> Result<Option<Prq>> {
        if !prs {
            return Ok(None);
        }
        let size = 4096u64 << PRQ_ORDER;
        Ok(Some(Prq {
            base: alloc.alloc(size)?,
            size,
        }))
    }
}

/// What the driver does with one descriptor it read from the queue.
enum Taken {
    /// A request for the core.
    Request(softiommu_core::PageRequest),
    /// A stop marker, or a bad request that asks no response: dropped.
    Dropped,
    /// A request the driver answers Invalid itself (the last of its group).
    Refused(PageGroupResp),
}

impl<M: AddressSpace + 'static> VtdDriver<M> {
    /// Programs the queue and unmasks the page-request event (bring-up).
    pub(super) fn prq_enable(&self, prq: Prq) {
        self.regs.mmio_write(PQH_REG, 8, 0);
        self.regs.mmio_write(PQT_REG, 8, 0);
        let pqa = Pqa::new().with_pqa(prq.base >> 12).with_pqs(PRQ_ORDER);
        self.regs.mmio_write(PQA_REG, 8, pqa.into_bits());
        self.regs.mmio_write(PECTL_REG, 4, 0);
    }

    /// The descriptor a device with PRI sends for `req`.
    pub(super) fn prq_descriptor(
        dev: &DeviceInfo,
        req: &softiommu_core::PageRequest,
    ) -> PageRequest {
        PageRequest {
            qw0: PageRequestQw0::new()
                .with_pp(req.pasid.is_some())
                .with_rid(dev.rid.source_id())
                .with_pasid(req.pasid.unwrap_or(0))
                .with_exr(req.access.exec)
                .with_pmr(req.access.privileged),
            qw1: PageRequestQw1::new()
                .with_rdr(!req.access.write)
                .with_wrr(req.access.write)
                .with_lpig(req.last)
                .with_prgi(req.group & 0x1ff)
                .with_addr(req.addr >> 12),
        }
    }

    /// A device sends `req`: the unit queues it (or drops it, or answers it itself) and
    /// raises its event, whose handler drains the queue. Both happen under the driver's lock,
    /// so that the request is in this batch unless the unit did not queue it, whatever other
    /// threads send at the same time.
    pub(super) fn prq_send(&self, req: PageRequest) -> PageRequestBatch {
        let mut st = self.state.lock();
        self.unit.page_request(req);
        self.prq_drain(&mut st)
    }

    /// The page-request event's handler: every request the unit queued since the last call.
    pub(super) fn prq_drain(&self, st: &mut State) -> PageRequestBatch {
        let mut batch = PageRequestBatch::default();
        let Some(prq) = st.prq else {
            return batch;
        };
        // PPR first, so that a request queued from here on raises the event again.
        self.regs
            .mmio_write(PRS_REG, 4, u64::from(Prs::new().with_ppr(true).into_bits()));
        let (mut head, tail) = match self.prq_pointers(prq) {
            Ok(p) => p,
            Err(e) => {
                // Nothing the unit says about the queue can be trusted: nothing is read.
                st.hw_error(e);
                return batch;
            }
        };
        let mut refused = Vec::new();
        while head != tail {
            match self.prq_take(st, prq.base + head) {
                Taken::Request(r) => batch.requests.push(r),
                Taken::Dropped => {}
                Taken::Refused(resp) => refused.push(resp.to_words()),
            }
            head = (head + PRQ_ENTRY_BYTES) % prq.size;
        }
        self.regs.mmio_write(
            PQH_REG,
            8,
            Pqh::new()
                .with_pqh((tail / PRQ_ENTRY_BYTES) as u16)
                .into_bits(),
        );
        let prs = Prs::from_bits(self.regs.mmio_read(PRS_REG, 4) as u32);
        if prs.pro() {
            // Requests were dropped: once the queue is empty, the overflow is over, and the
            // groups it cut short are dropped by the core.
            if let Ok((h, t)) = self.prq_pointers(prq)
                && h == t
            {
                batch.overflowed = true;
                self.regs
                    .mmio_write(PRS_REG, 4, u64::from(Prs::new().with_pro(true).into_bits()));
            }
        }
        if !refused.is_empty() {
            // The trait gives the event no way to fail; a queue error was recovered from.
            let _ = self.run(st, &refused);
        }
        batch
    }

    /// PQH and PQT as byte offsets into the queue. Both hold the offset in bits 18:5 and
    /// every other bit is reserved: a value outside the queue is the unit's error.
    fn prq_pointers(&self, prq: Prq) -> std::result::Result<(u64, u64), HwError> {
        let check = |register, raw: u64, offset: u64| {
            if raw == offset && offset < prq.size {
                Ok(offset)
            } else {
                Err(HwError::BadRegister {
                    register,
                    value: raw,
                    why: "offset outside the page request queue",
                })
            }
        };
        let h = self.regs.mmio_read(PQH_REG, 8);
        let t = self.regs.mmio_read(PQT_REG, 8);
        Ok((
            check(
                "PQH",
                h,
                u64::from(Pqh::from_bits(h).pqh()) * PRQ_ENTRY_BYTES,
            )?,
            check(
                "PQT",
                t,
                u64::from(Pqt::from_bits(t).pqt()) * PRQ_ENTRY_BYTES,
            )?,
        ))
    }

    /// Reads the descriptor at `at` and decides what becomes of it, with Linux's checks: a
    /// non-canonical address, a privileged request, an execute request that also reads, or a
    /// requester the driver does not know is refused; a stop marker is dropped.
    fn prq_take(&self, st: &State, at: u64) -> Taken {
        let mut words = [0u64; 4];
        for (k, w) in words.iter_mut().enumerate() {
            match self.mem.load_u64(at + 8 * k as u64) {
                Ok(v) => *w = v,
                Err(_) => return Taken::Dropped,
            }
        }
        let Ok(d) = PageRequest::decode(words) else {
            return Taken::Dropped;
        };
        let (q0, q1) = (d.qw0, d.qw1);
        if d.is_stop_marker() {
            return Taken::Dropped;
        }
        let refuse = || {
            if q1.lpig() {
                Taken::Refused(PageGroupResp::for_request(&d, ResponseCode::InvalidRequest))
            } else {
                Taken::Dropped
            }
        };
        let addr = d.address();
        let va_bits = if self.hw.cap.fs5lp() { 57 } else { 48 };
        let canonical = (addr as i64) << (64 - va_bits) >> (64 - va_bits) == addr as i64;
        if !canonical || (q0.pmr() && (q1.rdr() || q1.wrr())) || (q0.exr() && q1.rdr()) {
            return refuse();
        }
        let Some(dev) = st
            .devices
            .values()
            .find(|dv| dv.info.rid.source_id() == q0.rid())
        else {
            return refuse();
        };
        Taken::Request(softiommu_core::PageRequest {
            device: dev.info.id,
            pasid: q0.pp().then_some(q0.pasid()),
            addr,
            access: Access {
                write: q1.wrr(),
                exec: q0.exr(),
                privileged: q0.pmr(),
            },
            group: q1.prgi(),
            last: q1.lpig(),
        })
    }
}

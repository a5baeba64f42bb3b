//! The page request queue, as Linux's intel-iommu runs it: allocated and programmed at
//! bring-up (PQH, PQT, PQA, the event unmasked), drained by the page-request event's handler
//! — PRS.PPR cleared, descriptors read from PQH up to PQT, PQH advanced, an overflow cleared
//! once the queue is empty — and each request handed to the core, or answered Invalid by the
//! driver itself when it cannot be; and the drain of one PASID's page requests before the
//! PASID is reused (spec 7.10, Linux's `intel_drain_pasid_prq`).

use softiommu_core::{DeviceId, DeviceInfo, HwError, PageRequestBatch, Result};
use softiommu_devices::bus::{PageRequest as BusPageRequest, PasidPrefix, Upstream};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;

use crate::desc::{
    InvWait, InvWaitQw0, PIotlbGranularity, PIotlbInv, PIotlbInvQw0, PageGroupResp,
    PageGroupRespQw0, PageGroupRespQw1, PageRequest, PageRequestQw0, ResponseCode,
};
use crate::regs::{PECTL_REG, PQA_REG, PQH_REG, PQT_REG, PRS_REG, Pqa, Pqh, Pqt, Prs};

use super::flush::iotlb;
use super::{RID_PASID, State, VtdDriver};

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

/// How many times the drain's invalidations are sent again while the unit reports a page
/// request overflow.
const DRAIN_RETRIES: u32 = 8;

/// A PASID whose page requests are drained after its entry was torn down: the device, the
/// PASID (RID_PASID for requests without one), the domain ID its entry had, and the
/// device-TLB invalidation of that PASID when the device has ATS.
#[derive(Debug, Clone, Copy)]
pub(super) struct Drain {
    pub(super) dev: DeviceId,
    pub(super) sid: u16,
    pub(super) pasid: u32,
    pub(super) did: u16,
    pub(super) dev_tlb: Option<[u64; 4]>,
}

impl Drain {
    /// Whether a request from `sid` with `pasid` (None: without PASID) is of this PASID.
    fn matches(&self, sid: u16, pasid: Option<u32>) -> bool {
        sid == self.sid && pasid.unwrap_or(RID_PASID) == self.pasid
    }

    /// Whether the request `r`, as the driver hands it to the core, is of this PASID.
    fn takes(&self, r: &softiommu_core::PageRequest) -> bool {
        r.device == self.dev && r.pasid.unwrap_or(RID_PASID) == self.pasid
    }
}

/// The page group response to the group `prgi` of `rid` at `pasid` (None: without PASID).
pub(super) fn group_response(
    rid: u16,
    pasid: Option<u32>,
    prgi: u16,
    rc: ResponseCode,
) -> PageGroupResp {
    PageGroupResp {
        qw0: PageGroupRespQw0::new()
            .with_pp(pasid.is_some())
            .with_rc(rc)
            .with_rid(rid)
            .with_pasid(pasid.unwrap_or(0)),
        qw1: PageGroupRespQw1::new().with_prgi(prgi & 0x1ff),
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

    /// The page request message a device with PRI sends on the bus for `req`.
    pub(super) fn prq_message(
        dev: &DeviceInfo,
        req: &softiommu_core::PageRequest,
    ) -> BusPageRequest {
        let prefix = req.pasid.map(|pasid| PasidPrefix {
            pasid,
            execute: req.access.exec,
            privileged: req.access.privileged,
        });
        let rid = dev.rid.source_id();
        let group = req.group & 0x1ff;
        BusPageRequest::for_access(rid, prefix, req.addr, req.access.write, group, req.last)
    }

    /// A device sends `req`: the unit queues it (or drops it, or answers it itself) and
    /// raises its event, whose handler drains the queue. Both happen under the driver's lock,
    /// so that the request is in this batch unless the unit did not queue it, whatever other
    /// threads send at the same time.
    pub(super) fn prq_send(&self, req: &BusPageRequest) -> PageRequestBatch {
        let mut st = self.state.lock();
        Upstream::page_request(&*self.unit, req);
        self.prq_drain(&mut st)
    }

    /// The page-request event's handler: every request the unit queued since the last call,
    /// after those taken out of the queue in a PASID's drain.
    pub(super) fn prq_drain(&self, st: &mut State) -> PageRequestBatch {
        let mut batch = std::mem::take(&mut st.held);
        let more = self.prq_handle(st, None);
        batch.requests.extend(more.requests);
        batch.overflowed |= more.overflowed;
        batch
    }

    /// Drains the page requests of `gone`'s PASID, whose entry was just torn down, as
    /// Linux does before the PASID is reused (spec 7.10):
    ///
    /// 1. while the queue holds a request of that PASID, the handler runs: requests of
    ///    other PASIDs are kept for the core's next batch, the PASID's own are answered
    ///    Invalid (the last of a group) or dropped, as nothing handles them any more;
    /// 2. a fenced wait, the PASID's IOTLB invalidation (domain-selective for RID_PASID,
    ///    PASID-selective otherwise), its device-TLB invalidation, and a wait with
    ///    page-request drain (PD), so that every request and response in flight is through;
    /// 3. if the unit overflowed its queue meanwhile, the handler runs and step 2 again.
    pub(super) fn prq_drain_pasid(&self, st: &mut State, gone: &Drain) {
        let Some(prq) = st.prq else {
            return;
        };
        if self.prq_holds(prq, gone) {
            self.prq_hold(st, Some(gone));
        }
        let mut descs = vec![
            InvWait {
                qw0: InvWaitQw0::new().with_fn_flag(true),
                ..InvWait::default()
            }
            .to_words(),
            if gone.pasid == RID_PASID {
                iotlb(&self.hw, gone.did, None, false)
            } else {
                PIotlbInv {
                    qw0: PIotlbInvQw0::new()
                        .with_g(PIotlbGranularity::Pasid)
                        .with_did(gone.did)
                        .with_pasid(gone.pasid),
                    ..PIotlbInv::default()
                }
                .to_words()
            },
        ];
        descs.extend(gone.dev_tlb);
        for _ in 0..DRAIN_RETRIES {
            // The entry is gone whatever happens here; a refused descriptor is recorded.
            let _ = self.run_page_drain(st, &descs);
            if !Prs::from_bits(self.regs.mmio_read(PRS_REG, 4) as u32).pro() {
                return;
            }
            self.prq_hold(st, Some(gone));
        }
    }

    /// Whether the queue, from PQH to PQT, holds a request of `gone`'s PASID (not when the
    /// unit reports pointers outside the queue: nothing there can be read).
    fn prq_holds(&self, prq: Prq, gone: &Drain) -> bool {
        let Ok((mut head, tail)) = self.prq_pointers(prq) else {
            return false;
        };
        while head != tail {
            let at = prq.base + head;
            if let Ok(w0) = self.mem.load_u64(at) {
                let q0 = PageRequestQw0::from_bits(w0);
                if gone.matches(q0.rid(), q0.pp().then_some(q0.pasid())) {
                    return true;
                }
            }
            head = (head + PRQ_ENTRY_BYTES) % prq.size;
        }
        false
    }

    /// Runs the handler outside the core's calls, keeping what it took for the core's next
    /// batch.
    fn prq_hold(&self, st: &mut State, gone: Option<&Drain>) {
        let b = self.prq_handle(st, gone);
        st.held.requests.extend(b.requests);
        st.held.overflowed |= b.overflowed;
    }

    /// One run of the handler over the queue. Requests of `gone`'s PASID are not handed on:
    /// the last of a group is answered Invalid, the others are dropped.
    fn prq_handle(&self, st: &mut State, gone: Option<&Drain>) -> PageRequestBatch {
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
                Taken::Request(r) => match gone.filter(|g| g.takes(&r)) {
                    Some(g) if r.last => refused.push(
                        group_response(g.sid, r.pasid, r.group, ResponseCode::InvalidRequest)
                            .to_words(),
                    ),
                    Some(_) => {}
                    None => batch.requests.push(r),
                },
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

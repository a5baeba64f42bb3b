//! Helpers for tests of IOMMU models on the bus (feature `testing`): an endpoint that records
//! what it receives, a tap that counts and records what passes between a function and its
//! upstream, memory watched for writes after its translation was invalidated, and random bus
//! traffic for robustness tests.

mod retired;
mod tap;

pub use retired::{Retired, StrayWrite};
pub use tap::Tap;

use parking_lot::Mutex;
use proptest::prelude::*;

use crate::bus::{
    AtcInvalidation, AtcInvalidationStatus, AtsRequest, DmaRequest, Endpoint, PageRequest,
    PageResponse, PasidPrefix, Upstream,
};

/// An endpoint that records the invalidations and page responses it receives, oldest first,
/// and completes every invalidation. One log may be attached for many requesters: each
/// message carries its requester ID.
#[derive(Debug, Default)]
pub struct BusLog {
    /// ATC invalidations.
    pub invalidations: Mutex<Vec<AtcInvalidation>>,
    /// Page group responses.
    pub responses: Mutex<Vec<PageResponse>>,
}

impl Endpoint for BusLog {
    fn invalidate_atc(&self, inv: &AtcInvalidation) -> AtcInvalidationStatus {
        self.invalidations.lock().push(*inv);
        AtcInvalidationStatus::Completed
    }

    fn page_response(&self, resp: &PageResponse) {
        self.responses.lock().push(*resp);
    }
}

/// One request of random bus traffic.
#[derive(Debug, Clone, Copy)]
pub enum BusOp {
    /// An ATS translation request.
    Ats(AtsRequest),
    /// A 64-byte read, untranslated then translated.
    Read(DmaRequest),
    /// An 8-byte untranslated write.
    Write(DmaRequest),
    /// A page request.
    PageRequest(PageRequest),
}

/// Random traffic: requester IDs mostly `rid` (else any), PASIDs up to 21 bits (so some are
/// malformed), any address, PRGIs up to 10 bits. Writes are untranslated only, so that a
/// model's tables decide every byte written.
pub fn bus_op(rid: u16) -> impl Strategy<Value = BusOp> {
    (
        0u8..4,
        any::<u16>(),
        proptest::option::of(0u32..(1 << 21)),
        any::<u64>(),
        any::<bool>(),
        0u16..0x400,
    )
        .prop_map(move |(kind, other, pasid, addr, flag, prgi)| {
            let rid = if flag { rid } else { other };
            let pasid = pasid.map(|p| PasidPrefix {
                pasid: p,
                execute: flag,
                privileged: !flag,
            });
            match kind {
                0 => BusOp::Ats(AtsRequest {
                    rid,
                    pasid,
                    addr,
                    no_write: flag,
                }),
                1 => BusOp::Read(DmaRequest {
                    pasid,
                    ..DmaRequest::read(rid, addr, 64)
                }),
                2 => BusOp::Write(DmaRequest {
                    pasid,
                    ..DmaRequest::write(rid, addr, 8)
                }),
                _ => BusOp::PageRequest(PageRequest {
                    rid,
                    pasid,
                    addr,
                    read: flag,
                    write: !flag,
                    prgi,
                    last: flag,
                }),
            }
        })
}

/// Sends `op` to `up`, ignoring the answer.
pub fn issue<U: Upstream + ?Sized>(up: &U, op: &BusOp) {
    match op {
        BusOp::Ats(r) => {
            let _ = up.ats_translate(r);
        }
        BusOp::Read(r) => {
            let mut buf = [0u8; 64];
            let _ = up.dma_read(r, &mut buf);
            let _ = up.dma_read(&r.translated(), &mut buf);
        }
        BusOp::Write(r) => {
            let _ = up.dma_write(r, &[1u8; 8]);
        }
        BusOp::PageRequest(r) => up.page_request(r),
    }
}

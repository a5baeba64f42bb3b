//! The bus between PCI functions and an IOMMU.
//!
//! Two traits meet here. [`Upstream`] is what a function's requests reach: an IOMMU model
//! (or [`Direct`], a bus with none). It translates DMA requests, answers ATS translation
//! requests, takes page requests and MSI writes. [`Endpoint`] is what the IOMMU's messages
//! reach: a function attached to the upstream for its requester ID receives ATC
//! invalidations (and completes each before it returns), page group responses, and the
//! outcome of stalled requests.
//!
//! Data moves by bulk copy: [`Upstream::translate`] gives the physical run the first bytes of
//! a request land in, and [`Upstream::dma_read`] / [`Upstream::dma_write`] copy each run
//! through [`Upstream::memory`] until the request is done or a run faults.
//!
//! Between the functions and the IOMMU there may be bridges, each itself an [`Upstream`] to
//! the functions below it and forwarding to its own: a [`Switch`]'s [`DownstreamPort`]s,
//! whose ACS controls decide whether a request for a peer's BAR goes straight to the peer or
//! up through the IOMMU, and a [`PciBridge`] (PCI Express to PCI), whose functions' requests
//! carry the bridge's requester ID. A function's memory BARs are [`MemoryTarget`]s, reached by
//! address through a [`MemoryMap`].
//!
//! The types are plain data in PCIe's terms (requester ID, PASID prefix, AT field, ATS and
//! PRI messages), so an IOMMU model implements the traits without knowing any device, and a
//! device uses them without knowing which IOMMU serves it.

mod ats;
mod bridge;
mod direct;
mod fuzz;
mod map;
mod pri;
mod route;
mod switch;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_p2p;
mod types;

use std::sync::Arc;

use softiommu_mem::AddressSpace;
use thiserror::Error;

pub use ats::{
    ATS_PAGE_LOG2, AtcInvalidation, AtcInvalidationStatus, AtsFailure, AtsRequest, AtsTranslation,
    decode_range, encode_range,
};
pub use bridge::PciBridge;
pub use direct::Direct;
pub use fuzz::fuzz_switch;
pub use map::{MemoryMap, MemoryTarget, WindowError};
pub use pri::{PRGI_MAX, PageRequest, PageResponse, PageResponseCode};
pub use switch::{
    ACS_ISOLATION, ACS_MODELLED, DownstreamPort, PortConfig, PortError, PortStats, Switch,
};
pub use types::{
    AddressType, Direction, DmaFault, DmaRequest, MsiMessage, PASID_MAX, PasidPrefix, Rights,
    Translation,
};

/// A DMA request that stopped part way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[error("DMA stopped at {addr:#x} after {done} bytes: {fault}")]
pub struct DmaError {
    /// The (request-side) address of the first byte not transferred.
    pub addr: u64,
    /// Bytes transferred before it.
    pub done: u64,
    /// Why the transfer stopped.
    pub fault: DmaFault,
}

/// What happened to a stalled request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StallOutcome {
    /// The function issues the request again.
    Retry,
    /// The request is terminated: with an abort, or (`abort` false) as reads of zeros and
    /// discarded writes.
    Terminate {
        /// Whether the function sees an abort.
        abort: bool,
    },
}

/// The IOMMU side of the bus: where a function's requests go.
///
/// Every method takes requests as they arrive from the outside: a malformed one (a PASID
/// wider than 20 bits, a zero length) is refused as the hardware refuses it, never with a
/// panic.
pub trait Upstream: Send + Sync {
    /// Translates the first bytes of DMA request `req`: the physical run they land in and
    /// the rights over it. A refused request is recorded as the IOMMU records faults before
    /// the error is returned.
    fn translate(&self, req: &DmaRequest) -> Result<Translation, DmaFault>;

    /// The physical memory translated runs lie in.
    fn memory(&self) -> &dyn AddressSpace;

    /// Answers an ATS translation request.
    fn ats_translate(&self, req: &AtsRequest) -> Result<AtsTranslation, AtsFailure>;

    /// Takes a page request message. Its answer (from software, or from the IOMMU itself
    /// when it cannot queue the request) comes back through [`Endpoint::page_response`].
    fn page_request(&self, req: &PageRequest);

    /// Delivers a message-signalled interrupt of requester `rid`.
    fn msi(&self, rid: u16, msg: MsiMessage) -> Result<(), DmaFault>;

    /// Sends the IOMMU's messages for requester `rid` to `endpoint` (replacing any before).
    fn attach(&self, rid: u16, endpoint: Arc<dyn Endpoint>);

    /// Stops sending messages for requester `rid`.
    fn detach(&self, rid: u16);

    /// Reads `buf.len()` bytes for `req` (its direction and length are taken from the call),
    /// copying each translated run. On a fault, `buf` holds the bytes before it.
    fn dma_read(&self, req: &DmaRequest, buf: &mut [u8]) -> Result<(), DmaError> {
        let mut done = 0usize;
        while done < buf.len() {
            let rest = &mut buf[done..];
            let run = next_run(self, req, Direction::Read, done, rest.len())?;
            let n = run.len;
            let out = &mut rest[..n];
            match run.at {
                Some(pa) => self.memory().read(pa, out).map_err(|_| run.error())?,
                None => out.fill(0),
            }
            done += n;
        }
        Ok(())
    }

    /// Writes `data` for `req` (its direction and length are taken from the call), copying
    /// each translated run. On a fault, the bytes before it were written and none after.
    fn dma_write(&self, req: &DmaRequest, data: &[u8]) -> Result<(), DmaError> {
        let mut done = 0usize;
        while done < data.len() {
            let rest = &data[done..];
            let run = next_run(self, req, Direction::Write, done, rest.len())?;
            let n = run.len;
            if let Some(pa) = run.at {
                self.memory()
                    .write(pa, &rest[..n])
                    .map_err(|_| run.error())?;
            }
            done += n;
        }
        Ok(())
    }
}

/// The next run of a copy for `req`: `rest` bytes left after `done` bytes.
fn next_run<U: Upstream + ?Sized>(
    up: &U,
    req: &DmaRequest,
    dir: Direction,
    done: usize,
    rest: usize,
) -> Result<Run, DmaError> {
    let addr = req.addr.wrapping_add(done as u64);
    let sub = DmaRequest {
        addr,
        len: rest as u64,
        dir,
        ..*req
    };
    let (at, len) = match up.translate(&sub) {
        Ok(t) => {
            // A run may not wrap the physical address space.
            let to_end = (u64::MAX - t.addr).saturating_add(1);
            (Some(t.addr), t.len.min(to_end).clamp(1, rest as u64))
        }
        // Terminated without an error: zeros in, nothing out, to the end of the page.
        Err(DmaFault::ReadAsZero) => (None, (0x1000 - (addr & 0xfff)).min(rest as u64)),
        Err(fault) => {
            return Err(DmaError {
                addr,
                done: done as u64,
                fault,
            });
        }
    };
    Ok(Run {
        at,
        len: len as usize,
        addr,
        done: done as u64,
    })
}

/// One translated run of a copy.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Physical address, or `None` for a terminated run (zeros in, nothing out).
    at: Option<u64>,
    /// Bytes in the run.
    len: usize,
    /// Request-side address of its first byte.
    addr: u64,
    /// Bytes of the request before it.
    done: u64,
}

impl Run {
    /// The error of a run whose physical access failed.
    fn error(&self) -> DmaError {
        DmaError {
            addr: self.addr,
            done: self.done,
            fault: DmaFault::CompleterAbort,
        }
    }
}

/// The length of a translated run lengthened over the runs after it: the run starts at request
/// address `addr` and output address `pa` and holds `len` bytes; `next` gives the output
/// address and length of the run a later request address lands in (`None` where the run must
/// end), and each that continues the run physically is added until it covers `want` bytes.
///
/// An IOMMU model answers a long request in one [`Translation`] this way from its cached
/// pages, as separate requests for each page would be answered.
pub fn lengthen_run(
    addr: u64,
    pa: u64,
    mut len: u64,
    want: u64,
    mut next: impl FnMut(u64) -> Option<(u64, u64)>,
) -> u64 {
    while len < want {
        let (Some(a), Some(p)) = (addr.checked_add(len), pa.checked_add(len)) else {
            break;
        };
        match next(a) {
            Some((q, l)) if q == p && l > 0 => len = len.saturating_add(l),
            _ => break,
        }
    }
    len
}

/// The function side of the bus: where the IOMMU's messages for one requester go.
///
/// The IOMMU may call these while it holds its own locks, so an implementation must not call
/// back into the same IOMMU, nor wait for anything that does.
pub trait Endpoint: Send + Sync {
    /// Invalidates the function's ATC for `inv`, and returns only once no later access of
    /// the function can use an invalidated translation (in-flight uses finished).
    fn invalidate_atc(&self, inv: &AtcInvalidation) -> AtcInvalidationStatus;

    /// Delivers a page group response.
    fn page_response(&self, resp: &PageResponse);

    /// A request the IOMMU stalled under `tag` is retried or terminated. Functions whose
    /// requests never stall (PCIe functions) need not care.
    fn resume(&self, rid: u16, tag: u16, outcome: StallOutcome) {
        let _ = (rid, tag, outcome);
    }
}

//! How the engine's memory accesses leave the device: untranslated requests through the
//! IOMMU, or (with ATS) translated requests from the function's ATC; page requests for block
//! on fault; and the plain physical platform.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::time::Duration;

use super::atc::Atc;
use super::pri::{Pri, PriOutcome};
use crate::bus::{
    self, AtcInvalidation, AtcInvalidationStatus, AtsFailure, AtsRequest, DmaRequest, Endpoint,
    PageRequest, PageResponse, PageResponseCode, PasidPrefix, Upstream,
};

/// The tags a DMA request carries besides its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DmaReq {
    /// The PASID the request carries, if any.
    pub pasid: Option<u32>,
    /// The request is privileged (supervisor).
    pub privileged: bool,
    /// The work queue lets the access use ATS (its ATS-disable bit is clear).
    pub ats: bool,
    /// The work queue lets the access send page requests (its PRS-disable bit is clear).
    pub prs: bool,
}

/// A refused access: the first address that could not be accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaFault {
    /// The faulting address.
    pub addr: u64,
    /// A page request may make the access succeed (the translation is missing or lacks the
    /// right), as opposed to an error no page request mends.
    pub recoverable: bool,
}

/// The engine's path to memory.
///
/// The engine never asks for an access that crosses a 4 KiB boundary, so a refused access
/// faults at its first address.
pub trait DmaPort: Send + Sync {
    /// Reads `buf.len()` bytes at `addr`.
    fn read(&self, req: DmaReq, addr: u64, buf: &mut [u8]) -> Result<(), DmaFault>;
    /// Writes `buf` at `addr`.
    fn write(&self, req: DmaReq, addr: u64, buf: &[u8]) -> Result<(), DmaFault>;
    /// Asks for the page holding `addr` to be made accessible (a page request, for block on
    /// fault); `true` when the response says to retry.
    fn page_request(&self, req: DmaReq, addr: u64, write: bool) -> bool {
        let _ = (req, addr, write);
        false
    }
    /// Copies `len` bytes from `src` to `dst`, as reads of the source into `buf` then writes
    /// of it to the destination would, piece by piece, a piece crossing no 4 KiB boundary of
    /// either side.
    ///
    /// `buf` is scratch; what it holds afterwards is unspecified. A fault stops the copy at the
    /// start of the piece it hit, with nothing of that piece written unless the fault is the
    /// write's.
    fn copy(
        &self,
        req: DmaReq,
        src: u64,
        dst: u64,
        len: usize,
        buf: &mut Bounce,
    ) -> Result<(), CopyFault> {
        let mut done = 0;
        while done < len {
            let n = piece(src, dst, done, len);
            bounce_copy(self, req, src, dst, done, buf.get(n))?;
            done += n;
        }
        Ok(())
    }
}

/// Scratch for the pieces of a copy that go through a buffer (read, then written): made
/// (zeroed) at the first such piece, so that a copy made memory to memory costs none.
#[derive(Debug, Default)]
pub struct Bounce(Option<[u8; PAGE as usize]>);

impl Bounce {
    /// The first `n` bytes of the buffer (`n` at most 4 KiB).
    pub fn get(&mut self, n: usize) -> &mut [u8] {
        &mut self.0.get_or_insert([0; PAGE as usize])[..n]
    }
}

/// Bytes of the piece of a copy at `done`: to the next 4 KiB boundary of either side.
fn piece(src: u64, dst: u64, done: usize, len: usize) -> usize {
    let left = |a: u64| (PAGE - (a.wrapping_add(done as u64) & (PAGE - 1))) as usize;
    (len - done).min(left(src)).min(left(dst))
}

/// A refused copy: the bytes copied before it, the fault, and whether it was the
/// destination's (the write's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyFault {
    /// Bytes copied before the refused piece.
    pub done: usize,
    /// The refused access.
    pub fault: DmaFault,
    /// The write (destination) was refused, after the whole source was read.
    pub write: bool,
}

/// One piece of a copy, `done` bytes in, as a read into `buf` then a write from it.
fn bounce_copy<P: DmaPort + ?Sized>(
    port: &P,
    req: DmaReq,
    src: u64,
    dst: u64,
    done: usize,
    buf: &mut [u8],
) -> Result<(), CopyFault> {
    let at = |a: u64| a.wrapping_add(done as u64);
    let refused = |write| move |fault| CopyFault { done, fault, write };
    port.read(req, at(src), buf).map_err(refused(false))?;
    port.write(req, at(dst), buf).map_err(refused(true))
}

/// Copies bytes for a request: given the request and the range of the caller's buffer it
/// covers.
type CopyFn<'a> = dyn FnMut(&DmaRequest, Range<usize>) -> Result<(), bus::DmaError> + 'a;

/// Fills left after which an access gives up on the ATC and goes untranslated, when every
/// fill raced an invalidation.
const FILL_TRIES: u32 = 8;
/// Bytes of one ATC page.
const PAGE: u64 = 4096;

/// The engine's port onto the bus: requests tagged with its requester ID go to `upstream`
/// (an IOMMU model, or [`crate::bus::Direct`] on a platform without one).
///
/// The port is also the function's [`Endpoint`]: it holds the function's ATC, which the
/// IOMMU invalidates, and its outstanding page requests, which the IOMMU answers. While ATS
/// is enabled ([`BusPort::set_ats`]) an access of a WQ that allows ATS is translated through
/// the ATC (a miss sends a translation request) and leaves as a translated request; with PRI
/// enabled ([`BusPort::set_pri`]) a recoverable fault may send a page request.
pub struct BusPort {
    upstream: Arc<dyn Upstream>,
    rid: u16,
    ats: AtomicBool,
    stu: AtomicU8,
    atc: Atc,
    pri: Pri,
}

impl std::fmt::Debug for BusPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusPort")
            .field("rid", &self.rid)
            .field("ats", &self.ats.load(Relaxed))
            .field("atc", &self.atc)
            .finish_non_exhaustive()
    }
}

/// The whole ATC of every PASID.
const INVALIDATE_ALL: AtcInvalidation = AtcInvalidation {
    rid: 0,
    pasid: None,
    global: true,
    addr: 0,
    size_log2: 64,
};

impl BusPort {
    /// A port issuing requests of requester `rid` to `upstream`, with ATS and PRI disabled.
    pub fn new(upstream: Arc<dyn Upstream>, rid: u16) -> Self {
        Self {
            upstream,
            rid,
            ats: AtomicBool::new(false),
            stu: AtomicU8::new(0),
            atc: Atc::default(),
            pri: Pri::default(),
        }
    }

    /// The requester ID the port's requests carry.
    pub fn rid(&self) -> u16 {
        self.rid
    }

    /// Takes the ATS capability's Enable and Smallest Translation Unit; turning ATS off
    /// empties the ATC (once no access uses it).
    pub fn set_ats(&self, enabled: bool, stu: u8) {
        self.stu.store(stu & 0x1f, Relaxed);
        if !self.ats.swap(enabled, Relaxed) || enabled {
            return;
        }
        self.atc.invalidate(&INVALIDATE_ALL);
    }

    /// The ATS Smallest Translation Unit last set.
    pub fn stu(&self) -> u8 {
        self.stu.load(Relaxed)
    }

    /// Takes the PRI capability's Enable, Outstanding Page Request Allocation and Response
    /// Failure status (no page requests while it is set).
    pub fn set_pri(&self, enabled: bool, allocation: u32, response_failure: bool) {
        self.pri.configure(enabled, allocation, response_failure);
    }

    /// Sets how long a page request waits for its response before the access ends with a
    /// page fault.
    pub fn set_page_response_timeout(&self, t: Duration) {
        self.pri.set_timeout(t);
    }

    /// Takes the PRI status events configuration space has not recorded yet: (Response
    /// Failure, Unexpected Page Request Group Index).
    pub fn take_pri_events(&self) -> (bool, bool) {
        self.pri.take_events()
    }

    /// Translations the ATC holds.
    pub fn atc_len(&self) -> usize {
        self.atc.len()
    }

    /// Empties the ATC and forgets outstanding page requests (function level reset).
    pub fn reset(&self) {
        self.atc.invalidate(&INVALIDATE_ALL);
        self.pri.reset();
    }

    fn prefix(req: DmaReq) -> Option<PasidPrefix> {
        req.pasid.map(|p| {
            let prefix = PasidPrefix::new(p);
            if req.privileged {
                prefix.privileged()
            } else {
                prefix
            }
        })
    }

    fn request(&self, req: DmaReq, addr: u64, len: usize, write: bool) -> DmaRequest {
        let r = if write {
            DmaRequest::write(self.rid, addr, len as u64)
        } else {
            DmaRequest::read(self.rid, addr, len as u64)
        };
        match Self::prefix(req) {
            Some(p) => r.with_pasid(p),
            None => r,
        }
    }

    /// Moves `len` bytes at `addr` with `copy` (given the request and the byte range of the
    /// caller's buffer it covers), through the ATC when ATS is on for `req`.
    fn access(
        &self,
        req: DmaReq,
        addr: u64,
        len: usize,
        write: bool,
        copy: &mut CopyFn<'_>,
    ) -> Result<(), DmaFault> {
        if !(req.ats && self.ats.load(Relaxed)) {
            let r = self.request(req, addr, len, write);
            return copy(&r, 0..len).map_err(|e| DmaFault {
                addr: e.addr,
                recoverable: e.fault == bus::DmaFault::UnsupportedRequest,
            });
        }
        let mut done = 0usize;
        while done < len {
            let at = addr.wrapping_add(done as u64);
            let n = (len - done).min((PAGE - (at & (PAGE - 1))) as usize);
            self.access_page(req, at, write, done..done + n, copy)?;
            done += n;
        }
        Ok(())
    }

    /// One access within a page, through the ATC.
    fn access_page(
        &self,
        req: DmaReq,
        at: u64,
        write: bool,
        range: Range<usize>,
        copy: &mut CopyFn<'_>,
    ) -> Result<(), DmaFault> {
        let n = range.len();
        let fault = |recoverable| DmaFault {
            addr: at,
            recoverable,
        };
        let untranslated = |copy: &mut CopyFn<'_>| {
            let r = self.request(req, at, n, write);
            copy(&r, range.clone()).map_err(|e| DmaFault {
                addr: e.addr,
                recoverable: e.fault == bus::DmaFault::UnsupportedRequest,
            })
        };
        let mut tries = 0;
        let hit = loop {
            if let Some(u) = self.atc.lookup(req.pasid, req.privileged, at, write) {
                break u;
            }
            if tries == FILL_TRIES {
                return untranslated(copy);
            }
            tries += 1;
            let epoch = self.atc.epoch();
            let ats = AtsRequest {
                rid: self.rid,
                pasid: Self::prefix(req),
                addr: at & !(PAGE - 1),
                no_write: !write,
            };
            let t = match self.upstream.ats_translate(&ats) {
                Ok(t) => t,
                // Nobody answers translation requests: the IOMMU translates instead.
                Err(AtsFailure::UnsupportedRequest) => return untranslated(copy),
                Err(AtsFailure::CompleterAbort) => return Err(fault(false)),
            };
            if t.untranslated_only {
                return untranslated(copy);
            }
            let probe = self.request(req, at, n, write);
            if !t.rights.allow(&probe) {
                return Err(fault(true));
            }
            match self.atc.fill(req.pasid, req.privileged, at, &t, epoch) {
                Some(u) => break u,
                None if t.translate(at & !(PAGE - 1)).is_none() => return Err(fault(false)),
                None => {}
            }
        };
        // A translated request carries no PASID prefix: PCIe permits one on untranslated
        // memory requests, translation requests and PRI and invalidation messages only.
        let pa = hit.page_pa | (at & (PAGE - 1));
        let r = if write {
            DmaRequest::write(self.rid, pa, n as u64)
        } else {
            DmaRequest::read(self.rid, pa, n as u64)
        }
        .translated();
        let res = copy(&r, range);
        drop(hit);
        res.map_err(|e| DmaFault {
            addr: at.wrapping_add(e.done),
            recoverable: false,
        })
    }
}

impl BusPort {
    /// Copies the longest run at `done` that both sides translate to one physical run each,
    /// memory to memory; `None` (nothing done) when either side is not a plain run or the
    /// memory refuses it, for the caller to copy as accesses.
    fn copy_run(
        &self,
        req: DmaReq,
        src: u64,
        dst: u64,
        done: usize,
        len: usize,
    ) -> Result<Option<usize>, CopyFault> {
        let up = &*self.upstream;
        let rest = len - done;
        let run = |a: u64, write: bool| {
            let addr = a.wrapping_add(done as u64);
            match up.translate(&self.request(req, addr, rest, write)) {
                Ok(t) => {
                    let to_end = (u64::MAX - t.addr).saturating_add(1);
                    Ok(Some((t.addr, t.len.min(to_end).min(rest as u64))))
                }
                Err(bus::DmaFault::ReadAsZero) => Ok(None),
                Err(f) => Err(CopyFault {
                    done,
                    fault: DmaFault {
                        addr,
                        recoverable: f == bus::DmaFault::UnsupportedRequest,
                    },
                    write,
                }),
            }
        };
        let Some((from, a)) = run(src, false)? else {
            return Ok(None);
        };
        // The read of the piece would have succeeded unless the memory refuses it: a refused
        // destination is then the write's fault, as a read then a write would find it.
        let (to, b) = match run(dst, true) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(e) if up.memory().read(from, &mut [0u8; 1]).is_ok() => return Err(e),
            Err(_) => return Ok(None),
        };
        let n = a.min(b);
        if n == 0 || up.memory().copy(from, to, n).is_err() {
            return Ok(None);
        }
        Ok(Some(n as usize))
    }
}

impl DmaPort for BusPort {
    fn read(&self, req: DmaReq, addr: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        let up = &*self.upstream;
        self.access(req, addr, buf.len(), false, &mut |r, range| {
            up.dma_read(r, &mut buf[range])
        })
    }

    fn write(&self, req: DmaReq, addr: u64, buf: &[u8]) -> Result<(), DmaFault> {
        let up = &*self.upstream;
        self.access(req, addr, buf.len(), true, &mut |r, range| {
            up.dma_write(r, &buf[range])
        })
    }

    fn copy(
        &self,
        req: DmaReq,
        src: u64,
        dst: u64,
        len: usize,
        buf: &mut Bounce,
    ) -> Result<(), CopyFault> {
        let ats = req.ats && self.ats.load(Relaxed);
        let mut done = 0;
        while done < len {
            // Whole translated runs at once where both sides have one; else one piece as a
            // read then a write.
            let n = match (!ats).then(|| self.copy_run(req, src, dst, done, len)) {
                Some(Ok(Some(n))) => n,
                Some(Err(e)) => return Err(e),
                _ => {
                    let n = piece(src, dst, done, len);
                    bounce_copy(self, req, src, dst, done, buf.get(n))?;
                    n
                }
            };
            done += n;
        }
        Ok(())
    }

    fn page_request(&self, req: DmaReq, addr: u64, write: bool) -> bool {
        if !req.prs {
            return false;
        }
        let outcome = self.pri.request(req.pasid, |prgi| {
            self.upstream.page_request(&PageRequest {
                rid: self.rid,
                pasid: Self::prefix(req),
                addr: addr & !(PAGE - 1),
                read: !write,
                write,
                prgi,
                last: true,
            });
        });
        outcome == PriOutcome::Answered(PageResponseCode::Success)
    }
}

impl Endpoint for BusPort {
    fn invalidate_atc(&self, inv: &AtcInvalidation) -> AtcInvalidationStatus {
        self.atc.invalidate(inv);
        AtcInvalidationStatus::Completed
    }

    fn page_response(&self, resp: &PageResponse) {
        self.pri.respond(resp);
    }
}

/// The CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) table.
const CRC32C_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Continues a CRC-32C over `data`, in the reflected (LSB-first) bit order, from the raw
/// register value `crc`.
pub(crate) fn crc32c_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC32C_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// CRC-32C of `data` as the engine's CRC generation computes it from `seed`: the seed is
/// inverted into the register and the result inverted out, so a seed of 0 gives the standard
/// CRC-32C and the result of one buffer seeds the next.
pub fn crc32c(seed: u32, data: &[u8]) -> u32 {
    !crc32c_update(!seed, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_answers() {
        assert_eq!(crc32c(0, b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(0, &[0u8; 32]), 0x8a91_36aa);
        let whole = crc32c(0, b"hello world");
        assert_eq!(crc32c(crc32c(0, b"hello "), b"world"), whole);
    }
}

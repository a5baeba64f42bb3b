//! How the engine's memory accesses leave the device, and the plain physical platform.

use std::sync::Arc;

use crate::bus::{DmaRequest, PasidPrefix, Upstream};

/// The tags a DMA request carries besides its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DmaReq {
    /// The PASID the request carries, if any.
    pub pasid: Option<u32>,
    /// The request is privileged (supervisor).
    pub privileged: bool,
}

/// A refused access: the first address that could not be accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaFault {
    /// The faulting address.
    pub addr: u64,
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
}

/// The engine's port onto the bus: requests tagged with its requester ID go to `upstream`
/// (an IOMMU model, or [`crate::bus::Direct`] on a platform without one).
pub struct BusPort {
    upstream: Arc<dyn Upstream>,
    rid: u16,
}

impl std::fmt::Debug for BusPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusPort")
            .field("rid", &self.rid)
            .finish_non_exhaustive()
    }
}

impl BusPort {
    /// A port issuing requests of requester `rid` to `upstream`.
    pub fn new(upstream: Arc<dyn Upstream>, rid: u16) -> Self {
        Self { upstream, rid }
    }

    fn request(&self, req: DmaReq, addr: u64, len: usize, write: bool) -> DmaRequest {
        let r = if write {
            DmaRequest::write(self.rid, addr, len as u64)
        } else {
            DmaRequest::read(self.rid, addr, len as u64)
        };
        match req.pasid {
            Some(p) => {
                let prefix = PasidPrefix::new(p);
                r.with_pasid(if req.privileged {
                    prefix.privileged()
                } else {
                    prefix
                })
            }
            None => r,
        }
    }
}

impl DmaPort for BusPort {
    fn read(&self, req: DmaReq, addr: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        let r = self.request(req, addr, buf.len(), false);
        self.upstream
            .dma_read(&r, buf)
            .map_err(|e| DmaFault { addr: e.addr })
    }

    fn write(&self, req: DmaReq, addr: u64, buf: &[u8]) -> Result<(), DmaFault> {
        let r = self.request(req, addr, buf.len(), true);
        self.upstream
            .dma_write(&r, buf)
            .map_err(|e| DmaFault { addr: e.addr })
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

//! The page request descriptor the hardware writes into the page request queue (A.11).

use bitfield_struct::bitfield;
use thiserror::Error;

/// Bytes in a 4 KiB page: the unit of the ADDR field.
const PAGE_SIZE: u64 = 4096;

/// QW0 of a page request descriptor.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PageRequestQw0 {
    /// Type: 01h.
    #[bits(8, default = 1, access = RO)]
    pub desc_type: u8,
    /// PP: PASID present.
    pub pp: bool,
    /// Bits 15:9, reserved (bit 9 was PDP, private data present, in older revisions).
    #[bits(7)]
    _rsvd9: u8,
    /// RID: requester ID of the device.
    pub rid: u16,
    /// PASID (meaningful when PP=1).
    #[bits(20)]
    pub pasid: u32,
    /// EXR: execute requested.
    pub exr: bool,
    /// PMR: privileged-mode (supervisor) requested.
    pub pmr: bool,
    /// Bits 63:54, reserved.
    #[bits(10)]
    _rsvd54: u16,
}

/// QW1 of a page request descriptor.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PageRequestQw1 {
    /// RDR: read requested.
    pub rdr: bool,
    /// WRR: write requested.
    pub wrr: bool,
    /// LPIG: last page in the group; the group wants a page group response.
    pub lpig: bool,
    /// PRGI: page request group index.
    #[bits(9)]
    pub prgi: u16,
    /// ADDR: address bits 63:12 of the page.
    #[bits(52)]
    pub addr: u64,
}

/// A page request descriptor (256 bits; bits 255:128 are reserved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// QW0: type, PP, RID, PASID, EXR, PMR.
    pub qw0: PageRequestQw0,
    /// QW1: RDR, WRR, LPIG, PRGI, ADDR.
    pub qw1: PageRequestQw1,
}

/// Why words read from the page request queue are not a page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PageRequestError {
    /// The type field is not 01h.
    #[error("page request queue entry has type {0:#04x}, not 01h")]
    BadType(u8),
}

impl PageRequest {
    /// The descriptor type.
    pub const TYPE: u8 = 0x1;

    /// The request in the four words of a queue entry. Only the type is validated; reserved
    /// bits (including the old PDP bit 9 and the old private data in bits 255:128) are
    /// ignored, as software ignores them, and bits 127:0 are kept as they are.
    pub const fn decode(words: [u64; 4]) -> Result<PageRequest, PageRequestError> {
        let qw0 = PageRequestQw0::from_bits(words[0]);
        if qw0.desc_type() != Self::TYPE {
            return Err(PageRequestError::BadType(qw0.desc_type()));
        }
        Ok(PageRequest {
            qw0,
            qw1: PageRequestQw1::from_bits(words[1]),
        })
    }

    /// The four words the hardware writes into the queue (bits 255:128 zero).
    pub const fn encode(&self) -> [u64; 4] {
        [self.qw0.into_bits(), self.qw1.into_bits(), 0, 0]
    }

    /// The byte address of the page.
    pub const fn address(&self) -> u64 {
        self.qw1.addr().wrapping_mul(PAGE_SIZE)
    }

    /// Whether this is a stop marker: LPIG=1 with neither read nor write requested. A stop
    /// marker asks for no response.
    pub const fn is_stop_marker(&self) -> bool {
        self.qw1.lpig() && !self.qw1.rdr() && !self.qw1.wrr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn page_request_encodes_as_the_spec_lays_it_out() {
        let r = PageRequest {
            qw0: PageRequestQw0::new()
                .with_pp(true)
                .with_rid(0x0310)
                .with_pasid(0xABCDE)
                .with_exr(true)
                .with_pmr(true),
            qw1: PageRequestQw1::new()
                .with_rdr(true)
                .with_wrr(true)
                .with_lpig(true)
                .with_prgi(0x1A5)
                .with_addr(0x7_FFFF_1234_5000 >> 12),
        };
        // Type=01h (7:0) | PP (8) | RID (31:16) | PASID (51:32) | EXR (52) | PMR (53).
        let want_qw0 = 0x01 | 1 << 8 | 0x0310 << 16 | 0xABCDE << 32 | 1 << 52 | 1 << 53;
        // RDR (64) | WRR (65) | LPIG (66) | PRGI (75:67) | ADDR (127:76).
        let want_qw1 = 1 | 1 << 1 | 1 << 2 | 0x1A5 << 3 | 0x7_FFFF_1234_5000;
        assert_eq!(r.encode(), [want_qw0, want_qw1, 0, 0]);
        assert_eq!(PageRequest::decode([want_qw0, want_qw1, 0, 0]), Ok(r));
        assert_eq!(r.address(), 0x7_FFFF_1234_5000);
        assert!(!r.is_stop_marker());
    }

    #[test]
    fn page_request_decodes_hand_built_words() {
        // A read request without PASID: type 1, RID 00:02.0, PRGI 3, page 0x4000.
        let r = PageRequest::decode([0x01 | 0x0010 << 16, 1 | 3 << 3 | 0x4000, 0, 0]).unwrap();
        assert!(!r.qw0.pp() && !r.qw0.exr() && !r.qw0.pmr());
        assert_eq!(r.qw0.rid(), 0x0010);
        assert!(r.qw1.rdr() && !r.qw1.wrr() && !r.qw1.lpig());
        assert_eq!(r.qw1.prgi(), 3);
        assert_eq!(r.address(), 0x4000);
        // Reserved bits (old PDP bit 9, old private data) are ignored and kept.
        let w = [0x01 | 1 << 9 | 1 << 60, 0, 0xDEAD, 0xBEEF];
        let r = PageRequest::decode(w).unwrap();
        assert_eq!(r.encode(), [w[0], 0, 0, 0]);
        // Any other type is refused.
        assert_eq!(
            PageRequest::decode([0x02, 0, 0, 0]),
            Err(PageRequestError::BadType(2))
        );
        assert_eq!(
            PageRequest::decode([0x81, 0, 0, 0]),
            Err(PageRequestError::BadType(0x81))
        );
        assert_eq!(
            PageRequest::decode([0, 0, 0, 0]),
            Err(PageRequestError::BadType(0))
        );
    }

    #[test]
    fn stop_markers_are_lpig_without_access() {
        let stop = |q1: u64| PageRequest::decode([1, q1, 0, 0]).unwrap().is_stop_marker();
        assert!(stop(1 << 2)); // LPIG only.
        assert!(stop(1 << 2 | 5 << 3 | 0x9000)); // with PRGI and ADDR.
        assert!(!stop(1 << 2 | 1)); // LPIG and RDR.
        assert!(!stop(1 << 2 | 1 << 1)); // LPIG and WRR.
        assert!(!stop(0)); // neither read nor write, but not the last.
    }

    proptest! {
        #[test]
        fn decode_never_panics_and_round_trips(w: [u64; 4]) {
            match PageRequest::decode(w) {
                Ok(r) => {
                    prop_assert_eq!(w[0] & 0xFF, 1);
                    prop_assert_eq!(r.encode(), [w[0], w[1], 0, 0]);
                    let _ = r.is_stop_marker();
                }
                Err(PageRequestError::BadType(t)) => prop_assert_eq!(u64::from(t), w[0] & 0xFF),
            }
        }
    }
}

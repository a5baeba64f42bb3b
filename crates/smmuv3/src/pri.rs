//! PRI queue entries (spec chapter 8) and the responses software sends with `CMD_PRI_RESP`.
//!
//! The SMMU writes one 16-byte entry per PCIe page request it accepts:
//!
//! | DW | bits | field |
//! |---|---|---|
//! | 0 | 31:0 | StreamID (the requester ID) |
//! | 0 | 51:32 | SubstreamID (the PASID; UNKNOWN when SSV=0) |
//! | 0 | 58 / 59 / 60 / 61 | Priv / Exec / Read / Write |
//! | 0 | 62 | Last (the last request of its page request group) |
//! | 0 | 63 | SSV (the request carried a PASID) |
//! | 1 | 8:0 | PRGIndex (the page request group) |
//! | 1 | 63:12 | Page address |
//!
//! Every other bit is reserved: the SMMU writes it as zero and software ignores it. A request
//! with a PASID, Last=1, Read=0 and Write=0 is a Stop PASID marker. Software answers each group
//! with `CMD_PRI_RESP` (same StreamID, SubstreamID and PRGIndex) carrying a [`PriResponse`].

use bitfield_struct::bitfield;

/// Size of a PRI queue entry in bytes.
pub const PRI_ENTRY_BYTES: u64 = 16;

/// DW0 of a PRI queue entry.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct PriDw0 {
    /// StreamID of the requester.
    pub sid: u32,
    /// SubstreamID (PASID) of the request; UNKNOWN when SSV=0.
    #[bits(20)]
    pub ssid: u32,
    #[bits(6)]
    __: u8,
    /// Priv: a privileged-mode access is requested (0 without a PASID).
    pub privileged: bool,
    /// Exec: execute permission is requested (0 without a PASID).
    pub exec: bool,
    /// Read: read permission is requested.
    pub read: bool,
    /// Write: write permission is requested.
    pub write: bool,
    /// Last: the last request of its page request group.
    pub last: bool,
    /// SSV: the request carried a PASID TLP prefix.
    pub ssv: bool,
}

/// DW1 of a PRI queue entry.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct PriDw1 {
    /// PRGIndex: the page request group the request belongs to.
    #[bits(9)]
    pub prgi: u16,
    #[bits(3)]
    __: u8,
    /// Page address, bits 63:12.
    #[bits(52)]
    pub page: u64,
}

/// One PRI queue entry: a page request as the SMMU records it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PageRequest {
    /// DW0: StreamID, SubstreamID and the request's flags.
    pub dw0: PriDw0,
    /// DW1: PRGIndex and page address.
    pub dw1: PriDw1,
}

impl PageRequest {
    /// A request from stream `sid` for the page holding `addr`, with PASID `ssid` if any, in
    /// page request group `prgi` (9 bits; higher bits are dropped). Without a PASID, Exec and
    /// Priv are dropped as the SMMU records them; a SubstreamID wider than 20 bits is cut.
    pub const fn new(
        sid: u32,
        ssid: Option<u32>,
        prgi: u16,
        addr: u64,
        access: PriAccess,
        last: bool,
    ) -> PageRequest {
        let (ssv, ssid) = match ssid {
            Some(s) => (true, s & PriDw0::SSID_MASK),
            None => (false, 0),
        };
        PageRequest {
            dw0: PriDw0::new()
                .with_sid(sid)
                .with_ssid(ssid)
                .with_ssv(ssv)
                .with_read(access.read)
                .with_write(access.write)
                .with_exec(ssv && access.exec)
                .with_privileged(ssv && access.privileged)
                .with_last(last),
            dw1: PriDw1::new()
                .with_prgi(prgi & PriDw1::PRGI_MASK)
                .with_page(addr >> PriDw1::PAGE_OFFSET),
        }
    }

    /// The entry held in `words` (DW0 first); reserved bits are ignored.
    pub const fn decode(words: [u64; 2]) -> PageRequest {
        PageRequest {
            dw0: PriDw0::from_bits(words[0]),
            dw1: PriDw1::from_bits(words[1]),
        }
    }

    /// The entry as the SMMU writes it, DW0 first (reserved bits zero).
    pub const fn encode(&self) -> [u64; 2] {
        [
            self.dw0.into_bits() & PriDw0::FIELDS,
            self.dw1.into_bits() & PriDw1::FIELDS,
        ]
    }

    /// The PASID, when the request carried one.
    pub const fn pasid(&self) -> Option<u32> {
        if self.dw0.ssv() {
            Some(self.dw0.ssid())
        } else {
            None
        }
    }

    /// The byte address of the requested page.
    pub const fn address(&self) -> u64 {
        self.dw1.page() << PriDw1::PAGE_OFFSET
    }

    /// The permissions requested.
    pub const fn access(&self) -> PriAccess {
        PriAccess {
            read: self.dw0.read(),
            write: self.dw0.write(),
            exec: self.dw0.exec(),
            privileged: self.dw0.privileged(),
        }
    }

    /// Whether this is a Stop PASID marker (with a PASID, Last=1, Read=0, Write=0) rather than
    /// a page request.
    pub const fn is_stop_marker(&self) -> bool {
        self.dw0.ssv() && self.dw0.last() && !self.dw0.read() && !self.dw0.write()
    }
}

impl PriDw0 {
    /// The bits of a 20-bit SubstreamID.
    const SSID_MASK: u32 = (1 << Self::SSID_BITS) - 1;
    /// Bits that are fields; the rest (57:52) are reserved.
    const FIELDS: u64 = !between(Self::SSID_OFFSET + Self::SSID_BITS, Self::PRIVILEGED_OFFSET);
}

impl PriDw1 {
    /// The bits of a 9-bit PRGIndex.
    const PRGI_MASK: u16 = (1 << Self::PRGI_BITS) - 1;
    /// Bits that are fields; the rest (11:9) are reserved.
    const FIELDS: u64 = !between(Self::PRGI_OFFSET + Self::PRGI_BITS, Self::PAGE_OFFSET);
}

/// The bits from `lo` up to but not including `hi` (both below 64).
const fn between(lo: usize, hi: usize) -> u64 {
    ((1 << hi) - 1) & !((1 << lo) - 1)
}

/// The permissions a page request asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PriAccess {
    /// Read access.
    pub read: bool,
    /// Write access.
    pub write: bool,
    /// Execute access (only with a PASID).
    pub exec: bool,
    /// Privileged access (only with a PASID).
    pub privileged: bool,
}

/// The response of a page request group, `CMD_PRI_RESP.Resp` (bits 13:12 of DW1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PriResponse {
    /// 0b00, ResponseFailure: a permanent, non-paging error (PCIe Response Failure, 1111b);
    /// the device stops issuing page requests. Linux names this value DENY.
    Failure,
    /// 0b01, InvalidRequest: one or more pages of the group could not be paged in (PCIe
    /// Invalid Request, 0001b). Linux names this value FAIL.
    InvalidRequest,
    /// 0b10, Success: every page of the group is now present (PCIe Success, 0000b).
    Success,
    /// 0b11: reserved; a `CMD_PRI_RESP` carrying it is illegal.
    Reserved,
}

impl PriResponse {
    /// The response a 2-bit field value encodes.
    pub const fn from_bits(bits: u8) -> PriResponse {
        match bits & 3 {
            0 => PriResponse::Failure,
            1 => PriResponse::InvalidRequest,
            2 => PriResponse::Success,
            _ => PriResponse::Reserved,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            PriResponse::Failure => 0,
            PriResponse::InvalidRequest => 1,
            PriResponse::Success => 2,
            PriResponse::Reserved => 3,
        }
    }

    /// The PCIe PRG Response Code the device receives; `None` for the reserved value.
    pub const fn pcie_code(self) -> Option<u8> {
        match self {
            PriResponse::Success => Some(0b0000),
            PriResponse::InvalidRequest => Some(0b0001),
            PriResponse::Failure => Some(0b1111),
            PriResponse::Reserved => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn entry_layout_matches_the_spec() {
        let r = PageRequest::new(
            0xdead_beef,
            Some(0xa_bcde),
            0x1ff,
            0x1234_5678_9abc_d000,
            PriAccess {
                read: true,
                write: true,
                exec: true,
                privileged: true,
            },
            true,
        );
        let dw0 = 0xdead_beef | 0xa_bcde << 32 | 1 << 58 | 1 << 59 | 1 << 60 | 1 << 61;
        let dw0 = dw0 | 1 << 62 | 1 << 63;
        assert_eq!(r.encode(), [dw0, 0x1ff | 0x1234_5678_9abc_d000]);
        assert_eq!(r.pasid(), Some(0xa_bcde));
        assert_eq!(r.address(), 0x1234_5678_9abc_d000);
        assert!(!r.is_stop_marker());
    }

    /// Reads one flag of DW0.
    type Flag = fn(&PriDw0) -> bool;

    #[test]
    fn each_flag_is_its_own_bit() {
        let flags: [(Flag, u32); 6] = [
            (PriDw0::privileged, 58),
            (PriDw0::exec, 59),
            (PriDw0::read, 60),
            (PriDw0::write, 61),
            (PriDw0::last, 62),
            (PriDw0::ssv, 63),
        ];
        for (_, bit) in flags {
            let d = PriDw0::from_bits(1 << bit);
            for (other, b) in flags {
                assert_eq!(other(&d), b == bit, "bit {bit}");
            }
        }
    }

    #[test]
    fn without_pasid_exec_and_priv_are_dropped() {
        let all = PriAccess {
            read: true,
            write: false,
            exec: true,
            privileged: true,
        };
        let r = PageRequest::new(7, None, 3, 0x5000, all, false);
        assert_eq!(r.encode(), [7 | 1 << 60, 3 | 0x5000]);
        assert_eq!(r.pasid(), None);
        assert_eq!(
            r.access(),
            PriAccess {
                read: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn stop_marker_needs_a_pasid() {
        let none = PriAccess::default();
        assert!(PageRequest::new(1, Some(5), 2, 0, none, true).is_stop_marker());
        assert!(!PageRequest::new(1, None, 2, 0, none, true).is_stop_marker());
        assert!(!PageRequest::new(1, Some(5), 2, 0, none, false).is_stop_marker());
    }

    #[test]
    fn reserved_bits_are_ignored_and_written_as_zero() {
        let reserved = [0x3f << 52, 0xe00];
        let r = PageRequest::decode(reserved);
        assert_eq!(format!("{r:?}"), format!("{:?}", PageRequest::default()));
        assert_eq!(r.encode(), [0, 0]);
        assert_eq!(
            PageRequest::decode([u64::MAX; 2]).encode(),
            [!reserved[0], !reserved[1]]
        );
    }

    #[test]
    fn responses_have_the_spec_encodings() {
        use PriResponse::*;
        for (r, bits, pcie) in [
            (Failure, 0, Some(0xf)),
            (InvalidRequest, 1, Some(1)),
            (Success, 2, Some(0)),
            (Reserved, 3, None),
        ] {
            assert_eq!(r.into_bits(), bits);
            assert_eq!(PriResponse::from_bits(bits), r);
            assert_eq!(r.pcie_code(), pcie);
        }
    }

    proptest! {
        #[test]
        fn decode_then_encode_keeps_every_field(w0: u64, w1: u64) {
            let r = PageRequest::decode([w0, w1]);
            let again = PageRequest::decode(r.encode());
            prop_assert_eq!(again, PageRequest::decode(again.encode()));
            prop_assert_eq!(again.dw0.sid(), (w0 & 0xffff_ffff) as u32);
            prop_assert_eq!(again.access(), r.access());
            prop_assert_eq!(again.address(), w1 & !0xfff);
            prop_assert_eq!(again.dw1.prgi(), (w1 & 0x1ff) as u16);
        }
    }
}

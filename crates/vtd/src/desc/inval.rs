//! The invalidation descriptor types that also exist in 128-bit queues (1h–5h), the field
//! enums every type uses, and the reserved-field rule helpers; the 256-bit-only types
//! (6h–Ah) are in `inval_pasid`.

use bitfield_struct::bitfield;

use super::DescCaps;

/// Bytes in a 4 KiB page: the unit of every ADDR field.
pub(super) const PAGE_SIZE: u64 = 4096;

/// Granularity (G) of a context-cache invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CcGranularity {
    /// 00b: reserved.
    Reserved,
    /// 01b: every context-cache entry.
    Global,
    /// 10b: entries of one domain (processed as global in scalable mode).
    Domain,
    /// 11b: entries of one source ID under the function mask.
    Device,
}

impl CcGranularity {
    /// The granularity encoded by the 2-bit field value `bits`.
    pub const fn from_bits(bits: u8) -> CcGranularity {
        match bits & 3 {
            1 => CcGranularity::Global,
            2 => CcGranularity::Domain,
            3 => CcGranularity::Device,
            _ => CcGranularity::Reserved,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            CcGranularity::Reserved => 0,
            CcGranularity::Global => 1,
            CcGranularity::Domain => 2,
            CcGranularity::Device => 3,
        }
    }
}

/// Granularity (G) of an IOTLB invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IotlbGranularity {
    /// 00b: reserved.
    Reserved,
    /// 01b: every IOTLB and paging-structure-cache entry.
    Global,
    /// 10b: entries of one domain.
    Domain,
    /// 11b: entries of one domain within an address range (page-selective).
    Page,
}

impl IotlbGranularity {
    /// The granularity encoded by the 2-bit field value `bits`.
    pub const fn from_bits(bits: u8) -> IotlbGranularity {
        match bits & 3 {
            1 => IotlbGranularity::Global,
            2 => IotlbGranularity::Domain,
            3 => IotlbGranularity::Page,
            _ => IotlbGranularity::Reserved,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            IotlbGranularity::Reserved => 0,
            IotlbGranularity::Global => 1,
            IotlbGranularity::Domain => 2,
            IotlbGranularity::Page => 3,
        }
    }
}

/// Granularity (G) of an interrupt-entry-cache invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IecGranularity {
    /// 0: every interrupt-entry-cache entry.
    Global,
    /// 1: the 2^IM entries starting at IIDX.
    Index,
}

impl IecGranularity {
    /// The granularity encoded by the 1-bit field value `bits`.
    pub const fn from_bits(bits: u8) -> IecGranularity {
        if bits & 1 == 0 {
            IecGranularity::Global
        } else {
            IecGranularity::Index
        }
    }

    /// The 1-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            IecGranularity::Global => 0,
            IecGranularity::Index => 1,
        }
    }
}

/// Granularity (G) of a PASID-based IOTLB invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PIotlbGranularity {
    /// 00b or 01b: reserved (the 2-bit value).
    Reserved(u8),
    /// 10b: every non-global entry of the PASID within the domain.
    Pasid,
    /// 11b: entries of the PASID within the domain and an address range.
    Page,
}

impl PIotlbGranularity {
    /// The granularity encoded by the 2-bit field value `bits`.
    pub const fn from_bits(bits: u8) -> PIotlbGranularity {
        match bits & 3 {
            2 => PIotlbGranularity::Pasid,
            3 => PIotlbGranularity::Page,
            v => PIotlbGranularity::Reserved(v),
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            PIotlbGranularity::Reserved(v) => v,
            PIotlbGranularity::Pasid => 2,
            PIotlbGranularity::Page => 3,
        }
    }
}

/// Granularity (G) of a PASID-cache invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PcGranularity {
    /// 00b: every entry of the domain.
    Domain,
    /// 01b: entries of one PASID within the domain.
    Pasid,
    /// 10b: reserved.
    Reserved,
    /// 11b: every entry.
    Global,
}

impl PcGranularity {
    /// The granularity encoded by the 2-bit field value `bits`.
    pub const fn from_bits(bits: u8) -> PcGranularity {
        match bits & 3 {
            0 => PcGranularity::Domain,
            1 => PcGranularity::Pasid,
            2 => PcGranularity::Reserved,
            _ => PcGranularity::Global,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            PcGranularity::Domain => 0,
            PcGranularity::Pasid => 1,
            PcGranularity::Reserved => 2,
            PcGranularity::Global => 3,
        }
    }
}

/// Response code (RC) of a page group response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    /// 0h: the pages are now available.
    Success,
    /// 1h: the request was invalid; the device must not retry it.
    InvalidRequest,
    /// Fh: the response failed; the device disables its page request interface.
    Failure,
    /// 2h–Eh: reserved (the 4-bit value).
    Reserved(u8),
}

impl ResponseCode {
    /// The code encoded by the 4-bit field value `bits`.
    pub const fn from_bits(bits: u8) -> ResponseCode {
        match bits & 0xF {
            0 => ResponseCode::Success,
            1 => ResponseCode::InvalidRequest,
            0xF => ResponseCode::Failure,
            v => ResponseCode::Reserved(v),
        }
    }

    /// The 4-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            ResponseCode::Success => 0,
            ResponseCode::InvalidRequest => 1,
            ResponseCode::Failure => 0xF,
            ResponseCode::Reserved(v) => v,
        }
    }
}

/// A reserved-field rule: the name of the field that broke it when `bad`.
pub(super) const fn rule(bad: bool, field: &'static str) -> Option<&'static str> {
    if bad { Some(field) } else { None }
}

/// The first rule in `rules` that is broken.
pub(super) fn first(rules: &[Option<&'static str>]) -> Option<&'static str> {
    rules.iter().flatten().next().copied()
}

// ---------------------------------------------------------------------------------------------
// 1h: context-cache invalidation.

/// QW0 of a context-cache invalidate descriptor (cc_inv_dsc, type 1h).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct CcInvQw0 {
    /// Type\[3:0\]: 1h.
    #[bits(4, default = 1, access = RO)]
    pub desc_type: u8,
    /// G: granularity.
    #[bits(2)]
    pub g: CcGranularity,
    /// Bits 8:6, reserved.
    #[bits(3, access = RO)]
    rsvd6: u8,
    /// Type\[6:4\]: 0.
    #[bits(3)]
    _type_hi: u8,
    /// Bits 15:12, reserved.
    #[bits(4, access = RO)]
    rsvd12: u8,
    /// DID: domain to invalidate (domain-selective; ignored in scalable mode).
    pub did: u16,
    /// SID: source ID (device-selective).
    pub sid: u16,
    /// FM: function mask, how many low bits of SID to ignore (0–3).
    #[bits(2)]
    pub fm: u8,
    /// Bits 63:50, reserved.
    #[bits(14, access = RO)]
    rsvd50: u16,
}

/// A context-cache invalidate descriptor (type 1h, 128 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CcInv {
    /// QW0: G, DID, SID, FM.
    pub qw0: CcInvQw0,
}

queue_words!(CcInv { qw0: CcInvQw0 });

impl CcInv {
    /// The descriptor type.
    pub const TYPE: u8 = 0x1;

    /// The first reserved-field violation in words of this type, if any.
    pub(super) fn violation(words: &[u64; 4], _caps: &DescCaps) -> Option<&'static str> {
        let q0 = CcInvQw0::from_bits(words[0]);
        first(&[
            rule(q0.rsvd6() != 0, "cc_inv_dsc bits 8:6"),
            rule(q0.rsvd12() != 0, "cc_inv_dsc bits 15:12"),
            rule(q0.rsvd50() != 0, "cc_inv_dsc bits 63:50"),
            rule(q0.g() == CcGranularity::Reserved, "cc_inv_dsc G=00b"),
            rule(words[1] != 0, "cc_inv_dsc bits 127:64"),
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// 2h: IOTLB invalidation.

/// QW0 of an IOTLB invalidate descriptor (iotlb_inv_dsc, type 2h).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct IotlbInvQw0 {
    /// Type\[3:0\]: 2h.
    #[bits(4, default = 2, access = RO)]
    pub desc_type: u8,
    /// G: granularity.
    #[bits(2)]
    pub g: IotlbGranularity,
    /// DW: drain writes (ignored by hardware with major version 2 or later).
    pub dw: bool,
    /// DR: drain reads (ignored by hardware with major version 2 or later).
    pub dr: bool,
    /// Bit 8, reserved.
    #[bits(1, access = RO)]
    rsvd8: u8,
    /// Type\[6:4\]: 0.
    #[bits(3)]
    _type_hi: u8,
    /// Bits 15:12, reserved.
    #[bits(4, access = RO)]
    rsvd12: u8,
    /// DID: domain to invalidate.
    pub did: u16,
    /// Bits 63:32, reserved.
    #[bits(32, access = RO)]
    rsvd32: u32,
}

/// QW1 of an IOTLB or PASID-based IOTLB invalidate descriptor: the address range.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct IotlbInvQw1 {
    /// AM: address mask, the range is 2^AM naturally aligned 4 KiB pages.
    #[bits(6)]
    pub am: u8,
    /// IH: invalidation hint, only leaf entries changed (paging-structure caches may stay).
    pub ih: bool,
    /// Bits 75:71, reserved.
    #[bits(5, access = RO)]
    rsvd7: u8,
    /// ADDR: address bits 63:12 of the range.
    #[bits(52)]
    pub addr: u64,
}

impl IotlbInvQw1 {
    /// The byte address of the range.
    pub const fn address(&self) -> u64 {
        self.addr().wrapping_mul(PAGE_SIZE)
    }

    /// Bits 75:71, which must be zero.
    pub(super) const fn reserved(&self) -> u8 {
        self.rsvd7()
    }
}

/// An IOTLB invalidate descriptor (type 2h, 128 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IotlbInv {
    /// QW0: G, DW, DR, DID.
    pub qw0: IotlbInvQw0,
    /// QW1: AM, IH, ADDR (page-selective only).
    pub qw1: IotlbInvQw1,
}

queue_words!(IotlbInv {
    qw0: IotlbInvQw0,
    qw1: IotlbInvQw1
});

impl IotlbInv {
    /// The descriptor type.
    pub const TYPE: u8 = 0x2;

    /// The first reserved-field violation in words of this type, if any. A page-selective
    /// AM above CAP.MAMV counts as one.
    pub(super) fn violation(words: &[u64; 4], caps: &DescCaps) -> Option<&'static str> {
        let (q0, q1) = (
            IotlbInvQw0::from_bits(words[0]),
            IotlbInvQw1::from_bits(words[1]),
        );
        first(&[
            rule(q0.rsvd8() != 0, "iotlb_inv_dsc bit 8"),
            rule(q0.rsvd12() != 0, "iotlb_inv_dsc bits 15:12"),
            rule(q0.rsvd32() != 0, "iotlb_inv_dsc bits 63:32"),
            rule(q1.rsvd7() != 0, "iotlb_inv_dsc bits 75:71"),
            rule(q0.g() == IotlbGranularity::Reserved, "iotlb_inv_dsc G=00b"),
            rule(
                q0.g() == IotlbGranularity::Page && q1.am() > caps.mamv,
                "iotlb_inv_dsc AM above MAMV",
            ),
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// 3h: device-TLB invalidation.

/// QW0 of a device-TLB invalidate descriptor (dev_tlb_inv_dsc, type 3h).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct DevTlbInvQw0 {
    /// Type\[3:0\]: 3h.
    #[bits(4, default = 3, access = RO)]
    pub desc_type: u8,
    /// Bits 8:4, reserved.
    #[bits(5, access = RO)]
    rsvd4: u8,
    /// Type\[6:4\]: 0.
    #[bits(3)]
    _type_hi: u8,
    /// PFSID\[3:0\]: physical-function source ID, low bits (a hint; reserved unless DIT=1).
    #[bits(4)]
    pub pfsid_lo: u8,
    /// MIP: maximum invalidations pending, the device's invalidate queue depth (0 = 32); a
    /// hint that only a unit with DIT=1 uses, a field whatever DIT is.
    #[bits(5)]
    pub mip: u8,
    /// Bits 31:21, reserved.
    #[bits(11, access = RO)]
    rsvd21: u16,
    /// SID: source ID of the device.
    pub sid: u16,
    /// Bits 51:48, reserved.
    #[bits(4, access = RO)]
    rsvd48: u8,
    /// PFSID\[15:4\]: physical-function source ID, high bits (a hint; reserved unless DIT=1).
    #[bits(12)]
    pub pfsid_hi: u16,
}

impl DevTlbInvQw0 {
    /// PFSID, assembled from its two parts.
    pub const fn pfsid(&self) -> u16 {
        self.pfsid_lo() as u16 | self.pfsid_hi() << 4
    }

    /// This word with PFSID split into its two parts.
    pub const fn with_pfsid(self, pfsid: u16) -> Self {
        self.with_pfsid_lo((pfsid & 0xF) as u8)
            .with_pfsid_hi(pfsid >> 4)
    }
}

/// QW1 of a device-TLB invalidate descriptor: the ATS-style address and size.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct DevTlbInvQw1 {
    /// S: size; 0 = one 4 KiB page, 1 = the lowest 0 bit of ADDR gives the size.
    pub s: bool,
    /// Bits 75:65, reserved.
    #[bits(11, access = RO)]
    rsvd1: u16,
    /// ADDR: address bits 63:12.
    #[bits(52)]
    pub addr: u64,
}

impl DevTlbInvQw1 {
    /// The range as (first 4 KiB page number, number of pages); see [`super::dev_tlb_range`].
    pub const fn range(&self) -> (u64, u64) {
        super::dev_tlb_range(self.addr(), self.s())
    }
}

/// A device-TLB invalidate descriptor (type 3h, 128 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevTlbInv {
    /// QW0: PFSID, MIP, SID.
    pub qw0: DevTlbInvQw0,
    /// QW1: S, ADDR.
    pub qw1: DevTlbInvQw1,
}

queue_words!(DevTlbInv {
    qw0: DevTlbInvQw0,
    qw1: DevTlbInvQw1
});

impl DevTlbInv {
    /// The descriptor type.
    pub const TYPE: u8 = 0x3;

    /// The first reserved-field violation in words of this type, if any; PFSID is reserved
    /// unless DIT=1, MIP never is.
    pub(super) fn violation(words: &[u64; 4], caps: &DescCaps) -> Option<&'static str> {
        let (q0, q1) = (
            DevTlbInvQw0::from_bits(words[0]),
            DevTlbInvQw1::from_bits(words[1]),
        );
        first(&[
            rule(q0.rsvd4() != 0, "dev_tlb_inv_dsc bits 8:4"),
            rule(q0.rsvd21() != 0, "dev_tlb_inv_dsc bits 31:21"),
            rule(q0.rsvd48() != 0, "dev_tlb_inv_dsc bits 51:48"),
            rule(q1.rsvd1() != 0, "dev_tlb_inv_dsc bits 75:65"),
            rule(
                !caps.dit && q0.pfsid() != 0,
                "dev_tlb_inv_dsc PFSID without DIT",
            ),
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// 4h: interrupt-entry-cache invalidation.

/// QW0 of an interrupt-entry-cache invalidate descriptor (iec_inv_dsc, type 4h).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct IecInvQw0 {
    /// Type\[3:0\]: 4h.
    #[bits(4, default = 4, access = RO)]
    pub desc_type: u8,
    /// G: granularity.
    #[bits(1)]
    pub g: IecGranularity,
    /// Bits 8:5, reserved.
    #[bits(4, access = RO)]
    rsvd5: u8,
    /// Type\[6:4\]: 0.
    #[bits(3)]
    _type_hi: u8,
    /// Bits 26:12, reserved.
    #[bits(15, access = RO)]
    rsvd12: u16,
    /// IM: index mask, the range is 2^IM entries (index-selective).
    #[bits(5)]
    pub im: u8,
    /// IIDX: first interrupt index (index-selective).
    pub iidx: u16,
    /// Bits 63:48, reserved.
    #[bits(16, access = RO)]
    rsvd48: u16,
}

/// An interrupt-entry-cache invalidate descriptor (type 4h, 128 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IecInv {
    /// QW0: G, IM, IIDX.
    pub qw0: IecInvQw0,
}

queue_words!(IecInv { qw0: IecInvQw0 });

impl IecInv {
    /// The descriptor type.
    pub const TYPE: u8 = 0x4;

    /// The first reserved-field violation in words of this type, if any.
    pub(super) fn violation(words: &[u64; 4], _caps: &DescCaps) -> Option<&'static str> {
        let q0 = IecInvQw0::from_bits(words[0]);
        first(&[
            rule(q0.rsvd5() != 0, "iec_inv_dsc bits 8:5"),
            rule(q0.rsvd12() != 0, "iec_inv_dsc bits 26:12"),
            rule(q0.rsvd48() != 0, "iec_inv_dsc bits 63:48"),
            rule(words[1] != 0, "iec_inv_dsc bits 127:64"),
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// 5h: invalidation wait.

/// QW0 of an invalidation wait descriptor (inv_wait_dsc, type 5h).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct InvWaitQw0 {
    /// Type\[3:0\]: 5h.
    #[bits(4, default = 5, access = RO)]
    pub desc_type: u8,
    /// IF: on completion, set ICS.IWC (and raise the completion event).
    pub if_flag: bool,
    /// SW: on completion, write the status data to the status address.
    pub sw: bool,
    /// FN: fence, later descriptors wait until this one completes.
    pub fn_flag: bool,
    /// PD: page-request drain, complete behind every page request already received (needs
    /// ECAP.PDS).
    pub pd: bool,
    /// Bit 8, reserved.
    #[bits(1, access = RO)]
    rsvd8: u8,
    /// Type\[6:4\]: 0.
    #[bits(3)]
    _type_hi: u8,
    /// Bits 31:12, reserved.
    #[bits(20, access = RO)]
    rsvd12: u32,
    /// Status data written when SW=1.
    pub status_data: u32,
}

/// QW1 of an invalidation wait descriptor.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct InvWaitQw1 {
    /// Bits 65:64, reserved.
    #[bits(2, access = RO)]
    rsvd0: u8,
    /// Status address bits 63:2 (bits at or above HAW are ignored).
    #[bits(62)]
    pub status_addr: u64,
}

impl InvWaitQw1 {
    /// The byte address of the status write (before HAW truncation).
    pub const fn status_address(&self) -> u64 {
        self.status_addr().wrapping_mul(4)
    }

    /// This word with the status written to the DWORD-aligned byte address `addr`.
    pub const fn with_status_address(self, addr: u64) -> Self {
        self.with_status_addr(addr / 4)
    }
}

/// An invalidation wait descriptor (type 5h, 128 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvWait {
    /// QW0: IF, SW, FN, PD, status data.
    pub qw0: InvWaitQw0,
    /// QW1: status address.
    pub qw1: InvWaitQw1,
}

queue_words!(InvWait {
    qw0: InvWaitQw0,
    qw1: InvWaitQw1
});

impl InvWait {
    /// The descriptor type.
    pub const TYPE: u8 = 0x5;

    /// The first reserved-field violation in words of this type, if any; PD is reserved
    /// unless PDS=1.
    pub(super) fn violation(words: &[u64; 4], caps: &DescCaps) -> Option<&'static str> {
        let (q0, q1) = (
            InvWaitQw0::from_bits(words[0]),
            InvWaitQw1::from_bits(words[1]),
        );
        first(&[
            rule(q0.rsvd8() != 0, "inv_wait_dsc bit 8"),
            rule(q0.rsvd12() != 0, "inv_wait_dsc bits 31:12"),
            rule(q1.rsvd0() != 0, "inv_wait_dsc bits 65:64"),
            rule(q0.pd() && !caps.pds, "inv_wait_dsc PD without PDS"),
        ])
    }
}

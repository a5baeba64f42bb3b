//! The invalidation descriptor types that exist only in 256-bit queues (6h–Ah): PASID-based
//! IOTLB, PASID cache, PASID-based device-TLB, page group response, and HPT.

use bitfield_struct::bitfield;

use super::DescCaps;
use super::inval::{IotlbInvQw1, PIotlbGranularity, PcGranularity, ResponseCode, first, rule};

// ---------------------------------------------------------------------------------------------
// 6h: PASID-based IOTLB invalidation.

/// QW0 of a PASID-based IOTLB invalidate descriptor (p_iotlb_inv_dsc, type 6h).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PIotlbInvQw0 {
    /// Type\[3:0\]: 6h.
    #[bits(4, default = 6, access = RO)]
    pub desc_type: u8,
    /// G: granularity.
    #[bits(2)]
    pub g: PIotlbGranularity,
    /// Bits 8:6, reserved.
    #[bits(3, access = RO)]
    rsvd6: u8,
    /// Type\[6:4\]: 0.
    #[bits(3)]
    _type_hi: u8,
    /// Bits 15:12, reserved.
    #[bits(4, access = RO)]
    rsvd12: u8,
    /// DID: domain.
    pub did: u16,
    /// PASID.
    #[bits(20)]
    pub pasid: u32,
    /// Bits 63:52, reserved.
    #[bits(12, access = RO)]
    rsvd52: u16,
}

/// A PASID-based IOTLB invalidate descriptor (type 6h, 256 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PIotlbInv {
    /// QW0: G, DID, PASID.
    pub qw0: PIotlbInvQw0,
    /// QW1: AM (any value), IH, ADDR (page-selective only).
    pub qw1: IotlbInvQw1,
}

queue_words!(PIotlbInv {
    qw0: PIotlbInvQw0,
    qw1: IotlbInvQw1
});

impl PIotlbInv {
    /// The descriptor type.
    pub const TYPE: u8 = 0x6;

    /// The first reserved-field violation in words of this type, if any.
    pub(super) fn violation(words: &[u64; 4], _caps: &DescCaps) -> Option<&'static str> {
        let (q0, q1) = (
            PIotlbInvQw0::from_bits(words[0]),
            IotlbInvQw1::from_bits(words[1]),
        );
        first(&[
            rule(q0.rsvd6() != 0, "p_iotlb_inv_dsc bits 8:6"),
            rule(q0.rsvd12() != 0, "p_iotlb_inv_dsc bits 15:12"),
            rule(q0.rsvd52() != 0, "p_iotlb_inv_dsc bits 63:52"),
            rule(q1.reserved() != 0, "p_iotlb_inv_dsc bits 75:71"),
            rule(
                matches!(q0.g(), PIotlbGranularity::Reserved(_)),
                "p_iotlb_inv_dsc G=00b/01b",
            ),
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// 7h: PASID-cache invalidation.

/// QW0 of a PASID-cache invalidate descriptor (pc_inv_dsc, type 7h).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PcInvQw0 {
    /// Type\[3:0\]: 7h.
    #[bits(4, default = 7, access = RO)]
    pub desc_type: u8,
    /// G: granularity.
    #[bits(2)]
    pub g: PcGranularity,
    /// Bits 8:6, reserved.
    #[bits(3, access = RO)]
    rsvd6: u8,
    /// Type\[6:4\]: 0.
    #[bits(3)]
    _type_hi: u8,
    /// Bits 15:12, reserved.
    #[bits(4, access = RO)]
    rsvd12: u8,
    /// DID: domain.
    pub did: u16,
    /// PASID (PASID-selective).
    #[bits(20)]
    pub pasid: u32,
    /// Bits 63:52, reserved.
    #[bits(12, access = RO)]
    rsvd52: u16,
}

/// A PASID-cache invalidate descriptor (type 7h, 256 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PcInv {
    /// QW0: G, DID, PASID.
    pub qw0: PcInvQw0,
}

queue_words!(PcInv { qw0: PcInvQw0 });

impl PcInv {
    /// The descriptor type.
    pub const TYPE: u8 = 0x7;

    /// The first reserved-field violation in words of this type, if any.
    pub(super) fn violation(words: &[u64; 4], _caps: &DescCaps) -> Option<&'static str> {
        let q0 = PcInvQw0::from_bits(words[0]);
        first(&[
            rule(q0.rsvd6() != 0, "pc_inv_dsc bits 8:6"),
            rule(q0.rsvd12() != 0, "pc_inv_dsc bits 15:12"),
            rule(q0.rsvd52() != 0, "pc_inv_dsc bits 63:52"),
            rule(words[1] != 0, "pc_inv_dsc bits 127:64"),
            rule(q0.g() == PcGranularity::Reserved, "pc_inv_dsc G=10b"),
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// 8h: PASID-based device-TLB invalidation.

/// QW0 of a PASID-based device-TLB invalidate descriptor (p_dev_tlb_inv_dsc, type 8h).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PDevTlbInvQw0 {
    /// Type\[3:0\]: 8h.
    #[bits(4, default = 8, access = RO)]
    pub desc_type: u8,
    /// MIP: maximum invalidations pending, the device's invalidate queue depth (0 = 32); a
    /// hint that only a unit with DIT=1 uses, a field whatever DIT is.
    #[bits(5)]
    pub mip: u8,
    /// Type\[6:4\]: 0.
    #[bits(3)]
    _type_hi: u8,
    /// PFSID\[3:0\]: physical-function source ID, low bits (a hint; reserved unless DIT=1).
    #[bits(4)]
    pub pfsid_lo: u8,
    /// SID: source ID of the device.
    pub sid: u16,
    /// PASID.
    #[bits(20)]
    pub pasid: u32,
    /// PFSID\[15:4\]: physical-function source ID, high bits (a hint; reserved unless DIT=1).
    #[bits(12)]
    pub pfsid_hi: u16,
}

impl PDevTlbInvQw0 {
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

/// QW1 of a PASID-based device-TLB invalidate descriptor.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PDevTlbInvQw1 {
    /// GI: global invalidate, every PASID of the device.
    pub gi: bool,
    /// Bits 74:65, reserved.
    #[bits(10, access = RO)]
    rsvd1: u16,
    /// S: size; 0 = one 4 KiB page, 1 = the lowest 0 bit of ADDR gives the size.
    pub s: bool,
    /// ADDR: address bits 63:12.
    #[bits(52)]
    pub addr: u64,
}

impl PDevTlbInvQw1 {
    /// The range as (first 4 KiB page number, number of pages); see [`super::dev_tlb_range`].
    pub const fn range(&self) -> (u64, u64) {
        super::dev_tlb_range(self.addr(), self.s())
    }
}

/// A PASID-based device-TLB invalidate descriptor (type 8h, 256 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PDevTlbInv {
    /// QW0: MIP, PFSID, SID, PASID.
    pub qw0: PDevTlbInvQw0,
    /// QW1: GI, S, ADDR.
    pub qw1: PDevTlbInvQw1,
}

queue_words!(PDevTlbInv {
    qw0: PDevTlbInvQw0,
    qw1: PDevTlbInvQw1
});

impl PDevTlbInv {
    /// The descriptor type.
    pub const TYPE: u8 = 0x8;

    /// The first reserved-field violation in words of this type, if any; PFSID is reserved
    /// unless DIT=1, MIP never is.
    pub(super) fn violation(words: &[u64; 4], caps: &DescCaps) -> Option<&'static str> {
        let (q0, q1) = (
            PDevTlbInvQw0::from_bits(words[0]),
            PDevTlbInvQw1::from_bits(words[1]),
        );
        first(&[
            rule(q1.rsvd1() != 0, "p_dev_tlb_inv_dsc bits 74:65"),
            rule(
                !caps.dit && q0.pfsid() != 0,
                "p_dev_tlb_inv_dsc PFSID without DIT",
            ),
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// 9h: page group response.

/// QW0 of a page group response descriptor (page_grp_resp_dsc, type 9h).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PageGroupRespQw0 {
    /// Type\[3:0\]: 9h.
    #[bits(4, default = 9, access = RO)]
    pub desc_type: u8,
    /// PP: PASID present, as in the request.
    pub pp: bool,
    /// Bits 8:5, reserved (bit 5 was PDP, private data present, in older revisions).
    #[bits(4, access = RO)]
    rsvd5: u8,
    /// Type\[6:4\]: 0.
    #[bits(3)]
    _type_hi: u8,
    /// RC: response code.
    #[bits(4)]
    pub rc: ResponseCode,
    /// RID: requester ID of the device.
    pub rid: u16,
    /// PASID, as in the request.
    #[bits(20)]
    pub pasid: u32,
    /// Bits 63:52, reserved.
    #[bits(12, access = RO)]
    rsvd52: u16,
}

/// QW1 of a page group response descriptor.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct PageGroupRespQw1 {
    /// Bits 65:64, reserved.
    #[bits(2, access = RO)]
    rsvd0: u8,
    /// Bit 66, ignored (Linux writes LPIG here).
    #[bits(1)]
    _ign_lpig: u8,
    /// PRGI: page request group index, as in the request.
    #[bits(9)]
    pub prgi: u16,
    /// Bits 127:76, reserved.
    #[bits(52, access = RO)]
    rsvd12: u64,
}

/// A page group response descriptor (type 9h, 256 bits; needs ECAP.PRS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageGroupResp {
    /// QW0: PP, RC, RID, PASID.
    pub qw0: PageGroupRespQw0,
    /// QW1: PRGI.
    pub qw1: PageGroupRespQw1,
}

queue_words!(PageGroupResp {
    qw0: PageGroupRespQw0,
    qw1: PageGroupRespQw1
});

impl PageGroupResp {
    /// The descriptor type.
    pub const TYPE: u8 = 0x9;

    /// The response to the page request group that `req` (its last request, LPIG=1) closes.
    pub const fn for_request(req: &super::PageRequest, rc: ResponseCode) -> PageGroupResp {
        PageGroupResp {
            qw0: PageGroupRespQw0::new()
                .with_pp(req.qw0.pp())
                .with_rc(rc)
                .with_rid(req.qw0.rid())
                .with_pasid(req.qw0.pasid()),
            qw1: PageGroupRespQw1::new().with_prgi(req.qw1.prgi()),
        }
    }

    /// The first reserved-field violation in words of this type, if any. Bit 66 is ignored.
    pub(super) fn violation(words: &[u64; 4], _caps: &DescCaps) -> Option<&'static str> {
        let (q0, q1) = (
            PageGroupRespQw0::from_bits(words[0]),
            PageGroupRespQw1::from_bits(words[1]),
        );
        first(&[
            rule(q0.rsvd5() != 0, "page_grp_resp_dsc bits 8:5"),
            rule(q0.rsvd52() != 0, "page_grp_resp_dsc bits 63:52"),
            rule(q1.rsvd0() != 0, "page_grp_resp_dsc bits 65:64"),
            rule(q1.rsvd12() != 0, "page_grp_resp_dsc bits 127:76"),
            rule(
                matches!(q0.rc(), ResponseCode::Reserved(_)),
                "page_grp_resp_dsc RC 2h-Eh",
            ),
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// Ah: host permission table invalidation.

/// QW0 of a host-permission-table invalidate descriptor (hpt_inv_dsc, type Ah).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct HptInvQw0 {
    /// Type\[3:0\]: Ah.
    #[bits(4, default = 0xA, access = RO)]
    pub desc_type: u8,
    /// G: granularity.
    #[bits(2)]
    pub g: u8,
    /// Bits 8:6, reserved.
    #[bits(3, access = RO)]
    rsvd6: u8,
    /// Type\[6:4\]: 0.
    #[bits(3)]
    _type_hi: u8,
    /// Bits 15:12, reserved.
    #[bits(4, access = RO)]
    rsvd12: u8,
    /// HPTDID: host permission table domain.
    pub hptdid: u16,
    /// Bits 63:32, reserved.
    #[bits(32, access = RO)]
    rsvd32: u32,
}

/// QW1 of a host-permission-table invalidate descriptor.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct HptInvQw1 {
    /// AM: address mask, the range is 2^AM naturally aligned 4 KiB pages.
    #[bits(6)]
    pub am: u8,
    /// IH: invalidation hint.
    #[bits(2)]
    pub ih: u8,
    /// Bits 75:72, reserved.
    #[bits(4, access = RO)]
    rsvd8: u8,
    /// ADDR: address bits 63:12.
    #[bits(52)]
    pub addr: u64,
}

/// A host-permission-table invalidate descriptor (type Ah, 256 bits; needs ECAP.HPTS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HptInv {
    /// QW0: G, HPTDID.
    pub qw0: HptInvQw0,
    /// QW1: AM, IH, ADDR.
    pub qw1: HptInvQw1,
}

queue_words!(HptInv {
    qw0: HptInvQw0,
    qw1: HptInvQw1
});

impl HptInv {
    /// The descriptor type.
    pub const TYPE: u8 = 0xA;

    /// The first reserved-field violation in words of this type, if any.
    pub(super) fn violation(words: &[u64; 4], _caps: &DescCaps) -> Option<&'static str> {
        let (q0, q1) = (
            HptInvQw0::from_bits(words[0]),
            HptInvQw1::from_bits(words[1]),
        );
        first(&[
            rule(q0.rsvd6() != 0, "hpt_inv_dsc bits 8:6"),
            rule(q0.rsvd12() != 0, "hpt_inv_dsc bits 15:12"),
            rule(q0.rsvd32() != 0, "hpt_inv_dsc bits 63:32"),
            rule(q1.rsvd8() != 0, "hpt_inv_dsc bits 75:72"),
        ])
    }
}

//! Invalidation descriptors (the invalidation queue, A.10) and page request descriptors (the
//! page request queue, A.11).
//!
//! | Type | Descriptor | Struct | Width | Valid in |
//! |---|---|---|---|---|
//! | 1h | cc_inv_dsc | [`CcInv`] | 128 | legacy, scalable |
//! | 2h | iotlb_inv_dsc | [`IotlbInv`] | 128 | legacy, scalable |
//! | 3h | dev_tlb_inv_dsc | [`DevTlbInv`] | 128 | legacy, scalable |
//! | 4h | iec_inv_dsc | [`IecInv`] | 128 | legacy, scalable |
//! | 5h | inv_wait_dsc | [`InvWait`] | 128 | legacy, scalable |
//! | 6h | p_iotlb_inv_dsc | [`PIotlbInv`] | 256 | scalable |
//! | 7h | pc_inv_dsc | [`PcInv`] | 256 | scalable |
//! | 8h | p_dev_tlb_inv_dsc | [`PDevTlbInv`] | 256 | scalable |
//! | 9h | page_grp_resp_dsc | [`PageGroupResp`] | 256 | scalable, with ECAP.PRS |
//! | Ah | hpt_inv_dsc | [`HptInv`] | 256 | scalable, with ECAP.HPTS |
//!
//! The type is 7 bits: Type\[3:0\] in bits 3:0 and Type\[6:4\] in bits 11:9 (0 for every type
//! above). A queue of 256-bit descriptors carries the 128-bit ones padded with zeros; a
//! scalable-mode (or abort-DMA-mode) queue must be 256 bits wide.
//!
//! [`Descriptor::decode`] is the hardware side: it turns the words it fetched into a
//! descriptor or into the [`QueueError`] whose IQEI the unit records. [`Descriptor::encode`] is
//! the driver side. Every field not named in a descriptor's words is reserved (RsvdZ).

/// Gives a descriptor made of the quadwords named (QW0 first) its conversions from and to the
/// four words of a queue entry, bits 63:0 first.
macro_rules! queue_words {
    ($desc:ident { qw0: $q0:ty $(, qw1: $q1:ty)? }) => {
        impl $desc {
            /// The descriptor held in `words`; words beyond its own are dropped.
            pub const fn from_words(words: [u64; 4]) -> $desc {
                $desc {
                    qw0: <$q0>::from_bits(words[0]),
                    $(qw1: <$q1>::from_bits(words[1]),)?
                }
            }

            /// The descriptor as four words, padded with zeros.
            pub const fn to_words(&self) -> [u64; 4] {
                [self.qw0.into_bits(), queue_words!(@qw1 self.qw1 $(, $q1)?), 0, 0]
            }
        }
    };
    (@qw1 $field:expr, $q1:ty) => {
        <$q1>::into_bits($field)
    };
    (@qw1 $field:expr) => {
        0
    };
}

mod inval;
mod inval_pasid;
mod prq;

pub use inval::{
    CcGranularity, CcInv, CcInvQw0, DevTlbInv, DevTlbInvQw0, DevTlbInvQw1, IecGranularity, IecInv,
    IecInvQw0, InvWait, InvWaitQw0, InvWaitQw1, IotlbGranularity, IotlbInv, IotlbInvQw0,
    IotlbInvQw1, PIotlbGranularity, PcGranularity, ResponseCode,
};
pub use inval_pasid::{
    HptInv, HptInvQw0, HptInvQw1, PDevTlbInv, PDevTlbInvQw0, PDevTlbInvQw1, PIotlbInv,
    PIotlbInvQw0, PageGroupResp, PageGroupRespQw0, PageGroupRespQw1, PcInv, PcInvQw0,
};
pub use prq::{PageRequest, PageRequestError, PageRequestQw0, PageRequestQw1};

use bitfield_struct::bitfield;
use softiommu_mem::MemError;
use thiserror::Error;

/// How the invalidation queue is set up: the translation mode and the descriptor width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueMode {
    /// The root table is in scalable mode (RTADDR.TTM 01b) or abort-DMA mode (11b); otherwise
    /// legacy mode (00b).
    pub scalable: bool,
    /// IQA.DW=1: 256-bit descriptors; otherwise 128-bit.
    pub dw256: bool,
}

/// The capabilities that decide which descriptor types and fields are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DescCaps {
    /// ECAP.DIT: device-TLB invalidation throttling; makes PFSID a field, not reserved (MIP
    /// is a field either way).
    pub dit: bool,
    /// ECAP.PDS: page-request drain; makes inv_wait_dsc.PD a field, not reserved.
    pub pds: bool,
    /// ECAP.PRS: page requests; makes type 9h valid.
    pub prs: bool,
    /// ECAP.HPTS: host permission tables; makes type Ah valid.
    pub hpts: bool,
    /// CAP.MAMV: the largest AM a page-selective iotlb_inv_dsc may carry.
    pub mamv: u8,
}

/// An invalidation queue error, as IQERCD.IQEI reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum QueueError {
    /// IQEI 1: the tail is beyond the queue.
    #[error("invalidation queue tail is invalid")]
    InvalidTail,
    /// IQEI 2: the descriptor could not be fetched.
    #[error("invalidation descriptor fetch failed: {0}")]
    Fetch(MemError),
    /// IQEI 3: the type is not valid for the queue's mode (or the unit's capabilities).
    #[error("invalidation descriptor type {ty:#x} is not valid in this mode")]
    InvalidType {
        /// The 7-bit type found.
        ty: u8,
    },
    /// IQEI 4: a reserved field is not zero, or a field holds a reserved value.
    #[error("invalidation descriptor reserved field violated: {field}")]
    ReservedField {
        /// Which field (descriptor name and bits).
        field: &'static str,
    },
    /// IQEI 5: the descriptor width does not suit the mode (128-bit descriptors in scalable
    /// or abort-DMA mode, or 256-bit ones without SMTS or ADMS).
    #[error("invalidation queue descriptor width does not suit the translation mode")]
    BadWidth,
    /// IQEI 6: the tail is not 256-bit aligned in a 256-bit queue.
    #[error("invalidation queue tail is not aligned to 256 bits")]
    UnalignedTail,
    /// IQEI 7: the translation table mode is invalid.
    #[error("invalid translation table mode")]
    InvalidTtm,
}

impl QueueError {
    /// The IQEI value the unit records in IQERCD.
    pub const fn iqei(&self) -> u8 {
        match self {
            QueueError::InvalidTail => 1,
            QueueError::Fetch(_) => 2,
            QueueError::InvalidType { .. } => 3,
            QueueError::ReservedField { .. } => 4,
            QueueError::BadWidth => 5,
            QueueError::UnalignedTail => 6,
            QueueError::InvalidTtm => 7,
        }
    }
}

/// The bits every descriptor shares: its type.
#[bitfield(u64)]
struct Header {
    /// Type\[3:0\].
    #[bits(4)]
    type_lo: u8,
    #[bits(5)]
    _fields: u8,
    /// Type\[6:4\].
    #[bits(3)]
    type_hi: u8,
    #[bits(52)]
    _more_fields: u64,
}

/// An invalidation descriptor of any type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descriptor {
    /// 1h: context-cache invalidation.
    ContextCache(CcInv),
    /// 2h: IOTLB invalidation.
    Iotlb(IotlbInv),
    /// 3h: device-TLB invalidation.
    DevTlb(DevTlbInv),
    /// 4h: interrupt-entry-cache invalidation.
    InterruptEntryCache(IecInv),
    /// 5h: invalidation wait.
    Wait(InvWait),
    /// 6h: PASID-based IOTLB invalidation.
    PasidIotlb(PIotlbInv),
    /// 7h: PASID-cache invalidation.
    PasidCache(PcInv),
    /// 8h: PASID-based device-TLB invalidation.
    PasidDevTlb(PDevTlbInv),
    /// 9h: page group response.
    PageGroupResponse(PageGroupResp),
    /// Ah: host-permission-table invalidation.
    Hpt(HptInv),
}

impl Descriptor {
    /// The descriptor fetched as `words` (bits 63:0 first), checked as the hardware checks it:
    ///
    /// 1. [`QueueError::BadWidth`] for a 128-bit queue in scalable mode;
    /// 2. [`QueueError::InvalidType`] for a type outside 1h–Ah, Type\[6:4\] ≠ 0, types 6h–Ah in
    ///    legacy mode, 9h without PRS, Ah without HPTS;
    /// 3. [`QueueError::ReservedField`] for a set reserved bit (bits 255:128 of a 256-bit
    ///    queue entry included), a reserved field value (a G or RC encoding the specification
    ///    reserves, a page-selective IOTLB AM above MAMV), PFSID without DIT, PD without PDS.
    ///    MIP (the device's invalidate queue depth) is accepted whatever DIT is.
    ///
    /// In a 128-bit queue only `words[0]` and `words[1]` are the descriptor; the others are
    /// ignored. Bit 66 of a page group response (where Linux writes LPIG) is ignored.
    pub fn decode(
        words: [u64; 4],
        mode: QueueMode,
        caps: &DescCaps,
    ) -> Result<Descriptor, QueueError> {
        if mode.scalable && !mode.dw256 {
            return Err(QueueError::BadWidth);
        }
        let header = Header::from_bits(words[0]);
        let ty = header.type_lo() | header.type_hi() << 4;
        let valid = match ty {
            0x1..=0x5 => true,
            0x6..=0x8 => mode.scalable,
            0x9 => mode.scalable && caps.prs,
            0xA => mode.scalable && caps.hpts,
            _ => false,
        };
        if !valid {
            return Err(QueueError::InvalidType { ty });
        }
        if mode.dw256 && (words[2] != 0 || words[3] != 0) {
            return Err(QueueError::ReservedField {
                field: "bits 255:128",
            });
        }
        let words = if mode.dw256 {
            words
        } else {
            [words[0], words[1], 0, 0]
        };
        // The type's reserved-field violation, and the descriptor the words hold.
        macro_rules! checked {
            ($desc:ident, $variant:ident) => {
                (
                    $desc::violation(&words, caps),
                    Descriptor::$variant($desc::from_words(words)),
                )
            };
        }
        let (violation, desc) = match ty {
            CcInv::TYPE => checked!(CcInv, ContextCache),
            IotlbInv::TYPE => checked!(IotlbInv, Iotlb),
            DevTlbInv::TYPE => checked!(DevTlbInv, DevTlb),
            IecInv::TYPE => checked!(IecInv, InterruptEntryCache),
            InvWait::TYPE => checked!(InvWait, Wait),
            PIotlbInv::TYPE => checked!(PIotlbInv, PasidIotlb),
            PcInv::TYPE => checked!(PcInv, PasidCache),
            PDevTlbInv::TYPE => checked!(PDevTlbInv, PasidDevTlb),
            PageGroupResp::TYPE => checked!(PageGroupResp, PageGroupResponse),
            _ => checked!(HptInv, Hpt),
        };
        match violation {
            Some(field) => Err(QueueError::ReservedField { field }),
            None => Ok(desc),
        }
    }

    /// The descriptor as four words, bits 63:0 first, zero-padded; a 128-bit queue takes the
    /// first two.
    pub const fn encode(&self) -> [u64; 4] {
        match self {
            Descriptor::ContextCache(d) => d.to_words(),
            Descriptor::Iotlb(d) => d.to_words(),
            Descriptor::DevTlb(d) => d.to_words(),
            Descriptor::InterruptEntryCache(d) => d.to_words(),
            Descriptor::Wait(d) => d.to_words(),
            Descriptor::PasidIotlb(d) => d.to_words(),
            Descriptor::PasidCache(d) => d.to_words(),
            Descriptor::PasidDevTlb(d) => d.to_words(),
            Descriptor::PageGroupResponse(d) => d.to_words(),
            Descriptor::Hpt(d) => d.to_words(),
        }
    }

    /// The descriptor type (1h–Ah).
    pub const fn desc_type(&self) -> u8 {
        match self {
            Descriptor::ContextCache(_) => CcInv::TYPE,
            Descriptor::Iotlb(_) => IotlbInv::TYPE,
            Descriptor::DevTlb(_) => DevTlbInv::TYPE,
            Descriptor::InterruptEntryCache(_) => IecInv::TYPE,
            Descriptor::Wait(_) => InvWait::TYPE,
            Descriptor::PasidIotlb(_) => PIotlbInv::TYPE,
            Descriptor::PasidCache(_) => PcInv::TYPE,
            Descriptor::PasidDevTlb(_) => PDevTlbInv::TYPE,
            Descriptor::PageGroupResponse(_) => PageGroupResp::TYPE,
            Descriptor::Hpt(_) => HptInv::TYPE,
        }
    }
}

/// The range a device-TLB invalidation covers, from its ADDR field (address bits 63:12, a
/// 4 KiB page number) and S bit, as (first page number, number of pages).
///
/// With S=0 the range is the one page ADDR names. With S=1 the lowest 0 bit of ADDR, at
/// position n, makes the range 2^(n+1) pages, naturally aligned (ADDR's bits below n+1 are
/// dropped); ADDR=7_FFFF_FFFF_FFFFh with S=1 is the whole 64-bit space (2^52 pages). An ADDR of
/// all ones, which has no 0 bit, is taken as the whole space too.
pub const fn dev_tlb_range(addr: u64, s: bool) -> (u64, u64) {
    /// Width of the ADDR field.
    const ADDR_BITS: u32 = 52;
    let addr = addr & ((1 << ADDR_BITS) - 1);
    if !s {
        return (addr, 1);
    }
    let n = addr.trailing_ones();
    if n + 1 >= ADDR_BITS {
        return (0, 1 << ADDR_BITS);
    }
    let pages = 1u64 << (n + 1);
    (addr & !(pages - 1), pages)
}

#[cfg(test)]
mod tests;

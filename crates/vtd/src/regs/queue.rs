//! Invalidation queue, interrupt-remapping table, page request queue and virtual command
//! registers.

use bitfield_struct::bitfield;

/// IQH_REG (080h, read-only): invalidation queue head.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Iqh {
    #[bits(4)]
    __: u8,
    /// QH: the next descriptor to fetch, in 128-bit units (bit 4 is 0 with 256-bit
    /// descriptors).
    #[bits(15)]
    pub qh: u16,
    #[bits(45)]
    __: u64,
}

/// IQT_REG (088h): invalidation queue tail.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Iqt {
    #[bits(4)]
    __: u8,
    /// QT: the descriptor software writes next, in 128-bit units (bit 4 must be 0 with
    /// 256-bit descriptors).
    #[bits(15)]
    pub qt: u16,
    #[bits(45)]
    __: u64,
}

/// IQA_REG (090h): invalidation queue base, size and descriptor width.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Iqa {
    /// QS: the queue is 2^QS 4 KiB pages.
    #[bits(3)]
    pub qs: u8,
    #[bits(8)]
    __: u8,
    /// DW: descriptor width, 0 = 128-bit, 1 = 256-bit.
    pub dw: bool,
    /// IQA: queue base, bits 63:12 (4 KiB aligned).
    #[bits(52)]
    pub iqa: u64,
}

impl Iqa {
    /// The queue's physical base address.
    pub const fn base(&self) -> u64 {
        self.iqa() << 12
    }

    /// The queue's size in bytes.
    pub const fn size_bytes(&self) -> u64 {
        4096 << self.qs()
    }

    /// The size of one descriptor in bytes (16 or 32).
    pub const fn descriptor_bytes(&self) -> u64 {
        if self.dw() { 32 } else { 16 }
    }
}

/// ICS_REG (09Ch): invalidation completion status.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct Ics {
    /// IWC: an invalidation wait descriptor with IF=1 completed (RW1CS).
    pub iwc: bool,
    #[bits(31)]
    __: u32,
}

/// IQERCD_REG (0B0h, read-only): invalidation queue error record.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Iqercd {
    /// IQEI: why FSTS.IQE was set (see [`Iqei`]).
    #[bits(4)]
    pub iqei: u8,
    #[bits(28)]
    __: u32,
    /// ITESID: requester ID of the device whose invalidation timed out (valid with ITE).
    pub itesid: u16,
    /// ICESID: requester ID of the device that sent an invalid completion (valid with ICE).
    pub icesid: u16,
}

/// Invalidation queue error information, IQERCD.IQEI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Iqei {
    /// 0: no information.
    NoInfo,
    /// 1: the tail points beyond the queue.
    InvalidTail,
    /// 2: a descriptor could not be fetched.
    FetchError,
    /// 3: a descriptor of a type invalid in this mode and width.
    InvalidType,
    /// 4: a descriptor with a reserved field set.
    ReservedField,
    /// 5: a descriptor width the translation table mode does not allow.
    BadWidth,
    /// 6: the tail is not 256-bit aligned in a 256-bit queue.
    TailMisaligned,
    /// 7: the translation table mode is invalid.
    InvalidTtm,
}

impl Iqei {
    /// The 4-bit code.
    pub const fn code(self) -> u8 {
        match self {
            Iqei::NoInfo => 0,
            Iqei::InvalidTail => 1,
            Iqei::FetchError => 2,
            Iqei::InvalidType => 3,
            Iqei::ReservedField => 4,
            Iqei::BadWidth => 5,
            Iqei::TailMisaligned => 6,
            Iqei::InvalidTtm => 7,
        }
    }

    /// The error a code names; `None` for the reserved codes 8 to 15.
    pub const fn from_code(code: u8) -> Option<Iqei> {
        Some(match code {
            0 => Iqei::NoInfo,
            1 => Iqei::InvalidTail,
            2 => Iqei::FetchError,
            3 => Iqei::InvalidType,
            4 => Iqei::ReservedField,
            5 => Iqei::BadWidth,
            6 => Iqei::TailMisaligned,
            7 => Iqei::InvalidTtm,
            _ => return None,
        })
    }
}

/// IRTA_REG (0B8h): interrupt-remapping table address.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Irta {
    /// S: the table has 2^(S+1) entries.
    #[bits(4)]
    pub s: u8,
    #[bits(7)]
    __: u8,
    /// EIME: x2APIC (32-bit destination) mode.
    pub eime: bool,
    /// IRTA: table base, bits 63:12 (4 KiB aligned).
    #[bits(52)]
    pub irta: u64,
}

/// PQH_REG (0C0h): page request queue head.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Pqh {
    #[bits(5)]
    __: u8,
    /// PQH: the next descriptor software will consume, in 32-byte units.
    #[bits(14)]
    pub pqh: u16,
    #[bits(45)]
    __: u64,
}

/// PQT_REG (0C8h): page request queue tail.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Pqt {
    #[bits(5)]
    __: u8,
    /// PQT: the descriptor the hardware writes next, in 32-byte units.
    #[bits(14)]
    pub pqt: u16,
    #[bits(45)]
    __: u64,
}

/// PQA_REG (0D0h): page request queue base and size.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Pqa {
    /// PQS: the queue is 2^PQS 4 KiB pages.
    #[bits(3)]
    pub pqs: u8,
    #[bits(9)]
    __: u16,
    /// PQA: queue base, bits 63:12 (4 KiB aligned).
    #[bits(52)]
    pub pqa: u64,
}

impl Pqa {
    /// The queue's physical base address.
    pub const fn base(&self) -> u64 {
        self.pqa() << 12
    }

    /// The queue's size in bytes.
    pub const fn size_bytes(&self) -> u64 {
        4096 << self.pqs()
    }
}

/// PRS_REG (0DCh): page request status.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct Prs {
    /// PPR: a page request is pending in the queue (RW1CS).
    pub ppr: bool,
    /// PRO: the queue overflowed and requests were dropped (RW1CS).
    pub pro: bool,
    #[bits(30)]
    __: u32,
}

/// VCMD_REG (E00h): a virtual command.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Vcmd {
    /// CMD: the command (see the `VCMD_*` constants).
    pub cmd: u8,
    #[bits(8)]
    __: u8,
    /// OA: operand A (for Free PASID, the PASID).
    #[bits(48)]
    pub oa: u64,
}

/// VCRSP_REG (E10h, read-only): the response to the last virtual command.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Vcrsp {
    /// IP: the command is in progress.
    pub ip: bool,
    /// SC: status code (see the `VCMD_SC_*` constants).
    #[bits(7)]
    pub sc: u8,
    #[bits(8)]
    __: u8,
    /// RSLT: the result (for Allocate PASID, the PASID).
    #[bits(48)]
    pub rslt: u64,
}

/// VCCAP_REG (E30h, read-only): the virtual commands supported.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Vccap {
    /// NS: the null command.
    pub ns: bool,
    /// PAS: Allocate PASID.
    pub pas: bool,
    /// FPS: Free PASID.
    pub fps: bool,
    #[bits(61)]
    __: u64,
}

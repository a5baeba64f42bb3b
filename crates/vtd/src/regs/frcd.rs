//! Fault recording registers (FRCD_REG) and the faults they record.

use bitfield_struct::bitfield;

use super::layout::fit;

/// The request type recorded in a fault record: FRCD (T1, T2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// (0, 0): a write.
    Write,
    /// (0, 1): a page request.
    PageRequest,
    /// (1, 0): a read.
    Read,
    /// (1, 1): an atomic operation.
    AtomicOp,
}

impl RequestKind {
    /// The (T1, T2) bits.
    pub const fn t1_t2(self) -> (bool, bool) {
        match self {
            RequestKind::Write => (false, false),
            RequestKind::PageRequest => (false, true),
            RequestKind::Read => (true, false),
            RequestKind::AtomicOp => (true, true),
        }
    }

    /// The kind (T1, T2) names.
    pub const fn from_t1_t2(t1: bool, t2: bool) -> RequestKind {
        match (t1, t2) {
            (false, false) => RequestKind::Write,
            (false, true) => RequestKind::PageRequest,
            (true, false) => RequestKind::Read,
            (true, true) => RequestKind::AtomicOp,
        }
    }
}

/// The address type of a faulting request, FRCD.AT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressType {
    /// 00: an untranslated request.
    Untranslated,
    /// 01: a translation request (ATS).
    TranslationRequest,
    /// 10: a translated request (ATS).
    Translated,
    /// 11: reserved.
    Reserved,
}

impl AddressType {
    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            AddressType::Untranslated => 0,
            AddressType::TranslationRequest => 1,
            AddressType::Translated => 2,
            AddressType::Reserved => 3,
        }
    }

    /// The type a 2-bit encoding names (bits above bit 1 are ignored).
    pub const fn from_bits(v: u8) -> AddressType {
        match v & 3 {
            0 => AddressType::Untranslated,
            1 => AddressType::TranslationRequest,
            2 => AddressType::Translated,
            _ => AddressType::Reserved,
        }
    }
}

/// FRCD_REG\[n\] (128 bits at CAP.FRO×16 + 16·n): one primary fault record.
#[bitfield(u128)]
#[derive(PartialEq, Eq)]
pub struct Frcd {
    #[bits(12)]
    __: u16,
    /// FI: faulting page address, bits 63:12 (for interrupt-remapping faults, 63:48 hold
    /// the interrupt index).
    #[bits(52)]
    pub fi: u64,
    /// SID: requester ID of the faulting request.
    pub sid: u16,
    #[bits(12)]
    __: u16,
    /// T2: request type bit 2 (see [`RequestKind`]).
    pub t2: bool,
    /// PRIV: the request was privileged (supervisor).
    pub privileged: bool,
    /// EXE: execute permission was requested.
    pub exe: bool,
    /// PP: the request carried a PASID.
    pub pp: bool,
    /// FR: fault reason.
    pub fr: u8,
    /// PV: PASID value (valid when PP=1).
    #[bits(20)]
    pub pv: u32,
    /// AT: address type.
    #[bits(2)]
    pub at: AddressType,
    /// T1: request type bit 1 (see [`RequestKind`]).
    pub t1: bool,
    /// F: the record holds a fault (RW1CS).
    pub f: bool,
}

impl Frcd {
    /// Bits 63:0, the register at offset +0.
    pub const fn low(&self) -> u64 {
        self.0 as u64
    }

    /// Bits 127:64, the register at offset +8.
    pub const fn high(&self) -> u64 {
        (self.0 >> 64) as u64
    }

    /// The request type from T1 and T2.
    pub const fn kind(&self) -> RequestKind {
        RequestKind::from_t1_t2(self.t1(), self.t2())
    }
}

/// What a fault record reports about one faulting request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultRecord {
    /// Requester ID.
    pub sid: u16,
    /// Faulting address (bits 11:0 are not recorded); for interrupt-remapping faults, the
    /// interrupt index in bits 63:48.
    pub addr: u64,
    /// Fault reason (FR).
    pub reason: u8,
    /// Request type.
    pub kind: RequestKind,
    /// Address type.
    pub at: AddressType,
    /// The request's PASID, if it carried one (20 bits are recorded).
    pub pasid: Option<u32>,
    /// The request was privileged (supervisor).
    pub privileged: bool,
    /// The request asked for execute permission.
    pub execute: bool,
}

impl FaultRecord {
    /// The FRCD contents for this fault, F clear.
    pub const fn frcd(&self) -> Frcd {
        let (t1, t2) = self.kind.t1_t2();
        let (pp, pv) = match self.pasid {
            Some(p) => (true, fit(p as u64, 20) as u32),
            None => (false, 0),
        };
        Frcd::new()
            .with_fi(self.addr >> 12)
            .with_sid(self.sid)
            .with_t2(t2)
            .with_privileged(self.privileged)
            .with_exe(self.execute)
            .with_pp(pp)
            .with_fr(self.reason)
            .with_pv(pv)
            .with_at(self.at)
            .with_t1(t1)
    }
}

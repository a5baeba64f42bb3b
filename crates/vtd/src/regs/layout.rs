//! Global command and status, root table, register-based invalidation, fault status and
//! event registers (rev 5.10, chapter 11).

use bitfield_struct::bitfield;

/// The bits of `v` that fit in an `n`-bit field.
pub(crate) const fn fit(v: u64, n: u32) -> u64 {
    if n >= 64 { v } else { v & ((1u64 << n) - 1) }
}

/// GCMD_REG (018h, write-only) and GSTS_REG (01Ch, read-only): the same bits at the same
/// positions. The field names are GCMD's; each doc gives GSTS's name for the bit.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct Gcmd {
    #[bits(23)]
    __: u32,
    /// CFI / CFIS: compatibility-format interrupts allowed (a level).
    pub cfi: bool,
    /// SIRTP / IRTPS: latch the interrupt-remapping table pointer (one-shot); in GSTS, the
    /// table pointer in use is the one IRTA held at the last SIRTP.
    pub sirtp: bool,
    /// IRE / IRES: interrupt remapping enabled (a level).
    pub ire: bool,
    /// QIE / QIES: queued invalidation enabled (a level).
    pub qie: bool,
    /// WBF / WBFS: flush the write buffer (one-shot; only with CAP.RWBF); in GSTS, a flush
    /// in progress.
    pub wbf: bool,
    /// Bits 29:28, reserved in rev 5.x (were SFL and EAFL).
    #[bits(2)]
    __: u8,
    /// SRTP / RTPS: latch the root table pointer (one-shot); in GSTS, the root table pointer
    /// in use is the one RTADDR held at the last SRTP.
    pub srtp: bool,
    /// TE / TES: DMA remapping enabled (a level).
    pub te: bool,
}

/// GSTS_REG: the same layout as GCMD_REG.
pub type Gsts = Gcmd;

/// Translation table mode, RTADDR_REG.TTM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ttm {
    /// 00: legacy mode (root and context entries, second-stage tables only).
    Legacy,
    /// 01: scalable mode (scalable-mode root and context entries, PASID tables).
    Scalable,
    /// 10: reserved (was extended-context mode).
    Reserved,
    /// 11: abort-DMA mode (every DMA request is blocked; needs ECAP.ADMS).
    AbortDma,
}

impl Ttm {
    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            Ttm::Legacy => 0,
            Ttm::Scalable => 1,
            Ttm::Reserved => 2,
            Ttm::AbortDma => 3,
        }
    }

    /// The mode a 2-bit encoding names (bits above bit 1 are ignored).
    pub const fn from_bits(v: u8) -> Ttm {
        match v & 3 {
            0 => Ttm::Legacy,
            1 => Ttm::Scalable,
            2 => Ttm::Reserved,
            _ => Ttm::AbortDma,
        }
    }
}

/// RTADDR_REG (020h): where the root table is and how to read it.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct RtAddr {
    #[bits(7)]
    __: u8,
    /// SSIRWE: second-stage entries grant rights by IR/IW (bits 61/62) instead of R/W
    /// (needs ECAP.SSIRWS).
    pub ssirwe: bool,
    #[bits(2)]
    __: u8,
    /// TTM: translation table mode.
    #[bits(2)]
    pub ttm: Ttm,
    /// RTA: root table address, bits 63:12 (4 KiB aligned).
    #[bits(52)]
    pub rta: u64,
}

impl RtAddr {
    /// The root table's physical address.
    pub const fn address(&self) -> u64 {
        self.rta() << 12
    }
}

/// CCMD_REG (028h): register-based context-cache invalidation (legacy mode only).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Ccmd {
    /// DID: domain-ID for a domain- or device-selective invalidation.
    pub did: u16,
    /// SID: source-ID for a device-selective invalidation.
    pub sid: u16,
    /// FM: function mask (ignores 0, 1 or 3 low bits of SID).
    #[bits(2)]
    pub fm: u8,
    #[bits(25)]
    __: u32,
    /// CAIG: the granularity the hardware actually used (read-only); 00 when it ignored the
    /// request.
    #[bits(2)]
    pub caig: u8,
    /// CIRG: requested granularity (01 global, 10 domain, 11 device).
    #[bits(2)]
    pub cirg: u8,
    /// ICC: invalidate; reads 1 until the invalidation completes.
    pub icc: bool,
}

/// IVA_REG (at ECAP.IRO×16, write-only): the address of a page-selective register-based
/// IOTLB invalidation.
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct Iva {
    /// AM: address mask, 2^AM pages.
    #[bits(6)]
    pub am: u8,
    /// IH: invalidation hint (only leaves changed).
    pub ih: bool,
    #[bits(5)]
    __: u8,
    /// ADDR: page address, bits 63:12.
    #[bits(52)]
    pub addr: u64,
}

/// IOTLB_REG (at ECAP.IRO×16 + 8): register-based IOTLB invalidation (legacy mode only).
#[bitfield(u64)]
#[derive(PartialEq, Eq)]
pub struct IotlbReg {
    #[bits(32)]
    __: u32,
    /// DID: domain-ID for a domain- or page-selective invalidation.
    pub did: u16,
    /// DW: drain writes (ignored from major version 2).
    pub dw: bool,
    /// DR: drain reads (ignored from major version 2).
    pub dr: bool,
    #[bits(7)]
    __: u8,
    /// IAIG: the granularity the hardware actually used (read-only); 00 when it ignored the
    /// request.
    #[bits(2)]
    pub iaig: u8,
    #[bits(1)]
    __: u8,
    /// IIRG: requested granularity (01 global, 10 domain, 11 page).
    #[bits(2)]
    pub iirg: u8,
    #[bits(1)]
    __: u8,
    /// IVT: invalidate; reads 1 until the invalidation completes.
    pub ivt: bool,
}

/// FSTS_REG (034h): fault status.
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct Fsts {
    /// PFO: primary fault overflow (RW1CS).
    pub pfo: bool,
    /// PPF: primary pending fault, the OR of every FRCD.F (read-only).
    pub ppf: bool,
    /// Bits 3:2, reserved (were AFO and APF).
    #[bits(2)]
    __: u8,
    /// IQE: invalidation queue error (RW1CS).
    pub iqe: bool,
    /// ICE: invalid device-TLB invalidation completion (RW1CS).
    pub ice: bool,
    /// ITE: device-TLB invalidation time-out (RW1CS).
    pub ite: bool,
    /// Bit 7, reserved (was PRO).
    #[bits(1)]
    __: u8,
    /// FRI: index of the first pending fault record (valid while PPF=1).
    pub fri: u8,
    #[bits(16)]
    __: u16,
}

impl Fsts {
    /// The RW1CS bits: PFO, IQE, ICE and ITE.
    pub const RW1CS: Fsts = Fsts::new()
        .with_pfo(true)
        .with_iqe(true)
        .with_ice(true)
        .with_ite(true);
}

/// An event control register: FECTL_REG (038h), IECTL_REG (0A0h) or PECTL_REG (0E0h).
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct EventCtl {
    #[bits(30)]
    __: u32,
    /// IP: an interrupt condition is pending while masked (read-only).
    pub ip: bool,
    /// IM: interrupt mask (resets to 1).
    pub im: bool,
}

/// An event data register: FEDATA_REG (03Ch), IEDATA_REG (0A4h) or PEDATA_REG (0E4h).
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct EventData {
    /// IMD: interrupt message data.
    pub imd: u16,
    /// EIMD: extended interrupt message data (only with ECAP.EIM; reserved otherwise).
    pub eimd: u16,
}

/// An event address register: FEADDR_REG (040h), IEADDR_REG (0A8h) or PEADDR_REG (0E8h).
#[bitfield(u32)]
#[derive(PartialEq, Eq)]
pub struct EventAddr {
    #[bits(2)]
    __: u8,
    /// MA: message address, bits 31:2.
    #[bits(30)]
    pub ma: u32,
}

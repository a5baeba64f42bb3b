//! The 64-bit words commands are made of (spec chapter 4). Several commands share a word's
//! layout; which of its fields a command uses is that command's `FIELDS` mask.

use bitfield_struct::bitfield;

use crate::pri::PriResponse;

/// Physical (and IPA) address fields stop below bit 52 in SMMUv3.1–3.3: bits 55:52 are RES0.
const PA_BITS: usize = 52;

/// The bits from `offset` up, `bits` wide (`offset + bits` ≤ 64).
pub(super) const fn span(offset: usize, bits: usize) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        ((1 << bits) - 1) << offset
    }
}

/// DW0 of the commands that name a stream: `CMD_PREFETCH_*`, `CMD_CFGI_*`, `CMD_ATC_INV`,
/// `CMD_PRI_RESP` and `CMD_STALL_TERM`.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct StreamDw0 {
    /// The opcode.
    pub opcode: u8,
    #[bits(1)]
    __: u8,
    /// Global (`CMD_ATC_INV`): set the PCIe Global Invalidate flag (with SSV = 1).
    pub global: bool,
    /// SSec: the StreamID is Secure; must be 0 on the Non-secure command queue.
    pub ssec: bool,
    /// SSV: the SubstreamID is valid.
    pub ssv: bool,
    /// SubstreamID.
    #[bits(20)]
    pub ssid: u32,
    /// StreamID.
    pub sid: u32,
}

impl StreamDw0 {
    /// The SubstreamID when SSV = 1.
    pub const fn substream(&self) -> Option<u32> {
        if self.ssv() { Some(self.ssid()) } else { None }
    }

    pub(super) const OPCODE: u64 = span(Self::OPCODE_OFFSET, Self::OPCODE_BITS);
    pub(super) const GLOBAL: u64 = span(Self::GLOBAL_OFFSET, Self::GLOBAL_BITS);
    pub(super) const SSEC: u64 = span(Self::SSEC_OFFSET, Self::SSEC_BITS);
    pub(super) const SSV: u64 = span(Self::SSV_OFFSET, Self::SSV_BITS);
    pub(super) const SSID: u64 = span(Self::SSID_OFFSET, Self::SSID_BITS);
    pub(super) const SID: u64 = span(Self::SID_OFFSET, Self::SID_BITS);
}

/// DW0 of the TLB invalidations (`CMD_TLBI_*`).
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct TlbiDw0 {
    /// The opcode.
    pub opcode: u8,
    #[bits(4)]
    __: u8,
    /// NUM: the range is (NUM + 1) × 2^SCALE granules (with TG ≠ 0).
    #[bits(5)]
    pub num: u8,
    #[bits(3)]
    __: u8,
    /// SCALE: see NUM (bits 24:20; bit 25 is RES0 without IDR5.DS).
    #[bits(5)]
    pub scale: u8,
    #[bits(7)]
    __: u8,
    /// VMID.
    pub vmid: u16,
    /// ASID.
    pub asid: u16,
}

impl TlbiDw0 {
    pub(super) const OPCODE: u64 = span(Self::OPCODE_OFFSET, Self::OPCODE_BITS);
    pub(super) const VMID: u64 = span(Self::VMID_OFFSET, Self::VMID_BITS);
    pub(super) const ASID: u64 = span(Self::ASID_OFFSET, Self::ASID_BITS);
    /// NUM and SCALE: fields only with IDR3.RIL.
    pub(super) const RANGE: u64 =
        span(Self::NUM_OFFSET, Self::NUM_BITS) | span(Self::SCALE_OFFSET, Self::SCALE_BITS);
}

/// DW1 of the address-based TLB invalidations.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct TlbiDw1 {
    /// Leaf: only last-level (leaf) entries need invalidating.
    pub leaf: bool,
    /// Bits 7:1, reserved (bit 7 is TTL128, which needs 128-bit descriptors).
    #[bits(7)]
    __: u8,
    /// TTL: with TG ≠ 0, the level of the leaf entries (0 = any).
    #[bits(2)]
    pub ttl: u8,
    /// TG: 0 = no range and no level hint; 1 = 4 KiB, 2 = 16 KiB, 3 = 64 KiB granule.
    #[bits(2)]
    pub tg: u8,
    /// Address bits 63:12 (a VA, or for `CMD_TLBI_S2_IPA` an IPA below 2^52).
    #[bits(52)]
    pub addr: u64,
}

impl TlbiDw1 {
    pub(super) const LEAF: u64 = span(Self::LEAF_OFFSET, Self::LEAF_BITS);
    /// TTL and TG: fields only with IDR3.RIL.
    pub(super) const RANGE: u64 =
        span(Self::TTL_OFFSET, Self::TTL_BITS) | span(Self::TG_OFFSET, Self::TG_BITS);
    pub(super) const VA: u64 = span(Self::ADDR_OFFSET, Self::ADDR_BITS);
    pub(super) const IPA: u64 = span(Self::ADDR_OFFSET, PA_BITS - Self::ADDR_OFFSET);

    /// The byte address.
    pub const fn address(&self) -> u64 {
        self.addr() << Self::ADDR_OFFSET
    }
}

/// DW1 of `CMD_PREFETCH_ADDR`.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct PrefetchDw1 {
    /// Size: prefetch 2^Size translations.
    #[bits(5)]
    pub size: u8,
    /// Bits 11:5: the stride and NS hints; accepted and not interpreted (this model does not
    /// prefetch).
    #[bits(7)]
    pub hints: u8,
    /// Address bits 63:12.
    #[bits(52)]
    pub addr: u64,
}

impl PrefetchDw1 {
    pub(super) const ALL: u64 = u64::MAX;
}

/// DW1 of `CMD_CFGI_STE` and `CMD_CFGI_CD`.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct CfgiLeafDw1 {
    /// Leaf: only the entry itself, not the level-1 descriptor that locates it, needs
    /// invalidating.
    pub leaf: bool,
    #[bits(63)]
    __: u64,
}

impl CfgiLeafDw1 {
    pub(super) const LEAF: u64 = span(Self::LEAF_OFFSET, Self::LEAF_BITS);
}

/// DW1 of `CMD_CFGI_STE_RANGE` (and `CMD_CFGI_ALL`).
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct CfgiRangeDw1 {
    /// Range: invalidate the aligned 2^(Range + 1) StreamIDs around the StreamID; 31 is
    /// `CMD_CFGI_ALL`.
    #[bits(5)]
    pub range: u8,
    #[bits(59)]
    __: u64,
}

impl CfgiRangeDw1 {
    pub(super) const RANGE: u64 = span(Self::RANGE_OFFSET, Self::RANGE_BITS);
}

/// DW1 of `CMD_ATC_INV`.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct AtcInvDw1 {
    /// Size: the span is 2^Size 4 KiB pages, aligned; 52 = everything.
    #[bits(6)]
    pub size: u8,
    #[bits(6)]
    __: u8,
    /// Address bits 63:12.
    #[bits(52)]
    pub addr: u64,
}

impl AtcInvDw1 {
    pub(super) const SIZE: u64 = span(Self::SIZE_OFFSET, Self::SIZE_BITS);
    pub(super) const ADDR: u64 = span(Self::ADDR_OFFSET, Self::ADDR_BITS);

    /// The byte address as written.
    pub const fn address(&self) -> u64 {
        self.addr() << Self::ADDR_OFFSET
    }
}

/// DW1 of `CMD_PRI_RESP`.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct PriRespDw1 {
    /// PRGIndex: the page request group answered.
    #[bits(9)]
    pub prgi: u16,
    #[bits(3)]
    __: u8,
    /// Resp: the response (0b11 is illegal).
    #[bits(2)]
    pub resp: PriResponse,
    #[bits(50)]
    __: u64,
}

impl PriRespDw1 {
    pub(super) const PRGI: u64 = span(Self::PRGI_OFFSET, Self::PRGI_BITS);
    pub(super) const RESP: u64 = span(Self::RESP_OFFSET, Self::RESP_BITS);
}

/// DW0 of `CMD_RESUME`.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct ResumeDw0 {
    /// The opcode.
    pub opcode: u8,
    #[bits(2)]
    __: u8,
    /// SSec: the StreamID is Secure; must be 0 on the Non-secure command queue.
    pub ssec: bool,
    #[bits(1)]
    __: u8,
    /// Ac: 1 = retry the transaction, 0 = terminate it.
    pub ac: bool,
    /// Ab: when terminating, abort (1) rather than complete with RAZ/WI (0).
    pub ab: bool,
    #[bits(18)]
    __: u32,
    /// StreamID.
    pub sid: u32,
}

impl ResumeDw0 {
    pub(super) const FIELDS: u64 = span(Self::OPCODE_OFFSET, Self::OPCODE_BITS)
        | span(Self::SSEC_OFFSET, Self::SSEC_BITS)
        | span(Self::AC_OFFSET, Self::AC_BITS)
        | span(Self::AB_OFFSET, Self::AB_BITS)
        | span(Self::SID_OFFSET, Self::SID_BITS);
}

/// DW1 of `CMD_RESUME`.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct ResumeDw1 {
    /// STAG: the stall tag from the stalled transaction's event record.
    pub stag: u16,
    #[bits(48)]
    __: u64,
}

impl ResumeDw1 {
    pub(super) const STAG: u64 = span(Self::STAG_OFFSET, Self::STAG_BITS);
}

/// How a `CMD_SYNC` signals its completion, CS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncSignal {
    /// 0b00, SIG_NONE: no signal; software polls CMDQ_CONS.
    None,
    /// 0b01, SIG_IRQ: an interrupt: the MSI write of MSIData to MSIAddress (with IDR0.MSI and a
    /// non-zero address), and the wired CMD_SYNC interrupt where there is one.
    Irq,
    /// 0b10, SIG_SEV: a WFE wake-up event (nothing without IDR0.SEV).
    Sev,
    /// 0b11: reserved; the command is illegal.
    Reserved,
}

impl SyncSignal {
    /// The signal a 2-bit field value encodes.
    pub const fn from_bits(bits: u8) -> SyncSignal {
        match bits & 3 {
            0 => SyncSignal::None,
            1 => SyncSignal::Irq,
            2 => SyncSignal::Sev,
            _ => SyncSignal::Reserved,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            SyncSignal::None => 0,
            SyncSignal::Irq => 1,
            SyncSignal::Sev => 2,
            SyncSignal::Reserved => 3,
        }
    }
}

/// DW0 of `CMD_SYNC`.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct SyncDw0 {
    /// The opcode.
    pub opcode: u8,
    #[bits(4)]
    __: u8,
    /// CS: the completion signal.
    #[bits(2)]
    pub cs: SyncSignal,
    #[bits(8)]
    __: u8,
    /// MSH: shareability of the MSI write (0 NSH, 2 OSH, 3 ISH; 1 behaves as 0).
    #[bits(2)]
    pub msh: u8,
    /// MSIAttr: memory type of the MSI write (STE.MemAttr encoding).
    #[bits(4)]
    pub msi_attr: u8,
    #[bits(4)]
    __: u8,
    /// MSIData: the 32-bit payload of the MSI write.
    pub msi_data: u32,
}

impl SyncDw0 {
    pub(super) const FIELDS: u64 = span(Self::OPCODE_OFFSET, Self::OPCODE_BITS)
        | span(Self::CS_OFFSET, Self::CS_BITS)
        | span(Self::MSH_OFFSET, Self::MSH_BITS)
        | span(Self::MSI_ATTR_OFFSET, Self::MSI_ATTR_BITS)
        | span(Self::MSI_DATA_OFFSET, Self::MSI_DATA_BITS);
}

/// DW1 of `CMD_SYNC`.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct SyncDw1 {
    #[bits(2)]
    __: u8,
    /// MSIAddress bits 51:2 (bits 55:52 are RES0 in SMMUv3.1–3.3); 0 = no MSI write.
    #[bits(50)]
    pub msi_addr: u64,
    #[bits(12)]
    __: u16,
}

impl SyncDw1 {
    pub(super) const FIELDS: u64 = span(Self::MSI_ADDR_OFFSET, Self::MSI_ADDR_BITS);

    /// The MSI target address (0 = none).
    pub const fn address(&self) -> u64 {
        self.msi_addr() << Self::MSI_ADDR_OFFSET
    }

    /// The word with MSIAddress set from the byte address `addr` (bits 1:0 and 63:52 are
    /// dropped).
    pub const fn with_address(self, addr: u64) -> Self {
        self.with_msi_addr((addr & Self::FIELDS) >> Self::MSI_ADDR_OFFSET)
    }
}

/// A command word without fields: every bit is reserved.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct NoFields {
    #[bits(64)]
    __: u64,
}

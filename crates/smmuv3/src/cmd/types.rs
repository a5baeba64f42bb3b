//! One type per command: its two words, its opcode and name, the bits that are its fields,
//! and what its fields mean.

use softiommu_pgtable::formats::arm::Granule;

use super::words::{
    AtcInvDw1, CfgiLeafDw1, CfgiRangeDw1, NoFields, PrefetchDw1, PriRespDw1, ResumeDw0, ResumeDw1,
    StreamDw0, SyncDw0, SyncDw1, SyncSignal, TlbiDw0, TlbiDw1,
};
use crate::pri::PriResponse;
use crate::regs::MsiWrite;

/// Defines a command type made of the words `$w0` and `$w1`.
macro_rules! command {
    (
        $(#[$doc:meta])*
        $name:ident = $op:literal, $label:literal, $w0:ident, $w1:ident, [$f0:expr, $f1:expr]
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            /// DW0, bits 63:0: the opcode and the first word's fields.
            pub dw0: $w0,
            /// DW1, bits 127:64.
            pub dw1: $w1,
        }

        impl $name {
            /// The opcode.
            pub const OPCODE: u8 = $op;
            /// The command's name in the specification.
            pub const NAME: &'static str = $label;
            /// The bits of DW0 and DW1 that are fields of the command (with IDR3.RIL for the
            /// range fields of a TLB invalidation); the rest are reserved.
            pub const FIELDS: [u64; 2] = [$f0, $f1];

            /// The command with every field 0.
            pub const fn new() -> Self {
                Self {
                    dw0: $w0::new().with_opcode($op),
                    dw1: $w1::new(),
                }
            }

            /// The command held in `words` (DW0 first), unchecked.
            pub const fn from_words(words: [u64; 2]) -> Self {
                Self {
                    dw0: $w0::from_bits(words[0]),
                    dw1: $w1::from_bits(words[1]),
                }
            }

            /// The command's two words, DW0 first.
            pub const fn to_words(&self) -> [u64; 2] {
                [self.dw0.into_bits(), self.dw1.into_bits()]
            }

            /// [`Self::FIELDS`].
            pub const fn field_masks(&self) -> [u64; 2] {
                Self::FIELDS
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

/// DW0 fields of a command that names a stream (and may name a substream).
const STREAM: u64 = StreamDw0::OPCODE | StreamDw0::SSEC | StreamDw0::SID;
const SUBSTREAM: u64 = STREAM | StreamDw0::SSV | StreamDw0::SSID;
/// DW0 fields of the TLB invalidations.
const TLBI: u64 = TlbiDw0::OPCODE;
const TLBI_VMID: u64 = TLBI | TlbiDw0::VMID;
const TLBI_ASID: u64 = TLBI | TlbiDw0::ASID;
const TLBI_VMID_ASID: u64 = TLBI_VMID | TlbiDw0::ASID;
/// DW1 fields of a TLB invalidation by VA or IPA.
const BY_VA: u64 = TlbiDw1::LEAF | TlbiDw1::RANGE | TlbiDw1::VA;
const BY_IPA: u64 = TlbiDw1::LEAF | TlbiDw1::RANGE | TlbiDw1::IPA;

command!(
    /// `CMD_PREFETCH_CONFIG` (01h): prefetch the STE and CD of a stream (a hint).
    PrefetchConfig = 0x01, "CMD_PREFETCH_CONFIG", StreamDw0, NoFields, [SUBSTREAM, 0]
);
command!(
    /// `CMD_PREFETCH_ADDR` (02h): prefetch configuration and translations for an address span
    /// (a hint).
    PrefetchAddr = 0x02, "CMD_PREFETCH_ADDR", StreamDw0, PrefetchDw1,
    [SUBSTREAM, PrefetchDw1::ALL]
);
command!(
    /// `CMD_CFGI_STE` (03h): invalidate a stream's STE and every CD cached through it.
    CfgiSte = 0x03, "CMD_CFGI_STE", StreamDw0, CfgiLeafDw1, [STREAM, CfgiLeafDw1::LEAF]
);
command!(
    /// `CMD_CFGI_STE_RANGE` (04h): invalidate the STEs of an aligned StreamID range, and the CDs
    /// cached through them. Range = 31 is `CMD_CFGI_ALL`.
    CfgiSteRange = 0x04, "CMD_CFGI_STE_RANGE", StreamDw0, CfgiRangeDw1,
    [STREAM, CfgiRangeDw1::RANGE]
);
command!(
    /// `CMD_CFGI_CD` (05h): invalidate the CD at a SubstreamID (CD table index) of a stream.
    CfgiCd = 0x05, "CMD_CFGI_CD", StreamDw0, CfgiLeafDw1,
    [STREAM | StreamDw0::SSID, CfgiLeafDw1::LEAF]
);
command!(
    /// `CMD_CFGI_CD_ALL` (06h): invalidate every CD cached for a stream.
    CfgiCdAll = 0x06, "CMD_CFGI_CD_ALL", StreamDw0, NoFields, [STREAM, 0]
);
command!(
    /// `CMD_TLBI_NH_ALL` (10h): invalidate every stage 1 EL1 entry of a VMID.
    TlbiNhAll = 0x10, "CMD_TLBI_NH_ALL", TlbiDw0, NoFields, [TLBI_VMID, 0]
);
command!(
    /// `CMD_TLBI_NH_ASID` (11h): invalidate the non-global stage 1 EL1 entries of an ASID in a
    /// VMID.
    TlbiNhAsid = 0x11, "CMD_TLBI_NH_ASID", TlbiDw0, NoFields, [TLBI_VMID_ASID, 0]
);
command!(
    /// `CMD_TLBI_NH_VA` (12h): invalidate stage 1 EL1 entries by VMID, ASID and VA (global
    /// entries whatever their ASID), or a range of VAs.
    TlbiNhVa = 0x12, "CMD_TLBI_NH_VA", TlbiDw0, TlbiDw1,
    [TLBI_VMID_ASID | TlbiDw0::RANGE, BY_VA]
);
command!(
    /// `CMD_TLBI_NH_VAA` (13h): invalidate stage 1 EL1 entries by VMID and VA, every ASID.
    TlbiNhVaa = 0x13, "CMD_TLBI_NH_VAA", TlbiDw0, TlbiDw1, [TLBI_VMID | TlbiDw0::RANGE, BY_VA]
);
command!(
    /// `CMD_TLBI_EL3_ALL` (18h): invalidate every EL3 entry (Secure command queue only).
    TlbiEl3All = 0x18, "CMD_TLBI_EL3_ALL", TlbiDw0, NoFields, [TLBI, 0]
);
command!(
    /// `CMD_TLBI_EL3_VA` (1Ah): invalidate EL3 entries by VA (Secure command queue only).
    TlbiEl3Va = 0x1a, "CMD_TLBI_EL3_VA", TlbiDw0, TlbiDw1, [TLBI | TlbiDw0::RANGE, BY_VA]
);
command!(
    /// `CMD_TLBI_EL2_ALL` (20h): invalidate every EL2 and EL2-E2H entry.
    TlbiEl2All = 0x20, "CMD_TLBI_EL2_ALL", TlbiDw0, NoFields, [TLBI, 0]
);
command!(
    /// `CMD_TLBI_EL2_ASID` (21h): invalidate the non-global EL2-E2H entries of an ASID.
    TlbiEl2Asid = 0x21, "CMD_TLBI_EL2_ASID", TlbiDw0, NoFields, [TLBI_ASID, 0]
);
command!(
    /// `CMD_TLBI_EL2_VA` (22h): invalidate EL2 entries by VA (and ASID under CR2.E2H).
    TlbiEl2Va = 0x22, "CMD_TLBI_EL2_VA", TlbiDw0, TlbiDw1, [TLBI_ASID | TlbiDw0::RANGE, BY_VA]
);
command!(
    /// `CMD_TLBI_EL2_VAA` (23h): invalidate EL2 entries by VA, every ASID.
    TlbiEl2Vaa = 0x23, "CMD_TLBI_EL2_VAA", TlbiDw0, TlbiDw1, [TLBI | TlbiDw0::RANGE, BY_VA]
);
command!(
    /// `CMD_TLBI_S12_VMALL` (28h): invalidate every entry of a VMID, all stages.
    TlbiS12Vmall = 0x28, "CMD_TLBI_S12_VMALL", TlbiDw0, NoFields, [TLBI_VMID, 0]
);
command!(
    /// `CMD_TLBI_S2_IPA` (2Ah): invalidate stage 2 entries by VMID and IPA (not combined
    /// stage 1 + 2 entries).
    TlbiS2Ipa = 0x2a, "CMD_TLBI_S2_IPA", TlbiDw0, TlbiDw1, [TLBI_VMID | TlbiDw0::RANGE, BY_IPA]
);
command!(
    /// `CMD_TLBI_NSNH_ALL` (30h): invalidate every Non-secure, non-EL2 entry, all stages.
    TlbiNsnhAll = 0x30, "CMD_TLBI_NSNH_ALL", TlbiDw0, NoFields, [TLBI, 0]
);
command!(
    /// `CMD_ATC_INV` (40h): send an ATS invalidation to a device's ATC.
    AtcInv = 0x40, "CMD_ATC_INV", StreamDw0, AtcInvDw1,
    [
        StreamDw0::OPCODE | StreamDw0::GLOBAL | StreamDw0::SSV | StreamDw0::SSID | StreamDw0::SID,
        AtcInvDw1::SIZE | AtcInvDw1::ADDR
    ]
);
command!(
    /// `CMD_PRI_RESP` (41h): answer a page request group.
    PriResp = 0x41, "CMD_PRI_RESP", StreamDw0, PriRespDw1,
    [
        StreamDw0::OPCODE | StreamDw0::SSV | StreamDw0::SSID | StreamDw0::SID,
        PriRespDw1::PRGI | PriRespDw1::RESP
    ]
);
command!(
    /// `CMD_RESUME` (44h): retry or terminate a stalled transaction.
    Resume = 0x44, "CMD_RESUME", ResumeDw0, ResumeDw1, [ResumeDw0::FIELDS, ResumeDw1::STAG]
);
command!(
    /// `CMD_STALL_TERM` (45h): terminate every stalled transaction of a stream.
    StallTerm = 0x45, "CMD_STALL_TERM", StreamDw0, NoFields, [STREAM, 0]
);
command!(
    /// `CMD_SYNC` (46h): complete every earlier command, then signal.
    CmdSync = 0x46, "CMD_SYNC", SyncDw0, SyncDw1, [SyncDw0::FIELDS, SyncDw1::FIELDS]
);

/// `CMD_CFGI_STE_RANGE.Range` value that makes the command `CMD_CFGI_ALL`.
pub const CFGI_ALL_RANGE: u8 = 31;

impl CfgiSteRange {
    /// `CMD_CFGI_ALL`: `CMD_CFGI_STE_RANGE` with Range = 31 (the StreamID is ignored).
    pub const fn all() -> CfgiSteRange {
        let c = CfgiSteRange::new();
        CfgiSteRange {
            dw0: c.dw0,
            dw1: c.dw1.with_range(CFGI_ALL_RANGE),
        }
    }

    /// Whether this is `CMD_CFGI_ALL`.
    pub const fn is_all(&self) -> bool {
        self.dw1.range() == CFGI_ALL_RANGE
    }

    /// The StreamIDs invalidated: the first, and how many (2^(Range + 1), aligned).
    pub const fn sids(&self) -> (u32, u64) {
        let count = 2u64 << self.dw1.range();
        let first = self.dw0.sid() as u64 & !(count - 1);
        (first as u32, count)
    }
}

/// What a TLB invalidation by address covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlbiSpan {
    /// The entries that translate one address (TG = 0).
    Address {
        /// The address (VA or IPA), bits 11:0 zero.
        addr: u64,
        /// Only leaf entries need invalidating.
        leaf: bool,
    },
    /// The entries, inserted with one granule, that translate `[addr, addr + len)`.
    Range {
        /// First address (VA or IPA).
        addr: u64,
        /// Length in bytes: (NUM + 1) × 2^SCALE granules.
        len: u64,
        /// The granule the entries were inserted with.
        granule: Granule,
        /// The level of the leaf entries (1–3), or 0 for any.
        ttl: u8,
        /// Only leaf entries need invalidating.
        leaf: bool,
    },
}

/// The span `dw0` and `dw1` of a TLB invalidation by address describe.
const fn tlbi_span(dw0: TlbiDw0, dw1: TlbiDw1) -> TlbiSpan {
    let granule = match dw1.tg() {
        1 => Granule::K4,
        2 => Granule::K16,
        3 => Granule::K64,
        _ => {
            return TlbiSpan::Address {
                addr: dw1.address(),
                leaf: dw1.leaf(),
            };
        }
    };
    let granules = (dw0.num() as u64 + 1) << dw0.scale();
    TlbiSpan::Range {
        addr: dw1.address(),
        len: granules << granule.shift(),
        granule,
        ttl: dw1.ttl(),
        leaf: dw1.leaf(),
    }
}

/// Implements `span` for the TLB invalidations by address.
macro_rules! by_address {
    ($($name:ident),+) => {$(
        impl $name {
            /// The addresses (VA or IPA) the invalidation covers.
            pub const fn span(&self) -> TlbiSpan {
                tlbi_span(self.dw0, self.dw1)
            }
        }
    )+};
}

by_address!(
    TlbiNhVa, TlbiNhVaa, TlbiEl3Va, TlbiEl2Va, TlbiEl2Vaa, TlbiS2Ipa
);

/// `CMD_ATC_INV.Size` value that covers every address.
pub const ATC_INV_ALL: u8 = 52;

impl AtcInv {
    /// The PASID the invalidation carries, when SSV = 1.
    pub const fn pasid(&self) -> Option<u32> {
        self.dw0.substream()
    }

    /// log2 of the span in bytes: 12 + Size (64 = every address).
    pub const fn span_log2(&self) -> u32 {
        let s = self.dw1.size() as u32 + 12;
        if s > 64 { 64 } else { s }
    }

    /// The first address of the span: the address aligned down to the span.
    pub const fn start(&self) -> u64 {
        let log2 = self.span_log2();
        if log2 >= 64 {
            0
        } else {
            self.dw1.address() & !((1u64 << log2) - 1)
        }
    }

    /// Whether `addr` falls in the span.
    pub const fn covers(&self, addr: u64) -> bool {
        let log2 = self.span_log2();
        log2 >= 64 || addr >> log2 == self.start() >> log2
    }
}

impl PriResp {
    /// The PASID the response carries, when SSV = 1.
    pub const fn pasid(&self) -> Option<u32> {
        self.dw0.substream()
    }

    /// The response.
    pub const fn response(&self) -> PriResponse {
        self.dw1.resp()
    }
}

/// What `CMD_RESUME` does with the stalled transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResumeAction {
    /// Ac = 1: retry it as though it had just arrived.
    Retry,
    /// Ac = 0: terminate it, with an abort (Ab = 1, or always with IDR0.TERM_MODEL) or with
    /// RAZ/WI.
    Terminate {
        /// Ab.
        abort: bool,
    },
}

impl Resume {
    /// The action.
    pub const fn action(&self) -> ResumeAction {
        if self.dw0.ac() {
            ResumeAction::Retry
        } else {
            ResumeAction::Terminate {
                abort: self.dw0.ab(),
            }
        }
    }
}

impl CmdSync {
    /// A `CMD_SYNC` that signals by writing `data` to `addr` (SIG_IRQ, Inner Shareable,
    /// Inner/Outer Write-Back memory: MSIAttr 0xF, MSH 0b11).
    pub const fn msi(addr: u64, data: u32) -> CmdSync {
        let c = CmdSync::new();
        CmdSync {
            dw0: c
                .dw0
                .with_cs(SyncSignal::Irq)
                .with_msh(0b11)
                .with_msi_attr(0xf)
                .with_msi_data(data),
            dw1: c.dw1.with_address(addr),
        }
    }

    /// The completion signal.
    pub const fn signal(&self) -> SyncSignal {
        self.dw0.cs()
    }

    /// The MSI write the command asks for with SIG_IRQ; `None` when MSIAddress is 0. The SMMU
    /// makes it only with IDR0.MSI.
    pub const fn msi_write(&self) -> Option<MsiWrite> {
        MsiWrite::new(
            self.dw1.address(),
            self.dw0.msi_data(),
            self.dw0.msi_attr(),
            self.dw0.msh(),
        )
    }
}

//! Context descriptors (specification 5.4) and the CD tables an STE points at: one CD, a
//! linear table indexed by SubstreamID, or a two-level table of Level 1 CDs (5.3).
//!
//! ```text
//!   STE.S1ContextPtr ──> S1CDMax = 0: one CD
//!                   └──> S1Fmt 00: 2^S1CDMax CDs of 64 B, indexed by SubstreamID
//!                   └──> S1Fmt 01/10: L1CDs of 8 B, indexed by SubstreamID[S1CDMax−1:6 or :10]
//!                          │ V, L2Ptr
//!                          v
//!                        64 (4 KiB leaf) or 1024 (64 KiB leaf) CDs, indexed by SubstreamID[5:0 or 9:0]
//! ```
//!
//! A request without a SubstreamID follows STE.S1DSS when substreams are enabled
//! ([`select_substream`]): terminate (F_STREAM_DISABLED), bypass stage 1, or use CD 0 (which
//! requests with SubstreamID 0 may then not use). A SubstreamID the STE does not allow, or an
//! L1CD with V=0, is C_BAD_SUBSTREAMID; a CD with V=0 or ILLEGAL fields is C_BAD_CD
//! ([`Cd::check`] follows the specification's `CdIllegal`).

use bitfield_struct::bitfield;
use softiommu_mem::{AddressSpace, MemError};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::ArmS1;

use crate::event::EventId;
use crate::model::{Httu, ModelCaps, StallModel};
use crate::ste::{S1Dss, Ste, beyond, descriptor_words};

/// Bytes in a Context Descriptor.
pub const CD_SIZE: u64 = 64;

/// Bytes in a Level 1 Context Descriptor.
pub const L1CD_SIZE: u64 = 8;

/// CD bits 63:0: the translation regime of both halves of the address space.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct CdDw0 {
    /// T0SZ: the TTB0 region is 2^(64 − T0SZ) bytes.
    #[bits(6)]
    pub t0sz: u8,
    /// TG0: TTB0 granule (00 4K, 01 64K, 10 16K).
    #[bits(2)]
    pub tg0: u8,
    /// IR0: TTB0 walk inner cacheability.
    #[bits(2)]
    pub ir0: u8,
    /// OR0: TTB0 walk outer cacheability.
    #[bits(2)]
    pub or0: u8,
    /// SH0: TTB0 walk shareability.
    #[bits(2)]
    pub sh0: u8,
    /// EPD0: no TTB0 walks; a miss there is a translation fault.
    pub epd0: bool,
    /// ENDI: big-endian walks (ILLEGAL here).
    pub endi: bool,
    /// T1SZ: the TTB1 region is 2^(64 − T1SZ) bytes, at the top of the address space.
    #[bits(6)]
    pub t1sz: u8,
    /// TG1: TTB1 granule (01 16K, 10 4K, 11 64K; 00 reserved).
    #[bits(2)]
    pub tg1: u8,
    /// IR1: TTB1 walk inner cacheability.
    #[bits(2)]
    pub ir1: u8,
    /// OR1: TTB1 walk outer cacheability.
    #[bits(2)]
    pub or1: u8,
    /// SH1: TTB1 walk shareability.
    #[bits(2)]
    pub sh1: u8,
    /// EPD1: no TTB1 walks.
    pub epd1: bool,
    /// V: the CD is valid.
    pub v: bool,
    /// IPS: stage-1 output size (OAS encoding; capped to the OAS).
    #[bits(3)]
    pub ips: u8,
    /// AFFD: Access flag faults disabled (AF=0 reads as 1).
    pub affd: bool,
    /// WXN: instruction fetches from writable pages fault.
    pub wxn: bool,
    /// UWXN: privileged fetches from user-writable pages fault (IGNORED with VMSAv8-64, which
    /// always treats them so).
    pub uwxn: bool,
    /// TBI0: top byte ignored for TTB0 addresses.
    pub tbi0: bool,
    /// TBI1: top byte ignored for TTB1 addresses.
    pub tbi1: bool,
    /// PAN: privileged data accesses to user-accessible pages fault.
    pub pan: bool,
    /// AA64: VMSAv8-64 tables (must be 1 here).
    pub aa64: bool,
    /// HD: hardware dirty-state updates.
    pub hd: bool,
    /// HA: hardware Access flag updates.
    pub ha: bool,
    /// S: stall stage-1 faults.
    pub s: bool,
    /// R: record stage-1 faults.
    pub r: bool,
    /// A: terminated transactions abort (0: RAZ/WI).
    pub a: bool,
    /// ASET: the ASID is not shared with the PE.
    pub aset: bool,
    /// ASID: tags TLB entries of this address space.
    pub asid: u16,
}

/// CD bits 127:64: TTB0.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct CdDw1 {
    /// NSCFG0 (Secure streams only).
    pub nscfg0: bool,
    /// HAD0: hierarchical attributes disabled (needs IDR3.HAD; IGNORED here).
    pub had0: bool,
    /// E0PD0 (needs IDR3.E0PD; RES0 here).
    pub e0pd0: bool,
    /// HAFT (needs HTTU 11; RES0 here).
    pub haft: bool,
    /// TTB0: address bits 55:4 of the TTB0 table (bits below its alignment are taken as 0).
    #[bits(52)]
    pub ttb0: u64,
    /// Bits 121:120, reserved.
    #[bits(2, access = RO)]
    rsvd56: u8,
    /// PnCH (RES0 here).
    pub pnch: bool,
    /// EPAN (RES0 here).
    pub epan: bool,
    /// HWU059–062 (needs PBHA; IGNORED here).
    #[bits(4)]
    pub hwu0: u8,
}

/// CD bits 191:128: TTB1.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct CdDw2 {
    /// NSCFG1 (Secure streams only).
    pub nscfg1: bool,
    /// HAD1 (IGNORED here).
    pub had1: bool,
    /// E0PD1 (RES0 here).
    pub e0pd1: bool,
    /// Bit 131, reserved.
    #[bits(1, access = RO)]
    rsvd3: u8,
    /// TTB1: address bits 55:4 of the TTB1 table.
    #[bits(52)]
    pub ttb1: u64,
    /// Bits 191:184: later-revision controls for TTB1 (RES0 here).
    #[bits(8)]
    pub hi: u8,
}

/// CD bits 255:192: MAIR (MAIR0 in bits 31:0, MAIR1 in bits 63:32).
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct CdDw3 {
    /// MAIR0: memory attributes for AttrIndx 0–3, a byte each.
    pub mair0: u32,
    /// MAIR1: memory attributes for AttrIndx 4–7.
    pub mair1: u32,
}

/// A Context Descriptor (64 bytes). Word 4 is AMAIR, words 5–7 hold IMPLEMENTATION DEFINED,
/// MPAM and later-revision fields this model does not use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Cd {
    /// Bits 63:0: sizes, granules, walk attributes, IPS, controls, ASID.
    pub dw0: CdDw0,
    /// Bits 127:64: TTB0.
    pub dw1: CdDw1,
    /// Bits 191:128: TTB1.
    pub dw2: CdDw2,
    /// Bits 255:192: MAIR.
    pub dw3: CdDw3,
    /// Bits 511:256.
    pub dw4_7: [u64; 4],
}

/// The granule a CD.TG1 value names (01 16K, 10 4K, 11 64K); `None` for the reserved 00.
pub const fn tg1_granule(tg1: u8) -> Option<Granule> {
    match tg1 {
        0b01 => Some(Granule::K16),
        0b10 => Some(Granule::K4),
        0b11 => Some(Granule::K64),
        _ => None,
    }
}

/// The CD.TG1 encoding of `g`.
pub const fn tg1_encoding(g: Granule) -> u8 {
    match g {
        Granule::K16 => 0b01,
        Granule::K4 => 0b10,
        Granule::K64 => 0b11,
    }
}

impl Cd {
    /// A valid CD for the stage-1 table of format `f` at `root`, tagged `asid`, as Linux
    /// writes one: TTB0 only (EPD1), the format's granule, size, output width and HA/HD,
    /// write-back inner-shareable walks, the format's MAIR (the attribute of each AttrIndx
    /// its leaves use), faults recorded, terminated transactions aborted, a non-shared ASID.
    pub fn for_table(f: &ArmS1, root: u64, asid: u16) -> Cd {
        let mut cd = Cd::default().with_ttb0(root);
        cd.dw0 = CdDw0::new()
            .with_t0sz(f.t0sz())
            .with_tg0(f.tg0())
            .with_ir0(1)
            .with_or0(1)
            .with_sh0(3)
            .with_ips(f.ips())
            .with_epd1(true)
            .with_v(true)
            .with_aa64(true)
            .with_r(true)
            .with_a(true)
            .with_aset(true)
            .with_asid(asid)
            .with_ha(f.config().ha)
            .with_hd(f.config().hd);
        cd.dw3 = CdDw3::from_bits(f.mair());
        cd
    }

    /// The TTB0 table address (before alignment).
    pub const fn ttb0(&self) -> u64 {
        self.dw1.ttb0() << 4
    }

    /// Sets TTB0 to `addr` (bits 55:4).
    pub const fn with_ttb0(self, addr: u64) -> Cd {
        Cd {
            dw1: self.dw1.with_ttb0((addr >> 4) & ((1 << 52) - 1)),
            ..self
        }
    }

    /// The TTB1 table address (before alignment).
    pub const fn ttb1(&self) -> u64 {
        self.dw2.ttb1() << 4
    }

    /// Sets TTB1 to `addr` (bits 55:4).
    pub const fn with_ttb1(self, addr: u64) -> Cd {
        Cd {
            dw2: self.dw2.with_ttb1((addr >> 4) & ((1 << 52) - 1)),
            ..self
        }
    }

    /// The whole MAIR: byte n is the attribute of AttrIndx n.
    pub const fn mair(&self) -> u64 {
        self.dw3.into_bits()
    }

    /// The TTB0 granule; `None` for the reserved TG0 11.
    pub const fn granule0(&self) -> Option<Granule> {
        Granule::from_tg0(self.dw0.tg0())
    }

    /// The TTB1 granule; `None` for the reserved TG1 00.
    pub const fn granule1(&self) -> Option<Granule> {
        tg1_granule(self.dw0.tg1())
    }

    /// The effective stage-1 output size in bits: min(IPS, OAS).
    #[inline]
    pub fn ips_bits(&self, caps: &ModelCaps) -> u8 {
        caps.effective_ps(self.dw0.ips())
    }

    /// Checks the descriptor as the specification's `CdIllegal` does, for a CD reached
    /// through `ste` on an SMMU with `caps`: `Err(C_BAD_CD)` when V=0 or the fields are
    /// ILLEGAL. The fields of a half disabled by EPDx are not looked at.
    pub fn check(&self, ste: &Ste, caps: &ModelCaps) -> Result<(), EventId> {
        let bad = Err(EventId::BadCd);
        let d = self.dw0;
        if !d.v() {
            return bad;
        }
        if ste.dw1.s1stalld() && d.s() {
            return bad;
        }
        if caps.term_abort && !d.a() {
            return bad;
        }
        match (caps.stall_model, d.s()) {
            (StallModel::TerminateOnly, true) | (StallModel::StallForced, false) => return bad,
            _ => {}
        }
        let (epd0, epd1) = (d.epd0(), d.epd1());
        if (!epd0 || !epd1) && d.endi() {
            return bad;
        }
        // VMSAv8-64 only (the STE's stage 2, when enabled, is VMSAv8-64 as well).
        if !d.aa64() {
            return bad;
        }
        if (d.ha() || d.hd()) && caps.httu == Httu::None {
            return bad;
        }
        if d.hd() && caps.httu == Httu::Access {
            return bad;
        }
        if !caps.asid16 && d.asid() >> 8 != 0 {
            return bad;
        }
        let ips = self.ips_bits(caps).min(48);
        let half_ok = |txsz: u8, g: Option<Granule>, ttb: u64| {
            (16..=39).contains(&txsz)
                && g.is_some_and(|g| caps.granule_supported(g))
                && !beyond(ttb, ips)
        };
        if !epd0 && !half_ok(d.t0sz(), self.granule0(), self.ttb0()) {
            return bad;
        }
        if !epd1 && !half_ok(d.t1sz(), self.granule1(), self.ttb1()) {
            return bad;
        }
        Ok(())
    }
}

descriptor_words!(Cd, CdDw0, CdDw1, CdDw2, CdDw3);

/// Which CD a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Substream {
    /// Stage 1 does not translate (Config 1x0, or S1DSS bypass): no CD.
    BypassStage1,
    /// Substreams are disabled: S1ContextPtr points at the one CD.
    Single,
    /// CD `n` of the table.
    Index(u32),
}

/// The CD a request with `ssid` uses through `ste` (stage 1 enabled or not):
/// C_BAD_SUBSTREAMID for a SubstreamID without stage 1, without substreams (S1CDMax = 0 or
/// SSIDSIZE = 0) or at or beyond 2^S1CDMax; F_STREAM_DISABLED for a request without one when
/// S1DSS terminates, or with SubstreamID 0 when S1DSS gives CD 0 to requests without one.
pub fn select_substream(
    ste: &Ste,
    ssid: Option<u32>,
    caps: &ModelCaps,
) -> Result<Substream, EventId> {
    if !ste.dw0.config().stage1() {
        return match ssid {
            Some(_) => Err(EventId::BadSubstreamId),
            None => Ok(Substream::BypassStage1),
        };
    }
    let cdmax = ste.dw0.s1cdmax();
    if caps.ssid_bits == 0 || cdmax == 0 {
        return match ssid {
            Some(_) => Err(EventId::BadSubstreamId),
            None => Ok(Substream::Single),
        };
    }
    let s1dss = ste.dw1.s1dss();
    match ssid {
        Some(s) if u64::from(s) >> cdmax != 0 => Err(EventId::BadSubstreamId),
        Some(0) if s1dss == S1Dss::Substream0 => Err(EventId::StreamDisabled),
        Some(s) => Ok(Substream::Index(s)),
        None => match s1dss {
            S1Dss::Terminate | S1Dss::Reserved => Err(EventId::StreamDisabled),
            S1Dss::Bypass => Ok(Substream::BypassStage1),
            S1Dss::Substream0 => Ok(Substream::Index(0)),
        },
    }
}

/// Where a CD is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CdLocation {
    /// The CD is at this address (an IPA under a nested STE).
    Cd(u64),
    /// The CD is in the leaf table the L1CD at `desc` points at.
    Level1 {
        /// Address of the L1CD.
        desc: u64,
        /// Its index in the level-1 table: SubstreamID\[S1CDMax−1:leaf_bits\].
        index: u32,
        /// The CD's index in the leaf table: SubstreamID\[leaf_bits−1:0\].
        leaf_index: u32,
        /// SubstreamID bits a leaf resolves: 6 or 10.
        leaf_bits: u8,
    },
}

/// Where the CD `sub` names is, through `ste`; `None` when stage 1 bypasses. Bits of
/// S1ContextPtr below the table's alignment are taken as zero.
pub fn locate_cd(ste: &Ste, sub: Substream) -> Option<CdLocation> {
    let base = ste.s1_context_ptr();
    let cdmax = u32::from(ste.dw0.s1cdmax());
    match sub {
        Substream::BypassStage1 => None,
        Substream::Single => Some(CdLocation::Cd(base)),
        Substream::Index(i) => Some(match ste.dw0.s1fmt().leaf_bits() {
            None => {
                let table = base & !((CD_SIZE << cdmax.min(20)) - 1);
                CdLocation::Cd(table.wrapping_add(u64::from(i) * CD_SIZE))
            }
            Some(leaf_bits) => {
                let l1_entries_log2 = cdmax.saturating_sub(u32::from(leaf_bits));
                let align = (l1_entries_log2 + 3).max(6);
                let table = base & !((1u64 << align) - 1);
                let index = i >> leaf_bits;
                CdLocation::Level1 {
                    desc: table.wrapping_add(u64::from(index) * L1CD_SIZE),
                    index,
                    leaf_index: i & ((1 << leaf_bits) - 1),
                    leaf_bits,
                }
            }
        }),
    }
}

/// A Level 1 Context Descriptor (8 bytes).
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct L1Cd {
    /// V: L2Ptr is valid.
    pub v: bool,
    /// Bits 11:1, reserved.
    #[bits(11, access = RO)]
    rsvd1: u16,
    /// L2Ptr: address bits 55:12 of the leaf CD table.
    #[bits(44)]
    pub l2ptr: u64,
    /// Bits 63:56, reserved.
    #[bits(8, access = RO)]
    rsvd56: u8,
}

impl L1Cd {
    /// A valid descriptor pointing at the leaf table at `l2`.
    pub const fn for_table(l2: u64) -> L1Cd {
        L1Cd::new()
            .with_v(true)
            .with_l2ptr((l2 >> 12) & ((1 << 44) - 1))
    }

    /// Reads the descriptor at `pa`.
    pub fn read<M: AddressSpace + ?Sized>(mem: &M, pa: u64) -> Result<L1Cd, MemError> {
        Ok(L1Cd::from_bits(mem.load_u64(pa)?))
    }

    /// Writes the descriptor at `pa`.
    pub fn write<M: AddressSpace + ?Sized>(&self, mem: &M, pa: u64) -> Result<(), MemError> {
        mem.store_u64(pa, self.into_bits())
    }

    /// The address of CD `leaf_index` in the leaf table (of 2^`leaf_bits` CDs) this
    /// descriptor points at: C_BAD_SUBSTREAMID when V=0 or the table is beyond `addr_bits`
    /// (the OAS, or the IAS when it is an IPA). L2Ptr is aligned down to the table's size.
    pub const fn cd_address(
        &self,
        leaf_index: u32,
        leaf_bits: u8,
        addr_bits: u8,
    ) -> Result<u64, EventId> {
        if !self.v() {
            return Err(EventId::BadSubstreamId);
        }
        let leaf_bits = if leaf_bits > 20 { 20 } else { leaf_bits };
        let table = (self.l2ptr() << 12) & !((CD_SIZE << leaf_bits) - 1);
        if beyond(table, addr_bits) {
            return Err(EventId::BadSubstreamId);
        }
        Ok(table.wrapping_add(leaf_index as u64 * CD_SIZE))
    }
}

#[cfg(test)]
mod tests;

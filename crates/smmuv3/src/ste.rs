//! The stream table: Stream Table Entries (specification 5.2) in a linear table or in
//! two-level tables located by Level 1 Stream Table Descriptors (5.1).
//!
//! ```text
//!   STRTAB_BASE ──> linear: 2^LOG2SIZE STEs of 64 B, indexed by StreamID
//!              └──> two-level: 2^(LOG2SIZE−SPLIT) L1STDs of 8 B, indexed by StreamID[LOG2SIZE−1:SPLIT]
//!                     │ L2Ptr, Span: 2^(Span−1) STEs (Span 0: none; 12–31 reserved, as 0)
//!                     v
//!                   STEs indexed by StreamID[SPLIT−1:0]
//! ```
//!
//! A StreamID beyond the table, or one an L1STD does not cover, is C_BAD_STREAMID (a Span
//! above SPLIT + 1 is out of bounds, as the specification says, not lenient as QEMU is). An
//! STE with V=0 or an ILLEGAL combination of fields is C_BAD_STE ([`Ste::check`] follows the
//! specification's `SteIllegal`). Reserved Config values 001–011 behave as 000: the stream is
//! aborted without an event.

use bitfield_struct::bitfield;
use softiommu_mem::{AddressSpace, MemError};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};

use crate::event::EventId;
use crate::model::{Httu, ModelCaps, StallModel};

/// Bytes in a Stream Table Entry.
pub const STE_SIZE: u64 = 64;

/// Bytes in a Level 1 Stream Table Descriptor.
pub const L1STD_SIZE: u64 = 8;

/// Whether `addr` has a bit at or above `bits`.
pub(crate) const fn beyond(addr: u64, bits: u8) -> bool {
    bits < 64 && addr >> bits != 0
}

/// Loads the eight 64-bit words of a 64-byte structure at `pa`.
pub(crate) fn read_words<M: AddressSpace + ?Sized>(mem: &M, pa: u64) -> Result<[u64; 8], MemError> {
    // One word at a time, so that a structure in memory without atomic runs (a guest's CD
    // table in a process's memory) reads too.
    let mut words = [0u64; 8];
    for (i, w) in (0u64..).zip(words.iter_mut()) {
        *w = mem.load_u64(pa + 8 * i)?;
    }
    Ok(words)
}

/// Stores the eight words of a 64-byte structure at `pa`, last word first, so that word 0
/// (which holds V) becomes visible last.
pub(crate) fn write_words<M: AddressSpace + ?Sized>(
    mem: &M,
    pa: u64,
    words: [u64; 8],
) -> Result<(), MemError> {
    for (i, w) in words.into_iter().enumerate().rev() {
        mem.store_u64(pa + 8 * i as u64, w)?;
    }
    Ok(())
}

/// Gives a 64-byte structure of four `bitfield` doublewords (`dw0`–`dw3`) and four raw ones
/// (`dw4_7`) its word conversions and its memory accesses.
macro_rules! descriptor_words {
    ($ty:ident, $d0:ident, $d1:ident, $d2:ident, $d3:ident) => {
        impl $ty {
            /// The structure held in `w` (bits 63:0 first).
            pub const fn from_words(w: [u64; 8]) -> $ty {
                $ty {
                    dw0: $d0::from_bits(w[0]),
                    dw1: $d1::from_bits(w[1]),
                    dw2: $d2::from_bits(w[2]),
                    dw3: $d3::from_bits(w[3]),
                    dw4_7: [w[4], w[5], w[6], w[7]],
                }
            }

            /// The structure as 64-bit words, bits 63:0 first.
            pub const fn to_words(&self) -> [u64; 8] {
                [
                    self.dw0.into_bits(),
                    self.dw1.into_bits(),
                    self.dw2.into_bits(),
                    self.dw3.into_bits(),
                    self.dw4_7[0],
                    self.dw4_7[1],
                    self.dw4_7[2],
                    self.dw4_7[3],
                ]
            }

            /// Reads the structure at `pa` (64-byte aligned); fails with the memory error
            /// when it cannot be fetched.
            pub fn read<M: softiommu_mem::AddressSpace + ?Sized>(
                mem: &M,
                pa: u64,
            ) -> Result<$ty, softiommu_mem::MemError> {
                Ok($ty::from_words($crate::ste::read_words(mem, pa)?))
            }

            /// Writes the structure at `pa`, DW7 first, so that DW0 (with V) becomes visible
            /// last.
            pub fn write<M: softiommu_mem::AddressSpace + ?Sized>(
                &self,
                mem: &M,
                pa: u64,
            ) -> Result<(), softiommu_mem::MemError> {
                $crate::ste::write_words(mem, pa, self.to_words())
            }
        }
    };
}
pub(crate) use descriptor_words;

/// STE.Config: which stages translate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SteConfig {
    /// 000: traffic is aborted, no event.
    Abort,
    /// 100: both stages bypass.
    Bypass,
    /// 101: stage 1 translates, stage 2 bypasses.
    S1Translate,
    /// 110: stage 1 bypasses, stage 2 translates.
    S2Translate,
    /// 111: stage 1 nested over stage 2.
    Nested,
    /// 001–011: reserved, behave as 000 (the 3-bit value).
    Reserved(u8),
}

impl SteConfig {
    /// The configuration a 3-bit field value encodes.
    pub const fn from_bits(bits: u8) -> SteConfig {
        match bits & 7 {
            0 => SteConfig::Abort,
            4 => SteConfig::Bypass,
            5 => SteConfig::S1Translate,
            6 => SteConfig::S2Translate,
            7 => SteConfig::Nested,
            v => SteConfig::Reserved(v),
        }
    }

    /// The 3-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            SteConfig::Abort => 0,
            SteConfig::Bypass => 4,
            SteConfig::S1Translate => 5,
            SteConfig::S2Translate => 6,
            SteConfig::Nested => 7,
            SteConfig::Reserved(v) => v & 7,
        }
    }

    /// Stage 1 translates (Config 1x1).
    pub const fn stage1(self) -> bool {
        matches!(self, SteConfig::S1Translate | SteConfig::Nested)
    }

    /// Stage 2 translates (Config 11x).
    pub const fn stage2(self) -> bool {
        matches!(self, SteConfig::S2Translate | SteConfig::Nested)
    }
}

/// STE.S1Fmt: the layout of the CD table S1ContextPtr points at (with substreams).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum S1Fmt {
    /// 00: a linear table of 2^S1CDMax CDs.
    Linear,
    /// 01: L1CDs pointing at 4 KiB leaf tables of 64 CDs.
    TwoLevel4K,
    /// 10: L1CDs pointing at 64 KiB leaf tables of 1024 CDs.
    TwoLevel64K,
    /// 11: reserved, behaves as 00.
    Reserved,
}

impl S1Fmt {
    /// The format a 2-bit field value encodes.
    pub const fn from_bits(bits: u8) -> S1Fmt {
        match bits & 3 {
            0 => S1Fmt::Linear,
            1 => S1Fmt::TwoLevel4K,
            2 => S1Fmt::TwoLevel64K,
            _ => S1Fmt::Reserved,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            S1Fmt::Linear => 0,
            S1Fmt::TwoLevel4K => 1,
            S1Fmt::TwoLevel64K => 2,
            S1Fmt::Reserved => 3,
        }
    }

    /// SubstreamID bits a leaf CD table resolves: 6 (4 KiB leaves) or 10 (64 KiB leaves);
    /// `None` for a linear table (reserved 11 included).
    pub const fn leaf_bits(self) -> Option<u8> {
        match self {
            S1Fmt::TwoLevel4K => Some(6),
            S1Fmt::TwoLevel64K => Some(10),
            S1Fmt::Linear | S1Fmt::Reserved => None,
        }
    }
}

/// STE.S1DSS: what a request without a SubstreamID does when substreams are enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum S1Dss {
    /// 00: terminate, F_STREAM_DISABLED.
    Terminate,
    /// 01: bypass stage 1 (stage 2 still applies).
    Bypass,
    /// 10: use CD 0; a request with SubstreamID 0 is then F_STREAM_DISABLED.
    Substream0,
    /// 11: reserved, behaves as 00.
    Reserved,
}

impl S1Dss {
    /// The behaviour a 2-bit field value encodes.
    pub const fn from_bits(bits: u8) -> S1Dss {
        match bits & 3 {
            0 => S1Dss::Terminate,
            1 => S1Dss::Bypass,
            2 => S1Dss::Substream0,
            _ => S1Dss::Reserved,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            S1Dss::Terminate => 0,
            S1Dss::Bypass => 1,
            S1Dss::Substream0 => 2,
            S1Dss::Reserved => 3,
        }
    }
}

/// STE.EATS: what ATS may do for the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Eats {
    /// 00: ATS translation requests refused (F_BAD_ATS_TREQ), translated traffic forbidden.
    Disabled,
    /// 01: full ATS: requests translated at every enabled stage, translated traffic bypasses.
    Full,
    /// 10: split-stage ATS (nested only): requests get the stage-1 result, translated
    /// traffic goes through stage 2.
    Split,
    /// 11: full ATS with DPT checks; without DPT (this model) reserved, behaves as 00.
    Dpt,
}

impl Eats {
    /// The setting a 2-bit field value encodes.
    pub const fn from_bits(bits: u8) -> Eats {
        match bits & 3 {
            0 => Eats::Disabled,
            1 => Eats::Full,
            2 => Eats::Split,
            _ => Eats::Dpt,
        }
    }

    /// The 2-bit encoding.
    pub const fn into_bits(self) -> u8 {
        match self {
            Eats::Disabled => 0,
            Eats::Full => 1,
            Eats::Split => 2,
            Eats::Dpt => 3,
        }
    }
}

/// STE bits 63:0.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct SteDw0 {
    /// V: the STE is valid.
    pub v: bool,
    /// Config: which stages translate.
    #[bits(3)]
    pub config: SteConfig,
    /// S1Fmt: CD table layout.
    #[bits(2)]
    pub s1fmt: S1Fmt,
    /// S1ContextPtr: address bits 55:6 of the CD, CD table or L1CD table (an IPA when stage 2
    /// translates).
    #[bits(50)]
    pub s1_context_ptr: u64,
    /// Bits 58:56, reserved.
    #[bits(3, access = RO)]
    rsvd56: u8,
    /// S1CDMax: log2 of the number of CDs (0: one CD, no substreams).
    #[bits(5)]
    pub s1cdmax: u8,
}

/// STE bits 127:64.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct SteDw1 {
    /// S1DSS: default substream behaviour.
    #[bits(2)]
    pub s1dss: S1Dss,
    /// S1CIR: CD fetch inner cacheability.
    #[bits(2)]
    pub s1cir: u8,
    /// S1COR: CD fetch outer cacheability.
    #[bits(2)]
    pub s1cor: u8,
    /// S1CSH: CD fetch shareability.
    #[bits(2)]
    pub s1csh: u8,
    /// S2HWU59–62: stage-2 hardware use of descriptor bits (needs PBHA; ignored here).
    #[bits(4)]
    pub s2hwu: u8,
    /// DRE: destructive reads enabled.
    pub dre: bool,
    /// CONT: the STE is identical for 2^CONT StreamIDs (a hint).
    #[bits(4)]
    pub cont: u8,
    /// DCP: directed cache prefetch.
    pub dcp: bool,
    /// PPAR: PRI auto-responses carry a PASID.
    pub ppar: bool,
    /// MEV: events may be merged.
    pub mev: bool,
    /// SW_RESERVED: ignored by the SMMU.
    #[bits(4)]
    pub sw_reserved: u8,
    /// S1PIE: stage-1 permission indirection (needs S1PI; ignored here).
    pub s1pie: bool,
    /// S2FWB: stage-2 forced write-back.
    pub s2fwb: bool,
    /// S1MPAM: MPAM from the CD.
    pub s1mpam: bool,
    /// S1STALLD: stage-1 stalls disabled.
    pub s1stalld: bool,
    /// EATS: ATS behaviour.
    #[bits(2)]
    pub eats: Eats,
    /// STRW: stream world (RES0 without EL2 support: every stream is NS-EL1).
    #[bits(2)]
    pub strw: u8,
    /// MemAttr: memory type override.
    #[bits(4)]
    pub mem_attr: u8,
    /// MTCFG: use MemAttr.
    pub mtcfg: bool,
    /// ALLOCCFG: allocation hint override.
    #[bits(4)]
    pub alloccfg: u8,
    /// Bits 107:105, reserved.
    #[bits(3, access = RO)]
    rsvd41: u8,
    /// SHCFG: shareability override.
    #[bits(2)]
    pub shcfg: u8,
    /// NSCFG: NS attribute override (Secure streams only).
    #[bits(2)]
    pub nscfg: u8,
    /// PRIVCFG: privilege override.
    #[bits(2)]
    pub privcfg: u8,
    /// INSTCFG: instruction/data override.
    #[bits(2)]
    pub instcfg: u8,
    /// Bits 127:116, IMPLEMENTATION DEFINED.
    #[bits(12)]
    pub impdef: u16,
}

/// STE bits 191:128: stage-2 configuration.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct SteDw2 {
    /// S2VMID: tags TLB entries of this stream (whenever a stage translates).
    pub s2vmid: u16,
    /// Bits 159:144, IMPLEMENTATION DEFINED.
    pub impdef: u16,
    /// S2T0SZ: the IPA space is 2^(64 − S2T0SZ) bytes.
    #[bits(6)]
    pub s2t0sz: u8,
    /// S2SL0: the stage-2 walk's start level (with S2TG).
    #[bits(2)]
    pub s2sl0: u8,
    /// S2IR0: stage-2 walk inner cacheability.
    #[bits(2)]
    pub s2ir0: u8,
    /// S2OR0: stage-2 walk outer cacheability.
    #[bits(2)]
    pub s2or0: u8,
    /// S2SH0: stage-2 walk shareability.
    #[bits(2)]
    pub s2sh0: u8,
    /// S2TG: stage-2 granule (00 4K, 01 64K, 10 16K).
    #[bits(2)]
    pub s2tg: u8,
    /// S2PS: stage-2 output size (OAS encoding; capped to the OAS).
    #[bits(3)]
    pub s2ps: u8,
    /// S2AA64: VMSAv8-64 stage-2 tables (must be 1 here).
    pub s2aa64: bool,
    /// S2ENDI: big-endian stage-2 walks (ILLEGAL here).
    pub s2endi: bool,
    /// S2AFFD: stage-2 Access flag faults disabled.
    pub s2affd: bool,
    /// S2PTW: stage-1 walks and CD fetches to stage-2 Device memory fault.
    pub s2ptw: bool,
    /// S2HD: stage-2 hardware dirty-state updates.
    pub s2hd: bool,
    /// S2HA: stage-2 hardware Access flag updates.
    pub s2ha: bool,
    /// S2S: stall stage-2 faults.
    pub s2s: bool,
    /// S2R: record stage-2 faults.
    pub s2r: bool,
    /// S2HAFT: Access flag updates in table descriptors (RES0 here).
    pub s2haft: bool,
    /// S2PIE: stage-2 permission indirection (RES0 here).
    pub s2pie: bool,
    /// S2POE: stage-2 permission overlay (RES0 here).
    pub s2poe: bool,
    /// DPT_VMATCH (RES0 here).
    #[bits(2)]
    pub dpt_vmatch: u8,
}

/// STE bits 255:192: the stage-2 table base.
#[bitfield(u64)]
#[derive(PartialEq, Eq, Hash)]
pub struct SteDw3 {
    /// S2NSW (Secure streams only).
    pub s2nsw: bool,
    /// S2NSA (Secure streams only).
    pub s2nsa: bool,
    /// S2SL0_2 (52-bit stage 2 only; RES0 here).
    pub s2sl0_2: bool,
    /// S2DS (52-bit stage 2 only; RES0 here).
    pub s2ds: bool,
    /// S2TTB: address bits 55:4 of the stage-2 table (bits below the table's alignment are
    /// taken as zero).
    #[bits(52)]
    pub s2ttb: u64,
    /// Bits 252:248, reserved.
    #[bits(5, access = RO)]
    rsvd56: u8,
    /// S2SKL (VMSAv9-128 only; RES0 here).
    #[bits(2)]
    pub s2skl: u8,
    /// Bit 255, reserved.
    #[bits(1, access = RO)]
    rsvd63: u8,
}

/// A Stream Table Entry (64 bytes). Words 4–7 hold Secure, MPAM and later-revision fields
/// this model does not use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Ste {
    /// Bits 63:0: V, Config, S1Fmt, S1ContextPtr, S1CDMax.
    pub dw0: SteDw0,
    /// Bits 127:64: S1DSS, CD fetch attributes, S1STALLD, EATS, STRW, overrides.
    pub dw1: SteDw1,
    /// Bits 191:128: S2VMID and the stage-2 configuration.
    pub dw2: SteDw2,
    /// Bits 255:192: S2TTB.
    pub dw3: SteDw3,
    /// Bits 511:256.
    pub dw4_7: [u64; 4],
}

impl Ste {
    /// A valid STE with Config `config` and every other field zero.
    pub const fn with_config(config: SteConfig) -> Ste {
        Ste {
            dw0: SteDw0::new().with_v(true).with_config(config),
            dw1: SteDw1::new(),
            dw2: SteDw2::new(),
            dw3: SteDw3::new(),
            dw4_7: [0; 4],
        }
    }

    /// The CD (table) address S1ContextPtr holds.
    pub const fn s1_context_ptr(&self) -> u64 {
        self.dw0.s1_context_ptr() << 6
    }

    /// Sets S1ContextPtr to `addr` (bits 55:6).
    pub const fn with_s1_context_ptr(self, addr: u64) -> Ste {
        Ste {
            dw0: self.dw0.with_s1_context_ptr((addr >> 6) & ((1 << 50) - 1)),
            ..self
        }
    }

    /// The stage-2 table address S2TTB holds (before alignment).
    pub const fn s2ttb(&self) -> u64 {
        self.dw3.s2ttb() << 4
    }

    /// Sets S2TTB to `addr` (bits 55:4).
    pub const fn with_s2ttb(self, addr: u64) -> Ste {
        Ste {
            dw3: self.dw3.with_s2ttb((addr >> 4) & ((1 << 52) - 1)),
            ..self
        }
    }

    /// The entry with stage-2 fields for the table of format `f` at `root`, tagged `vmid`:
    /// S2T0SZ, S2SL0, S2TG, S2PS and S2HA/S2HD from the format, VMSAv8-64, faults recorded.
    pub fn with_s2_table(self, f: &ArmS2, root: u64, vmid: u16) -> Ste {
        let mut s = self.with_s2ttb(root);
        s.dw2 = s
            .dw2
            .with_s2vmid(vmid)
            .with_s2t0sz(f.t0sz())
            .with_s2sl0(f.sl0())
            .with_s2tg(f.tg())
            .with_s2ps(f.ps())
            .with_s2aa64(true)
            .with_s2r(true)
            .with_s2ha(f.config().ha)
            .with_s2hd(f.config().hd);
        s
    }

    /// The stage-2 granule S2TG names; `None` for the reserved 11.
    pub const fn s2_granule(&self) -> Option<Granule> {
        Granule::from_tg0(self.dw2.s2tg())
    }

    /// The VMID that tags this stream's TLB entries: S2VMID when stage 2 is implemented, else
    /// 0 (no VMID tagging).
    pub const fn vmid(&self, caps: &ModelCaps) -> u16 {
        if caps.s2p { self.dw2.s2vmid() } else { 0 }
    }

    /// EATS as it takes effect: 00 without ATS, for Config 100 and for the reserved 11; split
    /// stage (10) only for a legal nested STE.
    pub fn effective_eats(&self, caps: &ModelCaps) -> Eats {
        let config = self.dw0.config();
        if !caps.ats || !(config.stage1() || config.stage2()) {
            return Eats::Disabled;
        }
        match self.dw1.eats() {
            Eats::Dpt => Eats::Disabled,
            e => e,
        }
    }

    /// The stage-2 table format this STE describes (granule, S2T0SZ, S2SL0, the effective
    /// S2PS, S2HA/S2HD); `None` when the fields are inconsistent (C_BAD_STE).
    pub fn s2_config(&self, caps: &ModelCaps) -> Option<ArmS2Config> {
        let d = self.dw2;
        let g = self.s2_granule()?;
        let ps = caps.effective_ps(d.s2ps());
        // {S2HA, S2HD} = 01 is reserved and behaves as 00.
        let ha = d.s2ha();
        ArmS2Config::from_ste(g, d.s2t0sz(), d.s2sl0(), ps, ha, ha && d.s2hd()).ok()
    }

    /// Checks the entry as the specification's `SteIllegal` does, for a Non-secure stream on
    /// an SMMU with `caps`: `Err(C_BAD_STE)` when V=0 or the fields are ILLEGAL. Fields of a
    /// stage that bypasses are not looked at.
    pub fn check(&self, caps: &ModelCaps) -> Result<(), EventId> {
        let bad = Err(EventId::BadSte);
        let (d0, d1, d2) = (self.dw0, self.dw1, self.dw2);
        if !d0.v() {
            return bad;
        }
        let config = d0.config();
        let (s1, s2) = (config.stage1(), config.stage2());
        if !s1 && !s2 {
            // Abort, bypass and the reserved configurations have nothing more to check.
            return Ok(());
        }
        if (s1 && !caps.s1p) || (s2 && !caps.s2p) {
            return bad;
        }
        if caps.ats {
            match d1.eats() {
                Eats::Split if config != SteConfig::Nested || d2.s2s() || !caps.split_ats => {
                    return bad;
                }
                Eats::Full if s2 && d2.s2s() => return bad,
                _ => {}
            }
        }
        if s1 {
            if d1.s1stalld() && caps.stall_model != StallModel::StallAndTerminate {
                return bad;
            }
            if caps.ssid_bits != 0 {
                if d0.s1cdmax() > caps.ssid_bits {
                    return bad;
                }
                if d0.s1cdmax() != 0
                    && !caps.two_level_cd
                    && matches!(d0.s1fmt(), S1Fmt::TwoLevel4K | S1Fmt::TwoLevel64K)
                {
                    return bad;
                }
            }
            // A PA beyond the OAS, or an IPA beyond the IAS (the same here).
            if beyond(self.s1_context_ptr(), caps.oas_bits) {
                return bad;
            }
        }
        if s2 {
            match (caps.stall_model, d2.s2s()) {
                (StallModel::TerminateOnly, true) | (StallModel::StallForced, false) => {
                    return bad;
                }
                _ => {}
            }
            // Only VMSAv8-64 stage-2 tables, only little-endian walks.
            if !d2.s2aa64() || d2.s2endi() {
                return bad;
            }
            if (d2.s2ha() || d2.s2hd()) && caps.httu == Httu::None {
                return bad;
            }
            if d2.s2hd() && caps.httu == Httu::Access {
                return bad;
            }
            let Some(g) = self.s2_granule().filter(|g| caps.granule_supported(*g)) else {
                return bad;
            };
            let ps = caps.effective_ps(d2.s2ps());
            if beyond(self.s2ttb(), ps.min(48)) {
                return bad;
            }
            // S2T0SZ in MAX(16, 64 − IAS)..=39 (no small tables, no 52-bit inputs).
            let min_t0sz = 16u8.max(64 - caps.ias_bits());
            if !(min_t0sz..=39).contains(&d2.s2t0sz()) {
                return bad;
            }
            // S2SL0 consistent with S2T0SZ and S2TG.
            if ArmS2Config::from_ste(g, d2.s2t0sz(), d2.s2sl0(), ps, false, false).is_err() {
                return bad;
            }
        }
        if caps.s2p && !caps.vmid16 && d2.s2vmid() >> 8 != 0 {
            return bad;
        }
        Ok(())
    }
}

descriptor_words!(Ste, SteDw0, SteDw1, SteDw2, SteDw3);

mod table;

pub use table::{L1Std, SteLocation, StreamTable, StreamTableFormat};

#[cfg(test)]
mod tests;

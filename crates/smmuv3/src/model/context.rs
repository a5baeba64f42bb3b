//! What a request's StreamID and SubstreamID resolve to before any page walk: the STE
//! (through the stream table and its L1STDs), the CD it selects (through the CD table and
//! its L1CDs, fetched through stage 2 under a nested STE), and the context cache entry that
//! keeps the pair.

use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;

use super::translate::{Fault, Request, TranslationUnit};
use super::walk::{S2Cfg, s1_config};
use crate::cd::{Cd, CdLocation, L1Cd, Substream, locate_cd, select_substream};
use crate::event::{EventClass, EventId};
use crate::ste::{L1Std, Ste, SteConfig, SteLocation, StreamTableFormat, beyond};

/// What translates a resolved stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// STE.Config abort (or reserved): terminate without an event.
    Abort = 0,
    /// Nothing translates (Config 100, or stage 1 only with S1DSS bypass).
    Bypass = 1,
    /// Stage 1 only.
    S1 = 2,
    /// Stage 2 only (Config 110, or nested with S1DSS bypass).
    S2 = 3,
    /// Stage 1 nested over stage 2.
    Nested = 4,
}

impl Kind {
    const fn from_bits(bits: u64) -> Kind {
        match bits & 7 {
            1 => Kind::Bypass,
            2 => Kind::S1,
            3 => Kind::S2,
            4 => Kind::Nested,
            _ => Kind::Abort,
        }
    }
}

/// Tag-word bit: the context's CD is the only one.
const SINGLE: u64 = 1 << 3;

/// Whether a context's tag word holds a CD.
pub(crate) fn tag_has_cd(w: u64) -> bool {
    matches!(Kind::from_bits(w), Kind::S1 | Kind::Nested)
}

/// Whether CMD_CFGI_CD for `ssid` reaches a context's tag word: its CD is CD `ssid`, or the
/// only CD of a stream without substreams.
pub(crate) fn tag_uses_cd(w: u64, ssid: u32) -> bool {
    tag_has_cd(w) && (w & SINGLE != 0 || (w >> 40) as u32 & 0xf_ffff == ssid)
}

/// The VMID of a context's tag word.
pub(crate) fn tag_vmid(w: u64) -> u16 {
    (w >> 8) as u16
}

/// The ASID of a context's tag word.
pub(crate) fn tag_asid(w: u64) -> u16 {
    (w >> 24) as u16
}

/// A resolved stream context: the STE, the CD (when stage 1 translates) and the tags its
/// translations carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ctx {
    pub kind: Kind,
    /// VMID tag (0 without stage 2).
    pub vmid: u16,
    /// ASID tag (0 without a CD).
    pub asid: u16,
    /// The CD is the only one (substreams disabled).
    pub single: bool,
    /// The CD's index in the CD table.
    pub cd_index: u32,
    /// Words 0–3 of the STE.
    ste: [u64; 4],
    /// Words 0–2 of the CD (zero without one).
    cd: [u64; 3],
    /// The format slots of the TTB0 half of stage 1 (bits 7:0) and of stage 2 (15:8); 0xFF
    /// when none (see [`super::formats::Got::slot`]).
    fmt: u16,
}

impl Ctx {
    /// The tag word: kind, VMID, ASID and which CD.
    pub(crate) fn tag(&self) -> u64 {
        self.kind as u64
            | if self.single { SINGLE } else { 0 }
            | u64::from(self.vmid) << 8
            | u64::from(self.asid) << 24
            | u64::from(self.cd_index & 0xf_ffff) << 40
    }

    /// The context as the eight words the context cache holds.
    pub(crate) fn to_words(self) -> [u64; 9] {
        let (s, c) = (self.ste, self.cd);
        let f = u64::from(self.fmt);
        [self.tag(), s[0], s[1], s[2], s[3], c[0], c[1], c[2], f]
    }

    /// The slot of the stage-1 format of the TTB0 half, when it is kept.
    #[inline(always)]
    pub(crate) fn s1_slot(&self) -> Option<u8> {
        Some(self.fmt as u8).filter(|&s| s != 0xFF)
    }

    /// The slot of the stage-2 format, when it is kept.
    #[inline(always)]
    pub(crate) fn s2_slot(&self) -> Option<u8> {
        Some((self.fmt >> 8) as u8).filter(|&s| s != 0xFF)
    }

    /// The stage-2 configuration of the context, its STE being `ste` (from [`ste`](Self::ste)).
    pub(super) fn s2cfg<'a>(&self, ste: &'a Ste) -> S2Cfg<'a> {
        S2Cfg {
            ste,
            vmid: self.vmid,
            slot: self.s2_slot(),
        }
    }

    /// The STE (words 0–3).
    #[inline(always)]
    pub(crate) fn ste(&self) -> Ste {
        let s = self.ste;
        Ste::from_words([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
    }

    /// The CD (words 0–2; zero without one).
    #[inline(always)]
    pub(crate) fn cd(&self) -> Cd {
        let c = self.cd;
        Cd::from_words([c[0], c[1], c[2], 0, 0, 0, 0, 0])
    }

    /// The context [`to_words`](Self::to_words) gave.
    #[inline(always)]
    pub(crate) fn from_words(w: [u64; 9]) -> Ctx {
        Ctx {
            kind: Kind::from_bits(w[0]),
            single: w[0] & SINGLE != 0,
            vmid: tag_vmid(w[0]),
            asid: tag_asid(w[0]),
            cd_index: (w[0] >> 40) as u32 & 0xf_ffff,
            ste: [w[1], w[2], w[3], w[4]],
            cd: [w[5], w[6], w[7]],
            fmt: w[8] as u16,
        }
    }

    /// The address stage 1 translates: `addr` with its top byte replaced by the sign
    /// extension of bit 55 when TBI applies to its half.
    pub(crate) fn s1_input(&self, addr: u64) -> u64 {
        let d = self.cd().dw0;
        let tbi = if addr >> 55 & 1 != 0 {
            d.tbi1()
        } else {
            d.tbi0()
        };
        if tbi {
            (((addr << 8) as i64) >> 8) as u64
        } else {
            addr
        }
    }

    fn new(kind: Kind, ste: Ste, vmid: u16) -> Ctx {
        Ctx {
            kind,
            vmid,
            asid: 0,
            single: false,
            cd_index: 0,
            ste: {
                let w = ste.to_words();
                [w[0], w[1], w[2], w[3]]
            },
            cd: [0; 3],
            fmt: 0xFFFF,
        }
    }
}

impl<M: AddressSpace> TranslationUnit<M> {
    /// The context of `req`: from the context cache when `cached`, else from the STE and CD,
    /// checked, and (when `cached`) cached.
    pub(super) fn resolve(
        &self,
        req: &Request,
        cached: bool,
        generation: u64,
    ) -> Result<Ctx, Fault> {
        if req.ssid.is_some_and(|s| s >> 20 != 0) {
            // Beyond the 20 bits a SubstreamID has.
            return Err(self.config_fault(req, EventId::BadSubstreamId));
        }
        if cached && let Some(c) = self.caches.context(req.sid, req.ssid) {
            return Ok(c);
        }
        let ste = self.resolve_ste(req, cached, generation)?;
        let caps = &self.caps;
        let vmid = ste.vmid(caps);
        let config = ste.dw0.config();
        let ctx = if matches!(config, SteConfig::Abort | SteConfig::Reserved(_)) {
            Ctx::new(Kind::Abort, ste, vmid)
        } else {
            let sub =
                select_substream(&ste, req.ssid, caps).map_err(|id| self.config_fault(req, id))?;
            match sub {
                Substream::BypassStage1 => {
                    let kind = if config.stage2() {
                        Kind::S2
                    } else {
                        Kind::Bypass
                    };
                    Ctx::new(kind, ste, vmid)
                }
                Substream::Single | Substream::Index(_) => {
                    let cd = self.fetch_cd(req, &ste, vmid, sub, cached, generation)?;
                    cd.check(&ste, caps)
                        .map_err(|id| self.config_fault(req, id))?;
                    let kind = if config.stage2() {
                        Kind::Nested
                    } else {
                        Kind::S1
                    };
                    let asid = if caps.asid16 {
                        cd.dw0.asid()
                    } else {
                        cd.dw0.asid() & 0xff
                    };
                    Ctx {
                        asid,
                        single: sub == Substream::Single,
                        cd_index: match sub {
                            Substream::Index(i) => i,
                            _ => 0,
                        },
                        cd: {
                            let w = cd.to_words();
                            [w[0], w[1], w[2]]
                        },
                        ..Ctx::new(kind, ste, vmid)
                    }
                }
            }
        };
        let ctx = self.with_formats(ctx);
        if cached {
            self.caches
                .fill_context(req.sid, req.ssid, &ctx, generation);
        }
        Ok(ctx)
    }

    /// `ctx` with the slots of the formats its walks use.
    fn with_formats(&self, ctx: Ctx) -> Ctx {
        let mut fmt = 0xFFFFu16;
        if matches!(ctx.kind, Kind::S1 | Kind::Nested) {
            let cd = ctx.cd();
            let slot = s1_config(&cd, false, &self.caps)
                .and_then(|cfg| self.formats.s1(cfg, cd.dw0.affd()))
                .and_then(|f| f.slot());
            fmt = fmt & 0xFF00 | u16::from(slot.unwrap_or(0xFF));
        }
        if matches!(ctx.kind, Kind::S2 | Kind::Nested) {
            let ste = ctx.ste();
            let slot = ste
                .s2_config(&self.caps)
                .and_then(|cfg| self.formats.s2(cfg, ste.dw2.s2affd()))
                .and_then(|f| f.slot());
            fmt = fmt & 0x00FF | u16::from(slot.unwrap_or(0xFF)) << 8;
        }
        Ctx { fmt, ..ctx }
    }

    /// The checked STE of `req`'s StreamID: C_BAD_STREAMID, F_STE_FETCH or C_BAD_STE when
    /// there is none.
    pub(super) fn resolve_ste(
        &self,
        req: &Request,
        cached: bool,
        generation: u64,
    ) -> Result<Ste, Fault> {
        let sid = req.sid;
        if cached && let Some(s) = self.caches.ste(sid) {
            return Ok(s);
        }
        let caps = &self.caps;
        let oas = caps.oas_bits;
        let bad_sid = || self.config_fault(req, EventId::BadStreamId);
        if caps.sid_bits < 32 && sid >> caps.sid_bits != 0 {
            return Err(bad_sid());
        }
        let table = self.stream_table();
        let at = match table.locate(sid).map_err(|_| bad_sid())? {
            SteLocation::Ste(a) => a,
            SteLocation::Level1 { desc, index } => {
                let StreamTableFormat::TwoLevel { split } = table.format() else {
                    return Err(bad_sid());
                };
                let l1 = match self.caches.l1std(index, split).filter(|_| cached) {
                    Some(d) => d,
                    None => {
                        let fetch = || self.fetch_fault(req, EventId::SteFetch, desc);
                        if beyond(desc, oas) {
                            return Err(fetch());
                        }
                        let d = L1Std::read(&self.mem, desc).map_err(|_| fetch())?;
                        if cached {
                            self.caches.fill_l1std(index, split, d, generation);
                        }
                        d
                    }
                };
                l1.ste_address(sid, split).map_err(|_| bad_sid())?
            }
        };
        let fetch = || self.fetch_fault(req, EventId::SteFetch, at);
        if beyond(at, oas) {
            return Err(fetch());
        }
        let ste = Ste::read(&self.mem, at).map_err(|_| fetch())?;
        ste.check(caps).map_err(|id| self.config_fault(req, id))?;
        if cached {
            self.caches.fill_ste(sid, &ste, generation);
        }
        Ok(ste)
    }

    /// Reads the CD `sub` names through `ste` (and its L1CD): from physical memory, or
    /// through stage 2 (faults with CLASS=CD) when stage 2 translates.
    fn fetch_cd(
        &self,
        req: &Request,
        ste: &Ste,
        vmid: u16,
        sub: Substream,
        cached: bool,
        generation: u64,
    ) -> Result<Cd, Fault> {
        let Some(loc) = locate_cd(ste, sub) else {
            return Err(self.config_fault(req, EventId::BadCd));
        };
        let at = match loc {
            CdLocation::Cd(a) => a,
            CdLocation::Level1 {
                desc,
                index,
                leaf_index,
                leaf_bits,
            } => {
                let hit = self
                    .caches
                    .l1cd(req.sid, leaf_bits, index)
                    .filter(|_| cached);
                let l1 = match hit {
                    Some(d) => d,
                    None => {
                        let pa = self.cd_fetch_address(req, ste, vmid, desc, cached, generation)?;
                        let d = L1Cd::read(&self.mem, pa)
                            .map_err(|_| self.fetch_fault(req, EventId::CdFetch, pa))?;
                        if cached {
                            self.caches
                                .fill_l1cd(req.sid, leaf_bits, index, d, generation);
                        }
                        d
                    }
                };
                l1.cd_address(leaf_index, leaf_bits, self.caps.oas_bits)
                    .map_err(|id| self.config_fault(req, id))?
            }
        };
        let pa = self.cd_fetch_address(req, ste, vmid, at, cached, generation)?;
        Cd::read(&self.mem, pa).map_err(|_| self.fetch_fault(req, EventId::CdFetch, pa))
    }

    /// The physical address of a CD or L1CD at `addr`: `addr` itself without stage 2 (C_BAD_STE
    /// beyond the OAS), else its stage-2 translation (C_BAD_STE beyond the IAS).
    fn cd_fetch_address(
        &self,
        req: &Request,
        ste: &Ste,
        vmid: u16,
        addr: u64,
        cached: bool,
        generation: u64,
    ) -> Result<u64, Fault> {
        if beyond(addr, self.caps.oas_bits) {
            return Err(self.config_fault(req, EventId::BadSte));
        }
        if !ste.dw0.config().stage2() {
            return Ok(addr);
        }
        let s2 = S2Cfg {
            ste,
            vmid,
            slot: None,
        };
        let w = self.stage2(
            &self.mem,
            req,
            s2,
            addr,
            Access::READ,
            EventClass::Cd,
            cached,
            generation,
        )?;
        Ok(w.pa)
    }
}

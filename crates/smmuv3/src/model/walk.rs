//! The page walks of each stream configuration — bypass, stage 1, stage 2, nested — through
//! the one shared walker, and the event each walk failure raises at its stage.

use softiommu_mem::AddressSpace;
use softiommu_pgtable::formats::arm_s1::ArmS1Config;
use softiommu_pgtable::{Access, FaultKind, Format, Perm, WalkFault, walk};

use super::ModelCaps;
use super::context::{Ctx, Kind};
use super::formats::Got;
use super::nested::{S2Trace, S2View};
use super::tlb::{Class, TlbEntry};
use super::translate::{
    Fault, Request, RequestKind, StageFault, TranslationUnit, Walked, pan_refuses, recorded, silent,
};
use crate::cd::Cd;
use crate::event::{EventClass, EventId};
use crate::ste::{Eats, Ste, beyond};

/// Stage-1 AP\[2\]: read-only (clear once a DBM page is written).
pub(super) const S1_AP_RDONLY: u64 = 1 << 7;
/// Stage-2 S2AP\[1\]: writable (set once a DBM page is written).
const S2_AP_WRITE: u64 = 1 << 7;
/// Stage-1 nG: the leaf is tagged by ASID.
pub(super) const S1_NG: u64 = 1 << 11;

/// What a stage-2 walk needs: the STE, its VMID, and the slot of its format when the
/// context keeps one.
#[derive(Clone, Copy)]
pub(super) struct S2Cfg<'a> {
    pub ste: &'a Ste,
    pub vmid: u16,
    pub slot: Option<u8>,
}

/// The stage-1 format configuration of the TTB1 (`high`) or TTB0 half of `cd`; `None` for
/// a reserved granule.
pub(super) fn s1_config(cd: &Cd, high: bool, caps: &ModelCaps) -> Option<ArmS1Config> {
    let d = cd.dw0;
    let (txsz, granule) = if high {
        (d.t1sz(), cd.granule1()?)
    } else {
        (d.t0sz(), cd.granule0()?)
    };
    Some(ArmS1Config {
        granule,
        ia_bits: 64u8.saturating_sub(txsz).min(63),
        oa_bits: cd.ips_bits(caps).min(48),
        ha: d.ha(),
        hd: d.ha() && d.hd(),
    })
}

/// A stage-1 translation.
pub(super) struct S1Walk {
    /// Output address (an IPA when stage 2 follows).
    pub out: u64,
    pub shift: u8,
    pub perm: Perm,
    pub level: u8,
    pub dirty: bool,
    pub global: bool,
    /// The input the walk translated (top byte sign-extended under TBI).
    pub va: u64,
}

/// A stage-2 translation.
pub(super) struct S2Walk {
    pub pa: u64,
    pub shift: u8,
    pub perm: Perm,
    pub dirty: bool,
    pub level: u8,
}

/// The mask that aligns a table base to its start-level table: bits below the table's size
/// are taken as zero.
#[inline(always)]
pub(super) fn root_mask<F: Format>(fmt: &F) -> u64 {
    let bytes = fmt.geometry().levels()[0].entries() as u64 * 8;
    !(bytes.max(8) - 1)
}

/// The rights stage 1 grants once the CD's controls apply: VMSAv8-64 never lets privileged
/// requests execute from user-writable pages, and WXN makes writable pages non-executable.
pub(super) fn s1_rights(perm: Perm, wxn: bool) -> Perm {
    let mut b = perm.bits();
    let (uw, pw) = (perm.contains(Perm::UW), perm.contains(Perm::PW));
    if uw {
        b &= !Perm::PX.bits();
    }
    if wxn {
        if uw {
            b &= !Perm::UX.bits();
        }
        if pw {
            b &= !Perm::PX.bits();
        }
    }
    Perm::from_bits(b)
}

/// The event of a walk stopped by `kind` (F_WALK_EABT for a failed fetch or update).
fn walk_event(kind: FaultKind) -> EventId {
    match kind {
        FaultKind::Input | FaultKind::Translation | FaultKind::Reserved => EventId::Translation,
        FaultKind::AccessFlag => EventId::Access,
        FaultKind::Permission => EventId::Permission,
        FaultKind::AddressSize => EventId::AddrSize,
        FaultKind::Fetch(_) | FaultKind::Update => EventId::WalkEabt,
    }
}

/// The result of a stage-1 (or combined nested) translation of `addr`: output `pa` in a page of
/// 2^`shift` bytes with rights `perm`, cached (when `cached`) with the context's VMID, ASID,
/// PAN and TBI and the stage-1 leaf's level and nG.
#[allow(clippy::too_many_arguments)]
fn s1_walked(
    ctx: &Ctx,
    s1: &S1Walk,
    addr: u64,
    pa: u64,
    shift: u8,
    perm: Perm,
    dirty: bool,
    cached: bool,
) -> Walked {
    let d = ctx.cd().dw0;
    let entry = TlbEntry {
        out: pa & !((1u64 << shift) - 1),
        shift,
        perm,
        dirty,
        global: s1.global,
        level: s1.level,
        device: false,
        pan: d.pan(),
        tbi: s1.va != addr,
        class: Class::S1,
        vmid: ctx.vmid,
        asid: ctx.asid,
    };
    Walked {
        pa,
        shift,
        perm,
        fill: cached.then_some(entry),
    }
}

/// A translation cached for a stream as it is: bypass (4 KiB identity pages), or a
/// stage-2-only translation.
fn plain_walked(class: Class, vmid: u16, w: Walked, level: u8, cached: bool) -> Walked {
    let entry = TlbEntry {
        out: w.pa & !((1u64 << w.shift) - 1),
        shift: w.shift,
        perm: w.perm,
        dirty: true,
        global: false,
        level,
        device: false,
        pan: false,
        tbi: false,
        class,
        vmid,
        asid: 0,
    };
    Walked {
        fill: cached.then_some(entry),
        ..w
    }
}

impl<M: AddressSpace> TranslationUnit<M> {
    /// The whole walk for `req` (no TLB look-up): the translation and the TLB entry it may
    /// leave, the page tables read (and their Access/dirty flags updated) through `mem` — the
    /// engine's memory, or a dry run of it. Configuration and stage-2 translations it reads
    /// on the way are cached when `cached`.
    pub(super) fn walk<A: AddressSpace + ?Sized>(
        &self,
        mem: &A,
        req: Request,
        cached: bool,
        generation: u64,
    ) -> Result<Walked, Fault> {
        let ctx = self.resolve(&req, cached, generation)?;
        self.walk_context(mem, req, &ctx, cached, generation)
    }

    /// The page walk for `req` once its context is known, through `mem`.
    pub(super) fn walk_context<A: AddressSpace + ?Sized>(
        &self,
        mem: &A,
        req: Request,
        ctx: &Ctx,
        cached: bool,
        generation: u64,
    ) -> Result<Walked, Fault> {
        let mut split = false;
        if req.kind == RequestKind::TranslationRequest && ctx.kind != Kind::Abort {
            match ctx.ste().effective_eats(&self.caps) {
                Eats::Full => {}
                Eats::Split if self.ats_checking() => split = true,
                _ => return Err(recorded(self.event(&req, EventId::BadAtsTreq))),
            }
        }
        match ctx.kind {
            Kind::Abort => Err(silent()),
            Kind::Bypass => {
                self.check_bypass(&req)?;
                let w = Walked {
                    pa: req.addr,
                    shift: 12,
                    perm: Perm::ALL,
                    fill: None,
                };
                Ok(plain_walked(Class::Bypass, 0, w, 3, cached))
            }
            Kind::S1 => {
                let s1 = self.stage1(&req, ctx, mem, None)?;
                let (out, shift, perm, dirty) = (s1.out, s1.shift, s1.perm, s1.dirty);
                Ok(s1_walked(
                    ctx, &s1, req.addr, out, shift, perm, dirty, cached,
                ))
            }
            Kind::S2 => {
                self.check_bypass(&req)?;
                if split {
                    // Stage 1 bypasses: its output is the input.
                    return Ok(Walked {
                        pa: req.addr,
                        shift: 12,
                        perm: Perm::ALL,
                        fill: None,
                    });
                }
                let ste = ctx.ste();
                let s2c = ctx.s2cfg(&ste);
                let (w, level) = self.stage2_input(mem, &req, s2c, cached, generation)?;
                Ok(plain_walked(Class::S2, ctx.vmid, w, level, cached))
            }
            Kind::Nested => self.nested(mem, &req, ctx, split, cached, generation),
        }
    }

    /// A stage-1 Address Size fault when stage 1 bypasses an input beyond the IAS (the OAS
    /// when stage 2 bypasses too; they are equal here).
    fn check_bypass(&self, req: &Request) -> Result<(), Fault> {
        if beyond(req.addr, self.caps.ias_bits()) {
            let sf = StageFault::new(EventId::AddrSize, false, EventClass::In);
            return Err(self.stage_fault(req, sf, None, (true, false)));
        }
        Ok(())
    }

    /// Stage 1 over stage 2: every stage-1 table access through stage 2 (CLASS=TT), then the
    /// stage-1 output (CLASS=IN). With `split` (split-stage ATS), the stage-1 output.
    fn nested<A: AddressSpace + ?Sized>(
        &self,
        mem: &A,
        req: &Request,
        ctx: &Ctx,
        split: bool,
        cached: bool,
        generation: u64,
    ) -> Result<Walked, Fault> {
        let view = S2View::new(self, mem, req, ctx, cached, generation);
        let s1 = self.stage1(req, ctx, &view.space(), Some(view.trace()))?;
        if split {
            return Ok(Walked {
                pa: s1.out,
                shift: s1.shift,
                perm: s1.perm,
                fill: None,
            });
        }
        let ste = ctx.ste();
        let s2c = ctx.s2cfg(&ste);
        let s2 = self.stage2(
            mem,
            req,
            s2c,
            s1.out,
            req.access,
            EventClass::In,
            cached,
            generation,
        )?;
        let shift = s1.shift.min(s2.shift);
        let dirty = s1.dirty && s2.dirty;
        let perm = s1.perm & s2.perm;
        Ok(s1_walked(
            ctx, &s1, req.addr, s2.pa, shift, perm, dirty, cached,
        ))
    }

    /// Stage 2 alone for the request's address, an IPA: stage 1 bypassed, or a Translated
    /// request under split-stage ATS. The stage-2 entry is the TLB entry.
    pub(super) fn stage2_input<A: AddressSpace + ?Sized>(
        &self,
        mem: &A,
        req: &Request,
        s2c: S2Cfg<'_>,
        cached: bool,
        generation: u64,
    ) -> Result<(Walked, u8), Fault> {
        let w = self.stage2(
            mem,
            req,
            s2c,
            req.addr,
            req.access,
            EventClass::In,
            cached,
            generation,
        )?;
        let walked = Walked {
            pa: w.pa,
            shift: w.shift,
            perm: w.perm,
            fill: None,
        };
        Ok((walked, w.level))
    }

    /// The stage-1 walk of `ctx`'s CD for `req`, reading tables from `mem` (physical memory,
    /// or the stage-2 `view` of it): TTB0 or TTB1 by VA\[55\], the range, TBI and EPD checks,
    /// the walk, then the CD's permission controls (WXN, PAN).
    pub(super) fn stage1<A: AddressSpace + ?Sized>(
        &self,
        req: &Request,
        ctx: &Ctx,
        mem: &A,
        view: Option<&S2Trace>,
    ) -> Result<S1Walk, Fault> {
        let cd = &ctx.cd();
        let d = cd.dw0;
        // STE.S2R and S2S, read only when a fault needs them.
        let s2 = || (ctx.ste().dw2.s2r(), ctx.ste().dw2.s2s());
        let fault = |id: EventId| {
            let sf = StageFault::new(id, false, EventClass::In);
            self.stage_fault(req, sf, Some(cd), s2())
        };
        let high = req.addr >> 55 & 1 != 0;
        let (epd, txsz, ttb) = if high {
            (d.epd1(), d.t1sz(), cd.ttb1())
        } else {
            (d.epd0(), d.t0sz(), cd.ttb0())
        };
        if epd {
            return Err(fault(EventId::Translation));
        }
        let va = ctx.s1_input(req.addr);
        let n = 64u8.saturating_sub(txsz).min(63);
        let outside = if high { !va } else { va };
        if outside >> n != 0 {
            return Err(fault(EventId::Translation));
        }
        let kept = ctx
            .s1_slot()
            .filter(|_| !high)
            .and_then(|i| Some(Got::Shared(self.formats.s1_at(i)?, i)));
        let fmt = match kept {
            Some(f) => Some(f),
            None => s1_config(cd, high, &self.caps).and_then(|c| self.formats.s1(c, d.affd())),
        };
        let Some(fmt) = fmt else {
            return Err(self.config_fault(req, EventId::BadCd));
        };
        let root = ttb & root_mask(&*fmt);
        let input = va & ((1u64 << n) - 1);
        let t = fmt
            .fmt
            .translate(mem, root, input, req.access, fmt.affd)
            .map_err(|f| self.s1_fault(req, cd, s2(), f, view))?;
        let perm = s1_rights(t.perm, d.wxn());
        if !perm.allows(req.access) || pan_refuses(d.pan(), req.access, perm) {
            return Err(fault(EventId::Permission));
        }
        let shift = t.page_size.trailing_zeros() as u8;
        Ok(S1Walk {
            out: t.pa,
            shift,
            perm,
            level: fmt.fmt.start_level() + t.level as u8,
            dirty: req.access.write || t.pte & S1_AP_RDONLY == 0,
            global: t.pte & S1_NG == 0,
            va,
        })
    }

    /// The event of a failed stage-1 walk: the stage-2 fault the `view` met translating a
    /// table address, or an F_WALK_EABT (CLASS=TT) for the physical fetch, or the stage-1
    /// fault (CLASS=IN).
    #[cold]
    #[inline(never)]
    fn s1_fault(
        &self,
        req: &Request,
        cd: &Cd,
        s2: (bool, bool),
        f: WalkFault,
        view: Option<&S2Trace>,
    ) -> Fault {
        let mut sf = StageFault::new(walk_event(f.kind), false, EventClass::In);
        if sf.id == EventId::WalkEabt {
            if let Some(fault) = view.and_then(|v| v.fault()) {
                return fault;
            }
            sf.class = EventClass::Tt;
            sf.fetch_addr = view.map_or(f.entry, |v| v.last_pa());
        }
        self.stage_fault(req, sf, Some(cd), s2)
    }

    /// Stage 2 of `ste` for `ipa` (what `class` says it is): for a CD or table address,
    /// from the TLB's stage-2 walk entries when `cached`, else walked (and kept). With S2PTW, a CD fetch or stage-1 table
    /// access to Device memory is a stage-2 Permission fault.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stage2<A: AddressSpace + ?Sized>(
        &self,
        mem: &A,
        req: &Request,
        s2c: S2Cfg<'_>,
        ipa: u64,
        access: Access,
        class: EventClass,
        cached: bool,
        generation: u64,
    ) -> Result<S2Walk, Fault> {
        let (ste, vmid) = (s2c.ste, s2c.vmid);
        let ptw = class != EventClass::In && ste.dw2.s2ptw();
        // The stage-2 translations of the tables a walk reads are kept for later walks; that
        // of the input or of the stage-1 output is part of the stream's TLB entry.
        let cached = cached && class != EventClass::In;
        if cached
            && let Some(h) = self.caches.walk_tlb(vmid, ipa)
            && h.perm().allows(access)
            && (h.dirty() || !access.write)
            && !(ptw && h.device())
        {
            let size = 1u64 << h.shift;
            return Ok(S2Walk {
                pa: h.out() | (ipa & (size - 1)),
                shift: h.shift,
                perm: h.perm(),
                dirty: h.dirty(),
                level: h.level(),
            });
        }
        let s2 = (ste.dw2.s2r(), ste.dw2.s2s());
        let fault = |id: EventId, fetch_addr: u64| {
            let sf = StageFault {
                ipa,
                fetch_addr,
                tt_read: class == EventClass::Tt && !access.write,
                ..StageFault::new(id, true, class)
            };
            self.stage_fault(req, sf, None, s2)
        };
        let kept = s2c
            .slot
            .and_then(|i| Some(Got::Shared(self.formats.s2_at(i)?, i)));
        let fmt = match kept {
            Some(f) => Some(f),
            None => ste
                .s2_config(&self.caps)
                .and_then(|c| self.formats.s2(c, ste.dw2.s2affd())),
        };
        let Some(fmt) = fmt else {
            return Err(self.config_fault(req, EventId::BadSte));
        };
        let cfg = *fmt.fmt.config();
        let root = ste.s2ttb() & root_mask(&*fmt);
        let t = walk::translate(&*fmt, mem, root, ipa, access).map_err(|f| {
            let id = walk_event(f.kind);
            fault(id, if id == EventId::WalkEabt { f.entry } else { 0 })
        })?;
        // MemAttr[3:2] (descriptor bits 5:4) = 00: Device memory.
        let device = (t.pte >> 4) & 3 == 0;
        if ptw && device {
            return Err(fault(EventId::Permission, 0));
        }
        let shift = t.page_size.trailing_zeros() as u8;
        let w = S2Walk {
            pa: t.pa,
            shift,
            perm: t.perm,
            dirty: access.write || t.pte & S2_AP_WRITE != 0,
            level: cfg.start_level + t.level as u8,
        };
        if cached {
            let size = 1u64 << shift;
            let entry = TlbEntry {
                out: t.pa & !(size - 1),
                shift,
                perm: t.perm,
                dirty: w.dirty,
                global: false,
                level: w.level,
                device,
                pan: false,
                tbi: false,
                class: Class::Walk,
                vmid,
                asid: 0,
            };
            self.caches.fill_walk_tlb(vmid, ipa, &entry, generation);
        }
        Ok(w)
    }
}

//! One request through the unit: root entry, context entry, PASID directory and PASID entry,
//! then the page walk its PGTT names — each step cached and each failure the fault reason the
//! specification gives it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use softiommu_devices::bus::lengthen_run;
use softiommu_mem::{AddressSpace, DryRun};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::stale::StaleLog;
use softiommu_pgtable::walk;
use softiommu_pgtable::{Access, FaultKind, Perm};

use super::caches::{Caches, Class, IotlbEntry, Steer};
use super::nested::SecondStageView;
use crate::fault::FaultReason;
use crate::structs::{
    ContextEntry, PasidDirEntry, PasidEntry, Pgtt, ScalableRootEntry, StructCaps,
    pasid_entry_address, root_entry_address,
};

/// The interrupt address range an untranslated request's output may not reach.
const INTERRUPT_RANGE: std::ops::Range<u64> = 0xfee0_0000..0xfef0_0000;

/// Capabilities the translation engine needs beyond those the structure checks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelCaps {
    /// The structure checks' capabilities (HAW, MGAW, SAGAW, stages, PASID width...).
    pub structs: StructCaps,
    /// First-stage 1 GiB pages (CAP.FS1GP).
    pub fs1gp: bool,
    /// Second-stage 2 MiB pages (CAP.SSLPS bit 0).
    pub ss_2m: bool,
    /// Second-stage 1 GiB pages (CAP.SSLPS bit 1).
    pub ss_1g: bool,
}

/// One DMA request as it reaches the unit (untranslated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Source ID (bus << 8 | devfn).
    pub sid: u16,
    /// PASID, for a request with one.
    pub pasid: Option<u32>,
    /// Input address.
    pub addr: u64,
    /// Read or write, data or instruction, user or supervisor.
    pub access: Access,
}

/// A translated request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translated {
    /// Output address.
    pub pa: u64,
    /// Bytes from `pa` to the end of the page the translation holds for: the page of the
    /// IOTLB entry it came from or makes (4 KiB, or a 2 MiB or 1 GiB superpage the walk
    /// found), or 4 KiB for a request that passes untranslated.
    pub len: u64,
    /// Rights of the translation.
    pub perm: Perm,
}

/// A request the unit refused: the fault it records (unless fault processing is disabled for
/// it) and the device sees as an abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Why.
    pub reason: FaultReason,
    /// The request.
    pub request: Request,
    /// Whether the fault is to be recorded (false when FPD suppresses a qualified fault).
    pub record: bool,
}

/// An IOTLB hit that a fresh walk contradicts: the driver changed the tables without the
/// invalidation the specification requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleTranslation {
    /// The request.
    pub request: Request,
    /// Domain of the cached entry.
    pub did: u16,
    /// What the IOTLB answered: output address.
    pub cached: u64,
    /// What the tables say now: an output address or a fault reason.
    pub fresh: Result<u64, FaultReason>,
    /// The tables lost an Accessed or Dirty flag the cached entry took as set: a fresh walk
    /// would have to set it again (software cleared it without invalidating).
    pub flags_cleared: bool,
}

/// What a walk found: the translation and the tags of its IOTLB entry.
pub(super) struct Walked {
    /// The translation, `len` running to the end of the entry's page.
    pub(super) t: Translated,
    /// log2 of the size of the page the IOTLB entry may cover: 12, 21 or 30.
    shift: u8,
    did: u16,
    class: Class,
    pasid: u32,
    /// A write must walk to set a Dirty flag (first stage, nested, or second stage with
    /// SSADE): an entry a read filled may not answer a write.
    tracked: bool,
}

/// `mode` bit: translation is enabled (GCMD.TE).
const ENABLED: u8 = 1;
/// `mode` bit: the checking mode is on.
const CHECKING: u8 = 2;
/// `mode` bit: hits and walks are counted.
pub(super) const COUNTING: u8 = 4;

/// The translation engine of one unit: its view of memory, its caches and the structures
/// software pointed it at.
pub struct TranslationUnit<M: AddressSpace = Arc<dyn AddressSpace>> {
    pub(super) caps: ModelCaps,
    pub(super) mem: M,
    caches: Caches,
    root: AtomicU64,
    /// [`ENABLED`], [`CHECKING`] and [`COUNTING`]: one load tells a request whether the plain IOTLB path
    /// applies.
    mode: AtomicU8,
    /// Second-stage formats by (levels - 3, SSADE).
    ss: [[VtdSs; 2]; 3],
    /// First-stage formats by (FSPM, WPE).
    fs: [[X86; 2]; 2],
    stale: StaleLog<StaleTranslation>,
    /// Hit and walk counters (see `stats.rs`).
    pub(super) counters: super::stats::HitCounters,
}

impl<M: AddressSpace> std::fmt::Debug for TranslationUnit<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranslationUnit")
            .field("root", &self.root.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The fault reason of a second-stage walk failure at `level` (0 = the root table).
pub(super) fn ss_reason(kind: FaultKind, level: usize, write: bool) -> FaultReason {
    match kind {
        FaultKind::Input | FaultKind::AddressSize => FaultReason::Sgn5,
        FaultKind::Translation => FaultReason::Sss2,
        FaultKind::Reserved => FaultReason::Sss3,
        FaultKind::Permission if write => FaultReason::Sgn6,
        FaultKind::Permission | FaultKind::AccessFlag => FaultReason::Sgn7,
        FaultKind::Fetch(_) if level == 0 => FaultReason::Sss4,
        FaultKind::Fetch(_) => FaultReason::Sss1,
        FaultKind::Update => FaultReason::Sss6,
    }
}

fn fs_reason(kind: FaultKind, level: usize) -> FaultReason {
    match kind {
        FaultKind::Input => FaultReason::Sgn1,
        FaultKind::AddressSize => FaultReason::Sfs3,
        FaultKind::Translation => FaultReason::Sfs2,
        FaultKind::Reserved => FaultReason::Sfs3,
        FaultKind::Permission | FaultKind::AccessFlag => FaultReason::Sgn6,
        FaultKind::Fetch(_) if level == 0 => FaultReason::Sfs4,
        FaultKind::Fetch(_) => FaultReason::Sfs1,
        FaultKind::Update => FaultReason::Sfs10,
    }
}

impl<M: AddressSpace> TranslationUnit<M> {
    /// An engine walking `mem` with capabilities `caps`; `None` when the capabilities name
    /// no table format the engine can walk.
    pub fn new(caps: ModelCaps, mem: M) -> Option<TranslationUnit<M>> {
        let s = caps.structs;
        let ss = |levels: u8, ad: bool| -> Option<VtdSs> {
            VtdSs::new(VtdSsConfig {
                levels,
                haw: s.haw,
                pages_2m: caps.ss_2m,
                pages_1g: caps.ss_1g && caps.ss_2m,
                snoop_ctl: s.sc,
                ad,
            })
            .ok()
        };
        let fs = |levels: u8, wpe: bool| -> Option<X86> {
            X86::new(X86Config {
                levels,
                haw: s.haw,
                pages_1g: caps.fs1gp,
                wpe,
                dirty_tracking: true,
            })
            .ok()
        };
        Some(TranslationUnit {
            caps,
            mem,
            caches: Caches::default(),
            root: AtomicU64::new(0),
            mode: AtomicU8::new(0),
            ss: [
                [ss(3, false)?, ss(3, true)?],
                [ss(4, false)?, ss(4, true)?],
                [ss(5, false)?, ss(5, true)?],
            ],
            fs: [[fs(4, false)?, fs(4, true)?], [fs(5, false)?, fs(5, true)?]],
            stale: StaleLog::new(),
            counters: super::stats::HitCounters::default(),
        })
    }

    /// The caches, for invalidation.
    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    /// Latches the scalable-mode root table (SRTP) and, as ESRTPS says, drops every cached
    /// translation.
    pub fn set_root_table(&self, rta: u64) {
        self.root.store(rta & !0xfff, Ordering::Release);
        self.caches.invalidate_context(None);
        self.caches.invalidate_pasid(None, None);
        self.caches.invalidate_iotlb(super::IotlbScope::Global);
    }

    /// Turns translation on or off (GCMD.TE). Off, requests pass untranslated.
    pub fn enable(&self, on: bool) {
        self.set_mode(ENABLED, on);
        if !on {
            self.caches.invalidate_iotlb(super::IotlbScope::Global);
        }
    }

    /// Turns the checking mode on or off: every IOTLB hit is compared with a fresh walk.
    pub fn set_checking(&self, on: bool) {
        self.stale.set_enabled(on);
        self.set_mode(CHECKING, on);
    }

    /// Sets or clears `bit` of the mode byte the hit path reads.
    pub(super) fn set_mode(&self, bit: u8, on: bool) {
        if on {
            self.mode.fetch_or(bit, Ordering::AcqRel);
        } else {
            self.mode.fetch_and(!bit, Ordering::AcqRel);
        }
        // After the change: a hit recorded under the old mode is then left behind.
        self.caches.advance_iotlb_epoch();
    }

    /// How many stale hits the checking mode has found.
    pub fn stale_count(&self) -> u64 {
        self.stale.count()
    }

    /// The stale hits found (the first `softiommu_pgtable::stale::KEPT`).
    pub fn stale_reports(&self) -> Vec<StaleTranslation> {
        self.stale.reports()
    }

    /// Translates one request.
    #[inline(always)]
    pub fn translate(&self, req: Request) -> Result<Translated, Fault> {
        match self.translate_hit(req) {
            Some(t) => Ok(t),
            None => self.translate_other(req),
        }
    }

    /// The IOTLB's epoch, which moves when an entry leaves the IOTLB and when translation,
    /// the checking mode or counting is turned on or off: for as long as it reads the same,
    /// a request that was a plain hit (see [`translate_hit`](Self::translate_hit)) is
    /// answered the same again.
    #[inline(always)]
    pub fn hit_epoch(&self) -> softiommu_pgtable::tlb::Epoch {
        self.caches.iotlb_epoch()
    }

    /// The translation of `req` when it is a plain IOTLB hit: translation on, the checking
    /// mode and counting off, an entry that serves the access; nothing is walked, recorded
    /// or counted. `None` leaves the request to [`translate`](Self::translate).
    #[inline(always)]
    pub fn translate_hit(&self, req: Request) -> Option<Translated> {
        if self.mode.load(Ordering::Acquire) != ENABLED || (req.access.exec && req.pasid.is_some())
        {
            return None;
        }
        let (pa, len, perm) = self
            .caches
            .iotlb_hit(req.sid, req.pasid, req.addr, req.access)?;
        Some(Translated { pa, len, perm })
    }

    /// Translates a request that [`translate_hit`](Self::translate_hit) did not answer: an
    /// IOTLB miss, or a request while translation is off or the checking mode or counting is
    /// on.
    #[inline(never)]
    pub(crate) fn translate_other(&self, req: Request) -> Result<Translated, Fault> {
        if self.mode.load(Ordering::Acquire) != ENABLED || (req.access.exec && req.pasid.is_some())
        {
            return self.translate_unusual(req);
        }
        self.miss(req)
    }

    /// Translation `t` of `req` lengthened over the pages after it that hit in the IOTLB for
    /// the same access with the same rights and follow it physically, until it covers `want`
    /// bytes: what separate requests for those pages would each be given, each hit checked
    /// and counted as theirs would be. A page that does not hit ends the run, for a request
    /// of its own to walk (or fault on). Each hit adds the rest of its entry's page: one
    /// superpage entry adds up to 2 MiB or 1 GiB.
    #[inline]
    pub fn extend_hits(&self, req: Request, mut t: Translated, want: u64) -> Translated {
        if t.len >= want {
            return t;
        }
        let mode = self.mode.load(Ordering::Acquire);
        if mode & ENABLED == 0 || (req.access.exec && req.pasid.is_some()) {
            return t;
        }
        t.len = lengthen_run(req.addr, t.pa, t.len, want, |addr| {
            let hit = if mode == ENABLED {
                self.caches.iotlb_hit(req.sid, req.pasid, addr, req.access)
            } else {
                self.hit(Request { addr, ..req })
                    .map(|h| (h.pa, h.len, h.perm))
            };
            hit.filter(|&(_, _, perm)| perm == t.perm)
                .map(|(pa, len, _)| (pa, len))
        });
        t
    }

    /// A request while translation is off (it passes untranslated) or the checking mode is on
    /// (an IOTLB hit is compared with a fresh walk).
    #[cold]
    #[inline(never)]
    fn translate_unusual(&self, req: Request) -> Result<Translated, Fault> {
        if self.mode.load(Ordering::Acquire) & ENABLED == 0 {
            return Ok(Translated {
                pa: req.addr,
                len: 0x1000 - (req.addr & 0xfff),
                perm: Perm::ALL,
            });
        }
        if req.access.exec && req.pasid.is_some() {
            return Err(self.execute_refused(req));
        }
        if let Some(t) = self.hit(req) {
            return Ok(t);
        }
        self.miss(req)
    }

    /// The request answered from the IOTLB, compared with a fresh walk in checking mode and
    /// counted.
    fn hit(&self, req: Request) -> Option<Translated> {
        let e = self
            .caches
            .iotlb(req.sid, req.pasid, req.access.privileged, req.addr)?;
        if !e.perm.allows(req.access) || (!e.dirty && req.access.write) {
            return None;
        }
        let off = req.addr & ((1u64 << e.shift) - 1);
        if self.stale.enabled() {
            self.check_hit(req, &e);
        }
        self.counters.hit();
        Some(Translated {
            pa: e.pa | off,
            len: (1u64 << e.shift) - off,
            perm: e.perm,
        })
    }

    /// An IOTLB miss: the walk, through the structure caches, and the IOTLB fill.
    #[inline]
    fn miss(&self, req: Request) -> Result<Translated, Fault> {
        self.counters.walk();
        let generation = self.caches.generation();
        let Walked {
            t,
            shift,
            did,
            class,
            pasid,
            tracked,
        } = self.walk(&self.mem, req, true, generation)?;
        let page = IotlbEntry {
            pa: t.pa & !((1u64 << shift) - 1),
            perm: t.perm,
            did,
            class,
            dirty: req.access.write || !tracked,
            shift,
            pasid,
        };
        self.caches.fill_iotlb(
            req.sid,
            req.pasid,
            req.access.privileged,
            req.addr,
            &page,
            generation,
        );
        Ok(t)
    }

    fn check_hit(&self, req: Request, e: &IotlbEntry) {
        // The fresh walk leaves the tables as they are: the hit it checks set no flags.
        let dry = DryRun::new(&self.mem);
        let fresh = match self.walk(&dry, req, false, 0) {
            Ok(w) => Ok(w.t.pa),
            Err(f) => Err(f.reason),
        };
        let cached = e.pa | (req.addr & ((1u64 << e.shift) - 1));
        if fresh != Ok(cached) || dry.wrote() {
            self.stale.report(StaleTranslation {
                request: req,
                did: e.did,
                cached,
                fresh,
                flags_cleared: dry.wrote(),
            });
        }
    }

    #[cold]
    pub(super) fn fault(&self, req: Request, reason: FaultReason, fpd: bool) -> Fault {
        Fault {
            reason,
            request: req,
            record: !(fpd && reason.qualified()),
        }
    }

    /// The root and context entries of the request's source, through the context cache when
    /// `cached`.
    pub(super) fn context(
        &self,
        req: Request,
        cached: bool,
        generation: u64,
    ) -> Result<ContextEntry, Fault> {
        let caps = &self.caps.structs;
        let sid = req.sid;
        Ok(match self.caches.context(sid).filter(|_| cached) {
            Some(c) => c,
            None => {
                let rta = self.root.load(Ordering::Acquire);
                let bus = (sid >> 8) as u8;
                let root = ScalableRootEntry::read(&self.mem, root_entry_address(rta, bus))
                    .map_err(|_| self.fault(req, FaultReason::Srt1, false))?;
                root.check(caps).map_err(|r| self.fault(req, r, false))?;
                let at = root
                    .lookup(sid as u8, caps)
                    .map_err(|r| self.fault(req, r, false))?;
                let c = ContextEntry::read(&self.mem, at)
                    .map_err(|_| self.fault(req, FaultReason::Sct1, false))?;
                if let Err(r) = c.check(caps) {
                    return Err(self.fault(req, r, c.qw0.fpd()));
                }
                if cached {
                    self.caches.fill_context(sid, &c, generation);
                }
                c
            }
        })
    }

    /// The structure walk to the PASID entry, through the steer cache (then the context and
    /// PASID caches) when `cached`.
    #[inline(always)]
    pub(super) fn steer(
        &self,
        req: Request,
        cached: bool,
        generation: u64,
    ) -> Result<Steer, Fault> {
        if !cached {
            return self.steer_walk(req, false, generation);
        }
        if let Some(st) = self.caches.steer(req.sid, req.pasid) {
            return Ok(st);
        }
        let st = self.steer_walk(req, true, generation)?;
        self.caches.fill_steer(req.sid, req.pasid, &st, generation);
        Ok(st)
    }

    /// The structure walk to the PASID entry, through the context and PASID caches when
    /// `cached`.
    #[inline(never)]
    fn steer_walk(&self, req: Request, cached: bool, generation: u64) -> Result<Steer, Fault> {
        let caps = &self.caps.structs;
        let sid = req.sid;
        let ctx = self.context(req, cached, generation)?;
        let mut fpd = ctx.qw0.fpd();
        let rid_pasid = ctx.effective_rid_pasid(caps);
        let pasid = match req.pasid {
            Some(p) => {
                if !ctx.qw0.paside() {
                    return Err(self.fault(req, FaultReason::Sct6, fpd));
                }
                if p == rid_pasid {
                    return Err(self.fault(req, FaultReason::Sct9, fpd));
                }
                p
            }
            None => rid_pasid,
        };
        let entry = match self.caches.pasid(sid, pasid).filter(|_| cached) {
            Some(e) => e,
            None => {
                let dir_at = ctx
                    .pasid_dir_entry_address(pasid, caps)
                    .map_err(|r| self.fault(req, r, fpd))?;
                let dir = PasidDirEntry::read(&self.mem, dir_at)
                    .map_err(|_| self.fault(req, FaultReason::Spd1, fpd))?;
                fpd |= dir.fpd();
                dir.check(caps).map_err(|r| self.fault(req, r, fpd))?;
                let e = PasidEntry::read(&self.mem, pasid_entry_address(&dir, pasid))
                    .map_err(|_| self.fault(req, FaultReason::Spt1, fpd))?;
                if let Err(r) = e.check(caps) {
                    return Err(self.fault(req, r, fpd || e.qw0.fpd()));
                }
                if cached {
                    self.caches.fill_pasid(sid, pasid, &e, generation);
                }
                e
            }
        };
        Ok(Steer {
            pasid,
            entry,
            fpd: fpd || entry.qw0.fpd(),
        })
    }

    fn ss_format(&self, e: &PasidEntry) -> Option<&VtdSs> {
        let levels = e.ss_levels()?;
        Some(&self.ss[usize::from(levels - 3)][usize::from(e.qw0.ssade())])
    }

    fn fs_format(&self, e: &PasidEntry) -> &X86 {
        let five = matches!(e.qw2.fspm(), crate::structs::Fspm::FiveLevel);
        &self.fs[usize::from(five)][usize::from(e.qw2.wpe())]
    }

    /// The whole walk (no IOTLB): the translation, the domain and the class it belongs to.
    #[inline(always)]
    pub(super) fn walk<A: AddressSpace + ?Sized>(
        &self,
        mem: &A,
        req: Request,
        cached: bool,
        generation: u64,
    ) -> Result<Walked, Fault> {
        let st = self.steer(req, cached, generation)?;
        let e = &st.entry;
        if req.access.privileged && !e.qw2.sre() {
            return Err(self.fault(req, FaultReason::Spt6, st.fpd));
        }
        let pgtt = e.qw0.pgtt();
        let t = if matches!(pgtt, Pgtt::SecondStage) {
            self.second_stage(mem, req, e)
        } else {
            self.other_stage(mem, req, e)
        };
        let (mut t, mut shift) = t.map_err(|r| self.fault(req, r, st.fpd))?;
        if INTERRUPT_RANGE.contains(&t.pa) {
            return Err(self.fault(req, FaultReason::Sgn8, st.fpd));
        }
        let mask = (1u64 << shift) - 1;
        if shift > 12 && t.pa & !mask < INTERRUPT_RANGE.end && INTERRUPT_RANGE.start <= t.pa | mask
        {
            // A superpage whose output holds interrupt addresses is cached a page at a time:
            // a request for one of them must still fault.
            shift = 12;
        }
        t.len = (1u64 << shift) - (t.pa & ((1u64 << shift) - 1));
        Ok(Walked {
            t,
            shift,
            did: e.qw1.did(),
            class: pgtt.class(),
            pasid: st.pasid,
            tracked: match pgtt {
                Pgtt::PassThrough => false,
                Pgtt::SecondStage => e.qw0.ssade(),
                _ => true,
            },
        })
    }

    /// The page walk of a second-stage PASID entry (PGTT 010): the translation and log2 of
    /// the size of the leaf's page.
    #[inline(always)]
    fn second_stage<A: AddressSpace + ?Sized>(
        &self,
        mem: &A,
        req: Request,
        e: &PasidEntry,
    ) -> Result<(Translated, u8), FaultReason> {
        let fmt = self.ss_format(e).ok_or(FaultReason::Spt4)?;
        let aw = 12 + 9 * u32::from(e.ss_levels().unwrap_or(4));
        let width = aw.min(u32::from(self.caps.structs.mgaw));
        if width < 64 && req.addr >> width != 0 {
            return Err(FaultReason::Sgn5);
        }
        let t = walk::translate(fmt, mem, e.ss_table(), req.addr, req.access)
            .map_err(|f| ss_reason(f.kind, f.level, req.access.write))?;
        Ok(translated(t.pa, t.perm, t.page_size))
    }

    /// The page walk of a pass-through, first-stage or nested PASID entry (PGTT 100, 001,
    /// 011), or the fault of a reserved PGTT: the translation and log2 of the size of the
    /// page it holds for (4 KiB for pass-through).
    #[inline(never)]
    fn other_stage<A: AddressSpace + ?Sized>(
        &self,
        mem: &A,
        req: Request,
        e: &PasidEntry,
    ) -> Result<(Translated, u8), FaultReason> {
        let caps = &self.caps.structs;
        match e.qw0.pgtt() {
            Pgtt::PassThrough => {
                if caps.haw < 64 && req.addr >> caps.haw != 0 {
                    return Err(FaultReason::Sgn4);
                }
                Ok(translated(req.addr, Perm::ALL, 0x1000))
            }
            Pgtt::SecondStage => self.second_stage(mem, req, e),
            Pgtt::FirstStage => {
                let fmt = self.fs_format(e);
                let t =
                    walk::translate(fmt, mem, e.fs_table(), req.addr, req.access).map_err(|f| {
                        self.fs_permission(mem, fmt, e.fs_table(), req, f.kind, f.level)
                    })?;
                Ok(translated(t.pa, t.perm, t.page_size))
            }
            Pgtt::Nested => self.nested(mem, req, e),
            Pgtt::Reserved(_) => Err(FaultReason::Spt4),
        }
    }

    /// Tells a first-stage U/S violation (SGN.2) from a write-permission one (SGN.6).
    fn fs_permission<A: AddressSpace + ?Sized>(
        &self,
        mem: &A,
        fmt: &X86,
        root: u64,
        req: Request,
        kind: FaultKind,
        level: usize,
    ) -> FaultReason {
        if kind != FaultKind::Permission {
            return fs_reason(kind, level);
        }
        let read = Access {
            write: false,
            exec: false,
            ..req.access
        };
        match walk::translate(fmt, mem, root, req.addr, read) {
            Err(f) if f.kind == FaultKind::Permission => FaultReason::Sgn2,
            _ => FaultReason::Sgn6,
        }
    }

    /// The nested walk: the first-stage table read through the second stage, then the
    /// second stage of its output. The translation holds for the smaller of the two leaves'
    /// pages (both are aligned to their sizes, so that page maps contiguously).
    fn nested<A: AddressSpace + ?Sized>(
        &self,
        mem: &A,
        req: Request,
        e: &PasidEntry,
    ) -> Result<(Translated, u8), FaultReason> {
        let ss = self.ss_format(e).ok_or(FaultReason::Spt4)?;
        let fs = self.fs_format(e);
        let view = SecondStageView {
            mem,
            ss,
            ss_root: e.ss_table(),
            mgaw: self.caps.structs.mgaw,
            fs_root: e.fs_table(),
            fault: AtomicU8::new(0),
        };
        let s1 =
            walk::translate(fs, &view.space(), e.fs_table(), req.addr, req.access).map_err(|f| {
                let code = view.fault.load(Ordering::Relaxed);
                FaultReason::from_code(code).unwrap_or_else(|| {
                    self.fs_permission(mem, fs, e.fs_table(), req, f.kind, f.level)
                })
            });
        let s1 = match s1 {
            Ok(t) => t,
            Err(FaultReason::Sgn2 | FaultReason::Sgn6) => {
                // A first-stage rights check cannot be redone outside the view: report it as
                // the first-stage permission fault it is.
                return Err(if req.access.write {
                    FaultReason::Sgn6
                } else {
                    FaultReason::Sgn2
                });
            }
            Err(r) => return Err(r),
        };
        let s2 = walk::translate(ss, mem, e.ss_table(), s1.pa, req.access)
            .map_err(|f| ss_reason(f.kind, f.level, req.access.write))?;
        Ok(translated(
            s2.pa,
            s1.perm & s2.perm,
            s1.page_size.min(s2.page_size),
        ))
    }
}

/// A translation to `pa` with rights `perm` from a leaf of `page_size` bytes, and log2 of the
/// IOTLB page size that holds it: the leaf's size when it is a 2 MiB or 1 GiB superpage, 4 KiB
/// otherwise.
fn translated(pa: u64, perm: Perm, page_size: u64) -> (Translated, u8) {
    let shift: u8 = match page_size {
        0x4000_0000 => 30,
        0x20_0000 => 21,
        _ => 12,
    };
    let t = Translated {
        pa,
        len: (1u64 << shift) - (pa & ((1u64 << shift) - 1)),
        perm,
    };
    (t, shift)
}

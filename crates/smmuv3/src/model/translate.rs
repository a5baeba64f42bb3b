//! One request through the SMMU: the TLB hit path, and on a miss the walk from the stream
//! table through the STE and CD to the page tables of the stages the STE enables, with the
//! event each failure raises.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use softiommu_devices::bus::lengthen_run;
use softiommu_mem::{AddressSpace, DryRun};
use softiommu_pgtable::counters::HitCounters;
use softiommu_pgtable::stale::StaleLog;
use softiommu_pgtable::{Access, Perm};

use super::caches::{Caches, InvalidationScope};
use super::formats::Formats;
use super::tlb::TlbEntry;
use super::{CapsError, ModelCaps};
use crate::cd::Cd;
use crate::event::{Event, EventClass, EventId};
use crate::ste::{StreamTable, beyond};

/// `mode` bit: translation is enabled (CR0.SMMUEN).
const ENABLED: u8 = 1;
/// `mode` bit: the checking mode is on.
const CHECKING: u8 = 2;
/// `mode` bit: TLB hits and walks are counted.
pub(super) const COUNTING: u8 = 4;

/// The checking mode of a [`TranslationUnit`]: the switch, and the stale hits it found.
#[derive(Debug, Clone, Copy)]
pub struct Checking<'a> {
    log: &'a StaleLog<StaleTranslation>,
    mode: &'a AtomicU8,
    caches: &'a Caches,
}

impl Checking<'_> {
    /// Turns checking on or off: on, every TLB hit is compared with a fresh walk.
    pub fn set_enabled(&self, on: bool) {
        self.log.set_enabled(on);
        if on {
            self.mode.fetch_or(CHECKING, Ordering::AcqRel);
        } else {
            self.mode.fetch_and(!CHECKING, Ordering::AcqRel);
        }
        // After the change: a hit recorded under the old mode is then left behind.
        self.caches.advance_tlb_epoch();
    }

    /// Whether checking is on.
    pub fn enabled(&self) -> bool {
        self.log.enabled()
    }

    /// How many stale hits were found.
    pub fn count(&self) -> u64 {
        self.log.count()
    }

    /// The first stale hits found, oldest first.
    pub fn reports(&self) -> Vec<StaleTranslation> {
        self.log.reports()
    }
}

/// How a request reaches the SMMU (PCIe ATS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RequestKind {
    /// An ordinary (untranslated) transaction.
    #[default]
    Untranslated,
    /// A transaction the device marked Translated (its ATC translated it). With CR0.ATSCHK=0
    /// it bypasses the SMMU; with ATSCHK=1 STE.EATS decides.
    Translated,
    /// An ATS Translation Request: the device's ATC asks for a translation. Faults are
    /// answered, not recorded (but F_BAD_ATS_TREQ is), and never stall.
    TranslationRequest,
}

/// One request as it reaches the SMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Request {
    /// StreamID.
    pub sid: u32,
    /// SubstreamID (PASID), when the request carries one.
    pub ssid: Option<u32>,
    /// Input address.
    pub addr: u64,
    /// Read or write, data or instruction, unprivileged or privileged.
    pub access: Access,
    /// Untranslated, Translated, or an ATS Translation Request.
    pub kind: RequestKind,
}

impl Request {
    /// An untranslated request.
    pub const fn new(sid: u32, ssid: Option<u32>, addr: u64, access: Access) -> Request {
        Request {
            sid,
            ssid,
            addr,
            access,
            kind: RequestKind::Untranslated,
        }
    }
}

/// A translated request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translated {
    /// Output address.
    pub pa: u64,
    /// Bytes from `pa` to the end of the page that maps it (4 KiB when nothing translates).
    pub len: u64,
    /// Rights of the translation.
    pub perm: Perm,
}

/// A request the SMMU refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The event it raises; `None` when the request is terminated silently (STE.Config
    /// abort, the SMMU disabled with GBPA.ABORT or the address beyond the OAS, ATS traffic to
    /// an invalid STE). A stalled request's event has `stall` set.
    pub event: Option<Event>,
    /// Whether the event is written to the event queue (CD.R, STE.S2R, CR2.RECINVSID say
    /// no for some; a stall is always recorded).
    pub record: bool,
    /// Whether the device sees an abort; `false` when CD.A=0 completes it as RAZ/WI.
    pub abort: bool,
}

impl Fault {
    /// The event number, when there is an event.
    pub fn id(&self) -> Option<EventId> {
        self.event.map(|e| e.id)
    }

    /// The STAG of a stalled request.
    pub fn stalled(&self) -> Option<u16> {
        self.event.and_then(|e| e.stall)
    }
}

/// A TLB hit that a fresh walk contradicts: the driver changed the tables (or the STE or CD)
/// without the invalidation the specification requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleTranslation {
    /// The request.
    pub request: Request,
    /// VMID of the cached entry.
    pub vmid: u16,
    /// ASID of the cached entry (0 for stage-2-only entries).
    pub asid: u16,
    /// What the TLB answered: the output address.
    pub cached: u64,
    /// What the tables say now: an output address, or the event (if any) the request would
    /// raise.
    pub fresh: Result<u64, Option<EventId>>,
    /// The tables lost an Access flag or dirty state the cached entry took as set: a fresh
    /// walk would have to set it again (software cleared it without invalidating).
    pub flags_cleared: bool,
}

/// What a walk found.
#[derive(Debug, Clone, Copy)]
pub(super) struct Walked {
    /// Output address of the request's byte.
    pub pa: u64,
    /// log2 of the size of the page that maps it.
    pub shift: u8,
    /// Rights of the translation.
    pub perm: Perm,
    /// The TLB entry to cache for the request's stream, when the translation may be cached.
    pub fill: Option<TlbEntry>,
}

impl Walked {
    fn translated(&self) -> Translated {
        let size = 1u64 << self.shift;
        Translated {
            pa: self.pa,
            len: size - (self.pa & (size - 1)),
            perm: self.perm,
        }
    }
}

/// Where a stage fault arose and what it was translating.
#[derive(Debug, Clone, Copy)]
pub(super) struct StageFault {
    pub id: EventId,
    pub s2: bool,
    pub class: EventClass,
    pub ipa: u64,
    pub fetch_addr: u64,
    pub tt_read: bool,
}

impl StageFault {
    /// Fault `id` at stage 2 (`s2`) or 1, translating what `class` says, no addresses.
    pub(super) const fn new(id: EventId, s2: bool, class: EventClass) -> StageFault {
        StageFault {
            id,
            s2,
            class,
            ipa: 0,
            fetch_addr: 0,
            tt_read: false,
        }
    }
}

/// The translation engine of one SMMU: its view of memory, its caches, and the register
/// state translation depends on (the stream table, SMMUEN, GBPA.ABORT, CR0.ATSCHK,
/// CR2.RECINVSID).
pub struct TranslationUnit<M: AddressSpace = Arc<dyn AddressSpace>> {
    pub(super) caps: ModelCaps,
    pub(super) mem: M,
    pub(super) caches: Caches,
    pub(super) formats: Formats,
    stream_table: AtomicU64,
    /// [`ENABLED`], [`CHECKING`] and [`COUNTING`]: one load tells a request whether the
    /// plain TLB path serves it.
    mode: AtomicU8,
    gbpa_abort: AtomicBool,
    ats_check: AtomicBool,
    record_invalid_sid: AtomicBool,
    stag: AtomicU32,
    stale: StaleLog<StaleTranslation>,
    pub(super) counters: HitCounters,
}

impl<M: AddressSpace> std::fmt::Debug for TranslationUnit<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranslationUnit")
            .field("caps", &self.caps)
            .field("stream_table", &self.stream_table())
            .finish_non_exhaustive()
    }
}

impl<M: AddressSpace> TranslationUnit<M> {
    /// An engine walking `mem` with capabilities `caps`, disabled (SMMUEN=0, GBPA.ABORT=0),
    /// with an empty linear stream table.
    pub fn new(caps: ModelCaps, mem: M) -> Result<TranslationUnit<M>, CapsError> {
        caps.check()?;
        Ok(TranslationUnit {
            caches: Caches::new(&caps),
            formats: Formats::new(),
            caps,
            mem,
            stream_table: AtomicU64::new(StreamTable::linear(0, 0).to_bits()),
            mode: AtomicU8::new(0),
            gbpa_abort: AtomicBool::new(false),
            ats_check: AtomicBool::new(false),
            record_invalid_sid: AtomicBool::new(false),
            stag: AtomicU32::new(0),
            stale: StaleLog::new(),
            counters: HitCounters::default(),
        })
    }

    /// The capabilities.
    pub fn caps(&self) -> &ModelCaps {
        &self.caps
    }

    /// The memory the engine walks.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// The caches.
    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    /// Carries out one invalidation command on the caches. Returns the entries removed.
    pub fn invalidate(&self, scope: InvalidationScope) -> u64 {
        self.caches.invalidate(scope)
    }

    /// Latches the stream table (STRTAB_BASE, STRTAB_BASE_CFG). Nothing cached is dropped:
    /// software follows with CMD_CFGI_ALL, as on hardware.
    pub fn set_stream_table(&self, table: StreamTable) {
        self.stream_table.store(table.to_bits(), Ordering::Release);
    }

    /// The stream table in use.
    pub fn stream_table(&self) -> StreamTable {
        StreamTable::from_bits(self.stream_table.load(Ordering::Acquire))
    }

    /// Turns translation on or off (CR0.SMMUEN). Off, GBPA decides.
    pub fn enable(&self, on: bool) {
        self.set_mode(ENABLED, on);
    }

    /// Whether translation is on.
    pub fn enabled(&self) -> bool {
        self.mode.load(Ordering::Acquire) & ENABLED != 0
    }

    /// Sets or clears `bit` of the mode byte the hit path reads.
    pub(super) fn set_mode(&self, bit: u8, on: bool) {
        if on {
            self.mode.fetch_or(bit, Ordering::AcqRel);
        } else {
            self.mode.fetch_and(!bit, Ordering::AcqRel);
        }
        // After the change: a hit recorded under the old mode is then left behind.
        self.caches.advance_tlb_epoch();
    }

    /// GBPA.ABORT: with SMMUEN=0, abort every request instead of letting it bypass.
    pub fn set_global_abort(&self, abort: bool) {
        self.gbpa_abort.store(abort, Ordering::Release);
    }

    /// CR0.ATSCHK: check ATS Translated traffic against the STE.
    pub fn set_ats_check(&self, on: bool) {
        self.ats_check.store(on, Ordering::Release);
    }

    /// Whether CR0.ATSCHK is set.
    pub(super) fn ats_checking(&self) -> bool {
        self.ats_check.load(Ordering::Acquire)
    }

    /// CR2.RECINVSID: record C_BAD_STREAMID.
    pub fn set_record_invalid_sid(&self, on: bool) {
        self.record_invalid_sid.store(on, Ordering::Release);
    }

    /// The checking mode: turn it on there to compare every TLB hit with a fresh walk, and
    /// read the stale hits it found.
    pub fn checking(&self) -> Checking<'_> {
        Checking {
            log: &self.stale,
            mode: &self.mode,
            caches: &self.caches,
        }
    }

    /// Translates one request.
    #[inline(always)]
    pub fn translate(&self, req: Request) -> Result<Translated, Fault> {
        if !self.plain(req) {
            return self.translate_unusual(req);
        }
        match self.caches.tlb_hit(req.sid, req.ssid, req.addr, req.access) {
            Some((pa, len, perm)) => Ok(Translated { pa, len, perm }),
            None => self.miss(req),
        }
    }

    /// Whether `req` may be a plain TLB hit: translation on, the checking mode and counting
    /// off, an untranslated request with a SubstreamID of 20 bits at most.
    #[inline(always)]
    fn plain(&self, req: Request) -> bool {
        self.mode.load(Ordering::Acquire) == ENABLED
            && req.kind == RequestKind::Untranslated
            && req.ssid.is_none_or(|s| s >> 20 == 0)
    }

    /// The TLB's epoch, which moves when an entry leaves the TLB and when translation, the
    /// checking mode or counting is turned on or off: for as long as it reads the same, a
    /// request that was a plain hit (see [`translate_hit`](Self::translate_hit)) is answered
    /// the same again.
    #[inline(always)]
    pub fn hit_epoch(&self) -> softiommu_pgtable::tlb::Epoch {
        self.caches.tlb_epoch()
    }

    /// The translation of `req` when it is a plain TLB hit, with nothing walked, recorded
    /// or counted; `None` leaves it to [`translate`](Self::translate).
    #[inline(always)]
    pub fn translate_hit(&self, req: Request) -> Option<Translated> {
        if !self.plain(req) {
            return None;
        }
        let (pa, len, perm) = self
            .caches
            .tlb_hit(req.sid, req.ssid, req.addr, req.access)?;
        Some(Translated { pa, len, perm })
    }

    /// Translation `t` of `req` lengthened over the pages after it that hit in the TLB for
    /// the same access with the same rights and follow it physically, until it covers `want`
    /// bytes: what separate requests for those pages would each be given, each hit checked
    /// and counted as theirs would be. A page that does not hit ends the run, for a request
    /// of its own to walk (or fault on).
    #[inline]
    pub fn extend_hits(&self, req: Request, mut t: Translated, want: u64) -> Translated {
        if t.len >= want {
            return t;
        }
        let mode = self.mode.load(Ordering::Acquire);
        if mode & ENABLED == 0
            || req.kind != RequestKind::Untranslated
            || req.ssid.is_some_and(|s| s >> 20 != 0)
            || (req.access.write && req.access.exec)
        {
            return t;
        }
        t.len = lengthen_run(req.addr, t.pa, t.len, want, |addr| {
            let hit = if mode == ENABLED {
                self.caches
                    .tlb_hit(req.sid, req.ssid, addr, req.access)
                    .map(|(pa, len, perm)| Translated { pa, len, perm })
            } else {
                self.hit(&Request { addr, ..req })
            };
            hit.filter(|h| h.perm == t.perm).map(|h| (h.pa, h.len))
        });
        t
    }

    /// A request the plain TLB path does not serve: translation off, the checking mode or
    /// the counters on, ATS traffic, or a SubstreamID beyond 20 bits.
    #[cold]
    #[inline(never)]
    fn translate_unusual(&self, req: Request) -> Result<Translated, Fault> {
        if req.access.write && req.access.exec {
            return Err(unsupported(self.event(&req, EventId::Uut)));
        }
        if !self.enabled() {
            return self.disabled(req);
        }
        if req.kind == RequestKind::Translated {
            return self.translated(req);
        }
        if req.kind == RequestKind::Untranslated
            && req.ssid.is_none_or(|s| s >> 20 == 0)
            && let Some(t) = self.hit(&req)
        {
            return Ok(t);
        }
        self.walk_and_fill(req)
    }

    /// The request answered from the TLB, compared with a fresh walk in checking mode and
    /// counted when counting is on.
    fn hit(&self, req: &Request) -> Option<Translated> {
        let (pa, len, perm) = self
            .caches
            .tlb_hit(req.sid, req.ssid, req.addr, req.access)?;
        if self.stale.enabled()
            && let Some(h) = self.caches.tlb(req.sid, req.ssid, req.addr)
        {
            self.check_hit(req, &h.entry(), pa);
        }
        self.counters.hit();
        Some(Translated { pa, len, perm })
    }

    #[cold]
    fn check_hit(&self, req: &Request, e: &TlbEntry, cached: u64) {
        // The fresh walk leaves the tables as they are: the hit it checks set no flags.
        let dry = DryRun::new(&self.mem);
        let fresh = self
            .walk(&dry, *req, false, 0)
            .map(|w| w.pa)
            .map_err(|f| f.id());
        if fresh != Ok(cached) || dry.wrote() {
            self.stale.report(StaleTranslation {
                request: *req,
                vmid: e.vmid,
                asid: e.asid,
                cached,
                fresh,
                flags_cleared: dry.wrote(),
            });
        }
    }

    /// A TLB miss of an enabled SMMU's untranslated request.
    #[inline(never)]
    fn miss(&self, req: Request) -> Result<Translated, Fault> {
        if req.access.write && req.access.exec {
            return Err(unsupported(self.event(&req, EventId::Uut)));
        }
        if let Some(t) = self.stage1_miss(&req) {
            return Ok(t);
        }
        self.walk_and_fill(req)
    }

    /// The walk for `req` and the TLB fill it leaves; the stream configuration of its
    /// context too, when later misses may start from one.
    fn walk_and_fill(&self, req: Request) -> Result<Translated, Fault> {
        let generation = self.caches.generation();
        self.counters.walk();
        let ctx = self.resolve(&req, true, generation)?;
        if req.kind == RequestKind::Untranslated
            && let Some(c) = self.stream_cfg(&ctx)
        {
            self.caches.fill_stream(req.sid, req.ssid, &c, generation);
        }
        let w = self.walk_context(&self.mem, req, &ctx, true, generation)?;
        if let Some(e) = w.fill {
            self.caches
                .fill_tlb(req.sid, req.ssid, req.addr, &e, generation);
        }
        Ok(w.translated())
    }

    /// SMMUEN=0: GBPA.ABORT aborts, otherwise the request bypasses unless it is beyond the
    /// OAS; ATS traffic is refused with its events.
    fn disabled(&self, req: Request) -> Result<Translated, Fault> {
        match req.kind {
            RequestKind::TranslationRequest => {
                return Err(recorded(self.event(&req, EventId::BadAtsTreq)));
            }
            RequestKind::Translated => {
                return Err(recorded(self.event(&req, EventId::TranslForbidden)));
            }
            RequestKind::Untranslated => {}
        }
        if self.gbpa_abort.load(Ordering::Acquire) || beyond(req.addr, self.caps.oas_bits) {
            return Err(silent());
        }
        Ok(identity(req.addr))
    }

    /// A Translated request: it bypasses unless CR0.ATSCHK=1, when STE.EATS decides (full
    /// ATS bypasses, split-stage ATS goes through stage 2, anything else is forbidden).
    fn translated(&self, req: Request) -> Result<Translated, Fault> {
        if !self.ats_check.load(Ordering::Acquire) {
            return Ok(identity(req.addr));
        }
        let generation = self.caches.generation();
        // An invalid or ILLEGAL STE aborts Translated traffic without an event.
        let ste = self
            .resolve_ste(&req, true, generation)
            .map_err(|_| silent())?;
        let config = ste.dw0.config();
        if !(config.stage1() || config.stage2()) && config != crate::ste::SteConfig::Bypass {
            return Err(silent());
        }
        match ste.effective_eats(&self.caps) {
            crate::ste::Eats::Full => Ok(identity(req.addr)),
            crate::ste::Eats::Split => {
                let s2c = super::walk::S2Cfg {
                    ste: &ste,
                    vmid: ste.vmid(&self.caps),
                    slot: None,
                };
                let (w, _) = self.stage2_input(&self.mem, &req, s2c, true, generation)?;
                Ok(w.translated())
            }
            _ => Err(recorded(self.event(&req, EventId::TranslForbidden))),
        }
    }

    /// The event of `id` for `req`, with its request fields filled in.
    #[cold]
    #[inline(never)]
    pub(super) fn event(&self, req: &Request, id: EventId) -> Event {
        Event {
            ssid: req.ssid,
            addr: req.addr,
            rnw: !req.access.write,
            ind: req.access.exec && !req.access.write,
            pnu: req.access.privileged,
            ..Event::new(id, req.sid)
        }
    }

    /// A configuration error (C_BAD_STREAMID, C_BAD_STE, C_BAD_SUBSTREAMID, C_BAD_CD,
    /// F_STREAM_DISABLED): recorded, except C_BAD_STREAMID without CR2.RECINVSID and any
    /// error of an ATS Translation Request.
    #[cold]
    #[inline(never)]
    pub(super) fn config_fault(&self, req: &Request, id: EventId) -> Fault {
        let mut e = self.event(req, id);
        if id == EventId::BadSubstreamId {
            e.ssid = Some(req.ssid.unwrap_or(0));
        }
        let record = match id {
            _ if req.kind == RequestKind::TranslationRequest => false,
            EventId::BadStreamId => self.record_invalid_sid.load(Ordering::Acquire),
            _ => true,
        };
        Fault {
            event: Some(e),
            record,
            abort: true,
        }
    }

    /// A fetch abort (F_STE_FETCH, F_CD_FETCH) at `addr`.
    #[cold]
    #[inline(never)]
    pub(super) fn fetch_fault(&self, req: &Request, id: EventId, addr: u64) -> Fault {
        let mut f = self.config_fault(req, id);
        if let Some(e) = f.event.as_mut() {
            e.fetch_addr = addr;
        }
        f
    }

    /// A fault at a stage of translation: translation-related faults follow CD.{A,R,S} at
    /// stage 1 (`cd`) and STE.{S2R,S2S} at stage 2 (`s2`); faults of ATS Translation Requests
    /// are not recorded and do not stall.
    #[cold]
    #[inline(never)]
    pub(super) fn stage_fault(
        &self,
        req: &Request,
        sf: StageFault,
        cd: Option<&Cd>,
        s2: (bool, bool),
    ) -> Fault {
        let mut e = self.event(req, sf.id);
        e.s2 = sf.s2;
        e.class = sf.class;
        e.ipa = if sf.s2 { sf.ipa } else { 0 };
        e.fetch_addr = sf.fetch_addr;
        e.tt_read = sf.tt_read;
        if req.kind == RequestKind::TranslationRequest {
            return Fault {
                event: Some(e),
                record: false,
                abort: true,
            };
        }
        if !sf.id.translation_related() {
            return recorded(e);
        }
        let (record, stall, abort) = match (sf.s2, cd) {
            (true, _) => (s2.0, s2.1, true),
            (false, Some(cd)) => (cd.dw0.r(), cd.dw0.s(), cd.dw0.a()),
            // Stage 1 bypassed: no CD to suppress the record.
            (false, None) => (true, false, true),
        };
        if stall {
            e.stall = Some(self.stag.fetch_add(1, Ordering::Relaxed) as u16);
        }
        Fault {
            event: Some(e),
            record: record || stall,
            abort,
        }
    }
}

/// Whether PAN (when `pan`) refuses `access` to a page whose stage-1 rights are `perm`: a
/// privileged data access to a page unprivileged requests may read.
#[inline(always)]
pub(super) fn pan_refuses(pan: bool, access: Access, perm: Perm) -> bool {
    pan && access.privileged && !access.exec && perm.contains(Perm::UR)
}

/// An instruction write: it cannot be expressed, so it is an unsupported transaction.
#[cold]
fn unsupported(mut e: Event) -> Fault {
    e.reason = 1;
    recorded(e)
}

/// An untranslated output: the input address, to the end of its 4 KiB page.
pub(super) fn identity(addr: u64) -> Translated {
    Translated {
        pa: addr,
        len: 0x1000 - (addr & 0xfff),
        perm: Perm::ALL,
    }
}

/// A request terminated with an abort and no event.
#[cold]
pub(super) fn silent() -> Fault {
    Fault {
        event: None,
        record: false,
        abort: true,
    }
}

/// A request aborted with event `e` recorded.
#[cold]
pub(super) fn recorded(e: Event) -> Fault {
    Fault {
        event: Some(e),
        record: true,
        abort: true,
    }
}

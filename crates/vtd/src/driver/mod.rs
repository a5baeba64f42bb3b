//! The VT-d driver: puts one [`VtdUnit`] under the softiommu core, programming only its
//! registers (through MMIO) and the structures in memory it walks, as Linux's intel-iommu
//! does in scalable mode.
//!
//! - Bring-up ([`VtdDriver::new`]): CAP/ECAP read through MMIO, a scalable-mode root table
//!   latched with SRTP, a 256-bit invalidation queue of 256 descriptors (two pages, IQA.QS=1,
//!   as Linux sizes it) enabled, the page request queue programmed (with ECAP.PRS), then
//!   translation.
//! - Per device: a context entry (context tables allocated per bus half on demand), a PASID
//!   directory covering the PASID width, PASID tables allocated on demand. Requests without
//!   PASID use RID_PASID 0. Page requests (context-entry PRE) are enabled while the device
//!   has an attachment that takes I/O page faults (an SVA domain).
//! - Per (domain, unit): a domain ID, allocated on first attach and freed when the domain
//!   leaves the unit's last device; a unit out of IDs refuses the attach.
//! - PASID-table entries carry what Linux writes: PWSNP when the unit snoops its page walks
//!   (ECAP.SMPWCS), AW from SAGAW in first-stage, pass-through and SVA entries too.
//! - Every change of a PASID-table entry is followed by the software sequence of spec
//!   Table 28 through the invalidation queue, closed by a wait whose status write is polled;
//!   a descriptor the unit refuses is skipped and recorded ([`VtdDriver::queue_errors`]).
//!   IOTLB invalidations set DR/DW when the unit reports CAP.DRD/DWD.
//! - A new mapping is invalidated only in caching mode (CAP.CM), with the one covering
//!   page-selective IOTLB invalidation Linux sends for a second-stage domain; so is a newly
//!   present PASID-table entry (PASID-selective PASID cache and PASID-based IOTLB).
//! - Page requests travel unit → page request queue → driver → core, and the core's answer
//!   goes back as a page group response descriptor → unit → device. When an entry of a
//!   device with page requests enabled is torn down, the PASID's page requests are drained
//!   before it can be reused, in Linux's sequence (see `prq`).
//!
//! Register accesses go through a [`VtdMmio`] ([`VtdDriver::with_mmio`]; the unit itself by
//! default). A unit that misbehaves gets a [`CoreError::Hardware`] after a bounded wait,
//! never a hang or a panic; the bounds count reads, each poll followed by a spin-loop hint:
//!
//! - Bring-up refuses CAP/ECAP values no unit reports (ND 7, SSLPS other than 0, 1 or 3,
//!   RWBF with SMTS, a PASID width above 20 bits, NEST without FSTS and SSTS, SMTS without
//!   QI) with [`HwError::BadRegister`] before writing any register. Each GCMD command (SRTP,
//!   QIE, TE) reads GSTS at most 1000 times for its status bit, then fails with
//!   [`HwError::Timeout`]. A failed bring-up leaves its pages allocated: the unit may still
//!   point at them.
//! - An invalidation batch first waits for room: IQH read at most 1000 times, the tail
//!   written to IQT again after each read, so that a unit that missed it catches up. Then the
//!   wait's status word is read at most 1000 times (FSTS with it); a queue error is recovered
//!   from at most once per descriptor of the batch. Past these bounds the call fails with
//!   [`HwError::Timeout`] (room, status write) or [`HwError::BadRegister`] (FSTS.IQE raised
//!   more often, or an IQH outside the queue or inside a descriptor), and its later batches
//!   are not sent. The next call starts afresh: it succeeds once the unit works the queue
//!   again, and meanwhile fails within the same bounds.
//! - Calls that cannot return the error (flushes, page responses, PASID-entry and
//!   context-entry changes, whose stores stand) record it; [`VtdDriver::hardware_errors`]
//!   lists the first 64.
//! - A PQH or PQT outside the page request queue reads nothing and leaves the queue as it
//!   is, recording the error; garbage in the queue is routed to the core or refused, as any
//!   request the driver cannot route.
//!
//! This module is the only code of the crate that knows the core.

mod context;
mod dids;
mod entries;
mod flush;
mod hw;
mod mmio;
mod ops;
mod prq;
mod queue;
mod teardown;

pub use mmio::VtdMmio;
pub use queue::QueueErrorReport;

use hw::Hw;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::{
    CoreError, DeviceId, DeviceInfo, DmaFault, DmaFaultKind, DomainId, HwError, Mem,
    PageRequestBatch, Pasid, Result, TableAlloc, Target,
};
use softiommu_mem::AddressSpace;

use crate::desc::{CcGranularity, CcInv, CcInvQw0, PcGranularity, PcInv, PcInvQw0};
use crate::fault::FaultReason;
use crate::model::VtdUnit;
use crate::regs::{CAP_REG, Cap, ECAP_REG, Ecap, GCMD_REG, GSTS_REG, IQA_REG, IQT_REG, RTADDR_REG};
use crate::structs::{ContextEntry, PasidEntry, Pgtt, ScalableRootEntry, root_entry_address};

/// GCMD/GSTS.TE.
const GCMD_TE: u32 = 1 << 31;
/// GCMD/GSTS.SRTP.
const GCMD_SRTP: u32 = 1 << 30;
/// GCMD/GSTS.QIE.
const GCMD_QIE: u32 = 1 << 26;
/// GSTS bits that are one-shot commands in GCMD, left out when GSTS is written back.
const GSTS_LEVELS: u32 = 0x96ff_ffff;
/// RTADDR.TTM = 01b (scalable mode).
const TTM_SCALABLE: u64 = 1 << 10;
/// IQA.DW: 256-bit descriptors.
const IQA_DW256: u64 = 1 << 11;
/// IQA.QS of the invalidation queue: 2^QS 4 KiB pages. Linux's queue holds 256
/// descriptors; 256 of 256 bits take two pages.
const IQ_QS: u8 = 1;
/// Bytes of the invalidation queue.
const IQ_BYTES: u64 = 4096 << IQ_QS;
/// How many times GSTS is read for the status bit of a GCMD command before the command is
/// taken as failed.
const POLLS: u32 = 1000;
/// Hardware errors kept for [`VtdDriver::hardware_errors`].
const HW_ERRORS_KEPT: usize = 64;
/// The domain ID of pass-through entries (Linux's FLPT_DEFAULT_DID); allocation starts
/// above it, and DID 0 is never used.
const IDENTITY_DID: u16 = 1;
/// PASID for requests without PASID: the context entries' RID_PASID.
const RID_PASID: u32 = 0;
/// Bytes of a scalable-mode context entry.
const CONTEXT_ENTRY_BYTES: u64 = 32;
/// Bytes of a PASID-table entry.
const PASID_ENTRY_BYTES: u64 = 64;

/// What one PASID-table entry of a device was programmed with.
#[derive(Debug, Clone, Copy)]
struct Programmed {
    /// The domain (None for identity).
    domain: Option<DomainId>,
    did: u16,
    pgtt: Pgtt,
    /// The domain takes I/O page faults (SVA, or a domain with a fault handler).
    sva: bool,
}

/// A device under the driver.
#[derive(Debug)]
struct Dev {
    info: DeviceInfo,
    /// Address of its context entry.
    ctx_at: u64,
    /// Its PASID directory and its size in bytes.
    dir: u64,
    dir_bytes: u64,
    /// PASID tables by directory index.
    tables: HashMap<u32, u64>,
    /// Present PASID-table entries by PASID.
    entries: HashMap<u32, Programmed>,
    /// Device-TLB enabled in its context entry.
    ats: bool,
    /// Page requests may be enabled: the unit has them, the device has PRI, and DTE is set.
    pri: bool,
    /// Its context entry as written.
    ctx: ContextEntry,
}

/// A domain's ID on this unit and where it is used.
#[derive(Debug)]
struct DidUse {
    did: u16,
    users: Vec<(DeviceId, u32)>,
}

/// Everything behind the driver's lock.
#[derive(Debug)]
struct State {
    root: u64,
    queue: queue::InvQueue,
    /// Context tables by (bus, upper half).
    ctx_tables: HashMap<(u8, bool), u64>,
    // Ordered maps: a look-up of the few devices and domains costs less than hashing the id.
    devices: BTreeMap<DeviceId, Dev>,
    dids: BTreeMap<DomainId, DidUse>,
    next_did: u32,
    free_dids: Vec<u16>,
    /// The page request queue (with ECAP.PRS).
    prq: Option<prq::Prq>,
    /// Page requests the handler took from the queue outside the core's calls (while a
    /// PASID's requests were drained), handed to the core with the next batch.
    held: PageRequestBatch,
    /// The hardware errors met, oldest first (the first 64).
    hw_errors: Vec<HwError>,
    /// Room for the descriptors of one flush, kept between flushes so that none allocates.
    flush_buf: Vec<[u64; 4]>,
}

impl State {
    /// Records a hardware error met where the caller cannot be told.
    fn hw_error(&mut self, e: HwError) {
        if self.hw_errors.len() < HW_ERRORS_KEPT {
            self.hw_errors.push(e);
        }
    }
}

/// The driver of one VT-d unit, implementing [`IommuDriver`](softiommu_core::IommuDriver) for
/// the softiommu core.
pub struct VtdDriver<M: AddressSpace> {
    unit: Arc<VtdUnit<M>>,
    /// The path of every register access.
    regs: Arc<dyn VtdMmio>,
    mem: Mem,
    alloc: TableAlloc,
    hw: Hw,
    state: Mutex<State>,
}

impl<M: AddressSpace> std::fmt::Debug for VtdDriver<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtdDriver")
            .field("hw", &self.hw)
            .finish_non_exhaustive()
    }
}

impl<M: AddressSpace + 'static> VtdDriver<M> {
    /// Brings `unit` up: reads CAP/ECAP, latches a new scalable-mode root table, enables a
    /// 256-bit invalidation queue and translation. Structures live in `mem`, their pages come
    /// from `alloc`. The host address width is taken as MGAW (at most 52).
    pub fn new(unit: Arc<VtdUnit<M>>, mem: Mem, alloc: TableAlloc) -> Result<VtdDriver<M>> {
        let regs: Arc<dyn VtdMmio> = unit.clone();
        Self::with_mmio(unit, regs, mem, alloc, None)
    }

    /// [`new`](Self::new) with the host address width `haw` given by the platform.
    pub fn with_haw(
        unit: Arc<VtdUnit<M>>,
        mem: Mem,
        alloc: TableAlloc,
        haw: u8,
    ) -> Result<VtdDriver<M>> {
        let regs: Arc<dyn VtdMmio> = unit.clone();
        Self::with_mmio(unit, regs, mem, alloc, Some(haw))
    }

    /// [`with_haw`](Self::with_haw) (or [`new`](Self::new) when `haw` is `None`) with every
    /// register access made through `regs` rather than straight to `unit`: the platform's
    /// MMIO path to the unit. `unit` still receives what devices send (DMA, page requests).
    ///
    /// Bring-up fails with [`CoreError::Hardware`] when CAP/ECAP report reserved or
    /// contradictory values or a GCMD command is never acknowledged in GSTS (see the module
    /// documentation for the bounds).
    pub fn with_mmio(
        unit: Arc<VtdUnit<M>>,
        regs: Arc<dyn VtdMmio>,
        mem: Mem,
        alloc: TableAlloc,
        haw: Option<u8>,
    ) -> Result<VtdDriver<M>> {
        let cap = Cap::from_bits(regs.mmio_read(CAP_REG, 8));
        let ecap = Ecap::from_bits(regs.mmio_read(ECAP_REG, 8));
        hw::check_ids(cap, ecap)?;
        let haw = haw.unwrap_or((cap.mgaw() + 1).min(52));
        if !ecap.smts() {
            return Err(CoreError::NotSupported("scalable mode (ECAP.SMTS)"));
        }
        let mgaw = cap.mgaw() + 1;
        let ss_levels = if ecap.ssts() {
            let supported = |l: u8| cap.sagaw() & (1 << (l - 2)) != 0;
            (3..=5u8)
                .rev()
                .find(|&l| supported(l) && 12 + 9 * l <= mgaw.max(39))
                .or_else(|| (3..=5u8).find(|&l| supported(l)))
        } else {
            None
        };
        let hw = Hw {
            cap,
            ecap,
            haw,
            mgaw,
            pasid_bits: if ecap.pasid() { ecap.pss() + 1 } else { 0 },
            ss_levels,
            did_bits: 4 + 2 * cap.nd(),
        };
        let root = alloc.alloc(4096)?;
        let iq = alloc.alloc(IQ_BYTES)?;
        let status = alloc.alloc(4096)?;
        let prq = prq::Prq::alloc(ecap.prs(), &alloc)?;
        let d = VtdDriver {
            unit,
            regs,
            mem,
            alloc,
            hw,
            state: Mutex::new(State {
                root,
                queue: queue::InvQueue::new(iq, IQ_BYTES, status),
                ctx_tables: HashMap::new(),
                devices: BTreeMap::new(),
                dids: BTreeMap::new(),
                next_did: u32::from(IDENTITY_DID) + 1,
                free_dids: Vec::new(),
                prq,
                held: PageRequestBatch::default(),
                hw_errors: Vec::new(),
                flush_buf: Vec::new(),
            }),
        };
        d.bring_up()?;
        Ok(d)
    }

    /// The unit driven.
    pub fn unit(&self) -> &Arc<VtdUnit<M>> {
        &self.unit
    }

    /// The domain ID `domain` has on this unit, while it is attached here.
    pub fn domain_id_of(&self, domain: DomainId) -> Option<u16> {
        self.state.lock().dids.get(&domain).map(|u| u.did)
    }

    fn gsts(&self) -> u32 {
        self.regs.mmio_read(GSTS_REG, 4) as u32
    }

    /// A GCMD write as Linux builds it (GSTS levels with `bit` set), then GSTS polled until
    /// it reports `what` done.
    fn gcmd(&self, bit: u32, what: &'static str) -> Result<()> {
        let v = (self.gsts() & GSTS_LEVELS) | bit;
        self.regs.mmio_write(GCMD_REG, 4, u64::from(v));
        for _ in 0..POLLS {
            if self.gsts() & bit != 0 {
                return Ok(());
            }
            std::hint::spin_loop();
        }
        Err(CoreError::Hardware(HwError::Timeout { what, polls: POLLS }))
    }

    /// The hardware errors the driver met where no caller could be told (an invalidation
    /// that timed out under a flush, a page request queue whose pointers were out of range),
    /// oldest first (the first 64).
    pub fn hardware_errors(&self) -> Vec<HwError> {
        self.state.lock().hw_errors.clone()
    }

    /// The invalidation queue errors the driver recovered from, oldest first (the first 64).
    pub fn queue_errors(&self) -> Vec<QueueErrorReport> {
        self.state.lock().queue.errors.clone()
    }

    /// Submits `descs` (256-bit invalidation descriptors, as four words each) through the
    /// invalidation queue, closed by a wait, and waits for them. A descriptor the unit
    /// refuses is skipped and recorded in [`queue_errors`](Self::queue_errors), and the call
    /// fails with [`CoreError::Driver`]; the others still complete. A unit that does not
    /// complete the wait fails the call with [`CoreError::Hardware`] (see the module
    /// documentation for the bounds).
    pub fn invalidate(&self, descs: &[[u64; 4]]) -> Result<()> {
        self.run(&mut self.state.lock(), descs)
    }

    fn bring_up(&self) -> Result<()> {
        let (root, iq, prq) = {
            let st = self.state.lock();
            (st.root, st.queue.base, st.prq)
        };
        self.regs.mmio_write(RTADDR_REG, 8, root | TTM_SCALABLE);
        self.gcmd(GCMD_SRTP, "GSTS.RTPS after SRTP")?;
        self.regs.mmio_write(IQT_REG, 8, 0);
        self.regs
            .mmio_write(IQA_REG, 8, iq | IQA_DW256 | u64::from(IQ_QS));
        self.gcmd(GCMD_QIE, "GSTS.QIES after QIE")?;
        if let Some(prq) = prq {
            self.prq_enable(prq);
        }
        // The root table changed: global context, PASID and IOTLB invalidation.
        self.run(
            &mut self.state.lock(),
            &[
                CcInv {
                    qw0: CcInvQw0::new().with_g(CcGranularity::Global),
                }
                .to_words(),
                PcInv {
                    qw0: PcInvQw0::new().with_g(PcGranularity::Global),
                }
                .to_words(),
                flush::iotlb_global(&self.hw),
            ],
        )?;
        self.gcmd(GCMD_TE, "GSTS.TES after TE")
    }

    /// Runs `descs` through the invalidation queue; a hardware error is also recorded for
    /// [`hardware_errors`](Self::hardware_errors), since most callers cannot return it.
    fn run(&self, st: &mut State, descs: &[[u64; 4]]) -> Result<()> {
        self.run_queue(st, descs, false)
    }

    /// [`run`](Self::run), closed by a wait with page-request drain (PD=1) where the unit
    /// has it (ECAP.PDS).
    fn run_page_drain(&self, st: &mut State, descs: &[[u64; 4]]) -> Result<()> {
        self.run_queue(st, descs, self.hw.ecap.pds())
    }

    /// Runs `descs` through the queue; a hardware error is also recorded.
    fn run_queue(&self, st: &mut State, descs: &[[u64; 4]], page_drain: bool) -> Result<()> {
        let r = st.queue.run(&*self.regs, &self.mem, descs, page_drain);
        if let Err(CoreError::Hardware(e)) = &r {
            st.hw_error(e.clone());
        }
        r
    }

    /// The address of the context entry of `rid`, allocating its context table.
    fn context_entry(&self, st: &mut State, bus: u8, devfn: u8) -> Result<u64> {
        let upper = devfn >= 0x80;
        let table = match st.ctx_tables.get(&(bus, upper)) {
            Some(&t) => t,
            None => {
                let t = self.alloc.alloc(4096)?;
                let lower = st.ctx_tables.get(&(bus, false)).copied();
                let up = st.ctx_tables.get(&(bus, true)).copied();
                let e = if upper {
                    ScalableRootEntry::new(lower, Some(t))
                } else {
                    ScalableRootEntry::new(Some(t), up)
                };
                // A half that was not present cannot be cached: no invalidation.
                if let Err(err) = e.write(&*self.mem, root_entry_address(st.root, bus)) {
                    let _ = self.alloc.free(t, 4096);
                    return Err(err.into());
                }
                st.ctx_tables.insert((bus, upper), t);
                t
            }
        };
        Ok(table + u64::from(devfn & 0x7f) * CONTEXT_ENTRY_BYTES)
    }

    /// Programs `pasid` (RID_PASID for the RID) of `dev` to translate through `new`.
    ///
    /// Everything that can refuse the change is checked before memory changes. Once the
    /// change is made it stands: an invalidation the unit then refuses is recovered from and
    /// recorded in [`queue_errors`](Self::queue_errors), not returned.
    fn set_target(&self, dev: &DeviceInfo, pasid: Pasid, new: Target<'_>) -> Result<()> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        if !st.devices.contains_key(&dev.id) {
            return Err(CoreError::NoDevice(dev.id));
        }
        if pasid != RID_PASID && u64::from(pasid) >> self.hw.pasid_bits != 0 {
            return Err(CoreError::Invalid("PASID beyond this unit's width"));
        }
        let built = self.build(st, new)?;
        // An attachment that takes I/O page faults needs page requests enabled before it is
        // live (and is refused where they cannot be).
        if built.as_ref().is_some_and(|(_, p)| p.sva) {
            self.set_pre(st, dev.id, true)?;
        }
        let r = self.program(st, dev.id, pasid, built);
        // Nothing that takes I/O page faults is left (or the attachment that needed them
        // failed): page requests off.
        let pre_unused = st
            .devices
            .get(&dev.id)
            .is_some_and(|d| d.ctx.qw0.pre() && !d.entries.values().any(|p| p.sva));
        if pre_unused {
            self.set_pre(st, dev.id, false)?;
        }
        r
    }

    /// Writes the PASID-table entry `built` (not present for `None`) of `pasid` of device
    /// `id`, invalidates what the unit cached of the old one, and moves the domain IDs.
    fn program(
        &self,
        st: &mut State,
        id: DeviceId,
        pasid: Pasid,
        built: Option<(PasidEntry, Programmed)>,
    ) -> Result<()> {
        let Some(d) = st.devices.get_mut(&id) else {
            return Err(CoreError::NoDevice(id));
        };
        let old = d.entries.get(&pasid).copied();
        if built.is_none() && old.is_none() {
            return Ok(());
        }
        let at = self.pasid_entry_at(d, pasid)?;
        match &built {
            Some((e, _)) => e.write(&*self.mem, at)?,
            None => {
                // Present → not present: P goes first, the rest after.
                self.mem.store_u64(at, 0)?;
                for k in 1..8 {
                    self.mem.store_u64(at + 8 * k, 0)?;
                }
            }
        }
        let descs = match (&old, &built) {
            (Some(o), _) => self.teardown_descs(d, pasid, o),
            (None, Some((_, n))) => self.setup_descs(pasid, n),
            (None, None) => Vec::new(),
        };
        // Page requests of the old attachment may still be in flight: drained below, before
        // the PASID can be reused.
        let drain = old.filter(|_| d.ctx.qw0.pre()).map(|o| prq::Drain {
            dev: id,
            sid: d.info.rid.source_id(),
            pasid,
            did: o.did,
            dev_tlb: d.ats.then(|| Self::dev_tlb_all(d, pasid)),
        });
        match built {
            Some((_, p)) => d.entries.insert(pasid, p),
            None => d.entries.remove(&pasid),
        };
        let user = (id, pasid);
        if let Some(o) = old.and_then(|o| o.domain) {
            Self::did_drop(st, o, user);
        }
        if let Some((_, p)) = built
            && let Some(dom) = p.domain
        {
            Self::did_take(st, dom, p.did, user);
        }
        if !descs.is_empty() {
            // The change is made; a refused descriptor is recorded (see `set_target`).
            let _ = self.run(st, &descs);
        }
        if let Some(drain) = drain {
            self.prq_drain_pasid(st, &drain);
        }
        Ok(())
    }

    /// A fault of the unit as the core sees it.
    fn dma_fault(&self, dev: &DeviceInfo, pasid: Option<Pasid>, reason: FaultReason) -> DmaFault {
        use FaultReason as R;
        let kind = match reason {
            R::Sss2 | R::Sfs2 => DmaFaultKind::NotPresent,
            R::Sgn2 | R::Sgn6 | R::Sgn7 => DmaFaultKind::Permission,
            R::Sgn1 | R::Sgn4 | R::Sgn5 => DmaFaultKind::AddressSize,
            R::Srt2 | R::Sct2 | R::Spd2 | R::Spt2 | R::Sct6 | R::Sct7 => DmaFaultKind::Blocked,
            _ => DmaFaultKind::BadConfig,
        };
        // A fault that an I/O page fault handler can resolve, from a device that can send the
        // page request: a not-present or write-protect fault in an SVA address space, with
        // page requests enabled.
        DmaFault::new(kind, || {
            let st = self.state.lock();
            st.devices.get(&dev.id).is_some_and(|d| {
                d.ctx.qw0.pre()
                    && d.entries
                        .get(&pasid.unwrap_or(RID_PASID))
                        .is_some_and(|p| p.sva && p.pgtt == Pgtt::FirstStage)
            })
        })
    }
}

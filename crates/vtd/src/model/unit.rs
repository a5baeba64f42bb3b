//! One VT-d remapping unit as hardware: the register file software programs through MMIO,
//! the translation engine behind it, and the queues between them and memory.
//!
//! Every [`Action`] a register write returns is carried out before the write returns:
//! root-table latches complete at once, the invalidation queue is drained up to its tail (or
//! to the first bad descriptor), virtual commands finish. Requests from devices come in
//! through [`VtdUnit::translate`] and [`VtdUnit::page_request`], or from PCI functions on the
//! bus through the unit's `softiommu_devices::bus::Upstream` implementation (with ATS
//! translation requests and translated requests); what the unit sends back to devices
//! (device-TLB invalidations, page group responses) goes out through a [`DeviceSink`], and to
//! the endpoint attached on the bus for the requester.
//!
//! Model choices:
//!
//! - Only scalable mode translates. An SRTP with RTADDR.TTM other than 01b (legacy, the
//!   reserved 10b, abort-DMA 11b which ADMS=0 does not allow) or TTM=01b without SMTS latches
//!   nothing into the engine; GSTS.RTPS is still set. While translation is enabled every
//!   request then faults: with RTA.2 (31h) when legacy mode is latched and the request carries
//!   a PASID, otherwise with RTA.1 (30h) — legacy-mode translation is not modelled. So does
//!   every request after TE=1 with no SRTP at all (RTADDR resets to legacy mode).
//! - Invalidations and waits complete synchronously: FN and PD need no further work, and a
//!   device-TLB invalidation is complete once [`DeviceSink::invalidate_atc`] and the attached
//!   endpoint's `invalidate_atc` have returned.
//! - Page requests are checked against the structures, and make the implicit IOTLB
//!   invalidation of spec Table 27, only while translation is enabled: with GSTS.TES=0 the
//!   unit remaps nothing and queues them unchecked (see [`VtdUnit::page_request`]).

mod bus;
mod prq;
mod queue;
#[cfg(test)]
mod tests;
mod vcmd;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use parking_lot::{Mutex, RwLock};
use softiommu_devices::bus::Endpoint;
use softiommu_mem::AddressSpace;
use thiserror::Error;

use super::stats::InvalidationTally;
use super::{
    Fault, IotlbScope, ModelCaps, Request, StaleTranslation, Translated, TranslationUnit, UnitStats,
};
use crate::desc::ResponseCode;
use crate::fault::FaultReason;
use crate::regs::{
    Action, AddressType, Cap, Ecap, FaultRecord, InterruptSink, ParamsError, RegisterFile,
    RequestKind, Ttm, VtdParams,
};
use crate::structs::StructCaps;

pub use vcmd::PasidAllocator;

/// Where the unit's messages to devices go; implemented by the embedder.
///
/// It is called while the unit's registers are locked, so it must not call back into the
/// unit.
pub trait DeviceSink: Send + Sync {
    /// Invalidates the address translation cache (device-TLB) of requester `sid`: the
    /// `pages` 4 KiB pages from byte address `addr`. `pasid` is the PASID whose translations
    /// go, or `None` for translations without a PASID (dev_tlb_inv_dsc) and for a
    /// p_dev_tlb_inv_dsc with GI=1 (every PASID of the device).
    fn invalidate_atc(&self, sid: u16, pasid: Option<u32>, addr: u64, pages: u64);

    /// Delivers a page group response to requester `sid`: the group `prgi` of `pasid` (or of
    /// requests without a PASID) completes with `code`.
    fn page_response(&self, sid: u16, pasid: Option<u32>, prgi: u16, code: ResponseCode);
}

impl<F: Fn(DeviceMessage) + Send + Sync> DeviceSink for F {
    fn invalidate_atc(&self, sid: u16, pasid: Option<u32>, addr: u64, pages: u64) {
        self(DeviceMessage::InvalidateAtc {
            sid,
            pasid,
            addr,
            pages,
        })
    }

    fn page_response(&self, sid: u16, pasid: Option<u32>, prgi: u16, code: ResponseCode) {
        self(DeviceMessage::PageResponse {
            sid,
            pasid,
            prgi,
            code,
        })
    }
}

/// A message of the unit to a device, for closures used as a [`DeviceSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMessage {
    /// [`DeviceSink::invalidate_atc`].
    InvalidateAtc {
        /// Requester.
        sid: u16,
        /// PASID, or every PASID / none.
        pasid: Option<u32>,
        /// First byte.
        addr: u64,
        /// Number of 4 KiB pages.
        pages: u64,
    },
    /// [`DeviceSink::page_response`].
    PageResponse {
        /// Requester.
        sid: u16,
        /// PASID of the group, if it had one.
        pasid: Option<u32>,
        /// Page request group index.
        prgi: u16,
        /// Response code.
        code: ResponseCode,
    },
}

/// Why a unit could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UnitError {
    /// The parameters describe no unit the specification allows.
    #[error("invalid VT-d parameters: {0}")]
    Params(#[from] ParamsError),
    /// The translation engine cannot walk tables of these capabilities.
    #[error("the translation engine has no table format for these capabilities")]
    Formats,
}

impl ModelCaps {
    /// The capabilities of a unit made with `params`.
    pub fn from_params(params: &VtdParams) -> Result<ModelCaps, crate::regs::ParamsError> {
        Ok(model_caps(params, params.cap()?, params.ecap()?))
    }
}

/// The fault of a request while translation is on over a root table that is not scalable:
/// RTA.2 for a request with a PASID through a legacy table, RTA.1 otherwise.
#[cold]
fn root_mode_fault(mode: RootMode, req: Request) -> Fault {
    let reason = if mode == RootMode::Legacy && req.pasid.is_some() {
        FaultReason::Rta2
    } else {
        FaultReason::Rta1
    };
    Fault {
        reason,
        request: req,
        record: true,
    }
}

/// The translation engine's capabilities as a unit's parameters, CAP and ECAP report them.
pub fn model_caps(params: &VtdParams, cap: Cap, ecap: Ecap) -> ModelCaps {
    ModelCaps {
        structs: StructCaps {
            haw: params.haw,
            mgaw: cap.mgaw() + 1,
            sagaw: cap.sagaw(),
            fs5lp: cap.fs5lp(),
            fsts: ecap.fsts(),
            ssts: ecap.ssts(),
            nest: ecap.nest(),
            pt: ecap.pt(),
            srs: ecap.srs(),
            sc: ecap.sc(),
            mts: ecap.mts(),
            eafs: ecap.eafs(),
            smpwcs: ecap.smpwcs(),
            ssads: ecap.ssads(),
            rps: ecap.rps(),
            rprivs: ecap.rprivs(),
            pss: ecap.pss(),
            hpts: ecap.hpts(),
            ptrs: ecap.ptrs(),
            dt: ecap.dt(),
            prs: ecap.prs(),
            pasid: ecap.pasid(),
        },
        fs1gp: cap.fs1gp(),
        ss_2m: cap.sslps() & 1 != 0,
        ss_1g: cap.sslps() & 2 != 0,
    }
}

/// What the fault recording registers hold for fault `f` of a request of `kind`.
fn fault_record(f: &Fault, kind: RequestKind, at: AddressType) -> FaultRecord {
    let r = f.request;
    FaultRecord {
        sid: r.sid,
        addr: r.addr,
        reason: f.reason.code(),
        kind,
        at,
        pasid: r.pasid,
        privileged: r.access.privileged,
        execute: r.access.exec,
    }
}

/// The state behind the unit's lock: the registers, the PASIDs the virtual command
/// interface has handed out, and the invalidation counts.
struct Inner {
    regs: RegisterFile,
    /// One bit per PASID (empty without ECAP.VCS).
    pasids: Vec<u64>,
    /// Invalidations carried out.
    tally: InvalidationTally,
    /// Room for the actions of one register write, kept so that a write allocates nothing.
    actions: Vec<Action>,
    /// The platform's PASID allocator that virtual commands use in place of `pasids`.
    allocator: Option<Arc<dyn PasidAllocator>>,
}

/// The translation mode the last SRTP latched (GSTS.RTPS), as `VtdUnit::mode` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum RootMode {
    /// TTM=00b: legacy mode (also the reset state), which the model does not translate.
    Legacy = 0,
    /// TTM=01b with ECAP.SMTS: scalable mode; the engine walks the root table.
    Scalable = 1,
    /// Any other programming (RTA.1).
    Bad = 2,
}

/// One VT-d remapping unit: registers, translation engine, invalidation queue, page request
/// queue and virtual commands, over the physical memory `M`.
pub struct VtdUnit<M: AddressSpace> {
    inner: Mutex<Inner>,
    engine: TranslationUnit<M>,
    mem: M,
    device: Arc<dyn DeviceSink>,
    /// The functions attached on the bus, by requester ID.
    endpoints: RwLock<HashMap<u16, Arc<dyn Endpoint>>>,
    /// The latched [`RootMode`].
    mode: AtomicU8,
    /// GSTS.TES.
    te: AtomicBool,
    /// Physical address bits (HAW).
    haw: u8,
    /// ECAP.DT: the unit serves ATS (read without the lock, which a device-TLB invalidation
    /// may hold while the device finishes requests).
    dt: bool,
    /// PASID width.
    pasid_bits: u8,
}

impl<M: AddressSpace> std::fmt::Debug for VtdUnit<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtdUnit")
            .field("regs", &self.inner.lock().regs)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl<M: AddressSpace + Clone> VtdUnit<M> {
    /// A unit with `params` in its reset state, walking and writing `mem`, raising
    /// interrupts through `interrupts` and talking to devices through `device`.
    pub fn new(
        params: VtdParams,
        mem: M,
        interrupts: Arc<dyn InterruptSink>,
        device: Arc<dyn DeviceSink>,
    ) -> Result<Self, UnitError> {
        let regs = RegisterFile::new(params, interrupts)?;
        let caps = model_caps(&params, regs.cap(), regs.ecap());
        let dt = regs.ecap().dt();
        let engine = TranslationUnit::new(caps, mem.clone()).ok_or(UnitError::Formats)?;
        let pasids = if regs.ecap().vcs() {
            let count = 1usize << params.pasid_bits;
            let mut bits = vec![0u64; count.div_ceil(64)];
            // PASIDs beyond the width are never free.
            if let Some(last) = bits.last_mut()
                && !count.is_multiple_of(64)
            {
                *last = u64::MAX << (count % 64);
            }
            bits
        } else {
            Vec::new()
        };
        Ok(VtdUnit {
            inner: Mutex::new(Inner {
                regs,
                pasids,
                tally: InvalidationTally::default(),
                actions: Vec::new(),
                allocator: None,
            }),
            engine,
            mem,
            device,
            endpoints: RwLock::new(HashMap::new()),
            mode: AtomicU8::new(RootMode::Legacy as u8),
            te: AtomicBool::new(false),
            haw: params.haw,
            dt,
            pasid_bits: params.pasid_bits,
        })
    }
}

impl<M: AddressSpace> VtdUnit<M> {
    /// Reads `size` (4 or 8) bytes of the register set at `offset`.
    pub fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        self.inner.lock().regs.read(offset, size)
    }

    /// Writes the low `size` (4 or 8) bytes of `value` at `offset` of the register set, and
    /// carries out what the write sets in motion before returning.
    pub fn mmio_write(&self, offset: u64, size: u32, value: u64) {
        let mut inner = self.inner.lock();
        let mut actions = std::mem::take(&mut inner.actions);
        inner.regs.write_into(offset, size, value, &mut actions);
        for a in actions.drain(..) {
            self.act(&mut inner, a);
        }
        inner.actions = actions;
    }

    /// Carries out one action of a register write.
    fn act(&self, inner: &mut Inner, action: Action) {
        match action {
            Action::SetRootTable { rtaddr } => {
                let mode = match rtaddr.ttm() {
                    Ttm::Scalable if inner.regs.ecap().smts() => RootMode::Scalable,
                    Ttm::Legacy => RootMode::Legacy,
                    _ => RootMode::Bad,
                };
                if mode == RootMode::Scalable {
                    self.engine.set_root_table(rtaddr.address());
                }
                self.mode.store(mode as u8, Ordering::Release);
                self.engine.caches().advance_iotlb_epoch();
                inner.regs.complete_root_table();
            }
            Action::SetIrTable { .. } => inner.regs.complete_ir_table(),
            Action::EnableTranslation(on) => {
                self.te.store(on, Ordering::Release);
                self.engine.enable(on);
                if !on {
                    let caches = self.engine.caches();
                    caches.invalidate_context(None);
                    caches.invalidate_pasid(None, None);
                }
            }
            Action::EnableQueue(true) | Action::TailWritten(_) => self.process_queue(inner),
            Action::FaultStatusCleared(f) if f.iqe() || f.ite() => self.process_queue(inner),
            Action::VirtualCommand { cmd, operand } => self.virtual_command(inner, cmd, operand),
            Action::ContextCacheInvalidate(_) => {
                inner.tally.register += 1;
                self.engine.caches().invalidate_context(None);
            }
            Action::IotlbInvalidate { .. } => {
                inner.tally.register += 1;
                self.engine.caches().invalidate_iotlb(IotlbScope::Global);
            }
            Action::EnableQueue(false)
            | Action::EnableInterruptRemapping(_)
            | Action::PageRequestHeadWritten(_)
            | Action::FaultStatusCleared(_) => {}
        }
    }

    /// Translates one untranslated DMA request. A fault that is to be recorded goes into the
    /// fault recording registers (raising the fault event) before it is returned. While
    /// translation is disabled (GSTS.TES=0) requests pass untranslated.
    ///
    /// A plain IOTLB hit is answered inline; anything else goes out of line.
    #[inline(always)]
    pub fn translate(&self, req: Request) -> Result<Translated, Fault> {
        match self.translate_hit(req) {
            Some(t) => Ok(t),
            None => self.translate_other(req),
        }
    }

    /// The IOTLB's epoch, which moves when an entry leaves the IOTLB and when what decides a
    /// plain hit changes (the root table's mode, translation, the checking mode, counting;
    /// see [`TranslationUnit::hit_epoch`]): for as long as it reads the same, a request
    /// [`translate_hit`](Self::translate_hit) answered is answered the same again, by this
    /// unit's IOTLB. A front cache of the unit's answers (a VMM's, over many accesses) stays
    /// exact by keeping answers only while this holds.
    #[inline(always)]
    pub fn hit_epoch(&self) -> softiommu_pgtable::tlb::Epoch {
        self.engine.hit_epoch()
    }

    /// The translation of `req` when it is a plain IOTLB hit (see
    /// [`TranslationUnit::translate_hit`]) through a scalable-mode root table, with nothing
    /// walked, recorded or counted; `None` leaves it to [`translate`](Self::translate).
    #[inline(always)]
    pub fn translate_hit(&self, req: Request) -> Option<Translated> {
        if self.mode() != RootMode::Scalable {
            return None;
        }
        self.engine.translate_hit(req)
    }

    /// [`translate`](Self::translate) of a request that is not a plain IOTLB hit.
    #[inline(never)]
    fn translate_other(&self, req: Request) -> Result<Translated, Fault> {
        self.remap(req, AddressType::Untranslated, |r| {
            self.engine.translate_other(r)
        })
    }

    /// Runs `engine` on request `req` of address type `at` when the latched root table is
    /// scalable or translation is off; otherwise the request faults with RTA.1 or RTA.2 as
    /// the module documentation says. A fault to be recorded is recorded.
    fn remap<T>(
        &self,
        req: Request,
        at: AddressType,
        engine: impl FnOnce(Request) -> Result<T, Fault>,
    ) -> Result<T, Fault> {
        let mode = self.mode();
        let result = if mode == RootMode::Scalable || !self.te.load(Ordering::Acquire) {
            engine(req)
        } else {
            Err(root_mode_fault(mode, req))
        };
        if let Err(f) = &result
            && f.record
        {
            self.record(f, at);
        }
        result
    }

    /// Records fault `f` of a request of address type `at` in the fault recording registers.
    #[cold]
    #[inline(never)]
    fn record(&self, f: &Fault, at: AddressType) {
        tracing::debug!(
            target: "vtd",
            sid = format_args!("{:#06x}", f.request.sid),
            pasid = ?f.request.pasid,
            addr = format_args!("{:#x}", f.request.addr),
            write = f.request.access.write,
            reason = ?f.reason,
            "fault recorded"
        );
        let kind = if f.request.access.write {
            RequestKind::Write
        } else {
            RequestKind::Read
        };
        self.inner
            .lock()
            .regs
            .record_fault(fault_record(f, kind, at));
    }

    /// Records `fault` in the fault recording registers as the unit records a fault of its
    /// own: in the next record, raising the fault event when it is the first pending one,
    /// dropped (setting FSTS.PFO) when that record is still in use, and dropped while PFO is
    /// set. Returns whether it was recorded. A platform that remaps a request elsewhere (a
    /// VMM forwarding a host fault to a guest's vIOMMU) reports it through this.
    pub fn inject_fault(&self, fault: FaultRecord) -> bool {
        tracing::debug!(
            target: "vtd",
            sid = format_args!("{:#06x}", fault.sid),
            pasid = ?fault.pasid,
            addr = format_args!("{:#x}", fault.addr),
            write = fault.kind == RequestKind::Write,
            reason = ?FaultReason::from_code(fault.reason),
            "fault injected"
        );
        self.inner.lock().regs.record_fault(fault)
    }

    /// Turns the checking mode on or off: every IOTLB hit is compared with a fresh walk.
    pub fn set_checking(&self, on: bool) {
        self.engine.set_checking(on);
    }

    /// How many stale IOTLB hits the checking mode has found.
    pub fn stale_count(&self) -> u64 {
        self.engine.stale_count()
    }

    /// The stale IOTLB hits found (the first 1024).
    pub fn stale_reports(&self) -> Vec<StaleTranslation> {
        self.engine.stale_reports()
    }

    /// Turns the counting of IOTLB hits and walks on or off (off when the unit is made);
    /// invalidations are counted always. See [`UnitStats`] for what is counted and how.
    pub fn set_stats(&self, on: bool) {
        self.engine.set_stats(on);
    }

    /// The unit's counters: IOTLB hits and walks (while counting is on), invalidation
    /// descriptors by type, IOTLB-flushing batches, register-based and implicit
    /// invalidations.
    pub fn stats(&self) -> UnitStats {
        let (iotlb_hits, walks) = self.engine.hit_counts();
        let inner = self.inner.lock();
        let t = &inner.tally;
        UnitStats {
            iotlb_hits,
            walks,
            descriptors: t.descriptors,
            iotlb_batches: t.iotlb_batches,
            register_invalidations: t.register,
            implicit_invalidations: t.implicit,
        }
    }

    /// The root-table mode latched by the last SRTP.
    #[inline(always)]
    fn mode(&self) -> RootMode {
        match self.mode.load(Ordering::Acquire) {
            1 => RootMode::Scalable,
            2 => RootMode::Bad,
            _ => RootMode::Legacy,
        }
    }

    /// The translation engine (its caches, for inspection).
    pub fn engine(&self) -> &TranslationUnit<M> {
        &self.engine
    }
}

//! One SMMU as hardware: the register file software programs through MMIO on both register
//! pages, the translation engine behind it, and the three queues between them and memory.
//!
//! Every [`Action`] a register write returns is carried out before the write returns: an
//! enable takes effect at once, and commands are consumed up to CMDQ_PROD (or to the first one
//! that fails) whenever a write leaves the command queue ready. Requests from devices come in
//! through [`SmmuUnit::translate`] and [`SmmuUnit::page_request`], or from PCI functions on the
//! bus through the unit's `softiommu_devices::bus::Upstream` implementation; what the SMMU sends
//! back to devices (ATC invalidations, PRI responses, resumed or terminated stalls) goes out
//! through the [`DeviceSink`] attached for the StreamID (for a function attached on the bus, to
//! its endpoint).
//!
//! Model choices:
//!
//! - Commands complete synchronously: an ATC invalidation is complete once
//!   [`DeviceSink::invalidate_atc`] returns, and a `CMD_SYNC` completes as it is consumed. An
//!   invalidation the device reports as failed makes the next `CMD_SYNC` fail with
//!   CERROR_ATC_INV_SYNC; an ATC invalidation for a StreamID with no device attached completes
//!   (nothing caches its translations).
//! - Every interrupt with an MSI configured (and the `CMD_SYNC` completion with SIG_IRQ and an
//!   MSIAddress, when IDR0.MSI = 1) is a 32-bit little-endian write of the MSI data to memory,
//!   made before the command or record that raised it is seen as done. An aborted MSI write
//!   activates the source's `MSI_*_ABT_ERR` in GERROR. The [`InterruptSink`] hears of every
//!   interrupt that was delivered (the wired line, with the MSI it wrote, if any), after the
//!   unit's lock is released, so it may call back into the unit.
//! - A stalled request (CD.S or STE.S2S) returns its fault at once, with the STAG in the event;
//!   the unit remembers it until `CMD_RESUME` or `CMD_STALL_TERM` names it, and tells the
//!   device what became of it through [`DeviceSink::resume`] (with [`ResumeAction::Retry`] the
//!   device issues the request again). A stall whose event cannot be written to the event
//!   queue is terminated at once: the fault returned has no STAG.
//! - Page requests follow spec chapter 8: written to the PRI queue while it is effectively
//!   enabled; discarded with an automatic Response Failure while it is disabled or a PRI queue
//!   abort is active, or when the write aborts; on overflow, a discarded request with Last = 1
//!   gets an automatic Success (with the PASID when the STE's PPAR asks for it). Stop markers
//!   are never answered.

mod bus;
mod cmdq;
mod evtq;
mod priq;
mod stats;
#[cfg(test)]
mod tests;

pub use priq::PageRequestOutcome;
pub use stats::{CommandCounts, UnitStats};

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use softiommu_mem::AddressSpace;
use thiserror::Error;

use super::{
    CapsError, Fault, Httu, ModelCaps, Request, StaleTranslation, StallModel, Translated,
    TranslationUnit,
};
use crate::cmd::{CmdCaps, ResumeAction};
use crate::pri::PriResponse;
use crate::regs::{self, Action, Gerror, Interrupt, Irq, ParamsError, RegisterFile, SmmuParams};
use crate::ste::StreamTable;
use stats::CommandTally;

/// Where the SMMU's interrupts go; implemented by the embedder (a VMM's interrupt controller,
/// or a driver's interrupt handler).
pub trait InterruptSink: Send + Sync {
    /// Signals `irq`: its wired line, and the MSI write already made to memory, if any.
    fn interrupt(&self, irq: Interrupt);
}

impl<F: Fn(Interrupt) + Send + Sync> InterruptSink for F {
    fn interrupt(&self, irq: Interrupt) {
        self(irq)
    }
}

/// One ATC invalidation, as `CMD_ATC_INV` asks a device for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AtcInvalidation {
    /// The PASID whose translations go (SSV = 1), or `None` for translations without one.
    pub pasid: Option<u32>,
    /// Global: with a PASID, global translations of every PASID go too.
    pub global: bool,
    /// First byte of the span (aligned to it).
    pub addr: u64,
    /// log2 of the span in bytes (64: every address).
    pub span_log2: u32,
}

/// How a device answered an ATC invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtcCompletion {
    /// The invalidation completed.
    Completed,
    /// It did not (a completion timeout): the next `CMD_SYNC` fails with CERROR_ATC_INV_SYNC.
    Failed,
}

/// Where the SMMU's messages to one device go; attached per StreamID with
/// [`SmmuUnit::attach_device`].
///
/// It is called while the unit's registers are locked, so it must not call back into the
/// unit.
pub trait DeviceSink: Send + Sync {
    /// Invalidates the device's ATC (`CMD_ATC_INV` for StreamID `sid`).
    fn invalidate_atc(&self, sid: u32, inv: AtcInvalidation) -> AtcCompletion;

    /// Delivers a PRG response to `sid`: group `prgi` (of `pasid`, when the response carries
    /// one) completes with `response` (from `CMD_PRI_RESP`, or automatic).
    fn page_response(&self, sid: u32, pasid: Option<u32>, prgi: u16, response: PriResponse);

    /// The stalled request `stag` of `sid` is retried or terminated (`CMD_RESUME`,
    /// `CMD_STALL_TERM`).
    fn resume(&self, sid: u32, stag: u16, action: ResumeAction);
}

/// A message of the unit to a device, for closures used as a [`DeviceSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMessage {
    /// [`DeviceSink::invalidate_atc`] (the closure's invalidation always completes).
    InvalidateAtc {
        /// StreamID.
        sid: u32,
        /// What goes.
        inv: AtcInvalidation,
    },
    /// [`DeviceSink::page_response`].
    PageResponse {
        /// StreamID.
        sid: u32,
        /// PASID of the response, if it carries one.
        pasid: Option<u32>,
        /// Page request group index.
        prgi: u16,
        /// The response.
        response: PriResponse,
    },
    /// [`DeviceSink::resume`].
    Resume {
        /// StreamID.
        sid: u32,
        /// The stalled request.
        stag: u16,
        /// Retry or terminate.
        action: ResumeAction,
    },
}

impl<F: Fn(DeviceMessage) + Send + Sync> DeviceSink for F {
    fn invalidate_atc(&self, sid: u32, inv: AtcInvalidation) -> AtcCompletion {
        self(DeviceMessage::InvalidateAtc { sid, inv });
        AtcCompletion::Completed
    }

    fn page_response(&self, sid: u32, pasid: Option<u32>, prgi: u16, response: PriResponse) {
        self(DeviceMessage::PageResponse {
            sid,
            pasid,
            prgi,
            response,
        })
    }

    fn resume(&self, sid: u32, stag: u16, action: ResumeAction) {
        self(DeviceMessage::Resume { sid, stag, action })
    }
}

/// Why a unit could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UnitError {
    /// The parameters describe no SMMU the specification allows.
    #[error("invalid SMMU parameters: {0}")]
    Params(#[from] ParamsError),
    /// The translation engine cannot model these capabilities.
    #[error(transparent)]
    Caps(#[from] CapsError),
}

impl ModelCaps {
    /// The translation engine's capabilities on an SMMU made with `params`.
    pub fn from_params(params: &SmmuParams) -> ModelCaps {
        ModelCaps {
            s1p: params.stage1,
            s2p: params.stage2,
            sid_bits: params.sid_bits,
            ssid_bits: params.ssid_bits,
            oas_bits: params.oas_bits,
            gran4k: params.gran4k,
            gran16k: params.gran16k,
            gran64k: params.gran64k,
            httu: match params.httu {
                regs::Httu::None => Httu::None,
                regs::Httu::Access => Httu::Access,
                regs::Httu::AccessDirty | regs::Httu::AccessDirtyTable => Httu::AccessDirty,
            },
            two_level_ste: params.two_level_stream_table,
            two_level_cd: params.two_level_cd,
            ats: params.ats,
            // IDR0.NS1ATS = 1: no split-stage ATS.
            split_ats: false,
            asid16: params.asid16,
            vmid16: params.vmid16,
            stall_model: match params.stall_model {
                regs::StallModel::StallForced => StallModel::StallForced,
                regs::StallModel::StallAndTerminate => StallModel::StallAndTerminate,
                regs::StallModel::TerminateOnly | regs::StallModel::Reserved => {
                    StallModel::TerminateOnly
                }
            },
            term_abort: params.terminate_aborts,
        }
    }
}

/// A request held stalled until `CMD_RESUME` or `CMD_STALL_TERM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stalled {
    sid: u32,
    stag: u16,
}

/// The state behind the unit's lock.
struct Inner {
    regs: RegisterFile,
    /// Commands carried out.
    tally: CommandTally,
    /// An ATC invalidation failed since the last `CMD_SYNC`.
    atc_failed: bool,
    /// Stalled requests, oldest first.
    stalled: Vec<Stalled>,
    /// Interrupts to tell the sink of once the lock is released.
    out: Vec<Interrupt>,
}

/// One SMMUv3: registers, translation engine, command, event and PRI queues, over the
/// physical memory `M`.
pub struct SmmuUnit<M: AddressSpace> {
    inner: Mutex<Inner>,
    engine: TranslationUnit<M>,
    irq: Arc<dyn InterruptSink>,
    devices: RwLock<HashMap<u32, Arc<dyn DeviceSink>>>,
    cmd_caps: CmdCaps,
    stall_max: usize,
}

impl<M: AddressSpace> std::fmt::Debug for SmmuUnit<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmmuUnit")
            .field("regs", &self.inner.lock().regs)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl<M: AddressSpace> SmmuUnit<M> {
    /// An SMMU with `params` in its reset state, walking and writing `mem`, signalling
    /// interrupts through `irq`.
    pub fn new(params: SmmuParams, mem: M, irq: Arc<dyn InterruptSink>) -> Result<Self, UnitError> {
        let regs = RegisterFile::new(params)?;
        let engine = TranslationUnit::new(ModelCaps::from_params(&params), mem)?;
        engine.set_global_abort(regs.gbpa().abort());
        let stall_max = if params.stall_model.stalls() {
            usize::from(params.stall_max.max(1))
        } else {
            0
        };
        Ok(SmmuUnit {
            inner: Mutex::new(Inner {
                regs,
                tally: CommandTally::default(),
                atc_failed: false,
                stalled: Vec::new(),
                out: Vec::new(),
            }),
            engine,
            irq,
            devices: RwLock::new(HashMap::new()),
            cmd_caps: CmdCaps::from(&params),
            stall_max,
        })
    }

    /// Sends the SMMU's messages for StreamID `sid` to `device` (replacing any before).
    pub fn attach_device(&self, sid: u32, device: Arc<dyn DeviceSink>) {
        self.devices.write().insert(sid, device);
    }

    /// Stops sending messages for StreamID `sid`.
    pub fn detach_device(&self, sid: u32) {
        self.devices.write().remove(&sid);
    }

    /// The device attached for `sid`.
    fn device(&self, sid: u32) -> Option<Arc<dyn DeviceSink>> {
        self.devices.read().get(&sid).cloned()
    }

    /// Runs `f` on the locked state, then tells the sink of the interrupts it raised.
    fn locked<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let (r, out) = {
            let mut inner = self.inner.lock();
            let r = f(&mut inner);
            (r, std::mem::take(&mut inner.out))
        };
        for i in out {
            self.irq.interrupt(i);
        }
        r
    }

    /// Reads `size` (4 or 8) bytes at `offset` in the 128 KiB register frame.
    pub fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        self.inner.lock().regs.mmio_read(offset, size)
    }

    /// Writes the low `size` (4 or 8) bytes of `value` at `offset` in the register frame, and
    /// carries out what the write sets in motion before returning.
    pub fn mmio_write(&self, offset: u64, size: u32, value: u64) {
        self.locked(|inner| {
            let actions = inner.regs.mmio_write(offset, size, value);
            for a in actions {
                self.act(inner, a);
            }
            self.process_commands(inner);
        });
    }

    /// Carries out one action of a register write (commands are consumed after all of them).
    fn act(&self, inner: &mut Inner, action: Action) {
        match action {
            Action::SmmuEnable(on) => {
                if on {
                    let r = &inner.regs;
                    self.engine.set_stream_table(StreamTable::from_registers(
                        r.strtab_base().into_bits(),
                        r.strtab_base_cfg().into_bits(),
                        self.engine.caps(),
                    ));
                    self.engine.set_record_invalid_sid(r.cr2().recinvsid());
                }
                self.engine.enable(on);
            }
            Action::AtsCheck(on) => self.engine.set_ats_check(on),
            Action::GbpaUpdate(g) => self.engine.set_global_abort(g.abort()),
            Action::PriQueueEnable(_)
            | Action::EventQueueEnable(_)
            | Action::CommandQueueEnable(_)
            | Action::CommandProducerWritten
            | Action::EventConsumerWritten
            | Action::PriConsumerWritten
            | Action::GerrorAcknowledged(_)
            | Action::IrqCtrlChanged(_) => {}
        }
    }

    /// Delivers `irq`: makes its MSI write, if any, and queues it for the sink. An aborted MSI
    /// write activates the source's MSI abort error instead (and so, perhaps, the GERROR
    /// interrupt).
    fn signal(&self, inner: &mut Inner, irq: Interrupt) {
        if let Some(msi) = irq.msi
            && self
                .engine
                .memory()
                .write(msi.addr, &msi.data.to_le_bytes())
                .is_err()
        {
            let err = match irq.irq {
                Irq::Gerror => Gerror::new().with_msi_gerror_abt_err(true),
                Irq::EventQueue => Gerror::new().with_msi_eventq_abt_err(true),
                Irq::PriQueue => Gerror::new().with_msi_priq_abt_err(true),
                Irq::CmdSync => Gerror::new().with_msi_cmdq_abt_err(true),
            };
            self.global_error(inner, err);
            return;
        }
        inner.out.push(irq);
    }

    /// Activates the global errors `err` and signals the GERROR interrupt if that raises one.
    fn global_error(&self, inner: &mut Inner, err: Gerror) {
        if let Some(i) = inner.regs.activate_gerror(err) {
            self.signal(inner, i);
        }
    }

    /// Translates one request from a device. A fault whose event is to be recorded is written
    /// to the event queue before it is returned: nothing is written while the queue is
    /// disabled, a full queue reports an overflow (EVENTQ_PROD.OVFLG) and loses the event, an
    /// aborted write activates EVENTQ_ABT_ERR; the event interrupt is signalled when the queue
    /// was empty. A hit takes no lock.
    #[inline]
    pub fn translate(&self, req: Request) -> Result<Translated, Fault> {
        match self.engine.translate(req) {
            Ok(t) => Ok(t),
            Err(f) if f.record && f.event.is_some() => Err(self.record(f)),
            Err(f) => Err(f),
        }
    }

    /// The TLB's epoch, which moves when an entry leaves the TLB and when what decides a
    /// plain hit changes (see [`TranslationUnit::hit_epoch`]): for as long as it reads the
    /// same, a request [`translate_hit`](Self::translate_hit) answered is answered the same
    /// again, by this unit's TLB. A front cache of the unit's answers (a VMM's, over many
    /// accesses) stays exact by keeping answers only while this holds.
    #[inline(always)]
    pub fn hit_epoch(&self) -> softiommu_pgtable::tlb::Epoch {
        self.engine.hit_epoch()
    }

    /// The translation of `req` when it is a plain TLB hit, with nothing walked, recorded or
    /// counted; `None` leaves it to [`translate`](Self::translate).
    #[inline(always)]
    pub fn translate_hit(&self, req: Request) -> Option<Translated> {
        self.engine.translate_hit(req)
    }

    /// Turns the checking mode on or off: every TLB hit is compared with a fresh walk.
    pub fn set_checking(&self, on: bool) {
        self.engine.checking().set_enabled(on);
    }

    /// How many stale TLB hits the checking mode has found.
    pub fn stale_count(&self) -> u64 {
        self.engine.checking().count()
    }

    /// The stale TLB hits found (the first 1024).
    pub fn stale_reports(&self) -> Vec<StaleTranslation> {
        self.engine.checking().reports()
    }

    /// Turns the counting of TLB hits and walks on or off (off when the unit is made);
    /// commands are counted always.
    pub fn set_stats(&self, on: bool) {
        self.engine.set_stats(on);
    }

    /// The unit's counters: TLB hits and walks (while counting is on), commands by opcode,
    /// `CMD_SYNC`s and TLB invalidation batches.
    pub fn stats(&self) -> UnitStats {
        let hits = self.engine.hit_counts();
        self.inner.lock().tally.stats(hits)
    }

    /// The translation engine (its caches and capabilities, for inspection).
    pub fn engine(&self) -> &TranslationUnit<M> {
        &self.engine
    }

    /// The register file as it stands (for inspection; software uses MMIO).
    pub fn registers(&self) -> RegisterFile {
        self.inner.lock().regs.clone()
    }
}

//! What the model reports to the register file: commands consumed or refused, records
//! written to or lost from the output queues, global errors; and the interrupts they raise.

use super::super::control::Gerror;
use super::{Interrupt, Irq, OutputSlot, RegisterFile};
use crate::cmd::{Cerror, CmdSync, SyncSignal};
use crate::queue::Queue;

/// Whether an output queue can take no record: it is full, or PROD and CONS are inconsistent
/// (the SMMU then treats the queue as full).
fn no_room(q: &Queue) -> bool {
    q.is_full() || !q.is_consistent()
}

impl RegisterFile {
    /// The command at CMDQ_CONS was consumed: CONS moves on to the next one.
    pub fn command_consumed(&mut self) {
        let next = self.cmdq().cons().next();
        self.cmdq.cons = self.cmdq.cons.with_rd(next.raw());
    }

    /// The command at CMDQ_CONS could not be consumed: CONS stays on it, CMDQ_CONS.ERR takes
    /// `err`'s code and GERROR.CMDQ_ERR becomes active, which stops command processing until
    /// software acknowledges it. Returns the GERROR interrupt to signal, if any. Ignored while
    /// a command queue error is already active.
    pub fn command_error(&mut self, err: Cerror) -> Option<Interrupt> {
        if self.active_gerrors().cmdq_err() {
            return None;
        }
        self.cmdq.cons = self.cmdq.cons.with_err(err.code());
        self.activate_gerror(Gerror::new().with_cmdq_err(true))
    }

    /// Activates the errors of `errors` that this SMMU has and that are not active yet, by
    /// toggling their GERROR bits. Returns the GERROR interrupt when an error was activated
    /// and GERROR_IRQEN is set.
    pub fn activate_gerror(&mut self, errors: Gerror) -> Option<Interrupt> {
        let new = errors.into_bits()
            & self.gerror_fields().into_bits()
            & !self.active_gerrors().into_bits();
        if new == 0 {
            return None;
        }
        self.gerror = Gerror::from_bits(self.gerror.into_bits() ^ new);
        self.interrupt(Irq::Gerror)
    }

    /// Where the next event record goes: nowhere while the event queue is disabled, nowhere
    /// (an overflow) while it is full (or its PROD and CONS are inconsistent).
    pub fn event_slot(&self) -> OutputSlot {
        if !self.cr0ack.eventqen() {
            return OutputSlot::Disabled;
        }
        let q = self.eventq();
        if no_room(&q) {
            OutputSlot::Full
        } else {
            OutputSlot::Free(q.prod_address())
        }
    }

    /// An event record was written where [`RegisterFile::event_slot`] said: EVENTQ_PROD moves
    /// on. Returns the event queue interrupt when the queue was empty before and EVENTQ_IRQEN
    /// is set. Ignored when the queue has no room.
    pub fn event_written(&mut self) -> Option<Interrupt> {
        let q = self.eventq();
        if no_room(&q) {
            return None;
        }
        self.eventq.prod = self.eventq.prod.with_wr(q.prod().next().raw());
        if q.is_empty() {
            self.interrupt(Irq::EventQueue)
        } else {
            None
        }
    }

    /// An event record was discarded because the event queue was full: EVENTQ_PROD.OVFLG
    /// toggles unless an overflow is already outstanding.
    pub fn event_overflow(&mut self) {
        if !self.eventq_overflow_active() {
            self.eventq.prod = self.eventq.prod.with_ovflg(!self.eventq.prod.ovflg());
        }
    }

    /// Whether an event queue overflow is outstanding: EVENTQ_PROD.OVFLG differs from
    /// EVENTQ_CONS.OVACKFLG.
    pub fn eventq_overflow_active(&self) -> bool {
        self.eventq.prod.ovflg() != self.eventq.cons.ovackflg()
    }

    /// Where the next page request goes: nowhere while the PRI queue is effectively disabled
    /// (PRIQEN = 0 or SMMUEN = 0; the request is discarded), nowhere (an overflow) while it is
    /// full or an overflow is outstanding. A discarded request with Last = 1 that is not a
    /// Stop marker is answered by the SMMU itself (spec 8.1).
    pub fn page_request_slot(&self) -> OutputSlot {
        if !self.priq_effective() {
            return OutputSlot::Disabled;
        }
        let q = self.priq();
        if no_room(&q) || self.priq_overflow_active() {
            OutputSlot::Full
        } else {
            OutputSlot::Free(q.prod_address())
        }
    }

    /// A page request with `last` was written where [`RegisterFile::page_request_slot`] said:
    /// PRIQ_PROD moves on. Returns the PRI queue interrupt (with PRIQ_IRQEN) when the queue was
    /// empty before, or with `SMMU_PRIQ_IRQ_CFG2.LO` when `last` is set. Ignored when the
    /// queue has no room.
    pub fn page_request_written(&mut self, last: bool) -> Option<Interrupt> {
        let q = self.priq();
        if no_room(&q) {
            return None;
        }
        self.priq.prod = self.priq.prod.with_wr(q.prod().next().raw());
        let signal = if self.priq_irq.cfg2.lo() {
            last
        } else {
            q.is_empty()
        };
        if signal {
            self.interrupt(Irq::PriQueue)
        } else {
            None
        }
    }

    /// A page request with `last` was discarded because the PRI queue was full or an overflow
    /// was outstanding: PRIQ_PROD.OVFLG toggles unless an overflow is already outstanding.
    /// Returns the PRI queue interrupt when `SMMU_PRIQ_IRQ_CFG2.LO` is set and `last` is.
    pub fn page_request_overflow(&mut self, last: bool) -> Option<Interrupt> {
        if !self.priq_overflow_active() {
            self.priq.prod = self.priq.prod.with_ovflg(!self.priq.prod.ovflg());
        }
        if self.priq_irq.cfg2.lo() && last {
            self.interrupt(Irq::PriQueue)
        } else {
            None
        }
    }

    /// Whether a PRI queue overflow is outstanding: PRIQ_PROD.OVFLG differs from
    /// PRIQ_CONS.OVACKFLG. While it is, no page request is written.
    pub fn priq_overflow_active(&self) -> bool {
        self.priq.prod.ovflg() != self.priq.cons.ovackflg()
    }

    /// The signal a completed `CMD_SYNC` raises: with CS = SIG_IRQ, the CMD_SYNC interrupt,
    /// with the command's own MSI write when IDR0.MSI is set and MSIAddress is not 0 (no
    /// enable in IRQ_CTRL gates it). `None` for SIG_NONE and SIG_SEV (a WFE wake-up has no
    /// model here); the reserved CS never reaches completion.
    pub fn sync_interrupt(&self, sync: &CmdSync) -> Option<Interrupt> {
        (sync.signal() == SyncSignal::Irq).then(|| Interrupt {
            irq: Irq::CmdSync,
            msi: if self.idr0.msi() {
                sync.msi_write()
            } else {
                None
            },
        })
    }

    /// The interrupt `irq` raises now: `None` while its enable is clear.
    fn interrupt(&self, irq: Irq) -> Option<Interrupt> {
        let ack = self.irq_ctrlack;
        let (enabled, cfg) = match irq {
            Irq::Gerror => (ack.gerror_irqen(), &self.gerror_irq),
            Irq::EventQueue => (ack.eventq_irqen(), &self.eventq_irq),
            Irq::PriQueue => (ack.priq_irqen(), &self.priq_irq),
            Irq::CmdSync => return None,
        };
        let msi = if self.idr0.msi() { cfg.msi() } else { None };
        enabled.then_some(Interrupt { irq, msi })
    }
}

//! Decoding of MMIO accesses: which register an offset names, its size, what a read returns
//! and what a write changes.

use super::super::control::{Cr0, Cr1, Cr2, Gbpa, Gerror, IrqCfg0, IrqCfg2, IrqCtrl};
use super::super::control::{StrtabBase, StrtabBaseCfg};
use super::super::idr::{AIDR, IIDR};
use super::super::*;
use super::{Action, IrqCfg, QueueRegs, RegisterFile};
use crate::queue::{QueueBase, QueueCons, QueuePos, QueueProd};

/// The bytes of a doubleword a 32-bit access at its low half covers.
const LOW: u64 = 0xffff_ffff;

/// A legal access of `size` bytes at `offset`: the aligned doubleword it falls in and the
/// bytes of it (lanes) the access covers. `None` for any other size or a misaligned offset.
fn lanes(offset: u64, size: u32) -> Option<(u64, u64)> {
    let lanes = match size {
        4 if offset.is_multiple_of(4) => LOW << ((offset & 4) * 8),
        8 if offset.is_multiple_of(8) => u64::MAX,
        _ => return None,
    };
    Some((offset & !7, lanes))
}

/// A software write of an output queue's PROD (WR and OVFLG) in a queue of 2^`n` entries.
fn output_prod(q: &mut QueueRegs, n: u8, v: u32) {
    let w = QueueProd::from_bits(v);
    q.prod = QueueProd::new()
        .with_wr(QueuePos::new(n, w.wr()).raw())
        .with_ovflg(w.ovflg());
}

/// A software write of an output queue's CONS (RD and OVACKFLG) in a queue of 2^`n` entries.
fn output_cons(q: &mut QueueRegs, n: u8, v: u32) {
    let w = QueueCons::from_bits(v);
    q.cons = QueueCons::new()
        .with_rd(QueuePos::new(n, w.rd()).raw())
        .with_ovackflg(w.ovackflg());
}

/// Which of a source's three interrupt configuration registers an offset names.
#[derive(Clone, Copy)]
enum CfgReg {
    Cfg0,
    Cfg1,
    Cfg2,
}

/// The offsets of the three interrupt sources' CFG0 registers.
const IRQ_CFG_BASES: [u64; 3] = [
    SMMU_GERROR_IRQ_CFG0,
    SMMU_EVENTQ_IRQ_CFG0,
    SMMU_PRIQ_IRQ_CFG0,
];

impl RegisterFile {
    /// Reads `size` (4 or 8) bytes at `offset` from the base of register page 0.
    pub fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        let Some((base, lanes)) = lanes(offset, size) else {
            return 0;
        };
        let whole = self.read_qword_reg(base).unwrap_or_else(|| {
            u64::from(self.read_dword_reg(Self::canonical(base)))
                | u64::from(self.read_dword_reg(Self::canonical(base + 4))) << 32
        });
        (whole & lanes) >> lanes.trailing_zeros()
    }

    /// Writes the low `size` (4 or 8) bytes of `value` at `offset` from the base of register
    /// page 0, and returns what the model is to do about it.
    pub fn mmio_write(&mut self, offset: u64, size: u32, value: u64) -> Vec<Action> {
        let mut out = Vec::new();
        let Some((base, lanes)) = lanes(offset, size) else {
            return out;
        };
        let placed = (value << lanes.trailing_zeros()) & lanes;
        if self.read_qword_reg(base).is_some() {
            self.write_qword(base, placed, lanes);
            return out;
        }
        for half in [base, base + 4] {
            let shift = (half - base) * 8;
            if lanes >> shift & LOW != 0 {
                let word = (placed >> shift) as u32;
                self.write_dword(Self::canonical(half), word, &mut out);
            }
        }
        out
    }

    /// The page-1 queue registers are also reachable at their page-0 offsets.
    fn canonical(offset: u64) -> u64 {
        match offset {
            SMMU_EVENTQ_PROD_PAGE0
            | SMMU_EVENTQ_CONS_PAGE0
            | SMMU_PRIQ_PROD_PAGE0
            | SMMU_PRIQ_CONS_PAGE0 => offset + SMMU_PAGE1,
            _ => offset,
        }
    }

    fn pri(&self) -> bool {
        self.idr0.pri()
    }

    fn msi(&self) -> bool {
        self.idr0.msi()
    }

    /// The interrupt source and register an offset of `*_IRQ_CFG0/1/2` names, if this SMMU
    /// has it.
    fn irq_cfg_at(&self, offset: u64) -> Option<(usize, CfgReg)> {
        let (src, cfg0) = IRQ_CFG_BASES
            .iter()
            .enumerate()
            .find(|&(_, &b)| (b..b + 16).contains(&offset))?;
        let reg = match offset - cfg0 {
            0 | 4 => CfgReg::Cfg0,
            8 => CfgReg::Cfg1,
            _ => CfgReg::Cfg2,
        };
        let is_priq = src == 2;
        let present = match reg {
            // PRIQ_IRQ_CFG2.LO exists with PRI whether or not MSIs do.
            CfgReg::Cfg2 if is_priq => self.pri(),
            _ => self.msi() && (!is_priq || self.pri()),
        };
        present.then_some((src, reg))
    }

    fn irq_cfg(&self, src: usize) -> &IrqCfg {
        match src {
            0 => &self.gerror_irq,
            1 => &self.eventq_irq,
            _ => &self.priq_irq,
        }
    }

    /// Whether the interrupt source `src` is enabled (guarding its configuration).
    fn irq_enabled(&self, src: usize) -> bool {
        let on = |c: IrqCtrl| match src {
            0 => c.gerror_irqen(),
            1 => c.eventq_irqen(),
            _ => c.priq_irqen(),
        };
        on(self.irq_ctrl) || on(self.irq_ctrlack)
    }

    /// The value of the 64-bit register at `base`; `None` if no 64-bit register of this SMMU
    /// is there.
    fn read_qword_reg(&self, base: u64) -> Option<u64> {
        let v = match base {
            SMMU_STRTAB_BASE => self.strtab_base.into_bits(),
            SMMU_CMDQ_BASE => self.cmdq.base.into_bits(),
            SMMU_EVENTQ_BASE => self.eventq.base.into_bits(),
            SMMU_PRIQ_BASE if self.pri() => self.priq.base.into_bits(),
            _ => match self.irq_cfg_at(base)? {
                (src, CfgReg::Cfg0) => self.irq_cfg(src).cfg0.into_bits(),
                _ => return None,
            },
        };
        Some(v)
    }

    /// The value of the 32-bit register at `offset` (0 if there is none).
    fn read_dword_reg(&self, offset: u64) -> u32 {
        match offset {
            SMMU_IDR0 => self.idr0.into_bits(),
            SMMU_IDR1 => self.idr1.into_bits(),
            SMMU_IDR2 => self.idr2.into_bits(),
            SMMU_IDR3 => self.idr3.into_bits(),
            SMMU_IDR5 => self.idr5.into_bits(),
            SMMU_IIDR => IIDR.into_bits(),
            SMMU_AIDR => AIDR.into_bits(),
            SMMU_CR0 => self.cr0.into_bits(),
            SMMU_CR0ACK => self.cr0ack.into_bits(),
            SMMU_CR1 => self.cr1.into_bits(),
            SMMU_CR2 => self.cr2.into_bits(),
            SMMU_GBPA => self.gbpa.into_bits(),
            SMMU_IRQ_CTRL => self.irq_ctrl.into_bits(),
            SMMU_IRQ_CTRLACK => self.irq_ctrlack.into_bits(),
            SMMU_GERROR => self.gerror.into_bits(),
            SMMU_GERRORN => self.gerrorn.into_bits(),
            SMMU_STRTAB_BASE_CFG => self.strtab_base_cfg.into_bits(),
            SMMU_CMDQ_PROD => self.cmdq.prod.into_bits(),
            SMMU_CMDQ_CONS => self.cmdq.cons.into_bits(),
            SMMU_EVENTQ_PROD => self.eventq.prod.into_bits(),
            SMMU_EVENTQ_CONS => self.eventq.cons.into_bits(),
            SMMU_PRIQ_PROD if self.pri() => self.priq.prod.into_bits(),
            SMMU_PRIQ_CONS if self.pri() => self.priq.cons.into_bits(),
            _ => match self.irq_cfg_at(offset) {
                Some((src, CfgReg::Cfg1)) => self.irq_cfg(src).cfg1,
                Some((src, CfgReg::Cfg2)) => self.irq_cfg(src).cfg2.into_bits(),
                // IDR4, STATUSR, AGBPA and everything unnamed read 0.
                _ => 0,
            },
        }
    }

    /// A write of the 32-bit register at `offset`.
    fn write_dword(&mut self, offset: u64, v: u32, out: &mut Vec<Action>) {
        match offset {
            SMMU_CR0 => self.write_cr0(Cr0::from_bits(v), out),
            SMMU_CR1 => self.write_cr1(Cr1::from_bits(v)),
            SMMU_CR2 if !self.smmuen_any() => {
                let w = Cr2::from_bits(v);
                self.cr2 = Cr2::new()
                    .with_e2h(w.e2h() && self.idr0.hyp())
                    .with_recinvsid(w.recinvsid());
            }
            SMMU_GBPA => self.write_gbpa(Gbpa::from_bits(v), out),
            SMMU_IRQ_CTRL => self.write_irq_ctrl(IrqCtrl::from_bits(v), out),
            SMMU_GERRORN => self.write_gerrorn(Gerror::from_bits(v), out),
            SMMU_STRTAB_BASE_CFG if !self.smmuen_any() => {
                let w = StrtabBaseCfg::from_bits(v);
                let two = self.params.two_level_stream_table;
                self.strtab_base_cfg = StrtabBaseCfg::new()
                    .with_log2size(w.log2size())
                    .with_split(if two { w.split() } else { 0 })
                    .with_fmt(if two { w.fmt() } else { 0 });
            }
            SMMU_CMDQ_PROD => {
                let w = QueueProd::from_bits(v);
                self.cmdq.prod = QueueProd::new().with_wr(self.cmdq_pos(w.wr()));
                out.push(Action::CommandProducerWritten);
            }
            SMMU_CMDQ_CONS if !self.cmdqen_any() => {
                let w = QueueCons::from_bits(v);
                let rd = self.cmdq_pos(w.rd());
                self.cmdq.cons = self.cmdq.cons.with_rd(rd);
            }
            SMMU_EVENTQ_PROD if !self.eventqen_any() => {
                let n = self.eventq().log2size();
                output_prod(&mut self.eventq, n, v);
            }
            SMMU_EVENTQ_CONS => {
                let n = self.eventq().log2size();
                output_cons(&mut self.eventq, n, v);
                out.push(Action::EventConsumerWritten);
            }
            SMMU_PRIQ_PROD if self.pri() && !self.priqen_any() => {
                let n = self.priq().log2size();
                output_prod(&mut self.priq, n, v);
            }
            SMMU_PRIQ_CONS if self.pri() => {
                let n = self.priq().log2size();
                output_cons(&mut self.priq, n, v);
                out.push(Action::PriConsumerWritten);
            }
            other => match self.irq_cfg_at(other) {
                Some((src, CfgReg::Cfg1)) if !self.irq_enabled(src) => {
                    self.irq_cfg_mut(src).cfg1 = v;
                }
                Some((src, CfgReg::Cfg2)) if !self.irq_enabled(src) => {
                    let w = IrqCfg2::from_bits(v);
                    let msi = self.msi();
                    self.irq_cfg_mut(src).cfg2 = IrqCfg2::new()
                        .with_mem_attr(if msi { w.mem_attr() } else { 0 })
                        .with_sh(if msi { w.sh() } else { 0 })
                        .with_lo(src == 2 && w.lo());
                }
                _ => {}
            },
        }
    }

    /// A write of the 64-bit register at `base`: `lanes` are the bits written, `value` holds
    /// them in place.
    fn write_qword(&mut self, base: u64, value: u64, lanes: u64) {
        let merge = |cur: u64| (cur & !lanes) | (value & lanes);
        let oas = self.params.oas_mask();
        match base {
            SMMU_STRTAB_BASE if !self.smmuen_any() => {
                let w = StrtabBase::from_bits(merge(self.strtab_base.into_bits()));
                self.strtab_base = StrtabBase::new()
                    .with_address(w.address() & oas)
                    .with_ra(w.ra());
            }
            SMMU_CMDQ_BASE if !self.cmdqen_any() => {
                let w = QueueBase::from_bits(merge(self.cmdq.base.into_bits()));
                self.cmdq.base = queue_base(w, oas);
                self.cmdq = repositioned(self.cmdq, self.cmdq().log2size());
            }
            SMMU_EVENTQ_BASE if !self.eventqen_any() => {
                let w = QueueBase::from_bits(merge(self.eventq.base.into_bits()));
                self.eventq.base = queue_base(w, oas);
                self.eventq = repositioned(self.eventq, self.eventq().log2size());
            }
            SMMU_PRIQ_BASE if self.pri() && !self.priqen_any() => {
                let w = QueueBase::from_bits(merge(self.priq.base.into_bits()));
                self.priq.base = queue_base(w, oas);
                self.priq = repositioned(self.priq, self.priq().log2size());
            }
            _ => {
                if let Some((src, CfgReg::Cfg0)) = self.irq_cfg_at(base)
                    && !self.irq_enabled(src)
                {
                    let cfg = self.irq_cfg_mut(src);
                    let w = IrqCfg0::from_bits(merge(cfg.cfg0.into_bits()));
                    cfg.cfg0 = IrqCfg0::new().with_address(w.address() & oas);
                }
            }
        }
    }

    fn irq_cfg_mut(&mut self, src: usize) -> &mut IrqCfg {
        match src {
            0 => &mut self.gerror_irq,
            1 => &mut self.eventq_irq,
            _ => &mut self.priq_irq,
        }
    }

    /// A command queue position as CMDQ_PROD and CMDQ_CONS store it: index and wrap bit only.
    fn cmdq_pos(&self, raw: u32) -> u32 {
        QueuePos::new(self.cmdq().log2size(), raw).raw()
    }

    fn smmuen_any(&self) -> bool {
        self.cr0.smmuen() || self.cr0ack.smmuen()
    }

    fn cmdqen_any(&self) -> bool {
        self.cr0.cmdqen() || self.cr0ack.cmdqen()
    }

    fn eventqen_any(&self) -> bool {
        self.cr0.eventqen() || self.cr0ack.eventqen()
    }

    fn priqen_any(&self) -> bool {
        self.cr0.priqen() || self.cr0ack.priqen()
    }

    /// CR0: the fields this SMMU has take the written value and are acknowledged at once,
    /// each change reported in the order SMMUEN, PRIQEN, EVENTQEN, CMDQEN, ATSCHK.
    fn write_cr0(&mut self, w: Cr0, out: &mut Vec<Action>) {
        let new = Cr0::new()
            .with_smmuen(w.smmuen())
            .with_priqen(w.priqen() && self.pri())
            .with_eventqen(w.eventqen())
            .with_cmdqen(w.cmdqen())
            .with_atschk(w.atschk() && self.idr0.ats());
        let old = self.cr0ack;
        self.cr0 = new;
        self.cr0ack = new;
        let mut report = |was: bool, now: bool, action: fn(bool) -> Action| {
            if was != now {
                out.push(action(now));
            }
        };
        report(old.smmuen(), new.smmuen(), Action::SmmuEnable);
        report(old.priqen(), new.priqen(), Action::PriQueueEnable);
        report(old.eventqen(), new.eventqen(), Action::EventQueueEnable);
        report(old.cmdqen(), new.cmdqen(), Action::CommandQueueEnable);
        report(old.atschk(), new.atschk(), Action::AtsCheck);
    }

    /// CR1: the TABLE fields change only while SMMUEN = 0, the QUEUE fields only while every
    /// queue is disabled.
    fn write_cr1(&mut self, w: Cr1) {
        let mut c = self.cr1;
        if !self.smmuen_any() {
            c = c
                .with_table_ic(w.table_ic())
                .with_table_oc(w.table_oc())
                .with_table_sh(w.table_sh());
        }
        if !self.cmdqen_any() && !self.eventqen_any() && !self.priqen_any() {
            c = c
                .with_queue_ic(w.queue_ic())
                .with_queue_oc(w.queue_oc())
                .with_queue_sh(w.queue_sh());
        }
        self.cr1 = c;
    }

    /// GBPA: only a write with UPDATE = 1 counts; the update completes at once.
    fn write_gbpa(&mut self, w: Gbpa, out: &mut Vec<Action>) {
        if !w.update() {
            return;
        }
        self.gbpa = Gbpa::from_bits(w.into_bits() & GBPA_FIELDS);
        out.push(Action::GbpaUpdate(self.gbpa));
    }

    fn write_irq_ctrl(&mut self, w: IrqCtrl, out: &mut Vec<Action>) {
        let new = IrqCtrl::new()
            .with_gerror_irqen(w.gerror_irqen())
            .with_priq_irqen(w.priq_irqen() && self.pri())
            .with_eventq_irqen(w.eventq_irqen());
        let changed = new != self.irq_ctrlack;
        self.irq_ctrl = new;
        self.irq_ctrlack = new;
        if changed {
            out.push(Action::IrqCtrlChanged(new));
        }
    }

    /// GERRORN keeps what is written to the fields this SMMU has; errors whose bits now agree
    /// are acknowledged.
    fn write_gerrorn(&mut self, w: Gerror, out: &mut Vec<Action>) {
        let before = self.active_gerrors().into_bits();
        self.gerrorn = Gerror::from_bits(w.into_bits() & self.gerror_fields().into_bits());
        let acked = before & !self.active_gerrors().into_bits();
        if acked != 0 {
            out.push(Action::GerrorAcknowledged(Gerror::from_bits(acked)));
        }
    }

    /// The GERROR fields this SMMU has.
    pub(crate) fn gerror_fields(&self) -> Gerror {
        let (pri, msi) = (self.pri(), self.msi());
        Gerror::new()
            .with_cmdq_err(true)
            .with_eventq_abt_err(true)
            .with_priq_abt_err(pri)
            .with_msi_cmdq_abt_err(msi)
            .with_msi_eventq_abt_err(msi)
            .with_msi_priq_abt_err(msi && pri)
            .with_msi_gerror_abt_err(msi)
            .with_sfm_err(true)
    }
}

/// The GBPA fields software may set (everything but UPDATE and the reserved bits).
const GBPA_FIELDS: u32 = Gbpa::new()
    .with_mem_attr(0xf)
    .with_mtcfg(true)
    .with_alloccfg(0xf)
    .with_shcfg(3)
    .with_privcfg(3)
    .with_instcfg(3)
    .with_abort(true)
    .into_bits();

/// A queue base as stored: ADDR cut to the output size, LOG2SIZE and the allocation hint as
/// written.
fn queue_base(w: QueueBase, oas: u64) -> QueueBase {
    QueueBase::new()
        .with_log2size(w.log2size())
        .with_address(w.address() & oas)
        .with_alloc_hint(w.alloc_hint())
}

/// The queue's PROD and CONS cut to the positions of a queue of 2^`log2size` entries (a
/// smaller queue truncates them; a larger one finds its new high bits zero).
fn repositioned(mut q: QueueRegs, log2size: u8) -> QueueRegs {
    q.prod = q.prod.with_wr(QueuePos::new(log2size, q.prod.wr()).raw());
    q.cons = q.cons.with_rd(QueuePos::new(log2size, q.cons.rd()).raw());
    q
}

//! The register file: the state software sees through MMIO on both register pages, and the
//! rules of its accesses.

mod access;
mod report;

use super::control::{
    Cr0, Cr1, Cr2, GBPA_RESET, Gbpa, Gerror, IrqCfg0, IrqCfg2, IrqCtrl, StreamTableConfig,
    StrtabBase, StrtabBaseCfg,
};
use super::idr::{Idr0, Idr1, Idr2, Idr3, Idr5};
use super::params::{ParamsError, SmmuParams};
use crate::queue::{Queue, QueueBase, QueueCons, QueueKind, QueueProd};

/// A side effect of a register write, for the model to carry out. Every change is already
/// acknowledged (CR0ACK, IRQ_CTRLACK, GBPA.UPDATE) when the write returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// CR0.SMMUEN changed: translation is now enabled (`true`) or every stream follows GBPA
    /// (`false`).
    SmmuEnable(bool),
    /// CR0.PRIQEN changed: the PRI queue is now enabled or disabled.
    PriQueueEnable(bool),
    /// CR0.EVENTQEN changed: the event queue is now enabled or disabled.
    EventQueueEnable(bool),
    /// CR0.CMDQEN changed: command processing is now enabled (commands are consumed while
    /// [`RegisterFile::cmdq_ready`] holds) or disabled.
    CommandQueueEnable(bool),
    /// CR0.ATSCHK changed: ATS Translated traffic is now checked against STE.EATS or not.
    AtsCheck(bool),
    /// `SMMU_CMDQ_PROD` was written: commands may be waiting
    /// ([`RegisterFile::cmdq_ready`]).
    CommandProducerWritten,
    /// `SMMU_EVENTQ_CONS` was written: software consumed events or acknowledged an overflow.
    EventConsumerWritten,
    /// `SMMU_PRIQ_CONS` was written: software consumed page requests or acknowledged an
    /// overflow.
    PriConsumerWritten,
    /// `SMMU_GERRORN` was written and these errors are no longer active (a command queue
    /// error acknowledged lets commands be consumed again).
    GerrorAcknowledged(Gerror),
    /// `SMMU_GBPA` was written with UPDATE = 1: these are the global bypass attributes now.
    GbpaUpdate(Gbpa),
    /// `SMMU_IRQ_CTRL` changed: these are the interrupt enables now.
    IrqCtrlChanged(IrqCtrl),
}

/// An interrupt source of the SMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Irq {
    /// A global error became active.
    Gerror,
    /// The event queue became non-empty.
    EventQueue,
    /// The PRI queue became non-empty, or (with `SMMU_PRIQ_IRQ_CFG2.LO`) took or lost a
    /// request with Last = 1.
    PriQueue,
    /// A `CMD_SYNC` with CS = SIG_IRQ completed (see [`RegisterFile::sync_interrupt`]).
    CmdSync,
}

/// A 32-bit MSI write the SMMU makes to signal an interrupt or a `CMD_SYNC` completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsiWrite {
    /// Physical address of the write (4-byte aligned, never 0).
    pub addr: u64,
    /// The 32-bit payload.
    pub data: u32,
    /// Memory type of the write (STE.MemAttr encoding).
    pub mem_attr: u8,
    /// Shareability of the write (0 NSH, 2 OSH, 3 ISH).
    pub sh: u8,
}

impl MsiWrite {
    /// The write of `data` to `addr` with the given attributes; `None` when `addr` is 0, which
    /// means "send no MSI".
    pub const fn new(addr: u64, data: u32, mem_attr: u8, sh: u8) -> Option<MsiWrite> {
        if addr == 0 {
            None
        } else {
            Some(MsiWrite {
                addr,
                data,
                mem_attr,
                sh,
            })
        }
    }
}

/// An interrupt the SMMU signals: a pulse on the source's wired output (where the platform
/// has one) and, with MSIs configured, a memory write the model makes. An aborted MSI write
/// is reported back through [`RegisterFile::activate_gerror`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interrupt {
    /// The source.
    pub irq: Irq,
    /// The MSI write (`None` without IDR0.MSI or with `*_IRQ_CFG0.ADDR` = 0).
    pub msi: Option<MsiWrite>,
}

/// Where the SMMU may write the next record of an output queue (event or PRI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputSlot {
    /// The queue is disabled: the record is discarded without an overflow.
    Disabled,
    /// The queue is full (or, for the PRI queue, an overflow is outstanding): the record is
    /// lost and the overflow is to be reported.
    Full,
    /// The record goes to this physical address.
    Free(u64),
}

/// The MSI configuration of one interrupt source: `*_IRQ_CFG0/1/2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct IrqCfg {
    /// `*_IRQ_CFG0`: the MSI address.
    pub cfg0: IrqCfg0,
    /// `*_IRQ_CFG1`: the MSI data.
    pub cfg1: u32,
    /// `*_IRQ_CFG2`: the MSI attributes (and, for the PRI queue, LO).
    pub cfg2: IrqCfg2,
}

impl IrqCfg {
    /// The MSI write this configuration makes; `None` when ADDR is 0.
    pub const fn msi(&self) -> Option<MsiWrite> {
        MsiWrite::new(
            self.cfg0.address(),
            self.cfg1,
            self.cfg2.mem_attr(),
            self.cfg2.sh(),
        )
    }
}

/// The registers of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct QueueRegs {
    base: QueueBase,
    prod: QueueProd,
    cons: QueueCons,
}

impl QueueRegs {
    const fn new() -> Self {
        QueueRegs {
            base: QueueBase::new(),
            prod: QueueProd::new(),
            cons: QueueCons::new(),
        }
    }
}

/// The MMIO-visible registers of one SMMU (the Non-secure programming interface).
///
/// Accesses are aligned 32-bit words and aligned 64-bit doublewords; anything else reads 0 and
/// is ignored. A 64-bit register may be accessed as two words; a 64-bit access to two 32-bit
/// registers acts on both. Offsets that name no register of this SMMU read 0 and ignore
/// writes (RAZ/WI), and so do read-only registers and reserved fields on write. A register
/// guarded by an enable ignores writes while the enable is set (or not yet acknowledged off).
#[derive(Debug, Clone)]
pub struct RegisterFile {
    params: SmmuParams,
    idr0: Idr0,
    idr1: Idr1,
    idr2: Idr2,
    idr3: Idr3,
    idr5: Idr5,

    cr0: Cr0,
    cr0ack: Cr0,
    cr1: Cr1,
    cr2: Cr2,
    gbpa: Gbpa,
    irq_ctrl: IrqCtrl,
    irq_ctrlack: IrqCtrl,
    gerror: Gerror,
    gerrorn: Gerror,
    gerror_irq: IrqCfg,
    eventq_irq: IrqCfg,
    priq_irq: IrqCfg,
    strtab_base: StrtabBase,
    strtab_base_cfg: StrtabBaseCfg,
    cmdq: QueueRegs,
    eventq: QueueRegs,
    priq: QueueRegs,
}

impl RegisterFile {
    /// The registers of an SMMU with `params`, in their reset state.
    pub fn new(params: SmmuParams) -> Result<Self, ParamsError> {
        params.validate()?;
        Ok(RegisterFile {
            params,
            idr0: params.idr0(),
            idr1: params.idr1(),
            idr2: params.idr2(),
            idr3: params.idr3(),
            idr5: params.idr5(),
            cr0: Cr0::new(),
            cr0ack: Cr0::new(),
            cr1: Cr1::new(),
            cr2: Cr2::new(),
            gbpa: GBPA_RESET,
            irq_ctrl: IrqCtrl::new(),
            irq_ctrlack: IrqCtrl::new(),
            gerror: Gerror::new(),
            gerrorn: Gerror::new(),
            gerror_irq: IrqCfg::default(),
            eventq_irq: IrqCfg::default(),
            priq_irq: IrqCfg::default(),
            strtab_base: StrtabBase::new(),
            strtab_base_cfg: StrtabBaseCfg::new(),
            cmdq: QueueRegs::new(),
            eventq: QueueRegs::new(),
            priq: QueueRegs::new(),
        })
    }

    /// The SMMU's parameters.
    pub fn params(&self) -> &SmmuParams {
        &self.params
    }

    /// `SMMU_IDR0`.
    pub fn idr0(&self) -> Idr0 {
        self.idr0
    }

    /// `SMMU_IDR1`.
    pub fn idr1(&self) -> Idr1 {
        self.idr1
    }

    /// `SMMU_IDR3`.
    pub fn idr3(&self) -> Idr3 {
        self.idr3
    }

    /// `SMMU_IDR5`.
    pub fn idr5(&self) -> Idr5 {
        self.idr5
    }

    /// `SMMU_CR0`.
    pub fn cr0(&self) -> Cr0 {
        self.cr0
    }

    /// `SMMU_CR0ACK`.
    pub fn cr0ack(&self) -> Cr0 {
        self.cr0ack
    }

    /// `SMMU_CR1`.
    pub fn cr1(&self) -> Cr1 {
        self.cr1
    }

    /// `SMMU_CR2`.
    pub fn cr2(&self) -> Cr2 {
        self.cr2
    }

    /// `SMMU_GBPA`.
    pub fn gbpa(&self) -> Gbpa {
        self.gbpa
    }

    /// `SMMU_IRQ_CTRL`.
    pub fn irq_ctrl(&self) -> IrqCtrl {
        self.irq_ctrl
    }

    /// `SMMU_GERROR`.
    pub fn gerror(&self) -> Gerror {
        self.gerror
    }

    /// `SMMU_GERRORN`.
    pub fn gerrorn(&self) -> Gerror {
        self.gerrorn
    }

    /// The global errors now active: the bits where GERROR and GERRORN differ.
    pub fn active_gerrors(&self) -> Gerror {
        Gerror::from_bits(self.gerror.into_bits() ^ self.gerrorn.into_bits())
    }

    /// `SMMU_GERROR_IRQ_CFG0/1/2`.
    pub fn gerror_irq_cfg(&self) -> IrqCfg {
        self.gerror_irq
    }

    /// `SMMU_EVENTQ_IRQ_CFG0/1/2`.
    pub fn eventq_irq_cfg(&self) -> IrqCfg {
        self.eventq_irq
    }

    /// `SMMU_PRIQ_IRQ_CFG0/1/2`.
    pub fn priq_irq_cfg(&self) -> IrqCfg {
        self.priq_irq
    }

    /// `SMMU_STRTAB_BASE`.
    pub fn strtab_base(&self) -> StrtabBase {
        self.strtab_base
    }

    /// `SMMU_STRTAB_BASE_CFG`.
    pub fn strtab_base_cfg(&self) -> StrtabBaseCfg {
        self.strtab_base_cfg
    }

    /// The stream table in use: base, format, size and split with reserved encodings
    /// resolved.
    pub fn stream_table(&self) -> StreamTableConfig {
        StreamTableConfig::new(
            self.strtab_base,
            self.strtab_base_cfg,
            self.params.sid_bits,
            self.params.two_level_stream_table,
        )
    }

    /// Whether translation is enabled (CR0.SMMUEN).
    pub fn smmu_enabled(&self) -> bool {
        self.cr0ack.smmuen()
    }

    /// The command queue: `SMMU_CMDQ_BASE`, `_PROD` and `_CONS`.
    pub fn cmdq(&self) -> Queue {
        self.queue(QueueKind::Command, &self.cmdq, self.idr1.cmdqs())
    }

    /// The event queue: `SMMU_EVENTQ_BASE`, `_PROD` and `_CONS`.
    pub fn eventq(&self) -> Queue {
        self.queue(QueueKind::Event, &self.eventq, self.idr1.eventqs())
    }

    /// The PRI queue: `SMMU_PRIQ_BASE`, `_PROD` and `_CONS`.
    pub fn priq(&self) -> Queue {
        self.queue(QueueKind::PageRequest, &self.priq, self.idr1.priqs())
    }

    /// `SMMU_CMDQ_CONS` (with ERR).
    pub fn cmdq_cons(&self) -> QueueCons {
        self.cmdq.cons
    }

    /// `SMMU_EVENTQ_PROD` (with OVFLG) and `SMMU_EVENTQ_CONS` (with OVACKFLG).
    pub fn eventq_regs(&self) -> (QueueProd, QueueCons) {
        (self.eventq.prod, self.eventq.cons)
    }

    /// `SMMU_PRIQ_PROD` (with OVFLG) and `SMMU_PRIQ_CONS` (with OVACKFLG).
    pub fn priq_regs(&self) -> (QueueProd, QueueCons) {
        (self.priq.prod, self.priq.cons)
    }

    /// Whether the SMMU consumes commands now: the queue is enabled, no command queue error
    /// is active and a command is waiting (an inconsistent PROD, ahead of CONS by more than
    /// the queue holds, stops consumption).
    pub fn cmdq_ready(&self) -> bool {
        let q = self.cmdq();
        self.cr0ack.cmdqen()
            && !self.active_gerrors().cmdq_err()
            && !q.is_empty()
            && q.is_consistent()
    }

    /// Whether PRI queue writes are effectively enabled: CR0.PRIQEN while SMMUEN = 1.
    pub fn priq_effective(&self) -> bool {
        self.cr0ack.priqen() && self.cr0ack.smmuen()
    }

    fn queue(&self, kind: QueueKind, regs: &QueueRegs, max: u8) -> Queue {
        Queue::new(kind, regs.base, max, regs.prod.wr(), regs.cons.rd())
    }
}

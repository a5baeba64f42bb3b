//! The unit driven as software drives it: registers through MMIO, tables and queues in memory.

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::formats::arm_s1::ArmS1;
use softiommu_pgtable::{Access, PageTable, Prot};

use super::*;
use crate::cmd::{CmdSync, Command};
use crate::event::{Event, EventId};
use crate::model::tests::{cd_for, s1_ste};
use crate::queue::{QueueBase, QueueCons, QueueProd};
use crate::regs::*;

mod bus;
mod commands;
mod errors;
mod events;
mod pri;
mod proptests;
mod registers;
mod threads;

/// Bytes of RAM, from physical address 0.
const MEM: u64 = 64 << 20;
/// Table pages come from [ALLOC, MEM); data lives below.
const ALLOC: u64 = 16 << 20;
/// An address no memory backs.
pub(super) const UNBACKED: u64 = 1 << 40;
/// The StreamID most tests use.
pub(super) const SID: u32 = 0x10;
/// Queue sizes (log2 of entries).
pub(super) const CMDQ_LOG2: u8 = 5;
pub(super) const EVTQ_LOG2: u8 = 2;
pub(super) const PRIQ_LOG2: u8 = 1;

type Mem = Arc<RamArena>;

/// RAM, a page allocator, a unit over them with interrupts and device messages logged, and
/// the queues and a linear stream table of 256 STEs programmed; everything enabled.
pub(super) struct Rig {
    pub mem: Mem,
    pub alloc: Arc<PageAlloc<Mem>>,
    pub unit: SmmuUnit<Mem>,
    pub irqs: Arc<Mutex<Vec<Interrupt>>>,
    pub msgs: Arc<Mutex<Vec<DeviceMessage>>>,
    pub strtab: u64,
    pub cmdq: u64,
    pub evtq: u64,
    pub priq: u64,
}

/// CR0 with every enable set.
pub(super) fn cr0_all() -> Cr0 {
    Cr0::new()
        .with_smmuen(true)
        .with_eventqen(true)
        .with_cmdqen(true)
        .with_priqen(true)
}

impl Rig {
    pub fn new() -> Rig {
        Rig::with_params(SmmuParams::full())
    }

    /// A rig whose unit is reset, nothing programmed.
    pub fn bare(params: SmmuParams) -> Rig {
        let mem = Arc::new(RamArena::new(0, MEM).unwrap());
        let alloc = Arc::new(PageAlloc::new(mem.clone(), ALLOC, MEM - ALLOC).unwrap());
        let irqs = Arc::new(Mutex::new(Vec::new()));
        let log = irqs.clone();
        let sink: Arc<dyn InterruptSink> = Arc::new(move |i: Interrupt| log.lock().push(i));
        let unit = SmmuUnit::new(params, mem.clone(), sink).unwrap();
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let m = msgs.clone();
        let dev: Arc<dyn DeviceSink> = Arc::new(move |d: DeviceMessage| m.lock().push(d));
        unit.attach_device(SID, dev);
        let strtab = alloc.alloc(256 * 64).unwrap();
        let cmdq = alloc.alloc(4096).unwrap();
        let evtq = alloc.alloc(4096).unwrap();
        let priq = alloc.alloc(4096).unwrap();
        Rig {
            mem,
            alloc,
            unit,
            irqs,
            msgs,
            strtab,
            cmdq,
            evtq,
            priq,
        }
    }

    /// Programs the stream table and queues, enables interrupts, C_BAD_STREAMID recording and
    /// every CR0 enable.
    pub fn with_params(params: SmmuParams) -> Rig {
        let rig = Rig::bare(params);
        rig.w64(SMMU_STRTAB_BASE, rig.strtab);
        rig.w32(SMMU_STRTAB_BASE_CFG, 8);
        rig.set_queue_base(SMMU_CMDQ_BASE, rig.cmdq, CMDQ_LOG2);
        rig.set_queue_base(SMMU_EVENTQ_BASE, rig.evtq, EVTQ_LOG2);
        rig.set_queue_base(SMMU_PRIQ_BASE, rig.priq, PRIQ_LOG2);
        let irq = IrqCtrl::new()
            .with_gerror_irqen(true)
            .with_eventq_irqen(true)
            .with_priq_irqen(true);
        rig.w32(SMMU_IRQ_CTRL, irq.into_bits());
        rig.w32(SMMU_CR2, Cr2::new().with_recinvsid(true).into_bits());
        rig.w32(SMMU_CR0, cr0_all().into_bits());
        assert!(Cr0::from_bits(rig.r32(SMMU_CR0ACK)).smmuen());
        rig
    }

    pub fn set_queue_base(&self, reg: u64, at: u64, log2: u8) {
        let b = QueueBase::new().with_address(at).with_log2size(log2);
        self.w64(reg, b.into_bits());
    }

    pub fn w32(&self, off: u64, v: u32) {
        self.unit.mmio_write(off, 4, u64::from(v));
    }

    pub fn w64(&self, off: u64, v: u64) {
        self.unit.mmio_write(off, 8, v);
    }

    pub fn r32(&self, off: u64) -> u32 {
        self.unit.mmio_read(off, 4) as u32
    }

    /// Writes `words` as commands at CMDQ_PROD onwards, then moves CMDQ_PROD past them.
    pub fn submit_words(&self, words: &[[u64; 2]]) {
        let mask = (2u32 << CMDQ_LOG2) - 1;
        let mut prod = QueueProd::from_bits(self.r32(SMMU_CMDQ_PROD)).wr();
        for w in words {
            let at = self.cmdq + u64::from(prod & ((1 << CMDQ_LOG2) - 1)) * 16;
            self.mem.store_u64(at, w[0]).unwrap();
            self.mem.store_u64(at + 8, w[1]).unwrap();
            prod = (prod + 1) & mask;
        }
        self.w32(SMMU_CMDQ_PROD, prod);
    }

    /// Submits `cmds`.
    pub fn submit(&self, cmds: &[Command]) {
        let words: Vec<[u64; 2]> = cmds.iter().map(|c| c.encode()).collect();
        self.submit_words(&words);
    }

    /// Submits `cmd` followed by a `CMD_SYNC` that signals nothing.
    pub fn submit_sync(&self, cmd: Command) {
        self.submit(&[cmd, Command::CmdSync(CmdSync::new())]);
    }

    /// `SMMU_CMDQ_CONS`.
    pub fn cmdq_cons(&self) -> QueueCons {
        QueueCons::from_bits(self.r32(SMMU_CMDQ_CONS))
    }

    /// Whether no command waits: CONS has reached PROD.
    pub fn cmdq_drained(&self) -> bool {
        self.cmdq_cons().rd() == QueueProd::from_bits(self.r32(SMMU_CMDQ_PROD)).wr()
    }

    /// The global errors active now.
    pub fn active_gerrors(&self) -> Gerror {
        Gerror::from_bits(self.r32(SMMU_GERROR) ^ self.r32(SMMU_GERRORN))
    }

    /// Acknowledges every active global error.
    pub fn ack_gerrors(&self) {
        self.w32(SMMU_GERRORN, self.r32(SMMU_GERROR));
    }

    /// The `N`-word entries waiting in the output queue at `base` (2^`log2` entries) whose
    /// PROD and CONS are at `prod_reg` and `cons_reg`, consumed (CONS moves to PROD).
    pub fn take_entries<const N: usize>(
        &self,
        (prod_reg, cons_reg): (u64, u64),
        base: u64,
        log2: u8,
    ) -> Vec<[u64; N]> {
        let prod = QueueProd::from_bits(self.r32(prod_reg));
        let cons = QueueCons::from_bits(self.r32(cons_reg));
        let mask = (2u32 << log2) - 1;
        let mut out = Vec::new();
        let mut rd = cons.rd();
        while rd != prod.wr() {
            let at = base + u64::from(rd & ((1 << log2) - 1)) * 8 * N as u64;
            out.push(std::array::from_fn(|i| {
                self.mem.load_u64(at + 8 * i as u64).unwrap()
            }));
            rd = (rd + 1) & mask;
        }
        self.w32(cons_reg, cons.with_rd(rd).into_bits());
        out
    }

    /// The raw records waiting in the event queue, consumed.
    pub fn take_event_words(&self) -> Vec<[u64; 4]> {
        let regs = (SMMU_EVENTQ_PROD, SMMU_EVENTQ_CONS);
        self.take_entries(regs, self.evtq, EVTQ_LOG2)
    }

    /// The events waiting in the event queue, decoded and consumed.
    pub fn take_events(&self) -> Vec<Event> {
        self.take_event_words()
            .into_iter()
            .map(|w| Event::decode(w).unwrap())
            .collect()
    }

    /// The interrupts signalled so far, taken.
    pub fn take_irqs(&self) -> Vec<Interrupt> {
        std::mem::take(&mut *self.irqs.lock())
    }

    /// The device messages sent so far, taken.
    pub fn take_msgs(&self) -> Vec<DeviceMessage> {
        std::mem::take(&mut *self.msgs.lock())
    }

    /// A zeroed 4 KiB page.
    pub fn page(&self) -> u64 {
        self.alloc.alloc(4096).unwrap()
    }

    /// An empty stage-1 table (4 KiB granule, 48-bit input and output).
    pub fn s1(&self) -> PageTable<ArmS1, Mem> {
        PageTable::new(ArmS1::new(Default::default()).unwrap(), self.alloc.clone()).unwrap()
    }

    /// Writes `sid`'s STE into the stream table.
    pub fn set_ste(&self, sid: u32, ste: &crate::ste::Ste) {
        ste.write(&*self.mem, self.strtab + u64::from(sid) * 64)
            .unwrap();
    }

    /// Makes `sid` a stage-1 stream whose one CD (at a new page, returned) points at `table`
    /// with `asid`.
    pub fn s1_stream(&self, sid: u32, table: &PageTable<ArmS1, Mem>, asid: u16) -> u64 {
        self.cd_stream(sid, &cd_for(table.format(), table.root(), asid))
    }

    /// Makes `sid` a stage-1 stream whose one CD, `cd`, is written at a new page (returned).
    pub fn cd_stream(&self, sid: u32, cd: &crate::cd::Cd) -> u64 {
        let at = self.page();
        cd.write(&*self.mem, at).unwrap();
        self.set_ste(sid, &s1_ste(at));
        at
    }

    /// A stage-1 stream at `SID` (ASID 1) mapping 0x4000_0000 to 0x10_0000, read-write.
    pub fn mapped() -> (Rig, PageTable<ArmS1, Mem>) {
        let rig = Rig::new();
        let mut s1 = rig.s1();
        s1.map(0x4000_0000, 0x10_0000, 0x1000, Prot::RW).unwrap();
        rig.s1_stream(SID, &s1, 1);
        (rig, s1)
    }

    /// As [`Rig::mapped`], with CD.S = 1: faulting requests stall.
    pub fn stalling() -> (Rig, PageTable<ArmS1, Mem>) {
        let (rig, s1) = Rig::mapped();
        let mut cd = cd_for(s1.format(), s1.root(), 1);
        cd.dw0 = cd.dw0.with_s(true);
        rig.cd_stream(SID, &cd);
        (rig, s1)
    }

    /// Translates a read of `addr` by `sid`.
    pub fn read(&self, sid: u32, addr: u64) -> Result<u64, Fault> {
        self.unit
            .translate(Request::new(sid, None, addr, Access::READ))
            .map(|t| t.pa)
    }

    /// The event number a read of `addr` by `sid` raises.
    pub fn read_fault(&self, sid: u32, addr: u64) -> EventId {
        self.read(sid, addr).unwrap_err().id().unwrap()
    }
}

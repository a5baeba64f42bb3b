//! One SMMU unit driven by words alone: a linear stream table, the command queue at a known
//! place, STEs, CDs and commands stored as 64-bit words, DMA sent straight to the unit.

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
use softiommu_pgtable::{Access, PageTable};
use softiommu_smmuv3::cmd::Cerror;
use softiommu_smmuv3::event::EventId;
use softiommu_smmuv3::model::{
    DeviceMessage, Fault, InterruptSink, Request, RequestKind, SmmuUnit, Translated,
};
use softiommu_smmuv3::queue::{QueueBase, QueueCons, QueueProd};
use softiommu_smmuv3::regs::{
    Cr0, Cr2, SMMU_CMDQ_BASE, SMMU_CMDQ_CONS, SMMU_CMDQ_PROD, SMMU_CR0, SMMU_CR2, SMMU_EVENTQ_BASE,
    SMMU_GERROR, SMMU_GERRORN, SMMU_PRIQ_BASE, SMMU_STRTAB_BASE, SMMU_STRTAB_BASE_CFG, SmmuParams,
};

use crate::linux::{self, Cmd, Entry};

pub type Mem = Arc<RamArena>;

/// Bytes of RAM, from physical address 0.
const MEM: u64 = 64 << 20;
/// Table pages come from [ALLOC, MEM); data pages below.
const ALLOC: u64 = 16 << 20;
/// log2 of the command queue's entries.
const CMDQ_LOG2: u8 = 8;
/// The StreamID of the device most rows use.
pub const SID: u32 = 0x21;

/// The unit, its memory, and what it sent to the device at [`SID`].
pub struct Rig {
    pub mem: Mem,
    pub alloc: Arc<PageAlloc<Mem>>,
    pub unit: SmmuUnit<Mem>,
    pub msgs: Arc<Mutex<Vec<DeviceMessage>>>,
    /// The STEs of StreamIDs 0–255: the linear table, or the level-2 table of L1STD 0.
    stes: u64,
    pub cmdq: u64,
}

impl Rig {
    /// A unit with `params`, brought up with a linear table of 256 STEs (each an abort STE,
    /// as Linux's `arm_smmu_init_initial_stes` leaves them) and every queue enabled.
    pub fn new(params: SmmuParams) -> Rig {
        Rig::with_table(params, false)
    }

    /// [`new`](Self::new), or with `two_level` a two-level stream table of 16-bit StreamIDs
    /// split at 8 whose first L1STD (written as Linux writes it) covers StreamIDs 0–255.
    pub fn with_table(params: SmmuParams, two_level: bool) -> Rig {
        let mem = Arc::new(RamArena::new(0, MEM).unwrap());
        let alloc = Arc::new(PageAlloc::new(mem.clone(), ALLOC, MEM - ALLOC).unwrap());
        let sink: Arc<dyn InterruptSink> = Arc::new(|_| {});
        let unit = SmmuUnit::new(params, mem.clone(), sink).unwrap();
        let msgs: Arc<Mutex<Vec<DeviceMessage>>> = Arc::default();
        let m = msgs.clone();
        unit.attach_device(SID, Arc::new(move |d: DeviceMessage| m.lock().push(d)));
        let strtab = alloc.alloc(256 * 64).unwrap();
        let stes = if two_level {
            alloc.alloc(256 * 64).unwrap()
        } else {
            strtab
        };
        let cmdq = alloc.alloc(16 << CMDQ_LOG2).unwrap();
        let evtq = alloc.alloc(4096).unwrap();
        let priq = alloc.alloc(4096).unwrap();
        let rig = Rig {
            mem,
            alloc,
            unit,
            msgs,
            stes,
            cmdq,
        };
        for sid in 0..256 {
            rig.store(stes + 64 * sid, &linux::abort_ste());
        }
        rig.unit.mmio_write(SMMU_STRTAB_BASE, 8, strtab);
        if two_level {
            rig.store(strtab, &[linux::l1_std(stes)]);
            // FMT 2-level (17:16), SPLIT 8 (10:6), LOG2SIZE 16 (5:0).
            rig.unit
                .mmio_write(SMMU_STRTAB_BASE_CFG, 4, 1 << 16 | 8 << 6 | 16);
        } else {
            rig.unit.mmio_write(SMMU_STRTAB_BASE_CFG, 4, 8);
        }
        let q = |reg, at, log2| {
            let b = QueueBase::new().with_address(at).with_log2size(log2);
            rig.unit.mmio_write(reg, 8, b.into_bits());
        };
        q(SMMU_CMDQ_BASE, cmdq, CMDQ_LOG2);
        q(SMMU_EVENTQ_BASE, evtq, 7);
        q(SMMU_PRIQ_BASE, priq, 8);
        let cr2 = Cr2::new().with_recinvsid(true);
        rig.unit.mmio_write(SMMU_CR2, 4, u64::from(cr2.into_bits()));
        let cr0 = Cr0::new()
            .with_smmuen(true)
            .with_eventqen(true)
            .with_cmdqen(true)
            .with_priqen(params.pri)
            .with_atschk(params.ats);
        rig.unit.mmio_write(SMMU_CR0, 4, u64::from(cr0.into_bits()));
        rig
    }

    /// Stores `words` at `pa`, the last first (word 0, with V, becomes visible last).
    pub fn store(&self, pa: u64, words: &[u64]) {
        for (i, w) in words.iter().enumerate().rev() {
            self.mem.store_u64(pa + 8 * i as u64, *w).unwrap();
        }
    }

    /// A zeroed table page of `bytes`.
    pub fn table(&self, bytes: u64) -> u64 {
        self.alloc.alloc(bytes.max(4096)).unwrap()
    }

    /// A data page of 64 KiB below the table pages, at `n` × 64 KiB from 1 MiB.
    pub fn data(n: u64) -> u64 {
        (1 << 20) + (n << 16)
    }

    /// Installs `ste` at `sid` as Linux does: the words, `CMD_CFGI_STE` (leaf) and a
    /// `CMD_SYNC`, then `CMD_PREFETCH_CONFIG`; every command accepted.
    pub fn install_ste(&self, sid: u32, ste: &Entry) {
        self.store(self.stes + 64 * u64::from(sid), ste);
        self.run(&[linux::cfgi_ste(sid, true), linux::cmd_sync(None, false)])
            .unwrap();
        self.run(&[linux::prefetch_cfg(sid)]).unwrap();
    }

    /// Writes CD `cd` at `at` and invalidates it as `arm_smmu_sync_cd` does.
    pub fn install_cd(&self, sid: u32, ssid: u32, at: u64, cd: &Entry) {
        self.store(at, cd);
        self.run(&[
            linux::cfgi_cd(sid, ssid, true),
            linux::cmd_sync(None, false),
        ])
        .unwrap();
    }

    /// Queues `cmds` and lets the unit consume them: `Err` with the CERROR of the first one
    /// refused, which is then skipped as Linux skips it (the commands after it still run).
    pub fn run(&self, cmds: &[Cmd]) -> Result<(), Cerror> {
        let mask = (2u32 << CMDQ_LOG2) - 1;
        let mut prod = QueueProd::from_bits(self.r32(SMMU_CMDQ_PROD)).wr();
        for c in cmds {
            self.store(self.slot(prod), c);
            prod = (prod + 1) & mask;
        }
        self.unit.mmio_write(SMMU_CMDQ_PROD, 4, u64::from(prod));
        let cons = QueueCons::from_bits(self.r32(SMMU_CMDQ_CONS));
        if cons.rd() == prod {
            return Ok(());
        }
        let err = Cerror::from_code(cons.err()).unwrap_or(Cerror::None);
        // As Linux's `arm_smmu_cmdq_skip_err`: the refused command becomes a CMD_SYNC, and
        // acknowledging the error lets the queue go on.
        self.store(self.slot(cons.rd()), &linux::cmd_sync(None, false));
        let gerror = self.r32(SMMU_GERROR);
        self.unit.mmio_write(SMMU_GERRORN, 4, u64::from(gerror));
        assert_eq!(QueueCons::from_bits(self.r32(SMMU_CMDQ_CONS)).rd(), prod);
        Err(err)
    }

    /// The queue slot of index `prod`.
    pub fn slot(&self, prod: u32) -> u64 {
        self.cmdq + 16 * u64::from(prod & ((1 << CMDQ_LOG2) - 1))
    }

    /// The slot of the command `n` places after the next one queued.
    pub fn next_slot(&self, n: u32) -> u64 {
        self.slot(QueueProd::from_bits(self.r32(SMMU_CMDQ_PROD)).wr() + n)
    }

    pub fn r32(&self, off: u64) -> u32 {
        self.unit.mmio_read(off, 4) as u32
    }

    /// A read by the device at `sid` (with `ssid`) of `addr`.
    pub fn read(&self, sid: u32, ssid: Option<u32>, addr: u64) -> Result<Translated, Fault> {
        self.unit
            .translate(Request::new(sid, ssid, addr, Access::READ))
    }

    /// The output address of a read, which must translate.
    pub fn pa(&self, ssid: Option<u32>, addr: u64) -> u64 {
        match self.read(SID, ssid, addr) {
            Ok(t) => t.pa,
            Err(f) => panic!("{addr:#x} at {ssid:?} faulted: {f:?}"),
        }
    }

    /// The event a read raises (`None`: terminated without one); panics when it translates.
    pub fn fault(&self, ssid: Option<u32>, addr: u64) -> Option<EventId> {
        match self.read(SID, ssid, addr) {
            Ok(t) => panic!("{addr:#x} at {ssid:?} translated to {:#x}", t.pa),
            Err(f) => f.id(),
        }
    }

    /// An ATS Translation Request from the device for `addr`.
    pub fn ats_request(&self, ssid: Option<u32>, addr: u64) -> Result<Translated, Fault> {
        let mut r = Request::new(SID, ssid, addr, Access::READ);
        r.kind = RequestKind::TranslationRequest;
        self.unit.translate(r)
    }

    /// A page table of stage-1 `granule` over `ia` bits with `oa` output bits.
    pub fn s1_table(&self, granule: Granule, ia: u8, oa: u8) -> PageTable<AnyFormat, Mem> {
        let f = ArmS1::new(ArmS1Config {
            granule,
            ia_bits: ia,
            oa_bits: oa,
            ha: false,
            hd: false,
        })
        .unwrap();
        PageTable::new(AnyFormat::from(f), self.alloc.clone()).unwrap()
    }

    /// A stage-2 table of `granule` over `ia` bits with `oa` output bits (its start level
    /// chosen by the format), and that start level.
    pub fn s2_table(&self, granule: Granule, ia: u8, oa: u8) -> (PageTable<AnyFormat, Mem>, u8) {
        let cfg = ArmS2Config::auto(granule, ia, oa).unwrap();
        let f = ArmS2::new(cfg).unwrap();
        let t = PageTable::new(AnyFormat::from(f), self.alloc.clone()).unwrap();
        (t, cfg.start_level)
    }
}

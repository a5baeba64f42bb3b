//! A unit as a driver sets it up, through MMIO and memory only, and the fault record a test
//! expects, read back through MMIO at the specification's bit positions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use softiommu_mem::{AddressSpace, MemError, PageAlloc, RamArena};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::{Access, PageTable};
use softiommu_vtd::desc::{PageRequest, PageRequestQw0, PageRequestQw1};
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::model::{DeviceMessage, Request, Translated, VtdUnit};
use softiommu_vtd::regs::{
    CAP_REG, Event, FEADDR_REG, FECTL_REG, FEDATA_REG, FSTS_REG, GCMD_REG, GSTS_REG, PECTL_REG,
    PQA_REG, RTADDR_REG, VtdParams,
};
use softiommu_vtd::structs::{
    ContextEntry, ContextQw0, ContextQw1, PasidDirEntry, PasidEntry, PasidQw0, PasidQw1, PasidQw2,
    Pgtt, ScalableRootEntry, pasid_dir_index, pasid_table_index, root_entry_address,
};

/// RAM: 32 MiB from address 0.
pub const MEM: u64 = 32 << 20;
/// An address inside the host address width that no memory backs.
pub const UNBACKED: u64 = 0x4000_0000;
/// The device of the tests: bus 3, devfn 10h (the lower half of its root entry).
pub const SID: u16 = 0x0310;
/// A device on the same bus in the upper half (devfn 90h), which the root entry leaves out.
pub const SID_UPPER: u16 = 0x0390;
/// First-stage tables of the nested tests come from here (so that their pages are known).
pub const FS_TABLES: u64 = 4 << 20;
/// Every other table page comes from here to the end of RAM.
pub const TABLES: u64 = 8 << 20;

const TE: u32 = 1 << 31;
const SRTP: u32 = 1 << 30;
/// The fault event's message address and data.
pub const FE_ADDR: u64 = 0xfee0_0000;
/// See [`FE_ADDR`].
pub const FE_DATA: u32 = 0x41;

/// RAM whose 64-bit compare-exchange always loses at one chosen address, as if another agent
/// kept changing that entry: the unit's atomic Accessed/Dirty update there cannot complete.
#[derive(Clone)]
pub struct Mem {
    ram: Arc<RamArena>,
    contended: Arc<AtomicU64>,
}

impl AddressSpace for Mem {
    fn words(&self, pa: u64, count: usize) -> Result<&[AtomicU64], MemError> {
        self.ram.words(pa, count)
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> Result<(), MemError> {
        self.ram.read(pa, buf)
    }

    fn write(&self, pa: u64, buf: &[u8]) -> Result<(), MemError> {
        self.ram.write(pa, buf)
    }

    fn cmpxchg_u64(&self, pa: u64, current: u64, new: u64) -> Result<Result<u64, u64>, MemError> {
        if pa != 0 && pa == self.contended.load(Ordering::Relaxed) {
            return Ok(Err(self.ram.load_u64(pa)?));
        }
        self.ram.cmpxchg_u64(pa, current, new)
    }
}

type Log<T> = Arc<Mutex<Vec<T>>>;

/// A unit brought up as a driver does: a root table with the lower half of bus 3, a context
/// entry for [`SID`] (P, DTE, PASIDE, PRE; PDTS=0), a PASID directory whose entry 0 holds
/// PASIDs 0–63, fault events unmasked, the page request queue set, translation enabled.
pub struct Rig {
    /// The unit's memory.
    pub mem: Mem,
    /// Table pages.
    pub alloc: Arc<PageAlloc<Arc<RamArena>>>,
    /// First-stage table pages for nested tests.
    pub fs_alloc: Arc<PageAlloc<Arc<RamArena>>>,
    /// The unit.
    pub unit: VtdUnit<Mem>,
    /// Interrupts raised: (event, address, data).
    pub irqs: Log<(Event, u64, u32)>,
    /// Messages to devices.
    pub dev: Log<DeviceMessage>,
    /// Root table.
    pub root: u64,
    /// Context table of bus 3, lower half.
    pub ctx_table: u64,
    /// PASID directory.
    pub dir: u64,
    /// PASID table of directory entry 0.
    pub pasid_table: u64,
    /// Page request queue.
    pub pq: u64,
}

/// An untranslated DMA request.
pub fn dma(sid: u16, pasid: Option<u32>, addr: u64, access: Access) -> Request {
    Request {
        sid,
        pasid,
        addr,
        access,
    }
}

/// A page request from `sid` for the page at `addr`, the last of group 5.
pub fn page_request(sid: u16, pasid: Option<u32>, addr: u64) -> PageRequest {
    PageRequest {
        qw0: PageRequestQw0::new()
            .with_pp(pasid.is_some())
            .with_pasid(pasid.unwrap_or(0))
            .with_rid(sid),
        qw1: PageRequestQw1::new()
            .with_rdr(true)
            .with_lpig(true)
            .with_prgi(5)
            .with_addr(addr >> 12),
    }
}

/// The context entry the rig gives [`SID`], its PASID directory at `dir`.
pub fn context(dir: u64) -> ContextEntry {
    ContextEntry {
        qw0: ContextQw0::new()
            .with_p(true)
            .with_dte(true)
            .with_paside(true)
            .with_pre(true)
            .with_pdts(0)
            .with_pasiddirptr(dir >> 12),
        qw1: ContextQw1::new(),
        qw2: 0,
        qw3: 0,
    }
}

/// A second-stage-only PASID entry: 4-level tables at `root`, domain `did`.
pub fn ss_entry(root: u64, did: u16) -> PasidEntry {
    PasidEntry::second_stage(root, 2, did)
}

/// A first-stage-only PASID entry: 4-level tables at `root`, domain `did`.
pub fn fs_entry(root: u64, did: u16) -> PasidEntry {
    PasidEntry {
        qw0: PasidQw0::new().with_p(true).with_pgtt(Pgtt::FirstStage),
        qw1: PasidQw1::new().with_did(did),
        qw2: PasidQw2::new().with_fsptptr(root >> 12),
        ..PasidEntry::default()
    }
}

/// A nested PASID entry: first stage at guest-physical `fs_root`, second stage (4-level) at
/// `ss_root`, domain `did`.
pub fn nested_entry(fs_root: u64, ss_root: u64, did: u16) -> PasidEntry {
    PasidEntry {
        qw0: PasidQw0::new()
            .with_p(true)
            .with_aw(2)
            .with_pgtt(Pgtt::Nested)
            .with_ssptptr(ss_root >> 12),
        qw1: PasidQw1::new().with_did(did),
        qw2: PasidQw2::new().with_fsptptr(fs_root >> 12),
        ..PasidEntry::default()
    }
}

/// What one fault record must hold.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    /// FR.
    pub reason: FaultReason,
    /// SID.
    pub sid: u16,
    /// PP and PV.
    pub pasid: Option<u32>,
    /// The faulting address (FI holds bits 63:12).
    pub addr: u64,
    /// (T1, T2): (0, 0) write, (0, 1) page request, (1, 0) read.
    pub t1_t2: (bool, bool),
    /// PRIV.
    pub privileged: bool,
    /// EXE.
    pub exec: bool,
    /// AT: 0 untranslated, 1 translation request, 2 translated.
    pub at: u8,
}

impl Expected {
    /// The record of DMA request `req` faulting with `reason`.
    pub fn dma(req: Request, reason: FaultReason) -> Expected {
        Expected {
            reason,
            sid: req.sid,
            pasid: req.pasid,
            addr: req.addr,
            t1_t2: (!req.access.write, false),
            privileged: req.access.privileged,
            exec: req.access.exec,
            at: 0,
        }
    }

    /// The record of page request `req` faulting with `reason`.
    pub fn page_request(req: &PageRequest, reason: FaultReason) -> Expected {
        Expected {
            reason,
            sid: req.qw0.rid(),
            pasid: req.qw0.pp().then_some(req.qw0.pasid()),
            addr: req.address(),
            t1_t2: (false, true),
            privileged: req.qw0.pmr(),
            exec: req.qw0.exr(),
            at: 0,
        }
    }

    /// FRCD bits 127:64 as the specification places them: F 127, T1 126, AT 125:124, PV 123:104, FR 103:96, PP 95, EXE 94, PRIV 93, T2 92, SID 79:64.
    pub fn high(&self) -> u64 {
        1 << 63
            | u64::from(self.t1_t2.0) << 62
            | u64::from(self.at & 3) << 60
            | u64::from(self.pasid.unwrap_or(0)) << 40
            | u64::from(self.reason.code()) << 32
            | u64::from(self.pasid.is_some()) << 31
            | u64::from(self.exec) << 30
            | u64::from(self.privileged) << 29
            | u64::from(self.t1_t2.1) << 28
            | u64::from(self.sid)
    }
}

impl Rig {
    /// A rig for a unit with `params`.
    pub fn new(params: VtdParams) -> Rig {
        let ram = Arc::new(RamArena::new(0, MEM).unwrap());
        let mem = Mem {
            ram: ram.clone(),
            contended: Arc::default(),
        };
        let alloc = Arc::new(PageAlloc::new(ram.clone(), TABLES, MEM - TABLES).unwrap());
        let fs_alloc = Arc::new(PageAlloc::new(ram, FS_TABLES, TABLES - FS_TABLES).unwrap());
        let irqs: Log<(Event, u64, u32)> = Arc::default();
        let dev: Log<DeviceMessage> = Arc::default();
        let (i, d) = (irqs.clone(), dev.clone());
        let unit = VtdUnit::new(
            params,
            mem.clone(),
            Arc::new(move |e, a, v| i.lock().push((e, a, v))),
            Arc::new(move |m| d.lock().push(m)),
        )
        .unwrap();
        let page = || alloc.alloc(4096).unwrap();
        let (root, ctx_table, dir, pasid_table, pq) = (page(), page(), page(), page(), page());
        let rig = Rig {
            mem,
            alloc,
            fs_alloc,
            unit,
            irqs,
            dev,
            root,
            ctx_table,
            dir,
            pasid_table,
            pq,
        };
        rig.set_root_entry(ScalableRootEntry::new(Some(ctx_table), None));
        rig.set_context(SID, context(dir));
        rig.set_dir_entry(
            0,
            PasidDirEntry::new()
                .with_p(true)
                .with_smptblptr(pasid_table >> 12),
        );
        let u = &rig.unit;
        u.mmio_write(FEDATA_REG, 4, u64::from(FE_DATA));
        u.mmio_write(FEADDR_REG, 4, FE_ADDR);
        u.mmio_write(FECTL_REG, 4, 0);
        u.mmio_write(PECTL_REG, 4, 0);
        u.mmio_write(PQA_REG, 8, pq);
        rig.latch_root(root | 1 << 10);
        rig.gcmd(TE, true);
        assert_ne!(u.mmio_read(GSTS_REG, 4) as u32 & TE, 0, "GSTS.TES");
        rig
    }

    /// Writes RTADDR and latches it with SRTP.
    pub fn latch_root(&self, rtaddr: u64) {
        self.unit.mmio_write(RTADDR_REG, 8, rtaddr);
        self.gcmd(SRTP, true);
        assert_ne!(
            self.unit.mmio_read(GSTS_REG, 4) as u32 & SRTP,
            0,
            "GSTS.RTPS"
        );
    }

    /// A GCMD write as Linux builds it: GSTS without the one-shot bits, `bit` set or clear.
    pub fn gcmd(&self, bit: u32, on: bool) {
        let sts = self.unit.mmio_read(GSTS_REG, 4) as u32 & 0x96ff_ffff;
        let v = if on { sts | bit } else { sts & !bit };
        self.unit.mmio_write(GCMD_REG, 4, u64::from(v));
    }

    /// Writes bus 3's root entry.
    pub fn set_root_entry(&self, e: ScalableRootEntry) {
        e.write(&self.mem, root_entry_address(self.root, (SID >> 8) as u8))
            .unwrap();
    }

    /// Writes the context entry of `sid` (lower half of bus 3).
    pub fn set_context(&self, sid: u16, e: ContextEntry) {
        e.write(&self.mem, self.ctx_table + u64::from(sid as u8 & 0x7f) * 32)
            .unwrap();
    }

    /// Writes PASID-directory entry `index`.
    pub fn set_dir_entry(&self, index: u32, e: PasidDirEntry) {
        e.write(&self.mem, self.dir + u64::from(index) * 8).unwrap();
    }

    /// Writes the PASID-table entry of `pasid` (below 64).
    pub fn set_pasid(&self, pasid: u32, e: PasidEntry) {
        assert_eq!(pasid_dir_index(pasid), 0);
        let at = self.pasid_table + u64::from(pasid_table_index(pasid)) * 64;
        e.write(&self.mem, at).unwrap();
    }

    /// Makes every compare-exchange of the 64-bit word at `pa` fail.
    pub fn contend(&self, pa: u64) {
        self.mem.contended.store(pa, Ordering::Relaxed);
    }

    /// A second-stage table (4-level; with A/D when `ad`).
    pub fn ss_table(&self, ad: bool) -> PageTable<VtdSs, Arc<RamArena>> {
        let f = VtdSs::new(VtdSsConfig {
            ad,
            ..VtdSsConfig::default()
        })
        .unwrap();
        PageTable::new(f, self.alloc.clone()).unwrap()
    }

    /// A first-stage table (4-level), its pages from the main pool.
    pub fn fs_table(&self) -> PageTable<X86, Arc<RamArena>> {
        PageTable::new(X86::new(X86Config::default()).unwrap(), self.alloc.clone()).unwrap()
    }

    /// A first-stage table (4-level) whose pages come from [`FS_TABLES`] upwards.
    pub fn guest_fs_table(&self) -> PageTable<X86, Arc<RamArena>> {
        PageTable::new(
            X86::new(X86Config::default()).unwrap(),
            self.fs_alloc.clone(),
        )
        .unwrap()
    }

    /// A new zeroed table page.
    pub fn page(&self) -> u64 {
        self.alloc.alloc(4096).unwrap()
    }

    /// Stores a raw 64-bit word.
    pub fn store(&self, pa: u64, v: u64) {
        self.mem.store_u64(pa, v).unwrap();
    }

    /// Translates `req` through the unit.
    pub fn translate(&self, req: Request) -> Result<Translated, softiommu_vtd::model::Fault> {
        self.unit.translate(req)
    }

    /// `req` faults with `reason`, and the fault is recorded as the only one.
    pub fn expect_fault(&self, req: Request, reason: FaultReason) {
        let f = self.unit.translate(req).unwrap_err();
        assert_eq!(f.reason, reason, "{}", f.reason);
        assert!(f.record, "{reason} is recorded");
        self.expect_recorded(Expected::dma(req, reason));
    }

    /// Asserts that `req` faults with `reason` and that the fault is one the unit does not
    /// record (fault processing disabled where it is qualified).
    pub fn expect_unrecorded_fault(&self, req: Request, reason: FaultReason) {
        let f = self.unit.translate(req).unwrap_err();
        assert_eq!((f.reason, f.record), (reason, false));
    }

    /// The byte offset of FRCD\[0\] (CAP.FRO × 16) and the number of records (CAP.NFR + 1).
    pub fn frcd_layout(&self) -> (u64, u64) {
        let cap = self.unit.mmio_read(CAP_REG, 8);
        ((cap >> 24 & 0x3ff) * 16, (cap >> 40 & 0xff) + 1)
    }

    /// FRCD\[n\]: (bits 63:0, bits 127:64).
    pub fn frcd(&self, n: u64) -> (u64, u64) {
        let (fro, _) = self.frcd_layout();
        let at = fro + 16 * n;
        (self.unit.mmio_read(at, 8), self.unit.mmio_read(at + 8, 8))
    }

    /// The indexes of the records with F set.
    pub fn faulted(&self) -> Vec<u64> {
        let (_, n) = self.frcd_layout();
        (0..n).filter(|&i| self.frcd(i).1 >> 63 == 1).collect()
    }

    /// FSTS.
    pub fn fsts(&self) -> u64 {
        self.unit.mmio_read(FSTS_REG, 4)
    }

    /// The fault events raised.
    pub fn fault_events(&self) -> usize {
        let irqs = self.irqs.lock();
        assert!(
            irqs.iter()
                .filter(|e| e.0 == Event::Fault)
                .all(|&(_, a, d)| a == FE_ADDR && d == FE_DATA)
        );
        irqs.iter().filter(|e| e.0 == Event::Fault).count()
    }

    /// Exactly one fault is recorded, as `e` says, in the record FSTS.FRI names; FSTS has
    /// PPF set and PFO clear, and one fault event was raised.
    pub fn expect_recorded(&self, e: Expected) {
        let fsts = self.fsts();
        assert_eq!(fsts & 0b11, 0b10, "FSTS.PPF set, FSTS.PFO clear");
        let fri = fsts >> 8 & 0xff;
        assert_eq!(self.faulted(), [fri], "one record, at FSTS.FRI");
        let (lo, hi) = self.frcd(fri);
        assert_eq!(lo, e.addr & !0xfff, "FRCD.FI");
        assert_eq!(hi, e.high(), "FRCD bits 127:64 for {e:x?}");
        assert_eq!(self.fault_events(), 1);
    }

    /// No fault is recorded and no fault event raised.
    pub fn expect_nothing_recorded(&self) {
        assert_eq!(self.fsts() & 0b11, 0, "FSTS.PPF and PFO clear");
        assert!(self.faulted().is_empty());
        assert_eq!(self.fault_events(), 0);
    }
}

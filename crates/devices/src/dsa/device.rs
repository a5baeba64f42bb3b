//! The engine: its BAR 0 register file, commands, and portal submission.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::desc::Opcode;
use super::dma::DmaPort;
use super::exec::{Effects, SwErrInfo, execute};
use super::regs::*;
use super::wq::{Enqcmd, PORTAL_SIZE, Pending, Submit, WorkQueue, portal_descriptor};

/// The callback through which the engine raises an MSI-X vector.
pub type IrqFn = Arc<dyn Fn(u16) + Send + Sync>;

/// When submitted descriptors run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecMode {
    /// Each descriptor runs to completion inside the portal write, on the submitter's thread.
    Synchronous,
    /// Descriptors wait in their WQ until [`Dsa::run_pending`] (or a drain) runs them.
    Queued,
    /// Descriptors wait in their WQ for an engine thread (see [`Dsa::start_engines`]); a
    /// WQ's descriptors run one at a time, in order, and different WQs' in parallel.
    Threaded,
}

/// The engine's fixed capabilities.
#[derive(Clone, Copy, Debug)]
pub struct DsaConfig {
    /// Number of WQs (at most 64).
    pub num_wqs: u8,
    /// Number of groups (at most 8).
    pub num_groups: u8,
    /// Number of engines (at most 64).
    pub num_engines: u8,
    /// Total WQ entries.
    pub total_wq_size: u16,
    /// MSI-X vectors (vector 0 is the error/command vector).
    pub msix_vectors: u16,
    /// Log2 of the largest transfer.
    pub max_xfer_shift: u8,
    /// Log2 of the largest batch.
    pub max_batch_shift: u8,
    /// When descriptors run.
    pub mode: ExecMode,
}

impl Default for DsaConfig {
    fn default() -> Self {
        Self {
            num_wqs: 8,
            num_groups: 4,
            num_engines: 4,
            total_wq_size: 128,
            msix_vectors: 9,
            max_xfer_shift: 31,
            max_batch_shift: 10,
            mode: ExecMode::Synchronous,
        }
    }
}

/// The PCI device ID of the engine (vendor 0x8086).
pub const DEVICE_ID: u16 = 0x0b25;
/// The PCI vendor ID.
pub const VENDOR_ID: u16 = 0x8086;

/// The supported-operations mask (OPCAP).
pub(crate) fn opcap() -> [u64; 4] {
    let mut m = [0u64; 4];
    for op in Opcode::ALL {
        let n = op as usize;
        m[n / 64] |= 1 << (n % 64);
    }
    m
}

pub(crate) struct Regs {
    pub gencfg: u32,
    pub genctrl: u32,
    pub state: DeviceState,
    pub intcause: u32,
    pub cmd: u32,
    pub cmdsts: u32,
    pub swerr: [u64; 4],
    pub grpcfg: Vec<[u64; 8]>,
    pub wqs: Vec<WorkQueue>,
    /// Descriptors engine threads are running.
    pub inflight: usize,
    /// Engine threads are to stop.
    pub stop: bool,
    /// Where engine threads start looking for work.
    pub next_wq: usize,
}

/// A copy engine with Intel DSA's programming model.
pub struct Dsa {
    pub(crate) cfg: DsaConfig,
    pub(crate) regs: Mutex<Regs>,
    dma: Arc<dyn DmaPort>,
    irq: Option<IrqFn>,
    pasid_enabled: std::sync::atomic::AtomicBool,
    bus_master: std::sync::atomic::AtomicBool,
    /// Signalled when work is queued (threaded mode).
    pub(crate) work: Condvar,
    /// Signalled when an engine thread finishes a descriptor.
    pub(crate) idle: Condvar,
}

impl std::fmt::Debug for Dsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dsa")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

use std::sync::atomic::Ordering::Relaxed;

impl Dsa {
    /// An engine with capabilities `cfg` doing DMA through `dma`, raising interrupts through
    /// `irq`. Out-of-range capability counts are clamped.
    pub fn new(mut cfg: DsaConfig, dma: Arc<dyn DmaPort>, irq: Option<IrqFn>) -> Self {
        cfg.num_wqs = cfg.num_wqs.clamp(1, 64);
        cfg.num_groups = cfg.num_groups.clamp(1, 8);
        cfg.num_engines = cfg.num_engines.clamp(1, 64);
        cfg.msix_vectors = cfg.msix_vectors.clamp(1, 2048);
        cfg.max_xfer_shift = cfg.max_xfer_shift.min(31);
        cfg.max_batch_shift = cfg.max_batch_shift.clamp(1, 15);
        let regs = Mutex::new(Self::reset_regs(&cfg));
        Self {
            cfg,
            regs,
            dma,
            irq,
            pasid_enabled: true.into(),
            bus_master: true.into(),
            work: Condvar::new(),
            idle: Condvar::new(),
        }
    }

    fn reset_regs(cfg: &DsaConfig) -> Regs {
        Regs {
            gencfg: 0,
            genctrl: 0,
            state: DeviceState::Disabled,
            intcause: 0,
            cmd: 0,
            cmdsts: 0,
            swerr: [0; 4],
            grpcfg: vec![[0; 8]; usize::from(cfg.num_groups)],
            wqs: (0..cfg.num_wqs)
                .map(|_| WorkQueue::reset(opcap()))
                .collect(),
            inflight: 0,
            stop: false,
            next_wq: 0,
        }
    }

    /// The engine's capabilities.
    pub fn config(&self) -> &DsaConfig {
        &self.cfg
    }

    /// Tells the engine whether its PASID capability is enabled (configuration space).
    pub fn set_pasid_enabled(&self, on: bool) {
        self.pasid_enabled.store(on, Relaxed);
    }

    /// Tells the engine whether bus mastering is enabled (configuration space).
    pub fn set_bus_master(&self, on: bool) {
        self.bus_master.store(on, Relaxed);
    }

    /// The device state GENSTS reports.
    pub fn state(&self) -> DeviceState {
        self.regs.lock().state
    }

    fn gencap(&self) -> GenCap {
        GenCap::new()
            .with_block_on_fault(true)
            .with_cache_control_mem(true)
            .with_cache_control_cache(true)
            .with_cmd_cap(true)
            .with_max_xfer_shift(self.cfg.max_xfer_shift)
            .with_max_batch_shift(self.cfg.max_batch_shift)
            .with_config_en(true)
    }

    fn read_q(&self, r: &Regs, off: u64) -> u64 {
        let oc = opcap();
        match off {
            VERSION => 0x100,
            GENCAP => self.gencap().into_bits(),
            WQCAP => WqCap::new()
                .with_total_wq_size(self.cfg.total_wq_size)
                .with_num_wqs(self.cfg.num_wqs)
                .with_wqcfg_size(1)
                .with_shared_mode(true)
                .with_dedicated_mode(true)
                .with_wq_ats_support(true)
                .with_priority(true)
                .with_occupancy(true)
                .with_op_config(true)
                .into_bits(),
            GRPCAP => GrpCap::new()
                .with_num_groups(self.cfg.num_groups)
                .into_bits(),
            ENGCAP => u64::from(self.cfg.num_engines),
            0x40..0x60 => oc[((off - OPCAP) / 8) as usize],
            TABLE_OFFSET => TableOffsets::new()
                .with_grpcfg((GRPCFG_BASE / TABLE_MULT) as u16)
                .with_wqcfg((WQCFG_BASE / TABLE_MULT) as u16)
                .into_bits(),
            GENCFG => u64::from(r.gencfg),
            GENCTRL => u64::from(r.genctrl),
            GENSTS => u64::from(GenSts::new().with_state(r.state as u8).into_bits()),
            INTCAUSE => u64::from(r.intcause),
            CMD => u64::from(r.cmd),
            CMDSTS => u64::from(r.cmdsts),
            CMDCAP => u64::from(CMDCAP_VALUE),
            0xc0..0xe0 => r.swerr[((off - SWERR) / 8) as usize],
            _ => {
                if let Some((g, q)) = self.grp_index(off) {
                    return r.grpcfg[g][q];
                }
                if let Some((w, d)) = self.wq_index(off) {
                    let wq = &r.wqs[w];
                    return u64::from(wq.read_dword(d)) | (u64::from(wq.read_dword(d + 1)) << 32);
                }
                0
            }
        }
    }

    fn grp_index(&self, off: u64) -> Option<(usize, usize)> {
        let rel = off.checked_sub(GRPCFG_BASE)?;
        let g = (rel / GRPCFG_SIZE) as usize;
        (g < usize::from(self.cfg.num_groups)).then_some((g, ((rel % GRPCFG_SIZE) / 8) as usize))
    }

    fn wq_index(&self, off: u64) -> Option<(usize, usize)> {
        let rel = off.checked_sub(WQCFG_BASE)?;
        let w = (rel / WQCFG_SIZE) as usize;
        (w < usize::from(self.cfg.num_wqs)).then_some((w, ((rel % WQCFG_SIZE) / 4) as usize))
    }

    /// Reads `data.len()` bytes of BAR 0 at `off`; unimplemented bytes read 0.
    pub fn mmio_read(&self, off: u64, data: &mut [u8]) {
        let r = self.regs.lock();
        for (i, b) in data.iter_mut().enumerate() {
            let a = off.wrapping_add(i as u64);
            *b = if a < REGS_SIZE {
                (self.read_q(&r, a & !7) >> ((a & 7) * 8)) as u8
            } else {
                0
            };
        }
    }

    /// Reads a 32-bit register.
    pub fn read32(&self, off: u64) -> u32 {
        let mut b = [0u8; 4];
        self.mmio_read(off, &mut b);
        u32::from_le_bytes(b)
    }

    /// Reads a 64-bit register.
    pub fn read64(&self, off: u64) -> u64 {
        let mut b = [0u8; 8];
        self.mmio_read(off, &mut b);
        u64::from_le_bytes(b)
    }

    /// Writes a 32-bit register.
    pub fn write32(&self, off: u64, v: u32) {
        self.mmio_write(off, &v.to_le_bytes());
    }

    /// Writes a 64-bit register.
    pub fn write64(&self, off: u64, v: u64) {
        self.mmio_write(off, &v.to_le_bytes());
    }

    /// Writes `data` to BAR 0 at `off`, a quadword at a time; read-only and unimplemented
    /// bytes ignore the write.
    pub fn mmio_write(&self, off: u64, data: &[u8]) {
        let mut i = 0usize;
        while i < data.len() {
            let a = off.wrapping_add(i as u64);
            let q = a & !7;
            let (mut val, mut mask) = (0u64, 0u64);
            let mut j = i;
            while j < data.len() && off.wrapping_add(j as u64) & !7 == q {
                let sh = (off.wrapping_add(j as u64) & 7) * 8;
                val |= u64::from(data[j]) << sh;
                mask |= 0xff << sh;
                j += 1;
            }
            if q < REGS_SIZE {
                self.write_q(q, val, mask);
            }
            i = j;
        }
    }

    fn write_q(&self, off: u64, val: u64, mask: u64) {
        let mut fx = Effects::default();
        {
            let mut r = self.regs.lock();
            let merged = (self.read_q(&r, off) & !mask) | (val & mask);
            match off {
                GENCFG if r.state == DeviceState::Disabled => {
                    r.gencfg = GenCfg::from_bits(merged as u32)
                        .with_evl_en(false)
                        .into_bits()
                        & 0x10ff;
                }
                GENCTRL => r.genctrl = merged as u32 & 0x3,
                INTCAUSE => r.intcause &= !((val & mask) as u32),
                CMD if mask & 0xffff_ffff != 0 => {
                    r.cmd = merged as u32;
                    fx = self.command(&mut r, CmdReg::from_bits(merged as u32));
                }
                SWERR => r.swerr[0] &= !(val & mask & 0x3),
                _ => {
                    if let Some((g, q)) = self.grp_index(off) {
                        if r.state == DeviceState::Disabled {
                            r.grpcfg[g][q] = merged & self.grp_mask(q);
                        }
                    } else if let Some((w, d)) = self.wq_index(off) {
                        r.wqs[w].write_dword(d, merged as u32, opcap());
                        r.wqs[w].write_dword(d + 1, (merged >> 32) as u32, opcap());
                    }
                }
            }
        }
        let was_cmd = off == CMD && mask & 0xffff_ffff != 0;
        self.run(fx);
        if was_cmd {
            self.wait_idle(false);
        }
    }

    fn grp_mask(&self, q: usize) -> u64 {
        let ones = |n: u8| if n >= 64 { !0 } else { (1u64 << n) - 1 };
        match q {
            0 => ones(self.cfg.num_wqs),
            4 => ones(self.cfg.num_engines),
            5 => 0x3f,
            _ => 0,
        }
    }

    /// Records a software error in SWERR (or its overflow bit) and sets the error cause.
    pub(crate) fn record_swerr(&self, r: &mut Regs, e: &SwErrInfo) -> bool {
        let s0 = SwErr0::from_bits(r.swerr[0]);
        if s0.valid() {
            r.swerr[0] = s0.with_overflow(true).into_bits();
        } else {
            r.swerr = e.to_regs();
        }
        r.intcause |= INTC_ERR;
        GenCtrl::from_bits(r.genctrl).softerr_int_en()
    }

    /// Applies what execution produced: SWERR records, then interrupts, then queued work.
    pub(crate) fn run(&self, mut fx: Effects) {
        loop {
            for job in std::mem::take(&mut fx.jobs) {
                let more = execute(&*self.dma, &job.ctx, &job.desc);
                fx.irqs.extend(more.irqs);
                fx.swerrs.extend(more.swerrs);
            }
            let mut raise_err = false;
            if !fx.swerrs.is_empty() {
                let mut r = self.regs.lock();
                for e in &fx.swerrs {
                    raise_err |= self.record_swerr(&mut r, e);
                }
                fx.swerrs.clear();
            }
            if raise_err {
                fx.irqs.push(0);
            }
            if let Some(irq) = &self.irq {
                for v in fx.irqs.drain(..) {
                    irq(v);
                }
            }
            fx.irqs.clear();
            if fx.jobs.is_empty() {
                return;
            }
        }
    }

    /// Writes a descriptor to WQ `wq`'s portal page at `portal` (an offset within the WQ's
    /// 16 KiB of BAR 2: 0 is the unlimited portal, 0x1000 the limited one). `enq` is what
    /// ENQCMD(S) carries; `None` is a MOVDIR64B.
    pub fn submit(&self, wq: u32, portal: u64, desc: &[u8], enq: Option<Enqcmd>) -> Submit {
        let refuse = if enq.is_some() {
            Submit::Retry
        } else {
            Submit::Dropped
        };
        let Some(d) = portal_descriptor(desc) else {
            return Submit::Dropped;
        };
        let kind = portal / PORTAL_SIZE;
        let job = {
            let mut r = self.regs.lock();
            let enabled = r.state == DeviceState::Enabled;
            let Some(q) = r.wqs.get_mut(wq as usize) else {
                return refuse;
            };
            let dedicated = q.mode().dedicated();
            if !enabled || !q.enabled || kind > 1 || dedicated == enq.is_some() {
                return refuse;
            }
            let limit = if kind == 1 && !dedicated {
                q.threshold().min(q.size())
            } else {
                q.size()
            };
            if q.occupancy() >= usize::from(limit) {
                return refuse;
            }
            let ctx = q.ctx(wq as u8, enq, self.cfg.msix_vectors);
            let p = Pending { desc: d, ctx };
            if self.cfg.mode != ExecMode::Synchronous {
                q.queue.push_back(p);
                self.work.notify_one();
                return Submit::Accepted;
            }
            p
        };
        self.run(Effects {
            jobs: vec![job],
            ..Effects::default()
        });
        Submit::Accepted
    }

    /// Writes a descriptor at `off` in BAR 2 (the WQ is `off / 0x4000`).
    pub fn portal_write(&self, off: u64, desc: &[u8], enq: Option<Enqcmd>) -> Submit {
        let wq = u32::try_from(off / WQ_PORTALS_SIZE).unwrap_or(u32::MAX);
        self.submit(wq, off % WQ_PORTALS_SIZE, desc, enq)
    }

    /// Runs every queued descriptor on the calling thread (queued mode); returns how many
    /// ran. In the threaded mode, waits instead until the engine threads have run them all
    /// and returns 0.
    pub fn run_pending(&self) -> usize {
        if self.cfg.mode == ExecMode::Threaded {
            self.wait_idle(true);
            return 0;
        }
        let jobs: Vec<Pending> = {
            let mut r = self.regs.lock();
            r.wqs.iter_mut().flat_map(|q| q.queue.drain(..)).collect()
        };
        let n = jobs.len();
        self.run(Effects {
            jobs,
            ..Effects::default()
        });
        n
    }

    pub(crate) fn reset_all(&self, r: &mut Regs) {
        let keep = (r.inflight, r.stop);
        *r = Self::reset_regs(&self.cfg);
        (r.inflight, r.stop) = keep;
    }

    pub(crate) fn dma(&self) -> &dyn DmaPort {
        &*self.dma
    }

    pub(crate) fn pasid_enabled(&self) -> bool {
        self.pasid_enabled.load(Relaxed)
    }

    pub(crate) fn bus_master(&self) -> bool {
        self.bus_master.load(Relaxed)
    }
}

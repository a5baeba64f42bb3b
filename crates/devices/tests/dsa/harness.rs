//! An engine on a bus without an IOMMU over a RAM arena, and the register pokes of a driver.

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_devices::bus::{Direct, Upstream};
use softiommu_devices::dsa::regs::{self, CmdReg, Command, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{
    BusPort, CompletionRecord, Descriptor, Dsa, DsaConfig, Enqcmd, IrqFn, Submit,
};
use softiommu_mem::{AddressSpace, RamArena};

/// Bytes of RAM behind the bus: physical addresses `[0, RAM)`.
pub const RAM: u64 = 1 << 20;

/// The requester ID of the engine.
pub const RID: u16 = 0x0100;

/// One engine and the memory it reaches.
pub struct Rig {
    pub mem: Arc<RamArena>,
    pub dsa: Arc<Dsa>,
    /// The engine's port, attached to the bus as the endpoint of its requester ID.
    pub port: Arc<BusPort>,
    pub irqs: Arc<Mutex<Vec<u16>>>,
}

/// How a driver configures one WQ.
#[derive(Clone, Copy)]
pub struct WqSetup {
    pub size: u16,
    pub threshold: u16,
    pub dedicated: bool,
    pub pasid: Option<u32>,
    pub privileged: bool,
    pub bof: bool,
    pub ats_disable: bool,
    pub xfer_shift: u8,
    pub batch_shift: u8,
}

impl WqSetup {
    /// A dedicated WQ of 16 entries without PASID.
    pub fn dedicated() -> Self {
        Self {
            size: 16,
            threshold: 0,
            dedicated: true,
            pasid: None,
            privileged: false,
            bof: false,
            ats_disable: false,
            xfer_shift: 21,
            batch_shift: 5,
        }
    }

    /// A shared WQ of 16 entries, limited portal threshold 8.
    pub fn shared() -> Self {
        Self {
            dedicated: false,
            threshold: 8,
            ..Self::dedicated()
        }
    }
}

impl Rig {
    /// An engine with default capabilities over a fresh arena.
    pub fn new() -> Self {
        Self::with(DsaConfig::default())
    }

    /// An engine with capabilities `cfg`.
    pub fn with(cfg: DsaConfig) -> Self {
        Self::on(cfg, |mem| Arc::new(Direct::new(mem)))
    }

    /// An engine whose bus is made from the arena by `bus`.
    pub fn on(cfg: DsaConfig, bus: impl FnOnce(Arc<RamArena>) -> Arc<dyn Upstream>) -> Self {
        let mem = Arc::new(RamArena::new(0, RAM).expect("arena"));
        let irqs = Arc::new(Mutex::new(Vec::new()));
        let seen = irqs.clone();
        let irq: IrqFn = Arc::new(move |v| seen.lock().push(v));
        let up = bus(mem.clone());
        let port = Arc::new(BusPort::new(up.clone(), RID));
        up.attach(RID, port.clone());
        let dsa = Arc::new(Dsa::new(cfg, port.clone(), Some(irq)));
        Self {
            mem,
            dsa,
            port,
            irqs,
        }
    }

    /// Runs a command and returns CMDSTS's error code.
    pub fn cmd(&self, cmd: Command, operand: u32) -> u8 {
        let c = CmdReg::new().with_cmd(cmd as u8).with_operand(operand);
        self.dsa.write32(regs::CMD, c.into_bits());
        let sts = regs::CmdSts::from_bits(self.dsa.read32(regs::CMDSTS));
        assert!(!sts.active(), "synchronous commands are never left active");
        sts.err()
    }

    /// Offset of WQ `wq`'s WQCFG dword `d`, from TABLE_OFFSET as a driver finds it.
    pub fn wqcfg(&self, wq: usize, d: usize) -> u64 {
        let t = regs::TableOffsets::from_bits(self.dsa.read64(regs::TABLE_OFFSET));
        let cap = regs::WqCap::from_bits(self.dsa.read64(regs::WQCAP));
        let size = 32u64 << cap.wqcfg_size();
        u64::from(t.wqcfg()) * regs::TABLE_MULT + wq as u64 * size + 4 * d as u64
    }

    /// Offset of group `g`'s GRPCFG quadword `q`.
    pub fn grpcfg(&self, g: usize, q: usize) -> u64 {
        let t = regs::TableOffsets::from_bits(self.dsa.read64(regs::TABLE_OFFSET));
        u64::from(t.grpcfg()) * regs::TABLE_MULT + g as u64 * regs::GRPCFG_SIZE + 8 * q as u64
    }

    /// Writes WQ `wq`'s configuration dwords as a driver does.
    pub fn write_wq(&self, wq: usize, s: &WqSetup) {
        let mode = WqCfgMode::new()
            .with_dedicated(s.dedicated)
            .with_bof(s.bof)
            .with_ats_disable(s.ats_disable)
            .with_priority(10)
            .with_pasid(s.pasid.unwrap_or(0))
            .with_pasid_en(s.pasid.is_some())
            .with_privileged(s.privileged);
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(s.xfer_shift)
            .with_max_batch_shift(s.batch_shift);
        self.dsa.write32(self.wqcfg(wq, 0), u32::from(s.size));
        self.dsa.write32(self.wqcfg(wq, 1), u32::from(s.threshold));
        self.dsa.write32(self.wqcfg(wq, 2), mode.into_bits());
        self.dsa.write32(self.wqcfg(wq, 3), limits.into_bits());
    }

    /// Driver-style bring-up: reset, read caps, GRPCFG (every WQ and engine in group 0),
    /// WQCFG, enable device, enable each WQ; panics on any CMDSTS error.
    pub fn bring_up(&self, wqs: &[WqSetup]) {
        assert_eq!(self.cmd(Command::ResetDevice, 0), 0);
        let engines = self.dsa.read64(regs::ENGCAP) & 0xff;
        let mask = (1u64 << wqs.len()) - 1;
        self.dsa.write64(self.grpcfg(0, 0), mask);
        self.dsa.write64(self.grpcfg(0, 4), (1 << engines) - 1);
        for (i, s) in wqs.iter().enumerate() {
            self.write_wq(i, s);
        }
        self.dsa.write32(regs::GENCTRL, 1);
        assert_eq!(self.cmd(Command::EnableDevice, 0), 0);
        for i in 0..wqs.len() {
            assert_eq!(self.cmd(Command::EnableWq, i as u32), 0, "enable wq {i}");
        }
    }

    /// MOVDIR64B of `d` to WQ `wq`'s unlimited portal (through BAR 2).
    pub fn movdir(&self, wq: u32, d: &Descriptor) -> Submit {
        self.dsa
            .portal_write(u64::from(wq) * regs::WQ_PORTALS_SIZE, &d.to_bytes(), None)
    }

    /// ENQCMD of `d` to WQ `wq` with `pasid`.
    pub fn enqcmd(&self, wq: u32, d: &Descriptor, pasid: u32) -> Submit {
        let enq = Enqcmd {
            pasid,
            privileged: false,
        };
        self.dsa.submit(wq, 0, &d.to_bytes(), Some(enq))
    }

    /// The completion record at `at`.
    pub fn cr(&self, at: u64) -> CompletionRecord {
        let mut b = [0u8; 32];
        self.mem.read(at, &mut b).expect("record in RAM");
        CompletionRecord::from_bytes(&b)
    }

    /// `len` bytes at `at`.
    pub fn bytes(&self, at: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        self.mem.read(at, &mut b).expect("in RAM");
        b
    }

    /// Writes a pattern of `len` bytes derived from `seed` at `at`, and returns it.
    pub fn pattern(&self, at: u64, len: usize, seed: u8) -> Vec<u8> {
        let b: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        self.mem.write(at, &b).expect("in RAM");
        b
    }

    /// SWERR's four quadwords.
    pub fn swerr(&self) -> [u64; 4] {
        [0, 1, 2, 3].map(|i| self.dsa.read64(regs::SWERR + 8 * i))
    }
}

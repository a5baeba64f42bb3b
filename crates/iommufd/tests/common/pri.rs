//! VT-d and SMMUv3 platforms whose page-request interrupt is served as an OS serves it, with
//! a copy engine that speaks ATS and PRI and blocks on faults.

use std::sync::{Arc, Weak, mpsc};
use std::time::Duration;

use softiommu_core::{DeviceCaps, DeviceDesc, Iommu, Rid, Topology};
use softiommu_devices::dsa::regs::{self, CmdReg, Command, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{CompletionRecord, Descriptor, DsaConfig, DsaFunction, ExecMode};
use softiommu_devices::pci::AccessSize;
use softiommu_devices::pci::regs::{ext_cap_id, offset};
use softiommu_iommufd::Host;

use super::{Platform, base, smmu_signalled};

/// A platform with one engine (device 0) behind the unit.
pub struct PriRig {
    pub p: Platform,
    pub function: DsaFunction,
}

/// Serves the unit's page-request interrupts: at each, the core has the driver take what
/// the unit queued and routes it. Ends when the unit (and with it the sender) is gone.
fn serve(iommu: Weak<Iommu>, rx: mpsc::Receiver<()>, inst: softiommu_core::InstanceId) {
    while rx.recv().is_ok() {
        let Some(iommu) = iommu.upgrade() else { return };
        let _ = iommu.page_request_event(inst);
    }
}

/// A VT-d platform whose device 0 is a copy engine with 20-bit PASIDs, ATS and PRI, its
/// page-request interrupt served by a thread; the engine is enabled with one dedicated WQ
/// (no PASID) with block on fault, ATS and PRI on.
pub fn vtd_pri() -> PriRig {
    use softiommu_vtd::driver::VtdDriver;
    use softiommu_vtd::model::VtdUnit;
    use softiommu_vtd::regs::{Event, VtdParams};
    let (mem, m, tables) = base();
    let (tx, rx) = mpsc::channel::<()>();
    let tx = parking_lot::Mutex::new(tx);
    let unit = Arc::new(
        VtdUnit::new(
            VtdParams::default(),
            m.clone(),
            Arc::new(move |which, _, _| {
                if which == Event::PageRequest {
                    let _ = tx.lock().send(());
                }
            }),
            Arc::new(|_| {}),
        )
        .expect("unit"),
    );
    let upstream: Arc<dyn softiommu_devices::bus::Upstream> = unit.clone();
    let driver = Arc::new(VtdDriver::new(unit, m.clone(), tables.clone()).expect("driver"));
    rig(mem, m, tables, driver, upstream, rx)
}

/// [`vtd_pri`] on an SMMUv3 with every feature, its PRI-queue interrupt served.
pub fn smmu_pri() -> PriRig {
    let (mem, m, tables) = base();
    let (driver, upstream, rx) = smmu_signalled(&m, &tables, softiommu_smmuv3::regs::Irq::PriQueue);
    rig(mem, m, tables, driver, upstream, rx)
}

/// The core over `driver`, the engine at 00:03.0 behind `upstream`, and the thread that
/// serves the page-request interrupts `rx` receives.
fn rig(
    mem: Arc<softiommu_mem::HostMemory>,
    m: softiommu_core::Mem,
    tables: softiommu_core::TableAlloc,
    driver: Arc<dyn softiommu_core::IommuDriver>,
    upstream: Arc<dyn softiommu_devices::bus::Upstream>,
    rx: mpsc::Receiver<()>,
) -> PriRig {
    let iommu = Arc::new(Iommu::new(m, tables));
    let inst = iommu.add_instance(driver);
    let rid = Rid::new(0, 0, 3, 0);
    let topo = Topology {
        bridges: vec![],
        devices: vec![DeviceDesc {
            rid,
            instance: inst,
            caps: DeviceCaps {
                pasid_bits: 20,
                ats: true,
                pri: true,
            },
            bridge: None,
            alias: None,
        }],
    };
    let devs = iommu.add_devices(&topo).expect("devices");
    let weak = Arc::downgrade(&iommu);
    std::thread::spawn(move || serve(weak, rx, inst));
    let cfg = DsaConfig {
        mode: ExecMode::Synchronous,
        ..DsaConfig::default()
    };
    let function = DsaFunction::new(cfg, upstream.clone(), rid.source_id()).expect("engine");
    let rig = PriRig {
        p: Platform {
            host: Host::new(mem, iommu),
            devs,
            upstream,
        },
        function,
    };
    rig.bring_up();
    rig
}

impl PriRig {
    fn config(&self, at: u32, value: u32, size: AccessSize) {
        self.function.config_write(at, size, value);
    }

    fn ext_cap(&self, id: u16) -> u32 {
        let mut at = 0x100;
        while at != 0 {
            let h = self.function.config_read(at, AccessSize::Dword);
            if h & 0xffff == u32::from(id) {
                return at;
            }
            at = h >> 20;
        }
        panic!("no extended capability {id:#x}");
    }

    fn cmd(&self, cmd: Command, operand: u32) -> u8 {
        let dsa = self.function.dsa();
        let c = CmdReg::new().with_cmd(cmd as u8).with_operand(operand);
        dsa.write32(regs::CMD, c.into_bits());
        regs::CmdSts::from_bits(dsa.read32(regs::CMDSTS)).err()
    }

    /// What a driver's probe and bring-up do: memory space and bus mastering, ATS, PRI with
    /// 8 outstanding requests, and one dedicated WQ with block on fault.
    fn bring_up(&self) {
        self.config(u32::from(offset::COMMAND), 0x6, AccessSize::Word);
        let ats = self.ext_cap(ext_cap_id::ATS);
        self.config(ats + 6, 1 << 15, AccessSize::Word);
        let pri = self.ext_cap(ext_cap_id::PRI);
        self.config(pri + 0xc, 8, AccessSize::Dword);
        self.config(pri + 4, 1, AccessSize::Word);
        self.function
            .port()
            .set_page_response_timeout(Duration::from_secs(10));
        let dsa = self.function.dsa();
        assert_eq!(self.cmd(Command::ResetDevice, 0), 0);
        let t = regs::TableOffsets::from_bits(dsa.read64(regs::TABLE_OFFSET));
        let grpcfg = u64::from(t.grpcfg()) * regs::TABLE_MULT;
        dsa.write64(grpcfg, 1);
        dsa.write64(grpcfg + 32, dsa.read64(regs::ENGCAP) & 0xff);
        let at = u64::from(t.wqcfg()) * regs::TABLE_MULT;
        let mode = WqCfgMode::new()
            .with_dedicated(true)
            .with_bof(true)
            .with_priority(10);
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(21)
            .with_max_batch_shift(5);
        dsa.write32(at, 16);
        dsa.write32(at + 8, mode.into_bits());
        dsa.write32(at + 12, limits.into_bits());
        dsa.write32(regs::GENCTRL, 1);
        assert_eq!(self.cmd(Command::EnableDevice, 0), 0);
        assert_eq!(self.cmd(Command::EnableWq, 0), 0);
    }

    /// A move of `len` bytes from `src` to `dst` (IOVAs) with block on fault, its completion
    /// record at IOVA `cr`, whose bytes are at host address `cr_host`; returns the record
    /// once the descriptor completed (the call blocks while a page request waits).
    pub fn memmove(&self, src: u64, dst: u64, len: u32, cr: u64, cr_host: u64) -> CompletionRecord {
        let mut d = Descriptor::memmove(src, dst, len).with_completion(cr);
        d.set_flags(d.flags().with_block_on_fault(true));
        let taken = self.function.dsa().portal_write(0, &d.to_bytes(), None);
        assert_eq!(taken, softiommu_devices::dsa::Submit::Accepted);
        let mut b = [0u8; 32];
        // SAFETY: `cr_host` is the test's completion-record buffer, 32 bytes or more, alive
        // for the call.
        unsafe { std::ptr::copy_nonoverlapping(cr_host as *const u8, b.as_mut_ptr(), 32) };
        CompletionRecord::from_bytes(&b)
    }
}

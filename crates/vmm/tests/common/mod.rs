//! The host the guests run on: this process's memory under a VT-d unit brought up by its
//! driver, with the copy engine at 00:03.0 bound to VFIO's PCI driver; and the guest's
//! driver of the engine, programming it through the regions of its VFIO device file.

#![allow(dead_code, clippy::unwrap_used)]

pub mod smmu;

use std::sync::Arc;

use softiommu_core::{DeviceCaps, DeviceDesc, Iommu, Mem, Rid, TableAlloc, Topology};
use softiommu_devices::dsa::regs::{self, CmdReg, CmdSts, Command, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{Descriptor, DsaConfig, DsaFunction};
use softiommu_iommufd::vfio::{VFIO_PCI_CONFIG_REGION_INDEX, VfioDevice, VfioPci, region_offset};
use softiommu_iommufd::{Context, Credentials, Host};
use softiommu_mem::{HostMemory, PageAlloc};
use softiommu_vtd::driver::VtdDriver;
use softiommu_vtd::model::VtdUnit;
use softiommu_vtd::regs::VtdParams;

/// A host with the copy engine behind its VT-d unit, bound to VFIO.
pub struct HostRig {
    pub host: Arc<Host>,
    pub vfio: Arc<VfioPci>,
    pub name: String,
}

pub fn host() -> HostRig {
    let mem = Arc::new(HostMemory::new(64 << 20).unwrap());
    let m: Mem = mem.clone();
    let (base, size) = mem.table_range();
    let tables: TableAlloc = Arc::new(PageAlloc::new(m.clone(), base, size).unwrap());
    let unit = Arc::new(
        VtdUnit::new(
            VtdParams::default(),
            m.clone(),
            Arc::new(|_, _, _| {}),
            Arc::new(|_| {}),
        )
        .unwrap(),
    );
    let upstream: Arc<dyn softiommu_devices::bus::Upstream> = unit.clone();
    let driver = Arc::new(VtdDriver::new(unit, m.clone(), tables.clone()).unwrap());
    let iommu = Arc::new(Iommu::new(m, tables));
    let instance = iommu.add_instance(driver);
    let rid = Rid::new(0, 0, 3, 0);
    let desc = DeviceDesc {
        rid,
        instance,
        caps: DeviceCaps::default(),
        bridge: None,
        alias: None,
    };
    let topo = Topology {
        bridges: vec![],
        devices: vec![desc],
    };
    let dev = iommu.add_devices(&topo).unwrap()[0];
    let host = Host::new(mem, iommu);
    let vfio = VfioPci::new(host.clone());
    let port = vfio.irqs().port(upstream);
    let sid = rid.source_id();
    let function = Arc::new(DsaFunction::new(DsaConfig::default(), port, sid).unwrap());
    let name = vfio.add(dev, sid, function).unwrap();
    HostRig { host, vfio, name }
}

impl HostRig {
    /// A context of an unprivileged user allowed to lock 1 GiB.
    pub fn context(&self) -> Arc<Context> {
        let cred = Credentials {
            memlock_limit: Some(1 << 30),
            ..Credentials::default()
        };
        Arc::new(Context::new(self.host.clone(), cred))
    }
}

/// The guest's driver of the engine: everything through the device file's regions.
pub struct Engine<'a> {
    pub dev: &'a VfioDevice,
}

impl Engine<'_> {
    fn read(&self, off: u64, n: usize) -> u64 {
        let mut b = [0u8; 8];
        assert_eq!(
            self.dev.read(region_offset(0) + off, &mut b[..n]).unwrap(),
            n
        );
        u64::from_le_bytes(b)
    }

    fn write(&self, off: u64, val: u64, n: usize) {
        let b = val.to_le_bytes();
        assert_eq!(self.dev.write(region_offset(0) + off, &b[..n]).unwrap(), n);
    }

    fn cmd(&self, cmd: Command) -> u8 {
        let c = CmdReg::new().with_cmd(cmd as u8);
        self.write(regs::CMD, u64::from(c.into_bits()), 4);
        CmdSts::from_bits(self.read(regs::CMDSTS, 4) as u32).err()
    }

    /// Bus mastering on, WQ 0 dedicated (no PASID) in group 0 with every engine, enabled.
    pub fn bring_up(&self) {
        let cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
        let mut c = [0u8; 2];
        self.dev.read(cfg + 4, &mut c).unwrap();
        let c = u16::from_le_bytes(c) | 0x6;
        self.dev.write(cfg + 4, &c.to_le_bytes()).unwrap();
        assert_eq!(self.cmd(Command::ResetDevice), 0);
        let t = regs::TableOffsets::from_bits(self.read(regs::TABLE_OFFSET, 8));
        let grpcfg = u64::from(t.grpcfg()) * regs::TABLE_MULT;
        let engines = self.read(regs::ENGCAP, 8) & 0xff;
        self.write(grpcfg, 1, 8);
        self.write(grpcfg + 32, (1 << engines) - 1, 8);
        let wq = u64::from(t.wqcfg()) * regs::TABLE_MULT;
        let mode = WqCfgMode::new().with_dedicated(true).with_priority(10);
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(21)
            .with_max_batch_shift(5);
        self.write(wq, 16, 4);
        self.write(wq + 8, u64::from(mode.into_bits()), 4);
        self.write(wq + 12, u64::from(limits.into_bits()), 4);
        self.write(regs::GENCTRL, 1, 4);
        assert_eq!(self.cmd(Command::EnableDevice), 0);
        assert_eq!(self.cmd(Command::EnableWq), 0);
    }

    /// Stores a move of `len` bytes from `src` to `dst` (device addresses) with its
    /// completion record at `cr` to WQ 0's portal.
    pub fn memmove(&self, src: u64, dst: u64, len: u32, cr: u64) {
        let d = Descriptor::memmove(src, dst, len).with_completion(cr);
        let portal = self.dev.mmap(region_offset(2), 0x1000).unwrap();
        portal.write(0, &d.to_bytes()).unwrap();
    }
}

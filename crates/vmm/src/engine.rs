//! The guest's driver of an assigned copy engine (a whole function or an mdev), working
//! only through the regions of its VFIO device file: configuration space, BAR 0's
//! registers and BAR 2's portal.

use softiommu_devices::dsa::Descriptor;
use softiommu_devices::dsa::regs::{self, CmdReg, CmdSts, Command, WqCfgLimits, WqCfgMode};
use softiommu_iommufd::vfio::{VFIO_PCI_CONFIG_REGION_INDEX, VfioDevice, region_offset};

use crate::{Error, Result};

/// PCI command register: memory space and bus master enables.
const COMMAND: u64 = 4;
const MEMORY_MASTER: u16 = 0x6;
/// The PASID extended capability's ID.
const PASID_CAP: u32 = 0x1b;

/// The guest's driver of one engine: WQ 0, dedicated, in group 0 with every engine.
pub(crate) struct EngineDriver<'a> {
    pub(crate) dev: &'a VfioDevice,
}

impl EngineDriver<'_> {
    fn read(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        let n = self.dev.read(at, buf)?;
        if n != buf.len() {
            return Err(Error::Device(format!("short read at {at:#x}")));
        }
        Ok(())
    }

    fn write(&self, at: u64, data: &[u8]) -> Result<()> {
        let n = self.dev.write(at, data)?;
        if n != data.len() {
            return Err(Error::Device(format!("short write at {at:#x}")));
        }
        Ok(())
    }

    fn bar(&self, off: u64, n: usize) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read(region_offset(0) + off, &mut b[..n])?;
        Ok(u64::from_le_bytes(b))
    }

    fn set_bar(&self, off: u64, v: u64, n: usize) -> Result<()> {
        self.write(region_offset(0) + off, &v.to_le_bytes()[..n])
    }

    fn config16(&self, at: u64) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read(region_offset(VFIO_PCI_CONFIG_REGION_INDEX) + at, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    fn set_config16(&self, at: u64, v: u16) -> Result<()> {
        self.write(
            region_offset(VFIO_PCI_CONFIG_REGION_INDEX) + at,
            &v.to_le_bytes(),
        )
    }

    fn cmd(&self, cmd: Command) -> Result<()> {
        let c = CmdReg::new().with_cmd(cmd as u8);
        self.set_bar(regs::CMD, u64::from(c.into_bits()), 4)?;
        let err = CmdSts::from_bits(self.bar(regs::CMDSTS, 4)? as u32).err();
        if err != 0 {
            return Err(Error::Device(format!("{cmd:?} failed: error {err:#x}")));
        }
        Ok(())
    }

    /// Turns the PASID capability on; an error if the function has none.
    fn enable_pasid(&self) -> Result<()> {
        let mut at = 0x100u64;
        for _ in 0..48 {
            let h = u32::from(self.config16(at)?) | u32::from(self.config16(at + 2)?) << 16;
            if h & 0xffff == PASID_CAP {
                let ctl = self.config16(at + 6)?;
                return self.set_config16(at + 6, ctl | 1);
            }
            at = u64::from(h >> 20);
            if at < 0x100 {
                break;
            }
        }
        Err(Error::Device("no PASID capability".into()))
    }

    /// Bus mastering on, then WQ 0 dedicated with every engine, its requests tagged with
    /// `pasid` if given (the PASID capability turned on for it), device and WQ enabled.
    pub(crate) fn bring_up(&self, pasid: Option<u32>) -> Result<()> {
        let c = self.config16(COMMAND)? | MEMORY_MASTER;
        self.set_config16(COMMAND, c)?;
        if pasid.is_some() {
            self.enable_pasid()?;
        }
        self.cmd(Command::ResetDevice)?;
        let t = regs::TableOffsets::from_bits(self.bar(regs::TABLE_OFFSET, 8)?);
        let grpcfg = u64::from(t.grpcfg()) * regs::TABLE_MULT;
        let engines = self.bar(regs::ENGCAP, 8)? & 0xff;
        self.set_bar(grpcfg, 1, 8)?;
        self.set_bar(grpcfg + 32, (1 << engines) - 1, 8)?;
        let wq = u64::from(t.wqcfg()) * regs::TABLE_MULT;
        let mut mode = WqCfgMode::new().with_dedicated(true).with_priority(10);
        if let Some(p) = pasid {
            mode = mode.with_pasid_en(true).with_pasid(p);
        }
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(21)
            .with_max_batch_shift(5);
        self.set_bar(wq, 16, 4)?;
        self.set_bar(wq + 8, u64::from(mode.into_bits()), 4)?;
        self.set_bar(wq + 12, u64::from(limits.into_bits()), 4)?;
        self.set_bar(regs::GENCTRL, 1, 4)?;
        self.cmd(Command::EnableDevice)?;
        self.cmd(Command::EnableWq)
    }

    /// Stores descriptor `d` to WQ 0's portal.
    pub(crate) fn submit(&self, d: &Descriptor) -> Result<()> {
        let portal = self.dev.mmap(region_offset(2), 0x1000)?;
        portal.write(0, &d.to_bytes())?;
        Ok(())
    }
}

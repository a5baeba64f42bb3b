//! The guest's driver of an assigned copy engine (a VF or an mdev): everything through the
//! regions of its VFIO device file, as a guest's DSA driver reaches the device the VMM
//! passes through.

use softiommu_devices::dsa::regs::{self, CmdReg, CmdSts, Command, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{CompletionRecord, Descriptor};
use softiommu_iommufd::vfio::{VFIO_PCI_CONFIG_REGION_INDEX, VfioDevice, region_offset};

use crate::{Error, Result};

/// PCI extended capability ID of PASID.
const PASID_CAP_ID: u32 = 0x1b;

fn short(what: &str) -> Error {
    Error::Viommu(format!("the device file answered {what} short"))
}

/// The guest's driver of one engine, with a dedicated WQ 0 (tagged with a PASID if asked).
pub(crate) struct GuestEngine<'a> {
    pub(crate) dev: &'a VfioDevice,
}

impl GuestEngine<'_> {
    fn read(&self, off: u64, n: usize) -> Result<u64> {
        let mut b = [0u8; 8];
        if self.dev.read(region_offset(0) + off, &mut b[..n])? != n {
            return Err(short("a register read"));
        }
        Ok(u64::from_le_bytes(b))
    }

    fn write(&self, off: u64, val: u64, n: usize) -> Result<()> {
        let b = val.to_le_bytes();
        if self.dev.write(region_offset(0) + off, &b[..n])? != n {
            return Err(short("a register write"));
        }
        Ok(())
    }

    fn config(&self, off: u64, n: usize) -> Result<u32> {
        let mut b = [0u8; 4];
        let cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
        if self.dev.read(cfg + off, &mut b[..n])? != n {
            return Err(short("a configuration read"));
        }
        Ok(u32::from_le_bytes(b))
    }

    fn set_config(&self, off: u64, val: u32, n: usize) -> Result<()> {
        let cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
        if self.dev.write(cfg + off, &val.to_le_bytes()[..n])? != n {
            return Err(short("a configuration write"));
        }
        Ok(())
    }

    fn cmd(&self, cmd: Command) -> Result<()> {
        let c = CmdReg::new().with_cmd(cmd as u8);
        self.write(regs::CMD, u64::from(c.into_bits()), 4)?;
        match CmdSts::from_bits(self.read(regs::CMDSTS, 4)? as u32).err() {
            0 => Ok(()),
            e => Err(Error::Viommu(format!(
                "engine command {cmd:?}: error {e:#x}"
            ))),
        }
    }

    /// Sets the enable bit of the function's PASID capability; `false` if it has none.
    fn enable_pasid(&self) -> Result<bool> {
        let mut at = 0x100u64;
        for _ in 0..48 {
            let h = self.config(at, 4)?;
            if h & 0xffff == PASID_CAP_ID {
                let ctl = self.config(at + 6, 2)?;
                self.set_config(at + 6, ctl | 1, 2)?;
                return Ok(true);
            }
            at = u64::from(h >> 20);
            if at < 0x100 {
                break;
            }
        }
        Ok(false)
    }

    /// Bus mastering on, WQ 0 dedicated in group 0 with every engine, its requests tagged
    /// with `pasid` if given (the function's PASID capability enabled), enabled.
    pub(crate) fn bring_up(&self, pasid: Option<u32>) -> Result<()> {
        let c = self.config(4, 2)? | 0x6;
        self.set_config(4, c, 2)?;
        if pasid.is_some() && !self.enable_pasid()? {
            return Err(Error::Viommu("the engine has no PASID capability".into()));
        }
        self.cmd(Command::ResetDevice)?;
        let t = regs::TableOffsets::from_bits(self.read(regs::TABLE_OFFSET, 8)?);
        let grpcfg = u64::from(t.grpcfg()) * regs::TABLE_MULT;
        let engines = self.read(regs::ENGCAP, 8)? & 0xff;
        self.write(grpcfg, 1, 8)?;
        self.write(grpcfg + 32, (1 << engines) - 1, 8)?;
        let wq = u64::from(t.wqcfg()) * regs::TABLE_MULT;
        let mut mode = WqCfgMode::new().with_dedicated(true).with_priority(10);
        if let Some(p) = pasid {
            mode = mode.with_pasid_en(true).with_pasid(p);
        }
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(21)
            .with_max_batch_shift(5);
        self.write(wq, 16, 4)?;
        self.write(wq + 8, u64::from(mode.into_bits()), 4)?;
        self.write(wq + 12, u64::from(limits.into_bits()), 4)?;
        self.write(regs::GENCTRL, 1, 4)?;
        self.cmd(Command::EnableDevice)?;
        self.cmd(Command::EnableWq)
    }

    /// Stores a move of `len` bytes from `src` to `dst` (device addresses) with its
    /// completion record at `cr` to WQ 0's portal.
    pub(crate) fn memmove(&self, src: u64, dst: u64, len: u32, cr: u64) -> Result<()> {
        let d = Descriptor::memmove(src, dst, len).with_completion(cr);
        let portal = self.dev.mmap(region_offset(2), 0x1000)?;
        portal.write(0, &d.to_bytes())?;
        Ok(())
    }
}

/// The completion record in `bytes`.
pub(crate) fn record(bytes: &[u8; 32]) -> CompletionRecord {
    CompletionRecord::from_bytes(bytes)
}

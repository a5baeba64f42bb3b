//! The guest's driver of an assigned copy engine (a whole function or an mdev): everything
//! through the regions of its VFIO device file, as the guest's accesses to the BARs the
//! VMM passes through reach it. It brings up one dedicated work queue, tagged with a PASID
//! or not, stores move descriptors to the WQ's portal and waits on each completion record
//! in guest memory. As idxd does, it lets the WQ and its descriptors block on faults when
//! the engine can (GENCAP) and page requests are on for the function (its PRI capability
//! enabled, which the host does when its IOMMU takes the function's page faults): a DMA to
//! a page the IOMMU lacks then waits for a page request's answer instead of failing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use softiommu_devices::dsa::desc::COMPLETION_SIZE;
use softiommu_devices::dsa::regs::{self, CmdReg, CmdSts, Command, GenCap, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{CompletionRecord, Descriptor, Status};
use softiommu_iommufd::vfio::{BarMap, VFIO_PCI_CONFIG_REGION_INDEX, VfioDevice, region_offset};
use vm_memory::{Bytes, GuestAddress};

use crate::{Error, Guest, Result};

/// The PCI command register in configuration space.
const PCI_COMMAND: u64 = 4;
/// Memory space and bus master enable.
const MEMORY_AND_MASTER: u16 = 0x6;
/// The PASID extended capability's ID.
const PASID_CAP_ID: u32 = 0x1b;
/// The PRI extended capability's ID.
const PRI_CAP_ID: u32 = 0x13;
/// PRI's control register, from the capability's start (Enable is bit 0).
const PRI_CONTROL: u64 = 4;
/// How long a completion record is waited for.
const WAIT: Duration = Duration::from_secs(2);

/// The guest's driver of one copy engine's device file.
pub struct GuestDriver {
    dev: Arc<VfioDevice>,
    portal: Option<BarMap>,
    /// The WQ and its descriptors block on faults.
    bof: bool,
}

impl std::fmt::Debug for GuestDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestDriver")
            .field("dev", &self.dev.name())
            .field("up", &self.portal.is_some())
            .field("bof", &self.bof)
            .finish()
    }
}

impl GuestDriver {
    /// The driver of the engine behind device file `dev` (bound and attached by the VMM).
    pub fn new(dev: VfioDevice) -> GuestDriver {
        Self::shared(Arc::new(dev))
    }

    /// The driver of the engine behind device file `dev`, which the VMM keeps too (to
    /// attach it as the guest's vIOMMU programming asks).
    pub fn shared(dev: Arc<VfioDevice>) -> GuestDriver {
        GuestDriver {
            dev,
            portal: None,
            bof: false,
        }
    }

    /// Whether the work queue brought up blocks on faults (its descriptors then carry
    /// block on fault too).
    pub fn blocks_on_faults(&self) -> bool {
        self.bof
    }

    /// The device file.
    pub fn device(&self) -> &VfioDevice {
        &self.dev
    }

    /// The device file, for another driver of the same function (a guest's driver loaded
    /// again, after a reset).
    pub fn shared_device(&self) -> Arc<VfioDevice> {
        self.dev.clone()
    }

    fn bar0_read(&self, off: u64, n: usize) -> Result<u64> {
        let mut b = [0u8; 8];
        let got = self.dev.read(region_offset(0) + off, &mut b[..n.min(8)])?;
        if got != n {
            return Err(Error::Device(format!(
                "BAR 0 read at {off:#x}: {got} bytes"
            )));
        }
        Ok(u64::from_le_bytes(b))
    }

    fn bar0_write(&self, off: u64, val: u64, n: usize) -> Result<()> {
        let b = val.to_le_bytes();
        let put = self.dev.write(region_offset(0) + off, &b[..n.min(8)])?;
        if put != n {
            return Err(Error::Device(format!(
                "BAR 0 write at {off:#x}: {put} bytes"
            )));
        }
        Ok(())
    }

    fn config16(&self, at: u64) -> Result<u16> {
        let mut b = [0u8; 2];
        let cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
        self.dev.read(cfg + at, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    fn set_config16(&self, at: u64, val: u16) -> Result<()> {
        let cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
        self.dev.write(cfg + at, &val.to_le_bytes())?;
        Ok(())
    }

    /// Runs an administrative command; an error status is an error.
    fn cmd(&self, cmd: Command) -> Result<()> {
        let c = CmdReg::new().with_cmd(cmd as u8);
        self.bar0_write(regs::CMD, u64::from(c.into_bits()), 4)?;
        let sts = CmdSts::from_bits(self.bar0_read(regs::CMDSTS, 4)? as u32);
        match sts.err() {
            0 => Ok(()),
            e => Err(Error::Device(format!("command {cmd:?}: error {e:#x}"))),
        }
    }

    /// The offset of extended capability `id`, if the function has it.
    fn ext_cap(&self, id: u32) -> Result<Option<u64>> {
        let mut at = 0x100u64;
        for _ in 0..48 {
            let h = u32::from(self.config16(at)?) | u32::from(self.config16(at + 2)?) << 16;
            if h & 0xffff == id {
                return Ok(Some(at));
            }
            at = u64::from(h >> 20);
            if at < 0x100 {
                break;
            }
        }
        Ok(None)
    }

    /// Turns on the PASID capability's enable bit; `false` when the function has none.
    fn enable_pasid(&self) -> Result<bool> {
        let Some(at) = self.ext_cap(PASID_CAP_ID)? else {
            return Ok(false);
        };
        let ctl = self.config16(at + 6)?;
        self.set_config16(at + 6, ctl | 1)?;
        Ok(true)
    }

    /// Whether the engine can block on faults and the function's page requests are on.
    fn can_block_on_faults(&self) -> Result<bool> {
        let cap = GenCap::from_bits(self.bar0_read(regs::GENCAP, 8)?);
        if !cap.block_on_fault() {
            return Ok(false);
        }
        Ok(match self.ext_cap(PRI_CAP_ID)? {
            Some(at) => self.config16(at + PRI_CONTROL)? & 1 == 1,
            None => false,
        })
    }

    /// Probe and bring-up: memory and bus mastering on, the device reset, WQ 0 dedicated
    /// in group 0 with every engine (its requests tagged with `pasid` if given, the
    /// function's PASID capability then enabled; blocking on faults when the engine can and
    /// the function's page requests are on), device and WQ enabled.
    pub fn bring_up(&mut self, pasid: Option<u32>) -> Result<()> {
        let c = self.config16(PCI_COMMAND)? | MEMORY_AND_MASTER;
        self.set_config16(PCI_COMMAND, c)?;
        if pasid.is_some() && !self.enable_pasid()? {
            return Err(Error::Device("the function has no PASID capability".into()));
        }
        self.cmd(Command::ResetDevice)?;
        let t = regs::TableOffsets::from_bits(self.bar0_read(regs::TABLE_OFFSET, 8)?);
        let grpcfg = u64::from(t.grpcfg()) * regs::TABLE_MULT;
        let engines = self.bar0_read(regs::ENGCAP, 8)? & 0xff;
        self.bar0_write(grpcfg, 1, 8)?;
        self.bar0_write(grpcfg + 32, (1u64 << engines.min(63)) - 1, 8)?;
        let wq = u64::from(t.wqcfg()) * regs::TABLE_MULT;
        self.bof = self.can_block_on_faults()?;
        let mut mode = WqCfgMode::new()
            .with_dedicated(true)
            .with_priority(10)
            .with_bof(self.bof);
        if let Some(p) = pasid {
            mode = mode.with_pasid_en(true).with_pasid(p);
        }
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(21)
            .with_max_batch_shift(5);
        self.bar0_write(wq, 16, 4)?;
        self.bar0_write(wq + 4, 8, 4)?;
        self.bar0_write(wq + 8, u64::from(mode.into_bits()), 4)?;
        self.bar0_write(wq + 12, u64::from(limits.into_bits()), 4)?;
        self.bar0_write(regs::GENCTRL, 1, 4)?;
        self.cmd(Command::EnableDevice)?;
        self.cmd(Command::EnableWq)?;
        self.portal = Some(self.dev.mmap(region_offset(2), 0x1000)?);
        Ok(())
    }

    /// Stores a move of `len` bytes from device address `src` to `dst`, its completion
    /// record at device address `cr`, to WQ 0's portal (blocking on faults when the WQ
    /// does); does not wait.
    pub fn submit_memmove(&self, src: u64, dst: u64, len: u32, cr: u64) -> Result<()> {
        let portal = self
            .portal
            .as_ref()
            .ok_or_else(|| Error::Device("the work queue is not up".into()))?;
        let mut d = Descriptor::memmove(src, dst, len).with_completion(cr);
        if self.bof {
            d.set_flags(d.flags().with_block_on_fault(true));
        }
        portal.write(0, &d.to_bytes())?;
        Ok(())
    }

    /// A move of `len` bytes from device address `src` to `dst` with its completion record
    /// at device address `cr`, which the guest's own mappings put at guest-physical
    /// `cr_gpa` of `guest`: the record is cleared, the descriptor submitted, and the record
    /// waited for and returned. No record within two seconds is an error.
    pub fn memmove(
        &self,
        guest: &Guest,
        (src, dst, len): (u64, u64, u32),
        (cr, cr_gpa): (u64, u64),
    ) -> Result<CompletionRecord> {
        let at = GuestAddress(cr_gpa);
        let mem = guest.memory();
        let ram = |e: vm_memory::GuestMemoryError| Error::Ram(e.to_string());
        mem.write_slice(&[0u8; COMPLETION_SIZE], at).map_err(ram)?;
        self.submit_memmove(src, dst, len, cr)?;
        let start = Instant::now();
        loop {
            let mut rec = [0u8; COMPLETION_SIZE];
            mem.read_slice(&mut rec, at).map_err(ram)?;
            if rec[0] != Status::None as u8 {
                return Ok(CompletionRecord::from_bytes(&rec));
            }
            if start.elapsed() > WAIT {
                return Err(Error::Device(format!(
                    "no completion record at {cr:#x} (guest-physical {cr_gpa:#x})"
                )));
            }
            std::thread::yield_now();
        }
    }
}

//! A driver of the copy engine written as a VFIO program: everything through a device file
//! (configuration space and BAR 0 region accesses, a descriptor stored to the mapped portal),
//! with one WQ brought up in a chosen mode. It drives a whole engine and an mdev alike.

use std::sync::Arc;

use softiommu_devices::dsa::regs::{self, CmdReg, CmdSts, Command, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{CompletionRecord, Descriptor};
use softiommu_iommufd::Context;
use softiommu_iommufd::vfio::*;
use vfio_bindings::bindings::vfio as v;

use super::dsa::Fds;
use super::{Buffer, bytes_of, from_bytes};

/// The driver's side of one device file.
pub struct Driver<'a> {
    pub dev: &'a VfioDevice,
}

impl Driver<'_> {
    pub fn bar0(&self) -> u64 {
        region_offset(0)
    }

    pub fn read32(&self, off: u64) -> u32 {
        let mut b = [0u8; 4];
        assert_eq!(self.dev.read(self.bar0() + off, &mut b).expect("read"), 4);
        u32::from_le_bytes(b)
    }

    pub fn read64(&self, off: u64) -> u64 {
        let mut b = [0u8; 8];
        self.dev.read(self.bar0() + off, &mut b).expect("read");
        u64::from_le_bytes(b)
    }

    pub fn write32(&self, off: u64, val: u32) {
        self.dev
            .write(self.bar0() + off, &val.to_le_bytes())
            .expect("write");
    }

    pub fn write64(&self, off: u64, val: u64) {
        self.dev
            .write(self.bar0() + off, &val.to_le_bytes())
            .expect("write");
    }

    pub fn cmd(&self, cmd: Command, operand: u32) -> u8 {
        let c = CmdReg::new().with_cmd(cmd as u8).with_operand(operand);
        self.write32(regs::CMD, c.into_bits());
        CmdSts::from_bits(self.read32(regs::CMDSTS)).err()
    }

    fn config16(&self, at: u64) -> u16 {
        let mut b = [0u8; 2];
        let cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
        self.dev.read(cfg + at, &mut b).expect("config read");
        u16::from_le_bytes(b)
    }

    fn set_config16(&self, at: u64, val: u16) {
        let cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
        self.dev
            .write(cfg + at, &val.to_le_bytes())
            .expect("config write");
    }

    /// Turns on the PASID capability's enable bit, if the function has the capability;
    /// `false` if not.
    pub fn enable_pasid(&self) -> bool {
        let mut at = 0x100u64;
        for _ in 0..48 {
            let h = u32::from(self.config16(at)) | u32::from(self.config16(at + 2)) << 16;
            if h & 0xffff == 0x1b {
                let ctl = self.config16(at + 6);
                self.set_config16(at + 6, ctl | 1);
                return true;
            }
            at = u64::from(h >> 20);
            if at < 0x100 {
                return false;
            }
        }
        false
    }

    /// Probe and bring-up: the engine's IDs, memory and bus mastering on, WQ 0 in group 0
    /// with every engine, configured with `mode`, device and WQ enabled.
    pub fn bring_up(&self, mode: WqCfgMode) {
        let mut info = v::vfio_device_info {
            argsz: 24,
            ..Default::default()
        };
        let mut b = bytes_of(&info);
        let r = self
            .dev
            .ioctl(u64::from(VFIO_DEVICE_GET_INFO), b.as_mut_ptr() as u64);
        r.expect("GET_INFO");
        info = from_bytes(&b);
        assert_ne!(info.flags & DEVICE_FLAGS_PCI, 0);
        assert_eq!(
            u32::from(self.config16(0)) | u32::from(self.config16(2)) << 16,
            0x0b25_8086
        );
        let cmd = self.config16(4) | 0x6;
        self.set_config16(4, cmd);

        assert_eq!(self.cmd(Command::ResetDevice, 0), 0);
        let t = regs::TableOffsets::from_bits(self.read64(regs::TABLE_OFFSET));
        let grpcfg = u64::from(t.grpcfg()) * regs::TABLE_MULT;
        let engines = self.read64(regs::ENGCAP) & 0xff;
        self.write64(grpcfg, 1);
        self.write64(grpcfg + 32, (1 << engines) - 1);
        let wq = u64::from(t.wqcfg()) * regs::TABLE_MULT;
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(21)
            .with_max_batch_shift(5);
        self.write32(wq, 16);
        self.write32(wq + 4, 8);
        self.write32(wq + 8, mode.into_bits());
        self.write32(wq + 12, limits.into_bits());
        self.write32(regs::GENCTRL, 1);
        assert_eq!(self.cmd(Command::EnableDevice, 0), 0);
        assert_eq!(self.cmd(Command::EnableWq, 0), 0);
    }

    /// A memory move of `len` bytes from `src` to `dst` with its completion record at IOVA
    /// `cr` (host memory `cr_buf`), stored to WQ 0's portal through a mapping of BAR 2.
    pub fn memmove(
        &self,
        src: u64,
        dst: u64,
        len: u32,
        cr: u64,
        cr_buf: &mut Buffer,
    ) -> CompletionRecord {
        self.memmove_irq(src, dst, len, (cr, cr_buf), None)
    }

    /// [`memmove`](Driver::memmove), asking for a completion interrupt on MSI-X vector
    /// `vector` if given.
    pub fn memmove_irq(
        &self,
        src: u64,
        dst: u64,
        len: u32,
        (cr, cr_buf): (u64, &mut Buffer),
        vector: Option<u16>,
    ) -> CompletionRecord {
        cr_buf.bytes_mut()[..32].fill(0);
        let mut d = Descriptor::memmove(src, dst, len).with_completion(cr);
        if let Some(v) = vector {
            d.set_flags(d.flags().with_rci(true));
            d.int_handle = v;
        }
        let portal = self.dev.mmap(region_offset(2), 0x1000).expect("portal");
        portal.write(0, &d.to_bytes()).expect("store");
        let mut rec = [0u8; 32];
        rec.copy_from_slice(&cr_buf.bytes()[..32]);
        CompletionRecord::from_bytes(&rec)
    }
}

/// `VFIO_DEVICE_SET_IRQS` on MSI-X: eventfds `fds` as triggers from vector 0.
pub fn set_msix(dev: &VfioDevice, fds: &[i32]) -> Result<i64, i32> {
    let mut b = Vec::new();
    let flags = IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER;
    for w in [20 + 4 * fds.len() as u32, flags, VFIO_PCI_MSIX_IRQ_INDEX, 0] {
        b.extend_from_slice(&w.to_ne_bytes());
    }
    b.extend_from_slice(&(fds.len() as u32).to_ne_bytes());
    for fd in fds {
        b.extend_from_slice(&fd.to_ne_bytes());
    }
    dev.ioctl(u64::from(VFIO_DEVICE_SET_IRQS), b.as_mut_ptr() as u64)
        .map_err(|e| e.errno())
}

/// A dedicated WQ's mode, tagging its requests with `pasid` if given.
pub fn dedicated(pasid: Option<u32>) -> WqCfgMode {
    let m = WqCfgMode::new().with_dedicated(true).with_priority(10);
    match pasid {
        Some(p) => m.with_pasid_en(true).with_pasid(p),
        None => m,
    }
}

/// Binds the device file to `ctx` through the binary call; returns the device's id.
pub fn bind(dev: &VfioDevice, ctx: &Arc<Context>) -> Result<u32, i32> {
    let bind = v::vfio_device_bind_iommufd {
        argsz: 24,
        iommufd: 7,
        ..Default::default()
    };
    let files = Fds {
        contexts: vec![(7, ctx.clone())],
        ..Fds::default()
    };
    let mut b = bytes_of(&bind);
    let cmd = u64::from(VFIO_DEVICE_BIND_IOMMUFD);
    dev.ioctl_with_files(cmd, b.as_mut_ptr() as u64, &files)
        .map_err(|e| e.errno())?;
    let bind: v::vfio_device_bind_iommufd = from_bytes(&b);
    Ok(bind.out_devid)
}

/// `VFIO_DEVICE_ATTACH_IOMMUFD_PT`, at the RID (`pasid` `None`) or at a PASID; the HWPT id
/// written back, or the errno.
pub fn attach(dev: &VfioDevice, pasid: Option<u32>, pt_id: u32) -> Result<u32, i32> {
    let a = v::vfio_device_attach_iommufd_pt {
        argsz: 16,
        flags: if pasid.is_some() {
            v::VFIO_DEVICE_ATTACH_PASID
        } else {
            0
        },
        pt_id,
        pasid: pasid.unwrap_or(0),
    };
    let mut b = bytes_of(&a);
    let cmd = u64::from(VFIO_DEVICE_ATTACH_IOMMUFD_PT);
    let r = dev.ioctl(cmd, b.as_mut_ptr() as u64);
    let a: v::vfio_device_attach_iommufd_pt = from_bytes(&b);
    r.map(|_| a.pt_id).map_err(|e| e.errno())
}

/// `VFIO_DEVICE_DETACH_IOMMUFD_PT`, at the RID or at a PASID.
pub fn detach(dev: &VfioDevice, pasid: Option<u32>) -> Result<(), i32> {
    let d = v::vfio_device_detach_iommufd_pt {
        argsz: 12,
        flags: if pasid.is_some() {
            v::VFIO_DEVICE_DETACH_PASID
        } else {
            0
        },
        pasid: pasid.unwrap_or(0),
    };
    let mut b = bytes_of(&d);
    let cmd = u64::from(VFIO_DEVICE_DETACH_IOMMUFD_PT);
    dev.ioctl(cmd, b.as_mut_ptr() as u64)
        .map(|_| ())
        .map_err(|e| e.errno())
}

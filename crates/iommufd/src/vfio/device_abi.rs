//! The binary interface of a VFIO device file: the kernel's ioctl numbers and structures,
//! decoded from this process's memory and answered by the typed calls of [`VfioDevice`].

use std::sync::Arc;

use vfio_bindings::bindings::vfio as v;

use super::device::VfioDevice;
use super::interrupts::{IrqData, VFIO_PCI_NUM_IRQS, data_size};
use super::region::{REGION_CAPS, VFIO_PCI_NUM_REGIONS};
use super::vfio_ioctl;
use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::uapi::pod::{self, Pod};
use crate::uapi::{read_host, write_host};

/// `VFIO_DEVICE_GET_INFO`.
pub const VFIO_DEVICE_GET_INFO: u32 = vfio_ioctl(7);
/// `VFIO_DEVICE_GET_REGION_INFO`.
pub const VFIO_DEVICE_GET_REGION_INFO: u32 = vfio_ioctl(8);
/// `VFIO_DEVICE_GET_IRQ_INFO`.
pub const VFIO_DEVICE_GET_IRQ_INFO: u32 = vfio_ioctl(9);
/// `VFIO_DEVICE_SET_IRQS`.
pub const VFIO_DEVICE_SET_IRQS: u32 = vfio_ioctl(10);
/// `VFIO_DEVICE_RESET`.
pub const VFIO_DEVICE_RESET: u32 = vfio_ioctl(11);
/// `VFIO_DEVICE_BIND_IOMMUFD`.
pub const VFIO_DEVICE_BIND_IOMMUFD: u32 = vfio_ioctl(18);
/// `VFIO_DEVICE_ATTACH_IOMMUFD_PT`.
pub const VFIO_DEVICE_ATTACH_IOMMUFD_PT: u32 = vfio_ioctl(19);
/// `VFIO_DEVICE_DETACH_IOMMUFD_PT`.
pub const VFIO_DEVICE_DETACH_IOMMUFD_PT: u32 = vfio_ioctl(20);
/// `VFIO_DEVICE_FLAGS_RESET`.
pub const DEVICE_FLAGS_RESET: u32 = 1;
/// `VFIO_DEVICE_FLAGS_PCI`.
pub const DEVICE_FLAGS_PCI: u32 = 2;

/// What `VFIO_DEVICE_GET_INFO` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `VFIO_DEVICE_FLAGS_*`.
    pub flags: u32,
    /// Regions.
    pub num_regions: u32,
    /// Interrupt indices.
    pub num_irqs: u32,
}

/// The caller's descriptor table, as the binary calls that name or make files need it.
pub trait Files {
    /// The context open on descriptor `fd` (`/dev/iommu`, or `/dev/vfio/vfio` answered by
    /// iommufd); `None` if `fd` is not one.
    fn context(&self, fd: i32) -> Option<Arc<Context>>;

    /// Installs `dev` as a new descriptor and returns its number.
    fn install(&self, dev: VfioDevice) -> Result<i32>;
}

/// A descriptor table with nothing in it.
struct NoFiles;

impl Files for NoFiles {
    fn context(&self, _fd: i32) -> Option<Arc<Context>> {
        None
    }

    fn install(&self, _dev: VfioDevice) -> Result<i32> {
        err(libc::EMFILE, "no descriptor table")
    }
}

/// The table that answers nothing: `EBADF` for a descriptor named, `EMFILE` for one made.
pub(crate) const NO_FILES: &dyn Files = &NoFiles;

impl VfioDevice {
    /// `VFIO_DEVICE_GET_INFO`.
    pub fn info(&self) -> Result<DeviceInfo> {
        self.check_access()?;
        let mut flags = DEVICE_FLAGS_PCI;
        if self.dev.can_reset() {
            flags |= DEVICE_FLAGS_RESET;
        }
        Ok(DeviceInfo {
            flags,
            num_regions: VFIO_PCI_NUM_REGIONS,
            num_irqs: VFIO_PCI_NUM_IRQS,
        })
    }

    /// `ioctl(fd, cmd, arg)` on the device file, `arg` an address in this process; returns
    /// what the system call returns, or the errno. `VFIO_DEVICE_BIND_IOMMUFD` names a
    /// context by descriptor, which this entry cannot resolve (`EBADF`): see
    /// [`VfioDevice::ioctl_with_files`].
    pub fn ioctl(&self, cmd: u64, arg: u64) -> Result<i64> {
        self.ioctl_with_files(cmd, arg, NO_FILES)
    }

    /// [`VfioDevice::ioctl`], with `files` resolving the caller's descriptors.
    pub fn ioctl_with_files(&self, cmd: u64, arg: u64, files: &dyn Files) -> Result<i64> {
        let cmd = cmd as u32;
        let cdev = !self.via_group();
        if cdev && cmd == VFIO_DEVICE_BIND_IOMMUFD {
            return self.bind_abi(arg, files);
        }
        self.check_access()?;
        match cmd {
            VFIO_DEVICE_GET_INFO => self.info_abi(arg),
            VFIO_DEVICE_GET_REGION_INFO => self.region_info_abi(arg),
            VFIO_DEVICE_GET_IRQ_INFO => self.irq_info_abi(arg),
            VFIO_DEVICE_SET_IRQS => self.set_irqs_abi(arg),
            VFIO_DEVICE_RESET => self.reset().map(|()| 0),
            VFIO_DEVICE_ATTACH_IOMMUFD_PT if cdev => self.attach_abi(arg),
            VFIO_DEVICE_DETACH_IOMMUFD_PT if cdev => self.detach_abi(arg),
            _ => err(libc::ENOTTY, "not a command of the device file"),
        }
    }

    fn read_struct<T: Pod>(&self, arg: u64, minsz: usize) -> Result<T> {
        let mut b = vec![0u8; minsz.min(std::mem::size_of::<T>())];
        read_host(&self.dev.host, arg, &mut b)?;
        Ok(pod::decode(&b))
    }

    fn write_back<T: Pod>(&self, arg: u64, v: &T, n: usize) -> Result<()> {
        let b = pod::encode(v);
        write_host(&self.dev.host, arg, &b[..n.min(b.len())])
    }

    /// Reads a structure whose `argsz` (its first word) must be at least `minsz`.
    fn read_args<T: Pod>(&self, arg: u64, minsz: usize) -> Result<T> {
        let t: T = self.read_struct(arg, minsz)?;
        let argsz = u32::from_ne_bytes(pod::encode(&t)[..4].try_into().unwrap_or([0; 4]));
        if (argsz as usize) < minsz {
            return err(libc::EINVAL, "argsz under the structure's minimum");
        }
        Ok(t)
    }

    fn info_abi(&self, arg: u64) -> Result<i64> {
        const MINSZ: usize = 16;
        let mut c: v::vfio_device_info = self.read_args(arg, MINSZ)?;
        let i = self.info()?;
        (c.flags, c.num_regions, c.num_irqs) = (i.flags, i.num_regions, i.num_irqs);
        self.write_back(arg, &c, MINSZ)?;
        Ok(0)
    }

    /// Region info, with its capabilities chained after the structure when `argsz` holds
    /// them (otherwise `argsz` comes back as the size that would).
    fn region_info_abi(&self, arg: u64) -> Result<i64> {
        const SIZE: usize = std::mem::size_of::<v::vfio_region_info>();
        let mut c: v::vfio_region_info = self.read_args(arg, SIZE)?;
        let r = self.region_info(c.index)?;
        (c.flags, c.size, c.offset, c.cap_offset) = (r.flags, r.size, r.offset, 0);
        if r.flags & REGION_CAPS != 0 {
            let hdr = std::mem::size_of::<v::vfio_info_cap_header>();
            let caps_size = hdr * r.caps.len();
            if (c.argsz as usize) < SIZE + caps_size {
                c.argsz = (SIZE + caps_size) as u32;
            } else {
                let mut bytes = Vec::with_capacity(caps_size);
                for (k, &id) in r.caps.iter().enumerate() {
                    let next = if k + 1 < r.caps.len() {
                        (SIZE + hdr * (k + 1)) as u32
                    } else {
                        0
                    };
                    let h = v::vfio_info_cap_header {
                        id,
                        version: 1,
                        next,
                    };
                    bytes.extend_from_slice(pod::encode(&h));
                }
                write_host(&self.dev.host, offset(arg, SIZE)?, &bytes)?;
                c.cap_offset = SIZE as u32;
            }
        }
        self.write_back(arg, &c, SIZE)?;
        Ok(0)
    }

    fn irq_info_abi(&self, arg: u64) -> Result<i64> {
        const MINSZ: usize = 16;
        let mut c: v::vfio_irq_info = self.read_args(arg, MINSZ)?;
        let i = self.irq_info(c.index)?;
        (c.flags, c.count) = (i.flags, i.count);
        self.write_back(arg, &c, MINSZ)?;
        Ok(0)
    }

    /// `{argsz, flags, index, start, count}` and `count` elements of data after it.
    fn set_irqs_abi(&self, arg: u64) -> Result<i64> {
        const MINSZ: usize = 20;
        let mut h = [0u8; MINSZ];
        read_host(&self.dev.host, arg, &mut h)?;
        let w = |i: usize| u32::from_ne_bytes([h[4 * i], h[4 * i + 1], h[4 * i + 2], h[4 * i + 3]]);
        let (argsz, flags, index, start, count) = (w(0), w(1), w(2), w(3), w(4));
        if (argsz as usize) < MINSZ {
            return err(libc::EINVAL, "argsz under the structure's minimum");
        }
        let max = self.dev.irq_count(index);
        super::interrupts::validate(flags, index, start, count, max)?;
        let size = data_size(flags) * count as usize;
        if (argsz as usize - MINSZ) < size {
            return err(libc::EINVAL, "argsz does not hold the data");
        }
        let mut data = vec![0u8; size];
        read_host(&self.dev.host, offset(arg, MINSZ)?, &mut data)?;
        let action = flags & 0x38;
        match data_size(flags) {
            1 => self.set_irqs(action, index, start, count, IrqData::Bool(&data)),
            4 => {
                let fds: Vec<i32> = data
                    .chunks_exact(4)
                    .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                self.set_irqs(action, index, start, count, IrqData::EventFd(&fds))
            }
            _ => self.set_irqs(action, index, start, count, IrqData::None),
        }
        .map(|()| 0)
    }

    fn bind_abi(&self, arg: u64, files: &dyn Files) -> Result<i64> {
        const MINSZ: usize = 16;
        let mut c: v::vfio_device_bind_iommufd = self.read_struct(arg, MINSZ)?;
        if (c.argsz as usize) < MINSZ || c.iommufd < 0 {
            return err(libc::EINVAL, "bad argsz or descriptor");
        }
        if c.flags & !v::VFIO_DEVICE_BIND_FLAG_TOKEN != 0 {
            return err(libc::EINVAL, "unknown bind flags");
        }
        let Some(ctx) = files.context(c.iommufd) else {
            return err(libc::EBADF, "not an iommufd");
        };
        c.out_devid = self.bind_iommufd(&ctx)?;
        let at = offset(arg, 12)?;
        write_host(&self.dev.host, at, &c.out_devid.to_ne_bytes())?;
        Ok(0)
    }

    fn attach_abi(&self, arg: u64) -> Result<i64> {
        const MINSZ: usize = 12;
        const PASID_SZ: usize = 16;
        let c: v::vfio_device_attach_iommufd_pt = self.read_args(arg, MINSZ)?;
        if c.flags & !v::VFIO_DEVICE_ATTACH_PASID != 0 {
            return err(libc::EINVAL, "unknown attach flags");
        }
        let hwpt = if c.flags & v::VFIO_DEVICE_ATTACH_PASID != 0 {
            if (c.argsz as usize) < PASID_SZ {
                return err(libc::EINVAL, "argsz does not reach the PASID");
            }
            let c: v::vfio_device_attach_iommufd_pt = self.read_struct(arg, PASID_SZ)?;
            self.attach_pasid(c.pasid, c.pt_id)?
        } else {
            self.attach_pt(c.pt_id)?
        };
        write_host(&self.dev.host, offset(arg, 8)?, &hwpt.to_ne_bytes())?;
        Ok(0)
    }

    fn detach_abi(&self, arg: u64) -> Result<i64> {
        const MINSZ: usize = 8;
        const PASID_SZ: usize = 12;
        let c: v::vfio_device_detach_iommufd_pt = self.read_args(arg, MINSZ)?;
        if c.flags & !v::VFIO_DEVICE_DETACH_PASID != 0 {
            return err(libc::EINVAL, "unknown detach flags");
        }
        if c.flags & v::VFIO_DEVICE_DETACH_PASID != 0 {
            if (c.argsz as usize) < PASID_SZ {
                return err(libc::EINVAL, "argsz does not reach the PASID");
            }
            let c: v::vfio_device_detach_iommufd_pt = self.read_struct(arg, PASID_SZ)?;
            return self.detach_pasid(c.pasid).map(|()| 0);
        }
        self.detach_pt().map(|()| 0)
    }
}

/// Address `off` bytes past `arg`.
fn offset(arg: u64, off: usize) -> Result<u64> {
    arg.checked_add(off as u64)
        .ok_or(Error::new(libc::EFAULT, "bad address"))
}

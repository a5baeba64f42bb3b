//! The regions of a VFIO PCI device: the BARs, the ROM, configuration space and VGA at the
//! kernel's indices and file offsets (`index << 40`), read and written as vfio-pci does,
//! and BARs mapped into the user's address space.

use std::sync::Arc;

use softiommu_devices::pci::AccessSize;

use super::device::{PciDev, VfioDevice};
use super::pci::CONFIG_SIZE;
use crate::error::{Result, err};
use crate::host::PAGE_SIZE;

/// Index of the expansion ROM region.
pub const VFIO_PCI_ROM_REGION_INDEX: u32 = 6;
/// Index of the configuration-space region.
pub const VFIO_PCI_CONFIG_REGION_INDEX: u32 = 7;
/// Index of the VGA region.
pub const VFIO_PCI_VGA_REGION_INDEX: u32 = 8;
/// Regions of a PCI device.
pub const VFIO_PCI_NUM_REGIONS: u32 = 9;
/// `VFIO_REGION_INFO_FLAG_READ`.
pub const REGION_READ: u32 = 1;
/// `VFIO_REGION_INFO_FLAG_WRITE`.
pub const REGION_WRITE: u32 = 2;
/// `VFIO_REGION_INFO_FLAG_MMAP`.
pub const REGION_MMAP: u32 = 4;
/// `VFIO_REGION_INFO_FLAG_CAPS`.
pub const REGION_CAPS: u32 = 8;
/// `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE`.
pub const REGION_CAP_MSIX_MAPPABLE: u16 = 3;

/// The file offset of region `index`.
pub const fn region_offset(index: u32) -> u64 {
    (index as u64) << 40
}

/// What `VFIO_DEVICE_GET_REGION_INFO` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
    /// Size in bytes (0: the region is absent).
    pub size: u64,
    /// Its offset in the device file.
    pub offset: u64,
    /// The ids of its capabilities, in chain order (each a bare header).
    pub caps: Vec<u16>,
}

impl VfioDevice {
    /// `VFIO_DEVICE_GET_REGION_INFO` of region `index`: `EINVAL` past the regions and for
    /// VGA, which the function does not decode.
    pub fn region_info(&self, index: u32) -> Result<RegionInfo> {
        self.check_access()?;
        let d = &self.dev;
        let offset = region_offset(index);
        let mut info = RegionInfo {
            flags: 0,
            size: 0,
            offset,
            caps: Vec::new(),
        };
        match index {
            0..=5 => {
                let i = index as usize;
                info.size = d.probe.bar_size[i];
                if info.size == 0 {
                    return Ok(info);
                }
                info.flags = REGION_READ | REGION_WRITE;
                if mmap_supported(d, i) {
                    info.flags |= REGION_MMAP;
                    if d.probe.msix.is_some_and(|m| usize::from(m.bar) == i) {
                        info.caps.push(REGION_CAP_MSIX_MAPPABLE);
                        info.flags |= REGION_CAPS;
                    }
                }
            }
            // The functions have no expansion ROM.
            VFIO_PCI_ROM_REGION_INDEX => {}
            VFIO_PCI_CONFIG_REGION_INDEX => {
                info.size = CONFIG_SIZE;
                info.flags = REGION_READ | REGION_WRITE;
            }
            _ => return err(libc::EINVAL, "no such region"),
        }
        Ok(info)
    }

    /// `pread` of the device file: `buf.len()` bytes at `offset` (region `offset >> 40`);
    /// returns the bytes read.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.check_access()?;
        rw(&self.dev, offset, Access::Read(buf))
    }

    /// `pwrite` of the device file: `data` at `offset`; returns the bytes written.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<usize> {
        self.check_access()?;
        rw(&self.dev, offset, Access::Write(data))
    }

    /// `mmap` of `len` bytes of the device file at `offset` (page-aligned, inside a BAR that
    /// allows it, shared): `EINVAL` otherwise.
    pub fn mmap(&self, offset: u64, len: u64) -> Result<BarMap> {
        self.check_access()?;
        let index = (offset >> 40) as usize;
        let start = offset & ((1 << 40) - 1);
        if index > 5 || !mmap_supported(&self.dev, index) {
            return err(libc::EINVAL, "the region cannot be mapped");
        }
        let size = self.dev.probe.bar_size[index];
        if len == 0
            || !start.is_multiple_of(PAGE_SIZE)
            || start.checked_add(len).is_none_or(|e| e > size)
        {
            return err(libc::EINVAL, "the mapping is not inside the BAR");
        }
        Ok(BarMap {
            dev: self.dev.clone(),
            bar: index as u8,
            start,
            len,
        })
    }
}

fn mmap_supported(d: &PciDev, i: usize) -> bool {
    let size = d.probe.bar_size[i];
    size != 0 && size.is_multiple_of(PAGE_SIZE)
}

/// A read into, or a write from, the caller's bytes.
enum Access<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
}

impl Access<'_> {
    fn len(&self) -> usize {
        match self {
            Access::Read(b) => b.len(),
            Access::Write(b) => b.len(),
        }
    }
}

/// The largest naturally aligned access of at most `max` bytes at `at` with `left` bytes
/// to go.
fn chunk(at: u64, left: usize, max: usize) -> usize {
    let mut n = max;
    while n > 1 && (!at.is_multiple_of(n as u64) || left < n) {
        n /= 2;
    }
    n
}

fn rw(d: &PciDev, offset: u64, mut a: Access<'_>) -> Result<usize> {
    let index = (offset >> 40) as u32;
    let pos = offset & ((1 << 40) - 1);
    let size = match index {
        0..=5 => d.probe.bar_size[index as usize],
        VFIO_PCI_CONFIG_REGION_INDEX => CONFIG_SIZE,
        _ => 0,
    };
    if pos >= size {
        return err(libc::EINVAL, "outside the region");
    }
    let count = a.len().min((size - pos) as usize);
    if index == VFIO_PCI_CONFIG_REGION_INDEX {
        config_rw(d, pos, count, &mut a);
        return Ok(count);
    }
    if !d.memory_enabled() {
        return err(libc::EIO, "the function's memory space is off");
    }
    // The MSI-X table is the host's: reads give all ones, writes are dropped.
    let table = d
        .probe
        .msix
        .filter(|m| u32::from(m.bar) == index)
        .map(|m| m.offset..m.offset + 16 * u64::from(m.count));
    let mut done = 0;
    while done < count {
        let at = pos + done as u64;
        let n = chunk(at, count - done, 8);
        let hidden = table.as_ref().is_some_and(|t| t.contains(&at));
        match &mut a {
            Access::Read(b) if hidden => b[done..done + n].fill(0xff),
            Access::Read(b) => d.f.bar_read(index as u8, at, &mut b[done..done + n]),
            Access::Write(_) if hidden => {}
            Access::Write(b) => d.f.bar_write(index as u8, at, &b[done..done + n]),
        }
        done += n;
    }
    Ok(count)
}

fn config_rw(d: &PciDev, pos: u64, count: usize, a: &mut Access<'_>) {
    let mut st = d.state.lock();
    let mut done = 0;
    while done < count {
        let at = pos + done as u64;
        let n = chunk(at, count - done, 4);
        let size = match n {
            4 => AccessSize::Dword,
            2 => AccessSize::Word,
            _ => AccessSize::Byte,
        };
        match a {
            Access::Read(b) => {
                let v = st.vcfg.read(&*d.f, &d.probe, at as u32, size);
                b[done..done + n].copy_from_slice(&v.to_le_bytes()[..n]);
            }
            Access::Write(b) => {
                let mut v = [0u8; 4];
                v[..n].copy_from_slice(&b[done..done + n]);
                let value = u32::from_le_bytes(v);
                st.vcfg.write(&*d.f, &d.probe, at as u32, size, value);
            }
        }
        done += n;
    }
}

/// A BAR mapped into the user's address space: each access reaches the function as one
/// access of its size (a 64-byte write is a 64-byte store, as `MOVDIR64B` makes).
pub struct BarMap {
    dev: Arc<PciDev>,
    bar: u8,
    start: u64,
    len: u64,
}

impl BarMap {
    /// The BAR offset of mapping offset `off` for `n` bytes: `EFAULT` outside the mapping,
    /// `EIO` while the function's memory space is off (where a real mapping faults).
    fn at(&self, off: u64, n: usize) -> Result<u64> {
        if off.checked_add(n as u64).is_none_or(|e| e > self.len) {
            return err(libc::EFAULT, "outside the mapping");
        }
        if !self.dev.memory_enabled() {
            return err(libc::EIO, "the function's memory space is off");
        }
        Ok(self.start + off)
    }

    /// Loads `buf.len()` bytes at `off`.
    pub fn read(&self, off: u64, buf: &mut [u8]) -> Result<()> {
        let at = self.at(off, buf.len())?;
        self.dev.f.bar_read(self.bar, at, buf);
        Ok(())
    }

    /// Stores `data` at `off`.
    pub fn write(&self, off: u64, data: &[u8]) -> Result<()> {
        let at = self.at(off, data.len())?;
        self.dev.f.bar_write(self.bar, at, data);
        Ok(())
    }

    /// An ENQCMD/ENQCMDS of the 64 bytes `desc` at `off`, carrying `pasid` and the privilege
    /// `privileged`: whether the function took it (false: ENQCMD's retry status).
    pub fn enqcmd(&self, off: u64, desc: &[u8; 64], pasid: u32, privileged: bool) -> Result<bool> {
        let at = self.at(off, desc.len())?;
        Ok(self.dev.f.bar_enqcmd(self.bar, at, desc, pasid, privileged))
    }
}

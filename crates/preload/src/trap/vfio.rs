//! A trapped window served by a BAR of a VFIO device, as a program maps it with `mmap` on
//! the device file.

use std::io;
use std::sync::Arc;

use softiommu_iommufd::vfio::{BarMap, VfioDevice};

use super::{MmioHandler, PortalStatus, PortalWrite, TrapWindow};

/// The mapping of `len` bytes at file offset `offset` of a VFIO device (region `offset >> 40`,
/// as `VFIO_DEVICE_GET_REGION_INFO` tells): each trapped access is one access of its size to
/// the function. While the function's memory space is off, loads read all ones and stores are
/// dropped, as a PCI bus answers a request nobody claims.
pub struct VfioBar {
    map: BarMap,
    /// The BAR (the region index) and the BAR offset of the mapping's start, for the trace.
    bar: u64,
    start: u64,
}

impl VfioBar {
    /// The part of a BAR `mmap` of the device file at `offset` would map (the kernel's
    /// checks and errnos: `EINVAL` outside a mappable BAR).
    pub fn new(dev: &VfioDevice, offset: u64, len: u64) -> softiommu_iommufd::Result<VfioBar> {
        Ok(VfioBar {
            map: dev.mmap(offset, len)?,
            bar: offset >> 40,
            start: offset & ((1 << 40) - 1),
        })
    }

    /// Maps `len` bytes of the device file at `offset` as a trapped window.
    pub fn trap(dev: &VfioDevice, offset: u64, len: u64) -> io::Result<TrapWindow> {
        let bar =
            VfioBar::new(dev, offset, len).map_err(|e| io::Error::from_raw_os_error(e.errno()))?;
        TrapWindow::map(len as usize, Arc::new(bar))
    }
}

impl MmioHandler for VfioBar {
    fn read(&self, offset: u64, size: usize) -> u64 {
        let mut b = [0u8; 8];
        let n = size.min(8);
        let v = match self.map.read(offset, &mut b[..n]) {
            Ok(()) => u64::from_le_bytes(b),
            Err(_) => u64::MAX,
        };
        if crate::trace::on() {
            let (bar, at) = (self.bar, self.start + offset);
            crate::trace::line(format_args!("mmio read BAR{bar}+{at:#x} size {n} = {v:#x}"));
        }
        v
    }

    fn write(&self, offset: u64, size: usize, value: u64) {
        let n = size.min(8);
        if crate::trace::on() {
            let (bar, at) = (self.bar, self.start + offset);
            crate::trace::line(format_args!(
                "mmio write BAR{bar}+{at:#x} size {n} {value:#x}"
            ));
        }
        // A store has no answer: one the function refuses is lost, as on the bus.
        let _ = self.map.write(offset, &value.to_le_bytes()[..n]);
    }

    fn portal(&self, offset: u64, data: &[u8; 64], how: PortalWrite) -> Option<PortalStatus> {
        if crate::trace::on() {
            let (bar, at) = (self.bar, self.start + offset);
            crate::trace::line(format_args!("mmio {how:?} BAR{bar}+{at:#x} size 64"));
        }
        Some(match how {
            PortalWrite::Movdir64b => {
                let _ = self.map.write(offset, data);
                PortalStatus::Accepted
            }
            PortalWrite::Enqcmd { pasid, privileged } => {
                match self.map.enqcmd(offset, data, pasid, privileged) {
                    Ok(true) => PortalStatus::Accepted,
                    Ok(false) | Err(_) => PortalStatus::Retry,
                }
            }
        })
    }
}

//! The interrupts of a VFIO PCI device: `VFIO_DEVICE_GET_IRQ_INFO` and
//! `VFIO_DEVICE_SET_IRQS`, with MSI-X vectors signalling the user's eventfds.

use std::sync::Arc;

use softiommu_devices::pci::AccessSize;

use super::device::{DevState, PciDev, VfioDevice};
use super::irq::EventFd;
use crate::error::{Result, err};

/// Index of INTx.
pub const VFIO_PCI_INTX_IRQ_INDEX: u32 = 0;
/// Index of MSI.
pub const VFIO_PCI_MSI_IRQ_INDEX: u32 = 1;
/// Index of MSI-X.
pub const VFIO_PCI_MSIX_IRQ_INDEX: u32 = 2;
/// Index of the error (AER) notification.
pub const VFIO_PCI_ERR_IRQ_INDEX: u32 = 3;
/// Index of the device-request notification.
pub const VFIO_PCI_REQ_IRQ_INDEX: u32 = 4;
/// Interrupt indices of a PCI device.
pub const VFIO_PCI_NUM_IRQS: u32 = 5;
/// `VFIO_IRQ_INFO_EVENTFD`.
pub const IRQ_INFO_EVENTFD: u32 = 1;
/// `VFIO_IRQ_INFO_MASKABLE`.
pub const IRQ_INFO_MASKABLE: u32 = 2;
/// `VFIO_IRQ_INFO_AUTOMASKED`.
pub const IRQ_INFO_AUTOMASKED: u32 = 4;
/// `VFIO_IRQ_INFO_NORESIZE`.
pub const IRQ_INFO_NORESIZE: u32 = 8;
/// `VFIO_IRQ_SET_DATA_NONE`.
pub const IRQ_SET_DATA_NONE: u32 = 1;
/// `VFIO_IRQ_SET_DATA_BOOL`.
pub const IRQ_SET_DATA_BOOL: u32 = 2;
/// `VFIO_IRQ_SET_DATA_EVENTFD`.
pub const IRQ_SET_DATA_EVENTFD: u32 = 4;
/// `VFIO_IRQ_SET_ACTION_MASK`.
pub const IRQ_SET_ACTION_MASK: u32 = 8;
/// `VFIO_IRQ_SET_ACTION_UNMASK`.
pub const IRQ_SET_ACTION_UNMASK: u32 = 16;
/// `VFIO_IRQ_SET_ACTION_TRIGGER`.
pub const IRQ_SET_ACTION_TRIGGER: u32 = 32;
const DATA_MASK: u32 = 7;
const ACTION_MASK: u32 = 0x38;

/// What `VFIO_DEVICE_GET_IRQ_INFO` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqInfo {
    /// `VFIO_IRQ_INFO_*`.
    pub flags: u32,
    /// Interrupts of the index.
    pub count: u32,
}

/// The data of a `VFIO_DEVICE_SET_IRQS` call, one element per interrupt.
#[derive(Clone, Copy, Debug)]
pub enum IrqData<'a> {
    /// `VFIO_IRQ_SET_DATA_NONE`.
    None,
    /// `VFIO_IRQ_SET_DATA_BOOL`: one byte each.
    Bool(&'a [u8]),
    /// `VFIO_IRQ_SET_DATA_EVENTFD`: a descriptor each (-1: none).
    EventFd(&'a [i32]),
}

impl IrqData<'_> {
    fn flag(&self) -> u32 {
        match self {
            IrqData::None => IRQ_SET_DATA_NONE,
            IrqData::Bool(_) => IRQ_SET_DATA_BOOL,
            IrqData::EventFd(_) => IRQ_SET_DATA_EVENTFD,
        }
    }
}

impl PciDev {
    /// Interrupts of index `index`.
    pub(crate) fn irq_count(&self, index: u32) -> u32 {
        match index {
            VFIO_PCI_INTX_IRQ_INDEX => u32::from(self.f.config_read(0x3d, AccessSize::Byte) != 0),
            VFIO_PCI_MSI_IRQ_INDEX => self.probe.msi_vectors,
            VFIO_PCI_MSIX_IRQ_INDEX => self.probe.msix.map_or(0, |m| m.count),
            VFIO_PCI_ERR_IRQ_INDEX | VFIO_PCI_REQ_IRQ_INDEX => 1,
            _ => 0,
        }
    }

    /// Sets eventfds `fds` on MSI-X vectors from `start`; on a failure the vectors this
    /// call set are released again.
    fn msix_set_block(&self, st: &mut DevState, start: u32, fds: &[i32]) -> Result<()> {
        for (j, &fd) in fds.iter().enumerate() {
            if let Err(e) = self.msix_set_vector(st, start + j as u32, fd) {
                for k in 0..j {
                    let _ = self.msix_set_vector(st, start + k as u32, -1);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Replaces vector `v`'s eventfd with `fd` (-1: none; the vector is masked).
    fn msix_set_vector(&self, st: &mut DevState, v: u32, fd: i32) -> Result<()> {
        let Some(vectors) = st.msix.as_mut() else {
            return err(libc::EINVAL, "MSI-X is off");
        };
        let Some(slot) = vectors.get_mut(v as usize) else {
            return err(libc::EINVAL, "no such vector");
        };
        if let Some(old) = slot.take() {
            self.mask_vector(v);
            self.irqs.free(old);
        }
        if fd < 0 {
            return Ok(());
        }
        let efd = Arc::new(EventFd::from_user(fd)?);
        let data = self.irqs.alloc(self.rid, efd);
        *slot = Some(data);
        self.program_vector(v, data);
        Ok(())
    }

    /// The MSI-X trigger action, as vfio-pci carries it out.
    fn msix_trigger(&self, start: u32, count: u32, data: IrqData<'_>) -> Result<()> {
        let mut st = self.state.lock();
        let on = st.msix.is_some();
        if on && count == 0 && matches!(data, IrqData::None) {
            self.msix_disable(&mut st);
            return Ok(());
        }
        if let IrqData::EventFd(fds) = data {
            if on {
                return self.msix_set_block(&mut st, start, fds);
            }
            let n = self.irq_count(VFIO_PCI_MSIX_IRQ_INDEX) as usize;
            st.msix = Some(vec![None; n]);
            for v in 0..n as u32 {
                self.mask_vector(v);
            }
            self.set_msix_enable(true);
            let r = self.msix_set_block(&mut st, start, fds);
            if r.is_err() {
                self.msix_disable(&mut st);
            }
            return r;
        }
        let Some(vectors) = &st.msix else {
            return err(libc::EINVAL, "MSI-X is off");
        };
        // A loopback: the user fires its own vectors.
        for i in 0..count {
            let fire = match data {
                IrqData::Bool(b) => b.get(i as usize).is_some_and(|&x| x != 0),
                _ => true,
            };
            if let Some(Some(d)) = vectors.get((start + i) as usize)
                && fire
            {
                self.irqs.signal(*d);
            }
        }
        Ok(())
    }
}

impl VfioDevice {
    /// `VFIO_DEVICE_GET_IRQ_INFO` of index `index`: `EINVAL` past the indices.
    pub fn irq_info(&self, index: u32) -> Result<IrqInfo> {
        self.check_access()?;
        match index {
            VFIO_PCI_INTX_IRQ_INDEX..=VFIO_PCI_MSIX_IRQ_INDEX | VFIO_PCI_REQ_IRQ_INDEX => {}
            VFIO_PCI_ERR_IRQ_INDEX if self.dev.probe.express.is_some() => {}
            _ => return err(libc::EINVAL, "no such interrupt index"),
        }
        let mut flags = IRQ_INFO_EVENTFD;
        if index == VFIO_PCI_INTX_IRQ_INDEX {
            flags |= IRQ_INFO_MASKABLE | IRQ_INFO_AUTOMASKED;
        } else if index != VFIO_PCI_MSIX_IRQ_INDEX {
            // MSI-X vectors can be added while it is on.
            flags |= IRQ_INFO_NORESIZE;
        }
        Ok(IrqInfo {
            flags,
            count: self.dev.irq_count(index),
        })
    }

    /// `VFIO_DEVICE_SET_IRQS`: `action` (one `IRQ_SET_ACTION_*`) on interrupts `start ..
    /// start + count` of `index`, with `data`. Ranges past the index's interrupts and
    /// malformed flags are `EINVAL`; actions the index does not take are `ENOTTY` (MSI-X and
    /// the error and request notifications take only the trigger, as in vfio-pci; INTx
    /// is not offered).
    pub fn set_irqs(
        &self,
        action: u32,
        index: u32,
        start: u32,
        count: u32,
        data: IrqData<'_>,
    ) -> Result<()> {
        self.check_access()?;
        let flags = action | data.flag();
        validate(flags, index, start, count, self.dev.irq_count(index))?;
        let given = match data {
            IrqData::None => count as usize,
            IrqData::Bool(b) => b.len(),
            IrqData::EventFd(f) => f.len(),
        };
        if given < count as usize {
            return err(libc::EINVAL, "less data than interrupts");
        }
        let data = match data {
            IrqData::Bool(b) => IrqData::Bool(&b[..count as usize]),
            IrqData::EventFd(f) => IrqData::EventFd(&f[..count as usize]),
            IrqData::None => IrqData::None,
        };
        match (index, action) {
            (VFIO_PCI_MSIX_IRQ_INDEX, IRQ_SET_ACTION_TRIGGER) => {
                self.dev.msix_trigger(start, count, data)
            }
            (VFIO_PCI_ERR_IRQ_INDEX | VFIO_PCI_REQ_IRQ_INDEX, IRQ_SET_ACTION_TRIGGER) => {
                let mut st = self.dev.state.lock();
                let slot = if index == VFIO_PCI_ERR_IRQ_INDEX {
                    &mut st.err_trigger
                } else {
                    &mut st.req_trigger
                };
                single_trigger(slot, count, data)
            }
            _ => err(libc::ENOTTY, "the index does not take that action"),
        }
    }
}

/// The trigger of a notification with one eventfd: set or cleared with an eventfd, fired
/// with no data or a true byte, cleared with no data and no count.
fn single_trigger(slot: &mut Option<EventFd>, count: u32, data: IrqData<'_>) -> Result<()> {
    match data {
        IrqData::None if slot.is_some() => {
            if count > 0 {
                if let Some(fd) = slot {
                    fd.signal();
                }
            } else {
                *slot = None;
            }
            Ok(())
        }
        IrqData::None => err(libc::EINVAL, "no eventfd to fire"),
        IrqData::Bool(b) => match b.first() {
            None => err(libc::EINVAL, "no data"),
            Some(&fire) => {
                if let Some(fd) = slot.as_ref().filter(|_| fire != 0) {
                    fd.signal();
                }
                Ok(())
            }
        },
        IrqData::EventFd(fds) => match fds.first() {
            None => err(libc::EINVAL, "no data"),
            Some(-1) => {
                *slot = None;
                Ok(())
            }
            Some(&fd) if fd >= 0 => {
                *slot = Some(EventFd::from_user(fd)?);
                Ok(())
            }
            Some(_) => Ok(()),
        },
    }
}

/// The checks of every `VFIO_DEVICE_SET_IRQS` (`max`: interrupts of the index).
pub(crate) fn validate(flags: u32, index: u32, start: u32, count: u32, max: u32) -> Result<()> {
    if index >= VFIO_PCI_NUM_IRQS
        || count >= u32::MAX - start
        || flags & !(DATA_MASK | ACTION_MASK) != 0
    {
        return err(libc::EINVAL, "bad index, range or flags");
    }
    if start >= max || start + count > max {
        return err(libc::EINVAL, "interrupts past the index's");
    }
    if !matches!(
        flags & DATA_MASK,
        IRQ_SET_DATA_NONE | IRQ_SET_DATA_BOOL | IRQ_SET_DATA_EVENTFD
    ) {
        return err(libc::EINVAL, "one data type");
    }
    Ok(())
}

/// Bytes of data per interrupt for `flags`' data type.
pub(crate) fn data_size(flags: u32) -> usize {
    match flags & DATA_MASK {
        IRQ_SET_DATA_BOOL => 1,
        IRQ_SET_DATA_EVENTFD => 4,
        _ => 0,
    }
}

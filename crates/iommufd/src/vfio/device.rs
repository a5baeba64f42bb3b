//! VFIO devices: PCI functions handed to VFIO's PCI driver, and the files users open on
//! them, through a group or through the device's own file bound to a context.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::{DeviceId, GroupId};
use softiommu_devices::pci::AccessSize;

use super::irq::Irqs;
use super::pci::{
    CMD_MASTER, CMD_MEMORY, COMMAND, MSIX_ENABLE, PciFunction, Probe, VirtConfig, probe,
};
use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::host::Host;

/// VFIO's PCI driver on a host: the functions bound to it, their groups, and the host's
/// interrupt table their MSI-X messages are delivered through.
pub struct VfioPci {
    pub(crate) host: Arc<Host>,
    pub(crate) irqs: Arc<Irqs>,
    pub(crate) devices: Mutex<Vec<Arc<PciDev>>>,
    pub(crate) open_groups: Mutex<HashSet<GroupId>>,
}

/// A function bound to VFIO's PCI driver.
pub(crate) struct PciDev {
    pub(crate) name: String,
    pub(crate) id: DeviceId,
    pub(crate) group: GroupId,
    pub(crate) rid: u16,
    pub(crate) f: Arc<dyn PciFunction>,
    pub(crate) probe: Probe,
    pub(crate) irqs: Arc<Irqs>,
    pub(crate) host: Arc<Host>,
    pub(crate) state: Mutex<DevState>,
    /// How an mdev's DMA reaches its user (`None`: a PCI function of its own).
    pub(crate) mdev: Option<super::mdev::MdevLink>,
}

/// What opening a function set up.
pub(crate) struct DevState {
    /// Open files with access.
    pub(crate) open: u32,
    /// The context the function is bound to, and its device object there.
    pub(crate) binding: Option<(Arc<Context>, u32)>,
    /// Whether the function is attached through its binding.
    pub(crate) attached: bool,
    pub(crate) vcfg: VirtConfig,
    /// The message datum of each MSI-X vector with a trigger; `None` while MSI-X is off.
    pub(crate) msix: Option<Vec<Option<u32>>>,
    /// The eventfds of the error and device-request notifications.
    pub(crate) err_trigger: Option<super::irq::EventFd>,
    pub(crate) req_trigger: Option<super::irq::EventFd>,
}

impl DevState {
    /// A closed function's state, with the user's view `vcfg` of its configuration space.
    pub(crate) fn new(vcfg: VirtConfig) -> DevState {
        DevState {
            open: 0,
            binding: None,
            attached: false,
            vcfg,
            msix: None,
            err_trigger: None,
            req_trigger: None,
        }
    }
}

/// The kernel's name of the function at requester ID `rid` (`0000:bb:dd.f`).
pub fn pci_name(rid: u16) -> String {
    format!(
        "0000:{:02x}:{:02x}.{:x}",
        rid >> 8,
        (rid >> 3) & 0x1f,
        rid & 7
    )
}

impl VfioPci {
    /// VFIO's PCI driver on `host`, with an empty interrupt table.
    pub fn new(host: Arc<Host>) -> Arc<VfioPci> {
        Arc::new(VfioPci {
            host,
            irqs: Irqs::new(),
            devices: Mutex::new(Vec::new()),
            open_groups: Mutex::new(HashSet::new()),
        })
    }

    /// The host's interrupt table: functions must send their requests through
    /// [`Irqs::port`] for their MSI-X messages to reach users.
    pub fn irqs(&self) -> &Arc<Irqs> {
        &self.irqs
    }

    /// Binds function `f`, the core's device `dev` at requester ID `rid`, to the driver;
    /// returns its name. `EEXIST` if the device or the name is bound already.
    pub fn add(&self, dev: DeviceId, rid: u16, f: Arc<dyn PciFunction>) -> Result<String> {
        let group = self.host.iommu().group_of(dev).map_err(Error::from)?;
        let name = pci_name(rid);
        let mut devices = self.devices.lock();
        if devices.iter().any(|d| d.id == dev || d.name == name) {
            return err(libc::EEXIST, "the function is bound to the driver already");
        }
        let probe = probe(&*f);
        let vcfg = VirtConfig::new(&*f);
        devices.push(Arc::new(PciDev {
            name: name.clone(),
            id: dev,
            group,
            rid,
            f,
            probe,
            irqs: self.irqs.clone(),
            host: self.host.clone(),
            state: Mutex::new(DevState::new(vcfg)),
            mdev: None,
        }));
        Ok(name)
    }

    /// The group of the function named `name` (its `iommu_group`): `ENODEV` if none is.
    pub fn group_of(&self, name: &str) -> Result<GroupId> {
        self.find(name).map(|d| d.group)
    }

    pub(crate) fn find(&self, name: &str) -> Result<Arc<PciDev>> {
        let devices = self.devices.lock();
        match devices.iter().find(|d| d.name == name) {
            Some(d) => Ok(d.clone()),
            None => err(libc::ENODEV, "no such device"),
        }
    }

    /// Opens the device file of the function named `name` (`/dev/vfio/devices/vfioN`):
    /// nothing but [`VfioDevice::bind_iommufd`] works until it is bound to a context.
    pub fn open_device(&self, name: &str) -> Result<VfioDevice> {
        Ok(VfioDevice {
            dev: self.find(name)?,
            via_group: false,
            access: Mutex::new(false),
        })
    }
}

/// One open file of a VFIO device.
pub struct VfioDevice {
    pub(crate) dev: Arc<PciDev>,
    via_group: bool,
    access: Mutex<bool>,
}

impl PciDev {
    fn command(&self) -> u32 {
        self.f.config_read(COMMAND, AccessSize::Word)
    }

    /// Whether the function decodes its memory BARs.
    pub(crate) fn memory_enabled(&self) -> bool {
        self.command() & CMD_MEMORY != 0
    }

    /// The first open: the function decodes memory, masters nothing, has no interrupts.
    fn enable(&self, st: &mut DevState) {
        st.vcfg = VirtConfig::new(&*self.f);
        st.msix = None;
        let cmd = (self.command() | CMD_MEMORY) & !CMD_MASTER;
        self.f.config_write(COMMAND, AccessSize::Word, cmd);
    }

    /// The last close: interrupts off, no DMA, the function reset.
    fn disable(&self, st: &mut DevState) {
        self.msix_disable(st);
        st.err_trigger = None;
        st.req_trigger = None;
        let cmd = self.command() & !(CMD_MASTER | CMD_MEMORY);
        self.f.config_write(COMMAND, AccessSize::Word, cmd);
        self.flr();
        st.attached = false;
        if let Some((ctx, id)) = st.binding.take() {
            // The device object goes with the binding; nothing else holds it.
            let _ = ctx.destroy(id);
        }
    }

    /// Whether the function offers a function level reset (Device Capabilities bit 28).
    pub(crate) fn can_reset(&self) -> bool {
        self.probe
            .express
            .is_some_and(|exp| self.f.config_read(exp + 4, AccessSize::Dword) & (1 << 28) != 0)
    }

    /// A function level reset, if the function offers it; `false` if not.
    pub(crate) fn flr(&self) -> bool {
        let Some(exp) = self.probe.express.filter(|_| self.can_reset()) else {
            return false;
        };
        let ctl = super::pci::device_control(exp);
        let v = self.f.config_read(ctl, AccessSize::Word);
        self.f.config_write(ctl, AccessSize::Word, v | 1 << 15);
        true
    }

    /// Turns MSI-X off in the function and forgets every vector's trigger.
    pub(crate) fn msix_disable(&self, st: &mut DevState) {
        let Some(vectors) = st.msix.take() else {
            return;
        };
        for (i, v) in vectors.iter().enumerate() {
            if let Some(data) = v {
                self.mask_vector(i as u32);
                self.irqs.free(*data);
            }
        }
        self.set_msix_enable(false);
    }

    pub(crate) fn set_msix_enable(&self, on: bool) {
        let Some(m) = self.probe.msix else {
            return;
        };
        let at = m.cap + 2;
        let ctl = self.f.config_read(at, AccessSize::Word);
        let ctl = if on {
            ctl | MSIX_ENABLE
        } else {
            ctl & !MSIX_ENABLE
        };
        self.f.config_write(at, AccessSize::Word, ctl);
    }

    fn table_write(&self, vector: u32, field: u64, value: u32) {
        if let Some(m) = self.probe.msix {
            let at = m.offset + 16 * u64::from(vector) + field;
            self.f.bar_write(m.bar, at, &value.to_le_bytes());
        }
    }

    pub(crate) fn mask_vector(&self, vector: u32) {
        self.table_write(vector, 12, 1);
    }

    /// Programs vector `vector` with message datum `data` and unmasks it.
    pub(crate) fn program_vector(&self, vector: u32, data: u32) {
        self.table_write(vector, 0, super::irq::MSI_ADDRESS as u32);
        self.table_write(vector, 4, (super::irq::MSI_ADDRESS >> 32) as u32);
        self.table_write(vector, 8, data);
        self.table_write(vector, 12, 0);
    }

    /// Opens the function for a file: the first open enables it; a group's open binds it
    /// to `bind`'s context and attaches it to the compatibility IOAS.
    pub(crate) fn open(&self, bind: Option<&Arc<Context>>) -> Result<()> {
        let mut st = self.state.lock();
        if st.open == 0 {
            if let Some(ctx) = bind {
                let id = ctx.device_bind(self.id)?;
                let attached = ctx
                    .vfio_compat_ioas_create()
                    .and_then(|ioas| ctx.device_attach(id, ioas));
                if let Err(e) = attached {
                    let _ = ctx.destroy(id);
                    return Err(e);
                }
                st.binding = Some((ctx.clone(), id));
                st.attached = true;
            }
            self.enable(&mut st);
        }
        st.open += 1;
        Ok(())
    }

    /// Closes one file: the last one disables the function and unbinds it.
    pub(crate) fn close(&self) {
        let mut st = self.state.lock();
        st.open = st.open.saturating_sub(1);
        if st.open == 0 {
            self.disable(&mut st);
        }
    }
}

impl VfioDevice {
    /// A device file of `dev` opened on its own (`/dev/vfio/devices/vfioN`).
    pub(crate) fn new_cdev(dev: Arc<PciDev>) -> VfioDevice {
        VfioDevice {
            dev,
            via_group: false,
            access: Mutex::new(false),
        }
    }

    /// A file opened through a group that has already opened the function.
    pub(crate) fn from_group(dev: Arc<PciDev>) -> VfioDevice {
        VfioDevice {
            dev,
            via_group: true,
            access: Mutex::new(true),
        }
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.dev.name
    }

    /// `EINVAL` until the file may use the device.
    pub(crate) fn check_access(&self) -> Result<()> {
        if *self.access.lock() {
            Ok(())
        } else {
            err(libc::EINVAL, "the device file is not bound to an iommufd")
        }
    }

    /// Whether the file was opened through a group.
    pub(crate) fn via_group(&self) -> bool {
        self.via_group
    }

    /// `VFIO_DEVICE_BIND_IOMMUFD`: binds the function to context `ctx` (claiming its
    /// group's DMA for the context) and gives the file access; returns the device's object
    /// id in the context. `EINVAL` on a group's file, a bound file, or a function another
    /// file has open.
    pub fn bind_iommufd(&self, ctx: &Arc<Context>) -> Result<u32> {
        let mut access = self.access.lock();
        if self.via_group || *access {
            return err(libc::EINVAL, "the file is bound already");
        }
        let mut st = self.dev.state.lock();
        if st.open != 0 {
            return err(libc::EINVAL, "the device is open elsewhere");
        }
        let id = match &self.dev.mdev {
            Some(link) => ctx.mdev_bind(link.clone())?,
            None => ctx.device_bind(self.dev.id)?,
        };
        st.binding = Some((ctx.clone(), id));
        st.attached = false;
        self.dev.enable(&mut st);
        st.open = 1;
        *access = true;
        Ok(id)
    }

    /// The context and device object the function is bound through.
    pub(crate) fn binding(&self) -> Result<(Arc<Context>, u32)> {
        self.check_access()?;
        match &self.dev.state.lock().binding {
            Some((ctx, id)) => Ok((ctx.clone(), *id)),
            None => err(libc::EINVAL, "the device is not bound"),
        }
    }

    /// `VFIO_DEVICE_ATTACH_IOMMUFD_PT`: attaches the function to `pt_id` (an IOAS or a
    /// HWPT) of its context, replacing what it was attached to; returns the HWPT's id.
    pub fn attach_pt(&self, pt_id: u32) -> Result<u32> {
        let (ctx, id) = self.binding()?;
        let mut st = self.dev.state.lock();
        let hwpt = if self.dev.mdev.is_some() {
            ctx.mdev_attach(id, pt_id)?
        } else if st.attached {
            ctx.device_replace(id, pt_id)?
        } else {
            ctx.device_attach(id, pt_id)?
        };
        st.attached = true;
        Ok(hwpt)
    }

    /// `VFIO_DEVICE_DETACH_IOMMUFD_PT`: the function's DMA is blocked (no error if it was
    /// not attached).
    pub fn detach_pt(&self) -> Result<()> {
        let (ctx, id) = self.binding()?;
        let mut st = self.dev.state.lock();
        if st.attached {
            if self.dev.mdev.is_some() {
                ctx.mdev_detach(id)?;
            } else {
                ctx.device_detach(id)?;
            }
            st.attached = false;
        }
        Ok(())
    }

    /// `VFIO_DEVICE_RESET`: a function level reset, with the function's configuration
    /// (command register, MSI-X and its vectors) put back as it was. `EINVAL` if the
    /// function cannot be reset.
    pub fn reset(&self) -> Result<()> {
        self.check_access()?;
        let d = &self.dev;
        let st = d.state.lock();
        let cmd = d.command();
        if !d.flr() {
            return err(libc::EINVAL, "the function has no reset");
        }
        d.f.config_write(COMMAND, AccessSize::Word, cmd);
        if let Some(vectors) = &st.msix {
            d.set_msix_enable(true);
            for (i, v) in vectors.iter().enumerate() {
                if let Some(data) = v {
                    d.program_vector(i as u32, *data);
                }
            }
        }
        Ok(())
    }
}

impl Drop for VfioDevice {
    fn drop(&mut self) {
        if *self.access.get_mut() {
            self.dev.close();
        }
    }
}

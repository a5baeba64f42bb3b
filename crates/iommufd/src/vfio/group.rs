//! VFIO groups: the legacy way to a device, a group file set to a container (a context in
//! VFIO compatibility) from which device files are opened by name.

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::GroupId;

use super::device::{VfioDevice, VfioPci};
use crate::context::Context;
use crate::error::{Result, err};
use crate::uapi::{read_host, write_host};

/// `VFIO_GROUP_FLAGS_VIABLE`: every device of the group is bound to VFIO.
pub const VFIO_GROUP_FLAGS_VIABLE: u32 = 1;
/// `VFIO_GROUP_FLAGS_CONTAINER_SET`.
pub const VFIO_GROUP_FLAGS_CONTAINER_SET: u32 = 2;

/// An open group file (`/dev/vfio/N`).
pub struct VfioGroup {
    vfio: Arc<VfioPci>,
    group: GroupId,
    container: Mutex<Option<Arc<Context>>>,
}

impl VfioPci {
    /// Opens group `group`'s file: `ENOENT` if no function of it is bound to VFIO, `EBUSY`
    /// while it is open.
    pub fn open_group(self: &Arc<Self>, group: GroupId) -> Result<VfioGroup> {
        if !self.devices.lock().iter().any(|d| d.group == group) {
            return err(libc::ENOENT, "no such VFIO group");
        }
        if !self.open_groups.lock().insert(group) {
            return err(libc::EBUSY, "the group is open");
        }
        Ok(VfioGroup {
            vfio: self.clone(),
            group,
            container: Mutex::new(None),
        })
    }
}

impl VfioGroup {
    /// `VFIO_GROUP_GET_STATUS`: `VFIO_GROUP_FLAGS_*`.
    pub fn status(&self) -> u32 {
        let members = self
            .vfio
            .host
            .iommu()
            .group_devices(self.group)
            .unwrap_or_default();
        let bound = self.vfio.devices.lock();
        let viable = members.iter().all(|m| bound.iter().any(|d| d.id == *m));
        let mut flags = 0;
        if viable {
            flags |= VFIO_GROUP_FLAGS_VIABLE;
        }
        if self.container.lock().is_some() {
            flags |= VFIO_GROUP_FLAGS_CONTAINER_SET;
        }
        flags
    }

    /// `VFIO_GROUP_SET_CONTAINER` with a context's file: the context gets its compatibility
    /// IOAS if it had none. `EINVAL` if the group has a container.
    pub fn set_container(&self, ctx: &Arc<Context>) -> Result<()> {
        let mut c = self.container.lock();
        if c.is_some() {
            return err(libc::EINVAL, "the group has a container");
        }
        ctx.vfio_compat_ioas_create()?;
        *c = Some(ctx.clone());
        Ok(())
    }

    /// `VFIO_GROUP_UNSET_CONTAINER`: `EINVAL` without one, `EBUSY` while a device of the
    /// group is open.
    pub fn unset_container(&self) -> Result<()> {
        let mut c = self.container.lock();
        if c.is_none() {
            return err(libc::EINVAL, "the group has no container");
        }
        let busy = self
            .vfio
            .devices
            .lock()
            .iter()
            .any(|d| d.group == self.group && d.state.lock().open > 0);
        if busy {
            return err(libc::EBUSY, "a device of the group is open");
        }
        *c = None;
        Ok(())
    }

    /// `VFIO_GROUP_GET_DEVICE_FD`: opens device `name` of the group, bound to the container
    /// and attached to its compatibility IOAS on its first open. `EINVAL` without a
    /// container, `ENODEV` if the group has no such device.
    pub fn device(&self, name: &str) -> Result<VfioDevice> {
        let Some(ctx) = self.container.lock().clone() else {
            return err(libc::EINVAL, "the group has no container");
        };
        let dev = self.vfio.find(name)?;
        if dev.group != self.group {
            return err(libc::ENODEV, "no such device in the group");
        }
        dev.open(Some(&ctx))?;
        Ok(VfioDevice::from_group(dev))
    }
}

impl Drop for VfioGroup {
    fn drop(&mut self) {
        self.vfio.open_groups.lock().remove(&self.group);
    }
}

/// `VFIO_GROUP_GET_STATUS`.
pub const VFIO_GROUP_GET_STATUS: u32 = super::vfio_ioctl(3);
/// `VFIO_GROUP_SET_CONTAINER`.
pub const VFIO_GROUP_SET_CONTAINER: u32 = super::vfio_ioctl(4);
/// `VFIO_GROUP_UNSET_CONTAINER`.
pub const VFIO_GROUP_UNSET_CONTAINER: u32 = super::vfio_ioctl(5);
/// `VFIO_GROUP_GET_DEVICE_FD`.
pub const VFIO_GROUP_GET_DEVICE_FD: u32 = super::vfio_ioctl(6);

impl VfioGroup {
    /// `ioctl(fd, cmd, arg)` on the group file, `arg` an address in this process (an
    /// integer for the container's descriptor, a string for the device's name); `files`
    /// resolves the container's descriptor (`EBADFD` if it is no container) and installs
    /// device files (their number is the result).
    pub fn ioctl(&self, cmd: u64, arg: u64, files: &dyn super::Files) -> Result<i64> {
        let host = &self.vfio.host;
        match cmd as u32 {
            VFIO_GROUP_GET_STATUS => {
                let mut b = [0u8; 8];
                read_host(host, arg, &mut b)?;
                let argsz = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
                if argsz < 8 {
                    return err(libc::EINVAL, "argsz under the structure's minimum");
                }
                let at = arg
                    .checked_add(4)
                    .ok_or(crate::error::Error::new(libc::EFAULT, "bad address"))?;
                write_host(host, at, &self.status().to_ne_bytes())?;
                Ok(0)
            }
            VFIO_GROUP_SET_CONTAINER => {
                let mut b = [0u8; 4];
                read_host(host, arg, &mut b)?;
                let fd = i32::from_ne_bytes(b);
                if fd < 0 {
                    return err(libc::EBADF, "bad file descriptor");
                }
                let Some(ctx) = files.context(fd) else {
                    return err(libc::EBADFD, "not a container");
                };
                self.set_container(&ctx).map(|()| 0)
            }
            VFIO_GROUP_UNSET_CONTAINER => self.unset_container().map(|()| 0),
            VFIO_GROUP_GET_DEVICE_FD => {
                let name = read_name(host, arg)?;
                let dev = self.device(&name)?;
                files.install(dev).map(i64::from)
            }
            _ => err(libc::ENOTTY, "not a command of the group file"),
        }
    }
}

/// A NUL-terminated name of at most a page at `arg`: `EINVAL` if longer, `EFAULT` where
/// it cannot be read.
fn read_name(host: &crate::host::Host, arg: u64) -> Result<String> {
    let mut name = Vec::new();
    let mut b = [0u8; 1];
    for i in 0..crate::host::PAGE_SIZE {
        let at = arg
            .checked_add(i)
            .ok_or(crate::error::Error::new(libc::EFAULT, "bad address"))?;
        read_host(host, at, &mut b)?;
        if b[0] == 0 {
            return Ok(String::from_utf8_lossy(&name).into_owned());
        }
        name.push(b[0]);
    }
    err(libc::EINVAL, "the name is longer than a page")
}

//! VFIO groups: the legacy way to a device, a group file set to a container (a context in
//! VFIO compatibility) from which device files are opened by name.

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::GroupId;

use super::device::{VfioDevice, VfioPci};
use crate::context::Context;
use crate::error::{Result, err};

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

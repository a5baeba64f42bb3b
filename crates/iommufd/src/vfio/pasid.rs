//! PASID attach through a VFIO device file bound to a context: the `VFIO_DEVICE_ATTACH_PASID`
//! and `VFIO_DEVICE_DETACH_PASID` forms of attach and detach.

use super::device::VfioDevice;
use crate::error::Result;

impl VfioDevice {
    /// `VFIO_DEVICE_ATTACH_IOMMUFD_PT` with `VFIO_DEVICE_ATTACH_PASID`: attaches PASID
    /// `pasid` of the function to HWPT `pt_id`, replacing what it was attached to; returns
    /// the HWPT's id. The context's rules apply: a HWPT made for PASIDs (`EINVAL`
    /// otherwise, and for an IOAS), a RID attached to nothing or to such a HWPT, a PASID the
    /// function has (`EINVAL`). An mdev's PASIDs are the parent's the host gave it
    /// ([`MdevParent::alloc_pasid`](super::MdevParent::alloc_pasid)); any other is `EINVAL`.
    pub fn attach_pasid(&self, pasid: u32, pt_id: u32) -> Result<u32> {
        let (ctx, id) = self.binding()?;
        if self.dev.mdev.is_some() {
            return ctx.mdev_attach_given(id, pasid, pt_id);
        }
        let _st = self.dev.state.lock();
        if ctx.device_pasid_hwpt(id, pasid)?.is_some() {
            ctx.device_pasid_replace(id, pasid, pt_id)
        } else {
            ctx.device_pasid_attach(id, pasid, pt_id)
        }
    }

    /// `VFIO_DEVICE_DETACH_IOMMUFD_PT` with `VFIO_DEVICE_DETACH_PASID`: requests with
    /// `pasid` are blocked (no error if it was not attached).
    pub fn detach_pasid(&self, pasid: u32) -> Result<()> {
        let (ctx, id) = self.binding()?;
        if self.dev.mdev.is_some() {
            return ctx.mdev_detach_given(id, pasid);
        }
        let _st = self.dev.state.lock();
        ctx.device_pasid_detach(id, pasid)
    }
}

//! The test channel's PASID ops (`PASID_ATTACH`, `PASID_REPLACE`, `PASID_DETACH`,
//! `PASID_CHECK_HWPT`) on a mock device's object, and `TRIGGER_IOPF`, a page request of a
//! mock device sent through the core's page-request path.

use softiommu_core::{DeviceId, PageRequest};
use softiommu_pgtable::Access;

use super::cmd::TestCmd;
use super::{Mock, MockDev};
use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result, err};
use crate::fault::{PGFAULT_PERM_EXEC, PGFAULT_PERM_PRIV, PGFAULT_PERM_WRITE};
use crate::objects::Object;
use crate::uapi::Ucmd;

/// The PASID whose every second set the mock driver refuses with `ENOMEM`.
const FAKE_ERROR_PASID: u32 = 1024;

impl Mock {
    /// The mock driver setting PASID `pasid` of `dev` to a domain (not detaching it): for
    /// PASID 1024, every second such set fails with `ENOMEM`, as the kernel's mock fakes to
    /// test the core's error path.
    fn set_dev_pasid(&self, dev: DeviceId, pasid: u32) -> Result<()> {
        if pasid != FAKE_ERROR_PASID {
            return Ok(());
        }
        let mut armed = self.pasid_fake_error.lock();
        if armed.remove(&dev) {
            return err(libc::ENOMEM, "the mock driver fails this set of PASID 1024");
        }
        armed.insert(dev);
        Ok(())
    }

    /// PASID `pasid` of `dev` was detached (set to the blocking domain).
    fn block_dev_pasid(&self, dev: DeviceId, pasid: u32) {
        if pasid == FAKE_ERROR_PASID {
            self.pasid_fake_error.lock().remove(&dev);
        }
    }
}

/// The mock of the host and the bound-device id of mock object `id`: `ENOENT` for anything
/// but a mock device's object.
fn mock_idev(ctx: &Context, id: u32) -> Result<(&Mock, u32)> {
    let mock = ctx
        .host()
        .mock
        .as_ref()
        .ok_or(Error::new(libc::ENOTTY, "no test channel on this host"))?;
    let idev = match ctx.object(id)? {
        Object::Selftest(s) => MockDev::idev_id(&s),
        _ => None,
    };
    match idev {
        Some(i) => Ok((mock, i)),
        None => err(libc::ENOENT, "not a mock device"),
    }
}

/// `PASID_ATTACH {pasid, pt_id}` on mock object `c.id()`; answers the HWPT id.
pub(super) fn attach(ctx: &Context, u: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (mock, idev) = mock_idev(ctx, c.id())?;
    let pasid = c.u32(0);
    let set = |d: &Device| mock.set_dev_pasid(d.core_id(), pasid);
    let pt = ctx.pasid_attach_with(idev, pasid, c.u32(4), &set)?;
    c.set_u32(4, pt);
    if let Err(e) = u.respond_bytes(ctx, c.bytes()) {
        let _ = ctx.device_pasid_detach(idev, pasid);
        return Err(e);
    }
    Ok(0)
}

/// `PASID_REPLACE {pasid, pt_id}` on mock object `c.id()`; answers the HWPT id.
pub(super) fn replace(ctx: &Context, u: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (mock, idev) = mock_idev(ctx, c.id())?;
    let pasid = c.u32(0);
    let set = |d: &Device| mock.set_dev_pasid(d.core_id(), pasid);
    let pt = ctx.pasid_replace_with(idev, pasid, c.u32(4), &set)?;
    c.set_u32(4, pt);
    u.respond_bytes(ctx, c.bytes()).map(|()| 0)
}

/// `PASID_DETACH {pasid}` on mock object `c.id()`.
pub(super) fn detach(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (mock, idev) = mock_idev(ctx, c.id())?;
    let pasid = c.u32(0);
    let dev = ctx.device(idev)?;
    let attached = dev.pasids.lock().contains_key(&pasid);
    ctx.device_pasid_detach(idev, pasid)?;
    if attached {
        mock.block_dev_pasid(dev.core_id(), pasid);
    }
    Ok(0)
}

/// `PASID_CHECK_HWPT {pasid, hwpt_id}`: the PASID is attached to HWPT `hwpt_id`'s domain,
/// or, with `hwpt_id` 0, to nothing (`EINVAL` if not).
pub(super) fn check_hwpt(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (_, idev) = mock_idev(ctx, c.id())?;
    let (pasid, hwpt_id) = (c.u32(0), c.u32(4));
    let dev = ctx.device(idev)?;
    let attached = dev.pasids.lock().get(&pasid).map(|h| h.domain.clone());
    if hwpt_id == 0 {
        return match attached {
            None => Ok(0),
            Some(_) => err(libc::EINVAL, "the PASID is attached"),
        };
    }
    let want = match ctx.object(hwpt_id)? {
        Object::Hwpt(h) => h.domain.clone(),
        _ => return err(libc::EINVAL, "not a HWPT"),
    };
    match attached {
        Some(d) if d.id() == want.id() => Ok(0),
        _ => err(libc::EINVAL, "the PASID is not attached to that HWPT"),
    }
}

/// `TRIGGER_IOPF {dev_id, pasid, grpid, perm, addr}`: bound device `dev_id` sends a page
/// request, the last of its group (with its PASID unless `pasid` is 0), which the core
/// hands to the fault handler of the domain attached there.
pub(super) fn trigger_iopf(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (dev_id, pasid, grpid, perm, addr) = (c.u32(0), c.u32(4), c.u32(8), c.u32(12), c.u64(16));
    let dev = ctx.device(dev_id)?;
    let Ok(group) = u16::try_from(grpid) else {
        return err(libc::EINVAL, "a page request group index has 16 bits here");
    };
    let req = PageRequest {
        device: dev.core_id(),
        pasid: (pasid != 0).then_some(pasid),
        addr,
        access: Access {
            write: perm & PGFAULT_PERM_WRITE != 0,
            exec: perm & PGFAULT_PERM_EXEC != 0,
            privileged: perm & PGFAULT_PERM_PRIV != 0,
        },
        group,
        last: true,
    };
    // The core answers requests it cannot route itself (no handler, a PASID too wide).
    let _ = ctx.host().iommu().page_request(req);
    Ok(0)
}

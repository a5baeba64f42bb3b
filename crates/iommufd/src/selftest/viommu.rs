//! The mock vIOMMU (`IOMMU_VIOMMU_TYPE_SELFTEST`): nested HWPTs made through it, the rule
//! that a mock device needs a vDEVICE there before attaching to one, the invalidation of
//! the mock devices' caches by virtual id (`IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST`), and
//! `TRIGGER_VEVENT`, an event of a mock device queued on the vIOMMU's selftest vEVENTQ.

use std::sync::Arc;

use super::cmd::TestCmd;
use super::{MOCK_DEV_CACHE_NUM, VEVENTQ_TYPE_SELFTEST, VIOMMU_TYPE_SELFTEST};
use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result, err};
use crate::hwpt::{Hwpt, HwptKind};
use crate::uapi::{Ucmd, read_user};
use crate::viommu::Viommu;

/// `IOMMU_TEST_INVALIDATE_FLAG_ALL`: every cache entry of the device.
const INVALIDATE_FLAG_ALL: u32 = 1;
/// Bytes of one `struct iommu_viommu_invalidate_selftest { flags, vdev_id, cache_id }`.
const ENTRY_LEN: u32 = 12;

/// The mock vIOMMU `hwpt` was made through, if any.
fn mock_viommu(hwpt: &Hwpt) -> Option<&Arc<Viommu>> {
    match &hwpt.kind {
        HwptKind::Nested {
            viommu: Some(v), ..
        } if v.kind == VIOMMU_TYPE_SELFTEST => Some(v),
        _ => None,
    }
}

/// Attaching `dev` to `hwpt`: a nested HWPT of the mock vIOMMU needs the device to have a
/// vDEVICE there (`ENOENT`), as the mock driver asks.
pub(crate) fn check_attach(dev: &Device, hwpt: &Hwpt) -> Result<()> {
    match mock_viommu(hwpt) {
        Some(v) if v.virt_id_of(dev.core_id()).is_none() => {
            err(libc::ENOENT, "the device has no vDEVICE in the vIOMMU")
        }
        _ => Ok(()),
    }
}

/// `TRIGGER_VEVENT {dev_id}`: bound device `dev_id`, attached to a nested HWPT of a mock
/// vIOMMU where it has a vDEVICE, reports an event carrying its virtual id (`ENOENT`
/// otherwise; `EOPNOTSUPP` if the vIOMMU has no selftest vEVENTQ).
pub(super) fn trigger_vevent(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let dev = ctx.device(c.u32(0))?;
    let attached = dev.attached.lock().clone();
    let Some(hwpt) = attached else {
        return err(libc::ENOENT, "the device is not attached");
    };
    let Some(viommu) = mock_viommu(&hwpt) else {
        return err(libc::ENOENT, "the device is not behind a mock vIOMMU");
    };
    let Some(virt_id) = viommu.virt_id_of(dev.core_id()) else {
        return err(libc::ENOENT, "the device has no vDEVICE");
    };
    let Some(q) = viommu.veventq(VEVENTQ_TYPE_SELFTEST) else {
        return err(libc::EOPNOTSUPP, "no selftest vEVENTQ on the vIOMMU");
    };
    // The event's `virt_id` is 32 bits wide.
    q.report(&(virt_id as u32).to_ne_bytes());
    Ok(0)
}

/// `IOMMU_VIOMMU_INVALIDATE` with `IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST` on mock vIOMMU
/// `viommu`: the `num` entries of `len` bytes at `uptr` clear entries of the caches of the
/// mock devices they name by virtual id, in order until one is refused; `done` counts those
/// carried out. `len` must be the entry's size (`EINVAL`); unknown flags are `EOPNOTSUPP`,
/// an entry past the cache or an unknown virtual id `EINVAL`.
pub(super) fn invalidate(
    ctx: &Context,
    viommu: &Viommu,
    uptr: u64,
    len: u32,
    num: u32,
    done: &mut u32,
) -> Result<()> {
    *done = 0;
    if num == 0 {
        return Ok(());
    }
    if len != ENTRY_LEN {
        return err(libc::EINVAL, "selftest vIOMMU entries are 12 bytes");
    }
    let mock = ctx
        .host()
        .mock
        .as_ref()
        .ok_or(Error::new(libc::EINVAL, "no mock IOMMU"))?;
    for i in 0..num {
        let mut e = [0u8; ENTRY_LEN as usize];
        let at = uptr
            .checked_add(u64::from(i) * u64::from(ENTRY_LEN))
            .ok_or(Error::new(libc::EFAULT, "bad address"))?;
        read_user(ctx, at, &mut e)?;
        let word = |o: usize| u32::from_ne_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]);
        let (flags, vdev_id, cache_id) = (word(0), word(4), word(8));
        if flags & !INVALIDATE_FLAG_ALL != 0 {
            return err(libc::EOPNOTSUPP, "unknown invalidation flags");
        }
        if cache_id as usize >= MOCK_DEV_CACHE_NUM {
            return err(libc::EINVAL, "no such cache entry");
        }
        let Some(vdev) = viommu.vdevice(u64::from(vdev_id)) else {
            return err(libc::EINVAL, "no vDEVICE with that virtual id");
        };
        let mut caches = mock.devices.lock();
        let Some(cache) = caches.get_mut(&vdev.device.core_id()) else {
            return err(libc::EINVAL, "not a mock device");
        };
        if flags & INVALIDATE_FLAG_ALL != 0 {
            cache.fill(0);
        } else {
            cache[cache_id as usize] = 0;
        }
        *done += 1;
    }
    Ok(())
}

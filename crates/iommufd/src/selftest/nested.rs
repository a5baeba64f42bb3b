//! Nested HWPTs of the mock IOMMU (`IOMMU_HWPT_DATA_SELFTEST`): a nested domain of the core
//! over a nesting parent, whose stage-1 table the user has not given (its root is IOVA 0 of
//! the parent, outside the mock aperture, so every DMA through it faults), with the mock's
//! four IOTLB entries that the user's `IOMMU_HWPT_INVALIDATE_DATA_SELFTEST` entries clear.

use std::sync::{Arc, Weak};

use softiommu_core::{Domain, NestedData};
use softiommu_pgtable::formats::x86::{X86, X86Config};

use super::{MOCK_NESTED_IOTLB_NUM, Mock};
use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result, err};
use crate::hwpt::{Hwpt, HwptKind};
use crate::objects::Object;
use crate::uapi::read_user;

/// `IOMMU_HWPT_DATA_SELFTEST`: `struct iommu_hwpt_selftest { iotlb, pagetable_type }`.
pub const HWPT_DATA_SELFTEST: u32 = 0xdead;
/// `IOMMU_HWPT_INVALIDATE_DATA_SELFTEST`: entries `{ u32 flags, u32 iotlb_id }`.
pub const INVALIDATE_DATA_SELFTEST: u32 = 0xdead_beef;
/// `IOMMU_TEST_INVALIDATE_FLAG_ALL`: clear every IOTLB entry.
const INVALIDATE_FLAG_ALL: u32 = 1;
/// Bytes of one invalidation entry.
const ENTRY_LEN: u32 = 8;

/// `struct iommu_hwpt_selftest`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct HwptSelftest {
    /// The value every IOTLB entry starts with.
    pub(crate) iotlb: u32,
    /// The page-table kind of a paging HWPT; not used by nested ones.
    pub(crate) pagetable_type: u32,
}

// SAFETY: `repr(C)`, two `u32` fields, no padding.
unsafe impl crate::uapi::pod::Pod for HwptSelftest {}

impl Mock {
    /// The IOTLB of mock nested domain `domain`, to read or change.
    fn with_iotlb<R>(
        &self,
        domain: &Domain,
        f: impl FnOnce(&mut [u32; MOCK_NESTED_IOTLB_NUM as usize]) -> R,
    ) -> Option<R> {
        let mut nested = self.nested.lock();
        nested
            .get_mut(&domain.id())
            .filter(|(d, _)| d.strong_count() > 0)
            .map(|(_, iotlb)| f(iotlb))
    }
}

impl Context {
    /// A mock nested HWPT over nesting parent `parent` for mock device `dev`, its IOTLB
    /// entries set to `iotlb`, made for PASIDs if `pasid`, through mock vIOMMU `viommu` if
    /// given: `EOPNOTSUPP` for any other device.
    pub(crate) fn mock_nested(
        &self,
        dev: &Device,
        parent: Arc<Hwpt>,
        iotlb: u32,
        pasid: bool,
        viommu: Option<Arc<crate::viommu::Viommu>>,
    ) -> Result<Arc<Hwpt>> {
        let mock = self.host().mock.as_ref();
        let Some(mock) = mock.filter(|m| m.devices.lock().contains_key(&dev.core_id())) else {
            return err(libc::EOPNOTSUPP, "only the mock IOMMU takes selftest data");
        };
        let format = X86::new(X86Config::default())
            .map_err(|_| Error::new(libc::ENOMEM, "no stage-1 format"))?;
        let data = NestedData::Stage1 {
            format: format.into(),
            root: 0,
        };
        self.host().faults().check("allocating a nested domain")?;
        let domain = self.host().iommu().new_nested(&parent.domain, data)?;
        {
            let mut nested = mock.nested.lock();
            nested.retain(|_, (d, _)| d.strong_count() > 0);
            let weak: Weak<Domain> = Arc::downgrade(&domain);
            nested.insert(domain.id(), (weak, [iotlb; MOCK_NESTED_IOTLB_NUM as usize]));
        }
        let through = viommu.clone();
        let hwpt = Arc::new(Hwpt {
            kind: HwptKind::Nested { parent, viommu },
            domain,
            auto: false,
            pasid,
            dirty_on: Default::default(),
            fault: std::sync::OnceLock::new(),
        });
        if let Some(v) = through {
            v.add_nested(&hwpt);
        }
        Ok(hwpt)
    }
}

/// The mock nested HWPT `id` and its mock: `ENOENT` for anything but a nested HWPT, `EINVAL`
/// for one of another IOMMU.
fn mock_nested(ctx: &Context, id: u32) -> Result<(Arc<Hwpt>, &Mock)> {
    let hwpt = match ctx.object(id)? {
        Object::Hwpt(h) if h.is_nested() => h,
        _ => return err(libc::ENOENT, "not a nested HWPT"),
    };
    let mock = ctx
        .host()
        .mock
        .as_ref()
        .ok_or(Error::new(libc::EINVAL, "not a mock nested domain"))?;
    if mock.with_iotlb(&hwpt.domain, |_| ()).is_none() {
        return err(libc::EINVAL, "not a mock nested domain");
    }
    Ok((hwpt, mock))
}

/// `MD_CHECK_IOTLB`: entry `entry` of mock nested HWPT `id` holds `want` (`EINVAL` if not).
pub(super) fn check_iotlb(ctx: &Context, id: u32, entry: u32, want: u32) -> Result<()> {
    if entry >= MOCK_NESTED_IOTLB_NUM {
        return err(libc::EINVAL, "no such IOTLB entry");
    }
    let (hwpt, mock) = mock_nested(ctx, id)?;
    match mock.with_iotlb(&hwpt.domain, |t| t[entry as usize] == want) {
        Some(true) => Ok(()),
        _ => err(libc::EINVAL, "the IOTLB entry differs"),
    }
}

/// `IOMMU_HWPT_INVALIDATE` with `IOMMU_HWPT_INVALIDATE_DATA_SELFTEST` on HWPT `id`: the
/// `num` entries of `len` bytes at `uptr`, carried out in order until one is refused;
/// `done` counts those carried out. `EINVAL` unless `id` is a mock nested HWPT and `len` the
/// entry's size (with entries); unknown flags are `EOPNOTSUPP`, an entry past the IOTLB
/// `EINVAL`.
pub(crate) fn invalidate(
    ctx: &Context,
    id: u32,
    uptr: u64,
    len: u32,
    num: u32,
    done: &mut u32,
) -> Result<()> {
    *done = 0;
    if let Ok(Object::Viommu(v)) = ctx.object(id)
        && v.kind == super::VIOMMU_TYPE_SELFTEST
    {
        return super::viommu::invalidate(ctx, &v, uptr, len, num, done);
    }
    let (hwpt, mock) = match mock_nested(ctx, id) {
        Ok(m) => m,
        Err(e) if e.errno() == libc::ENOENT && ctx.object(id).is_ok() => {
            return err(libc::EINVAL, "not a nested HWPT");
        }
        Err(e) => return Err(e),
    };
    if num == 0 {
        return Ok(());
    }
    if len != ENTRY_LEN {
        return err(libc::EINVAL, "selftest entries are 8 bytes");
    }
    let mut result = Ok(());
    for i in 0..num {
        let mut e = [0u8; ENTRY_LEN as usize];
        let at = uptr.checked_add(u64::from(i) * u64::from(ENTRY_LEN));
        let read = at
            .ok_or(Error::new(libc::EFAULT, "bad address"))
            .and_then(|a| read_user(ctx, a, &mut e));
        if let Err(x) = read {
            result = Err(x);
            break;
        }
        let flags = u32::from_ne_bytes([e[0], e[1], e[2], e[3]]);
        let entry = u32::from_ne_bytes([e[4], e[5], e[6], e[7]]);
        if flags & !INVALIDATE_FLAG_ALL != 0 {
            result = err(libc::EOPNOTSUPP, "unknown invalidation flags");
            break;
        }
        if flags & INVALIDATE_FLAG_ALL == 0 && entry >= MOCK_NESTED_IOTLB_NUM {
            result = err(libc::EINVAL, "no such IOTLB entry");
            break;
        }
        mock.with_iotlb(&hwpt.domain, |t| {
            if flags & INVALIDATE_FLAG_ALL != 0 {
                t.fill(0);
            } else {
                t[entry as usize] = 0;
            }
        });
        *done += 1;
    }
    // What the instances cache of the stage 1 goes too.
    if *done > 0 {
        hwpt.domain.invalidate_stage1().map_err(Error::from)?;
    }
    result
}

//! The test channel's operations, each as the kernel's mock driver answers it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use softiommu_pgtable::Access;

use super::cmd::TestCmd;
use super::pages::Maps;
use super::{
    MIN_MEMORY_LIMIT, MOCK_APERTURE, MOCK_DEV_CACHE_NUM, MOCK_FLAGS_DEVICE_NO_DIRTY,
    MOCK_FLAGS_DEVICE_PASID, MOCK_PAGE_SIZE, Mock, MockDev,
};
use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::host::PAGE_SIZE;
use crate::hwpt::Hwpt;
use crate::objects::Object;
use crate::uapi::{Ucmd, read_user};

/// One operation: the context, the call (to answer through) and its decoded command.
type Handler = fn(&Context, &Ucmd, &mut TestCmd) -> Result<i64>;

/// The most bits of a dirty bitmap one `DIRTY` call reads: enough for the whole mock
/// aperture in mock pages; a larger bitmap is `ENOMEM`, as the kernel's allocation of one
/// fails.
const MAX_DIRTY_BITS: u64 = 1 << 20;
/// Bitmap bytes read at a time.
const BITMAP_CHUNK: usize = 4096;

/// The handler of `op`; `None` for ops not served (unknown ones, and dma-buf 22-23), which
/// are `EOPNOTSUPP`.
fn handler(op: u32) -> Option<Handler> {
    Some(match op {
        super::TEST_OP_ADD_RESERVED => add_reserved,
        super::TEST_OP_MOCK_DOMAIN => mock_domain,
        super::TEST_OP_MD_CHECK_MAP => md_check_map,
        super::TEST_OP_MD_CHECK_REFS => md_check_refs,
        super::TEST_OP_CREATE_ACCESS => super::access::create,
        super::TEST_OP_DESTROY_ACCESS_PAGES => super::access::destroy_pages,
        super::TEST_OP_ACCESS_PAGES => super::access::pages,
        super::TEST_OP_ACCESS_RW => super::access::rw,
        super::TEST_OP_SET_TEMP_MEMORY_LIMIT => set_temp_memory_limit,
        super::TEST_OP_MOCK_DOMAIN_REPLACE => mock_domain_replace,
        super::TEST_OP_ACCESS_REPLACE_IOAS => super::access::replace_ioas,
        super::TEST_OP_MOCK_DOMAIN_FLAGS => mock_domain_flags,
        super::TEST_OP_DIRTY => dirty,
        super::TEST_OP_MD_CHECK_IOTLB => md_check_iotlb,
        super::TEST_OP_TRIGGER_IOPF => super::pasid::trigger_iopf,
        super::TEST_OP_DEV_CHECK_CACHE => dev_check_cache,
        super::TEST_OP_TRIGGER_VEVENT => super::viommu::trigger_vevent,
        super::TEST_OP_PASID_ATTACH => super::pasid::attach,
        super::TEST_OP_PASID_REPLACE => super::pasid::replace,
        super::TEST_OP_PASID_DETACH => super::pasid::detach,
        super::TEST_OP_PASID_CHECK_HWPT => super::pasid::check_hwpt,
        _ => return None,
    })
}

/// `IOMMU_TEST_CMD`: runs the op the structure names; `EOPNOTSUPP` for one not served.
pub(crate) fn test_cmd(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c = TestCmd::new(u.bytes());
    ctx.host().sweep_test_accesses();
    let Some(run) = handler(c.op()) else {
        return err(libc::EOPNOTSUPP, "test op not supported");
    };
    run(ctx, u, &mut c)
}

fn mock(ctx: &Context) -> Result<&Mock> {
    ctx.host()
        .mock
        .as_ref()
        .ok_or(Error::new(libc::ENOTTY, "no test channel on this host"))
}

fn add_reserved(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    ctx.test_add_reserved(c.id(), c.u64(0), c.u64(8))
        .map(|()| 0)
}

fn mock_domain(ctx: &Context, u: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    make_mock_domain(ctx, u, c, 0)
}

fn mock_domain_flags(ctx: &Context, u: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let flags = c.u32(12);
    if flags & !(MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_PASID) != 0 {
        return err(libc::EINVAL, "unknown mock device flags");
    }
    make_mock_domain(ctx, u, c, flags)
}

/// Makes a mock device with `flags`, binds it and attaches it to `c.id()` (an IOAS or a
/// HWPT); answers its object, HWPT and bound-device ids. Nothing is left on a failure.
fn make_mock_domain(ctx: &Context, u: &Ucmd, c: &mut TestCmd, flags: u32) -> Result<i64> {
    let host = ctx.host().clone();
    let core = mock(ctx)?.plug(host.iommu(), flags)?;
    let dev = Arc::new(MockDev {
        host,
        core,
        idev: Default::default(),
    });
    // The object takes its id first, as the kernel's does; dropping it unplugs the device.
    let stdev_id = ctx.insert(Object::Selftest(dev))?;
    let made = (|| {
        let idev_id = ctx.device_bind(core)?;
        let device = ctx.device(idev_id)?;
        if let Object::Selftest(s) = ctx.object(stdev_id)? {
            // Set once, here, before anything else can see the object.
            let _ = s.idev.set((idev_id, device));
        }
        let hwpt_id = ctx.device_attach(idev_id, c.id())?;
        c.set_u32(0, stdev_id);
        c.set_u32(4, hwpt_id);
        c.set_u32(8, idev_id);
        u.respond_bytes(ctx, c.bytes())
    })();
    if let Err(e) = made {
        let _ = ctx.destroy(stdev_id);
        return Err(e);
    }
    Ok(0)
}

fn mock_domain_replace(ctx: &Context, u: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let idev = match ctx.object(c.id())? {
        Object::Selftest(s) => s.idev_id(),
        _ => None,
    };
    let Some(idev) = idev else {
        return err(libc::ENOENT, "not a mock device");
    };
    let hwpt = ctx.device_replace(idev, c.u32(0))?;
    c.set_u32(0, hwpt);
    u.respond_bytes(ctx, c.bytes()).map(|()| 0)
}

/// Paging HWPT `id` of a mock domain: `ENOENT` for anything but a paging HWPT, `EINVAL` for
/// a domain of another IOMMU.
fn mock_paging(ctx: &Context, id: u32) -> Result<Arc<Hwpt>> {
    let hwpt = match ctx.object(id)? {
        Object::Hwpt(h) if !h.is_nested() => h,
        _ => return err(libc::ENOENT, "not a paging HWPT"),
    };
    let shape = hwpt
        .domain
        .with_table(|t| (t.page_sizes(), t.aperture()))
        .map_err(Error::from)?;
    if shape != (MOCK_PAGE_SIZE, MOCK_APERTURE) {
        return err(libc::EINVAL, "not a mock domain");
    }
    Ok(hwpt)
}

fn md_check_map(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (iova, length, uptr) = (c.u64(0), c.u64(8), c.u64(16));
    let hwpt = mock_paging(ctx, c.id())?;
    let page = MOCK_PAGE_SIZE;
    if (iova | length | uptr) % page != 0 || uptr.checked_add(length).is_none() {
        return err(libc::EINVAL, "range not aligned to the mock page size");
    }
    ctx.host()
        .mem()
        .check_mapped(uptr, length)
        .map_err(|_| Error::new(libc::EFAULT, "the user memory is not mapped"))?;
    let mut at = 0;
    let mut maps = None;
    while at < length {
        let Some(i) = iova.checked_add(at) else {
            return err(libc::EINVAL, "IOVA plus length overflows");
        };
        // A physical address is a host address: the domain must map the IOVA to the page
        // of `uptr` (the same address, or the same page of a file the user mapped).
        let phys = hwpt.domain.iova_to_phys(i);
        let same = phys.is_some_and(|p| {
            p == uptr + at || maps.get_or_insert_with(Maps::read).same_page(p, uptr + at)
        });
        if !same {
            return err(
                libc::EINVAL,
                "the domain does not map the IOVA to the memory",
            );
        }
        at += page;
    }
    Ok(0)
}

fn md_check_refs(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (length, uptr, refs) = (c.u64(0), c.u64(8), c.u32(16));
    if length % PAGE_SIZE != 0 || uptr % PAGE_SIZE != 0 || uptr.checked_add(length).is_none() {
        return err(libc::EINVAL, "range not page aligned");
    }
    let host = ctx.host();
    host.mem()
        .check_mapped(uptr, length)
        .map_err(|_| Error::new(libc::EFAULT, "the user memory is not mapped"))?;
    let mut at = 0;
    while at < length {
        if host.pins_of(uptr + at) != refs {
            return err(libc::EIO, "a page's pin count differs");
        }
        at += PAGE_SIZE;
    }
    Ok(0)
}

fn set_temp_memory_limit(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let limit = c.u32(0);
    if limit < MIN_MEMORY_LIMIT {
        return err(libc::EINVAL, "memory limit under one batch element");
    }
    mock(ctx)?.memory_limit.store(limit, Ordering::Relaxed);
    Ok(0)
}

fn dirty(ctx: &Context, u: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (iova, length, page_size, uptr) = (c.u64(8), c.u64(16), c.u64(24), c.u64(32));
    if page_size == 0 || length == 0 || iova % page_size != 0 || length % page_size != 0 {
        return err(libc::EINVAL, "range not aligned to the page size");
    }
    if uptr == 0 {
        return err(libc::EINVAL, "no bitmap");
    }
    let hwpt = mock_paging(ctx, c.id())?;
    if !hwpt.dirty_on.load(Ordering::Acquire) {
        return err(libc::EINVAL, "dirty tracking is not on");
    }
    let bits = length / page_size;
    if bits > MAX_DIRTY_BITS {
        return err(libc::ENOMEM, "bitmap too large");
    }
    let mut count = 0u64;
    let mut chunk = [0u8; BITMAP_CHUNK];
    let bytes = bits.div_ceil(8);
    let mut at = 0u64;
    while at < bytes {
        let n = (bytes - at).min(BITMAP_CHUNK as u64) as usize;
        let addr = uptr
            .checked_add(at)
            .ok_or(Error::new(libc::EFAULT, "bad bitmap address"))?;
        read_user(ctx, addr, &mut chunk[..n])?;
        for (i, &byte) in chunk[..n].iter().enumerate() {
            for bit in 0..8 {
                let index = (at + i as u64) * 8 + bit;
                if byte & (1 << bit) == 0 || index >= bits {
                    continue;
                }
                // The mock's hardware sets the dirty bit as a device write through the
                // domain does; an IOVA it does not map has no bit to set.
                let page = iova.wrapping_add(index * page_size);
                let _ = hwpt
                    .domain
                    .with_table(|t| t.translate(page, Access::WRITE).is_ok());
                count += 1;
            }
        }
        at += n as u64;
    }
    c.set_u64(40, count);
    u.respond_bytes(ctx, c.bytes()).map(|()| 0)
}

fn md_check_iotlb(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    super::nested::check_iotlb(ctx, c.id(), c.u32(0), c.u32(4)).map(|()| 0)
}

fn dev_check_cache(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (entry, want) = (c.u32(0) as usize, c.u32(4));
    if entry >= MOCK_DEV_CACHE_NUM {
        return err(libc::EINVAL, "no such cache entry");
    }
    let dev = ctx.device(c.id())?;
    let caches = mock(ctx)?.devices.lock();
    match caches.get(&dev.core_id()) {
        Some(cache) if cache[entry] == want => Ok(0),
        Some(_) => err(libc::EINVAL, "the cache entry differs"),
        None => err(libc::EINVAL, "not a mock device"),
    }
}

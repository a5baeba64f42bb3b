//! IOAS commands and `IOMMU_DESTROY` / `IOMMU_OPTION`, decoded from the kernel's structures.

use std::os::fd::BorrowedFd;

use iommufd_bindings as k;

use super::{Ucmd, read_struct, write_user};
use crate::context::{
    Context, OPTION_HUGE_PAGES, OPTION_OP_GET, OPTION_OP_SET, OPTION_RLIMIT_MODE,
};
use crate::error::{Result, err};

pub(super) fn destroy(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let c: k::iommu_destroy = u.cmd();
    ctx.destroy(c.id).map(|()| 0)
}

pub(super) fn alloc(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_ioas_alloc = u.cmd();
    if c.flags != 0 {
        return err(libc::EOPNOTSUPP, "IOAS_ALLOC takes no flags");
    }
    let id = ctx.ioas_alloc()?;
    c.out_ioas_id = id;
    if let Err(e) = u.respond(ctx, &c) {
        let _ = ctx.destroy(id);
        return Err(e);
    }
    Ok(0)
}

pub(super) fn allow_iovas(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let c: k::iommu_ioas_allow_iovas = u.cmd();
    if c.__reserved != 0 {
        return err(libc::EOPNOTSUPP, "reserved field not zero");
    }
    // The IOAS is looked up before the array is read, as the kernel does.
    ctx.ioas(c.ioas_id)?;
    let mut ranges = Vec::new();
    for i in 0..u64::from(c.num_iovas) {
        let Some(addr) = c.allowed_iovas.checked_add(i * 16) else {
            return err(libc::EFAULT, "bad address");
        };
        let r: k::iommu_iova_range = read_struct(ctx, addr)?;
        ranges.push((r.start, r.last));
    }
    ctx.ioas_allow_iovas(c.ioas_id, &ranges).map(|()| 0)
}

pub(super) fn iova_ranges(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_ioas_iova_ranges = u.cmd();
    if c.__reserved != 0 {
        return err(libc::EOPNOTSUPP, "reserved field not zero");
    }
    let r = ctx.ioas_iova_ranges(c.ioas_id)?;
    let max = c.num_iovas as usize;
    for (i, &(start, last)) in r.ranges.iter().take(max).enumerate() {
        let elm = k::iommu_iova_range { start, last };
        let Some(addr) = c.allowed_iovas.checked_add(i as u64 * 16) else {
            return err(libc::EFAULT, "bad address");
        };
        write_user(ctx, addr, super::pod::encode(&elm))?;
    }
    c.num_iovas = u32::try_from(r.ranges.len()).unwrap_or(u32::MAX);
    c.out_iova_alignment = r.alignment;
    u.respond(ctx, &c)?;
    if r.ranges.len() > max {
        return err(libc::EMSGSIZE, "more ranges than the array holds");
    }
    Ok(0)
}

pub(super) fn map(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_ioas_map = u.cmd();
    if c.__reserved != 0 {
        return err(libc::EOPNOTSUPP, "reserved field not zero");
    }
    c.iova = ctx.ioas_map(c.ioas_id, c.flags, c.user_va, c.length, c.iova)?;
    respond_or_unmap(ctx, u, &c, c.ioas_id, c.iova, c.length)
}

pub(super) fn map_file(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_ioas_map_file = u.cmd();
    if c.fd < 0 {
        return err(libc::EBADF, "bad file descriptor");
    }
    // SAFETY: the descriptor is only borrowed for this call; a closed or foreign number is
    // refused by the system calls made on it (EBADF), never dereferenced as memory.
    let fd = unsafe { BorrowedFd::borrow_raw(c.fd) };
    c.iova = ctx.ioas_map_file(c.ioas_id, c.flags, fd, c.start, c.length, c.iova)?;
    respond_or_unmap(ctx, u, &c, c.ioas_id, c.iova, c.length)
}

pub(super) fn copy(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_ioas_copy = u.cmd();
    c.dst_iova = ctx.ioas_copy(
        c.dst_ioas_id,
        c.src_ioas_id,
        c.flags,
        c.dst_iova,
        c.src_iova,
        c.length,
    )?;
    respond_or_unmap(ctx, u, &c, c.dst_ioas_id, c.dst_iova, c.length)
}

/// Answers a map; if the answer cannot be written, the mapping is undone (`EFAULT`).
fn respond_or_unmap<T: super::pod::Pod>(
    ctx: &Context,
    u: &Ucmd,
    c: &T,
    ioas: u32,
    iova: u64,
    length: u64,
) -> Result<i64> {
    if let Err(e) = u.respond(ctx, c) {
        let _ = ctx.ioas_unmap(ioas, iova, length);
        return Err(e);
    }
    Ok(0)
}

pub(super) fn unmap(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_ioas_unmap = u.cmd();
    c.length = ctx.ioas_unmap(c.ioas_id, c.iova, c.length)?;
    u.respond(ctx, &c).map(|()| 0)
}

pub(super) fn option(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_option = u.cmd();
    if c.__reserved != 0 {
        return err(libc::EOPNOTSUPP, "reserved field not zero");
    }
    let set = match c.op {
        OPTION_OP_GET => None,
        OPTION_OP_SET => Some(c.val64),
        _ => return err(libc::EOPNOTSUPP, "unknown option operation"),
    };
    c.val64 = match c.option_id {
        OPTION_RLIMIT_MODE => {
            if c.object_id != 0 {
                return err(libc::EOPNOTSUPP, "the accounting mode is global: object 0");
            }
            ctx.rlimit_mode(set)?
        }
        OPTION_HUGE_PAGES => ctx.ioas_huge_pages(c.object_id, set)?,
        _ => return err(libc::EOPNOTSUPP, "unknown option"),
    };
    // Only the value goes back.
    let at = c.val64.to_ne_bytes();
    let Some(addr) = u.arg.checked_add(16) else {
        return err(libc::EFAULT, "bad address");
    };
    write_user(ctx, addr, &at).map(|()| 0)
}

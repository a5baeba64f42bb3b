//! The container calls of VFIO's binary interface on a context, and `IOMMU_VFIO_IOAS`,
//! decoded from the kernel's structures.

use iommufd_bindings as k;
use vfio_bindings::bindings::vfio as v;

use super::compat::{VFIO_IOAS_CLEAR, VFIO_IOAS_GET, VFIO_IOAS_SET};
use super::vfio_ioctl;
use crate::context::Context;
use crate::error::{Result, err};
use crate::uapi::Ucmd;
use crate::uapi::pod::{self, Pod};
use crate::uapi::{read_user, write_user};

/// `VFIO_GET_API_VERSION`.
pub const VFIO_GET_API_VERSION: u32 = vfio_ioctl(0);
/// `VFIO_CHECK_EXTENSION`.
pub const VFIO_CHECK_EXTENSION: u32 = vfio_ioctl(1);
/// `VFIO_SET_IOMMU`.
pub const VFIO_SET_IOMMU: u32 = vfio_ioctl(2);
/// `VFIO_IOMMU_GET_INFO`.
pub const VFIO_IOMMU_GET_INFO: u32 = vfio_ioctl(12);
/// `VFIO_IOMMU_MAP_DMA`.
pub const VFIO_IOMMU_MAP_DMA: u32 = vfio_ioctl(13);
/// `VFIO_IOMMU_UNMAP_DMA`.
pub const VFIO_IOMMU_UNMAP_DMA: u32 = vfio_ioctl(14);
/// `VFIO_IOMMU_DIRTY_PAGES`: not offered (`ENOTTY`).
pub const VFIO_IOMMU_DIRTY_PAGES: u32 = vfio_ioctl(17);

/// Reads the leading `minsz` bytes of a VFIO structure `T` at `arg` (`EFAULT`), zero past
/// them.
pub(crate) fn read_min<T: Pod>(ctx: &Context, arg: u64, minsz: usize) -> Result<T> {
    let mut b = vec![0u8; minsz.min(std::mem::size_of::<T>())];
    read_user(ctx, arg, &mut b)?;
    Ok(pod::decode(&b))
}

/// Writes the first `n` bytes of `v` to `arg`.
pub(crate) fn write_prefix<T: Pod>(ctx: &Context, arg: u64, v: &T, n: usize) -> Result<()> {
    let b = pod::encode(v);
    write_user(ctx, arg, &b[..n.min(b.len())])
}

/// A container call on a context's file: `ENOTTY` for anything else.
pub(crate) fn container_ioctl(ctx: &Context, cmd: u32, arg: u64) -> Result<i64> {
    match cmd {
        VFIO_GET_API_VERSION => Ok(ctx.vfio_api_version()),
        VFIO_CHECK_EXTENSION => ctx.vfio_check_extension(arg),
        VFIO_SET_IOMMU => ctx.vfio_set_iommu(arg).map(|()| 0),
        VFIO_IOMMU_GET_INFO => get_info(ctx, arg),
        VFIO_IOMMU_MAP_DMA => map_dma(ctx, arg),
        VFIO_IOMMU_UNMAP_DMA => unmap_dma(ctx, arg),
        _ => err(libc::ENOTTY, "not a command of the context's file"),
    }
}

/// Address `off` bytes past `arg`.
fn at(arg: u64, off: usize) -> Result<u64> {
    arg.checked_add(off as u64)
        .ok_or(crate::error::Error::new(libc::EFAULT, "bad address"))
}

const INFO_MINSZ: usize = 16;
const INFO_SIZE: usize = std::mem::size_of::<v::vfio_iommu_type1_info>();
const CAP_IOVA_HEADER: usize = 16;

/// One capability of the info chain, written at `cap` with `avail` bytes of room; returns
/// its full size. A capability is written only where it fits (the IOVA ranges one range
/// at a time).
type FillCap = fn(&Context, &super::VfioIommuInfo, u64, usize) -> Result<usize>;

fn fill_dma_avail(
    ctx: &Context,
    i: &super::VfioIommuInfo,
    cap: u64,
    avail: usize,
) -> Result<usize> {
    let c = v::vfio_iommu_type1_info_dma_avail {
        header: v::vfio_info_cap_header {
            id: v::VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL as u16,
            version: 1,
            next: 0,
        },
        avail: i.dma_avail,
    };
    let size = std::mem::size_of_val(&c);
    if avail >= size {
        write_user(ctx, cap, pod::encode(&c))?;
    }
    Ok(size)
}

fn fill_iova(ctx: &Context, i: &super::VfioIommuInfo, cap: u64, avail: usize) -> Result<usize> {
    let n = i.iova_ranges.len();
    for (k, &(start, end)) in i.iova_ranges.iter().enumerate() {
        if avail >= CAP_IOVA_HEADER + 16 * (k + 1) {
            let r = v::vfio_iova_range { start, end };
            write_user(ctx, at(cap, CAP_IOVA_HEADER + 16 * k)?, pod::encode(&r))?;
        }
    }
    let size = CAP_IOVA_HEADER + 16 * n;
    if avail >= size {
        let h = v::vfio_info_cap_header {
            id: v::VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE as u16,
            version: 1,
            next: 0,
        };
        let mut b = pod::encode(&h).to_vec();
        b.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        write_user(ctx, cap, &b)?;
    }
    Ok(size)
}

/// `VFIO_IOMMU_GET_INFO`: the info structure, then the DMA-available and IOVA-range
/// capabilities chained after it, each written only where the caller's `argsz` holds it;
/// `argsz` comes back as the size that holds them all, and `cap_offset` is set only when
/// they all fit.
fn get_info(ctx: &Context, arg: u64) -> Result<i64> {
    let mut info: v::vfio_iommu_type1_info = read_min(ctx, arg, INFO_MINSZ)?;
    if (info.argsz as usize) < INFO_MINSZ {
        return err(libc::EINVAL, "argsz under the structure's minimum");
    }
    let argsz = info.argsz as usize;
    let minsz = argsz.min(INFO_SIZE);
    let data = ctx.vfio_iommu_info()?;
    info.flags = v::VFIO_IOMMU_INFO_PGSIZES;
    info.iova_pgsizes = data.iova_pgsizes;
    info.cap_offset = 0;
    let fills: [FillCap; 2] = [fill_dma_avail, fill_iova];
    let mut total = INFO_SIZE;
    let mut last_cap: Option<u64> = None;
    for fill in fills {
        let here = at(arg, total)?;
        let size = if argsz > total {
            fill(ctx, &data, here, argsz - total)?
        } else {
            fill(ctx, &data, here, 0)?
        };
        if let Some(last) = last_cap
            && argsz >= total
        {
            let next = u32::try_from(total).unwrap_or(u32::MAX);
            write_user(ctx, at(last, 4)?, &next.to_ne_bytes())?;
        }
        last_cap = Some(here);
        total += size;
    }
    if argsz >= total {
        info.cap_offset = INFO_SIZE as u32;
    }
    info.argsz = u32::try_from(total).unwrap_or(u32::MAX);
    info.flags |= v::VFIO_IOMMU_INFO_CAPS;
    write_prefix(ctx, arg, &info, minsz)?;
    Ok(0)
}

/// `VFIO_IOMMU_MAP_DMA`.
fn map_dma(ctx: &Context, arg: u64) -> Result<i64> {
    let minsz = std::mem::size_of::<v::vfio_iommu_type1_dma_map>();
    let m: v::vfio_iommu_type1_dma_map = read_min(ctx, arg, minsz)?;
    if (m.argsz as usize) < minsz {
        return err(libc::EINVAL, "argsz under the structure's minimum");
    }
    ctx.vfio_map_dma(m.flags, m.vaddr, m.iova, m.size)
        .map(|()| 0)
}

/// `VFIO_IOMMU_UNMAP_DMA`: `{argsz, flags, iova, size}`; `size` comes back as the bytes
/// unmapped.
fn unmap_dma(ctx: &Context, arg: u64) -> Result<i64> {
    const MINSZ: usize = 24;
    let mut b = [0u8; MINSZ];
    read_user(ctx, arg, &mut b)?;
    let word = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let quad = |o: usize| {
        let mut q = [0u8; 8];
        q.copy_from_slice(&b[o..o + 8]);
        u64::from_ne_bytes(q)
    };
    let (argsz, flags, iova, size) = (word(0), word(4), quad(8), quad(16));
    if (argsz as usize) < MINSZ {
        return err(libc::EINVAL, "argsz under the structure's minimum");
    }
    let unmapped = ctx.vfio_unmap_dma(flags, iova, size)?;
    write_user(ctx, at(arg, 16)?, &unmapped.to_ne_bytes())?;
    Ok(0)
}

/// `IOMMU_VFIO_IOAS`: get, set or clear the compatibility IOAS.
pub(crate) fn vfio_ioas(ctx: &Context, u: &mut Ucmd) -> Result<i64> {
    let mut c: k::iommu_vfio_ioas = u.cmd();
    if c.__reserved != 0 {
        return err(libc::EOPNOTSUPP, "reserved field not zero");
    }
    match c.op {
        VFIO_IOAS_GET => {
            c.ioas_id = ctx.vfio_ioas_get()?;
            u.respond(ctx, &c)?;
        }
        VFIO_IOAS_SET => ctx.vfio_ioas_set(c.ioas_id)?,
        VFIO_IOAS_CLEAR => ctx.vfio_ioas_clear(),
        _ => return err(libc::EOPNOTSUPP, "unknown IOMMU_VFIO_IOAS operation"),
    }
    Ok(0)
}

//! VFIO's type1 container on a context, through the binary interface: each rule of the
//! kernel's iommufd compatibility layer, with the errno it answers.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Buffer, bytes_of, from_bytes, vtd};
use softiommu_iommufd::vfio::*;
use softiommu_iommufd::{Context, PAGE_SIZE, iommufd_ioctl};
use vfio_bindings::bindings::vfio as v;

/// `ioctl(fd, cmd, buf)` with the bytes of `buf` (updated in place).
fn raw(ctx: &Context, cmd: u32, buf: &mut [u8]) -> Result<i64, i32> {
    ctx.ioctl(u64::from(cmd), buf.as_mut_ptr() as u64)
        .map_err(|e| e.errno())
}

/// `ioctl(fd, cmd, &s)` with structure `s`.
fn call<T: Copy + Default>(ctx: &Context, cmd: u32, s: &mut T) -> Result<i64, i32> {
    let mut b = bytes_of(s);
    let r = raw(ctx, cmd, &mut b);
    *s = from_bytes(&b);
    r
}

/// `ioctl(fd, cmd, n)` with an integer argument.
fn int(ctx: &Context, cmd: u32, n: u64) -> Result<i64, i32> {
    ctx.ioctl(u64::from(cmd), n).map_err(|e| e.errno())
}

fn map(ctx: &Context, buf: &Buffer, off: usize, iova: u64, size: u64) -> Result<i64, i32> {
    let mut m = v::vfio_iommu_type1_dma_map {
        argsz: 32,
        flags: v::VFIO_DMA_MAP_FLAG_READ | v::VFIO_DMA_MAP_FLAG_WRITE,
        vaddr: buf.addr(off),
        iova,
        size,
    };
    call(ctx, VFIO_IOMMU_MAP_DMA, &mut m)
}

/// `{argsz, flags, iova, size}`; returns the call's result and the size written back.
fn unmap(ctx: &Context, flags: u32, iova: u64, size: u64) -> (Result<i64, i32>, u64) {
    let mut b = Vec::new();
    b.extend_from_slice(&24u32.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&iova.to_ne_bytes());
    b.extend_from_slice(&size.to_ne_bytes());
    let r = raw(ctx, VFIO_IOMMU_UNMAP_DMA, &mut b);
    (r, u64::from_ne_bytes(b[16..24].try_into().unwrap()))
}

/// A context with a compatibility IOAS and a device attached to it.
fn container(p: &common::Platform) -> Context {
    let ctx = p.context(1 << 30);
    let ioas = ctx.vfio_compat_ioas_create().unwrap();
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    ctx
}

#[test]
fn api_version_and_extensions_are_the_kernel_s() {
    let p = vtd(1);
    let ctx = p.context(1 << 20);
    assert_eq!(int(&ctx, VFIO_GET_API_VERSION, 0), Ok(0));
    for (ext, want) in [
        (VFIO_TYPE1_IOMMU, Ok(1)),
        (VFIO_TYPE1V2_IOMMU, Ok(1)),
        (VFIO_UNMAP_ALL, Ok(1)),
        (VFIO_TYPE1_NESTING_IOMMU, Ok(0)),
        (2, Ok(0)),
        (10, Ok(0)),
        (u64::MAX, Ok(0)),
        // Cache coherency is a question about the compatibility IOAS's domains.
        (VFIO_DMA_CC_IOMMU, Err(libc::ENODEV)),
    ] {
        assert_eq!(
            int(&ctx, VFIO_CHECK_EXTENSION, ext),
            want,
            "extension {ext}"
        );
    }
    ctx.vfio_compat_ioas_create().unwrap();
    assert_eq!(int(&ctx, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU), Ok(1));
    // Dirty tracking through the container, and numbers nothing answers, are ENOTTY.
    assert_eq!(int(&ctx, VFIO_IOMMU_DIRTY_PAGES, 0), Err(libc::ENOTTY));
    assert_eq!(int(&ctx, vfio_ioctl(3), 0), Err(libc::ENOTTY));
    assert_eq!(int(&ctx, iommufd_ioctl(0xb0), 0), Err(libc::ENOTTY));
}

#[test]
fn set_iommu_needs_a_group_and_a_type1_kind() {
    let p = vtd(1);
    let ctx = p.context(1 << 20);
    assert_eq!(
        int(&ctx, VFIO_SET_IOMMU, VFIO_TYPE1V2_IOMMU),
        Err(libc::ENODEV)
    );
    ctx.vfio_compat_ioas_create().unwrap();
    for bad in [0, 2, VFIO_TYPE1_NESTING_IOMMU, 8, 1 << 32 | 3] {
        assert_eq!(
            int(&ctx, VFIO_SET_IOMMU, bad),
            Err(libc::EINVAL),
            "type {bad}"
        );
    }
    assert_eq!(int(&ctx, VFIO_SET_IOMMU, VFIO_TYPE1V2_IOMMU), Ok(0));
    assert_eq!(int(&ctx, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), Ok(0));
}

#[test]
fn type1_v1_turning_large_pages_off_fails_once_domains_hold_mappings() {
    let p = vtd(1);
    let ctx = container(&p);
    let buf = Buffer::new(64 << 10, 4096);
    map(&ctx, &buf, 0, 0x10_0000, 64 << 10).unwrap();
    assert_eq!(
        int(&ctx, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU),
        Err(libc::EINVAL)
    );
    assert_eq!(int(&ctx, VFIO_SET_IOMMU, VFIO_TYPE1V2_IOMMU), Ok(0));
}

#[test]
fn type1v2_refuses_to_unmap_part_of_a_mapping() {
    let p = vtd(1);
    let ctx = container(&p);
    int(&ctx, VFIO_SET_IOMMU, VFIO_TYPE1V2_IOMMU).unwrap();
    let buf = Buffer::new(64 << 10, 4096);
    map(&ctx, &buf, 0, 0x10_0000, 64 << 10).unwrap();
    assert_eq!(unmap(&ctx, 0, 0x10_0000, 0x1000).0, Err(libc::ENOENT));
    assert_eq!(unmap(&ctx, 0, 0x10_4000, 0x4000).0, Err(libc::ENOENT));
    assert_eq!(unmap(&ctx, 0, 0x20_0000, 0x1000).0, Err(libc::ENOENT));
    assert_eq!(unmap(&ctx, 0, 0x10_0000, 0).0, Err(libc::EINVAL));
    assert_eq!(p.host.pinned_pages(), 16, "nothing was unmapped");
    assert_eq!(unmap(&ctx, 0, 0x10_0000, 64 << 10), (Ok(0), 64 << 10));
    assert_eq!(p.host.pinned_pages(), 0);
}

#[test]
fn type1_cuts_mappings_so_that_any_pages_can_be_unmapped() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ctx.vfio_compat_ioas_create().unwrap();
    int(&ctx, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU).unwrap();
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    let buf = Buffer::new(64 << 10, 4096);
    map(&ctx, &buf, 0, 0x10_0000, 64 << 10).unwrap();
    // A page in the middle: the mapping is cut at both ends of it.
    assert_eq!(unmap(&ctx, 0, 0x10_4000, 0x1000), (Ok(0), 0x1000));
    let iommu = p.host.iommu();
    let read = softiommu_pgtable::Access::READ;
    assert!(iommu.dma(p.devs[0], None, 0x10_4000, read).is_err());
    let t = iommu.dma(p.devs[0], None, 0x10_5000, read).unwrap();
    assert_eq!(t.pa, buf.addr(0x5000));
    assert_eq!(p.host.pinned_pages(), 15);
    // Off a page: EINVAL, nothing unmapped.
    assert_eq!(unmap(&ctx, 0, 0x10_0800, 0x1000).0, Err(libc::EINVAL));
    assert_eq!(p.host.pinned_pages(), 15);
    // The pieces unmap as mappings of their own, and a range across several takes all.
    assert_eq!(unmap(&ctx, 0, 0x10_0000, 0x2000), (Ok(0), 0x2000));
    assert_eq!(unmap(&ctx, 0, 0x10_2000, 0x8000), (Ok(0), 0x7000));
    assert_eq!(p.host.pinned_pages(), 6);
    assert_eq!(
        unmap(&ctx, VFIO_DMA_UNMAP_FLAG_ALL, 0, 0),
        (Ok(0), 6 * PAGE_SIZE)
    );
    assert_eq!(p.host.pinned_pages(), 0);
}

#[test]
fn unmap_flags_the_kernel_does_not_offer_are_einval() {
    let p = vtd(1);
    let ctx = container(&p);
    let buf = Buffer::new(8192, 4096);
    map(&ctx, &buf, 0, 0x4000, 8192).unwrap();
    let dirty = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
    assert_eq!(unmap(&ctx, dirty, 0x4000, 8192).0, Err(libc::EINVAL));
    assert_eq!(unmap(&ctx, 4, 0x4000, 8192).0, Err(libc::EINVAL));
    let all = VFIO_DMA_UNMAP_FLAG_ALL;
    assert_eq!(unmap(&ctx, all, 0x4000, 0).0, Err(libc::EINVAL));
    assert_eq!(unmap(&ctx, all, 0, 1).0, Err(libc::EINVAL));
    assert_eq!(unmap(&ctx, all, 0, 0), (Ok(0), 8192));
    assert_eq!(
        unmap(&ctx, all, 0, 0),
        (Ok(0), 0),
        "an empty unmap-all succeeds"
    );
    // argsz under {argsz, flags, iova, size}.
    let mut short = [0u8; 24];
    short[..4].copy_from_slice(&20u32.to_ne_bytes());
    assert_eq!(
        raw(&ctx, VFIO_IOMMU_UNMAP_DMA, &mut short),
        Err(libc::EINVAL)
    );
}

#[test]
fn map_dma_checks_argsz_and_flags_and_needs_the_compatibility_ioas() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(8192, 4096);
    assert_eq!(map(&ctx, &buf, 0, 0x4000, 8192), Err(libc::ENODEV));
    ctx.vfio_compat_ioas_create().unwrap();
    let mut m = v::vfio_iommu_type1_dma_map {
        argsz: 24,
        flags: v::VFIO_DMA_MAP_FLAG_READ,
        vaddr: buf.addr(0),
        iova: 0x4000,
        size: 8192,
    };
    assert_eq!(call(&ctx, VFIO_IOMMU_MAP_DMA, &mut m), Err(libc::EINVAL));
    m.argsz = 32;
    m.flags = v::VFIO_DMA_MAP_FLAG_VADDR | v::VFIO_DMA_MAP_FLAG_READ;
    assert_eq!(call(&ctx, VFIO_IOMMU_MAP_DMA, &mut m), Err(libc::EINVAL));
    m.flags = v::VFIO_DMA_MAP_FLAG_READ;
    assert_eq!(call(&ctx, VFIO_IOMMU_MAP_DMA, &mut m), Ok(0));
    // The IOVA is the caller's: a second map over it is EEXIST.
    assert_eq!(call(&ctx, VFIO_IOMMU_MAP_DMA, &mut m), Err(libc::EEXIST));
    // Maps through the container are charged to the process.
    assert_eq!(ctx.object_count(), 1);
}

/// Reads a `u16`/`u32`/`u64` of `b` at `o`.
fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_ne_bytes(b[o..o + 8].try_into().unwrap())
}

#[test]
fn get_info_lays_out_its_capability_chain_as_the_kernel_does() {
    let p = vtd(1);
    let ctx = container(&p);
    let info = ctx.vfio_iommu_info().unwrap();
    let n = info.iova_ranges.len();
    assert!(n >= 1);
    let total = 24 + 12 + 16 + 16 * n;

    // Under the minimum (argsz, flags, iova_pgsizes): EINVAL.
    let mut b = vec![0u8; 24];
    b[..4].copy_from_slice(&15u32.to_ne_bytes());
    assert_eq!(raw(&ctx, VFIO_IOMMU_GET_INFO, &mut b), Err(libc::EINVAL));

    // Room for the minimum only: the size that holds everything comes back, no chain.
    let mut b = vec![0xeeu8; 24];
    b[..4].copy_from_slice(&16u32.to_ne_bytes());
    assert_eq!(raw(&ctx, VFIO_IOMMU_GET_INFO, &mut b), Ok(0));
    assert_eq!(u32_at(&b, 0) as usize, total);
    assert_eq!(
        u32_at(&b, 4),
        v::VFIO_IOMMU_INFO_PGSIZES | v::VFIO_IOMMU_INFO_CAPS
    );
    assert_eq!(u64_at(&b, 8), info.iova_pgsizes);
    assert_eq!(&b[16..], &[0xee; 8], "nothing past argsz is written");
    assert_eq!(info.iova_pgsizes & 0xfff, 0, "nothing below a page");
    assert_ne!(info.iova_pgsizes & PAGE_SIZE, 0);

    // Room for the first capability only: it is written, cap_offset stays 0.
    let mut b = vec![0u8; 36];
    b[..4].copy_from_slice(&36u32.to_ne_bytes());
    assert_eq!(raw(&ctx, VFIO_IOMMU_GET_INFO, &mut b), Ok(0));
    assert_eq!((u32_at(&b, 0) as usize, u32_at(&b, 16)), (total, 0));
    let dma_avail = v::VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL as u16;
    assert_eq!((u16_at(&b, 24), u16_at(&b, 26)), (dma_avail, 1));
    assert_eq!((u32_at(&b, 28), u32_at(&b, 32)), (36, u32::MAX));

    // Room for everything: the whole chain, byte for byte.
    let mut b = vec![0u8; total + 8];
    b[..4].copy_from_slice(&(total as u32 + 8).to_ne_bytes());
    assert_eq!(raw(&ctx, VFIO_IOMMU_GET_INFO, &mut b), Ok(0));
    assert_eq!((u32_at(&b, 0) as usize, u32_at(&b, 16)), (total, 24));
    assert_eq!((u16_at(&b, 24), u32_at(&b, 28)), (dma_avail, 36));
    let iova_cap = v::VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE as u16;
    assert_eq!((u16_at(&b, 36), u16_at(&b, 38)), (iova_cap, 1));
    assert_eq!((u32_at(&b, 40), u32_at(&b, 44)), (0, n as u32));
    for (k, &(start, end)) in info.iova_ranges.iter().enumerate() {
        let o = 52 + 16 * k;
        assert_eq!((u64_at(&b, o), u64_at(&b, o + 8)), (start, end));
    }
    assert_eq!(&b[total..], &[0; 8]);

    // Without a compatibility IOAS: ENODEV.
    ctx.vfio_ioas_clear();
    let mut b = vec![0u8; 24];
    b[..4].copy_from_slice(&24u32.to_ne_bytes());
    assert_eq!(raw(&ctx, VFIO_IOMMU_GET_INFO, &mut b), Err(libc::ENODEV));
}

#[test]
fn vfio_ioas_gets_sets_and_clears_the_compatibility_ioas() {
    let p = vtd(1);
    let ctx = p.context(1 << 20);
    let cmd = |op: u16, id: u32, rsv: u16| {
        let mut c = iommufd_bindings::iommu_vfio_ioas {
            size: 12,
            ioas_id: id,
            op,
            __reserved: rsv,
        };
        let r = call(&ctx, iommufd_ioctl(0x88), &mut c);
        r.map(|_| c.ioas_id)
    };
    assert_eq!(cmd(VFIO_IOAS_GET, 0, 0), Err(libc::ENODEV));
    let a = ctx.ioas_alloc().unwrap();
    let b = ctx.ioas_alloc().unwrap();
    assert_eq!(cmd(VFIO_IOAS_SET, b, 0), Ok(b));
    assert_eq!(cmd(VFIO_IOAS_GET, 0, 0), Ok(b));
    assert_eq!(cmd(VFIO_IOAS_SET, 77, 0), Err(libc::ENOENT));
    assert_eq!(cmd(VFIO_IOAS_GET, 0, 1), Err(libc::EOPNOTSUPP));
    assert_eq!(cmd(3, 0, 0), Err(libc::EOPNOTSUPP));
    assert_eq!(cmd(VFIO_IOAS_CLEAR, 0, 0), Ok(0));
    assert_eq!(cmd(VFIO_IOAS_GET, 0, 0), Err(libc::ENODEV));
    // A destroyed IOAS is no longer the compatibility IOAS, even when its id is reused.
    assert_eq!(cmd(VFIO_IOAS_SET, a, 0), Ok(a));
    ctx.destroy(a).unwrap();
    assert_eq!(cmd(VFIO_IOAS_GET, 0, 0), Err(libc::ENODEV));
    assert_eq!(ctx.ioas_alloc().unwrap(), a);
    assert_eq!(cmd(VFIO_IOAS_GET, 0, 0), Err(libc::ENODEV));
    // Creating one for a group reuses the one set.
    assert_eq!(cmd(VFIO_IOAS_SET, b, 0), Ok(b));
    assert_eq!(ctx.vfio_compat_ioas_create().unwrap(), b);
}

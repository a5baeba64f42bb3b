//! The kernel's framing of every `/dev/iommu` command, through the binary interface: the size
//! read first, the minimum size, the zero tail, unknown commands, the copy-back, id 0.

mod common;

use common::ops::{destroy, ioas_alloc};
use common::{bytes_of, from_bytes, vtd};
use iommufd_bindings as k;
use softiommu_iommufd::iommufd_ioctl;

fn raw(ctx: &softiommu_iommufd::Context, cmd: u32, buf: &mut [u8]) -> Result<i64, i32> {
    ctx.ioctl(u64::from(cmd), buf.as_mut_ptr() as u64)
        .map_err(|e| e.errno())
}

#[test]
fn a_size_under_the_minimum_is_einval() {
    let p = vtd(0);
    let ctx = p.context(1 << 20);
    let mut b = bytes_of(&k::iommu_ioas_alloc {
        size: 8,
        ..Default::default()
    });
    assert_eq!(raw(&ctx, iommufd_ioctl(0x81), &mut b), Err(libc::EINVAL));
    assert_eq!(ctx.object_count(), 0);
}

#[test]
fn a_longer_structure_with_a_zero_tail_is_accepted_and_the_tail_left_alone() {
    let p = vtd(0);
    let ctx = p.context(1 << 20);
    let mut b = bytes_of(&k::iommu_ioas_alloc {
        size: 64,
        ..Default::default()
    });
    b.resize(64, 0);
    assert_eq!(raw(&ctx, iommufd_ioctl(0x81), &mut b), Ok(0));
    let out: k::iommu_ioas_alloc = from_bytes(&b);
    assert_eq!(out.out_ioas_id, 1);
    assert!(b[12..].iter().all(|&x| x == 0));
}

#[test]
fn a_non_zero_byte_past_the_structure_is_e2big() {
    let p = vtd(0);
    let ctx = p.context(1 << 20);
    let mut b = bytes_of(&k::iommu_ioas_alloc {
        size: 16,
        ..Default::default()
    });
    b.resize(16, 0);
    b[15] = 1;
    assert_eq!(raw(&ctx, iommufd_ioctl(0x81), &mut b), Err(libc::E2BIG));
    assert_eq!(ctx.object_count(), 0);
}

#[test]
fn a_short_caller_gets_back_only_its_own_bytes() {
    let p = vtd(0);
    let ctx = p.context(1 << 20);
    // IOMMU_HWPT_ALLOC-style minimums do not apply here: IOAS_ALLOC needs all 12 bytes, so
    // use IOVA_RANGES (32 bytes) with a buffer exactly its size and a sentinel after it.
    let ioas = ioas_alloc(&ctx);
    let mut b = bytes_of(&k::iommu_ioas_iova_ranges {
        size: 32,
        ioas_id: ioas,
        ..Default::default()
    });
    b.extend_from_slice(&[0xee; 8]);
    assert_eq!(raw(&ctx, iommufd_ioctl(0x84), &mut b), Err(libc::EMSGSIZE));
    let out: k::iommu_ioas_iova_ranges = from_bytes(&b);
    assert_eq!(out.num_iovas, 1);
    assert_eq!(out.out_iova_alignment, 1);
    assert_eq!(
        &b[32..],
        &[0xee; 8],
        "nothing written past the caller's size"
    );
}

#[test]
fn unknown_commands_are_enotty() {
    let p = vtd(0);
    let ctx = p.context(1 << 20);
    let mut b = vec![0u8; 64];
    b[0] = 64;
    for nr in [0x95, 0x9c, 0x9f, 0xa1, 0xff] {
        assert_eq!(
            raw(&ctx, iommufd_ioctl(nr), &mut b),
            Err(libc::ENOTTY),
            "nr {nr:#x}"
        );
    }
    // The right number with another ioctl type or direction bits is not the command.
    assert_eq!(raw(&ctx, 0x4000_3B81, &mut b), Err(libc::ENOTTY));
    assert_eq!(raw(&ctx, 0x3C81, &mut b), Err(libc::ENOTTY));
}

#[test]
fn id_zero_is_never_an_object() {
    let p = vtd(0);
    let ctx = p.context(1 << 20);
    assert_eq!(destroy(&ctx, 0), Err(libc::ENOENT));
    let ioas = ioas_alloc(&ctx);
    assert_eq!(ioas, 1, "ids start at 1");
    assert_eq!(destroy(&ctx, 0), Err(libc::ENOENT));
    assert_eq!(destroy(&ctx, 2), Err(libc::ENOENT));
    assert_eq!(destroy(&ctx, ioas), Ok(()));
    assert_eq!(destroy(&ctx, ioas), Err(libc::ENOENT));
}

#[test]
fn a_bad_pointer_is_efault() {
    let p = vtd(0);
    let ctx = p.context(1 << 20);
    // ioctl(fd, IOMMU_DESTROY, NULL)
    assert_eq!(
        ctx.ioctl(u64::from(iommufd_ioctl(0x80)), 0)
            .map_err(|e| e.errno()),
        Err(libc::EFAULT)
    );
    assert_eq!(
        ctx.ioctl(u64::from(iommufd_ioctl(0x81)), u64::MAX - 2)
            .map_err(|e| e.errno()),
        Err(libc::EFAULT)
    );
}

#[test]
fn a_structure_whose_tail_runs_into_unmapped_memory_is_efault() {
    let p = vtd(0);
    let ctx = p.context(1 << 20);
    // The structure ends a page; the next page is inaccessible; its size claims 64 bytes.
    let mut buf = common::Buffer::new(8192, 4096);
    let at = 4096 - 12;
    let b = bytes_of(&k::iommu_ioas_alloc {
        size: 64,
        ..Default::default()
    });
    buf.bytes_mut()[at..4096].copy_from_slice(&b);
    let guard = buf.addr(4096) as *mut libc::c_void;
    // SAFETY: the page belongs to `buf` and is made accessible again before it is freed.
    assert_eq!(unsafe { libc::mprotect(guard, 4096, libc::PROT_NONE) }, 0);
    let r = ctx.ioctl(u64::from(iommufd_ioctl(0x81)), buf.addr(at));
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::mprotect(guard, 4096, libc::PROT_READ | libc::PROT_WRITE) },
        0
    );
    assert_eq!(r.map_err(|e| e.errno()), Err(libc::EFAULT));
    assert_eq!(ctx.object_count(), 0);
}

#[test]
fn ids_are_reused_lowest_first() {
    let p = vtd(0);
    let ctx = p.context(1 << 20);
    let a = ioas_alloc(&ctx);
    let b = ioas_alloc(&ctx);
    let c = ioas_alloc(&ctx);
    assert_eq!((a, b, c), (1, 2, 3));
    destroy(&ctx, b).unwrap();
    assert_eq!(ioas_alloc(&ctx), 2);
}

#[test]
fn ioas_alloc_takes_no_flags() {
    let p = vtd(0);
    let ctx = p.context(1 << 20);
    let mut c = k::iommu_ioas_alloc {
        size: 12,
        flags: 1,
        out_ioas_id: 0,
    };
    assert_eq!(common::call(&ctx, 0x81, &mut c), Err(libc::EOPNOTSUPP));
}

/// An `IOMMU_HWPT_ALLOC` of a plain paging HWPT on a bound device, with the caller's size 24
/// (the command's minimum: the fields up to `out_hwpt_id`), as bytes.
fn short_hwpt_alloc(ctx: &softiommu_iommufd::Context, p: &common::Platform) -> Vec<u8> {
    let ioas = ioas_alloc(ctx);
    let dev = ctx.device_bind(p.devs[0]).expect("bind");
    bytes_of(&k::iommu_hwpt_alloc {
        size: 24,
        dev_id: dev,
        pt_id: ioas,
        ..Default::default()
    })
}

#[test]
fn bytes_past_a_short_size_are_not_read_as_the_structure() {
    let p = vtd(1);
    let ctx = p.context(1 << 20);
    let mut b = short_hwpt_alloc(&ctx, &p);
    // What follows the caller's 24 bytes would be a driver-data type, its length and pointer,
    // and a fault queue: none of it is the caller's, so it must read as zero.
    b[24..].fill(0xa5);
    let before = b[24..].to_vec();
    assert_eq!(raw(&ctx, iommufd_ioctl(0x89), &mut b), Ok(0));
    let out: k::iommu_hwpt_alloc = from_bytes(&b);
    assert_ne!(out.out_hwpt_id, 0);
    assert_eq!(
        b[24..],
        before[..],
        "nothing written past the caller's size"
    );
}

#[test]
fn a_short_structure_that_ends_where_memory_does_is_read() {
    let p = vtd(1);
    let ctx = p.context(1 << 20);
    let b = short_hwpt_alloc(&ctx, &p);
    // The caller's 24 bytes end a page and the next page is inaccessible: the kernel reads
    // only the caller's size, so the call succeeds.
    let mut buf = common::Buffer::new(8192, 4096);
    let at = 4096 - 24;
    buf.bytes_mut()[at..4096].copy_from_slice(&b[..24]);
    let guard = buf.addr(4096) as *mut libc::c_void;
    // SAFETY: the page belongs to `buf` and is made accessible again before it is freed.
    assert_eq!(unsafe { libc::mprotect(guard, 4096, libc::PROT_NONE) }, 0);
    let r = ctx.ioctl(u64::from(iommufd_ioctl(0x89)), buf.addr(at));
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::mprotect(guard, 4096, libc::PROT_READ | libc::PROT_WRITE) },
        0
    );
    assert_eq!(r.map_err(|e| e.errno()), Ok(0));
    let id = u32::from_ne_bytes(
        buf.bytes_mut()[at + 16..at + 20]
            .try_into()
            .expect("4 bytes"),
    );
    assert_ne!(id, 0, "the new HWPT's id was written back");
}

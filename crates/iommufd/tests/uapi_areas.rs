//! The IOAS rules the kernel's interface is easy to get wrong on, one test each, through the
//! binary interface with the kernel's structures: areas, alignment, copies, pinning and
//! accounting.

mod common;

use common::ops::{copy, destroy, ioas_alloc, map, option, ranges, unmap};
use common::{Buffer, vtd};
use softiommu_iommufd::{MAP_FIXED_IOVA as FIXED, MAP_READABLE, MAP_WRITEABLE};

const RW: u32 = MAP_READABLE | MAP_WRITEABLE;
const PAGE: u64 = 4096;

#[test]
fn unmap_of_part_of_an_area_is_enoent_and_keeps_it() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let buf = Buffer::new(4 * PAGE as usize, 4096);
    map(&ctx, ioas, RW | FIXED, buf.addr(0), 4 * PAGE, 0x10000).unwrap();
    assert_eq!(unmap(&ctx, ioas, 0x10000, PAGE), Err(libc::ENOENT));
    assert_eq!(unmap(&ctx, ioas, 0x11000, 3 * PAGE), Err(libc::ENOENT));
    assert_eq!(unmap(&ctx, ioas, 0x10000, 4 * PAGE), Ok(4 * PAGE));
}

#[test]
fn unmap_of_a_range_holding_nothing_is_enoent() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    assert_eq!(unmap(&ctx, ioas, 0x10000, PAGE), Err(libc::ENOENT));
}

#[test]
fn unmap_of_everything_succeeds_even_when_empty_and_counts_the_bytes() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    assert_eq!(unmap(&ctx, ioas, 0, u64::MAX), Ok(0));
    let buf = Buffer::new(8 * PAGE as usize, 4096);
    map(&ctx, ioas, RW | FIXED, buf.addr(0), 3 * PAGE, 0x10000).unwrap();
    map(&ctx, ioas, RW | FIXED, buf.addr(0), 5 * PAGE, 0x80000).unwrap();
    // A range holding two whole areas and holes removes both: the exact byte count.
    assert_eq!(unmap(&ctx, ioas, 0, 0x100000), Ok(8 * PAGE));
    map(&ctx, ioas, RW | FIXED, buf.addr(0), 3 * PAGE, 0x10000).unwrap();
    assert_eq!(unmap(&ctx, ioas, 0, u64::MAX), Ok(3 * PAGE));
}

#[test]
fn a_mapping_over_another_is_eexist() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let buf = Buffer::new(4 * PAGE as usize, 4096);
    map(&ctx, ioas, RW | FIXED, buf.addr(0), 2 * PAGE, 0x10000).unwrap();
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), 2 * PAGE, 0x11000),
        Err(libc::EEXIST)
    );
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), 2 * PAGE, 0xf000),
        Err(libc::EEXIST)
    );
    map(&ctx, ioas, RW | FIXED, buf.addr(0), 2 * PAGE, 0x12000).unwrap();
}

#[test]
fn a_mapping_neither_readable_nor_writeable_is_einval() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let buf = Buffer::new(PAGE as usize, 4096);
    assert_eq!(
        map(&ctx, ioas, FIXED, buf.addr(0), PAGE, 0x10000),
        Err(libc::EINVAL)
    );
    assert_eq!(
        map(&ctx, ioas, RW | 8, buf.addr(0), PAGE, 0x10000),
        Err(libc::EOPNOTSUPP)
    );
}

#[test]
fn iova_or_length_of_ulong_max_is_eoverflow() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let buf = Buffer::new(PAGE as usize, 4096);
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), PAGE, u64::MAX),
        Err(libc::EOVERFLOW)
    );
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), u64::MAX, 0),
        Err(libc::EOVERFLOW)
    );
    // The last page plus a page wraps around.
    assert_eq!(
        map(
            &ctx,
            ioas,
            RW | FIXED,
            buf.addr(0),
            2 * PAGE,
            u64::MAX - PAGE + 1
        ),
        Err(libc::EOVERFLOW)
    );
    assert_eq!(unmap(&ctx, ioas, u64::MAX, 1), Err(libc::EOVERFLOW));
    assert_eq!(unmap(&ctx, ioas, 1, u64::MAX), Err(libc::EOVERFLOW));
}

#[test]
fn a_domain_raises_the_alignment_and_refuses_what_does_not_keep_it() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    assert_eq!(ranges(&ctx, ioas, 4).2, 1, "no domain: any alignment");
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    assert_eq!(ranges(&ctx, ioas, 4).2, PAGE);
    let buf = Buffer::new(4 * PAGE as usize, 4096);
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), PAGE, 0x10800),
        Err(libc::EINVAL)
    );
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0x800), PAGE, 0x10000),
        Err(libc::EINVAL)
    );
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), 0x800, 0x10000),
        Err(libc::EINVAL)
    );
    map(&ctx, ioas, RW | FIXED, buf.addr(0), PAGE, 0x10000).unwrap();
}

#[test]
fn raising_the_alignment_over_a_misaligned_area_is_eaddrinuse() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let buf = Buffer::new(4 * PAGE as usize, 4096);
    map(&ctx, ioas, RW | FIXED, buf.addr(0x800), 0x800, 0x10800).unwrap();
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    assert_eq!(
        ctx.device_attach(dev, ioas).unwrap_err().errno(),
        libc::EADDRINUSE
    );
    assert_eq!(ranges(&ctx, ioas, 4).2, 1, "the alignment went back");
    assert_eq!(p.host.pinned_pages(), 0);
    unmap(&ctx, ioas, 0, u64::MAX).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
}

#[test]
fn huge_pages_off_aligns_to_a_page_and_cannot_change_under_filled_domains() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    assert_eq!(
        option(&ctx, 1, 1, ioas, 0),
        Ok(1),
        "large pages on by default"
    );
    assert_eq!(option(&ctx, 1, 0, ioas, 0), Ok(0));
    assert_eq!(ranges(&ctx, ioas, 4).2, PAGE);
    assert_eq!(option(&ctx, 1, 0, ioas, 2), Err(libc::EINVAL));
    assert_eq!(option(&ctx, 1, 0, ioas, 1), Ok(1));
    assert_eq!(ranges(&ctx, ioas, 4).2, 1);
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    let buf = Buffer::new(4 * PAGE as usize, 4096);
    map(&ctx, ioas, RW | FIXED, buf.addr(0), PAGE, 0x10000).unwrap();
    assert_eq!(option(&ctx, 1, 0, ioas, 0), Err(libc::EINVAL));
    assert_eq!(option(&ctx, 1, 0, 99, 0), Err(libc::ENOENT));
    assert_eq!(option(&ctx, 7, 1, ioas, 0), Err(libc::EOPNOTSUPP));
    assert_eq!(option(&ctx, 1, 9, ioas, 0), Err(libc::EOPNOTSUPP));
}

#[test]
fn with_huge_pages_off_part_of_a_large_mapping_maps_page_by_page() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    option(&ctx, 1, 0, ioas, 0).unwrap();
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    let buf = Buffer::new(4 << 20, 2 << 20);
    map(&ctx, ioas, RW | FIXED, buf.addr(0), 4 << 20, 0x4000_0000).unwrap();
    let t = p
        .host
        .iommu()
        .dma(
            p.devs[0],
            None,
            0x4000_1000,
            softiommu_pgtable::Access::READ,
        )
        .unwrap();
    assert_eq!(t.pa, buf.addr(0x1000));
}

#[test]
fn a_copy_needs_its_source_wholly_mapped_and_shares_the_pins() {
    let p = vtd(2);
    let ctx = p.context(1 << 30);
    let a = ioas_alloc(&ctx);
    let b = ioas_alloc(&ctx);
    let buf = Buffer::new(8 * PAGE as usize, 4096);
    map(&ctx, a, RW | FIXED, buf.addr(0), 4 * PAGE, 0x10000).unwrap();
    map(
        &ctx,
        a,
        RW | FIXED,
        buf.addr(4 * PAGE as usize),
        2 * PAGE,
        0x14000,
    )
    .unwrap();
    // A hole after the second area: the source is not wholly mapped.
    assert_eq!(
        copy(&ctx, b, a, RW | FIXED, 0x90000, 0x10000, 8 * PAGE),
        Err(libc::ENOENT)
    );
    assert_eq!(
        copy(&ctx, b, a, RW | FIXED, 0x90000, 0x8000, 2 * PAGE),
        Err(libc::ENOENT)
    );
    // Two contiguous areas make one copy of two areas; part of an area can be copied.
    assert_eq!(
        copy(&ctx, b, a, RW | FIXED, 0x90000, 0x11000, 5 * PAGE),
        Ok(0x90000)
    );
    let da = ctx.device_bind(p.devs[0]).unwrap();
    let db = ctx.device_bind(p.devs[1]).unwrap();
    ctx.device_attach(da, a).unwrap();
    ctx.device_attach(db, b).unwrap();
    assert_eq!(
        p.host.pins_of(buf.addr(PAGE as usize)),
        1,
        "one pin for both domains"
    );
    let t = p
        .host
        .iommu()
        .dma(
            p.devs[1],
            None,
            0x90000 + 4 * PAGE,
            softiommu_pgtable::Access::READ,
        )
        .unwrap();
    assert_eq!(t.pa, buf.addr(5 * PAGE as usize));
    // The copy is its own areas: unmapping the source leaves it.
    unmap(&ctx, a, 0, u64::MAX).unwrap();
    assert_eq!(p.host.pins_of(buf.addr(PAGE as usize)), 1);
    // The copy made two areas (3 and 2 pages): a range ending inside the second splits it.
    assert_eq!(unmap(&ctx, b, 0x90000, 4 * PAGE), Err(libc::ENOENT));
    assert_eq!(unmap(&ctx, b, 0x90000, 3 * PAGE), Ok(3 * PAGE));
    assert_eq!(unmap(&ctx, b, 0, u64::MAX), Ok(2 * PAGE));
    assert_eq!(p.host.pinned_pages(), 0);
    // Within one IOAS.
    map(&ctx, a, RW | FIXED, buf.addr(0), 4 * PAGE, 0x10000).unwrap();
    assert_eq!(
        copy(&ctx, a, a, RW | FIXED, 0x20000, 0x10000, 4 * PAGE),
        Ok(0x20000)
    );
}

#[test]
fn a_copy_of_read_only_memory_cannot_be_writeable() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let a = ioas_alloc(&ctx);
    let buf = Buffer::new(PAGE as usize, 4096);
    map(&ctx, a, MAP_READABLE | FIXED, buf.addr(0), PAGE, 0x10000).unwrap();
    assert_eq!(
        copy(&ctx, a, a, RW | FIXED, 0x20000, 0x10000, PAGE),
        Err(libc::EPERM)
    );
    assert_eq!(
        copy(&ctx, a, a, MAP_READABLE | FIXED, 0x20000, 0x10000, PAGE),
        Ok(0x20000)
    );
    assert_eq!(
        copy(&ctx, a, 77, MAP_READABLE, 0, 0x10000, PAGE),
        Err(libc::ENOENT)
    );
}

#[test]
fn accounting_per_user_is_shared_by_a_users_contexts() {
    let p = vtd(2);
    let a = p.context(40 << 10);
    let b = p.context(40 << 10);
    let buf = Buffer::new(64 << 10, 4096);
    for (i, ctx) in [&a, &b].into_iter().enumerate() {
        let ioas = ioas_alloc(ctx);
        let dev = ctx.device_bind(p.devs[i]).unwrap();
        ctx.device_attach(dev, ioas).unwrap();
        let r = map(
            ctx,
            ioas,
            RW | FIXED,
            buf.addr(i * 0x8000),
            6 * PAGE,
            0x10000,
        );
        if i == 0 {
            r.unwrap();
        } else {
            // 6 pages charged already; 6 more go over the user's 10.
            assert_eq!(r, Err(libc::ENOMEM));
        }
    }
    assert_eq!(p.host.user_locked_pages(1000), 6);
}

#[test]
fn the_accounting_mode_needs_privilege_and_an_empty_context() {
    let p = vtd(1);
    let ctx = p.context(1 << 20);
    assert_eq!(option(&ctx, 0, 1, 0, 0), Ok(0), "per user by default");
    assert_eq!(option(&ctx, 0, 0, 0, 1), Err(libc::EPERM));
    let cred = softiommu_iommufd::Credentials {
        sys_resource: true,
        memlock_limit: Some(16 << 10),
        ..Default::default()
    };
    let admin = softiommu_iommufd::Context::new(p.host.clone(), cred);
    assert_eq!(
        option(&admin, 0, 0, 1, 1),
        Err(libc::EOPNOTSUPP),
        "global: object 0"
    );
    assert_eq!(option(&admin, 0, 0, 0, 2), Err(libc::EINVAL));
    assert_eq!(option(&admin, 0, 0, 0, 1), Ok(1));
    assert_eq!(option(&admin, 0, 1, 0, 0), Ok(1));
    let ioas = ioas_alloc(&admin);
    assert_eq!(option(&admin, 0, 0, 0, 0), Err(libc::EBUSY));
    let dev = admin.device_bind(p.devs[0]).unwrap();
    admin.device_attach(dev, ioas).unwrap();
    let buf = Buffer::new(8 * PAGE as usize, 4096);
    map(&admin, ioas, RW | FIXED, buf.addr(0), 4 * PAGE, 0x10000).unwrap();
    assert_eq!(p.host.mm_locked_pages(1), 4, "charged to the process");
    assert_eq!(p.host.user_locked_pages(1000), 0);
    assert_eq!(
        map(&admin, ioas, RW | FIXED, buf.addr(0), PAGE, 0x20000),
        Err(libc::ENOMEM)
    );
    destroy(&admin, dev).unwrap();
    assert_eq!(p.host.mm_locked_pages(1), 0);
}

#[test]
fn an_ioas_used_by_a_hwpt_cannot_be_destroyed() {
    let p = vtd(1);
    let ctx = p.context(1 << 20);
    let ioas = ioas_alloc(&ctx);
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    let hwpt = ctx.device_attach(dev, ioas).unwrap();
    assert_eq!(destroy(&ctx, ioas), Err(libc::EBUSY));
    assert_eq!(destroy(&ctx, hwpt), Err(libc::EBUSY));
    ctx.device_detach(dev).unwrap();
    assert_eq!(
        destroy(&ctx, hwpt),
        Err(libc::ENOENT),
        "the last device took it"
    );
    assert_eq!(destroy(&ctx, ioas), Ok(()));
}

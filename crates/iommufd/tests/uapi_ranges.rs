//! Automatic IOVAs, reserved and allowed ranges and the IOVA-ranges query, through the binary
//! interface: the kernel's rules, one test each.

mod common;

use common::ops::{allow, ioas_alloc, map, ranges};
use common::{Buffer, smmu, vtd};
use softiommu_iommufd::{MAP_FIXED_IOVA as FIXED, MAP_READABLE, MAP_WRITEABLE};

const RW: u32 = MAP_READABLE | MAP_WRITEABLE;
const PAGE: u64 = 4096;

#[test]
fn an_automatic_iova_is_aligned_like_the_address_and_never_zero() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let big = Buffer::new(4 << 20, 2 << 20);
    let iova = map(&ctx, ioas, RW, big.addr(0), 4 << 20, 0).unwrap();
    assert_ne!(iova, 0);
    assert_eq!(
        iova % (2 << 20),
        0,
        "2 MiB-aligned memory gets a 2 MiB-aligned IOVA"
    );
    // An address with a page offset keeps it.
    let small = Buffer::new(4 * PAGE as usize, 4096);
    let iova = map(&ctx, ioas, RW, small.addr(0x234), 0x100, 0).unwrap();
    assert_eq!(iova % PAGE, 0x234);
    // A short length caps the alignment at its power of two.
    let iova = map(&ctx, ioas, RW, big.addr(0), 3 * PAGE, 0).unwrap();
    assert_eq!(iova % (4 * PAGE), 0);
}

#[test]
fn automatic_iovas_avoid_mappings_and_reserved_ranges() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let buf = Buffer::new(16 * PAGE as usize, 4096);
    ctx.test_add_reserved(ioas, PAGE, 4 * PAGE).unwrap();
    map(&ctx, ioas, RW | FIXED, buf.addr(0), 4 * PAGE, 5 * PAGE).unwrap();
    let iova = map(&ctx, ioas, RW, buf.addr(0), PAGE, 0).unwrap();
    assert_eq!(
        iova,
        9 * PAGE,
        "first page-aligned hole past the reservation and the area"
    );
    // A fixed IOVA on a reserved range is EINVAL.
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), PAGE, 2 * PAGE),
        Err(libc::EINVAL)
    );
}

#[test]
fn automatic_iovas_stay_in_the_allowed_ranges_or_fail_with_enospc() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let buf = Buffer::new(16 * PAGE as usize, 4096);
    allow(&ctx, ioas, &[(0x100000, 0x103fff)]).unwrap();
    assert_eq!(map(&ctx, ioas, RW, buf.addr(0), 4 * PAGE, 0), Ok(0x100000));
    assert_eq!(map(&ctx, ioas, RW, buf.addr(0), PAGE, 0), Err(libc::ENOSPC));
    // Fixed IOVAs are not limited by the allowed ranges.
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), PAGE, 0x10000),
        Ok(0x10000)
    );
}

#[test]
fn an_automatic_iova_for_a_huge_length_is_eoverflow() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    assert_eq!(
        map(&ctx, ioas, RW, 0x1000, u64::MAX / 2, 0),
        Err(libc::EOVERFLOW)
    );
}

#[test]
fn an_address_less_aligned_than_the_ioas_gets_no_automatic_iova() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    let buf = Buffer::new(4 * PAGE as usize, 4096);
    assert_eq!(
        map(&ctx, ioas, RW, buf.addr(0x800), PAGE, 0),
        Err(libc::EINVAL)
    );
}

#[test]
fn allowed_ranges_must_be_proper_and_disjoint() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    assert_eq!(allow(&ctx, ioas, &[(0x2000, 0x1000)]), Err(libc::EINVAL));
    assert_eq!(allow(&ctx, ioas, &[(0x1000, 0x1000)]), Err(libc::EINVAL));
    assert_eq!(
        allow(&ctx, ioas, &[(0x1000, 0x3fff), (0x3000, 0x5fff)]),
        Err(libc::EINVAL)
    );
    assert_eq!(allow(&ctx, ioas, &[(0x1000, 0x3fff)]), Ok(()));
    assert_eq!(allow(&ctx, 99, &[(0x1000, 0x3fff)]), Err(libc::ENOENT));
    // An empty list allows everything again.
    assert_eq!(allow(&ctx, ioas, &[]), Ok(()));
}

#[test]
fn reserved_and_allowed_ranges_refuse_each_other() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    ctx.test_add_reserved(ioas, 0x10000, 0x10000).unwrap();
    assert_eq!(
        allow(&ctx, ioas, &[(0x18000, 0x28000)]),
        Err(libc::EADDRINUSE)
    );
    allow(&ctx, ioas, &[(0x30000, 0x3ffff)]).unwrap();
    let e = ctx.test_add_reserved(ioas, 0x3f000, 0x2000).unwrap_err();
    assert_eq!(e.errno(), libc::EADDRINUSE);
    let buf = Buffer::new(PAGE as usize, 4096);
    map(&ctx, ioas, RW | FIXED, buf.addr(0), PAGE, 0x50000).unwrap();
    let e = ctx.test_add_reserved(ioas, 0x50000, 1).unwrap_err();
    assert_eq!(e.errno(), libc::EADDRINUSE, "over a mapping");
}

#[test]
fn the_ranges_are_the_holes_between_reserved_ranges() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    assert_eq!(ranges(&ctx, ioas, 4).0, vec![(0, u64::MAX)]);
    ctx.test_add_reserved(ioas, 0, 0x1000).unwrap();
    ctx.test_add_reserved(ioas, 0x8000, 0x1000).unwrap();
    ctx.test_add_reserved(ioas, 0x8800, 0x1000).unwrap();
    let (got, total, _, e) = ranges(&ctx, ioas, 4);
    assert_eq!(e, None);
    assert_eq!(total, 2);
    assert_eq!(got, vec![(0x1000, 0x7fff), (0x9800, u64::MAX)]);
}

#[test]
fn a_short_ranges_array_gets_what_fits_the_total_and_emsgsize() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    for i in 1..4 {
        ctx.test_add_reserved(ioas, i * 0x10000, 0x1000).unwrap();
    }
    let (got, total, align, e) = ranges(&ctx, ioas, 2);
    assert_eq!(e, Some(libc::EMSGSIZE));
    assert_eq!(total, 4);
    assert_eq!(align, 1);
    assert_eq!(got, vec![(0, 0xffff), (0x11000, 0x1ffff)]);
    assert_eq!(ranges(&ctx, ioas, 0).1, 4);
}

#[test]
fn a_domain_reserves_what_lies_outside_its_aperture_until_it_goes() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    let (got, _, _, _) = ranges(&ctx, ioas, 4);
    // The aperture, less the device's interrupt window.
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], (0, 0xfedf_ffff));
    let (start, last) = got[1];
    assert_eq!(start, 0xfef0_0000);
    assert!(
        ((1 << 39) - 1..u64::MAX).contains(&last),
        "aperture end {last:#x}"
    );
    let buf = Buffer::new(PAGE as usize, 4096);
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), PAGE, last + 1),
        Err(libc::EINVAL),
        "past the aperture is reserved"
    );
    // Allowing IOVAs past the aperture is refused while the domain is there.
    assert_eq!(
        allow(&ctx, ioas, &[(last + 1, last + 0x1000)]),
        Err(libc::EADDRINUSE)
    );
    ctx.device_detach(dev).unwrap();
    assert_eq!(ranges(&ctx, ioas, 4).0, vec![(0, u64::MAX)]);
}

/// Attaching `dev` reserves `[first, last]` in the IOAS: mapping there is `EINVAL`, the
/// ranges query leaves it out, and it is free again once the device detaches; an IOAS that
/// already maps there cannot take the device (`EADDRINUSE`).
fn device_window_is_reserved(p: &common::Platform, first: u64, last: u64) {
    let ctx = p.context(1 << 30);
    let ioas = ioas_alloc(&ctx);
    let dev = ctx.device_bind(p.devs[0]).expect("bind");
    let buf = Buffer::new(PAGE as usize, 4096);
    ctx.device_attach(dev, ioas).expect("attach");
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), PAGE, first),
        Err(libc::EINVAL)
    );
    let got = ranges(&ctx, ioas, 8).0;
    assert!(got.iter().any(|&(_, l)| l == first - 1), "{got:x?}");
    assert!(got.iter().any(|&(s, _)| s == last + 1), "{got:x?}");
    ctx.device_detach(dev).expect("detach");
    assert_eq!(
        map(&ctx, ioas, RW | FIXED, buf.addr(0), PAGE, first),
        Ok(first)
    );
    assert_eq!(
        ctx.device_attach(dev, ioas).expect_err("overlap").errno(),
        libc::EADDRINUSE
    );
    // A second IOAS without the mapping takes it; the first stays as it was.
    let other = ioas_alloc(&ctx);
    ctx.device_attach(dev, other).expect("attach");
    assert_eq!(
        ctx.ioas_mappings(ioas).expect("mappings"),
        vec![(first, first + PAGE - 1)]
    );
}

#[test]
fn vtd_devices_reserve_the_interrupt_window() {
    device_window_is_reserved(&vtd(1), 0xfee0_0000, 0xfeef_ffff);
}

#[test]
fn smmu_devices_reserve_the_software_msi_window() {
    device_window_is_reserved(&smmu(1), 0x0800_0000, 0x080f_ffff);
}

//! A device's DMA through a context's IOAS: the device reaches exactly the user memory the
//! IOAS maps, pages are pinned once while a domain uses them, and nothing is left behind.

mod common;

use common::{Buffer, vtd};
use softiommu_iommufd::{MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE};
use softiommu_pgtable::Access;

const RW: u32 = MAP_READABLE | MAP_WRITEABLE;

#[test]
fn a_device_attached_to_an_ioas_reaches_exactly_what_it_maps() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ctx.ioas_alloc().unwrap();
    let mut buf = Buffer::new(64 << 10, 4096);
    buf.bytes_mut()[0x1234] = 0x5a;
    let iova = ctx
        .ioas_map(ioas, RW | MAP_FIXED_IOVA, buf.addr(0), 64 << 10, 0x10_0000)
        .unwrap();
    assert_eq!(iova, 0x10_0000);
    // Nothing pinned before a domain needs it.
    assert_eq!(p.host.pins_of(buf.addr(0)), 0);

    let dev = ctx.device_bind(p.devs[0]).unwrap();
    let hwpt = ctx.device_attach(dev, ioas).unwrap();
    assert!(hwpt > dev);
    assert_eq!(p.host.pins_of(buf.addr(0)), 1);
    assert_eq!(p.host.pinned_pages(), 16);
    assert_eq!(p.host.user_locked_pages(1000), 16);

    let iommu = p.host.iommu();
    let t = iommu.dma(p.devs[0], None, 0x10_1234, Access::READ).unwrap();
    assert_eq!(t.pa, buf.addr(0x1234));
    assert!(iommu.dma(p.devs[0], None, 0x11_0000, Access::READ).is_err());

    // The IOAS is in use by the HWPT, the HWPT by the device.
    assert_eq!(ctx.destroy(ioas).unwrap_err().errno(), libc::EBUSY);
    assert_eq!(ctx.destroy(hwpt).unwrap_err().errno(), libc::EBUSY);

    // Unmapping takes the translation and the pins away.
    assert_eq!(ctx.ioas_unmap(ioas, 0x10_0000, 64 << 10).unwrap(), 64 << 10);
    assert!(iommu.dma(p.devs[0], None, 0x10_1234, Access::READ).is_err());
    assert_eq!(p.host.pinned_pages(), 0);
    assert_eq!(p.host.user_locked_pages(1000), 0);

    // Mapping again with a domain present pins at once.
    ctx.ioas_map(ioas, RW | MAP_FIXED_IOVA, buf.addr(0), 64 << 10, 0x10_0000)
        .unwrap();
    assert_eq!(p.host.pinned_pages(), 16);

    // Destroying the device detaches it and destroys the automatic HWPT with it.
    ctx.destroy(dev).unwrap();
    assert_eq!(ctx.destroy(hwpt).unwrap_err().errno(), libc::ENOENT);
    assert_eq!(p.host.pinned_pages(), 0, "no domain: nothing pinned");
    ctx.destroy(ioas).unwrap();
    assert_eq!(ctx.object_count(), 0);
}

#[test]
fn two_devices_share_the_automatic_domain_and_one_pin() {
    let p = vtd(2);
    let ctx = p.context(1 << 30);
    let ioas = ctx.ioas_alloc().unwrap();
    let buf = Buffer::new(8192, 4096);
    ctx.ioas_map(ioas, RW | MAP_FIXED_IOVA, buf.addr(0), 8192, 0x4000)
        .unwrap();
    let d0 = ctx.device_bind(p.devs[0]).unwrap();
    let d1 = ctx.device_bind(p.devs[1]).unwrap();
    let h0 = ctx.device_attach(d0, ioas).unwrap();
    let h1 = ctx.device_attach(d1, ioas).unwrap();
    assert_eq!(h0, h1, "a compatible automatic domain is reused");
    assert_eq!(p.host.pins_of(buf.addr(0)), 1);
    ctx.device_detach(d0).unwrap();
    assert_eq!(
        p.host.pins_of(buf.addr(0)),
        1,
        "the other device still uses it"
    );
    ctx.device_detach(d1).unwrap();
    assert_eq!(p.host.pins_of(buf.addr(0)), 0);
    assert_eq!(ctx.destroy(h0).unwrap_err().errno(), libc::ENOENT);
}

#[test]
fn a_second_context_cannot_bind_a_device_another_owns() {
    let p = vtd(1);
    let a = p.context(1 << 20);
    let b = p.context(1 << 20);
    let d = a.device_bind(p.devs[0]).unwrap();
    assert_eq!(b.device_bind(p.devs[0]).unwrap_err().errno(), libc::EBUSY);
    drop(a);
    let _ = d;
    b.device_bind(p.devs[0]).unwrap();
}

#[test]
fn pins_over_the_memlock_limit_fail_and_leave_nothing() {
    let p = vtd(1);
    let ctx = p.context(16 << 10);
    let ioas = ctx.ioas_alloc().unwrap();
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    let buf = Buffer::new(32 << 10, 4096);
    let e = ctx
        .ioas_map(ioas, RW | MAP_FIXED_IOVA, buf.addr(0), 32 << 10, 0x10_0000)
        .unwrap_err();
    assert_eq!(e.errno(), libc::ENOMEM);
    assert_eq!(p.host.pinned_pages(), 0);
    assert_eq!(p.host.user_locked_pages(1000), 0);
    ctx.ioas_map(ioas, RW | MAP_FIXED_IOVA, buf.addr(0), 16 << 10, 0x10_0000)
        .unwrap();
    assert_eq!(p.host.user_locked_pages(1000), 4);
}

#[test]
fn memory_the_user_never_mapped_cannot_be_pinned() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ctx.ioas_alloc().unwrap();
    // Without a domain the map is lazy and succeeds.
    ctx.ioas_map(ioas, RW | MAP_FIXED_IOVA, 0x1000, 0x1000, 0x1000)
        .unwrap();
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    // The first domain pins every area: EFAULT, and the device stays detached.
    let e = ctx.device_attach(dev, ioas).unwrap_err();
    assert_eq!(e.errno(), libc::EFAULT);
    assert_eq!(p.host.pinned_pages(), 0);
    ctx.ioas_unmap(ioas, 0, u64::MAX).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    let e = ctx
        .ioas_map(ioas, RW | MAP_FIXED_IOVA, 0x1000, 0x1000, 0x1000)
        .unwrap_err();
    assert_eq!(e.errno(), libc::EFAULT);
}

//! Maps of a memfd by offset: the pages stay the device's while mapped, whatever the user
//! does with its own view of the file; and a DMA to anonymous memory the user has unmapped
//! fails as an access error, never a crash.

mod common;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use common::vtd;
use softiommu_iommufd::{MAP_FIXED_IOVA as FIXED, MAP_READABLE, MAP_WRITEABLE};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;

const RW: u32 = MAP_READABLE | MAP_WRITEABLE;

fn memfd(len: i64) -> OwnedFd {
    // SAFETY: memfd_create with a NUL-terminated name; the result is checked.
    let fd = unsafe { libc::memfd_create(c"map-file-test".as_ptr(), 0) };
    assert!(fd >= 0);
    // SAFETY: a new descriptor this test owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ftruncate on it.
    assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }, 0);
    fd
}

#[test]
fn file_pages_stay_the_devices_after_the_user_unmaps_its_view() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ctx.ioas_alloc().unwrap();
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    let fd = memfd(64 << 10);
    // SAFETY: pwrite from a live slice into a descriptor we own.
    let n = unsafe { libc::pwrite(fd.as_raw_fd(), b"file data".as_ptr().cast(), 9, 0x2010) };
    assert_eq!(n, 9);
    let iova = ctx
        .ioas_map_file(ioas, RW | FIXED, fd.as_fd(), 0x1000, 0x4000, 0x20_0000)
        .unwrap();
    drop(fd);
    let t = p
        .host
        .iommu()
        .dma(p.devs[0], None, iova + 0x1010, Access::READ)
        .unwrap();
    let mut got = [0u8; 9];
    p.host.mem().read(t.pa, &mut got).unwrap();
    assert_eq!(&got, b"file data");
    assert_eq!(p.host.user_locked_pages(1000), 4);
    ctx.ioas_unmap(ioas, iova, 0x4000).unwrap();
    assert_eq!(p.host.user_locked_pages(1000), 0);
}

#[test]
fn file_maps_past_the_end_of_the_file_cannot_be_pinned() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ctx.ioas_alloc().unwrap();
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    let fd = memfd(8192);
    let e = ctx
        .ioas_map_file(ioas, RW | FIXED, fd.as_fd(), 0, 0x4000, 0x20_0000)
        .unwrap_err();
    assert_eq!(e.errno(), libc::EFAULT);
    assert!(ctx.ioas_mappings(ioas).unwrap().is_empty());
}

#[test]
fn a_read_only_file_cannot_be_mapped_writeable() {
    let p = vtd(0);
    let ctx = p.context(1 << 30);
    let ioas = ctx.ioas_alloc().unwrap();
    let rw = memfd(8192);
    let path = format!("/proc/self/fd/{}", rw.as_raw_fd());
    let ro = std::fs::File::open(path).unwrap();
    let e = ctx
        .ioas_map_file(ioas, RW | FIXED, ro.as_fd(), 0, 0x2000, 0x20_0000)
        .unwrap_err();
    assert_eq!(e.errno(), libc::EPERM);
    ctx.ioas_map_file(ioas, MAP_READABLE | FIXED, ro.as_fd(), 0, 0x2000, 0x20_0000)
        .unwrap();
}

#[test]
fn dma_to_anonymous_memory_the_user_unmapped_is_an_error_not_a_crash() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let ioas = ctx.ioas_alloc().unwrap();
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    ctx.device_attach(dev, ioas).unwrap();
    let at = common::anon_map(0x4000);
    ctx.ioas_map(ioas, RW | FIXED, at as u64, 0x4000, 0x30_0000)
        .unwrap();
    // SAFETY: the mapping made above; nothing in this test touches it afterwards.
    assert_eq!(unsafe { libc::munmap(at, 0x4000) }, 0);
    let t = p
        .host
        .iommu()
        .dma(p.devs[0], None, 0x30_0010, Access::WRITE)
        .unwrap();
    assert!(p.host.mem().write(t.pa, b"stray").is_err());
    ctx.ioas_unmap(ioas, 0, u64::MAX).unwrap();
}

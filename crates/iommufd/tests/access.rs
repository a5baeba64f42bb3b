//! Accesses: pins by IOVA shared with the domains, CPU copies through the areas, the unmap
//! callback (synchronous, retried, `EDEADLK` when the owner keeps its pins), moving an
//! access to another IOAS, and the IOAS kept busy while an access uses it.

mod common;

use std::sync::Arc;

use common::{Buffer, ops, vtd};
use parking_lot::Mutex;
use softiommu_iommufd::{
    ACCESS_NEEDS_PIN_PAGES as PIN, Access, AccessOps, MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE,
    PAGE_SIZE,
};

const RW: u32 = MAP_READABLE | MAP_WRITEABLE | MAP_FIXED_IOVA;
const RO: u32 = MAP_READABLE | MAP_FIXED_IOVA;

/// An owner that records what it is told and, if `obliging`, unpins what it pinned there.
#[derive(Default)]
struct Owner {
    obliging: bool,
    told: Mutex<Vec<(u64, u64)>>,
}

impl AccessOps for Owner {
    fn unmap(&self, access: &Access, iova: u64, length: u64) {
        self.told.lock().push((iova, length));
        if !self.obliging {
            return;
        }
        let last = iova.saturating_add(length.saturating_sub(1));
        for (i, l) in access.pinned() {
            if i <= last && i + l > iova {
                access.unpin_pages(i, l).expect("unpin from the callback");
            }
        }
    }
}

fn owner(obliging: bool) -> Arc<Owner> {
    Arc::new(Owner {
        obliging,
        ..Owner::default()
    })
}

#[test]
fn pins_share_one_pin_per_page_with_the_domains() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(64 << 10, 4096);
    let ioas = ops::ioas_alloc(&ctx);
    ops::map(&ctx, ioas, RW, buf.addr(0), 64 << 10, 0x10_0000).expect("map");
    let dev = ctx.device_bind(p.devs[0]).expect("bind");
    ctx.device_attach(dev, ioas).expect("attach");
    assert_eq!(p.host.pinned_pages(), 16);
    let charged = p.host.user_locked_pages(1000);

    let access = ctx.access_create(ioas, PIN, owner(true)).expect("access");
    let pages = access.pin_pages(0x10_1000, 0x2000, true).expect("pin");
    assert_eq!(pages, vec![buf.addr(0x1000), buf.addr(0x2000)]);
    assert_eq!(p.host.pins_of(buf.addr(0x1000)), 1, "one pin per page");
    assert_eq!(p.host.pinned_pages(), 16);
    assert_eq!(p.host.user_locked_pages(1000), charged, "charged once");

    // Without a domain the access's pin alone holds the pages, and pays for them.
    ctx.device_detach(dev).expect("detach");
    assert_eq!(p.host.pinned_pages(), 2);
    assert_eq!(p.host.user_locked_pages(1000), 2);
    access.unpin_pages(0x10_1000, 0x2000).expect("unpin");
    assert_eq!(p.host.pinned_pages(), 0);
    assert_eq!(p.host.user_locked_pages(1000), 0);
    let e = access
        .unpin_pages(0x10_1000, 0x2000)
        .expect_err("nothing pinned");
    assert_eq!(e.errno(), libc::EINVAL);
}

#[test]
fn pinning_is_refused_as_the_kernel_refuses_it() {
    let p = vtd(1);
    let ctx = p.context(16 << 10);
    let buf = Buffer::new(64 << 10, 4096);
    let ioas = ops::ioas_alloc(&ctx);
    ops::map(&ctx, ioas, RO, buf.addr(0), 32 << 10, 0x10_0000).expect("map");
    let plain = ctx.access_create(ioas, 0, owner(true)).expect("access");
    let e = plain
        .pin_pages(0x10_0000, 4096, false)
        .expect_err("no pins");
    assert_eq!(e.errno(), libc::EOPNOTSUPP);
    let e = ctx
        .access_create(ioas, 2, owner(true))
        .err()
        .expect("bad flag");
    assert_eq!(e.errno(), libc::EOPNOTSUPP);

    let access = ctx.access_create(ioas, PIN, owner(true)).expect("access");
    let errno = |r: Result<Vec<u64>, softiommu_iommufd::Error>| r.expect_err("refused").errno();
    assert_eq!(errno(access.pin_pages(0x10_0000, 4096, true)), libc::EPERM);
    assert_eq!(errno(access.pin_pages(0x10_0000, 0, false)), libc::EINVAL);
    assert_eq!(
        errno(access.pin_pages(0x20_0000, 4096, false)),
        libc::ENOENT
    );
    assert_eq!(
        errno(access.pin_pages(0x10_7000, 0x2000, false)),
        libc::ENOENT,
        "past the area's end"
    );
    // 16 KiB of locked memory: five pages are over the limit, and nothing stays pinned.
    assert_eq!(
        errno(access.pin_pages(0x10_0000, 0x5000, false)),
        libc::ENOMEM
    );
    assert_eq!(p.host.pinned_pages(), 0);
    access
        .pin_pages(0x10_0000, 0x4000, false)
        .expect("four pages fit");
    assert_eq!(p.host.user_locked_pages(1000), 4);
    drop(access);
    assert_eq!(p.host.pinned_pages(), 0, "destroying an access unpins");
    assert_eq!(p.host.user_locked_pages(1000), 0);
}

#[test]
fn a_pin_capable_access_raises_the_alignment() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(64 << 10, 4096);
    let ioas = ops::ioas_alloc(&ctx);
    // Byte-aligned is fine while nothing asks for more.
    ops::map(&ctx, ioas, RW, buf.addr(0x800), 0x800, 0x10_0800).expect("map");
    assert_eq!(ctx.ioas_iova_ranges(ioas).expect("ranges").alignment, 1);
    let plain = ctx
        .access_create(ioas, 0, owner(true))
        .expect("plain access");
    assert_eq!(ctx.ioas_iova_ranges(ioas).expect("ranges").alignment, 1);
    let e = ctx
        .access_create(ioas, PIN, owner(true))
        .err()
        .expect("misaligned");
    assert_eq!(e.errno(), libc::EADDRINUSE);
    ops::unmap(&ctx, ioas, 0x10_0800, 0x800).expect("unmap");
    let pin = ctx
        .access_create(ioas, PIN, owner(true))
        .expect("pin access");
    assert_eq!(
        ctx.ioas_iova_ranges(ioas).expect("ranges").alignment,
        PAGE_SIZE
    );
    let e = ops::map(&ctx, ioas, RW, buf.addr(0x800), 0x800, 0x10_0800).expect_err("aligned");
    assert_eq!(e, libc::EINVAL);
    drop(pin);
    drop(plain);
    assert_eq!(ctx.ioas_iova_ranges(ioas).expect("ranges").alignment, 1);
}

#[test]
fn reads_and_writes_go_through_the_areas() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let mut buf = Buffer::new(64 << 10, 4096);
    let ioas = ops::ioas_alloc(&ctx);
    // Two areas back to back, the second read-only.
    ops::map(&ctx, ioas, RW, buf.addr(0), 0x2000, 0x10_0000).expect("map");
    ops::map(&ctx, ioas, RO, buf.addr(0x8000), 0x2000, 0x10_2000).expect("map");
    buf.bytes_mut()[0x8000..0x8010].copy_from_slice(b"read-only bytes!");
    let access = ctx.access_create(ioas, 0, owner(true)).expect("access");

    access.write(0x10_1ff8, b"straddle").expect("write");
    assert_eq!(&buf.bytes()[0x1ff8..0x2000], b"straddle");
    let mut got = [0u8; 24];
    access.read(0x10_1ff8, &mut got).expect("read across areas");
    assert_eq!(&got[..8], b"straddle");
    assert_eq!(&got[8..], b"read-only bytes!");

    let errno = |r: Result<(), softiommu_iommufd::Error>| r.expect_err("refused").errno();
    assert_eq!(errno(access.write(0x10_1ff8, &[0; 16])), libc::EPERM);
    assert_eq!(&buf.bytes()[0x1ff8..0x2000], b"straddle", "nothing written");
    assert_eq!(errno(access.read(0x10_3ff8, &mut [0; 16])), libc::ENOENT);
    assert_eq!(errno(access.read(0x10_0000, &mut [])), libc::EINVAL);
    assert_eq!(errno(access.read(u64::MAX, &mut [0; 2])), libc::EOVERFLOW);
}

#[test]
fn memory_the_user_unmapped_is_an_error_not_a_crash() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let mem = common::anon_map(0x4000);
    let ioas = ops::ioas_alloc(&ctx);
    ops::map(&ctx, ioas, RW, mem as u64, 0x4000, 0x10_0000).expect("map");
    let access = ctx.access_create(ioas, PIN, owner(true)).expect("access");
    access.write(0x10_0000, b"hello").expect("write");
    // SAFETY: the mapping made above, no longer used through any Rust reference.
    assert_eq!(unsafe { libc::munmap(mem, 0x4000) }, 0);
    let e = access.read(0x10_0000, &mut [0; 5]).expect_err("gone");
    assert_eq!(e.errno(), libc::EFAULT);
    let e = access.write(0x10_2000, b"x").expect_err("gone");
    assert_eq!(e.errno(), libc::EFAULT);
    let e = access.pin_pages(0x10_0000, 0x1000, true).expect_err("gone");
    assert_eq!(e.errno(), libc::EFAULT);
    assert_eq!(p.host.pinned_pages(), 0);
}

#[test]
fn unmapping_a_pinned_area_calls_the_owner_first() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(64 << 10, 4096);
    let ioas = ops::ioas_alloc(&ctx);
    ops::map(&ctx, ioas, RW, buf.addr(0), 0x4000, 0x10_0000).expect("map");
    ops::map(&ctx, ioas, RW, buf.addr(0x8000), 0x4000, 0x20_0000).expect("map");
    let own = owner(true);
    let access = ctx.access_create(ioas, PIN, own.clone()).expect("access");
    access.pin_pages(0x10_1000, 0x1000, true).expect("pin");
    access.pin_pages(0x20_0000, 0x2000, false).expect("pin");

    // Through the binary interface: the callback runs before the call returns.
    assert_eq!(ops::unmap(&ctx, ioas, 0x10_0000, 0x4000), Ok(0x4000));
    assert_eq!(*own.told.lock(), vec![(0x10_0000, 0x4000)]);
    assert_eq!(access.pinned(), vec![(0x20_0000, 0x2000)]);
    let e = access.unpin_pages(0x10_1000, 0x1000).expect_err("removed");
    assert_eq!(e.errno(), libc::EINVAL);
    // An area the access did not pin is unmapped without a word.
    ops::map(&ctx, ioas, RW, buf.addr(0x4000), 0x1000, 0x30_0000).expect("map");
    assert_eq!(ops::unmap(&ctx, ioas, 0x30_0000, 0x1000), Ok(0x1000));
    assert_eq!(own.told.lock().len(), 1);
    // Unmap-all tells it too.
    assert_eq!(ops::unmap(&ctx, ioas, 0, u64::MAX), Ok(0x4000));
    assert_eq!(own.told.lock()[1], (0x20_0000, 0x4000));
    assert!(access.pinned().is_empty());
    assert_eq!(p.host.pinned_pages(), 0);
}

#[test]
fn an_owner_that_keeps_its_pins_gets_edeadlk_after_100_tries() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(64 << 10, 4096);
    let ioas = ops::ioas_alloc(&ctx);
    ops::map(&ctx, ioas, RW, buf.addr(0), 0x4000, 0x10_0000).expect("map");
    let own = owner(false);
    let access = ctx.access_create(ioas, PIN, own.clone()).expect("access");
    access.pin_pages(0x10_0000, 0x1000, true).expect("pin");
    assert_eq!(
        ops::unmap(&ctx, ioas, 0x10_0000, 0x4000),
        Err(libc::EDEADLK)
    );
    assert_eq!(own.told.lock().len(), 100);
    assert_eq!(
        ctx.ioas_mappings(ioas).expect("areas"),
        vec![(0x10_0000, 0x10_3fff)]
    );
    assert_eq!(p.host.pins_of(buf.addr(0)), 1);
    // A split is refused before anyone is told.
    assert_eq!(ops::unmap(&ctx, ioas, 0x10_0000, 0x1000), Err(libc::ENOENT));
    assert_eq!(own.told.lock().len(), 100);
    access.unpin_pages(0x10_0000, 0x1000).expect("unpin");
    assert_eq!(ops::unmap(&ctx, ioas, 0x10_0000, 0x4000), Ok(0x4000));
}

#[test]
fn an_access_moves_to_another_ioas_and_keeps_its_ioas_busy() {
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let mut buf = Buffer::new(64 << 10, 4096);
    buf.bytes_mut()[0x4000..0x4004].copy_from_slice(b"two!");
    let a = ops::ioas_alloc(&ctx);
    let b = ops::ioas_alloc(&ctx);
    ops::map(&ctx, a, RW, buf.addr(0), 0x1000, 0x10_0000).expect("map");
    ops::map(&ctx, b, RW, buf.addr(0x4000), 0x1000, 0x10_0000).expect("map");
    let own = owner(true);
    let access = ctx.access_create(a, PIN, own.clone()).expect("access");
    assert_eq!(ops::destroy(&ctx, a), Err(libc::EBUSY));
    access.pin_pages(0x10_0000, 0x1000, false).expect("pin");

    ctx.access_replace_ioas(&access, b).expect("replace");
    assert_eq!(
        *own.told.lock(),
        vec![(0, u64::MAX)],
        "told to unpin everything"
    );
    let mut got = [0u8; 4];
    access.read(0x10_0000, &mut got).expect("read");
    assert_eq!(&got, b"two!");
    assert_eq!(ops::destroy(&ctx, a), Ok(()), "the old IOAS is free");
    assert_eq!(ops::destroy(&ctx, b), Err(libc::EBUSY));
    let e = ctx.access_replace_ioas(&access, 99).expect_err("no IOAS");
    assert_eq!(e.errno(), libc::ENOENT);

    // An owner that keeps its pins keeps the access where it is.
    let c = ops::ioas_alloc(&ctx);
    let stubborn = ctx.access_create(b, PIN, owner(false)).expect("access");
    stubborn.pin_pages(0x10_0000, 0x1000, false).expect("pin");
    let e = ctx
        .access_replace_ioas(&stubborn, c)
        .expect_err("pins kept");
    assert_eq!(e.errno(), libc::EBUSY);
    assert_eq!(
        ops::destroy(&ctx, c),
        Ok(()),
        "the failed move left no trace"
    );
    stubborn.read(0x10_0000, &mut got).expect("still on b");
    access.destroy();
    stubborn.destroy();
    assert_eq!(
        access.read(0x10_0000, &mut got).map_err(|e| e.errno()),
        Err(libc::ENOENT)
    );
    assert_eq!(ops::destroy(&ctx, b), Ok(()));
    assert_eq!(p.host.pinned_pages(), 0);
}

#[test]
fn a_vfio_container_unmap_calls_the_owner_too() {
    use softiommu_iommufd::vfio::{
        VFIO_DMA_MAP_FLAG_READ as R, VFIO_DMA_MAP_FLAG_WRITE as W, VFIO_TYPE1_IOMMU,
    };
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    let buf = Buffer::new(64 << 10, 4096);
    let ioas = ops::ioas_alloc(&ctx);
    ctx.vfio_ioas_set(ioas).expect("compat IOAS");
    ctx.vfio_set_iommu(VFIO_TYPE1_IOMMU).expect("type1");
    ctx.vfio_map_dma(R | W, buf.addr(0), 0x10_0000, 0x8000)
        .expect("map");
    let own = owner(true);
    let access = ctx.access_create(ioas, PIN, own.clone()).expect("access");
    access.pin_pages(0x10_5000, 0x1000, true).expect("pin");
    // Type1 cuts the mapping at the range's ends: only the piece with the pin is announced.
    assert_eq!(ctx.vfio_unmap_dma(0, 0x10_4000, 0x2000), Ok(0x2000));
    assert_eq!(*own.told.lock(), vec![(0x10_4000, 0x2000)]);
    assert!(access.pinned().is_empty());
    assert_eq!(p.host.pinned_pages(), 0);
    let mut b = [0u8; 4];
    access
        .read(0x10_3ffc, &mut b)
        .expect("the rest stays mapped");
    let e = access.read(0x10_4000, &mut b).expect_err("unmapped");
    assert_eq!(e.errno(), libc::ENOENT);
}

#[test]
fn an_access_reaches_a_file_mapping_through_the_library_s_own_view() {
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};
    let p = vtd(1);
    let ctx = p.context(1 << 30);
    // SAFETY: memfd_create with a NUL-terminated name; the result is checked.
    let raw = unsafe { libc::memfd_create(c"access".as_ptr(), 0) };
    assert!(raw >= 0);
    // SAFETY: a new descriptor this test owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ftruncate on the descriptor just made.
    assert_eq!(unsafe { libc::ftruncate(raw, 0x4000) }, 0);
    let ioas = ops::ioas_alloc(&ctx);
    ctx.ioas_map_file(ioas, RW, fd.as_fd(), 0x1000, 0x2000, 0x10_0000)
        .expect("map the file");
    let access = ctx.access_create(ioas, PIN, owner(true)).expect("access");
    access.pin_pages(0x10_0000, 0x2000, true).expect("pin");
    access.write(0x10_0ffe, b"file").expect("write");
    let mut got = [0u8; 4];
    // SAFETY: reads 4 bytes into `got`, which has 4.
    let n = unsafe { libc::pread(raw, got.as_mut_ptr().cast(), 4, 0x1ffe) };
    assert_eq!(n, 4);
    assert_eq!(&got, b"file", "the bytes are in the file");
    assert_eq!(ops::unmap(&ctx, ioas, 0x10_0000, 0x2000), Ok(0x2000));
    assert!(access.pinned().is_empty());
}

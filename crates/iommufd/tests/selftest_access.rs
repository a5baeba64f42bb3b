//! The kernel's own iommufd conformance tests of accesses (tools/testing/selftests/iommu/
//! iommufd.c: the `access_*` tests of fixture `iommufd_ioas` with its variants), run against softiommu's test channel through the
//! binary entry point. Each test is named after the kernel's `TEST_F` and asserts the
//! errnos and values the kernel's does.

mod common;

use common::mock::access_rw as rw_cmd;
use common::mock::*;
use common::{Buffer, ops};

const FIXED_RW: u32 = 7;
const RW: u32 = 6;

type Ioas = IoasFixture;

impl Ioas {
    fn map_fixed(&self, va: u64, len: u64, iova: u64) -> Result<u64, i32> {
        ops::map(&self.ctx, self.ioas_id, FIXED_RW, va, len, iova)
    }
}

iommufd_ioas!(
    access_domain_destory,
    access_pin,
    access_pin_unmap,
    access_rw,
    access_rw_unaligned,
    access_errors,
);

/// The kernel's 2 MiB huge page.
const HUGEPAGE: u64 = 2 << 20;

fn access_domain_destory(f: &mut Ioas) {
    let big = Buffer::new(2 * HUGEPAGE as usize, HUGEPAGE as usize);
    f.map_fixed(big.addr(0), 2 * HUGEPAGE, f.base_iova)
        .expect("map");
    let fd = create_access(&f.ctx, f.ioas_id, ACCESS_NEEDS_PIN).expect("create access");
    let uptr = big.addr(PAGE as usize);
    let item = access_pages(&f.ctx, fd, 0, f.base_iova + PAGE, PAGE, uptr).expect("pages");
    // Unpins across a huge page boundary.
    if f.stdev_id != 0 {
        ops::destroy(&f.ctx, f.stdev_id).expect("destroy");
    }
    assert_eq!(destroy_access_pages(&f.ctx, fd, item), Ok(()));
    destroy_access(fd);
    ops::unmap(&f.ctx, f.ioas_id, f.base_iova, 2 * HUGEPAGE).expect("unmap");
}

fn access_pin(f: &mut Ioas) {
    let ctx = &f.ctx;
    let va = f.buf.addr(0);
    let fd = create_access(ctx, f.ioas_id, ACCESS_NEEDS_PIN).expect("create access");
    for npages in 1..BUFFER_SIZE / PAGE {
        let len = npages * PAGE;
        let pin = || access_pages(ctx, fd, 0, APERTURE_START, len, va);
        // Single map and unmap.
        ops::map(ctx, f.ioas_id, FIXED_RW, va, BUFFER_SIZE, APERTURE_START).expect("map");
        let item = pin().expect("access pages");
        assert_eq!(destroy_access_pages(ctx, fd, item), Ok(()));

        // Two users.
        let first = pin().expect("access pages");
        let second = pin().expect("access pages");
        assert_eq!(destroy_access_pages(ctx, fd, first), Ok(()));
        assert_eq!(destroy_access_pages(ctx, fd, second), Ok(()));

        // A domain added and removed while a user pins.
        let item = pin().expect("access pages");
        let (stdev, hwpt, _) = mock_domain(ctx, f.ioas_id).expect("mock domain");
        assert_eq!(
            check_map(ctx, hwpt, va, APERTURE_START, BUFFER_SIZE),
            Ok(())
        );
        ops::destroy(ctx, stdev).expect("destroy");
        assert_eq!(destroy_access_pages(ctx, fd, item), Ok(()));
        ops::unmap(ctx, f.ioas_id, APERTURE_START, BUFFER_SIZE).expect("unmap");
    }
    destroy_access(fd);
}

fn access_pin_unmap(f: &mut Ioas) {
    let ctx = &f.ctx;
    let va = f.buf.addr(0);
    let fd = create_access(ctx, f.ioas_id, ACCESS_NEEDS_PIN).expect("create access");
    ops::map(ctx, f.ioas_id, FIXED_RW, va, BUFFER_SIZE, APERTURE_START).expect("map");
    let item = access_pages(ctx, fd, 0, APERTURE_START, BUFFER_SIZE, va).expect("pages");
    // The unmap asks the access to unpin; its callback drops the item.
    assert_eq!(
        ops::unmap(ctx, f.ioas_id, APERTURE_START, BUFFER_SIZE),
        Ok(BUFFER_SIZE)
    );
    assert_eq!(
        destroy_access_pages(ctx, fd, item),
        Err(libc::ENOENT),
        "the callback removed the item"
    );
    destroy_access(fd);
}

/// A small deterministic generator for the test's random data.
struct Rand(u64);

impl Rand {
    fn next(&mut self) -> u16 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u16
    }
}

/// The kernel's `check_access_rw`: reads and writes of every length up to 63 bytes around
/// the page boundary after `iova`, then one read of the whole buffer.
fn check_access_rw(f: &mut Ioas, fd: i32, iova: u64, def_flags: u32) {
    let mut rng = Rand(iova ^ u64::from(def_flags));
    for b in f.buf.bytes_mut().chunks_exact_mut(2) {
        b.copy_from_slice(&rng.next().to_ne_bytes());
    }
    let mut tmp = [0u16; 32];
    let tmp_bytes = std::mem::size_of_val(&tmp) as u64;
    for at in iova + PAGE - 50..iova + PAGE + 50 {
        for len in 1..tmp_bytes {
            let uptr = tmp.as_mut_ptr() as u64;
            let r = rw_cmd(&f.ctx, fd, at, len, uptr, def_flags);
            assert_eq!(r, Ok(()), "read of {len} at {at:#x}");
            let off = (at - iova) as usize;
            // SAFETY: `tmp` is a live array of `tmp_bytes` bytes and `len < tmp_bytes`.
            let got =
                unsafe { std::slice::from_raw_parts(tmp.as_ptr().cast::<u8>(), len as usize) };
            assert_eq!(&f.buf.bytes()[off..off + len as usize], got);

            for t in tmp.iter_mut() {
                *t = rng.next();
            }
            let uptr = tmp.as_ptr() as u64;
            let r = rw_cmd(&f.ctx, fd, at, len, uptr, def_flags | RW_WRITE);
            assert_eq!(r, Ok(()), "write of {len} at {at:#x}");
            // SAFETY: as above.
            let put =
                unsafe { std::slice::from_raw_parts(tmp.as_ptr().cast::<u8>(), len as usize) };
            assert_eq!(&f.buf.bytes()[off..off + len as usize], put);
        }
    }
    // Many pages at once.
    let mut all = vec![0u8; BUFFER_SIZE as usize];
    let uptr = all.as_mut_ptr() as u64;
    assert_eq!(
        rw_cmd(&f.ctx, fd, iova, BUFFER_SIZE, uptr, def_flags),
        Ok(())
    );
    assert_eq!(f.buf.bytes(), &all[..]);
}

fn access_rw(f: &mut Ioas) {
    let fd = create_access(&f.ctx, f.ioas_id, 0).expect("create access");
    let iova = ops::map(&f.ctx, f.ioas_id, RW, f.buf.addr(0), BUFFER_SIZE, 0).expect("map");
    check_access_rw(f, fd, iova, 0);
    check_access_rw(f, fd, iova, RW_SLOW_PATH);
    ops::unmap(&f.ctx, f.ioas_id, iova, BUFFER_SIZE).expect("unmap");
    destroy_access(fd);
}

fn access_rw_unaligned(f: &mut Ioas) {
    let fd = create_access(&f.ctx, f.ioas_id, 0).expect("create access");
    // Pages not aligned to the CPU's page size.
    let iova = f.base_iova + MOCK_PAGE;
    f.map_fixed(f.buf.addr(0), BUFFER_SIZE, iova).expect("map");
    check_access_rw(f, fd, iova, 0);
    ops::unmap(&f.ctx, f.ioas_id, iova, BUFFER_SIZE).expect("unmap");
    destroy_access(fd);
}

/// The errors of the access ops the kernel's mock driver returns (the kernel's tests reach
/// them through `iommufd_fail_nth` and syzkaller rather than a `TEST_F`).
fn access_errors(f: &mut Ioas) {
    let ctx = &f.ctx;
    let va = f.buf.addr(0);
    assert_eq!(create_access(ctx, f.ioas_id, 2), Err(libc::EOPNOTSUPP));
    assert_eq!(create_access(ctx, 9999, 0), Err(libc::ENOENT));
    let plain = create_access(ctx, f.ioas_id, 0).expect("create access");
    let pin = create_access(ctx, f.ioas_id, ACCESS_NEEDS_PIN).expect("create access");
    ops::map(ctx, f.ioas_id, FIXED_RW, va, BUFFER_SIZE, APERTURE_START).expect("map");

    // Pinning needs a pin-capable access; more than 16 MiB is ENOMEM.
    let r = access_pages(ctx, plain, 0, APERTURE_START, PAGE, va);
    assert_eq!(r, Err(libc::EOPNOTSUPP));
    let r = access_pages(ctx, pin, 0, APERTURE_START, (16 << 20) + 1, va);
    assert_eq!(r, Err(libc::ENOMEM));
    let r = access_pages(ctx, pin, 2, APERTURE_START, PAGE, va);
    assert_eq!(r, Err(libc::EOPNOTSUPP));
    // The pages must be those of `uptr`.
    let r = access_pages(ctx, pin, 0, APERTURE_START, PAGE, va + PAGE);
    assert_eq!(r, Err(libc::EBADE));
    assert_eq!(
        check_refs(ctx, va, BUFFER_SIZE, u32::from(f.stdev_id != 0)),
        Ok(())
    );
    // Nothing mapped there.
    let r = access_pages(ctx, pin, 0, APERTURE_START + BUFFER_SIZE, PAGE, 0);
    assert_eq!(r, Err(libc::ENOENT));
    let item = access_pages(ctx, pin, 1, APERTURE_START, PAGE, 0).expect("pages");
    assert_eq!(destroy_access_pages(ctx, pin, item + 1), Err(libc::ENOENT));
    assert_eq!(destroy_access_pages(ctx, pin, item), Ok(()));
    assert_eq!(destroy_access_pages(ctx, pin, item), Err(libc::ENOENT));

    let mut tmp = [0u8; 8];
    let uptr = tmp.as_mut_ptr() as u64;
    let rw = |flags, len| rw_cmd(ctx, plain, APERTURE_START, len, uptr, flags);
    assert_eq!(rw(2, 8), Err(libc::EOPNOTSUPP));
    assert_eq!(rw(0, (16 << 20) + 1), Err(libc::ENOMEM));
    assert_eq!(rw(0, 0), Err(libc::EINVAL));
    let r = rw_cmd(ctx, plain, APERTURE_START + BUFFER_SIZE, 8, uptr, 0);
    assert_eq!(r, Err(libc::ENOENT));

    // A descriptor that is no access.
    assert_eq!(
        rw_cmd(ctx, 0, APERTURE_START, 8, uptr, 0),
        Err(libc::EBADFD)
    );
    assert_eq!(destroy_access_pages(ctx, -1, 0), Err(libc::EBADFD));
    destroy_access(plain);
    assert_eq!(
        rw_cmd(ctx, plain, APERTURE_START, 8, uptr, 0),
        Err(libc::EBADFD)
    );

    // Moving the access drops its pins.
    let item = access_pages(ctx, pin, 0, APERTURE_START, PAGE, va).expect("pages");
    let other = ops::ioas_alloc(ctx);
    assert_eq!(access_replace_ioas(ctx, pin, 9999), Err(libc::ENOENT));
    assert_eq!(access_replace_ioas(ctx, pin, other), Ok(()));
    assert_eq!(destroy_access_pages(ctx, pin, item), Err(libc::ENOENT));
    assert_eq!(ops::destroy(ctx, other), Err(libc::EBUSY));
    destroy_access(pin);
    ops::destroy(ctx, other).expect("destroy");
    ops::unmap(ctx, f.ioas_id, APERTURE_START, BUFFER_SIZE).expect("unmap");
}

/// An access descriptor outlives the context it was made in: its pins stay, and it still
/// reads through its IOAS, until the descriptor is closed.
#[test]
fn access_file_outlives_its_context() {
    let host = mock();
    let ctx = open(&host);
    let mut buf = buffer();
    buf.bytes_mut()[..4].copy_from_slice(b"abcd");
    let ioas = ops::ioas_alloc(&ctx);
    let va = buf.addr(0);
    ops::map(&ctx, ioas, FIXED_RW, va, BUFFER_SIZE, APERTURE_START).expect("map");
    let fd = create_access(&ctx, ioas, ACCESS_NEEDS_PIN).expect("create access");
    access_pages(&ctx, fd, 0, APERTURE_START, BUFFER_SIZE, va).expect("access pages");
    drop(ctx);
    assert_eq!(
        host.pinned_pages(),
        BUFFER_SIZE / PAGE,
        "the access keeps its pins"
    );
    let other = open(&host);
    let mut got = [0u8; 4];
    let r = rw_cmd(&other, fd, APERTURE_START, 4, got.as_mut_ptr() as u64, 0);
    assert_eq!(r, Ok(()));
    assert_eq!(&got, b"abcd");
    destroy_access(fd);
    assert_eq!(
        host.pinned_pages(),
        0,
        "closing the descriptor destroys the access"
    );
    let r = rw_cmd(&other, fd, APERTURE_START, 4, got.as_mut_ptr() as u64, 0);
    assert_eq!(r, Err(libc::EBADFD));
}

//! The kernel's own iommufd conformance tests (tools/testing/selftests/iommu/iommufd.c),
//! fixtures `iommufd_mock_domain`, `iommufd_dirty_tracking` and `vfio_compat_mock_domain`,
//! run against softiommu's test channel through the binary entry point. Each test is named
//! after the kernel's `TEST_F` (a module per fixture variant) and asserts the errnos and
//! values the kernel's does.

mod common;

use std::sync::Arc;

use common::mock::*;
use common::{Buffer, call, hwpt_alloc, ops};
use iommufd_bindings as k;
use softiommu_iommufd::{Context, Host};

const FIXED_RW: u32 = 7;
const RW: u32 = 6;
const NEST_PARENT: u32 = 1;
const DIRTY_TRACKING: u32 = 2;

/// Anonymous shared memory of `len` bytes, as the kernel test's `mmap` makes it.
struct Mapping {
    ptr: u64,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> Mapping {
        // SAFETY: a fresh anonymous mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        Mapping { ptr: p as u64, len }
    }

    /// Unmaps `len` bytes from byte `off` (the rest stays until drop).
    fn unmap_part(&self, off: usize, len: usize) {
        // SAFETY: a part of this mapping; nothing refers to it afterwards.
        assert_eq!(
            unsafe { libc::munmap((self.ptr + off as u64) as *mut libc::c_void, len) },
            0
        );
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the whole mapping (parts already unmapped are ignored by munmap).
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

/// The `iommufd_mock_domain` fixture: an IOAS with `mock_domains` mock devices.
struct MockDomain {
    host: Arc<Host>,
    ctx: Context,
    buf: Buffer,
    ioas_id: u32,
    hwpt_id: u32,
    hwpt_ids: [u32; 2],
    stdev_ids: [u32; 2],
    idev_ids: [u32; 2],
    mock_domains: usize,
    mmap_buf_size: usize,
}

impl MockDomain {
    fn setup(mock_domains: usize) -> MockDomain {
        let host = mock();
        let ctx = open(&host);
        let ioas_id = ops::ioas_alloc(&ctx);
        let mut f = MockDomain {
            host,
            ctx,
            buf: buffer(),
            ioas_id,
            hwpt_id: 0,
            hwpt_ids: [0; 2],
            stdev_ids: [0; 2],
            idev_ids: [0; 2],
            mock_domains,
            mmap_buf_size: 8 * PAGE as usize,
        };
        for i in 0..mock_domains {
            let (s, h, d) = mock_domain(&f.ctx, ioas_id).expect("mock domain");
            (f.stdev_ids[i], f.hwpt_ids[i], f.idev_ids[i]) = (s, h, d);
        }
        f.hwpt_id = f.hwpt_ids[0];
        f
    }

    /// `check_mock_iova`: every mock domain maps `[iova, iova + length)` to `ptr`.
    fn check_mock_iova(&self, ptr: u64, iova: u64, length: u64) {
        assert_eq!(
            check_map(&self.ctx, self.hwpt_id, ptr, iova, length),
            Ok(())
        );
        if self.hwpt_ids[1] != 0 {
            assert_eq!(
                check_map(&self.ctx, self.hwpt_ids[1], ptr, iova, length),
                Ok(())
            );
        }
    }

    fn map(&self, va: u64, len: u64, flags: u32) -> Result<u64, i32> {
        ops::map(&self.ctx, self.ioas_id, flags, va, len, 0)
    }
}

macro_rules! iommufd_mock_domain {
    ($($t:ident),* $(,)?) => {
        mod iommufd_mock_domain_one_domain {
            $( #[test] fn $t() { super::run_mock(1, super::$t) } )*
        }
        mod iommufd_mock_domain_two_domains {
            $( #[test] fn $t() { super::run_mock(2, super::$t) } )*
        }
    };
}

mod iommufd_mock_domain_one_domain_file {
    #[test]
    fn user_copy() {
        super::run_mock(1, super::user_copy_file)
    }
}

mod iommufd_mock_domain_two_domains_file {
    #[test]
    fn user_copy() {
        super::run_mock(2, super::user_copy_file)
    }
}

fn run_mock(n: usize, body: fn(&mut MockDomain)) {
    let mut f = MockDomain::setup(n);
    body(&mut f);
    teardown(&f.host, f.ctx, &f.buf);
}

iommufd_mock_domain!(
    basic,
    ro_unshare,
    all_aligns,
    all_aligns_copy,
    user_copy,
    replace,
    alloc_hwpt
);

fn basic(f: &mut MockDomain) {
    let iova = f.map(f.buf.addr(0), PAGE, RW).expect("map");
    f.check_mock_iova(f.buf.addr(0), iova, PAGE);
    let size = f.mmap_buf_size;
    let m = Mapping::new(size);
    m.unmap_part(size / 2, size / 2);
    assert_eq!(f.map(m.ptr, size as u64, RW), Err(libc::EFAULT));
    m.unmap_part(0, size / 2);
    assert_eq!(f.map(m.ptr, size as u64, RW), Err(libc::EFAULT));
}

fn ro_unshare(f: &mut MockDomain) {
    use std::os::fd::AsRawFd;
    let exe = std::fs::File::open("/proc/self/exe").expect("the test binary");
    // SAFETY: a private mapping of one page of a file open for reading; checked below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            PAGE as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE,
            exe.as_raw_fd(),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    drop(exe);
    let va = p as u64;
    let iova = f.map(va, PAGE, 4).expect("map");
    f.check_mock_iova(va, iova, PAGE);
    // SAFETY: the page mapped above, writable and private to this process.
    unsafe { std::ptr::write_bytes(p.cast::<u8>(), 1, PAGE as usize) };
    f.check_mock_iova(va, iova, PAGE);
    // SAFETY: the mapping made above.
    assert_eq!(unsafe { libc::munmap(p, PAGE as usize) }, 0);
}

/// Maps every start and end on mock pages of an 8-page buffer; `copy` adds and removes a
/// mock domain while each mapping exists.
fn aligns(f: &mut MockDomain, copy: bool) {
    let size = f.mmap_buf_size as u64;
    let m = Mapping::new(size as usize);
    assert_eq!(check_refs(&f.ctx, m.ptr, size, 0), Ok(()));
    let mut start = 0;
    while start < size {
        let mut end = start + MOCK_PAGE;
        while end < size {
            let length = end - start;
            let iova = f.map(m.ptr + start, length, RW).expect("map");
            let mut stdev = None;
            let old = f.hwpt_ids[1];
            if copy {
                let (s, h, _) = mock_domain(&f.ctx, f.ioas_id).expect("mock domain");
                f.hwpt_ids[1] = h;
                stdev = Some(s);
            }
            f.check_mock_iova(m.ptr + start, iova, length);
            let first = start / PAGE * PAGE;
            let refs = check_refs(&f.ctx, m.ptr + first, end / PAGE * PAGE - first, 1);
            assert_eq!(refs, Ok(()), "{start:#x}..{end:#x}");
            if let Some(s) = stdev {
                ops::destroy(&f.ctx, s).expect("destroy");
                f.hwpt_ids[1] = old;
            }
            ops::unmap(&f.ctx, f.ioas_id, iova, length).expect("unmap");
            end += MOCK_PAGE;
        }
        start += MOCK_PAGE;
    }
    assert_eq!(check_refs(&f.ctx, m.ptr, size, 0), Ok(()));
}

fn all_aligns(f: &mut MockDomain) {
    aligns(f, false);
}

fn all_aligns_copy(f: &mut MockDomain) {
    aligns(f, true);
}

/// `user_copy` (anonymous memory): pages pinned through an access in an IOAS without
/// domains are copied into the one with mock domains; the access then moves to a new IOAS
/// and the same is done from there.
fn user_copy(f: &mut MockDomain) {
    user_copy_from(f, None);
}

/// `user_copy` of the `_file` variants: the IOASes map a memfd, and the access's pages
/// must be those of the test's own mapping of it.
fn user_copy_file(f: &mut MockDomain) {
    let mfd = MemfdBuffer::new(BUFFER_SIZE as usize);
    user_copy_from(f, Some(&mfd));
}

/// A memfd of `len` bytes and the test's shared mapping of it (the kernel test's
/// `mfd_buffer`).
struct MemfdBuffer {
    fd: std::os::fd::OwnedFd,
    map: Mapping,
}

impl MemfdBuffer {
    fn new(len: usize) -> MemfdBuffer {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: memfd_create with a NUL-terminated name; the result is checked.
        let raw = unsafe { libc::memfd_create(c"mfd-buffer".as_ptr(), 0) };
        assert!(raw >= 0);
        // SAFETY: a new descriptor owned by nothing else.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        // SAFETY: ftruncate of the descriptor just made.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), len as i64) }, 0);
        // SAFETY: a shared mapping of the whole file; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        MemfdBuffer {
            fd,
            map: Mapping { ptr: p as u64, len },
        }
    }

    /// `IOMMU_IOAS_MAP_FILE` of the whole file, readable and writeable: its IOVA.
    fn map_into(&self, ctx: &Context, ioas: u32) -> u64 {
        use std::os::fd::AsRawFd;
        let mut c = k::iommu_ioas_map_file {
            size: 40,
            flags: RW,
            ioas_id: ioas,
            fd: self.fd.as_raw_fd(),
            start: 0,
            length: self.map.len as u64,
            iova: 0,
        };
        call(ctx, 0x8f, &mut c).expect("map file");
        c.iova
    }
}

fn user_copy_from(f: &mut MockDomain, mfd: Option<&MemfdBuffer>) {
    let ctx = &f.ctx;
    let va = mfd.map_or(f.buf.addr(0), |m| m.map.ptr);
    let map_into = |ioas: u32| match mfd {
        Some(m) => m.map_into(ctx, ioas),
        None => ops::map(ctx, ioas, RW, va, BUFFER_SIZE, 0).expect("map"),
    };
    let copy = |src: u32, iova: u64| {
        let (dst, flags) = (f.ioas_id, FIXED_RW);
        ops::copy(ctx, dst, src, flags, APERTURE_START, iova, BUFFER_SIZE)
    };
    // Pinned in an IOAS without domains, then copied to one with domains.
    let ioas = ops::ioas_alloc(ctx);
    let src_iova = map_into(ioas);
    let fd = create_access(ctx, ioas, ACCESS_NEEDS_PIN).expect("create access");
    access_pages(ctx, fd, 0, src_iova, BUFFER_SIZE, va).expect("access pages");
    assert_eq!(copy(ioas, src_iova), Ok(APERTURE_START));
    f.check_mock_iova(va, APERTURE_START, BUFFER_SIZE);

    // The access moves to a new IOAS; the old one and the copy go.
    let new_ioas = ops::ioas_alloc(ctx);
    let new_iova = map_into(new_ioas);
    assert_eq!(access_replace_ioas(ctx, fd, new_ioas), Ok(()));
    ops::unmap(ctx, f.ioas_id, APERTURE_START, BUFFER_SIZE).expect("unmap");
    ops::destroy(ctx, ioas).expect("destroy");

    // The same again from the new IOAS.
    let item = access_pages(ctx, fd, 0, new_iova, BUFFER_SIZE, va).expect("access pages");
    assert_eq!(copy(new_ioas, new_iova), Ok(APERTURE_START));
    f.check_mock_iova(va, APERTURE_START, BUFFER_SIZE);
    assert_eq!(destroy_access_pages(ctx, fd, item), Ok(()));
    destroy_access(fd);
    ops::destroy(ctx, new_ioas).expect("destroy");
}

fn replace(f: &mut MockDomain) {
    let ioas = ops::ioas_alloc(&f.ctx);
    mock_domain_replace(&f.ctx, f.stdev_ids[0], ioas).expect("mock domain replace");
    if f.mock_domains == 1 {
        let r = mock_domain_replace(&f.ctx, f.stdev_ids[0], f.hwpt_ids[0]);
        assert_eq!(r, Err(libc::ENOENT));
    }
    mock_domain_replace(&f.ctx, f.stdev_ids[0], ioas).expect("mock domain replace");
    if f.mock_domains >= 2 {
        mock_domain_replace(&f.ctx, f.stdev_ids[0], f.hwpt_ids[1]).expect("mock domain replace");
        mock_domain_replace(&f.ctx, f.stdev_ids[0], f.hwpt_ids[1]).expect("mock domain replace");
        mock_domain_replace(&f.ctx, f.stdev_ids[0], f.hwpt_ids[0]).expect("mock domain replace");
    }
    mock_domain_replace(&f.ctx, f.stdev_ids[0], f.ioas_id).expect("mock domain replace");
    ops::destroy(&f.ctx, ioas).expect("destroy");
}

fn alloc_hwpt(f: &mut MockDomain) {
    for i in 0..f.mock_domains {
        let (idev, stdev, ioas) = (f.idev_ids[i], f.stdev_ids[i], f.ioas_id);
        let r = hwpt_alloc(&f.ctx, idev, ioas, !NEST_PARENT, 0, &[]);
        assert_eq!(r, Err(libc::EOPNOTSUPP));
        let h0 = hwpt_alloc(&f.ctx, idev, ioas, 0, 0, &[]).expect("hwpt alloc");
        let h1 = hwpt_alloc(&f.ctx, idev, ioas, NEST_PARENT, 0, &[]).expect("hwpt alloc");
        mock_domain_replace(&f.ctx, stdev, h0).expect("mock domain replace");
        assert_eq!(ops::destroy(&f.ctx, h0), Err(libc::EBUSY));
        mock_domain_replace(&f.ctx, stdev, h1).expect("mock domain replace");
        assert_eq!(ops::destroy(&f.ctx, h1), Err(libc::EBUSY));
        mock_domain_replace(&f.ctx, stdev, ioas).expect("mock domain replace");
        ops::destroy(&f.ctx, h1).expect("destroy");
        let (s, _, _) = mock_domain(&f.ctx, h0).expect("mock domain");
        ops::destroy(&f.ctx, s).expect("destroy");
        ops::destroy(&f.ctx, h0).expect("destroy");
    }
}

/// The `iommufd_dirty_tracking` fixture: a buffer of `buffer_size`, a bitmap with room for
/// unaligned starts, an IOAS without large pages and one mock device on it.
struct Dirty {
    host: Arc<Host>,
    ctx: Context,
    gbuf: Buffer,
    buffer: Buffer,
    bitmap: Buffer,
    buffer_size: u64,
    ioas_id: u32,
    idev_id: u32,
}

impl Dirty {
    fn setup(buffer_size: u64) -> Dirty {
        let host = mock();
        let ctx = open(&host);
        let buffer = Buffer::new(buffer_size as usize, 2 << 20);
        let bits = buffer_size / MOCK_PAGE;
        let room = (bits.div_ceil(8) + 2 * PAGE).next_multiple_of(PAGE);
        let bitmap = Buffer::new(room as usize, PAGE as usize);
        let ioas_id = ops::ioas_alloc(&ctx);
        ops::option(&ctx, 1, 0, ioas_id, 0).expect("option");
        let (_, _, idev_id) = mock_domain(&ctx, ioas_id).expect("mock domain");
        Dirty {
            host,
            ctx,
            gbuf: common::mock::buffer(),
            buffer,
            bitmap,
            buffer_size,
            ioas_id,
            idev_id,
        }
    }
}

macro_rules! iommufd_dirty_tracking {
    ($($t:ident),* $(,)?) => {
        mod iommufd_dirty_tracking_domain_dirty8k {
            $( #[test] fn $t() { super::run_dirty(8 << 10, super::$t) } )*
        }
        mod iommufd_dirty_tracking_domain_dirty16k {
            $( #[test] fn $t() { super::run_dirty(16 << 10, super::$t) } )*
        }
        mod iommufd_dirty_tracking_domain_dirty128k {
            $( #[test] fn $t() { super::run_dirty(128 << 10, super::$t) } )*
        }
        mod iommufd_dirty_tracking_domain_dirty256k {
            $( #[test] fn $t() { super::run_dirty(256 << 10, super::$t) } )*
        }
        mod iommufd_dirty_tracking_domain_dirty640k {
            $( #[test] fn $t() { super::run_dirty(640 << 10, super::$t) } )*
        }
    };
}

fn run_dirty(size: u64, body: fn(&mut Dirty)) {
    let mut f = Dirty::setup(size);
    body(&mut f);
    let (host, buffer) = (f.host.clone(), f.buffer);
    teardown(&host, f.ctx, &f.gbuf);
    let fresh = open(&host);
    let r = check_refs(&fresh, buffer.addr(0), f.buffer_size, 0);
    assert_eq!(r, Ok(()));
}

iommufd_dirty_tracking!(
    enforce_dirty,
    set_dirty_tracking,
    device_dirty_capability,
    get_dirty_bitmap,
    get_dirty_bitmap_no_clear,
);

fn set_tracking(ctx: &Context, hwpt: u32, on: bool) -> Result<i64, i32> {
    let mut c = k::iommu_hwpt_set_dirty_tracking {
        size: 16,
        flags: u32::from(on),
        hwpt_id: hwpt,
        __reserved: 0,
    };
    call(ctx, 0x8b, &mut c)
}

fn enforce_dirty(f: &mut Dirty) {
    let no_dirty = Some(1);
    let hwpt =
        hwpt_alloc(&f.ctx, f.idev_id, f.ioas_id, DIRTY_TRACKING, 0, &[]).expect("hwpt alloc");
    let (stdev, _, _) = mock_domain(&f.ctx, hwpt).expect("mock domain");
    let r = mock_domain_flags(&f.ctx, hwpt, no_dirty);
    assert_eq!(r, Err(libc::EINVAL));
    ops::destroy(&f.ctx, stdev).expect("destroy");
    ops::destroy(&f.ctx, hwpt).expect("destroy");

    let ioas = ops::ioas_alloc(&f.ctx);
    let (stdev, _, idev) = mock_domain_flags(&f.ctx, ioas, no_dirty).expect("mock domain flags");
    let r = hwpt_alloc(&f.ctx, idev, ioas, DIRTY_TRACKING, 0, &[]);
    assert_eq!(r, Err(libc::EOPNOTSUPP));
    ops::destroy(&f.ctx, stdev).expect("destroy");
}

fn set_dirty_tracking(f: &mut Dirty) {
    let hwpt =
        hwpt_alloc(&f.ctx, f.idev_id, f.ioas_id, DIRTY_TRACKING, 0, &[]).expect("hwpt alloc");
    let (stdev, _, _) = mock_domain(&f.ctx, hwpt).expect("mock domain");
    set_tracking(&f.ctx, hwpt, true).expect("set tracking");
    set_tracking(&f.ctx, hwpt, false).expect("set tracking");
    ops::destroy(&f.ctx, stdev).expect("destroy");
    ops::destroy(&f.ctx, hwpt).expect("destroy");
}

fn device_dirty_capability(f: &mut Dirty) {
    let hwpt = hwpt_alloc(&f.ctx, f.idev_id, f.ioas_id, 0, 0, &[]).expect("hwpt alloc");
    let (stdev, _, _) = mock_domain(&f.ctx, hwpt).expect("mock domain");
    let mut c = k::iommu_hw_info {
        size: 40,
        dev_id: f.idev_id,
        ..Default::default()
    };
    call(&f.ctx, 0x8a, &mut c).expect("GET_HW_INFO");
    assert_eq!(c.out_capabilities & 1, 1, "IOMMU_HW_CAP_DIRTY_TRACKING");
    ops::destroy(&f.ctx, stdev).expect("destroy");
    ops::destroy(&f.ctx, hwpt).expect("destroy");
}

/// The kernel's `test_mock_dirty_bitmaps` with the bitmap at byte `off` of the fixture's:
/// every other mock page is made dirty through the test channel, read back (and cleared
/// unless `flags` has NO_CLEAR), then read again.
fn mock_dirty_bitmaps(f: &mut Dirty, hwpt: u32, off: usize, flags: u32) {
    let bits = (f.buffer_size / MOCK_PAGE) as usize;
    let bytes = bits.div_ceil(8);
    let nr = (bits / 2).max(1) as u64;
    let at = f.bitmap.addr(off);
    let set_even = |b: &mut [u8]| {
        b.fill(0);
        for i in (0..bits).step_by(2) {
            b[i / 8] |= 1 << (i % 8);
        }
    };
    set_even(&mut f.bitmap.bytes_mut()[off..off + bytes]);
    let n =
        set_dirty(&f.ctx, hwpt, f.buffer_size, APERTURE_START, MOCK_PAGE, at).expect("set dirty");
    assert_eq!(n, nr);
    let get = |ctx: &Context| {
        let mut c = k::iommu_hwpt_get_dirty_bitmap {
            size: 48,
            hwpt_id: hwpt,
            flags,
            __reserved: 0,
            iova: APERTURE_START,
            length: f.buffer_size,
            page_size: MOCK_PAGE,
            data: at,
        };
        call(ctx, 0x8c, &mut c).expect("GET_DIRTY_BITMAP");
    };
    f.bitmap.bytes_mut()[off..off + bytes].fill(0);
    get(&f.ctx);
    let bit = |b: &Buffer, i: usize| b.bytes()[off + i / 8] >> (i % 8) & 1 == 1;
    for i in 0..bits {
        assert_eq!(bit(&f.bitmap, i), i % 2 == 0, "bit {i}");
    }
    f.bitmap.bytes_mut()[off..off + bytes].fill(0);
    get(&f.ctx);
    let kept = flags & 1 != 0;
    for i in 0..bits {
        assert_eq!(bit(&f.bitmap, i), kept && i % 2 == 0, "bit {i} read again");
    }
}

fn dirty_bitmaps(f: &mut Dirty, flags: u32) {
    let ioas = ops::ioas_alloc(&f.ctx);
    let va = f.buffer.addr(0);
    ops::map(&f.ctx, ioas, FIXED_RW, va, f.buffer_size, APERTURE_START).expect("map");
    let hwpt = hwpt_alloc(&f.ctx, f.idev_id, ioas, DIRTY_TRACKING, 0, &[]).expect("hwpt alloc");
    set_tracking(&f.ctx, hwpt, true).expect("set tracking");
    mock_dirty_bitmaps(f, hwpt, 0, flags);
    mock_dirty_bitmaps(f, hwpt, MOCK_PAGE as usize, flags);
    mock_dirty_bitmaps(f, hwpt, 0xff1, flags);
    ops::destroy(&f.ctx, hwpt).expect("destroy");
}

fn get_dirty_bitmap(f: &mut Dirty) {
    dirty_bitmaps(f, 0);
}

fn get_dirty_bitmap_no_clear(f: &mut Dirty) {
    dirty_bitmaps(f, 1);
}

/// The `vfio_compat_mock_domain` fixture: an IOAS with a mock device, set as the VFIO
/// compatibility IOAS, and `VFIO_SET_IOMMU` of `version`.
struct Compat {
    host: Arc<Host>,
    ctx: Context,
    buf: Buffer,
    ioas_id: u32,
    version: u64,
}

const VFIO_SET_IOMMU: u64 = 0x3b66;
const VFIO_IOMMU_MAP_DMA: u64 = 0x3b71;
const VFIO_IOMMU_UNMAP_DMA: u64 = 0x3b72;
const TYPE1: u64 = 1;
const TYPE1V2: u64 = 3;

impl Compat {
    fn setup(version: u64) -> Compat {
        let host = mock();
        let ctx = open(&host);
        let ioas_id = ops::ioas_alloc(&ctx);
        mock_domain(&ctx, ioas_id).expect("mock domain");
        let mut c = k::iommu_vfio_ioas {
            size: 12,
            ioas_id,
            op: 1,
            __reserved: 0,
        };
        call(&ctx, 0x88, &mut c).expect("VFIO_IOAS");
        ctx.ioctl(VFIO_SET_IOMMU, version).expect("VFIO_SET_IOMMU");
        Compat {
            host,
            ctx,
            buf: buffer(),
            ioas_id,
            version,
        }
    }

    fn map(&self, va: u64, iova: u64, size: u64) -> Result<i64, i32> {
        let mut b = Vec::new();
        b.extend_from_slice(&32u32.to_ne_bytes());
        b.extend_from_slice(&3u32.to_ne_bytes());
        for v in [va, iova, size] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        let r = self.ctx.ioctl(VFIO_IOMMU_MAP_DMA, b.as_mut_ptr() as u64);
        r.map_err(|e| e.errno())
    }

    /// `VFIO_IOMMU_UNMAP_DMA`: the result and the size written back.
    fn unmap(&self, flags: u32, iova: u64, size: u64) -> (Result<i64, i32>, u64) {
        let mut b = Vec::new();
        b.extend_from_slice(&24u32.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&iova.to_ne_bytes());
        b.extend_from_slice(&size.to_ne_bytes());
        let r = self.ctx.ioctl(VFIO_IOMMU_UNMAP_DMA, b.as_mut_ptr() as u64);
        let size = u64::from_ne_bytes(b[16..24].try_into().expect("a field's bytes"));
        (r.map_err(|e| e.errno()), size)
    }
}

macro_rules! vfio_compat_mock_domain {
    ($($t:ident),* $(,)?) => {
        mod vfio_compat_mock_domain_ver1v2 {
            $( #[test] fn $t() { super::run_compat(super::TYPE1V2, super::$t) } )*
        }
        mod vfio_compat_mock_domain_ver1v0 {
            $( #[test] fn $t() { super::run_compat(super::TYPE1, super::$t) } )*
        }
    };
}

fn run_compat(version: u64, body: fn(&mut Compat)) {
    let mut f = Compat::setup(version);
    body(&mut f);
    teardown(&f.host, f.ctx, &f.buf);
}

vfio_compat_mock_domain!(simple_close, option_huge_pages, get_info, map, huge_map);

fn simple_close(_: &mut Compat) {}

fn option_huge_pages(f: &mut Compat) {
    let v = ops::option(&f.ctx, 1, 1, f.ioas_id, 3).expect("option");
    assert_eq!(v, u64::from(f.version != TYPE1));
}

const VFIO_IOMMU_GET_INFO: u64 = 0x3b70;
const INFO_PGSIZES_CAPS: u32 = 1 | 2;

fn field32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("a field's bytes"))
}

fn field64(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("a field's bytes"))
}

/// `VFIO_IOMMU_GET_INFO` with `argsz` in the fixture's buffer, whose bytes past `argsz` must
/// stay as they were (`ioctl_check_buf`): the buffer's bytes after the call.
fn info_in_buffer(f: &mut Compat, argsz: u32) -> Vec<u8> {
    let b = f.buf.bytes_mut();
    b[..24].fill(0);
    b[..4].copy_from_slice(&argsz.to_ne_bytes());
    b[argsz as usize..].fill(0xaa);
    let at = f.buf.addr(0);
    f.ctx
        .ioctl(VFIO_IOMMU_GET_INFO, at)
        .expect("VFIO_IOMMU_GET_INFO");
    let b = f.buf.bytes().to_vec();
    let used = (argsz as usize).max(4);
    assert!(
        b[used..].iter().all(|&x| x == 0xaa),
        "written past argsz {argsz}"
    );
    b
}

/// The kernel test's `check_vfio_info_cap_chain`.
fn check_cap_chain(b: &[u8]) {
    let argsz = field32(b, 0) as usize;
    let mut cap = field32(b, 16) as usize;
    assert!(argsz >= cap + 8);
    loop {
        let (id, version, next) = (
            u16::from_ne_bytes([b[cap], b[cap + 1]]),
            u16::from_ne_bytes([b[cap + 2], b[cap + 3]]),
            field32(b, cap + 4) as usize,
        );
        let size = if next != 0 { next - cap } else { argsz - cap };
        assert_eq!(version, 1);
        match id {
            1 => {
                assert_eq!(field32(b, cap + 8), 1, "one IOVA range");
                assert_eq!(field64(b, cap + 16), APERTURE_START);
                assert_eq!(field64(b, cap + 24), APERTURE_LAST);
            }
            3 => assert_eq!(size, 12),
            other => panic!("unknown capability {other}"),
        }
        if next == 0 {
            break;
        }
        assert!(argsz >= next + 8 && next >= cap);
        cap = next;
    }
}

fn get_info(f: &mut Compat) {
    // The ABI before capabilities.
    let b = info_in_buffer(f, 16);
    assert_ne!(field64(&b, 8), 0, "page sizes");
    assert_eq!(field32(&b, 4), INFO_PGSIZES_CAPS);
    // The size of the chain.
    let b = info_in_buffer(f, 24);
    assert_ne!(field64(&b, 8), 0);
    assert_eq!(field32(&b, 4), INFO_PGSIZES_CAPS);
    assert_eq!(field32(&b, 16), 0, "no room for a capability");
    let caplen = field32(&b, 0);
    assert!(caplen > 24);
    // Every size up to it: the capabilities that fit, never a corrupted chain.
    for argsz in 24..caplen {
        let b = info_in_buffer(f, argsz);
        assert_eq!(field32(&b, 4), INFO_PGSIZES_CAPS);
        if field32(&b, 16) != 0 {
            check_cap_chain(&b);
        }
    }
}

fn map(f: &mut Compat) {
    const ALL: u32 = 1 << 1;
    let va = f.buf.addr(0);
    f.map(va, APERTURE_START, BUFFER_SIZE).expect("map");
    assert_eq!(
        f.unmap(0, APERTURE_START, BUFFER_SIZE),
        (Ok(0), BUFFER_SIZE)
    );
    f.map(va, APERTURE_START, BUFFER_SIZE).expect("map");
    assert_eq!(
        f.unmap(ALL, APERTURE_START, BUFFER_SIZE).0,
        Err(libc::EINVAL)
    );
    assert_eq!(f.unmap(ALL, 0, 0), (Ok(0), BUFFER_SIZE));
    let n = BUFFER_SIZE / PAGE;
    for i in 0..n {
        f.map(va + i * PAGE, APERTURE_START + i * PAGE, PAGE)
            .expect("map");
    }
    // A fixed shuffle of the pages.
    for j in 0..n {
        let i = (j * 7 + 3) % n;
        assert_eq!(f.unmap(0, APERTURE_START + i * PAGE, PAGE).0, Ok(0));
    }
}

fn huge_map(f: &mut Compat) {
    let size = 4u64 << 20;
    let buf = Buffer::new(size as usize, 2 << 20);
    f.map(buf.addr(0), APERTURE_START, size).expect("map");
    let piece = size / 16;
    for j in 0..16 {
        let i = (j * 5 + 1) % 16;
        let r = f.unmap(0, APERTURE_START + i * piece, piece).0;
        if f.version == TYPE1 {
            assert_eq!(r, Ok(0));
        } else {
            assert_eq!(r, Err(libc::ENOENT));
        }
    }
}

//! The mock platform of the kernel's own iommufd tests: a host whose contexts answer
//! `IOMMU_TEST_CMD` over the reference driver's mock IOMMU, and the calls of the kernel
//! test's helpers (`iommufd_utils.h`) as this crate makes them through the binary entry point.

use std::sync::Arc;

use softiommu_core::{Iommu, Mem, TableAlloc};
use softiommu_iommufd::{Context, Credentials, Host};
use softiommu_mem::{HostMemory, PageAlloc};

use super::{Buffer, call};

/// `MOCK_APERTURE_START`.
pub const APERTURE_START: u64 = 1 << 24;
/// `MOCK_APERTURE_LAST`.
pub const APERTURE_LAST: u64 = (1 << 31) - 1;
/// `MOCK_PAGE_SIZE`.
pub const MOCK_PAGE: u64 = 2048;
/// The kernel test's `PAGE_SIZE`.
pub const PAGE: u64 = 4096;
/// The kernel test's `BUFFER_SIZE` (16 pages).
pub const BUFFER_SIZE: u64 = 16 * PAGE;
/// `IOMMU_TEST_CMD`'s number.
pub const TEST_CMD: u32 = 0xa0;

/// A host with the mock IOMMU and nothing else.
pub fn mock() -> Arc<Host> {
    let mem = Arc::new(HostMemory::new(64 << 20).expect("table arena"));
    let m: Mem = mem.clone();
    let (base, size) = mem.table_range();
    let tables: TableAlloc = Arc::new(PageAlloc::new(m.clone(), base, size).expect("allocator"));
    let iommu = Arc::new(Iommu::new(m, tables));
    Host::with_mock(mem, iommu).expect("mock host")
}

/// A context (an open of `/dev/iommu`) on `host` for a user who may lock 1 GiB.
pub fn open(host: &Arc<Host>) -> Context {
    let cred = Credentials {
        memlock_limit: Some(1 << 30),
        sys_resource: true,
        ..Credentials::default()
    };
    Context::new(host.clone(), cred)
}

/// The kernel test's global buffer: `BUFFER_SIZE` bytes aligned to a huge page.
pub fn buffer() -> Buffer {
    Buffer::new(BUFFER_SIZE as usize, 2 << 20)
}

/// `struct iommu_test_cmd` in the kernel's layout: the header, the union of 48 bytes at
/// offset 16 (as words), `last` at 64.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct TestCmd {
    pub size: u32,
    pub op: u32,
    pub id: u32,
    pub reserved: u32,
    pub payload: [u64; 6],
    pub last: u32,
    pub pad: u32,
}

const _: () = assert!(std::mem::size_of::<TestCmd>() == 72);

impl TestCmd {
    /// Op `op` on object `id`, with the payload's `u64` words `words` from its start.
    pub fn new(op: u32, id: u32, words: &[u64]) -> TestCmd {
        let mut c = TestCmd {
            size: 72,
            op,
            id,
            ..Default::default()
        };
        c.payload[..words.len()].copy_from_slice(words);
        c
    }

    /// The `u32` at byte `off` of the payload.
    pub fn u32_at(&self, off: usize) -> u32 {
        let w = self.payload[off / 8];
        (if off.is_multiple_of(8) { w } else { w >> 32 }) as u32
    }
}

/// Two `u32`s as the `u64` word they share (little-endian layout, first at the lower bytes).
pub fn pair(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | u64::from(hi) << 32
}

/// `ioctl(fd, IOMMU_TEST_CMD, &cmd)`; the command as written back, or the errno.
pub fn test_cmd(ctx: &Context, mut c: TestCmd) -> Result<TestCmd, i32> {
    call(ctx, TEST_CMD, &mut c).map(|_| c)
}

/// `IOMMU_TEST_OP_MOCK_DOMAIN` on `id`: `(stdev_id, hwpt_id, idev_id)`.
pub fn mock_domain(ctx: &Context, id: u32) -> Result<(u32, u32, u32), i32> {
    mock_domain_flags(ctx, id, None)
}

/// `IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS` (or plain `MOCK_DOMAIN` with `None`).
pub fn mock_domain_flags(
    ctx: &Context,
    id: u32,
    flags: Option<u32>,
) -> Result<(u32, u32, u32), i32> {
    let c = match flags {
        None => TestCmd::new(2, id, &[]),
        Some(f) => TestCmd::new(12, id, &[0, pair(0, f)]),
    };
    let c = test_cmd(ctx, c)?;
    Ok((c.u32_at(0), c.u32_at(4), c.u32_at(8)))
}

/// `IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE` of mock device `stdev` to `pt`: the HWPT id.
pub fn mock_domain_replace(ctx: &Context, stdev: u32, pt: u32) -> Result<u32, i32> {
    test_cmd(ctx, TestCmd::new(10, stdev, &[u64::from(pt)])).map(|c| c.u32_at(0))
}

/// `IOMMU_TEST_OP_ADD_RESERVED`.
pub fn add_reserved(ctx: &Context, ioas: u32, start: u64, length: u64) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(1, ioas, &[start, length])).map(|_| ())
}

/// `IOMMU_TEST_OP_MD_CHECK_MAP`: `hwpt` maps `[iova, iova + length)` to the memory at `ptr`.
pub fn check_map(ctx: &Context, hwpt: u32, ptr: u64, iova: u64, length: u64) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(3, hwpt, &[iova, length, ptr])).map(|_| ())
}

/// `IOMMU_TEST_OP_MD_CHECK_REFS`: every page of `[ptr, ptr + length)` is pinned `refs` times.
pub fn check_refs(ctx: &Context, ptr: u64, length: u64, refs: u32) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(4, 0, &[length, ptr, u64::from(refs)])).map(|_| ())
}

/// `IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT`.
pub fn set_temp_memory_limit(ctx: &Context, limit: u32) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(9, 0, &[u64::from(limit)])).map(|_| ())
}

/// `IOMMU_TEST_OP_DIRTY`: marks dirty the pages whose bits are set in the bitmap at
/// `bitmap`; the count the call reports.
pub fn set_dirty(
    ctx: &Context,
    hwpt: u32,
    length: u64,
    iova: u64,
    page_size: u64,
    bitmap: u64,
) -> Result<u64, i32> {
    test_cmd(
        ctx,
        TestCmd::new(13, hwpt, &[0, iova, length, page_size, bitmap]),
    )
    .map(|c| c.payload[5])
}

/// The kernel test's teardown: the context is closed, a new one opened, and no page of
/// `buf` may still be pinned.
pub fn teardown(host: &Arc<Host>, ctx: Context, buf: &Buffer) {
    drop(ctx);
    let fresh = open(host);
    assert_eq!(check_refs(&fresh, buf.addr(0), BUFFER_SIZE, 0), Ok(()));
    assert_eq!(host.pinned_pages(), 0);
}

/// `MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES`.
pub const ACCESS_NEEDS_PIN: u32 = 1;
/// `MOCK_ACCESS_RW_WRITE`.
pub const RW_WRITE: u32 = 1;
/// `MOCK_ACCESS_RW_SLOW_PATH`.
pub const RW_SLOW_PATH: u32 = 4;

/// `IOMMU_TEST_OP_CREATE_ACCESS` on IOAS `ioas`: the access's descriptor.
pub fn create_access(ctx: &Context, ioas: u32, flags: u32) -> Result<i32, i32> {
    test_cmd(ctx, TestCmd::new(5, ioas, &[pair(0, flags)])).map(|c| c.u32_at(0) as i32)
}

/// `test_cmd_destroy_access`: closes the access's descriptor.
pub fn destroy_access(fd: i32) {
    // SAFETY: `fd` is an access descriptor the test owns and uses no more.
    assert_eq!(unsafe { libc::close(fd) }, 0);
}

/// `IOMMU_TEST_OP_ACCESS_PAGES` through access `fd`: the item id.
pub fn access_pages(
    ctx: &Context,
    fd: i32,
    flags: u32,
    iova: u64,
    length: u64,
    uptr: u64,
) -> Result<u32, i32> {
    let c = TestCmd::new(7, fd as u32, &[pair(flags, 0), iova, length, uptr]);
    test_cmd(ctx, c).map(|c| c.u32_at(4))
}

/// `IOMMU_TEST_OP_DESTROY_ACCESS_PAGES` of item `item` of access `fd`.
pub fn destroy_access_pages(ctx: &Context, fd: i32, item: u32) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(6, fd as u32, &[u64::from(item)])).map(|_| ())
}

/// `IOMMU_TEST_OP_ACCESS_RW` through access `fd`.
pub fn access_rw(
    ctx: &Context,
    fd: i32,
    iova: u64,
    length: u64,
    uptr: u64,
    flags: u32,
) -> Result<(), i32> {
    let c = TestCmd::new(8, fd as u32, &[iova, length, uptr, u64::from(flags)]);
    test_cmd(ctx, c).map(|_| ())
}

/// `IOMMU_TEST_OP_ACCESS_REPLACE_IOAS` of access `fd` to `ioas`.
pub fn access_replace_ioas(ctx: &Context, fd: i32, ioas: u32) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(11, fd as u32, &[u64::from(ioas)])).map(|_| ())
}

/// `IOMMU_TEST_OP_PASID_ATTACH` of PASID `pasid` of mock device `stdev` to `pt`.
pub fn pasid_attach(ctx: &Context, stdev: u32, pasid: u32, pt: u32) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(18, stdev, &[pair(pasid, pt)])).map(|_| ())
}

/// `IOMMU_TEST_OP_PASID_REPLACE` of PASID `pasid` of mock device `stdev` with `pt`.
pub fn pasid_replace(ctx: &Context, stdev: u32, pasid: u32, pt: u32) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(19, stdev, &[pair(pasid, pt)])).map(|_| ())
}

/// `IOMMU_TEST_OP_PASID_DETACH` of PASID `pasid` of mock device `stdev`.
pub fn pasid_detach(ctx: &Context, stdev: u32, pasid: u32) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(20, stdev, &[u64::from(pasid)])).map(|_| ())
}

/// `IOMMU_TEST_OP_PASID_CHECK_HWPT`: PASID `pasid` of `stdev` is attached to `hwpt` (0:
/// to nothing).
pub fn pasid_check_hwpt(ctx: &Context, stdev: u32, pasid: u32, hwpt: u32) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(21, stdev, &[pair(pasid, hwpt)])).map(|_| ())
}

/// `IOMMU_TEST_OP_TRIGGER_IOPF`: bound device `dev` sends a page request.
pub fn trigger_iopf(
    ctx: &Context,
    dev: u32,
    pasid: u32,
    grpid: u32,
    perm: u32,
    addr: u64,
) -> Result<(), i32> {
    let c = TestCmd::new(15, 0, &[pair(dev, pasid), pair(grpid, perm), addr]);
    test_cmd(ctx, c).map(|_| ())
}

/// `IOMMU_HWPT_FAULT_ID_VALID`.
pub const FAULT_ID_VALID: u32 = 1 << 2;
/// `IOMMU_HWPT_DATA_SELFTEST`.
pub const HWPT_DATA_SELFTEST: u32 = 0xdead;
/// `IOMMU_TEST_IOTLB_DEFAULT`.
pub const IOTLB_DEFAULT: u32 = 0xbad_beef;

/// `IOMMU_FAULT_QUEUE_ALLOC`: `(fault_id, fault_fd)`.
pub fn fault_alloc(ctx: &Context) -> (u32, i32) {
    let mut c = iommufd_bindings::iommu_fault_alloc {
        size: 16,
        ..Default::default()
    };
    call(ctx, 0x8e, &mut c).expect("fault queue alloc");
    (c.out_fault_id, c.out_fault_fd as i32)
}

/// `IOMMU_HWPT_ALLOC` with a fault queue (`_test_cmd_hwpt_alloc_iopf`).
pub fn hwpt_alloc_iopf(
    ctx: &Context,
    dev: u32,
    pt: u32,
    fault_id: u32,
    flags: u32,
    data: &[u8],
) -> Result<u32, i32> {
    super::hwpt_alloc_fault(ctx, dev, pt, flags, HWPT_DATA_SELFTEST, data, fault_id)
}

/// The kernel's `_test_cmd_trigger_iopf`: a page request of `dev` at `pasid` (group 2, read
/// and write, address 0xdeadbeaf), read from `fault_fd` and answered with success.
pub fn trigger_iopf_and_answer(ctx: &Context, dev: u32, pasid: u32, fault_fd: i32) {
    const PERM_READ_WRITE: u32 = 3;
    assert_eq!(
        trigger_iopf(ctx, dev, pasid, 2, PERM_READ_WRITE, 0xdead_beaf),
        Ok(())
    );
    let mut fault = iommufd_bindings::iommu_hwpt_pgfault::default();
    let n = std::mem::size_of_val(&fault);
    // SAFETY: reads at most `n` bytes into `fault`, a plain structure of `n` bytes.
    let got = unsafe { libc::read(fault_fd, (&raw mut fault).cast(), n) };
    assert_eq!(got, n as isize, "one fault record");
    assert_eq!(fault.dev_id, dev);
    assert_eq!(fault.grpid, 2);
    assert_eq!(fault.perm, PERM_READ_WRITE);
    assert_eq!(fault.addr, 0xdead_beaf & !0xfff);
    let flags = 2 | u32::from(pasid != 0);
    assert_eq!(
        fault.flags, flags,
        "LAST_PAGE, and PASID_VALID with a PASID"
    );
    assert_eq!(fault.pasid, pasid);
    let response = iommufd_bindings::iommu_hwpt_page_response {
        cookie: fault.cookie,
        code: 0,
    };
    let m = std::mem::size_of_val(&response);
    // SAFETY: writes the `m` bytes of `response`.
    let put = unsafe { libc::write(fault_fd, (&raw const response).cast(), m) };
    assert_eq!(put, m as isize);
}

/// The kernel test's `iommufd_ioas` fixture: a context, an IOAS, and `mock_domains` mock
/// devices on it (the ids are the last one's), under a temporary memory limit.
pub struct IoasFixture {
    pub host: Arc<Host>,
    pub ctx: Context,
    pub buf: Buffer,
    pub ioas_id: u32,
    pub stdev_id: u32,
    pub hwpt_id: u32,
    pub device_id: u32,
    pub base_iova: u64,
    pub mock_domains: u32,
}

impl IoasFixture {
    /// The fixture with `mock_domains` devices and a limit of `memory_limit` pages (the
    /// kernel's default of 65536 for 0).
    pub fn setup(mock_domains: u32, memory_limit: u32) -> IoasFixture {
        let host = mock();
        let ctx = open(&host);
        let ioas_id = super::ops::ioas_alloc(&ctx);
        let limit = if memory_limit == 0 {
            65536
        } else {
            memory_limit
        };
        set_temp_memory_limit(&ctx, limit).expect("set temp memory limit");
        let mut f = IoasFixture {
            host,
            ctx,
            buf: buffer(),
            ioas_id,
            stdev_id: 0,
            hwpt_id: 0,
            device_id: 0,
            base_iova: 0,
            mock_domains,
        };
        for _ in 0..mock_domains {
            let (s, h, d) = mock_domain(&f.ctx, ioas_id).expect("mock domain");
            (f.stdev_id, f.hwpt_id, f.device_id) = (s, h, d);
            f.base_iova = APERTURE_START;
        }
        f
    }

    /// The kernel's teardown: the limit restored, then the context closed and checked.
    pub fn teardown(self) {
        set_temp_memory_limit(&self.ctx, 65536).expect("set temp memory limit");
        teardown(&self.host, self.ctx, &self.buf);
    }
}

/// Runs `body` on a fresh [`IoasFixture`] of that variant, then tears it down.
pub fn run_ioas(mock_domains: u32, limit: u32, body: fn(&mut IoasFixture)) {
    let mut f = IoasFixture::setup(mock_domains, limit);
    body(&mut f);
    f.teardown();
}

/// Declares a test of each body `$t` (a `fn(&mut IoasFixture)` of the including file) under
/// each variant of the `iommufd_ioas` fixture, in a module named for the variant.
#[allow(unused_macros)]
macro_rules! iommufd_ioas {
    ($($t:ident),* $(,)?) => {
        mod iommufd_ioas_no_domain {
            $( #[test] fn $t() { $crate::common::mock::run_ioas(0, 0, super::$t) } )*
        }
        mod iommufd_ioas_mock_domain {
            $( #[test] fn $t() { $crate::common::mock::run_ioas(1, 0, super::$t) } )*
        }
        mod iommufd_ioas_two_mock_domain {
            $( #[test] fn $t() { $crate::common::mock::run_ioas(2, 0, super::$t) } )*
        }
        mod iommufd_ioas_mock_domain_limit {
            $( #[test] fn $t() { $crate::common::mock::run_ioas(1, 16, super::$t) } )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use iommufd_ioas;

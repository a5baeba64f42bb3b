//! The kernel's own iommufd conformance tests of the mock vIOMMU (tools/testing/selftests/
//! iommu/iommufd.c, fixture `iommufd_viommu` with its variants), run against softiommu's
//! test channel through the binary entry point. Each test is named after the kernel's
//! `TEST_F` and asserts the errnos and values the kernel's does.

mod common;

use std::sync::Arc;

use common::mock::*;
use common::vdevice_alloc as vdevice_alloc_cmd;
use common::{call, ops, viommu_alloc};
use iommufd_bindings as k;
use softiommu_iommufd::{Context, Host};

const NEST_PARENT: u32 = 1 << 0;
const VIOMMU_TYPE_SELFTEST: u32 = 0xdead_beef;
const VEVENTQ_TYPE_SELFTEST: u32 = 0xbeef_beef;
const INV_SELFTEST: u32 = 0xdead_beef;
const INV_SELFTEST_INVALID: u32 = 0x0dad_beef;
const DEV_CACHE_DEFAULT: u32 = 0x00ba_ddad;
const CACHE_ID_MAX: u32 = 3;
const LOST_EVENTS: u32 = 1;

/// The `iommufd_viommu` fixture: with a vIOMMU, a mock device, a nesting parent, a mock
/// vIOMMU over it and a nested HWPT through that; without, only an IOAS.
struct Viommu {
    host: Arc<Host>,
    ctx: Context,
    ioas_id: u32,
    stdev_id: u32,
    hwpt_id: u32,
    nested_hwpt_id: u32,
    device_id: u32,
    viommu_id: u32,
}

/// `test_cmd_veventq_alloc` (depth 2): `(veventq_id, veventq_fd)`.
fn veventq_alloc(ctx: &Context, viommu: u32, ty: u32) -> Result<(u32, i32), i32> {
    let mut c = k::iommu_veventq_alloc {
        size: 32,
        viommu_id: viommu,
        type_: ty,
        veventq_depth: 2,
        ..Default::default()
    };
    call(ctx, 0x93, &mut c).map(|_| (c.out_veventq_id, c.out_veventq_fd as i32))
}

/// `test_cmd_trigger_vevents`: `n` events of `dev`.
fn trigger_vevents(ctx: &Context, dev: u32, n: u32) {
    for _ in 0..n {
        let r = test_cmd(ctx, TestCmd::new(17, 0, &[u64::from(dev)]));
        assert_eq!(r.map(|_| ()), Ok(()));
    }
}

/// The kernel's `_test_cmd_read_vevents`: `n` events of `virt_id` read from `fd`, in
/// sequence after `prev_seq`; `EOVERFLOW` at a lost-events header or a gap.
fn read_vevents(fd: i32, n: usize, virt_id: u32, prev_seq: &mut i64) -> Result<(), i32> {
    const REC: usize = 12;
    let mut data = vec![0u8; n * REC];
    // SAFETY: reads at most `data.len()` bytes into `data`.
    let got = unsafe { libc::read(fd, data.as_mut_ptr().cast(), data.len()) };
    if got <= 0 {
        return Err(libc::EFAULT);
    }
    let word = |o: usize| u32::from_ne_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
    for i in 0..n {
        let (flags, seq) = (word(i * REC), i64::from(word(i * REC + 4)));
        if flags & LOST_EVENTS != 0 || seq - *prev_seq > 1 {
            *prev_seq = seq;
            return Err(libc::EOVERFLOW);
        }
        *prev_seq = seq;
        // The kernel's test reads the first event's payload each time.
        if word(8) != virt_id {
            return Err(libc::EINVAL);
        }
    }
    Ok(())
}

fn invalidate(
    ctx: &Context,
    viommu: u32,
    ty: u32,
    len: u32,
    reqs: &[[u32; 3]],
) -> (Result<i64, i32>, u32) {
    let bytes: Vec<u8> = reqs
        .iter()
        .flatten()
        .flat_map(|w| w.to_ne_bytes())
        .collect();
    let mut c = k::iommu_hwpt_invalidate {
        size: 32,
        hwpt_id: viommu,
        data_uptr: bytes.as_ptr() as u64,
        data_type: ty,
        entry_len: len,
        entry_num: reqs.len() as u32,
        __reserved: 0,
    };
    let r = call(ctx, 0x8d, &mut c);
    (r, c.entry_num)
}

fn check_cache(ctx: &Context, dev: u32, want: [u32; 4]) {
    for (e, w) in want.into_iter().enumerate() {
        let r = test_cmd(ctx, TestCmd::new(16, dev, &[pair(e as u32, w)]));
        assert_eq!(r.map(|_| ()), Ok(()), "cache entry {e}");
    }
}

impl Viommu {
    fn setup(viommu: bool) -> Viommu {
        let host = mock();
        let ctx = open(&host);
        let ioas_id = ops::ioas_alloc(&ctx);
        set_temp_memory_limit(&ctx, 65536).expect("memory limit");
        let mut f = Viommu {
            host,
            ctx,
            ioas_id,
            stdev_id: 0,
            hwpt_id: 0,
            nested_hwpt_id: 0,
            device_id: 0,
            viommu_id: 0,
        };
        if viommu {
            let (stdev, _, dev) = mock_domain(&f.ctx, ioas_id).expect("mock domain");
            (f.stdev_id, f.device_id) = (stdev, dev);
            f.hwpt_id = common::hwpt_alloc(&f.ctx, dev, ioas_id, NEST_PARENT, 0, &[])
                .expect("nesting parent");
            f.viommu_id =
                viommu_alloc(&f.ctx, dev, f.hwpt_id, VIOMMU_TYPE_SELFTEST).expect("viommu");
            let data = [IOTLB_DEFAULT.to_ne_bytes(), [0; 4]].concat();
            f.nested_hwpt_id =
                common::hwpt_alloc(&f.ctx, dev, f.viommu_id, 0, HWPT_DATA_SELFTEST, &data)
                    .expect("nested");
        }
        f
    }
}

macro_rules! iommufd_viommu {
    ($($t:ident),* $(,)?) => {
        mod iommufd_viommu_no_viommu {
            $( #[test] fn $t() { super::run(false, super::$t) } )*
        }
        mod iommufd_viommu_mock_viommu {
            $( #[test] fn $t() { super::run(true, super::$t) } )*
        }
    };
}

fn run(viommu: bool, body: fn(&mut Viommu)) {
    let mut f = Viommu::setup(viommu);
    body(&mut f);
    let host = f.host.clone();
    drop(f);
    assert_eq!(host.pinned_pages(), 0);
}

iommufd_viommu!(
    viommu_auto_destroy,
    viommu_negative_tests,
    viommu_alloc_nested_iopf,
    vdevice_alloc,
    vdevice_cache,
    vdevice_tombstone,
);

fn viommu_auto_destroy(_: &mut Viommu) {}

fn viommu_negative_tests(f: &mut Viommu) {
    let ctx = &f.ctx;
    let (dev, hwpt) = (f.device_id, f.hwpt_id);
    if dev == 0 {
        assert_eq!(
            viommu_alloc(ctx, dev, hwpt, VIOMMU_TYPE_SELFTEST),
            Err(libc::ENOENT)
        );
        return;
    }
    // No HWPT, a HWPT not made to nest, a type the mock does not have.
    assert_eq!(
        viommu_alloc(ctx, dev, 0, VIOMMU_TYPE_SELFTEST),
        Err(libc::ENOENT)
    );
    let not_parent = common::hwpt_alloc(ctx, dev, f.ioas_id, 0, 0, &[]).expect("hwpt");
    assert_eq!(
        viommu_alloc(ctx, dev, not_parent, VIOMMU_TYPE_SELFTEST),
        Err(libc::EINVAL)
    );
    ops::destroy(ctx, not_parent).expect("destroy");
    assert_eq!(viommu_alloc(ctx, dev, hwpt, 0xdead), Err(libc::EOPNOTSUPP));
    // The vIOMMU keeps its parent busy, and its nested HWPT keeps the vIOMMU.
    assert_eq!(ops::destroy(ctx, hwpt), Err(libc::EBUSY));
    assert_eq!(ops::destroy(ctx, f.viommu_id), Err(libc::EBUSY));
}

fn viommu_alloc_nested_iopf(f: &mut Viommu) {
    let ctx = &f.ctx;
    let (dev, viommu) = (f.device_id, f.viommu_id);
    if dev == 0 {
        return;
    }
    let data = [IOTLB_DEFAULT.to_ne_bytes(), [0; 4]].concat();
    let (fault_id, fault_fd) = fault_alloc(ctx);
    let iopf = |fault, flags| hwpt_alloc_iopf(ctx, dev, viommu, fault, flags, &data);
    assert_eq!(iopf(u32::MAX, FAULT_ID_VALID), Err(libc::ENOENT));
    assert_eq!(
        iopf(fault_id, FAULT_ID_VALID | 1 << 31),
        Err(libc::EOPNOTSUPP)
    );
    let iopf_hwpt = iopf(fault_id, FAULT_ID_VALID).expect("iopf hwpt");
    // A vDEVICE is needed before attaching to a nested HWPT of the vIOMMU.
    assert_eq!(
        mock_domain_replace(ctx, f.stdev_id, iopf_hwpt),
        Err(libc::ENOENT)
    );
    vdevice_alloc_cmd(ctx, viommu, dev, 0x99).expect("vdevice");
    mock_domain_replace(ctx, f.stdev_id, iopf_hwpt).expect("replace");
    assert_eq!(ops::destroy(ctx, iopf_hwpt), Err(libc::EBUSY));
    trigger_iopf_and_answer(ctx, dev, 0, fault_fd);

    mock_domain_replace(ctx, f.stdev_id, f.ioas_id).expect("replace");
    ops::destroy(ctx, iopf_hwpt).expect("destroy");
    // SAFETY: the test owns the fault queue's descriptor and uses it no more.
    assert_eq!(unsafe { libc::close(fault_fd) }, 0);
    ops::destroy(ctx, fault_id).expect("destroy");
}

fn vdevice_alloc(f: &mut Viommu) {
    let ctx = &f.ctx;
    let (dev, viommu) = (f.device_id, f.viommu_id);
    if dev == 0 {
        assert_eq!(vdevice_alloc_cmd(ctx, viommu, dev, 0x99), Err(libc::ENOENT));
        return;
    }
    let mut prev_seq = -1i64;
    assert_eq!(
        mock_domain_replace(ctx, f.stdev_id, f.nested_hwpt_id),
        Err(libc::ENOENT)
    );
    let (veventq_id, veventq_fd) =
        veventq_alloc(ctx, viommu, VEVENTQ_TYPE_SELFTEST).expect("veventq");
    assert_eq!(
        veventq_alloc(ctx, viommu, VEVENTQ_TYPE_SELFTEST),
        Err(libc::EEXIST)
    );
    // Virtual id 0x99, then 0x88.
    let vdev = vdevice_alloc_cmd(ctx, viommu, dev, 0x99).expect("vdevice");
    mock_domain_replace(ctx, f.stdev_id, f.nested_hwpt_id).expect("replace");
    trigger_vevents(ctx, dev, 1);
    assert_eq!(read_vevents(veventq_fd, 1, 0x99, &mut prev_seq), Ok(()));
    assert_eq!(vdevice_alloc_cmd(ctx, viommu, dev, 0x99), Err(libc::EEXIST));
    mock_domain_replace(ctx, f.stdev_id, f.ioas_id).expect("replace");
    ops::destroy(ctx, vdev).expect("destroy");

    let vdev = vdevice_alloc_cmd(ctx, viommu, dev, 0x88).expect("vdevice");
    mock_domain_replace(ctx, f.stdev_id, f.nested_hwpt_id).expect("replace");
    // Three events overflow a queue of two.
    trigger_vevents(ctx, dev, 3);
    assert_eq!(
        read_vevents(veventq_fd, 3, 0x88, &mut prev_seq),
        Err(libc::EOVERFLOW)
    );
    // Read, the overflow is gone.
    trigger_vevents(ctx, dev, 1);
    assert_eq!(read_vevents(veventq_fd, 1, 0x88, &mut prev_seq), Ok(()));
    // SAFETY: the test owns the vEVENTQ's descriptor and uses it no more.
    assert_eq!(unsafe { libc::close(veventq_fd) }, 0);
    mock_domain_replace(ctx, f.stdev_id, f.ioas_id).expect("replace");
    ops::destroy(ctx, vdev).expect("destroy");
    ops::destroy(ctx, veventq_id).expect("destroy");
}

fn vdevice_cache(f: &mut Viommu) {
    let ctx = &f.ctx;
    let (dev, viommu) = (f.device_id, f.viommu_id);
    if dev == 0 {
        return;
    }
    let vdev = vdevice_alloc_cmd(ctx, viommu, dev, 0x99).expect("vdevice");
    let d = DEV_CACHE_DEFAULT;
    check_cache(ctx, dev, [d; 4]);
    let inv = |ty, len, reqs: &[[u32; 3]]| invalidate(ctx, viommu, ty, len, reqs);

    // An empty array checks the data type only.
    assert_eq!(inv(INV_SELFTEST, 12, &[]), (Ok(0), 0));
    // A bad data type, entry size, flag.
    assert_eq!(
        inv(INV_SELFTEST_INVALID, 12, &[[0, 0, 0]]),
        (Err(libc::EINVAL), 0)
    );
    assert_eq!(inv(INV_SELFTEST, 13, &[[0, 0, 0]]), (Err(libc::EINVAL), 0));
    assert_eq!(inv(INV_SELFTEST, 1, &[[0, 0, 0]]), (Err(libc::EINVAL), 0));
    assert_eq!(
        inv(INV_SELFTEST, 12, &[[u32::MAX, 0x99, 0]]),
        (Err(libc::EOPNOTSUPP), 0)
    );
    // No array, no entry length.
    let mut c = k::iommu_hwpt_invalidate {
        size: 32,
        hwpt_id: viommu,
        data_uptr: 0,
        data_type: INV_SELFTEST,
        entry_len: 12,
        entry_num: 1,
        __reserved: 0,
    };
    assert_eq!(call(ctx, 0x8d, &mut c), Err(libc::EINVAL));
    assert_eq!(c.entry_num, 0);
    assert_eq!(
        inv(INV_SELFTEST, 0, &[[0, 0x99, 0]]),
        (Err(libc::EINVAL), 0)
    );
    // A bad cache id, a bad virtual id.
    let r = inv(INV_SELFTEST, 12, &[[0, 0x99, CACHE_ID_MAX + 1]]);
    assert_eq!(r, (Err(libc::EINVAL), 0));
    assert_eq!(
        inv(INV_SELFTEST, 12, &[[0, 0x9, 0]]),
        (Err(libc::EINVAL), 0)
    );

    // The first entry is carried out, the second refused.
    let r = inv(INV_SELFTEST, 12, &[[0, 0x99, 0], [u32::MAX, 0x99, 1]]);
    assert_eq!(r, (Err(libc::EOPNOTSUPP), 1));
    check_cache(ctx, dev, [0, d, d, d]);
    let r = inv(
        INV_SELFTEST,
        12,
        &[[0, 0x99, 0], [0, 0x99, CACHE_ID_MAX + 1]],
    );
    assert_eq!(r, (Err(libc::EINVAL), 1));
    check_cache(ctx, dev, [0, d, d, d]);
    assert_eq!(inv(INV_SELFTEST, 12, &[[0, 0x99, 1]]), (Ok(0), 1));
    check_cache(ctx, dev, [0, 0, d, d]);
    let r = inv(INV_SELFTEST, 12, &[[0, 0x99, 2], [0, 0x99, 3]]);
    assert_eq!(r, (Ok(0), 2));
    check_cache(ctx, dev, [0; 4]);
    // Everything of the device.
    assert_eq!(inv(INV_SELFTEST, 12, &[[1, 0x99, 0]]), (Ok(0), 1));
    check_cache(ctx, dev, [0; 4]);
    ops::destroy(ctx, vdev).expect("destroy");
}

fn vdevice_tombstone(f: &mut Viommu) {
    let ctx = &f.ctx;
    if f.device_id == 0 {
        return;
    }
    let vdev = vdevice_alloc_cmd(ctx, f.viommu_id, f.device_id, 0x99).expect("vdevice");
    ops::destroy(ctx, f.stdev_id).expect("destroy");
    assert_eq!(ops::destroy(ctx, vdev), Err(libc::ENOENT));
}

//! The kernel's own iommufd conformance tests (tools/testing/selftests/iommu/iommufd.c),
//! fixture `iommufd_ioas` with its variants, run against softiommu's test channel through
//! the binary entry point. Each test is named after the kernel's `TEST_F`
//! (a module per fixture variant) and asserts the errnos and values the kernel's does.

mod common;

use common::mock::*;
use common::{call, ops};
use iommufd_bindings as k;
use softiommu_iommufd::Context;

const FIXED_RW: u32 = 7;
const RW: u32 = 6;

type Ioas = IoasFixture;

impl Ioas {
    fn map_fixed(&self, off: u64, len: u64, iova: u64) -> Result<u64, i32> {
        ops::map(
            &self.ctx,
            self.ioas_id,
            FIXED_RW,
            self.buf.addr(0) + off,
            len,
            iova,
        )
    }

    fn map(&self, va: u64, len: u64) -> Result<u64, i32> {
        ops::map(&self.ctx, self.ioas_id, RW, va, len, 0)
    }

    fn unmap(&self, iova: u64, len: u64) -> Result<u64, i32> {
        ops::unmap(&self.ctx, self.ioas_id, iova, len)
    }
}

iommufd_ioas!(
    ioas_auto_destroy,
    ioas_destroy,
    alloc_hwpt_nested,
    hwpt_attach,
    ioas_area_destroy,
    ioas_area_auto_destroy,
    get_hw_info,
    area,
    unmap_fully_contained_areas,
    area_auto_iova,
    area_allowed,
    copy_area,
    iova_ranges,
    ioas_option_huge_pages,
    ioas_iova_alloc,
    ioas_align_change,
    copy_sweep,
);

fn ioas_auto_destroy(_: &mut Ioas) {}

fn ioas_destroy(f: &mut Ioas) {
    if f.stdev_id != 0 {
        assert_eq!(ops::destroy(&f.ctx, f.ioas_id), Err(libc::EBUSY));
    } else {
        ops::destroy(&f.ctx, f.ioas_id).expect("destroy");
    }
}

/// `IOMMU_HWPT_INVALIDATE` of `entries` (`{flags, iotlb_id}` each) with `entry_len` on
/// `id`: the result and the count written back.
fn inv(
    ctx: &Context,
    id: u32,
    data_type: u32,
    entry_len: u32,
    entries: &[(u32, u32)],
    at_null: bool,
) -> (Result<i64, i32>, u32) {
    let mut bytes = Vec::new();
    for &(flags, iotlb_id) in entries {
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&iotlb_id.to_ne_bytes());
    }
    // Room past the last entry, zero, as the kernel test's two-entry array has.
    bytes.extend_from_slice(&[0; 16]);
    let mut c = k::iommu_hwpt_invalidate {
        size: 32,
        hwpt_id: id,
        data_uptr: if at_null { 0 } else { bytes.as_ptr() as u64 },
        data_type,
        entry_len,
        entry_num: entries.len() as u32,
        __reserved: 0,
    };
    let r = call(ctx, 0x8d, &mut c);
    (r, c.entry_num)
}

/// `MD_CHECK_IOTLB` of entry `entry` of `hwpt` against `want`.
fn check_iotlb(ctx: &Context, hwpt: u32, entry: u32, want: u32) -> Result<(), i32> {
    test_cmd(ctx, TestCmd::new(14, hwpt, &[pair(entry, want)])).map(|_| ())
}

fn alloc_hwpt_nested(f: &mut Ioas) {
    const SELFTEST: u32 = 0xdead;
    const INV: u32 = 0xdead_beef;
    const INV_INVALID: u32 = 0x0dad_beef;
    const IOTLB_DEFAULT: u32 = 0xbad_beef;
    const NEST_PARENT: u32 = 1;
    let data = [IOTLB_DEFAULT.to_ne_bytes(), [0; 4]].concat();
    let ctx = &f.ctx;
    let nested = |parent: u32, flags: u32, ty: u32, d: &[u8]| {
        common::hwpt_alloc(ctx, f.device_id, parent, flags, ty, d)
    };
    if f.device_id == 0 {
        let r = common::hwpt_alloc(ctx, 0, f.ioas_id, 0, 0, &[]);
        assert_eq!(r, Err(libc::ENOENT));
        assert_eq!(nested(0, 0, SELFTEST, &data), Err(libc::ENOENT));
        assert_eq!(mock_domain_replace(ctx, f.stdev_id, 0), Err(libc::ENOENT));
        return;
    }
    let check_all = |id: u32, want: u32| {
        for e in 0..4 {
            assert_eq!(check_iotlb(ctx, id, e, want), Ok(()), "entry {e}");
        }
    };
    let r = common::hwpt_alloc(ctx, f.ioas_id, f.device_id, 0, 0, &[]);
    assert_eq!(r, Err(libc::ENOENT));
    let r = common::hwpt_alloc(ctx, f.device_id, f.device_id, 0, 0, &[]);
    assert_eq!(r, Err(libc::EINVAL));
    let parent =
        common::hwpt_alloc(ctx, f.device_id, f.ioas_id, NEST_PARENT, 0, &[]).expect("hwpt alloc");
    let not_parent =
        common::hwpt_alloc(ctx, f.device_id, f.ioas_id, 0, 0, &[]).expect("hwpt alloc");

    assert_eq!(nested(parent, 0, 0, &data), Err(libc::EINVAL));
    assert_eq!(
        nested(parent, 0, SELFTEST + 1, &data),
        Err(libc::EOPNOTSUPP)
    );
    assert_eq!(nested(parent, 0, SELFTEST, &data[..3]), Err(libc::EINVAL));
    let mut null = k::iommu_hwpt_alloc {
        size: 48,
        dev_id: f.device_id,
        pt_id: parent,
        data_type: SELFTEST,
        data_len: 8,
        data_uptr: 0,
        ..Default::default()
    };
    assert_eq!(call(ctx, 0x89, &mut null), Err(libc::EFAULT));
    let r = nested(parent, NEST_PARENT, SELFTEST, &data);
    assert_eq!(r, Err(libc::EOPNOTSUPP));
    assert_eq!(nested(not_parent, 0, SELFTEST, &data), Err(libc::EINVAL));

    let (fault_id, fault_fd) = fault_alloc(ctx);
    let n0 = nested(parent, 0, SELFTEST, &data).expect("nested");
    let n1 = nested(parent, 0, SELFTEST, &data).expect("nested");
    let iopf = |fault| hwpt_alloc_iopf(ctx, f.device_id, parent, fault, FAULT_ID_VALID, &data);
    assert_eq!(iopf(u32::MAX), Err(libc::ENOENT));
    let iopf_hwpt = iopf(fault_id).expect("iopf hwpt");
    check_all(n0, IOTLB_DEFAULT);
    check_all(n1, IOTLB_DEFAULT);
    assert_eq!(nested(n0, 0, SELFTEST, &data), Err(libc::EINVAL));
    assert_eq!(ops::destroy(ctx, parent), Err(libc::EBUSY));

    // Invalidation takes a nested HWPT only.
    assert_eq!(
        inv(ctx, parent, INV, 8, &[(0, 0)], false),
        (Err(libc::EINVAL), 0)
    );
    assert_eq!(inv(ctx, n0, INV, 8, &[], false), (Ok(0), 0));
    let r = inv(ctx, n0, INV_INVALID, 8, &[(0, 0)], false);
    assert_eq!(r, (Err(libc::EINVAL), 0));
    assert_eq!(
        inv(ctx, n0, INV, 9, &[(0, 0)], false),
        (Err(libc::EINVAL), 0)
    );
    assert_eq!(
        inv(ctx, n0, INV, 1, &[(0, 0)], false),
        (Err(libc::EINVAL), 0)
    );
    let r = inv(ctx, n0, INV, 8, &[(0xffff_ffff, 0)], false);
    assert_eq!(r, (Err(libc::EOPNOTSUPP), 0));
    assert_eq!(
        inv(ctx, n0, INV, 8, &[(0, 0)], true),
        (Err(libc::EINVAL), 0)
    );
    assert_eq!(
        inv(ctx, n0, INV, 0, &[(0, 0)], false),
        (Err(libc::EINVAL), 0)
    );
    assert_eq!(
        inv(ctx, n0, INV, 8, &[(0, 4)], false),
        (Err(libc::EINVAL), 0)
    );
    check_all(n0, IOTLB_DEFAULT);

    // The first entry is carried out, the second refused.
    let r = inv(ctx, n0, INV, 8, &[(0, 0), (0xffff_ffff, 1)], false);
    assert_eq!(r, (Err(libc::EOPNOTSUPP), 1));
    let expect = |want: [u32; 4]| {
        for (e, w) in want.into_iter().enumerate() {
            assert_eq!(check_iotlb(ctx, n0, e as u32, w), Ok(()), "entry {e}");
        }
    };
    let d = IOTLB_DEFAULT;
    expect([0, d, d, d]);
    let r = inv(ctx, n0, INV, 8, &[(0, 0), (0, 4)], false);
    assert_eq!(r, (Err(libc::EINVAL), 1));
    expect([0, d, d, d]);
    assert_eq!(inv(ctx, n0, INV, 8, &[(0, 1)], false), (Ok(0), 1));
    expect([0, 0, d, d]);
    assert_eq!(inv(ctx, n0, INV, 8, &[(0, 2), (0, 3)], false), (Ok(0), 2));
    check_all(n0, 0);
    assert_eq!(inv(ctx, n1, INV, 8, &[(1, 0)], false), (Ok(0), 1));
    check_all(n1, 0);

    // A device attached to a nested HWPT keeps it busy.
    mock_domain_replace(ctx, f.stdev_id, n0).expect("mock domain replace");
    assert_eq!(ops::destroy(ctx, n0), Err(libc::EBUSY));
    mock_domain_replace(ctx, f.stdev_id, n1).expect("mock domain replace");
    assert_eq!(ops::destroy(ctx, n1), Err(libc::EBUSY));
    ops::destroy(ctx, n0).expect("destroy");
    // An iopf-capable nested HWPT takes the device's page requests.
    mock_domain_replace(ctx, f.stdev_id, iopf_hwpt).expect("mock domain replace");
    assert_eq!(ops::destroy(ctx, iopf_hwpt), Err(libc::EBUSY));
    trigger_iopf_and_answer(ctx, f.device_id, 0, fault_fd);
    mock_domain_replace(ctx, f.stdev_id, parent).expect("mock domain replace");
    ops::destroy(ctx, n1).expect("destroy");
    ops::destroy(ctx, iopf_hwpt).expect("destroy");
    mock_domain_replace(ctx, f.stdev_id, f.ioas_id).expect("mock domain replace");
    ops::destroy(ctx, parent).expect("destroy");
    ops::destroy(ctx, not_parent).expect("destroy");
    // SAFETY: the test owns the fault queue's descriptor and uses it no more.
    assert_eq!(unsafe { libc::close(fault_fd) }, 0);
    ops::destroy(ctx, fault_id).expect("destroy");
}

fn hwpt_attach(f: &mut Ioas) {
    if f.stdev_id != 0 {
        mock_domain(&f.ctx, f.hwpt_id).expect("mock domain");
    } else {
        assert_eq!(mock_domain(&f.ctx, f.hwpt_id), Err(libc::ENOENT));
    }
}

fn ioas_area_destroy(f: &mut Ioas) {
    f.map_fixed(0, PAGE, f.base_iova).expect("map fixed");
    if f.stdev_id != 0 {
        assert_eq!(ops::destroy(&f.ctx, f.ioas_id), Err(libc::EBUSY));
    } else {
        ops::destroy(&f.ctx, f.ioas_id).expect("destroy");
    }
}

fn ioas_area_auto_destroy(f: &mut Ioas) {
    for i in 0..10 {
        f.map_fixed(0, PAGE, f.base_iova + i * PAGE)
            .expect("map fixed");
    }
}

/// `IOMMU_GET_HW_INFO` into `data` (`len` bytes): the call's result and the structure.
fn hw_info(ctx: &Context, dev: u32, data: u64, len: u32) -> Result<k::iommu_hw_info, i32> {
    let mut c = k::iommu_hw_info {
        size: 40,
        dev_id: dev,
        data_len: len,
        data_uptr: data,
        ..Default::default()
    };
    call(ctx, 0x8a, &mut c).map(|_| c)
}

fn get_hw_info(f: &mut Ioas) {
    let mut exact = [0xffu8; 8];
    let mut larger = [0xffu8; 16];
    let mut smaller = [0xffu8; 4];
    if f.device_id == 0 {
        let e = hw_info(&f.ctx, 0, exact.as_mut_ptr() as u64, 8);
        assert_eq!(e.err(), Some(libc::ENOENT));
        let e = hw_info(&f.ctx, 0, larger.as_mut_ptr() as u64, 16);
        assert_eq!(e.err(), Some(libc::ENOENT));
        return;
    }
    let check = |c: k::iommu_hw_info| {
        // SAFETY: both members of the union are `u32`.
        assert_eq!(unsafe { c.__bindgen_anon_1.out_data_type }, 0xfeed_beef);
        assert_eq!(c.data_len, 8);
    };
    check(hw_info(&f.ctx, f.device_id, 0, 0).expect("GET_HW_INFO"));
    check(hw_info(&f.ctx, f.device_id, exact.as_mut_ptr() as u64, 8).expect("GET_HW_INFO"));
    let exact = std::hint::black_box(exact);
    assert_eq!(
        u32::from_ne_bytes(exact[..4].try_into().expect("four bytes")),
        0
    );
    assert_eq!(
        u32::from_ne_bytes(exact[4..].try_into().expect("four bytes")),
        0xdead_beef
    );
    check(hw_info(&f.ctx, f.device_id, larger.as_mut_ptr() as u64, 16).expect("GET_HW_INFO"));
    let larger = std::hint::black_box(larger);
    assert_eq!(
        u32::from_ne_bytes(larger[4..8].try_into().expect("four bytes")),
        0xdead_beef
    );
    assert_eq!(larger[8..], [0; 8], "trailing bytes are zeroed");
    check(hw_info(&f.ctx, f.device_id, smaller.as_mut_ptr() as u64, 4).expect("GET_HW_INFO"));
    let smaller = std::hint::black_box(smaller);
    assert_eq!(smaller, [0; 4]);
}

fn area(f: &mut Ioas) {
    for i in 0..10 {
        assert_eq!(f.unmap(i * PAGE, PAGE), Err(libc::ENOENT));
    }
    for i in 0..10 {
        f.map_fixed(0, PAGE, f.base_iova + i * PAGE)
            .expect("map fixed");
    }
    for i in 0..10 {
        f.unmap(f.base_iova + i * PAGE, PAGE).expect("unmap");
    }
    // Split fails.
    f.map_fixed(0, 2 * PAGE, f.base_iova + 16 * PAGE)
        .expect("map fixed");
    assert_eq!(f.unmap(f.base_iova + 16 * PAGE, PAGE), Err(libc::ENOENT));
    assert_eq!(f.unmap(f.base_iova + 17 * PAGE, PAGE), Err(libc::ENOENT));
    // Over map fails.
    for (len, at) in [(2, 16), (1, 16), (1, 17), (2, 15), (3, 15)] {
        let r = f.map_fixed(0, len * PAGE, f.base_iova + at * PAGE);
        assert_eq!(r, Err(libc::EEXIST), "{len} pages at page {at}");
    }
    f.unmap(0, u64::MAX).expect("unmap");
    f.unmap(0, u64::MAX).expect("unmap");
}

fn unmap_fully_contained_areas(f: &mut Ioas) {
    f.base_iova += 4 * PAGE;
    for i in 0..4 {
        f.map_fixed(0, 8 * PAGE, f.base_iova + i * 16 * PAGE)
            .expect("map fixed");
    }
    assert_eq!(f.unmap(f.base_iova - 4 * PAGE, 8 * PAGE), Err(libc::ENOENT));
    let at = f.base_iova + 3 * 16 * PAGE + 8 * PAGE - 4 * PAGE;
    assert_eq!(f.unmap(at, 8 * PAGE), Err(libc::ENOENT));
    let len = 3 * 16 * PAGE + 8 * PAGE + 4 * PAGE;
    assert_eq!(f.unmap(f.base_iova - 4 * PAGE, len), Ok(32 * PAGE));
}

fn area_auto_iova(f: &mut Ioas) {
    let va = f.buf.addr(0);
    let mut iovas = [0u64; 10];
    for iova in &mut iovas {
        *iova = f.map(va, PAGE).expect("map");
    }
    for iova in iovas {
        f.unmap(iova, PAGE).expect("unmap");
    }
    // IOVAs are aligned to the lowest set bit of the length.
    for (i, iova) in iovas.iter_mut().enumerate() {
        let length = PAGE * (i as u64 + 1);
        let from = if f.stdev_id != 0 { va } else { 1 << 31 };
        *iova = f.map(from, length).expect("map");
        assert_eq!(*iova % (1 << length.trailing_zeros()), 0);
    }
    for (i, iova) in iovas.iter().enumerate() {
        f.unmap(*iova, PAGE * (i as u64 + 1)).expect("unmap");
    }
    // Avoids a reserved region.
    let (rstart, rlen) = (4 * PAGE, 100 * PAGE);
    add_reserved(&f.ctx, f.ioas_id, rstart, rlen).expect("add reserved");
    for (i, iova) in iovas.iter_mut().enumerate() {
        let length = PAGE * (i as u64 + 1);
        *iova = f.map(va, length).expect("map");
        assert_eq!(*iova % (1 << length.trailing_zeros()), 0);
        assert!(!(*iova > rstart && *iova < rstart + rlen));
    }
    for (i, iova) in iovas.iter().enumerate() {
        f.unmap(*iova, PAGE * (i as u64 + 1)).expect("unmap");
    }
    // An allowed range over a reserved one.
    let r = ops::allow(&f.ctx, f.ioas_id, &[(PAGE, 600 * PAGE)]);
    assert_eq!(r, Err(libc::EADDRINUSE));
    // Allocation from an allowed range.
    let range = if f.stdev_id != 0 {
        (APERTURE_START + PAGE, APERTURE_START + 600 * PAGE - 1)
    } else {
        (200 * PAGE, 600 * PAGE - 1)
    };
    ops::allow(&f.ctx, f.ioas_id, &[range]).expect("allow");
    for (i, iova) in iovas.iter_mut().enumerate() {
        let length = PAGE * (i as u64 + 1);
        *iova = f.map(va, length).expect("map");
        assert_eq!(*iova % (1 << length.trailing_zeros()), 0);
        assert!(*iova >= range.0 && *iova <= range.1);
        assert!(*iova + length > range.0 && *iova + length <= range.1 + 1);
    }
    for (i, iova) in iovas.iter().enumerate() {
        f.unmap(*iova, PAGE * (i as u64 + 1)).expect("unmap");
    }
}

fn area_allowed(f: &mut Ioas) {
    let range = (f.base_iova, f.base_iova + 600 * PAGE);
    ops::allow(&f.ctx, f.ioas_id, &[range]).expect("allow");
    let r = add_reserved(&f.ctx, f.ioas_id, range.0 + PAGE, PAGE);
    assert_eq!(r, Err(libc::EADDRINUSE));
    ops::allow(&f.ctx, f.ioas_id, &[]).expect("allow");
    add_reserved(&f.ctx, f.ioas_id, range.0 + PAGE, PAGE).expect("add reserved");
    let r = ops::allow(&f.ctx, f.ioas_id, &[range]);
    assert_eq!(r, Err(libc::EADDRINUSE));
}

fn copy_area(f: &mut Ioas) {
    const FIXED: u32 = 1;
    f.map_fixed(0, PAGE, f.base_iova).expect("map fixed");
    let (b, id) = (f.base_iova, f.ioas_id);
    ops::copy(&f.ctx, id, id, FIXED, b + PAGE, b, PAGE).expect("copy");
    let dst = ops::ioas_alloc(&f.ctx);
    ops::copy(&f.ctx, dst, id, FIXED, 0, b, PAGE).expect("copy");
}

/// `IOMMU_IOAS_IOVA_RANGES` into `ranges` with room for `room` of them: the call's result,
/// the count written back, and the alignment.
fn iova_ranges(f: &mut Ioas) {
    let mut ranges = vec![k::iommu_iova_range::default(); 64];
    let get = |room: u32, ranges: &mut Vec<k::iommu_iova_range>| {
        ranges.fill(Default::default());
        let mut c = k::iommu_ioas_iova_ranges {
            size: 32,
            ioas_id: f.ioas_id,
            num_iovas: room,
            allowed_iovas: ranges.as_mut_ptr() as u64,
            ..Default::default()
        };
        let r = call(&f.ctx, 0x84, &mut c);
        *ranges = std::hint::black_box(std::mem::take(ranges));
        (r.err(), c.num_iovas, c.out_iova_alignment)
    };
    let (e, n, align) = get(64, &mut ranges);
    assert_eq!((e, n), (None, 1));
    if f.stdev_id == 0 {
        assert_eq!((ranges[0].start, ranges[0].last), (0, u64::MAX));
        assert_eq!(align, 1);
    } else {
        assert_eq!(
            (ranges[0].start, ranges[0].last),
            (APERTURE_START, APERTURE_LAST)
        );
        assert_eq!(align, MOCK_PAGE);
    }
    let (e, n, _) = get(0, &mut ranges);
    assert_eq!((e, n), (Some(libc::EMSGSIZE), 1));
    assert_eq!((ranges[0].start, ranges[0].last), (0, 0));

    add_reserved(&f.ctx, f.ioas_id, PAGE, PAGE).expect("add reserved");
    let (e, n, _) = get(64, &mut ranges);
    assert_eq!(e, None);
    if f.stdev_id == 0 {
        assert_eq!(n, 2);
        assert_eq!((ranges[0].start, ranges[0].last), (0, PAGE - 1));
        assert_eq!((ranges[1].start, ranges[1].last), (2 * PAGE, u64::MAX));
    } else {
        assert_eq!(n, 1);
        assert_eq!(
            (ranges[0].start, ranges[0].last),
            (APERTURE_START, APERTURE_LAST)
        );
    }
    let (e, n, _) = get(1, &mut ranges);
    if f.stdev_id == 0 {
        assert_eq!((e, n), (Some(libc::EMSGSIZE), 2));
        assert_eq!((ranges[0].start, ranges[0].last), (0, PAGE - 1));
    } else {
        assert_eq!((e, n), (None, 1));
        assert_eq!(
            (ranges[0].start, ranges[0].last),
            (APERTURE_START, APERTURE_LAST)
        );
    }
    assert_eq!((ranges[1].start, ranges[1].last), (0, 0));
}

fn ioas_option_huge_pages(f: &mut Ioas) {
    const HUGE: u32 = 1;
    let (get, set) = (1u16, 0u16);
    let id = f.ioas_id;
    assert_eq!(ops::option(&f.ctx, HUGE, get, id, 3), Ok(1));
    ops::option(&f.ctx, HUGE, set, id, 0).expect("option");
    assert_eq!(ops::option(&f.ctx, HUGE, get, id, 3), Ok(0));
    assert_eq!(ops::option(&f.ctx, HUGE, set, id, 2), Err(libc::EINVAL));
    ops::option(&f.ctx, HUGE, set, id, 1).expect("option");
}

fn ioas_iova_alloc(f: &mut Ioas) {
    let va = f.buf.addr(0);
    for length in 1..2 * PAGE {
        if f.mock_domains != 0 && length % MOCK_PAGE != 0 {
            assert_eq!(f.map(va, length), Err(libc::EINVAL), "length {length}");
        } else {
            let iova = f.map(va, length).expect("map");
            f.unmap(iova, length).expect("unmap");
        }
    }
}

fn ioas_align_change(f: &mut Ioas) {
    if f.mock_domains != 0 {
        return;
    }
    let (huge, set, id) = (1, 0, f.ioas_id);
    f.map_fixed(0, PAGE, APERTURE_START).expect("map fixed");
    ops::option(&f.ctx, huge, set, id, 0).expect("option");
    let r = f.map_fixed(MOCK_PAGE, PAGE, APERTURE_START + PAGE);
    assert_eq!(r, Err(libc::EINVAL));
    ops::option(&f.ctx, huge, set, id, 0).expect("option");
    ops::option(&f.ctx, huge, set, id, 1).expect("option");
    f.map_fixed(MOCK_PAGE, PAGE, APERTURE_START + PAGE)
        .expect("map fixed");
    assert_eq!(ops::option(&f.ctx, huge, set, id, 0), Err(libc::EADDRINUSE));
    f.unmap(APERTURE_START + PAGE, PAGE).expect("unmap");
    f.unmap(APERTURE_START, PAGE).expect("unmap");
}

fn copy_sweep(f: &mut Ioas) {
    const FIXED: u32 = 1;
    let dst = ops::ioas_alloc(&f.ctx);
    let last_iova = if f.mock_domains != 0 {
        APERTURE_START + BUFFER_SIZE - 1
    } else {
        APERTURE_START + BUFFER_SIZE - 2
    };
    f.map_fixed(0, last_iova - APERTURE_START + 1, APERTURE_START)
        .expect("map fixed");
    let mut iova = APERTURE_START - PAGE;
    while iova <= last_iova {
        let r = ops::copy(
            &f.ctx,
            dst,
            f.ioas_id,
            FIXED,
            APERTURE_START,
            iova,
            MOCK_PAGE,
        );
        if iova < APERTURE_START || iova + MOCK_PAGE - 1 > last_iova {
            assert_eq!(r, Err(libc::ENOENT), "source {iova:#x}");
        } else {
            assert_eq!(r, Ok(APERTURE_START), "source {iova:#x}");
            ops::unmap(&f.ctx, dst, APERTURE_START, MOCK_PAGE).expect("unmap");
        }
        iova += 511;
    }
    ops::destroy(&f.ctx, dst).expect("destroy");
}

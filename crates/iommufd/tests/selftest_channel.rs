//! The kernel's own iommufd conformance tests (tools/testing/selftests/iommu/iommufd.c),
//! fixture `iommufd` (a bare context), run against softiommu's test channel through the
//! binary entry point, with each test named after the kernel's `TEST_F`; and the test
//! channel's own checks (`channel`): its errnos, its failure points, its mock devices.

mod common;

use std::sync::Arc;

use common::mock::*;
use common::{Buffer, call, ops};
use iommufd_bindings as k;
use softiommu_iommufd::{Context, Host};

const FIXED_RW: u32 = 7;

mod iommufd {
    use super::*;

    fn with(body: impl FnOnce(&Context)) {
        let host = mock();
        let buf = buffer();
        let ctx = open(&host);
        body(&ctx);
        teardown(&host, ctx, &buf);
    }

    #[test]
    fn simple_close() {
        with(|_| {});
    }

    #[test]
    fn cmd_fail() {
        with(|ctx| {
            assert_eq!(ops::destroy(ctx, 0), Err(libc::ENOENT));
            let r = ctx.ioctl(u64::from(softiommu_iommufd::iommufd_ioctl(0x80)), 0);
            assert_eq!(r.map_err(|e| e.errno()), Err(libc::EFAULT));
            let mut c = k::iommu_destroy { size: 8, id: 0 };
            assert_eq!(call(ctx, 0x7f, &mut c), Err(libc::ENOTTY));
        });
    }

    #[test]
    fn cmd_ex_fail() {
        with(|ctx| {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&16u32.to_ne_bytes());
            let cmd = u64::from(softiommu_iommufd::iommufd_ioctl(0x80));
            let go =
                |b: &mut [u8; 16]| ctx.ioctl(cmd, b.as_mut_ptr() as u64).map_err(|e| e.errno());
            assert_eq!(go(&mut b), Err(libc::ENOENT));
            b[8] = 1;
            assert_eq!(go(&mut b), Err(libc::E2BIG));
            b[..4].copy_from_slice(&8u32.to_ne_bytes());
            assert_eq!(go(&mut b), Err(libc::ENOENT));
            b[..4].copy_from_slice(&7u32.to_ne_bytes());
            assert_eq!(go(&mut b), Err(libc::EINVAL));
        });
    }

    #[test]
    fn global_options() {
        with(|ctx| {
            let (rlimit, huge, get, set) = (0, 1, 1u16, 0u16);
            assert_eq!(ops::option(ctx, rlimit, get, 0, 1), Ok(0));
            ops::option(ctx, rlimit, set, 0, 1).expect("option");
            assert_eq!(ops::option(ctx, rlimit, set, 0, 2), Err(libc::EINVAL));
            assert_eq!(ops::option(ctx, rlimit, get, 0, 0), Ok(1));
            ops::option(ctx, rlimit, set, 0, 0).expect("option");
            assert_eq!(ops::option(ctx, huge, get, 0, 0), Err(libc::ENOENT));
            assert_eq!(ops::option(ctx, huge, set, 0, 0), Err(libc::ENOENT));
        });
    }

    #[test]
    fn test_cmd_length_and_unknown_ops() {
        with(|ctx| {
            let mut c = TestCmd::new(9, 0, &[65536]);
            c.size = 67;
            assert_eq!(test_cmd(ctx, c).err(), Some(libc::EINVAL));
            c.size = 68;
            assert_eq!(test_cmd(ctx, c).err(), None);
            for op in [0, 22, 23, 24, 1000] {
                let c = TestCmd::new(op, 0, &[]);
                assert_eq!(test_cmd(ctx, c).err(), Some(libc::EOPNOTSUPP), "op {op}");
            }
            // The served ops on id 0: no IOAS, device or mock object; descriptor 0 is no
            // access file.
            let served = [
                (5, libc::ENOENT),
                (6, libc::EBADFD),
                (7, libc::EBADFD),
                (8, libc::EBADFD),
                (11, libc::EBADFD),
                (15, libc::ENOENT),
                (17, libc::ENOENT),
                (18, libc::ENOENT),
                (19, libc::ENOENT),
                (20, libc::ENOENT),
                (21, libc::ENOENT),
            ];
            for (op, errno) in served {
                let c = TestCmd::new(op, 0, &[]);
                assert_eq!(test_cmd(ctx, c).err(), Some(errno), "op {op}");
            }
            assert_eq!(set_temp_memory_limit(ctx, 11), Err(libc::EINVAL));
            set_temp_memory_limit(ctx, 12).expect("set temp memory limit");
            set_temp_memory_limit(ctx, 65536).expect("set temp memory limit");
        });
    }

    #[test]
    fn test_channel_is_enotty_on_a_host_without_the_mock() {
        let p = common::vtd(1);
        let ctx = p.context(1 << 20);
        let c = TestCmd::new(9, 0, &[65536]);
        assert_eq!(test_cmd(&ctx, c).err(), Some(libc::ENOTTY));
        assert!(!p.host.has_test_channel());
    }
}

mod channel {
    use super::*;

    /// A context with an IOAS holding the first page of `buf` at the aperture's start, and a
    /// mock device on it: `(ctx, ioas, stdev, hwpt, idev)`.
    fn mapped(host: &Arc<Host>, buf: &Buffer) -> (Context, u32, u32, u32, u32) {
        let ctx = open(host);
        let ioas = ops::ioas_alloc(&ctx);
        let (stdev, hwpt, idev) = mock_domain(&ctx, ioas).expect("mock domain");
        ops::map(&ctx, ioas, FIXED_RW, buf.addr(0), PAGE, APERTURE_START).expect("map");
        (ctx, ioas, stdev, hwpt, idev)
    }

    #[test]
    fn check_map_and_refs_see_a_wrong_address_or_count() {
        let host = mock();
        let buf = buffer();
        let (ctx, ioas, _, hwpt, idev) = mapped(&host, &buf);
        let at = buf.addr(0);
        check_map(&ctx, hwpt, at, APERTURE_START, PAGE).expect("check map");
        let off = at + MOCK_PAGE;
        assert_eq!(
            check_map(&ctx, hwpt, off, APERTURE_START, PAGE),
            Err(libc::EINVAL)
        );
        assert_eq!(
            check_map(&ctx, hwpt, at + 1, APERTURE_START, PAGE),
            Err(libc::EINVAL)
        );
        assert_eq!(
            check_map(&ctx, ioas, at, APERTURE_START, PAGE),
            Err(libc::ENOENT)
        );
        assert_eq!(
            check_map(&ctx, idev, at, APERTURE_START, PAGE),
            Err(libc::ENOENT)
        );
        assert_eq!(
            check_map(&ctx, hwpt, 0, APERTURE_START, PAGE),
            Err(libc::EFAULT)
        );
        check_refs(&ctx, at, PAGE, 1).expect("check refs");
        assert_eq!(check_refs(&ctx, at, PAGE, 2), Err(libc::EIO));
        assert_eq!(check_refs(&ctx, at + PAGE, PAGE, 1), Err(libc::EIO));
        assert_eq!(check_refs(&ctx, at + 1, PAGE, 1), Err(libc::EINVAL));
        ops::unmap(&ctx, ioas, APERTURE_START, PAGE).expect("unmap");
        check_refs(&ctx, at, PAGE, 0).expect("check refs");
        assert_eq!(
            check_map(&ctx, hwpt, at, APERTURE_START, PAGE),
            Err(libc::EINVAL)
        );
        teardown(&host, ctx, &buf);
    }

    #[test]
    fn mock_domain_fails_cleanly_at_every_failure_point() {
        let host = mock();
        let buf = buffer();
        let ctx = open(&host);
        let ioas = ops::ioas_alloc(&ctx);
        ops::map(
            &ctx,
            ioas,
            FIXED_RW,
            buf.addr(0),
            BUFFER_SIZE,
            APERTURE_START,
        )
        .expect("map");
        let state = || (ctx.object_count(), host.pinned_pages());
        let mut failed = 0;
        for n in 1..100 {
            let before = state();
            host.faults().fail_nth(n);
            let r = mock_domain(&ctx, ioas);
            host.faults().fail_nth(0);
            match r {
                Err(e) => {
                    assert_eq!(e, libc::ENOMEM, "failure point {n}");
                    assert_eq!(state(), before, "failure point {n} left something");
                    failed += 1;
                }
                Ok((stdev, hwpt, _)) => {
                    check_map(&ctx, hwpt, buf.addr(0), APERTURE_START, BUFFER_SIZE)
                        .expect("check map");
                    check_refs(&ctx, buf.addr(0), BUFFER_SIZE, 1).expect("check refs");
                    ops::destroy(&ctx, stdev).expect("destroy");
                    assert_eq!(state(), before);
                    break;
                }
            }
        }
        assert!(failed >= 4, "only {failed} failure points");
        teardown(&host, ctx, &buf);
    }

    #[test]
    fn the_aperture_is_reserved_while_a_mock_domain_is_attached() {
        let host = mock();
        let buf = buffer();
        let ctx = open(&host);
        let ioas = ops::ioas_alloc(&ctx);
        let (got, n, align, e) = ops::ranges(&ctx, ioas, 4);
        assert_eq!((got, n, align, e), (vec![(0, u64::MAX)], 1, 1, None));
        let (stdev, _, _) = mock_domain(&ctx, ioas).expect("mock domain");
        let (got, _, align, _) = ops::ranges(&ctx, ioas, 4);
        assert_eq!(
            (got, align),
            (vec![(APERTURE_START, APERTURE_LAST)], MOCK_PAGE)
        );
        // Below the aperture is reserved: a fixed map there is refused.
        let r = ops::map(&ctx, ioas, FIXED_RW, buf.addr(0), PAGE, 0);
        assert_eq!(r, Err(libc::EINVAL));
        ops::destroy(&ctx, stdev).expect("destroy");
        let (got, n, align, _) = ops::ranges(&ctx, ioas, 4);
        assert_eq!(
            (got, n, align),
            (vec![(0, u64::MAX)], 1, 1),
            "gone with the domain"
        );
        ops::map(&ctx, ioas, FIXED_RW, buf.addr(0), PAGE, 0).expect("map");
        teardown(&host, ctx, &buf);
    }

    #[test]
    fn ranges_past_the_end_of_the_address_space_overflow() {
        let host = mock();
        let buf = buffer();
        let (ctx, ioas, _, _, _) = mapped(&host, &buf);
        let r = add_reserved(&ctx, ioas, u64::MAX - PAGE + 1, 2 * PAGE);
        assert_eq!(r, Err(libc::EOVERFLOW));
        let r = ops::map(&ctx, ioas, FIXED_RW, buf.addr(0), u64::MAX, APERTURE_START);
        assert_eq!(r, Err(libc::EOVERFLOW));
        let r = ops::map(&ctx, ioas, FIXED_RW, buf.addr(0), PAGE, u64::MAX);
        assert_eq!(r, Err(libc::EOVERFLOW));
        // A reservation over a mapping, or over the aperture's edge, is in use.
        let r = add_reserved(&ctx, ioas, APERTURE_START, PAGE);
        assert_eq!(r, Err(libc::EADDRINUSE));
        add_reserved(&ctx, ioas, APERTURE_START + PAGE, PAGE).expect("add reserved");
        let r = ops::map(
            &ctx,
            ioas,
            FIXED_RW,
            buf.addr(0),
            PAGE,
            APERTURE_START + PAGE,
        );
        assert_eq!(r, Err(libc::EINVAL), "mapping over a reserved range");
        teardown(&host, ctx, &buf);
    }

    #[test]
    fn dirty_needs_tracking_on_and_a_mock_paging_hwpt() {
        let host = mock();
        let buf = buffer();
        let (ctx, ioas, _, hwpt, idev) = mapped(&host, &buf);
        let bitmap = [0xffu8; 8];
        let bm = bitmap.as_ptr() as u64;
        let dirty = common::hwpt_alloc(&ctx, idev, ioas, 2, 0, &[]).expect("hwpt alloc");
        let r = set_dirty(&ctx, dirty, PAGE, APERTURE_START, MOCK_PAGE, bm);
        assert_eq!(r, Err(libc::EINVAL), "tracking is off");
        let r = set_dirty(&ctx, hwpt, PAGE, APERTURE_START, MOCK_PAGE, bm);
        assert_eq!(r, Err(libc::EINVAL), "a HWPT without dirty tracking");
        let r = set_dirty(&ctx, ioas, PAGE, APERTURE_START, MOCK_PAGE, bm);
        assert_eq!(r, Err(libc::ENOENT));
        let mut c = k::iommu_hwpt_set_dirty_tracking {
            size: 16,
            flags: 1,
            hwpt_id: dirty,
            __reserved: 0,
        };
        call(&ctx, 0x8b, &mut c).expect("SET_DIRTY_TRACKING");
        let r = set_dirty(&ctx, dirty, PAGE, APERTURE_START + 1, MOCK_PAGE, bm);
        assert_eq!(r, Err(libc::EINVAL), "unaligned");
        assert_eq!(
            set_dirty(&ctx, dirty, PAGE, APERTURE_START, MOCK_PAGE, 0),
            Err(libc::EINVAL)
        );
        assert_eq!(
            set_dirty(&ctx, dirty, PAGE, APERTURE_START, MOCK_PAGE, bm),
            Ok(2)
        );
        c.flags = 0;
        call(&ctx, 0x8b, &mut c).expect("SET_DIRTY_TRACKING");
        let r = set_dirty(&ctx, dirty, PAGE, APERTURE_START, MOCK_PAGE, bm);
        assert_eq!(r, Err(libc::EINVAL), "tracking stopped");
        teardown(&host, ctx, &buf);
    }

    #[test]
    fn device_cache_iotlb_and_hw_info_of_mock_devices() {
        let host = mock();
        let buf = buffer();
        let (ctx, ioas, stdev, hwpt, idev) = mapped(&host, &buf);
        for entry in 0..4u32 {
            let c = TestCmd::new(16, idev, &[pair(entry, 0xbaddad)]);
            assert_eq!(test_cmd(&ctx, c).err(), None);
            let c = TestCmd::new(16, idev, &[pair(entry, 0)]);
            assert_eq!(test_cmd(&ctx, c).err(), Some(libc::EINVAL));
        }
        let c = TestCmd::new(16, idev, &[pair(4, 0xbaddad)]);
        assert_eq!(test_cmd(&ctx, c).err(), Some(libc::EINVAL));
        let c = TestCmd::new(16, ioas, &[pair(0, 0xbaddad)]);
        assert_eq!(test_cmd(&ctx, c).err(), Some(libc::ENOENT));
        let c = TestCmd::new(14, hwpt, &[pair(0, 0)]);
        assert_eq!(test_cmd(&ctx, c).err(), Some(libc::ENOENT), "not nested");
        let c = TestCmd::new(14, hwpt, &[pair(4, 0)]);
        assert_eq!(test_cmd(&ctx, c).err(), Some(libc::EINVAL));
        // A PASID-capable mock device reports 20 bits; a plain one none.
        let (_, _, pdev) = mock_domain_flags(&ctx, ioas, Some(4)).expect("mock domain flags");
        let pasid_bits = |dev| {
            let mut c = k::iommu_hw_info {
                size: 40,
                dev_id: dev,
                ..Default::default()
            };
            call(&ctx, 0x8a, &mut c).expect("GET_HW_INFO");
            c.out_max_pasid_log2
        };
        assert_eq!((pasid_bits(idev), pasid_bits(pdev)), (0, 20));
        assert_eq!(mock_domain_flags(&ctx, ioas, Some(2)), Err(libc::EINVAL));
        // Destroying the mock device unbinds it: its bound device is gone.
        assert_eq!(ops::destroy(&ctx, idev), Err(libc::EBUSY));
        ops::destroy(&ctx, stdev).expect("destroy");
        assert_eq!(ops::destroy(&ctx, idev), Err(libc::ENOENT));
        assert_eq!(mock_domain_replace(&ctx, stdev, ioas), Err(libc::ENOENT));
        teardown(&host, ctx, &buf);
    }
}

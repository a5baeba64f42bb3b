//! The kernel's own iommufd conformance tests of PASID attach (tools/testing/selftests/
//! iommu/iommufd.c, fixture `iommufd_device_pasid` with its variants), run against
//! softiommu's test channel through the binary entry point. Each test is named after the
//! kernel's `TEST_F` and asserts the errnos and values the kernel's does.

mod common;

use std::sync::Arc;

use common::mock::pasid_attach as attach_cmd;
use common::mock::*;
use common::ops;
use softiommu_iommufd::{Context, Host};

const NEST_PARENT: u32 = 1 << 0;
const ALLOC_PASID: u32 = 1 << 3;
const MOCK_FLAGS_DEVICE_PASID: u32 = 1 << 2;

/// The `iommufd_device_pasid` fixture: a PASID-capable mock device on an IOAS and, in the
/// `no_pasid` variant, one without PASIDs.
struct DevicePasid {
    host: Arc<Host>,
    ctx: Context,
    ioas_id: u32,
    stdev_id: u32,
    hwpt_id: u32,
    device_id: u32,
    no_pasid_stdev_id: u32,
}

impl DevicePasid {
    fn setup(pasid_capable: bool) -> DevicePasid {
        let host = mock();
        let ctx = open(&host);
        let ioas_id = ops::ioas_alloc(&ctx);
        let (stdev_id, hwpt_id, device_id) =
            mock_domain_flags(&ctx, ioas_id, Some(MOCK_FLAGS_DEVICE_PASID)).expect("mock domain");
        let no_pasid_stdev_id = if pasid_capable {
            0
        } else {
            mock_domain_flags(&ctx, ioas_id, Some(0))
                .expect("mock domain")
                .0
        };
        DevicePasid {
            host,
            ctx,
            ioas_id,
            stdev_id,
            hwpt_id,
            device_id,
            no_pasid_stdev_id,
        }
    }

    fn attach(&self, pasid: u32, pt: u32) -> Result<(), i32> {
        attach_cmd(&self.ctx, self.stdev_id, pasid, pt)
    }

    fn replace(&self, pasid: u32, pt: u32) -> Result<(), i32> {
        pasid_replace(&self.ctx, self.stdev_id, pasid, pt)
    }

    fn detach(&self, pasid: u32) -> Result<(), i32> {
        pasid_detach(&self.ctx, self.stdev_id, pasid)
    }

    fn check(&self, pasid: u32, hwpt: u32) -> Result<(), i32> {
        pasid_check_hwpt(&self.ctx, self.stdev_id, pasid, hwpt)
    }
}

macro_rules! iommufd_device_pasid {
    ($($t:ident),* $(,)?) => {
        mod iommufd_device_pasid_no_pasid {
            $( #[test] fn $t() { super::run(false, super::$t) } )*
        }
        mod iommufd_device_pasid_has_pasid {
            $( #[test] fn $t() { super::run(true, super::$t) } )*
        }
    };
}

fn run(pasid_capable: bool, body: fn(&mut DevicePasid, bool)) {
    let mut f = DevicePasid::setup(pasid_capable);
    body(&mut f, pasid_capable);
    let host = f.host.clone();
    drop(f);
    assert_eq!(host.pinned_pages(), 0);
}

iommufd_device_pasid!(pasid_attach);

fn pasid_attach(f: &mut DevicePasid, pasid_capable: bool) {
    let ctx = &f.ctx;
    let data = [IOTLB_DEFAULT.to_ne_bytes(), [0; 4]].concat();
    let hwpt = |pt: u32, flags: u32, ty: u32, d: &[u8]| {
        common::hwpt_alloc(ctx, f.device_id, pt, flags, ty, d).expect("hwpt alloc")
    };
    // Two nested HWPTs sharing one parent.
    let parent = hwpt(f.ioas_id, NEST_PARENT, 0, &[]);
    let nested = [
        hwpt(parent, ALLOC_PASID, HWPT_DATA_SELFTEST, &data),
        hwpt(parent, ALLOC_PASID, HWPT_DATA_SELFTEST, &data),
    ];
    // An iopf-capable nested HWPT.
    let (fault_id, fault_fd) = fault_alloc(ctx);
    let flags = FAULT_ID_VALID | ALLOC_PASID;
    let iopf_hwpt =
        hwpt_alloc_iopf(ctx, f.device_id, parent, fault_id, flags, &data).expect("iopf hwpt");
    let s2 = hwpt(f.ioas_id, ALLOC_PASID, 0, &[]);

    // A RID attached to a HWPT not made for PASIDs keeps PASIDs from attaching...
    mock_domain_replace(ctx, f.stdev_id, parent).expect("replace");
    assert_eq!(f.attach(100, s2), Err(libc::EINVAL));
    // ...one made for PASIDs lets them, and then must stay such.
    mock_domain_replace(ctx, f.stdev_id, s2).expect("replace");
    assert_eq!(f.attach(100, nested[0]), Ok(()));
    assert_eq!(
        mock_domain_replace(ctx, f.stdev_id, parent),
        Err(libc::EINVAL)
    );
    assert_eq!(f.detach(100), Ok(()));
    assert_eq!(f.check(100, 0), Ok(()));

    if !pasid_capable {
        // A HWPT made for PASIDs serves a device without PASIDs at its RID...
        let other = f.no_pasid_stdev_id;
        mock_domain_replace(ctx, other, nested[0]).expect("replace");
        mock_domain_replace(ctx, other, f.ioas_id).expect("replace");
        // ...but such a device has no PASID to attach.
        assert_eq!(attach_cmd(ctx, other, 100, parent), Err(libc::EINVAL));
        assert_eq!(attach_cmd(ctx, other, 100, s2), Err(libc::EINVAL));
    }

    // A HWPT not made for PASIDs, and an IOAS, are refused.
    assert_eq!(f.attach(100, parent), Err(libc::EINVAL));
    assert_eq!(f.check(100, 0), Ok(()));
    assert_eq!(f.attach(100, f.ioas_id), Err(libc::EINVAL));
    assert_eq!(f.check(100, 0), Ok(()));

    assert_eq!(f.attach(100, s2), Ok(()));
    assert_eq!(f.check(100, s2), Ok(()));
    // Attach does not overwrite: that is replace.
    assert_eq!(f.attach(100, nested[0]), Err(libc::EBUSY));
    assert_eq!(f.detach(100), Ok(()));
    assert_eq!(f.check(100, 0), Ok(()));

    assert_eq!(f.attach(100, nested[0]), Ok(()));
    assert_eq!(f.check(100, nested[0]), Ok(()));
    assert_eq!(f.attach(100, nested[0]), Err(libc::EBUSY));
    assert_eq!(f.detach(100), Ok(()));

    // Replace.
    assert_eq!(f.replace(200, s2), Err(libc::EINVAL), "not attached");
    assert_eq!(f.attach(200, s2), Ok(()));
    assert_eq!(f.check(200, s2), Ok(()));
    assert_eq!(f.replace(200, f.ioas_id), Err(libc::EINVAL));
    assert_eq!(f.check(200, s2), Ok(()));
    assert_eq!(f.replace(200, nested[0]), Ok(()));
    assert_eq!(f.check(200, nested[0]), Ok(()));
    assert_eq!(f.replace(200, nested[1]), Ok(()));
    assert_eq!(f.check(200, nested[1]), Ok(()));
    assert_eq!(f.detach(200), Ok(()));

    // The mock driver fails every second set of PASID 1024: the replace fails and the old
    // HWPT stays.
    assert_eq!(f.attach(1024, s2), Ok(()));
    assert_eq!(f.check(1024, s2), Ok(()));
    assert_eq!(f.replace(1024, nested[0]), Err(libc::ENOMEM));
    assert_eq!(f.check(1024, s2), Ok(()));
    assert_eq!(f.detach(1024), Ok(()));

    // An iopf-capable HWPT at a PASID takes the device's page requests there.
    assert_eq!(f.attach(2048, iopf_hwpt), Ok(()));
    assert_eq!(f.check(2048, iopf_hwpt), Ok(()));
    trigger_iopf_and_answer(ctx, f.device_id, 2048, fault_fd);
    assert_eq!(f.replace(2048, s2), Ok(()));
    assert_eq!(f.check(2048, s2), Ok(()));
    assert_eq!(f.detach(2048), Ok(()));

    ops::destroy(ctx, iopf_hwpt).expect("destroy");
    // SAFETY: the test owns the fault queue's descriptor and uses it no more.
    assert_eq!(unsafe { libc::close(fault_fd) }, 0);
    ops::destroy(ctx, fault_id).expect("destroy");
    mock_domain_replace(ctx, f.stdev_id, f.ioas_id).expect("replace");
    let _ = f.hwpt_id;
}

//! PASID attach of bound devices: the kernel's rules through the typed calls, and the VFIO
//! cdev forms through the device file's binary interface, with the copy engine's
//! PASID-tagged moves going through the PASID's IOAS and untagged ones through the RID's,
//! on VT-d and on SMMUv3.

mod common;

use std::sync::Arc;

use common::wq::{Driver, attach, bind, dedicated, detach};
use common::{Buffer, Platform, smmu_with, vtd_with};
use softiommu_core::{DeviceCaps, Rid};
use softiommu_devices::dsa::{DsaConfig, DsaFunction, Status};
use softiommu_iommufd::vfio::VfioPci;
use softiommu_iommufd::{HWPT_ALLOC_PASID, MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE};

const RW: u32 = MAP_READABLE | MAP_WRITEABLE | MAP_FIXED_IOVA;
const PASID_CAPS: DeviceCaps = DeviceCaps {
    pasid_bits: 20,
    ats: false,
    pri: false,
};

fn rules(p: &Platform) {
    let ctx = p.context(1 << 30);
    let dev = ctx.device_bind(p.devs[0]).expect("bind");
    let plain_dev = ctx.device_bind(p.devs[1]).expect("bind");
    let ioas = ctx.ioas_alloc().expect("ioas");
    let plain = ctx.hwpt_alloc(dev, ioas, 0).expect("hwpt");
    let hp = ctx
        .hwpt_alloc(dev, ioas, HWPT_ALLOC_PASID)
        .expect("pasid hwpt");
    let hp2 = ctx
        .hwpt_alloc(dev, ioas, HWPT_ALLOC_PASID)
        .expect("pasid hwpt");
    let errno = |r: softiommu_iommufd::Result<u32>| r.expect_err("refused").errno();

    assert_eq!(
        errno(ctx.device_pasid_attach(dev, 5, ioas)),
        libc::EINVAL,
        "an IOAS"
    );
    assert_eq!(
        errno(ctx.device_pasid_attach(dev, 5, plain)),
        libc::EINVAL,
        "no PASID flag"
    );
    assert_eq!(
        errno(ctx.device_pasid_attach(dev, 0, hp)),
        libc::EINVAL,
        "PASID 0"
    );
    assert_eq!(
        errno(ctx.device_pasid_attach(dev, 1 << 20, hp)),
        libc::EINVAL,
        "too wide"
    );
    assert_eq!(
        errno(ctx.device_pasid_attach(plain_dev, 5, hp)),
        libc::EINVAL,
        "a device without PASIDs"
    );
    assert_eq!(errno(ctx.device_pasid_attach(dev, 5, 99)), libc::ENOENT);
    assert_eq!(
        errno(ctx.device_pasid_replace(dev, 5, hp)),
        libc::EINVAL,
        "not attached"
    );

    assert_eq!(ctx.device_pasid_attach(dev, 5, hp), Ok(hp));
    assert_eq!(errno(ctx.device_pasid_attach(dev, 5, hp2)), libc::EBUSY);
    assert_eq!(ctx.device_pasid_hwpt(dev, 5), Ok(Some(hp)));
    assert_eq!(ctx.destroy(hp).map_err(|e| e.errno()), Err(libc::EBUSY));

    // The RID must be a PASID-capable HWPT while a PASID is attached.
    assert_eq!(errno(ctx.device_attach(dev, plain)), libc::EINVAL);
    assert_eq!(
        errno(ctx.device_attach(dev, ioas)),
        libc::EINVAL,
        "automatic domain"
    );
    assert_eq!(
        ctx.object_count(),
        6,
        "the refused automatic domain is gone"
    );
    assert_eq!(ctx.device_attach(dev, hp2), Ok(hp2));

    // A failed replace leaves the old HWPT attached.
    assert_eq!(errno(ctx.device_pasid_replace(dev, 5, plain)), libc::EINVAL);
    assert_eq!(ctx.device_pasid_hwpt(dev, 5), Ok(Some(hp)));
    assert_eq!(ctx.device_pasid_replace(dev, 5, hp2), Ok(hp2));
    assert_eq!(ctx.device_pasid_hwpt(dev, 5), Ok(Some(hp2)));
    assert_eq!(ctx.destroy(hp).map_err(|e| e.errno()), Ok(()), "free again");

    // With the RID on a HWPT not made for PASIDs, no PASID may attach.
    assert_eq!(ctx.device_pasid_detach(dev, 5), Ok(()));
    assert_eq!(
        ctx.device_pasid_detach(dev, 5),
        Ok(()),
        "detaching twice is no error"
    );
    assert_eq!(ctx.device_pasid_hwpt(dev, 5), Ok(None));
    assert_eq!(ctx.device_replace(dev, plain), Ok(plain));
    assert_eq!(errno(ctx.device_pasid_attach(dev, 6, hp2)), libc::EINVAL);
    ctx.device_detach(dev).expect("detach");
    assert_eq!(
        ctx.device_pasid_attach(dev, 6, hp2),
        Ok(hp2),
        "a detached RID is fine"
    );
    // Unbinding detaches its PASIDs.
    assert_eq!(ctx.destroy(dev).map_err(|e| e.errno()), Ok(()));
    assert_eq!(
        p.host
            .iommu()
            .pasid_domain(p.devs[0], 6)
            .ok()
            .flatten()
            .map(|_| ()),
        None
    );
    assert_eq!(ctx.destroy(hp2).map_err(|e| e.errno()), Ok(()));
}

#[test]
fn pasid_attach_follows_the_kernel_s_rules_on_vtd() {
    let mut p = vtd_with(1, PASID_CAPS);
    p.devs.push(add_plain_device(&p));
    rules(&p);
}

#[test]
fn pasid_attach_follows_the_kernel_s_rules_on_smmuv3() {
    let mut p = smmu_with(1, PASID_CAPS);
    p.devs.push(add_plain_device(&p));
    rules(&p);
}

/// Adds a device without PASIDs behind the platform's unit.
fn add_plain_device(p: &Platform) -> softiommu_core::DeviceId {
    let iommu = p.host.iommu();
    let inst = iommu.device_info(p.devs[0]).expect("info").instance;
    let topo = softiommu_core::Topology {
        bridges: vec![],
        devices: vec![softiommu_core::DeviceDesc {
            rid: Rid::new(0, 0, 9, 0),
            instance: inst,
            caps: DeviceCaps::default(),
            bridge: None,
            alias: None,
        }],
    };
    iommu.add_devices(&topo).expect("device")[0]
}

/// The engine's moves tagged with a PASID go through the PASID's IOAS; untagged ones
/// through the RID's. Both IOASes map the same IOVAs to different buffers.
fn engine_moves(p: &Platform) {
    let vfio = VfioPci::new(p.host.clone());
    let rid = Rid::new(0, 0, 3, 0).source_id();
    let port = vfio.irqs().port(p.upstream.clone());
    let f = Arc::new(DsaFunction::new(DsaConfig::default(), port, rid).expect("engine"));
    let name = vfio.add(p.devs[0], rid, f).expect("bound to VFIO");
    let dev = vfio.open_device(&name).expect("open");
    let ctx = Arc::new(p.context(1 << 30));
    let id = bind(&dev, &ctx).expect("bind");

    let mut bufs: Vec<Buffer> = (0..6).map(|_| Buffer::new(0x4000, 4096)).collect();
    bufs[0].bytes_mut().fill(0xaa);
    bufs[3].bytes_mut().fill(0xbb);
    let (rid_ioas, pasid_ioas) = (ctx.ioas_alloc().expect("a"), ctx.ioas_alloc().expect("b"));
    for (ioas, set) in [(rid_ioas, 0), (pasid_ioas, 3)] {
        for (i, iova) in [0x10_0000u64, 0x20_0000, 0x30_0000].into_iter().enumerate() {
            let b = &bufs[set + i];
            ctx.ioas_map(ioas, RW, b.addr(0), 0x4000, iova)
                .expect("map");
        }
    }
    let h_rid = ctx
        .hwpt_alloc(id, rid_ioas, HWPT_ALLOC_PASID)
        .expect("hwpt");
    let h_pasid = ctx
        .hwpt_alloc(id, pasid_ioas, HWPT_ALLOC_PASID)
        .expect("hwpt");
    assert_eq!(attach(&dev, None, h_rid), Ok(h_rid));
    assert_eq!(
        attach(&dev, Some(7), rid_ioas),
        Err(libc::EINVAL),
        "an IOAS"
    );
    assert_eq!(attach(&dev, Some(7), h_pasid), Ok(h_pasid));

    let drv = Driver { dev: &dev };
    assert!(drv.enable_pasid());
    drv.bring_up(dedicated(Some(7)));
    let (lo, hi) = bufs.split_at_mut(3);
    let r = drv.memmove(0x10_0000, 0x20_0000, 0x1000, 0x30_0000, &mut hi[2]);
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert!(
        hi[1].bytes()[..0x1000].iter().all(|&x| x == 0xbb),
        "the PASID's IOAS"
    );
    assert!(
        lo[1].bytes().iter().all(|&x| x == 0),
        "the RID's IOAS untouched"
    );

    // Untagged, the same IOVAs are the RID's buffers.
    drv.bring_up(dedicated(None));
    let r = drv.memmove(0x10_0000, 0x20_0000, 0x1000, 0x30_0000, &mut lo[2]);
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert!(lo[1].bytes()[..0x1000].iter().all(|&x| x == 0xaa));

    // Detached, the PASID's requests are blocked and write nothing.
    assert_eq!(detach(&dev, Some(7)), Ok(()));
    assert_eq!(detach(&dev, Some(7)), Ok(()), "no error when not attached");
    drv.bring_up(dedicated(Some(7)));
    hi[1].bytes_mut().fill(0);
    let r = drv.memmove(0x10_0000, 0x20_0000, 0x1000, 0x30_0000, &mut hi[2]);
    assert_eq!(r.status, 0, "no completion record can be written");
    assert!(hi[1].bytes().iter().all(|&x| x == 0));
    // Attaching again through the binary call, then replacing, works.
    assert_eq!(attach(&dev, Some(7), h_rid), Ok(h_rid));
    assert_eq!(attach(&dev, Some(7), h_pasid), Ok(h_pasid), "a replace");
    let r = drv.memmove(0x10_0000, 0x20_0000, 0x1000, 0x30_0000, &mut hi[2]);
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert!(hi[1].bytes()[..0x1000].iter().all(|&x| x == 0xbb));
}

#[test]
fn the_engine_s_pasid_moves_use_the_pasid_s_ioas_on_vtd() {
    engine_moves(&vtd_with(1, PASID_CAPS));
}

#[test]
fn the_engine_s_pasid_moves_use_the_pasid_s_ioas_on_smmuv3() {
    engine_moves(&smmu_with(1, PASID_CAPS));
}

#[test]
fn the_binary_pasid_forms_check_their_size_and_flags() {
    let p = vtd_with(1, PASID_CAPS);
    let vfio = VfioPci::new(p.host.clone());
    let rid = Rid::new(0, 0, 3, 0).source_id();
    let port = vfio.irqs().port(p.upstream.clone());
    let f = Arc::new(DsaFunction::new(DsaConfig::default(), port, rid).expect("engine"));
    let name = vfio.add(p.devs[0], rid, f).expect("bound to VFIO");
    let dev = vfio.open_device(&name).expect("open");
    let ctx = Arc::new(p.context(1 << 30));
    let id = bind(&dev, &ctx).expect("bind");
    let ioas = ctx.ioas_alloc().expect("ioas");
    let h = ctx.hwpt_alloc(id, ioas, HWPT_ALLOC_PASID).expect("hwpt");
    use common::bytes_of;
    use softiommu_iommufd::vfio::{VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT};
    use vfio_bindings::bindings::vfio as v;
    let call = |cmd: u32, b: &mut Vec<u8>| {
        dev.ioctl(u64::from(cmd), b.as_mut_ptr() as u64)
            .map_err(|e| e.errno())
    };
    // argsz short of the PASID field.
    let a = v::vfio_device_attach_iommufd_pt {
        argsz: 12,
        flags: v::VFIO_DEVICE_ATTACH_PASID,
        pt_id: h,
        pasid: 3,
    };
    assert_eq!(
        call(VFIO_DEVICE_ATTACH_IOMMUFD_PT, &mut bytes_of(&a)),
        Err(libc::EINVAL)
    );
    let a = v::vfio_device_attach_iommufd_pt {
        flags: 1 << 5,
        argsz: 16,
        ..a
    };
    assert_eq!(
        call(VFIO_DEVICE_ATTACH_IOMMUFD_PT, &mut bytes_of(&a)),
        Err(libc::EINVAL)
    );
    let a = v::vfio_device_attach_iommufd_pt {
        flags: v::VFIO_DEVICE_ATTACH_PASID,
        argsz: 16,
        ..a
    };
    assert_eq!(
        call(VFIO_DEVICE_ATTACH_IOMMUFD_PT, &mut bytes_of(&a)),
        Ok(0)
    );
    assert_eq!(ctx.device_pasid_hwpt(id, 3), Ok(Some(h)));
    let d = v::vfio_device_detach_iommufd_pt {
        argsz: 8,
        flags: v::VFIO_DEVICE_DETACH_PASID,
        pasid: 3,
    };
    assert_eq!(
        call(VFIO_DEVICE_DETACH_IOMMUFD_PT, &mut bytes_of(&d)),
        Err(libc::EINVAL)
    );
    let d = v::vfio_device_detach_iommufd_pt {
        argsz: 12,
        flags: 2,
        ..d
    };
    assert_eq!(
        call(VFIO_DEVICE_DETACH_IOMMUFD_PT, &mut bytes_of(&d)),
        Err(libc::EINVAL)
    );
    let d = v::vfio_device_detach_iommufd_pt {
        flags: v::VFIO_DEVICE_DETACH_PASID,
        ..d
    };
    assert_eq!(
        call(VFIO_DEVICE_DETACH_IOMMUFD_PT, &mut bytes_of(&d)),
        Ok(0)
    );
    assert_eq!(ctx.device_pasid_hwpt(id, 3), Ok(None));
}

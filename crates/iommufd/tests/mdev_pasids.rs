//! PASIDs the host gives an mdev beyond its own: private PASIDs of the parent, which the
//! mdev's file attaches (`VFIO_DEVICE_ATTACH_PASID`) and its WQ tags descriptors with. A
//! PASID given to another mdev, or to none, is refused as a PASID a device lacks (`EINVAL`),
//! and a WQ configured with one moves nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::wq::{Driver, attach, bind, dedicated, detach};
use common::{Buffer, Platform, ops, smmu_with, vtd};
use softiommu_core::{DeviceCaps, Rid};
use softiommu_devices::dsa::{DsaConfig, DsaFunction, Status};
use softiommu_iommufd::vfio::{MdevParent, VfioDevice, VfioPci};
use softiommu_iommufd::{Context, HWPT_ALLOC_PASID, MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE};

const RW: u32 = MAP_READABLE | MAP_WRITEABLE | MAP_FIXED_IOVA;
const SRC: u64 = 0x10_0000;
const DST: u64 = 0x20_0000;
const CR: u64 = 0x30_0000;
const LEN: u32 = 0x1000;

fn parent(p: &Platform) -> Arc<MdevParent> {
    let vfio = VfioPci::new(p.host.clone());
    let rid = Rid::new(0, 0, 3, 0).source_id();
    let port = vfio.irqs().port(p.upstream.clone());
    let f = DsaFunction::new(DsaConfig::default(), port, rid).expect("engine");
    MdevParent::new(&vfio, p.devs[0], rid, Arc::new(f)).expect("parent")
}

/// A context with an IOAS mapping a source, a destination and a completion record.
struct Space {
    ctx: Arc<Context>,
    ioas: u32,
    src: Buffer,
    dst: Buffer,
    cr: Buffer,
}

impl Space {
    fn new(p: &Platform, fill: u8) -> Space {
        let ctx = Arc::new(p.context(1 << 30));
        let ioas = ops::ioas_alloc(&ctx);
        let mut src = Buffer::new(LEN as usize, 4096);
        src.bytes_mut().fill(fill);
        let (dst, cr) = (Buffer::new(LEN as usize, 4096), Buffer::new(4096, 4096));
        for (b, at) in [(&src, SRC), (&dst, DST), (&cr, CR)] {
            ops::map(&ctx, ioas, RW, b.addr(0), b.bytes().len() as u64, at).unwrap();
        }
        Space {
            ctx,
            ioas,
            src,
            dst,
            cr,
        }
    }
}

/// Mdev `name` opened and bound to `s`'s context, its given PASID `pasid` attached to a HWPT
/// for PASIDs over `s`'s IOAS, its WQ configured with `wq_pasid`; returns the file and
/// that HWPT.
fn open(
    parent: &MdevParent,
    name: &str,
    s: &Space,
    pasid: u32,
    wq_pasid: u32,
) -> (VfioDevice, u32) {
    let dev = parent.open(name).unwrap();
    let id = bind(&dev, &s.ctx).unwrap();
    let hwpt = s.ctx.hwpt_alloc(id, s.ioas, HWPT_ALLOC_PASID).unwrap();
    assert_eq!(attach(&dev, Some(pasid), hwpt), Ok(hwpt));
    let drv = Driver { dev: &dev };
    assert!(drv.enable_pasid(), "the mdev shows a PASID capability");
    drv.bring_up(dedicated(Some(wq_pasid)));
    (dev, hwpt)
}

#[test]
fn an_mdev_moves_bytes_at_a_pasid_the_host_gave_it_and_no_other() {
    let p = smmu_with(
        1,
        DeviceCaps {
            pasid_bits: 20,
            ats: false,
            pri: false,
        },
    );
    let parent = parent(&p);
    let (na, nb) = (parent.create().unwrap(), parent.create().unwrap());
    let own = parent.pasid_of(&na).unwrap().unwrap();
    let pa = parent.alloc_pasid(&na).unwrap();
    let pb = parent.alloc_pasid(&nb).unwrap();
    assert!(
        pa != pb && pa != own,
        "PASIDs of the parent, each given once"
    );
    assert_eq!(parent.pasids_of(&na).unwrap(), [pa]);

    let mut sa = Space::new(&p, 0xa5);
    let (dev, hwpt) = open(&parent, &na, &sa, pa, pa);
    let drv = Driver { dev: &dev };
    let r = drv.memmove(SRC, DST, LEN, CR, &mut sa.cr);
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(sa.dst.bytes(), sa.src.bytes());

    // B's PASID (and one given to nobody) is refused on A's file.
    assert_eq!(attach(&dev, Some(pb), hwpt), Err(libc::EINVAL));
    assert_eq!(attach(&dev, Some(pb + 100), hwpt), Err(libc::EINVAL));
    assert_eq!(detach(&dev, Some(pb)), Err(libc::EINVAL));
    assert_eq!(
        parent.free_pasid(&na, pb).unwrap_err().errno(),
        libc::EINVAL
    );

    // A WQ configured with B's PASID moves nothing: the store is dropped.
    drv.bring_up(dedicated(Some(pb)));
    sa.dst.bytes_mut().fill(0);
    let r = drv.memmove(SRC, DST, LEN, CR, &mut sa.cr);
    assert_eq!(r.status, Status::None as u8, "{r:?}");
    assert!(sa.dst.bytes().iter().all(|&b| b == 0));

    // Taken back, the PASID is detached and no longer A's.
    drv.bring_up(dedicated(Some(pa)));
    parent.free_pasid(&na, pa).unwrap();
    assert!(parent.pasids_of(&na).unwrap().is_empty());
    let r = drv.memmove(SRC, DST, LEN, CR, &mut sa.cr);
    assert_eq!(r.status, Status::None as u8, "{r:?}");
    assert_eq!(attach(&dev, Some(pa), hwpt), Err(libc::EINVAL));
}

#[test]
fn a_software_mdev_is_given_no_pasids() {
    let p = vtd(1);
    let parent = parent(&p);
    let n = parent.create().unwrap();
    let e = parent.alloc_pasid(&n).unwrap_err();
    assert_eq!(e.errno(), libc::EOPNOTSUPP);
    assert_eq!(
        parent.alloc_pasid("none").unwrap_err().errno(),
        libc::ENODEV
    );
}

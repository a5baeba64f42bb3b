//! Mediated devices: one WQ of the copy engine as a VFIO device of its own, used as a
//! program uses a VFIO device (bind to a context, attach to an IOAS, bring the one-WQ
//! engine up through BAR 0, store descriptors to the portal, completion interrupt on an
//! eventfd). Two mdevs of one engine in two contexts copy only within their own IOAS, and
//! removing one leaves the other working: through PASIDs of the parent on VT-d and SMMUv3,
//! and by CPU copy through accesses for a parent without PASIDs.

mod common;

use std::sync::Arc;

use common::dsa::{close, eventfd, events};
use common::wq::{Driver, attach, bind, dedicated, detach, set_msix};
use common::{Buffer, Platform, ops, smmu_with, vtd, vtd_with};
use softiommu_core::{DeviceCaps, Rid};
use softiommu_devices::dsa::{DsaConfig, DsaFunction, Status};
use softiommu_iommufd::vfio::{MdevParent, VfioDevice, VfioPci};
use softiommu_iommufd::{
    Context, HWPT_ALLOC_DIRTY_TRACKING, HWPT_ALLOC_NEST_PARENT, HWPT_ALLOC_PASID, MAP_FIXED_IOVA,
    MAP_READABLE, MAP_WRITEABLE,
};

const RW: u32 = MAP_READABLE | MAP_WRITEABLE | MAP_FIXED_IOVA;
const PASID_CAPS: DeviceCaps = DeviceCaps {
    pasid_bits: 20,
    ats: false,
    pri: false,
};
const LEN: u32 = 0x1800;

/// One user: a context, its IOAS with a source, a destination and a completion record at
/// IOVAs of its own (`base`, `base + 1 MiB`, `base + 2 MiB`), and its mdev's file.
struct User {
    ctx: Arc<Context>,
    id: u32,
    ioas: u32,
    base: u64,
    src: Buffer,
    dst: Buffer,
    cr: Buffer,
    dev: VfioDevice,
}

impl User {
    fn new(p: &Platform, parent: &MdevParent, name: &str, base: u64, fill: u8) -> User {
        let ctx = Arc::new(p.context(1 << 30));
        let ioas = ops::ioas_alloc(&ctx);
        let mut src = Buffer::new(0x2000, 4096);
        src.bytes_mut().fill(fill);
        let (dst, cr) = (Buffer::new(0x2000, 4096), Buffer::new(0x1000, 4096));
        for (b, off) in [(&src, 0), (&dst, 1 << 20), (&cr, 2 << 20)] {
            let len = b.bytes().len() as u64;
            ops::map(&ctx, ioas, RW, b.addr(0), len, base + off).expect("map");
        }
        let dev = parent.open(name).expect("open the mdev");
        let id = bind(&dev, &ctx).expect("bind");
        assert!(id > 0);
        attach(&dev, None, ioas).expect("attach to the IOAS");
        Driver { dev: &dev }.bring_up(dedicated(None));
        User {
            ctx,
            id,
            ioas,
            base,
            src,
            dst,
            cr,
            dev,
        }
    }

    /// A move from `src` to `dst` (IOVAs), its completion record in this user's memory.
    fn mv(&mut self, src: u64, dst: u64) -> softiommu_devices::dsa::CompletionRecord {
        let cr = self.base + (2 << 20);
        let drv = Driver { dev: &self.dev };
        drv.memmove(src, dst, LEN, cr, &mut self.cr)
    }

    /// The user's own move: source to destination.
    fn own_move(&mut self) {
        self.dst.bytes_mut().fill(0);
        let (s, d) = (self.base, self.base + (1 << 20));
        let r = self.mv(s, d);
        assert_eq!(r.status, Status::Success as u8, "{r:?}");
        assert_eq!(
            &self.dst.bytes()[..LEN as usize],
            &self.src.bytes()[..LEN as usize]
        );
        assert!(self.dst.bytes()[LEN as usize..].iter().all(|&x| x == 0));
    }
}

fn engine(p: &Platform, vfio: &Arc<VfioPci>) -> (Arc<DsaFunction>, u16) {
    let rid = Rid::new(0, 0, 3, 0).source_id();
    let port = vfio.irqs().port(p.upstream.clone());
    let f = DsaFunction::new(DsaConfig::default(), port, rid).expect("engine");
    (Arc::new(f), rid)
}

/// Two mdevs in two contexts: each copies within its IOAS; a descriptor naming an IOVA
/// only the other maps faults and writes nothing; removing one leaves the other working.
fn two_users(p: &Platform, pasid: bool) {
    let vfio = VfioPci::new(p.host.clone());
    let (f, rid) = engine(p, &vfio);
    let parent = MdevParent::new(&vfio, p.devs[0], rid, f).expect("parent");
    assert_eq!(parent.uses_pasid(), pasid);
    // The host owns the engine: no context may bind it.
    let other = p.context(1 << 30);
    let e = other.device_bind(p.devs[0]).expect_err("the host's");
    assert_eq!(e.errno(), libc::EBUSY);

    let (na, nb) = (
        parent.create().expect("mdev"),
        parent.create().expect("mdev"),
    );
    assert_ne!(na, nb);
    let mut a = User::new(p, &parent, &na, 0x10_0000, 0xa1);
    let mut b = User::new(p, &parent, &nb, 0x1000_0000, 0xb2);
    a.own_move();
    b.own_move();

    // A reaches for B's source, then for B's destination: faults, nothing touched.
    a.dst.bytes_mut().fill(0);
    let r = a.mv(b.base, a.base + (1 << 20));
    assert_eq!(
        (r.status, r.fault_addr),
        (Status::PageFaultNoBof as u8, b.base),
        "{r:?}"
    );
    assert!(a.dst.bytes().iter().all(|&x| x == 0));
    b.dst.bytes_mut().fill(0);
    let r = a.mv(a.base, b.base + (1 << 20));
    assert_eq!(r.status, Status::PageFaultNoBof as u8, "{r:?}");
    assert!(
        b.dst.bytes().iter().all(|&x| x == 0),
        "B's memory untouched"
    );
    assert!(b.src.bytes().iter().all(|&x| x == 0xb2));

    // The completion interrupt of A's WQ reaches A's eventfd only.
    let (ia, ib) = (eventfd(), eventfd());
    set_msix(&a.dev, &[ia, ia]).expect("A's MSI-X");
    set_msix(&b.dev, &[ib, ib]).expect("B's MSI-X");
    let cr = a.base + (2 << 20);
    let drv = Driver { dev: &a.dev };
    let r = drv.memmove_irq(a.base, a.base + (1 << 20), 64, (cr, &mut a.cr), Some(1));
    assert_eq!(r.status, Status::Success as u8);
    assert_eq!((events(ia), events(ib)), (1, 0));

    // An mdev has no PASIDs the host did not give it (a software one none at all).
    assert_eq!(attach(&a.dev, Some(3), a.ioas), Err(libc::EINVAL));
    assert_eq!(detach(&a.dev, Some(3)), Err(libc::EINVAL));

    // A HWPT of the mdev's own, through the binary call: made for PASIDs only.
    let alloc = |flags| common::hwpt_alloc(&a.ctx, a.id, a.ioas, flags, 0, &[]);
    if pasid {
        assert_eq!(alloc(HWPT_ALLOC_DIRTY_TRACKING), Err(libc::EOPNOTSUPP));
        // On VT-d (a second stage per PASID) a nesting parent for a stage 1 of the user's,
        // not attachable itself; on SMMUv3 (one per stream, the parent's) none.
        let family = p
            .host
            .iommu()
            .device_caps(p.devs[0])
            .expect("caps")
            .iommu
            .family;
        if family == softiommu_core::Family::Vtd {
            let np = alloc(HWPT_ALLOC_NEST_PARENT).expect("a nesting parent");
            assert_eq!(attach(&a.dev, None, np), Err(libc::EINVAL));
            assert_eq!(ops::destroy(&a.ctx, np), Ok(()));
        } else {
            assert_eq!(alloc(HWPT_ALLOC_NEST_PARENT), Err(libc::EOPNOTSUPP));
        }
        let h = alloc(HWPT_ALLOC_PASID).expect("the mdev's HWPT");
        assert_eq!(attach(&a.dev, None, h), Ok(h), "moved onto the HWPT");
        a.own_move();
        assert_eq!(ops::destroy(&a.ctx, h), Err(libc::EBUSY));
        assert_eq!(attach(&a.dev, None, a.ioas).map(|_| ()), Ok(()));
        assert_eq!(ops::destroy(&a.ctx, h), Ok(()));
    } else {
        assert_eq!(
            alloc(HWPT_ALLOC_PASID),
            Err(libc::ENOENT),
            "no domain for an access"
        );
    }

    // Detached, A's DMA faults; attached again, it works.
    detach(&a.dev, None).expect("detach");
    let r = a.mv(a.base, a.base + (1 << 20));
    assert_ne!(r.status, Status::Success as u8);
    attach(&a.dev, None, a.ioas).expect("attach");
    a.own_move();

    // Removing A: refused while open; closing it unbinds and detaches it.
    assert_eq!(parent.remove(&na).map_err(|e| e.errno()), Err(libc::EBUSY));
    let a_ctx = a.ctx.clone();
    drop(a.dev);
    assert_eq!(
        a_ctx.object_count(),
        1,
        "only A's IOAS is left in its context"
    );
    parent.remove(&na).expect("remove");
    assert_eq!(parent.names(), vec![nb.clone()]);
    b.own_move();
    assert_eq!(events(ib), 0);

    // A file opened on an mdev that is then removed binds to nothing: its PASID may be
    // another mdev's by now.
    let nc = parent.create().expect("mdev");
    let stale = parent.open(&nc).expect("open");
    parent.remove(&nc).expect("not bound: removable");
    let nd = parent.create().expect("mdev");
    assert_eq!(bind(&stale, &b.ctx), Err(libc::ENODEV));
    assert_eq!(parent.names(), vec![nb.clone(), nd]);
    b.own_move();
    close(ia);
    close(ib);
}

#[test]
fn two_mdevs_through_pasids_of_a_vtd_engine_stay_apart() {
    two_users(&vtd_with(1, PASID_CAPS), true);
}

#[test]
fn two_mdevs_through_pasids_of_an_smmuv3_engine_stay_apart() {
    two_users(&smmu_with(1, PASID_CAPS), true);
}

#[test]
fn two_software_mdevs_of_an_engine_without_pasids_stay_apart() {
    two_users(&vtd(1), false);
}

#[test]
fn a_software_mdev_is_told_when_an_area_it_pinned_is_unmapped() {
    let p = vtd(1);
    let vfio = VfioPci::new(p.host.clone());
    let (f, rid) = engine(&p, &vfio);
    let parent = MdevParent::new(&vfio, p.devs[0], rid, f).expect("parent");
    let name = parent.create().expect("mdev");
    let mut u = User::new(&p, &parent, &name, 0x10_0000, 0x5a);
    u.own_move();
    // The pages the copy touched stay pinned through the access, one pin each.
    let pinned = parent.pinned_pages(&name).expect("mdev");
    assert!(pinned >= 3, "{pinned} pages pinned");
    assert_eq!(p.host.pins_of(u.src.addr(0)), 1);

    // Unmapping the source: the mdev's callback unpins first, the unmap succeeds.
    assert_eq!(ops::unmap(&u.ctx, u.ioas, u.base, 0x2000), Ok(0x2000));
    assert!(parent.pinned_pages(&name).expect("mdev") < pinned);
    assert_eq!(p.host.pins_of(u.src.addr(0)), 0);
    u.dst.bytes_mut().fill(0);
    let r = u.mv(u.base, u.base + (1 << 20));
    assert_eq!(
        (r.status, r.fault_addr),
        (Status::PageFaultNoBof as u8, u.base)
    );
    assert!(u.dst.bytes().iter().all(|&x| x == 0));

    // Moving the mdev to another IOAS drops every pin; closing it leaves none.
    let other = ops::ioas_alloc(&u.ctx);
    attach(&u.dev, None, other).expect("replace");
    assert_eq!(parent.pinned_pages(&name), Ok(0));
    drop(u.dev);
    assert_eq!(p.host.pinned_pages(), 0);
}

#[test]
fn an_mdev_looks_like_a_one_wq_engine_to_its_driver() {
    use softiommu_devices::dsa::regs::{self, DeviceState, GrpCap, WqCap};
    use softiommu_iommufd::vfio::{
        VFIO_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_GET_REGION_INFO, VFIO_PCI_MSIX_IRQ_INDEX,
    };
    use vfio_bindings::bindings::vfio as v;
    let p = vtd_with(1, PASID_CAPS);
    let vfio = VfioPci::new(p.host.clone());
    let (f, rid) = engine(&p, &vfio);
    let parent = MdevParent::new(&vfio, p.devs[0], rid, f).expect("parent");
    let name = parent.create().expect("mdev");
    assert_eq!(
        parent.open("no-such-mdev").err().map(|e| e.errno()),
        Some(libc::ENODEV)
    );
    let mut u = User::new(&p, &parent, &name, 0x10_0000, 0x77);

    // Regions as VFIO reports them: BAR 0 of the engine's size, BAR 2 one WQ's portals.
    for (index, size) in [(0u32, 0x1_0000u64), (2, 0x4000)] {
        let r = v::vfio_region_info {
            argsz: 32,
            index,
            ..Default::default()
        };
        let mut b = common::bytes_of(&r);
        let cmd = u64::from(VFIO_DEVICE_GET_REGION_INFO);
        u.dev
            .ioctl(cmd, b.as_mut_ptr() as u64)
            .expect("region info");
        let r: v::vfio_region_info = common::from_bytes(&b);
        assert_eq!(r.size, size, "BAR {index}");
    }
    let i = v::vfio_irq_info {
        argsz: 16,
        index: VFIO_PCI_MSIX_IRQ_INDEX,
        ..Default::default()
    };
    let mut b = common::bytes_of(&i);
    let cmd = u64::from(VFIO_DEVICE_GET_IRQ_INFO);
    u.dev.ioctl(cmd, b.as_mut_ptr() as u64).expect("irq info");
    let i: v::vfio_irq_info = common::from_bytes(&b);
    assert_eq!(i.count, 2, "an error vector and a completion vector");

    // The capability registers of a one-WQ, one-group, one-engine device.
    let drv = Driver { dev: &u.dev };
    let wqcap = WqCap::from_bits(drv.read64(regs::WQCAP));
    assert_eq!((wqcap.num_wqs(), wqcap.dedicated_mode()), (1, true));
    assert_eq!(GrpCap::from_bits(drv.read64(regs::GRPCAP)).num_groups(), 1);
    assert_eq!(drv.read64(regs::ENGCAP) & 0xff, 1);
    assert_ne!(drv.read64(regs::OPCAP), 0, "it offers operations");
    assert_eq!(drv.read32(regs::GENSTS) & 3, DeviceState::Enabled as u32);

    // A reset takes the virtual engine down; the driver brings it up again.
    u.dev.reset().expect("reset");
    assert_eq!(drv.read32(regs::GENSTS) & 3, DeviceState::Disabled as u32);
    let r = u.mv(u.base, u.base + (1 << 20));
    assert_eq!(r.status, 0, "a disabled WQ takes no descriptor");
    Driver { dev: &u.dev }.bring_up(dedicated(None));
    u.own_move();
}

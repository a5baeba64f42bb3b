//! S1: a user-level driver owns a DSA-compatible copy engine through VFIO and moves bytes
//! between its own buffers, reaching only what it mapped. The program is written as a
//! VFIO program is: device and region information, BAR 0 register writes through the
//! device file, a descriptor stored to a mapped portal, the completion interrupt on an
//! eventfd. It runs through the device's own file bound to a context, through a type1v2
//! container and its group, and with its mappings in a nesting parent's second stage.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::dsa::{close, eventfd, events, rig};
use common::{Buffer, bytes_of, call, from_bytes};
use softiommu_devices::dsa::regs::{self, CmdReg, CmdSts, Command, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{CompletionRecord, Descriptor, Status};
use softiommu_iommufd::vfio::*;
use softiommu_iommufd::{AccountMode, Context, Credentials, HWPT_ALLOC_NEST_PARENT};
use softiommu_iommufd::{MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE};
use vfio_bindings::bindings::vfio as v;

const SRC: u64 = 0x10_0000;
const DST: u64 = 0x20_0000;
const CR: u64 = 0x30_0000;
const LEN: usize = 3 * 4096 + 100;
const BUF: usize = 4 * 4096;

/// The user's buffers: source, destination, completion records.
struct Buffers {
    src: Buffer,
    dst: Buffer,
    cr: Buffer,
}

fn buffers() -> Buffers {
    let mut src = Buffer::new(BUF, 4096);
    for (i, b) in src.bytes_mut().iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31) ^ (i >> 9) as u8;
    }
    Buffers {
        src,
        dst: Buffer::new(BUF, 4096),
        cr: Buffer::new(4096, 4096),
    }
}

/// The driver's side: everything through the device file.
struct Driver<'a> {
    dev: &'a VfioDevice,
}

impl Driver<'_> {
    fn ioctl<T: Copy + Default>(&self, cmd: u32, s: &mut T) -> Result<i64, i32> {
        let mut b = bytes_of(s);
        let r = self.dev.ioctl(u64::from(cmd), b.as_mut_ptr() as u64);
        *s = from_bytes(&b);
        r.map_err(|e| e.errno())
    }

    fn bar0(&self) -> u64 {
        let mut r = v::vfio_region_info {
            argsz: 32,
            index: 0,
            ..Default::default()
        };
        self.ioctl(VFIO_DEVICE_GET_REGION_INFO, &mut r).unwrap();
        assert_ne!(r.flags & REGION_WRITE, 0);
        r.offset
    }

    fn read32(&self, off: u64) -> u32 {
        let mut b = [0u8; 4];
        assert_eq!(self.dev.read(self.bar0() + off, &mut b).unwrap(), 4);
        u32::from_le_bytes(b)
    }

    fn read64(&self, off: u64) -> u64 {
        let mut b = [0u8; 8];
        self.dev.read(self.bar0() + off, &mut b).unwrap();
        u64::from_le_bytes(b)
    }

    fn write32(&self, off: u64, val: u32) {
        self.dev
            .write(self.bar0() + off, &val.to_le_bytes())
            .unwrap();
    }

    fn write64(&self, off: u64, val: u64) {
        self.dev
            .write(self.bar0() + off, &val.to_le_bytes())
            .unwrap();
    }

    fn cmd(&self, cmd: Command, operand: u32) -> u8 {
        let c = CmdReg::new().with_cmd(cmd as u8).with_operand(operand);
        self.write32(regs::CMD, c.into_bits());
        CmdSts::from_bits(self.read32(regs::CMDSTS)).err()
    }

    /// Probe and bring-up: a PCI device with the engine's BARs, bus mastering on, one
    /// dedicated WQ in group 0 with every engine, device and WQ enabled, and eventfd `irq`
    /// on MSI-X vectors 0 and 1 (none if negative).
    fn bring_up(&self, irq: i32) {
        let mut info = v::vfio_device_info {
            argsz: 24,
            ..Default::default()
        };
        self.ioctl(VFIO_DEVICE_GET_INFO, &mut info).unwrap();
        assert_ne!(info.flags & DEVICE_FLAGS_PCI, 0);
        assert!(info.num_regions >= VFIO_PCI_NUM_REGIONS && info.num_irqs >= 3);

        let cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
        let mut id = [0u8; 4];
        self.dev.read(cfg, &mut id).unwrap();
        assert_eq!(u32::from_le_bytes(id), 0x0b25_8086);
        let mut cmd = [0u8; 2];
        self.dev.read(cfg + 4, &mut cmd).unwrap();
        let cmd = u16::from_le_bytes(cmd) | 0x6;
        self.dev.write(cfg + 4, &cmd.to_le_bytes()).unwrap();

        assert_eq!(self.cmd(Command::ResetDevice, 0), 0);
        let t = regs::TableOffsets::from_bits(self.read64(regs::TABLE_OFFSET));
        let grpcfg = u64::from(t.grpcfg()) * regs::TABLE_MULT;
        let engines = self.read64(regs::ENGCAP) & 0xff;
        self.write64(grpcfg, 1);
        self.write64(grpcfg + 32, (1 << engines) - 1);
        let wq = u64::from(t.wqcfg()) * regs::TABLE_MULT;
        let mode = WqCfgMode::new().with_dedicated(true).with_priority(10);
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(21)
            .with_max_batch_shift(5);
        self.write32(wq, 16);
        self.write32(wq + 8, mode.into_bits());
        self.write32(wq + 12, limits.into_bits());
        self.write32(regs::GENCTRL, 1);
        assert_eq!(self.cmd(Command::EnableDevice, 0), 0);
        assert_eq!(self.cmd(Command::EnableWq, 0), 0);
        if irq < 0 {
            return;
        }

        let mut irqs = v::vfio_irq_info {
            argsz: 16,
            index: VFIO_PCI_MSIX_IRQ_INDEX,
            ..Default::default()
        };
        self.ioctl(VFIO_DEVICE_GET_IRQ_INFO, &mut irqs).unwrap();
        assert!(irqs.count >= 2);
        assert_ne!(irqs.flags & IRQ_INFO_EVENTFD, 0);
        self.set_irqs(
            IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER,
            0,
            &[irq, irq],
        )
        .unwrap();
    }

    /// `VFIO_DEVICE_SET_IRQS` on MSI-X with eventfds `fds` from vector `start`.
    fn set_irqs(&self, flags: u32, start: u32, fds: &[i32]) -> Result<i64, i32> {
        let mut b = Vec::new();
        for w in [
            20 + 4 * fds.len() as u32,
            flags,
            VFIO_PCI_MSIX_IRQ_INDEX,
            start,
        ] {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        b.extend_from_slice(&(fds.len() as u32).to_ne_bytes());
        for fd in fds {
            b.extend_from_slice(&fd.to_ne_bytes());
        }
        let r = self
            .dev
            .ioctl(u64::from(VFIO_DEVICE_SET_IRQS), b.as_mut_ptr() as u64);
        r.map_err(|e| e.errno())
    }

    /// A memory move of `LEN` bytes from `src` to `dst` with its completion record at `CR`
    /// and an interrupt on vector 1, stored to the WQ's portal through a mapping of BAR 2.
    fn memmove(&self, b: &mut Buffers, src: u64, dst: u64) -> CompletionRecord {
        b.cr.bytes_mut()[..32].fill(0);
        let mut d = Descriptor::memmove(src, dst, LEN as u32).with_completion(CR);
        d.set_flags(d.flags().with_rci(true));
        d.int_handle = 1;
        let portal = self.dev.mmap(region_offset(2), 0x1000).unwrap();
        portal.write(0, &d.to_bytes()).unwrap();
        CompletionRecord::from_bytes(&b.cr.bytes()[..32].try_into().unwrap())
    }
}

/// The program after the mappings: bring the engine up, move, see the data and the
/// interrupt; then a move into an unmapped IOVA faults and writes nothing.
fn run(dev: &VfioDevice, b: &mut Buffers) {
    let drv = Driver { dev };
    let irq = eventfd();
    drv.bring_up(irq);
    assert_eq!(events(irq), 0);

    let r = drv.memmove(b, SRC, DST + 50);
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(&b.dst.bytes()[50..50 + LEN], &b.src.bytes()[..LEN]);
    assert!(b.dst.bytes()[..50].iter().all(|&x| x == 0));
    assert!(b.dst.bytes()[50 + LEN..].iter().all(|&x| x == 0));
    assert_eq!(
        events(irq),
        1,
        "the completion interrupt reached the eventfd"
    );

    b.dst.bytes_mut().fill(0);
    let unmapped = 0x80_0000;
    let r = drv.memmove(b, SRC, unmapped);
    assert_eq!(
        (r.status, r.bytes_completed, r.fault_addr),
        (Status::PageFaultNoBof as u8, 0, unmapped),
        "{r:?}"
    );
    assert!(b.dst.bytes().iter().all(|&x| x == 0), "nothing was written");
    assert_eq!(events(irq), 1);
    // A source outside the mappings faults on the read side.
    let r = drv.memmove(b, 0x80_0000, DST);
    assert_eq!(r.status, Status::PageFaultNoBof as u8, "{r:?}");
    assert!(b.dst.bytes().iter().all(|&x| x == 0));
    close(irq);
}

const RW: u32 = MAP_READABLE | MAP_WRITEABLE | MAP_FIXED_IOVA;

/// `IOMMU_IOAS_MAP` of the three buffers.
fn ioas_map(ctx: &Context, ioas: u32, b: &Buffers) {
    for (buf, iova) in [(&b.src, SRC), (&b.dst, DST), (&b.cr, CR)] {
        let mut m = iommufd_bindings::iommu_ioas_map {
            size: 40,
            flags: RW,
            ioas_id: ioas,
            user_va: buf.addr(0),
            length: buf.bytes().len() as u64,
            iova,
            ..Default::default()
        };
        call(ctx, 0x85, &mut m).unwrap();
    }
}

/// `VFIO_IOMMU_MAP_DMA` of the three buffers.
fn vfio_map(ctx: &Context, b: &Buffers) {
    for (buf, iova) in [(&b.src, SRC), (&b.dst, DST), (&b.cr, CR)] {
        let m = v::vfio_iommu_type1_dma_map {
            argsz: 32,
            flags: v::VFIO_DMA_MAP_FLAG_READ | v::VFIO_DMA_MAP_FLAG_WRITE,
            vaddr: buf.addr(0),
            iova,
            size: buf.bytes().len() as u64,
        };
        let mut bytes = bytes_of(&m);
        let cmd = u64::from(VFIO_IOMMU_MAP_DMA);
        ctx.ioctl(cmd, bytes.as_mut_ptr() as u64).unwrap();
    }
}

/// Binds the device file to `ctx` through the binary call.
fn bind(dev: &VfioDevice, ctx: &Arc<Context>) -> u32 {
    common::wq::bind(dev, ctx).unwrap()
}

/// `VFIO_DEVICE_ATTACH_IOMMUFD_PT` at the RID.
fn attach(dev: &VfioDevice, pt_id: u32) -> Result<u32, i32> {
    common::wq::attach(dev, None, pt_id)
}

#[test]
fn s1_through_the_device_file_bound_to_a_context() {
    let rig = rig();
    let ctx = Arc::new(rig.p.context(1 << 30));
    let ioas = ctx.ioas_alloc().unwrap();
    let dev = rig.vfio.open_device(&rig.name).unwrap();
    // Nothing but binding works before the file is bound.
    let info = v::vfio_device_info {
        argsz: 24,
        ..Default::default()
    };
    let mut b = bytes_of(&info);
    let e = dev.ioctl(u64::from(VFIO_DEVICE_GET_INFO), b.as_mut_ptr() as u64);
    assert_eq!(e.unwrap_err().errno(), libc::EINVAL);
    let dev_id = bind(&dev, &ctx);
    assert!(dev_id > ioas);
    let hwpt = attach(&dev, ioas).unwrap();
    assert!(hwpt > dev_id);
    let mut bufs = buffers();
    ioas_map(&ctx, ioas, &bufs);
    run(&dev, &mut bufs);

    // A reset puts the configuration back, MSI-X vectors included: once the engine is
    // brought up again its completion interrupt still reaches the eventfd set before.
    let drv = Driver { dev: &dev };
    let irq = eventfd();
    drv.set_irqs(IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, 1, &[irq])
        .unwrap();
    dev.ioctl(u64::from(VFIO_DEVICE_RESET), 0).unwrap();
    assert_eq!(
        drv.read32(regs::GENSTS) & 3,
        0,
        "the engine is disabled by the reset"
    );
    drv.bring_up(-1);
    bufs.dst.bytes_mut().fill(0);
    let r = drv.memmove(&mut bufs, SRC, DST);
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(events(irq), 1);
    close(irq);

    // Detached, the engine reaches nothing.
    let d = v::vfio_device_detach_iommufd_pt {
        argsz: 12,
        ..Default::default()
    };
    b = bytes_of(&d);
    let cmd = u64::from(VFIO_DEVICE_DETACH_IOMMUFD_PT);
    dev.ioctl(cmd, b.as_mut_ptr() as u64).unwrap();
    bufs.dst.bytes_mut().fill(0);
    let drv = Driver { dev: &dev };
    let r = drv.memmove(&mut bufs, SRC, DST);
    assert_eq!(r.status, 0, "no completion record can be written");
    assert!(bufs.dst.bytes().iter().all(|&x| x == 0));

    // Closing the file unbinds the device: the context can destroy what it made.
    drop(dev);
    ctx.ioas_unmap(ioas, 0, u64::MAX).unwrap();
    ctx.destroy(ioas).unwrap();
    assert_eq!(ctx.object_count(), 0);
    assert_eq!(rig.p.host.pinned_pages(), 0);
}

#[test]
fn s1_through_a_type1v2_container_and_its_group() {
    let rig = rig();
    let cred = Credentials {
        memlock_limit: Some(1 << 30),
        ..Credentials::default()
    };
    let container = Arc::new(Context::with_mode(
        rig.p.host.clone(),
        cred,
        AccountMode::Mm,
    ));
    let call_int = |cmd: u32, n: u64| container.ioctl(u64::from(cmd), n).map_err(|e| e.errno());
    assert_eq!(call_int(VFIO_GET_API_VERSION, 0), Ok(0));
    assert_eq!(call_int(VFIO_CHECK_EXTENSION, VFIO_TYPE1V2_IOMMU), Ok(1));

    let group = rig
        .vfio
        .open_group(rig.vfio.group_of(&rig.name).unwrap())
        .unwrap();
    assert_eq!(group.status(), VFIO_GROUP_FLAGS_VIABLE);
    assert_eq!(
        rig.vfio
            .open_group(rig.vfio.group_of(&rig.name).unwrap())
            .err()
            .map(|e| e.errno()),
        Some(libc::EBUSY)
    );
    // No device before the container, and no type before a group.
    assert_eq!(
        group.device(&rig.name).err().map(|e| e.errno()),
        Some(libc::EINVAL)
    );
    assert_eq!(
        call_int(VFIO_SET_IOMMU, VFIO_TYPE1V2_IOMMU),
        Err(libc::ENODEV)
    );
    group.set_container(&container).unwrap();
    assert_eq!(
        group.status(),
        VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET
    );
    assert_eq!(call_int(VFIO_SET_IOMMU, VFIO_TYPE1V2_IOMMU), Ok(0));
    assert_eq!(
        group.device("0000:00:09.0").err().map(|e| e.errno()),
        Some(libc::ENODEV)
    );
    let dev = group.device(&rig.name).unwrap();
    let mut bufs = buffers();
    vfio_map(&container, &bufs);
    // Maps through the container are charged to the process.
    assert_eq!(rig.p.host.mm_locked_pages(1), 9);
    run(&dev, &mut bufs);
    // Cache coherency is asked of the domains now there are some.
    assert_eq!(call_int(VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU), Ok(1));
    // The group's device file takes no iommufd calls.
    assert_eq!(attach(&dev, 1), Err(libc::ENOTTY));
    assert_eq!(
        group.unset_container().err().map(|e| e.errno()),
        Some(libc::EBUSY)
    );
    drop(dev);
    group.unset_container().unwrap();
}

#[test]
fn s1_with_the_container_s_mappings_in_a_nesting_parent() {
    let rig = rig();
    let ctx = Arc::new(rig.p.context(1 << 30));
    let int = |cmd: u32, n: u64| ctx.ioctl(u64::from(cmd), n).map_err(|e| e.errno());
    // The kernel retired the nesting container type: a nesting parent is made through
    // iommufd, and the container's calls fill it.
    assert_eq!(int(VFIO_CHECK_EXTENSION, VFIO_TYPE1_NESTING_IOMMU), Ok(0));
    let ioas = ctx.ioas_alloc().unwrap();
    let dev = rig.vfio.open_device(&rig.name).unwrap();
    let dev_id = bind(&dev, &ctx);
    let parent = ctx
        .hwpt_alloc(dev_id, ioas, HWPT_ALLOC_NEST_PARENT)
        .unwrap();
    assert_eq!(attach(&dev, parent), Ok(parent));
    let mut c = iommufd_bindings::iommu_vfio_ioas {
        size: 12,
        ioas_id: ioas,
        op: VFIO_IOAS_SET,
        __reserved: 0,
    };
    call(&ctx, 0x88, &mut c).unwrap();
    assert_eq!(
        int(VFIO_SET_IOMMU, VFIO_TYPE1_NESTING_IOMMU),
        Err(libc::EINVAL)
    );
    assert_eq!(int(VFIO_SET_IOMMU, VFIO_TYPE1V2_IOMMU), Ok(0));
    let mut bufs = buffers();
    vfio_map(&ctx, &bufs);
    run(&dev, &mut bufs);
    // The parent is in use while the device is attached to it.
    assert_eq!(ctx.destroy(parent).unwrap_err().errno(), libc::EBUSY);
}

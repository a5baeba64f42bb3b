//! The VFIO device interface of a PCI function, rule by rule, with the errno vfio-pci
//! answers: device, region and interrupt information, configuration space as the user
//! sees it, BAR access, interrupts, binding and attaching, and groups.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::dsa::{Fds, close, eventfd, events, rig};
use common::{bytes_of, from_bytes};
use softiommu_devices::pci::AccessSize;
use softiommu_iommufd::Context;
use softiommu_iommufd::vfio::*;
use vfio_bindings::bindings::vfio as v;

/// `ioctl(fd, cmd, &s)` on a device file.
fn call<T: Copy + Default>(dev: &VfioDevice, cmd: u32, s: &mut T) -> Result<i64, i32> {
    let mut b = bytes_of(s);
    let r = dev.ioctl(u64::from(cmd), b.as_mut_ptr() as u64);
    *s = from_bytes(&b);
    r.map_err(|e| e.errno())
}

/// A device file bound to a fresh context and attached to an IOAS.
fn open(r: &common::dsa::Rig) -> (Arc<Context>, VfioDevice) {
    let ctx = Arc::new(r.p.context(1 << 30));
    let ioas = ctx.ioas_alloc().unwrap();
    let dev = r.vfio.open_device(&r.name).unwrap();
    dev.bind_iommufd(&ctx).unwrap();
    dev.attach_pt(ioas).unwrap();
    (ctx, dev)
}

fn cfg_read(dev: &VfioDevice, at: u64, n: usize) -> u32 {
    let mut b = [0u8; 4];
    let off = region_offset(VFIO_PCI_CONFIG_REGION_INDEX) + at;
    assert_eq!(dev.read(off, &mut b[..n]).unwrap(), n);
    u32::from_le_bytes(b)
}

fn cfg_write(dev: &VfioDevice, at: u64, n: usize, v: u32) {
    let off = region_offset(VFIO_PCI_CONFIG_REGION_INDEX) + at;
    assert_eq!(dev.write(off, &v.to_le_bytes()[..n]).unwrap(), n);
}

/// `VFIO_DEVICE_SET_IRQS` with `flags` on `index` from `start`, with `data` after the
/// header and `argsz` adjusted by `short` bytes.
fn set_irqs(
    dev: &VfioDevice,
    flags: u32,
    index: u32,
    start: u32,
    count: u32,
    data: &[u8],
    short: u32,
) -> Result<i64, i32> {
    let mut b = Vec::new();
    for w in [20 + data.len() as u32 - short, flags, index, start, count] {
        b.extend_from_slice(&w.to_ne_bytes());
    }
    b.extend_from_slice(data);
    let r = dev.ioctl(u64::from(VFIO_DEVICE_SET_IRQS), b.as_mut_ptr() as u64);
    r.map_err(|e| e.errno())
}

fn fds(list: &[i32]) -> Vec<u8> {
    list.iter().flat_map(|f| f.to_ne_bytes()).collect()
}

const TRIGGER_FD: u32 = IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER;
const MSIX: u32 = VFIO_PCI_MSIX_IRQ_INDEX;

#[test]
fn device_info_and_its_argsz() {
    let r = rig();
    let (_ctx, dev) = open(&r);
    let mut i = v::vfio_device_info {
        argsz: 24,
        ..Default::default()
    };
    call(&dev, VFIO_DEVICE_GET_INFO, &mut i).unwrap();
    assert_eq!(
        (i.flags, i.num_regions, i.num_irqs),
        (DEVICE_FLAGS_PCI | DEVICE_FLAGS_RESET, 9, 5)
    );
    i.argsz = 15;
    assert_eq!(call(&dev, VFIO_DEVICE_GET_INFO, &mut i), Err(libc::EINVAL));
    assert_eq!(
        dev.ioctl(u64::from(vfio_ioctl(30)), 0).unwrap_err().errno(),
        libc::ENOTTY
    );
}

#[test]
fn region_info_of_each_region_with_its_capability_chain() {
    let r = rig();
    let (_ctx, dev) = open(&r);
    let info = |index: u32, argsz: u32| {
        let mut b = vec![0u8; 64];
        let h = v::vfio_region_info {
            argsz,
            index,
            ..Default::default()
        };
        b[..32].copy_from_slice(&bytes_of(&h));
        let cmd = u64::from(VFIO_DEVICE_GET_REGION_INFO);
        let res = dev.ioctl(cmd, b.as_mut_ptr() as u64).map_err(|e| e.errno());
        (res, from_bytes::<v::vfio_region_info>(&b), b)
    };
    // BAR 0 holds the MSI-X table: mappable, with the capability saying so.
    let (res, i, _) = info(0, 32);
    assert_eq!(res, Ok(0));
    let all = REGION_READ | REGION_WRITE | REGION_MMAP | REGION_CAPS;
    assert_eq!((i.flags, i.size, i.offset), (all, 0x1_0000, 0));
    assert_eq!(
        (i.argsz, i.cap_offset),
        (40, 0),
        "argsz asks for room for the chain"
    );
    let (_, i, b) = info(0, 40);
    assert_eq!((i.argsz, i.cap_offset), (40, 32));
    let cap: v::vfio_info_cap_header = from_bytes(&b[32..40]);
    assert_eq!(
        (cap.id, cap.version, cap.next),
        (REGION_CAP_MSIX_MAPPABLE, 1, 0)
    );
    // BAR 1 is BAR 0's upper half; BAR 2 holds the portals.
    let (_, i, _) = info(1, 32);
    assert_eq!((i.flags, i.size), (0, 0));
    let (_, i, _) = info(2, 32);
    assert_eq!(
        (i.flags, i.size),
        (REGION_READ | REGION_WRITE | REGION_MMAP, 0x2_0000)
    );
    assert_eq!(i.offset, 2 << 40);
    let (_, i, _) = info(VFIO_PCI_ROM_REGION_INDEX, 32);
    assert_eq!((i.flags, i.size), (0, 0));
    let (_, i, _) = info(VFIO_PCI_CONFIG_REGION_INDEX, 32);
    assert_eq!(
        (i.flags, i.size, i.offset),
        (REGION_READ | REGION_WRITE, 4096, 7 << 40)
    );
    assert_eq!(info(VFIO_PCI_VGA_REGION_INDEX, 32).0, Err(libc::EINVAL));
    assert_eq!(info(9, 32).0, Err(libc::EINVAL));
    assert_eq!(info(0, 31).0, Err(libc::EINVAL));
}

#[test]
fn configuration_space_bars_and_msix_enable_are_the_host_s() {
    let r = rig();
    let (_ctx, dev) = open(&r);
    let f = &r.function;
    let real_bar0 = f.config_read(0x10, AccessSize::Dword);
    // Sizing a BAR reads back its size, and leaves the function alone.
    cfg_write(&dev, 0x10, 4, u32::MAX);
    cfg_write(&dev, 0x14, 4, u32::MAX);
    assert_eq!(cfg_read(&dev, 0x10, 4), 0xffff_0000 | 0x4);
    assert_eq!(cfg_read(&dev, 0x14, 4), u32::MAX);
    assert_eq!(cfg_read(&dev, 0x12, 2), 0xffff);
    assert_eq!(f.config_read(0x10, AccessSize::Dword), real_bar0);
    cfg_write(&dev, 0x10, 4, 0x1234_5678);
    assert_eq!(cfg_read(&dev, 0x10, 4), 0x1234_0004);
    // No expansion ROM.
    cfg_write(&dev, 0x30, 4, u32::MAX);
    assert_eq!(cfg_read(&dev, 0x30, 4), 0);
    // The command register reaches the function.
    let cmd = cfg_read(&dev, 4, 2);
    cfg_write(&dev, 4, 2, cmd | 0x4);
    assert_ne!(f.config_read(4, AccessSize::Word) & 0x4, 0);
    // MSI-X Enable as the user wrote it; the function's is the host's.
    let cap = u64::from(softiommu_devices::pci::MSIX_CAP_OFFSET);
    cfg_write(&dev, cap + 2, 2, 0x8000);
    assert_ne!(cfg_read(&dev, cap + 2, 2) & 0x8000, 0);
    assert_eq!(f.config_read(cap as u32 + 2, AccessSize::Word) & 0x8000, 0);
    assert_eq!(
        cfg_read(&dev, cap + 2, 2) & 0x7ff,
        8,
        "the table size shows through"
    );
    // Outside the space.
    let mut b = [0u8; 4];
    let off = region_offset(VFIO_PCI_CONFIG_REGION_INDEX) + 4096;
    assert_eq!(dev.read(off, &mut b).unwrap_err().errno(), libc::EINVAL);
    // Reads end at the end of the space.
    assert_eq!(dev.read(off - 2, &mut b).unwrap(), 2);
}

#[test]
fn bar_access_follows_memory_enable_and_hides_the_msix_table() {
    let r = rig();
    let (_ctx, dev) = open(&r);
    let bar0 = region_offset(0);
    let mut b = [0u8; 8];
    dev.read(bar0, &mut b).unwrap();
    assert_eq!(u64::from_le_bytes(b), 0x100, "VERSION");
    // The MSI-X table reads as ones and takes no writes; a mapping of it reaches it.
    let table = 0x2000;
    dev.read(bar0 + table, &mut b).unwrap();
    assert_eq!(b, [0xff; 8]);
    dev.write(bar0 + table + 8, &0xabcd_u32.to_le_bytes())
        .unwrap();
    let map = dev.mmap(bar0, 0x1_0000).unwrap();
    let mut d = [0u8; 4];
    map.read(table + 8, &mut d).unwrap();
    assert_eq!(u32::from_le_bytes(d), 0, "the write was dropped");
    // Past the BAR, the ROM, an absent BAR: EINVAL; reads end at the BAR's end.
    assert_eq!(
        dev.read(bar0 + 0x1_0000, &mut b).unwrap_err().errno(),
        libc::EINVAL
    );
    assert_eq!(dev.read(bar0 + 0xfffc, &mut b).unwrap(), 4);
    let rom = region_offset(VFIO_PCI_ROM_REGION_INDEX);
    assert_eq!(dev.read(rom, &mut b).unwrap_err().errno(), libc::EINVAL);
    assert_eq!(
        dev.read(region_offset(1), &mut b).unwrap_err().errno(),
        libc::EINVAL
    );
    // Mappings: page-aligned, inside a BAR.
    assert_eq!(
        dev.mmap(bar0 + 8, 4096).err().map(|e| e.errno()),
        Some(libc::EINVAL)
    );
    assert_eq!(
        dev.mmap(bar0, 0x2_0000).err().map(|e| e.errno()),
        Some(libc::EINVAL)
    );
    let cfg = region_offset(VFIO_PCI_CONFIG_REGION_INDEX);
    assert_eq!(
        dev.mmap(cfg, 4096).err().map(|e| e.errno()),
        Some(libc::EINVAL)
    );
    assert_eq!(
        map.read(0x1_0000 - 2, &mut d).unwrap_err().errno(),
        libc::EFAULT
    );
    // Memory space off: BAR accesses fail.
    let cmd = cfg_read(&dev, 4, 2);
    cfg_write(&dev, 4, 2, cmd & !0x2);
    assert_eq!(dev.read(bar0, &mut b).unwrap_err().errno(), libc::EIO);
    assert_eq!(map.read(0, &mut d).unwrap_err().errno(), libc::EIO);
}

#[test]
fn irq_info_of_each_index() {
    let r = rig();
    let (_ctx, dev) = open(&r);
    let info = |index: u32| {
        let mut i = v::vfio_irq_info {
            argsz: 16,
            index,
            ..Default::default()
        };
        call(&dev, VFIO_DEVICE_GET_IRQ_INFO, &mut i).map(|_| (i.flags, i.count))
    };
    let e = IRQ_INFO_EVENTFD;
    assert_eq!(
        info(0),
        Ok((e | IRQ_INFO_MASKABLE | IRQ_INFO_AUTOMASKED, 0))
    );
    assert_eq!(info(1), Ok((e | IRQ_INFO_NORESIZE, 0)));
    assert_eq!(info(2), Ok((e, 9)));
    assert_eq!(info(3), Ok((e | IRQ_INFO_NORESIZE, 1)));
    assert_eq!(info(4), Ok((e | IRQ_INFO_NORESIZE, 1)));
    assert_eq!(info(5), Err(libc::EINVAL));
}

#[test]
fn set_irqs_checks_its_header_and_msix_takes_only_triggers() {
    let r = rig();
    let (_ctx, dev) = open(&r);
    let a = eventfd();
    let b = eventfd();
    let one = fds(&[a]);
    // Two data types, unknown flags, an empty index, a range past the vectors, data
    // past argsz: EINVAL.
    let both = IRQ_SET_DATA_EVENTFD | IRQ_SET_DATA_BOOL | IRQ_SET_ACTION_TRIGGER;
    assert_eq!(set_irqs(&dev, both, MSIX, 0, 1, &one, 0), Err(libc::EINVAL));
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD | 0x40, MSIX, 0, 1, &one, 0),
        Err(libc::EINVAL)
    );
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, &one, 0),
        Err(libc::EINVAL)
    );
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD, MSIX, 9, 1, &one, 0),
        Err(libc::EINVAL)
    );
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD, MSIX, 8, 2, &fds(&[a, a]), 0),
        Err(libc::EINVAL)
    );
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD, MSIX, 0, 1, &one, 1),
        Err(libc::EINVAL)
    );
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD, 5, 0, 1, &one, 0),
        Err(libc::EINVAL)
    );
    // MSI-X vectors are masked through the table, not through this call.
    let mask = IRQ_SET_DATA_NONE | IRQ_SET_ACTION_MASK;
    assert_eq!(set_irqs(&dev, mask, MSIX, 0, 1, &[], 0), Err(libc::ENOTTY));
    let unmask = IRQ_SET_DATA_NONE | IRQ_SET_ACTION_UNMASK;
    assert_eq!(
        set_irqs(&dev, unmask, MSIX, 0, 1, &[], 0),
        Err(libc::ENOTTY)
    );
    // Firing vectors before MSI-X is on.
    let fire = IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER;
    assert_eq!(set_irqs(&dev, fire, MSIX, 0, 1, &[], 0), Err(libc::EINVAL));
    // A closed descriptor, or one that is not an eventfd: refused, MSI-X left off.
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD, MSIX, 0, 1, &fds(&[1 << 20]), 0),
        Err(libc::EBADF)
    );
    let mut pipe = [0i32; 2];
    // SAFETY: pipe(2) writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    let two = fds(&[a, pipe[0]]);
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD, MSIX, 0, 2, &two, 0),
        Err(libc::EINVAL)
    );
    let cap = softiommu_devices::pci::MSIX_CAP_OFFSET as u32 + 2;
    assert_eq!(r.function.config_read(cap, AccessSize::Word) & 0x8000, 0);
    // Eventfds on vectors 0 and 1; the loopback fires the vectors asked for.
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD, MSIX, 0, 2, &fds(&[a, b]), 0),
        Ok(0)
    );
    assert_ne!(r.function.config_read(cap, AccessSize::Word) & 0x8000, 0);
    let bools = IRQ_SET_DATA_BOOL | IRQ_SET_ACTION_TRIGGER;
    assert_eq!(set_irqs(&dev, bools, MSIX, 0, 2, &[0, 1], 0), Ok(0));
    assert_eq!((events(a), events(b)), (0, 1));
    assert_eq!(set_irqs(&dev, fire, MSIX, 0, 2, &[], 0), Ok(0));
    assert_eq!((events(a), events(b)), (1, 1));
    // -1 takes a vector's eventfd away.
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD, MSIX, 1, 1, &fds(&[-1]), 0),
        Ok(0)
    );
    assert_eq!(set_irqs(&dev, fire, MSIX, 0, 2, &[], 0), Ok(0));
    assert_eq!((events(a), events(b)), (1, 0));
    // The error and request notifications take one eventfd each.
    let err_index = VFIO_PCI_ERR_IRQ_INDEX;
    assert_eq!(
        set_irqs(&dev, fire, err_index, 0, 1, &[], 0),
        Err(libc::EINVAL)
    );
    assert_eq!(set_irqs(&dev, TRIGGER_FD, err_index, 0, 1, &one, 0), Ok(0));
    assert_eq!(set_irqs(&dev, fire, err_index, 0, 1, &[], 0), Ok(0));
    assert_eq!(events(a), 1);
    assert_eq!(
        set_irqs(&dev, TRIGGER_FD, err_index, 0, 2, &fds(&[a, a]), 0),
        Err(libc::EINVAL)
    );
    assert_eq!(
        set_irqs(&dev, mask, err_index, 0, 1, &[], 0),
        Err(libc::ENOTTY)
    );
    assert_eq!(set_irqs(&dev, fire, err_index, 0, 0, &[], 0), Ok(0));
    assert_eq!(
        set_irqs(&dev, fire, err_index, 0, 1, &[], 0),
        Err(libc::EINVAL)
    );
    // No data and no vectors: MSI-X off.
    assert_eq!(set_irqs(&dev, fire, MSIX, 0, 0, &[], 0), Ok(0));
    assert_eq!(r.function.config_read(cap, AccessSize::Word) & 0x8000, 0);
    for fd in [a, b, pipe[0], pipe[1]] {
        close(fd);
    }
}

#[test]
fn a_device_file_is_bound_once_and_attaches_by_replacing() {
    let r = rig();
    let ctx = Arc::new(r.p.context(1 << 30));
    let a = ctx.ioas_alloc().unwrap();
    let b = ctx.ioas_alloc().unwrap();
    let dev = r.vfio.open_device(&r.name).unwrap();
    // Before binding: EINVAL for everything.
    assert_eq!(dev.info().unwrap_err().errno(), libc::EINVAL);
    assert_eq!(dev.attach_pt(a).unwrap_err().errno(), libc::EINVAL);
    let bind = |argsz: u32, flags: u32, fd: i32| {
        let mut c = v::vfio_device_bind_iommufd {
            argsz,
            flags,
            iommufd: fd,
            ..Default::default()
        };
        let files = Fds {
            contexts: vec![(3, ctx.clone())],
            ..Fds::default()
        };
        let mut bytes = bytes_of(&c);
        let cmd = u64::from(VFIO_DEVICE_BIND_IOMMUFD);
        let res = dev.ioctl_with_files(cmd, bytes.as_mut_ptr() as u64, &files);
        c = from_bytes(&bytes);
        res.map(|_| c.out_devid).map_err(|e| e.errno())
    };
    assert_eq!(bind(15, 0, 3), Err(libc::EINVAL));
    assert_eq!(bind(24, 0, -1), Err(libc::EINVAL));
    assert_eq!(bind(24, 2, 3), Err(libc::EINVAL));
    assert_eq!(bind(24, 0, 4), Err(libc::EBADF));
    let id = bind(24, 0, 3).unwrap();
    assert_eq!(bind(24, 0, 3), Err(libc::EINVAL), "bound already");
    // Another file of the same function cannot bind while this one is.
    let other = r.vfio.open_device(&r.name).unwrap();
    assert_eq!(other.bind_iommufd(&ctx).unwrap_err().errno(), libc::EINVAL);
    // Detaching what is not attached is no error; attaching again replaces.
    dev.detach_pt().unwrap();
    let h1 = dev.attach_pt(a).unwrap();
    let h2 = dev.attach_pt(b).unwrap();
    assert_ne!(h1, h2);
    assert_eq!(
        ctx.destroy(h1).unwrap_err().errno(),
        libc::ENOENT,
        "the first went with its last device"
    );
    let mut pasid = v::vfio_device_attach_iommufd_pt {
        argsz: 16,
        flags: 2,
        pt_id: a,
        pasid: 1,
    };
    assert_eq!(
        call(&dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &mut pasid),
        Err(libc::EINVAL)
    );
    // Closing the file unbinds: another file binds now.
    drop(dev);
    assert_eq!(ctx.destroy(id).unwrap_err().errno(), libc::ENOENT);
    other.bind_iommufd(&ctx).unwrap();
}

#[test]
fn groups_open_once_take_one_container_and_exclude_the_device_file() {
    let r = rig();
    let ctx = Arc::new(r.p.context(1 << 30));
    let g = r.vfio.group_of(&r.name).unwrap();
    let missing = softiommu_core::GroupId(g.0 + 100);
    assert_eq!(
        r.vfio.open_group(missing).err().map(|e| e.errno()),
        Some(libc::ENOENT)
    );
    let group = r.vfio.open_group(g).unwrap();
    assert_eq!(group.unset_container().unwrap_err().errno(), libc::EINVAL);
    group.set_container(&ctx).unwrap();
    assert_eq!(group.set_container(&ctx).unwrap_err().errno(), libc::EINVAL);
    let d1 = group.device(&r.name).unwrap();
    let d2 = group.device(&r.name).unwrap();
    // The device file path is closed while the group has the device open.
    let cdev = r.vfio.open_device(&r.name).unwrap();
    assert_eq!(cdev.bind_iommufd(&ctx).unwrap_err().errno(), libc::EINVAL);
    // The device was bound and attached to the compatibility IOAS.
    let ioas = ctx.vfio_ioas_get().unwrap();
    assert_eq!(ctx.destroy(ioas).unwrap_err().errno(), libc::EBUSY);
    drop(d1);
    assert_eq!(ctx.destroy(ioas).unwrap_err().errno(), libc::EBUSY);
    drop(d2);
    ctx.destroy(ioas).unwrap();
    drop(group);
    r.vfio.open_group(g).unwrap();
}

#[test]
fn the_group_file_s_binary_calls() {
    let r = rig();
    let ctx = Arc::new(r.p.context(1 << 30));
    let group = r
        .vfio
        .open_group(r.vfio.group_of(&r.name).unwrap())
        .unwrap();
    let files = Fds {
        contexts: vec![(5, ctx.clone())],
        ..Fds::default()
    };
    let ioctl = |cmd: u32, b: &mut [u8]| {
        group
            .ioctl(u64::from(cmd), b.as_mut_ptr() as u64, &files)
            .map_err(|e| e.errno())
    };
    let mut status = [0u8; 8];
    status[..4].copy_from_slice(&8u32.to_ne_bytes());
    assert_eq!(ioctl(VFIO_GROUP_GET_STATUS, &mut status), Ok(0));
    assert_eq!(
        u32::from_ne_bytes(status[4..].try_into().unwrap()),
        VFIO_GROUP_FLAGS_VIABLE
    );
    status[..4].copy_from_slice(&7u32.to_ne_bytes());
    assert_eq!(ioctl(VFIO_GROUP_GET_STATUS, &mut status), Err(libc::EINVAL));
    // Descriptors: negative, or not a container.
    assert_eq!(
        ioctl(VFIO_GROUP_SET_CONTAINER, &mut (-1i32).to_ne_bytes()),
        Err(libc::EBADF)
    );
    assert_eq!(
        ioctl(VFIO_GROUP_SET_CONTAINER, &mut 6i32.to_ne_bytes()),
        Err(libc::EBADFD)
    );
    let mut name = b"0000:00:03.0\0".to_vec();
    assert_eq!(
        ioctl(VFIO_GROUP_GET_DEVICE_FD, &mut name),
        Err(libc::EINVAL)
    );
    assert_eq!(
        ioctl(VFIO_GROUP_SET_CONTAINER, &mut 5i32.to_ne_bytes()),
        Ok(0)
    );
    assert_eq!(ioctl(VFIO_GROUP_GET_DEVICE_FD, &mut name), Ok(100));
    let mut other = b"0000:00:04.0\0".to_vec();
    assert_eq!(
        ioctl(VFIO_GROUP_GET_DEVICE_FD, &mut other),
        Err(libc::ENODEV)
    );
    let mut endless = vec![b'a'; 5000];
    assert_eq!(
        ioctl(VFIO_GROUP_GET_DEVICE_FD, &mut endless),
        Err(libc::EINVAL)
    );
    assert_eq!(ioctl(VFIO_GROUP_UNSET_CONTAINER, &mut []), Err(libc::EBUSY));
    files.devices.lock().clear();
    assert_eq!(ioctl(VFIO_GROUP_UNSET_CONTAINER, &mut []), Ok(0));
    assert_eq!(ioctl(VFIO_GET_API_VERSION, &mut []), Err(libc::ENOTTY));
}

mod arbitrary_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any command with any structure, and any access at any offset, is answered
        /// with a value or an errno, on the device, its group and the container.
        #[test]
        fn device_group_and_container_calls_never_panic(
            calls in proptest::collection::vec(
                (0u32..0x20, proptest::collection::vec(any::<u8>(), 0..96), any::<u64>()),
                1..24,
            ),
        ) {
            let r = rig();
            let (ctx, dev) = open(&r);
            let group_rig = rig();
            let group = group_rig
                .vfio
                .open_group(group_rig.vfio.group_of(&group_rig.name).unwrap())
                .unwrap();
            let files = Fds {
                contexts: vec![(3, ctx.clone())],
                ..Fds::default()
            };
            for (n, mut bytes, off) in calls {
                bytes.resize(96, 0);
                let cmd = u64::from(vfio_ioctl(n));
                let arg = bytes.as_mut_ptr() as u64;
                let _ = dev.ioctl_with_files(cmd, arg, &files);
                let _ = group.ioctl(cmd, arg, &files);
                let _ = ctx.ioctl(cmd, arg);
                let at = ((off % 10) << 40) | ((off >> 40) % 0x2_1000);
                let _ = dev.read(at, &mut bytes[..(off % 9) as usize]);
                let _ = dev.write(at, &bytes[..(off % 9) as usize]);
            }
        }
    }
}

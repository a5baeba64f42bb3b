//! A VMM's device assignment written with rust-vmm's `vfio-ioctls` and cloud-hypervisor's
//! `iommufd-ioctls`, run unmodified under `softiommu exec` with one DSA copy engine:
//!
//! ```sh
//! cargo build --example rustvmm_client -p softiommu-cli
//! softiommu exec --iommu vtd --device dsa@0000:00:04.0 --memlock 64M -- \
//!     target/debug/examples/rustvmm_client 0000:00:04.0
//! ```
//!
//! As a VMM does, it maps its guest's RAM (vm-memory) for DMA at IOVA = guest-physical
//! address, once through a type1 container and group (`VfioContainer`, `VfioDevice::new`)
//! and once through the device's cdev bound to iommufd (`VfioIommufd`); it reads the
//! device's regions, routes MSI-X to eventfds, and drives the engine as a guest driver
//! would: registers through the region accessors (as trapped guest MMIO reaches them),
//! descriptors by `MOVDIR64B` into the mapped portal. Through iommufd it also gives the
//! device a paging HWPT of its own, reads the IOMMU's hardware information and, on SMMUv3,
//! makes a vIOMMU with a vDEVICE and switches the device between the bypass and abort STEs.
//! Every step checks its result (the bytes in guest RAM, the completion record, the
//! eventfd); each prints one line, and the last is `ok`. Any failure ends it with status 1.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use iommufd_bindings::iommufd as uapi;
use iommufd_ioctls::{IommuFd, IommufdVDevice, IommufdVIommu};
use vfio_bindings::bindings::vfio::{
    VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR2_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX,
    VFIO_PCI_MSIX_IRQ_INDEX,
};
use vfio_ioctls::{VfioContainer, VfioDevice, VfioIommufd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use vmm_sys_util::eventfd::EventFd;

/// The guest's RAM: 2 MiB at guest-physical address 0.
const RAM: usize = 2 << 20;
/// Where the move's buffers and its completion record sit in the guest's RAM.
const SRC: u64 = 0x10_0000;
const DST: u64 = 0x14_0000;
const COMP: u64 = 0x18_0000;
/// An IOVA nothing is mapped at.
const HOLE: u64 = 0x4000_0000;
const LEN: usize = 4096;

/// The engine's registers in BAR 0 (DSA architecture specification, chapter 9).
const GENCAP: u64 = 0x10;
const WQCAP: u64 = 0x20;
const ENGCAP: u64 = 0x38;
const TABLE_OFFSET: u64 = 0x60;
const GENCTRL: u64 = 0x88;
const GENSTS: u64 = 0x90;
const CMD: u64 = 0xa0;
const CMDSTS: u64 = 0xa8;
const SWERR: u64 = 0xc0;
const CMD_ENABLE_DEVICE: u32 = 1;
const CMD_RESET_DEVICE: u32 = 5;
const CMD_ENABLE_WQ: u32 = 6;
/// Descriptor flags: completion record address valid, request a record, request an
/// interrupt; the memory-move operation; completion statuses.
const FLAG_CRAV: u32 = 0x4;
const FLAG_RCR: u32 = 0x8;
const FLAG_RCI: u32 = 0x10;
const OP_MEMMOVE: u32 = 3;
const STATUS_SUCCESS: u8 = 1;
const STATUS_PAGE_FAULT: u8 = 3;

type Res<T> = Result<T, String>;

/// `Err(what)` unless `ok`.
fn check(ok: bool, what: &str) -> Res<()> {
    if ok { Ok(()) } else { Err(what.to_string()) }
}

/// A 32-bit register of BAR 0, read through the device's region accessor.
fn rd32(dev: &VfioDevice, off: u64) -> u32 {
    let mut b = [0u8; 4];
    dev.region_read(VFIO_PCI_BAR0_REGION_INDEX, &mut b, off);
    u32::from_le_bytes(b)
}

fn rd64(dev: &VfioDevice, off: u64) -> u64 {
    let mut b = [0u8; 8];
    dev.region_read(VFIO_PCI_BAR0_REGION_INDEX, &mut b, off);
    u64::from_le_bytes(b)
}

fn wr32(dev: &VfioDevice, off: u64, v: u32) {
    dev.region_write(VFIO_PCI_BAR0_REGION_INDEX, &v.to_le_bytes(), off);
}

fn wr64(dev: &VfioDevice, off: u64, v: u64) {
    dev.region_write(VFIO_PCI_BAR0_REGION_INDEX, &v.to_le_bytes(), off);
}

/// A command through CMD; its error code from CMDSTS once it is no longer active.
fn command(dev: &VfioDevice, cmd: u32) -> Res<u32> {
    wr32(dev, CMD, cmd << 20);
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let sts = rd32(dev, CMDSTS);
        if sts & (1 << 31) == 0 {
            return Ok(sts & 0xff);
        }
        check(Instant::now() < end, "the command never finished")?;
        std::thread::sleep(Duration::from_micros(10));
    }
}

/// The engine as a guest driver brings it up: memory space and bus mastering on, reset,
/// group 0 with work queue 0 (dedicated) and every engine, device and WQ enabled.
fn bring_up(dev: &VfioDevice) -> Res<()> {
    dev.reset();
    let mut cmd = [0u8; 2];
    dev.region_read(VFIO_PCI_CONFIG_REGION_INDEX, &mut cmd, 4);
    let cmd = u16::from_le_bytes(cmd) | 0x6;
    dev.region_write(VFIO_PCI_CONFIG_REGION_INDEX, &cmd.to_le_bytes(), 4);
    check(command(dev, CMD_RESET_DEVICE)? == 0, "reset refused")?;
    let (gencap, wqcap) = (rd64(dev, GENCAP), rd64(dev, WQCAP));
    check(wqcap & (1 << 49) != 0, "no dedicated work queues")?;
    let (max_xfer, max_batch) = ((gencap >> 16) & 0x1f, (gencap >> 21) & 0xf);
    let tables = rd64(dev, TABLE_OFFSET);
    let grpcfg = (tables & 0xffff) * 0x100;
    let wqcfg = ((tables >> 16) & 0xffff) * 0x100;
    let engines = rd64(dev, ENGCAP) & 0xff;
    check(engines >= 1, "no engines")?;
    wr64(dev, grpcfg, 1);
    wr64(dev, grpcfg + 32, (1 << engines) - 1);
    wr32(dev, wqcfg, 16);
    wr32(dev, wqcfg + 4, 8);
    wr32(dev, wqcfg + 8, 1 | 10 << 4);
    wr32(dev, wqcfg + 12, (max_xfer | max_batch << 5) as u32);
    wr32(dev, GENCTRL, 1);
    check(
        command(dev, CMD_ENABLE_DEVICE)? == 0,
        "device enable refused",
    )?;
    check(rd32(dev, GENSTS) & 3 == 1, "the device is not enabled")?;
    check(command(dev, CMD_ENABLE_WQ)? == 0, "WQ enable refused")
}

/// The first page of the engine's portals, mapped from BAR 2 of the device file.
struct Portal(*mut u8);

impl Portal {
    fn map(dev: &VfioDevice) -> Res<Portal> {
        let off = dev.get_region_offset(VFIO_PCI_BAR2_REGION_INDEX);
        // SAFETY: a new shared mapping of the device file; nothing else is at its address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                dev.as_raw_fd(),
                off as libc::off_t,
            )
        };
        check(p != libc::MAP_FAILED, "BAR 2 cannot be mapped")?;
        Ok(Portal(p.cast()))
    }

    /// Submits a 64-byte descriptor with `MOVDIR64B`.
    fn submit(&self, desc: &[u8; 64]) -> Res<()> {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: MOVDIR64B reads the 64 bytes at `desc` and stores them to the mapped
            // portal page; encoded as bytes, `movdir64b (%rdx), %rax`.
            unsafe {
                std::arch::asm!(
                    ".byte 0x66, 0x0f, 0x38, 0xf8, 0x02",
                    in("rax") self.0,
                    in("rdx") desc.as_ptr(),
                    options(nostack),
                );
            }
            Ok(())
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = desc;
            Err("descriptors are submitted with MOVDIR64B: x86-64 only".into())
        }
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        // SAFETY: the page `map` made, unmapped once.
        unsafe { libc::munmap(self.0.cast(), 4096) };
    }
}

/// Submits a memory move of `LEN` bytes from IOVA `src` to `DST`, its record at `COMP`;
/// with an interrupt on vector 1 if `irq`.
fn submit_move(mem: &GuestMemoryMmap, portal: &Portal, src: u64, irq: bool) -> Res<()> {
    let io = |e: vm_memory::GuestMemoryError| e.to_string();
    mem.write_slice(&[0; LEN], GuestAddress(DST)).map_err(io)?;
    mem.write_slice(&[0; 32], GuestAddress(COMP)).map_err(io)?;
    let mut d = [0u8; 64];
    let flags = FLAG_CRAV | FLAG_RCR | if irq { FLAG_RCI } else { 0 };
    d[4..8].copy_from_slice(&(flags | OP_MEMMOVE << 24).to_le_bytes());
    d[8..16].copy_from_slice(&COMP.to_le_bytes());
    d[16..24].copy_from_slice(&src.to_le_bytes());
    d[24..32].copy_from_slice(&DST.to_le_bytes());
    d[32..36].copy_from_slice(&(LEN as u32).to_le_bytes());
    d[36..38].copy_from_slice(&1u16.to_le_bytes());
    portal.submit(&d)
}

/// A memory move as `submit_move` makes it: the record's status and fault address.
fn move_bytes(mem: &GuestMemoryMmap, portal: &Portal, src: u64, irq: bool) -> Res<(u8, u64)> {
    let io = |e: vm_memory::GuestMemoryError| e.to_string();
    submit_move(mem, portal, src, irq)?;
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let status: u8 = mem
            .load(GuestAddress(COMP), Ordering::Acquire)
            .map_err(io)?;
        if status != 0 {
            let fault: u64 = mem.read_obj(GuestAddress(COMP + 8)).map_err(io)?;
            return Ok((status & 0x7f, fault));
        }
        check(Instant::now() < end, "no completion record")?;
        std::thread::sleep(Duration::from_micros(10));
    }
}

/// A move whose record cannot be written either: the engine reports it in SWERR. The
/// error code there, once the register is cleared again.
fn unreported_move(dev: &VfioDevice, mem: &GuestMemoryMmap, portal: &Portal) -> Res<u8> {
    submit_move(mem, portal, SRC, false)?;
    let end = Instant::now() + Duration::from_secs(5);
    let swerr = loop {
        let v = rd64(dev, SWERR);
        if v & 1 != 0 {
            break v;
        }
        check(Instant::now() < end, "nothing in SWERR")?;
        std::thread::sleep(Duration::from_micros(10));
    };
    wr64(dev, SWERR, 3);
    check(rd64(dev, SWERR) & 1 == 0, "SWERR stays set")?;
    let status: u8 = mem
        .read_obj(GuestAddress(COMP))
        .map_err(|e| e.to_string())?;
    check(status == 0, "a completion record was written")?;
    let mut got = vec![0u8; LEN];
    mem.read_slice(&mut got, GuestAddress(DST))
        .map_err(|e| e.to_string())?;
    check(got.iter().all(|b| *b == 0), "bytes landed")?;
    Ok((swerr >> 8) as u8)
}

/// Whether `efd` signals within 5 s, and its count then.
fn fired(efd: &EventFd) -> Res<u64> {
    let mut p = libc::pollfd {
        fd: efd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, valid for the call.
    check(
        unsafe { libc::poll(&mut p, 1, 5000) } == 1,
        "the eventfd never fired",
    )?;
    efd.read().map_err(|e| e.to_string())
}

/// A move that must land, interrupting on vector 1: checked byte for byte.
fn good_move(mem: &GuestMemoryMmap, portal: &Portal, efd: &EventFd) -> Res<()> {
    let pattern: Vec<u8> = (0..LEN).map(|i| (i * 7 + 3) as u8).collect();
    mem.write_slice(&pattern, GuestAddress(SRC))
        .map_err(|e| e.to_string())?;
    let (status, _) = move_bytes(mem, portal, SRC, true)?;
    check(status == STATUS_SUCCESS, &format!("move status {status}"))?;
    check(fired(efd)? == 1, "one interrupt")?;
    let mut got = vec![0u8; LEN];
    mem.read_slice(&mut got, GuestAddress(DST))
        .map_err(|e| e.to_string())?;
    check(got == pattern, "the destination holds other bytes")
}

/// A move from `src`, which must fault there and leave the destination untouched.
fn faulting_move(mem: &GuestMemoryMmap, portal: &Portal, src: u64) -> Res<u64> {
    let (status, fault) = move_bytes(mem, portal, src, false)?;
    check(
        status == STATUS_PAGE_FAULT,
        &format!("move status {status}"),
    )?;
    let mut got = vec![0u8; LEN];
    mem.read_slice(&mut got, GuestAddress(DST))
        .map_err(|e| e.to_string())?;
    check(got.iter().all(|b| *b == 0), "bytes landed")?;
    Ok(fault)
}

/// What every path does with its device: regions, MSI-X on two eventfds, the engine up,
/// a move that lands and one from an unmapped IOVA. The eventfds and the portal.
fn exercise(who: &str, dev: &VfioDevice, mem: &GuestMemoryMmap) -> Res<(Portal, [EventFd; 2])> {
    let bar0 = dev.get_region_size(VFIO_PCI_BAR0_REGION_INDEX);
    let bar2 = dev.get_region_size(VFIO_PCI_BAR2_REGION_INDEX);
    let vectors = dev
        .get_irq_info(VFIO_PCI_MSIX_IRQ_INDEX)
        .map_or(0, |i| i.count);
    check(bar0 >= 0x1000 && bar2 >= 0x2000 && vectors >= 2, "regions")?;
    let mut id = [0u8; 4];
    dev.region_read(VFIO_PCI_CONFIG_REGION_INDEX, &mut id, 0);
    println!(
        "{who}: device {:04x}:{:04x}, BAR 0 {} KiB, BAR 2 {} KiB, {vectors} MSI-X vectors",
        u16::from_le_bytes([id[0], id[1]]),
        u16::from_le_bytes([id[2], id[3]]),
        bar0 >> 10,
        bar2 >> 10,
    );
    let efd = |_| EventFd::new(libc::EFD_CLOEXEC).map_err(|e| e.to_string());
    let efds = [efd(0)?, efd(1)?];
    dev.enable_msix(efds.iter().collect())
        .map_err(|e| format!("MSI-X: {e}"))?;
    bring_up(dev)?;
    let portal = Portal::map(dev)?;
    good_move(mem, &portal, &efds[1])?;
    println!("{who}: {LEN} bytes moved through the IOMMU, MSI-X vector 1 fired");
    let fault = faulting_move(mem, &portal, HOLE)?;
    check(fault == HOLE, "the fault names another address")?;
    println!("{who}: a move from unmapped IOVA {HOLE:#x} faults there, nothing written");
    Ok((portal, efds))
}

/// The type1 path: container, group, device; the guest's RAM mapped and unmapped.
fn type1(sysfs: &Path, mem: &GuestMemoryMmap) -> Res<()> {
    let container = Arc::new(VfioContainer::new(None).map_err(|e| e.to_string())?);
    let dev = VfioDevice::new(sysfs, container.clone(), false).map_err(|e| e.to_string())?;
    // SAFETY: the guest's RAM stays mapped in this process until after the unmap below,
    // and nothing holds a reference into it while the device may write it.
    unsafe { container.vfio_map_guest_memory(mem) }.map_err(|e| e.to_string())?;
    let (portal, _efds) = exercise("type1", &dev, mem)?;
    drop(portal);
    dev.disable_msix().map_err(|e| e.to_string())?;
    container
        .vfio_unmap_guest_memory(mem)
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The iommufd path: the device's cdev bound to `/dev/iommu`, attached to an IOAS holding
/// the guest's RAM; then a paging HWPT of its own; then, on SMMUv3, a vIOMMU.
fn cdev(sysfs: &Path, mem: &GuestMemoryMmap) -> Res<()> {
    let iommufd = Arc::new(IommuFd::new().map_err(|e| e.to_string())?);
    let ops = Arc::new(VfioIommufd::new(iommufd.clone(), None, None).map_err(|e| e.to_string())?);
    let ioas = ops.ioas().clone();
    let dev = Arc::new(VfioDevice::new(sysfs, ops.clone(), true).map_err(|e| e.to_string())?);
    let dev_id = dev.iommufd_dev_id().ok_or("the device was not bound")?;
    for r in mem.iter() {
        let host = mem
            .get_host_address(r.start_addr())
            .map_err(|e| e.to_string())?;
        // SAFETY: as in `type1`: the RAM outlives the mapping, which the IOAS's destruction
        // at the end removes.
        unsafe { ops.vfio_dma_map(r.start_addr().0, r.len() as usize, host) }
            .map_err(|e| e.to_string())?;
    }
    println!(
        "iommufd: device bound (dev_id {dev_id}), attached to IOAS {}",
        ioas.id()
    );
    let (portal, efds) = exercise("iommufd", &dev, mem)?;

    // A paging HWPT of the device's own over the same IOAS, the device moved onto it.
    let mut hwpt = uapi::iommu_hwpt_alloc {
        size: size_of::<uapi::iommu_hwpt_alloc>() as u32,
        dev_id,
        pt_id: ioas.id(),
        ..Default::default()
    };
    iommufd
        .alloc_iommu_hwpt(&mut hwpt)
        .map_err(|e| e.to_string())?;
    dev.attach_hwpt(hwpt.out_hwpt_id)
        .map_err(|e| e.to_string())?;
    good_move(mem, &portal, &efds[1])?;
    println!(
        "iommufd: paging HWPT {} attached, {LEN} bytes moved through it",
        hwpt.out_hwpt_id
    );

    let mut info = uapi::iommu_hw_info {
        size: size_of::<uapi::iommu_hw_info>() as u32,
        dev_id,
        ..Default::default()
    };
    iommufd.get_hw_info(&mut info).map_err(|e| e.to_string())?;
    // SAFETY: the union holds one u32 under either name.
    let kind = unsafe { info.__bindgen_anon_1.out_data_type };
    let name = match kind {
        uapi::iommu_hw_info_type_IOMMU_HW_INFO_TYPE_INTEL_VTD => "Intel VT-d",
        uapi::iommu_hw_info_type_IOMMU_HW_INFO_TYPE_ARM_SMMUV3 => "Arm SMMUv3",
        _ => "another IOMMU",
    };
    println!("iommufd: hardware information: {name}");

    if kind == uapi::iommu_hw_info_type_IOMMU_HW_INFO_TYPE_ARM_SMMUV3 {
        viommu(&ioas, &dev, dev_id, mem, &portal, &efds[1])?;
    } else {
        let refused = IommufdVIommu::new(ioas.clone(), dev_id, false).is_err();
        check(refused, "a vIOMMU on an IOMMU without one")?;
        println!("iommufd: no vIOMMU on {name}, as in Linux");
    }
    // Back on the IOAS (the device's file detaches from it when dropped), the HWPT gone.
    dev.attach_hwpt(ioas.id()).map_err(|e| e.to_string())?;
    iommufd
        .destroy_iommu_object(hwpt.out_hwpt_id)
        .map_err(|e| e.to_string())?;
    drop(portal);
    dev.disable_msix().map_err(|e| e.to_string())?;
    for r in mem.iter() {
        ops.vfio_dma_unmap(r.start_addr().0, r.len() as usize)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// On SMMUv3: a vIOMMU over a nesting parent of the IOAS, a vDEVICE for the device at
/// virtual stream ID 8, and the device on the vIOMMU's bypass STE (moves land) and then
/// on its abort STE (the move faults, and so does the write of its completion record,
/// which the engine reports in SWERR: 0x1a, a completion record address fault).
fn viommu(
    ioas: &Arc<iommufd_ioctls::IommufdIoas>,
    dev: &Arc<VfioDevice>,
    dev_id: u32,
    mem: &GuestMemoryMmap,
    portal: &Portal,
    efd: &EventFd,
) -> Res<()> {
    let v = Arc::new(IommufdVIommu::new(ioas.clone(), dev_id, false).map_err(|e| e.to_string())?);
    let vdev = IommufdVDevice::new(v.clone(), dev.clone(), dev_id, 8).map_err(|e| e.to_string())?;
    println!(
        "iommufd: vIOMMU and vDEVICE (virtual stream ID {})",
        vdev.virt_id()
    );
    v.attach_bypass(&**dev).map_err(|e| e.to_string())?;
    good_move(mem, portal, efd)?;
    println!("iommufd: bypass STE: {LEN} bytes moved through the nesting parent");
    v.attach_abort(&**dev).map_err(|e| e.to_string())?;
    let code = unreported_move(dev, mem, portal)?;
    println!(
        "iommufd: abort STE: the move and its record fault (SWERR error {code:#x}), nothing written"
    );
    drop(vdev);
    Ok(())
}

fn run(bdf: &str) -> Res<()> {
    let sysfs = PathBuf::from(format!("/sys/bus/pci/devices/{bdf}"));
    let mem =
        GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM)]).map_err(|e| e.to_string())?;
    type1(&sysfs, &mem).map_err(|e| format!("type1: {e}"))?;
    cdev(&sysfs, &mem).map_err(|e| format!("iommufd: {e}"))
}

/// Runs the client on the device its first argument that is not an option names (by
/// default 0000:00:04.0).
pub fn main() -> ExitCode {
    let bdf = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "0000:00:04.0".into());
    match run(&bdf) {
        Ok(()) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rustvmm_client: {e}");
            ExitCode::FAILURE
        }
    }
}

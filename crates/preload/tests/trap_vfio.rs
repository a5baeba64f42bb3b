//! A BAR of a VFIO device file served through a trapped window: the copy engine's registers
//! read by the program's own loads, and a memory move submitted with `movdir64b` to its
//! mapped portal, as a user-space driver does.

#[path = "../../iommufd/tests/common/mod.rs"]
mod common;

use std::arch::asm;
use std::sync::Arc;

use common::Buffer;
use common::dsa::rig;
use common::wq::{Driver, attach, bind, dedicated};
use softiommu_devices::dsa::{CompletionRecord, Descriptor, Status, regs};
use softiommu_iommufd::vfio::region_offset;
use softiommu_iommufd::{MAP_FIXED_IOVA, MAP_READABLE, MAP_WRITEABLE};
use softiommu_preload::trap::{VfioBar, set_enqcmd_pasid};

#[repr(C, align(64))]
struct Desc([u8; 64]);

#[test]
fn a_mapped_bar_is_served_by_the_device_and_a_move_goes_through_its_portal() {
    let r = rig();
    let dev = r.vfio.open_device(&r.name).expect("open");
    let ctx = Arc::new(r.p.context(1 << 30));
    bind(&dev, &ctx).expect("bind");
    let ioas = ctx.ioas_alloc().expect("ioas");
    let mut bufs: Vec<Buffer> = (0..3).map(|_| Buffer::new(0x4000, 4096)).collect();
    bufs[0].bytes_mut().fill(0xaa);
    let rw = MAP_READABLE | MAP_WRITEABLE | MAP_FIXED_IOVA;
    for (i, b) in bufs.iter().enumerate() {
        let iova = 0x10_0000 * (i as u64 + 1);
        ctx.ioas_map(ioas, rw, b.addr(0), 0x4000, iova)
            .expect("map");
    }
    attach(&dev, None, ioas).expect("attach");
    let drv = Driver { dev: &dev };
    drv.bring_up(dedicated(None));

    // BAR 0 through a window: a load is the register, a store reaches the function.
    let bar0 = dev.region_info(0).expect("BAR 0").size;
    let w0 = VfioBar::trap(&dev, region_offset(0), bar0).expect("BAR 0 window");
    let engcap: u64;
    // SAFETY: an 8-byte load from the trapped BAR.
    unsafe {
        asm!("mov {v}, qword ptr [{p}]", p = in(reg) w0.base() + regs::ENGCAP, v = out(reg) engcap)
    };
    assert_eq!(engcap, drv.read64(regs::ENGCAP));
    assert_ne!(engcap, 0);
    let genctrl = w0.base() + regs::GENCTRL;
    // SAFETY: a 4-byte store to the trapped BAR.
    unsafe { asm!("mov dword ptr [{p}], 0", p = in(reg) genctrl) };
    assert_eq!(drv.read32(regs::GENCTRL), 0);
    // SAFETY: as above.
    unsafe { asm!("mov dword ptr [{p}], 1", p = in(reg) genctrl) };
    assert_eq!(drv.read32(regs::GENCTRL), 1);

    // BAR 2: WQ 0's portal takes a move by movdir64b.
    let w2 = VfioBar::trap(&dev, region_offset(2), 0x1000).expect("portal window");
    let d = Descriptor::memmove(0x10_0000, 0x20_0000, 0x1000).with_completion(0x30_0000);
    let mut desc = Desc([0; 64]);
    desc.0.copy_from_slice(&d.to_bytes());
    // SAFETY: movdir64b rax, [rsi] to the trapped portal.
    unsafe {
        asm!(".byte 0x66, 0x0f, 0x38, 0xf8, 0x06", in("rax") w2.base(), in("rsi") desc.0.as_ptr())
    };
    let mut rec = [0u8; 32];
    rec.copy_from_slice(&bufs[2].bytes()[..32]);
    let rec = CompletionRecord::from_bytes(&rec);
    assert_eq!(rec.status, Status::Success as u8, "{rec:?}");
    assert!(bufs[1].bytes()[..0x1000].iter().all(|&b| b == 0xaa));

    // A dedicated WQ takes no enqcmd: the status is a retry, ZF set.
    set_enqcmd_pasid(Some(7));
    let zf: u8;
    // SAFETY: enqcmd rax, [rsi] to the trapped portal.
    unsafe {
        asm!(".byte 0xf2, 0x0f, 0x38, 0xf8, 0x06", "setz {z}",
            in("rax") w2.base(), in("rsi") desc.0.as_ptr(), z = out(reg_byte) zf)
    };
    assert_eq!(zf, 1);

    // With memory space off, loads read all ones.
    let cfg = region_offset(softiommu_iommufd::vfio::VFIO_PCI_CONFIG_REGION_INDEX);
    dev.write(cfg + 4, &0u16.to_le_bytes()).expect("command");
    // SAFETY: a load from the trapped BAR.
    let v = unsafe { std::ptr::read_volatile((w0.base() + regs::ENGCAP) as *const u32) };
    assert_eq!(v, u32::MAX);
}

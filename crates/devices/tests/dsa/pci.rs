//! The engine as a PCI function: probed, configured and driven through configuration space,
//! BAR 0 and BAR 2 only, with completion interrupts as MSI-X writes.

use std::sync::Arc;

use softiommu_devices::bus::Direct;
use softiommu_devices::dsa::regs::{self, CmdReg, Command, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{
    CompletionRecord, Descriptor, DsaConfig, DsaFunction, Enqcmd, MSIX_PBA, MSIX_TABLE, Submit,
};
use softiommu_devices::pci::AccessSize::{Dword, Word};
use softiommu_mem::{AddressSpace, RamArena};

const MSI_ADDR: u64 = 0x9_0000;
const CR: u64 = 0x8_0000;

fn setup() -> (Arc<RamArena>, DsaFunction) {
    let mem = Arc::new(RamArena::new(0, 1 << 20).expect("arena"));
    let f = DsaFunction::new(
        DsaConfig::default(),
        Arc::new(Direct::new(mem.clone())),
        0x0300,
    )
    .expect("function");
    (mem, f)
}

fn w32(f: &DsaFunction, off: u64, v: u32) {
    f.bar_write(0, off, &v.to_le_bytes());
}

fn w64(f: &DsaFunction, off: u64, v: u64) {
    f.bar_write(0, off, &v.to_le_bytes());
}

fn r32(f: &DsaFunction, off: u64) -> u32 {
    let mut b = [0u8; 4];
    f.bar_read(0, off, &mut b);
    u32::from_le_bytes(b)
}

fn cmd(f: &DsaFunction, c: Command, op: u32) -> u32 {
    w32(
        f,
        regs::CMD,
        CmdReg::new().with_cmd(c as u8).with_operand(op).into_bits(),
    );
    r32(f, regs::CMDSTS)
}

/// Finds extended capability `id` as a driver walks the list.
fn ext_cap(f: &DsaFunction, id: u32) -> Option<u32> {
    let mut at = 0x100;
    while at != 0 {
        let h = f.config_read(at, Dword);
        if h & 0xffff == id {
            return Some(at);
        }
        at = h >> 20;
    }
    None
}

/// Finds capability `id` in the legacy list.
fn cap(f: &DsaFunction, id: u32) -> Option<u32> {
    let mut at = f.config_read(0x34, Dword) & 0xfc;
    while at != 0 {
        let h = f.config_read(at, Dword);
        if h & 0xff == id {
            return Some(at);
        }
        at = (h >> 8) & 0xfc;
    }
    None
}

#[test]
fn probe_configure_and_interrupt_through_pci() {
    let (mem, f) = setup();
    assert_eq!(f.config_read(0, Dword), 0x0b25_8086);
    // BAR sizing by the all-ones write.
    f.config_write(0x10, Dword, !0);
    assert_eq!(f.config_read(0x10, Dword) & !0xf, !(0x1_0000u32 - 1));
    f.config_write(0x10, Dword, 0xf000_0000);
    // Before bus mastering the device does not enable.
    assert_eq!(cmd(&f, Command::EnableDevice, 0) & 0xff, 0x12);
    f.config_write(0x04, Word, 0x6);
    // MSI-X on, vector 1 aimed at MSI_ADDR.
    let msix = cap(&f, 0x11).expect("MSI-X capability");
    f.config_write(msix + 2, Word, 1 << 15);
    w32(&f, MSIX_TABLE + 16, MSI_ADDR as u32);
    w32(&f, MSIX_TABLE + 16 + 4, 0);
    w32(&f, MSIX_TABLE + 16 + 8, 0x41);
    w32(&f, MSIX_TABLE + 16 + 12, 0);
    // PASID on (with privileged mode), needed by the shared WQ.
    let pasid = ext_cap(&f, 0x1b).expect("PASID capability");
    f.config_write(pasid + 6, Word, 0b101);

    assert_eq!(cmd(&f, Command::ResetDevice, 0), 0);
    w64(&f, regs::GRPCFG_BASE, 0b11);
    w64(&f, regs::GRPCFG_BASE + 32, 0b1);
    for (w, dedicated) in [(0u64, true), (1, false)] {
        let base = regs::WQCFG_BASE + w * regs::WQCFG_SIZE;
        let mode = WqCfgMode::new().with_dedicated(dedicated).with_priority(5);
        w32(&f, base, 8);
        w32(&f, base + 4, 4);
        w32(&f, base + 8, mode.into_bits());
        let limits = WqCfgLimits::new()
            .with_max_xfer_shift(20)
            .with_max_batch_shift(4);
        w32(&f, base + 12, limits.into_bits());
    }
    assert_eq!(cmd(&f, Command::EnableDevice, 0), 0);
    assert_eq!(cmd(&f, Command::EnableWq, 0), 0);
    assert_eq!(cmd(&f, Command::EnableWq, 1), 0);

    mem.write(0x1000, b"through the portal").unwrap();
    let mut d = Descriptor::memmove(0x1000, 0x2000, 18).with_completion(CR);
    d.set_flags(d.flags().with_rci(true));
    d.int_handle = 1;
    assert_eq!(f.bar_write(2, 0, &d.to_bytes()), Some(Submit::Accepted));
    let mut rec = [0u8; 32];
    mem.read(CR, &mut rec).unwrap();
    assert_eq!(CompletionRecord::from_bytes(&rec).status, 1);
    let mut got = [0u8; 18];
    mem.read(0x2000, &mut got).unwrap();
    assert_eq!(&got, b"through the portal");
    let mut msi = [0u8; 4];
    mem.read(MSI_ADDR, &mut msi).unwrap();
    assert_eq!(
        u32::from_le_bytes(msi),
        0x41,
        "completion interrupt as an MSI write"
    );

    // A masked vector stays pending in the PBA until unmasked.
    mem.write(MSI_ADDR, &[0; 4]).unwrap();
    w32(&f, MSIX_TABLE + 16 + 12, 1);
    let enq = Enqcmd {
        pasid: 9,
        privileged: false,
    };
    assert_eq!(
        f.enqcmd(regs::WQ_PORTALS_SIZE, &d.to_bytes(), enq),
        Submit::Accepted
    );
    mem.read(MSI_ADDR, &mut msi).unwrap();
    assert_eq!(msi, [0; 4]);
    assert_eq!(r32(&f, MSIX_PBA) & 0b10, 0b10);
    w32(&f, MSIX_TABLE + 16 + 12, 0);
    mem.read(MSI_ADDR, &mut msi).unwrap();
    assert_eq!(u32::from_le_bytes(msi), 0x41);

    // Without PASID the shared WQ cannot be enabled again.
    assert_eq!(cmd(&f, Command::DisableWq, 0b10), 0);
    f.config_write(pasid + 6, Word, 0);
    assert_eq!(cmd(&f, Command::EnableWq, 1) & 0xff, 0x26);
}

#[test]
fn function_level_reset_resets_the_engine() {
    let (_mem, f) = setup();
    f.config_write(0x04, Word, 0x6);
    w64(&f, regs::GRPCFG_BASE + 32, 1);
    assert_eq!(cmd(&f, Command::EnableDevice, 0), 0);
    let exp = cap(&f, 0x10).expect("PCI Express capability");
    f.config_write(exp + 8, Word, 1 << 15);
    assert_eq!(r32(&f, regs::GENSTS) & 3, 0, "disabled after FLR");
    assert_eq!(
        f.bar_write(2, 0, &[0u8; 64]),
        Some(Submit::Dropped),
        "memory space off"
    );
}

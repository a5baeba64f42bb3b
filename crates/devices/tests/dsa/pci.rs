//! The engine as a PCI function: probed, configured and driven through configuration space,
//! BAR 0 and BAR 2 only, with completion interrupts as MSI-X writes.

use std::sync::Arc;

use softiommu_devices::bus::Direct;
use softiommu_devices::dsa::regs::{self, CmdReg, Command, WqCfgLimits, WqCfgMode};
use softiommu_devices::dsa::{
    CompletionRecord, Descriptor, DsaConfig, DsaFunction, Enqcmd, MSIX_PBA, MSIX_TABLE, Status,
    Submit,
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

/// ATS and PRI as configuration space enables them: ATS Enable and STU turn the ATC on, PRI
/// Enable and the allocation let block-on-fault faults send page requests, and a Response
/// Failure shows in the PRI status register until software clears it.
#[test]
fn ats_and_pri_follow_configuration_space() {
    use crate::iommu::{Iommu, Prs};
    use std::sync::atomic::Ordering::SeqCst;
    let mem = Arc::new(RamArena::new(0, 1 << 20).expect("arena"));
    let iommu = Iommu::new(mem.clone(), Prs::Failure);
    let f = DsaFunction::new(DsaConfig::default(), iommu.clone(), 0x0300).expect("function");
    for (iova, pages) in [(0x1000u64, 1u64), (CR, 1)] {
        iommu.map(None, iova, iova, pages);
    }
    f.config_write(0x04, Word, 0x6);
    assert_eq!(cmd(&f, Command::ResetDevice, 0), 0);
    w64(&f, regs::GRPCFG_BASE, 0b1);
    w64(&f, regs::GRPCFG_BASE + 32, 0b1);
    let mode = WqCfgMode::new()
        .with_dedicated(true)
        .with_bof(true)
        .with_priority(5);
    w32(&f, regs::WQCFG_BASE, 8);
    w32(&f, regs::WQCFG_BASE + 8, mode.into_bits());
    let limits = WqCfgLimits::new().with_max_xfer_shift(20);
    w32(&f, regs::WQCFG_BASE + 12, limits.into_bits());
    assert_eq!(cmd(&f, Command::EnableDevice, 0), 0);
    assert_eq!(cmd(&f, Command::EnableWq, 0), 0);
    let mut d = Descriptor::memmove(0x1000, 0x2000, 64).with_completion(CR);
    d.set_flags(d.flags().with_block_on_fault(true));
    let status = || {
        let mut rec = [0u8; 32];
        mem.read(CR, &mut rec).expect("in RAM");
        CompletionRecord::from_bytes(&rec).status
    };

    // ATS off, PRI off: untranslated requests, and the fault ends the descriptor.
    f.bar_write(2, 0, &d.to_bytes());
    assert_eq!(status(), Status::PageFaultIr as u8);
    assert_eq!(iommu.ats.load(SeqCst), 0);
    assert!(iommu.page_requests.lock().is_empty());

    let ats = ext_cap(&f, 0x0f).expect("ATS capability");
    f.config_write(ats + 6, Word, (1 << 15) | 2);
    assert_eq!(f.port().stu(), 2);
    let pri = ext_cap(&f, 0x13).expect("PRI capability");
    f.config_write(pri + 0xc, Dword, 4);
    f.config_write(pri + 4, Word, 1);
    f.bar_write(2, 0, &d.to_bytes());
    assert_eq!(status(), Status::PageFaultIr as u8);
    assert!(iommu.ats.load(SeqCst) > 0, "translation requests sent");
    assert_eq!(iommu.page_requests.lock().len(), 1);
    assert_eq!(f.config_read(pri + 6, Word) & 1, 1, "Response Failure");
    // While it is set no page request leaves; once cleared they do again.
    f.bar_write(2, 0, &d.to_bytes());
    assert_eq!(iommu.page_requests.lock().len(), 1);
    f.config_write(pri + 6, Word, 1);
    assert_eq!(f.config_read(pri + 6, Word) & 1, 0);
    *iommu.prs.lock() = Prs::MapNow;
    f.bar_write(2, 0, &d.to_bytes());
    assert_eq!(
        status(),
        Status::Success as u8,
        "the page request mapped the page"
    );
    assert_eq!(iommu.page_requests.lock().len(), 2);
    // ATS off again empties the ATC.
    assert!(f.port().atc_len() > 0);
    f.config_write(ats + 6, Word, 0);
    assert_eq!(f.port().atc_len(), 0);
}

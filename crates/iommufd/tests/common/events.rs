//! An SMMUv3 platform whose event-queue interrupt is served as an OS serves it: at each,
//! the core has the driver take the events and hands those of nested domains to their
//! users.

use std::sync::{Arc, Weak, mpsc};

use softiommu_core::{DeviceCaps, InstanceId, Iommu};

use softiommu_smmuv3::regs::Irq;

use super::{Platform, base, platform, smmu_signalled};

/// `n` devices behind an SMMUv3 with every feature (checking mode on), its event interrupt
/// served by a thread.
pub fn smmu_events(n: u8) -> Platform {
    let (mem, m, tables) = base();
    let (driver, upstream, rx) = smmu_signalled(&m, &tables, Irq::EventQueue);
    let p = platform(mem, m, tables, driver, upstream, n, DeviceCaps::default());
    let iommu = Arc::downgrade(p.host.iommu());
    let inst = p
        .host
        .iommu()
        .device_info(p.devs[0])
        .expect("device")
        .instance;
    std::thread::spawn(move || serve(iommu, rx, inst));
    p
}

fn serve(iommu: Weak<Iommu>, rx: mpsc::Receiver<()>, inst: InstanceId) {
    while rx.recv().is_ok() {
        let Some(iommu) = iommu.upgrade() else { return };
        let _ = iommu.event_interrupt(inst);
    }
}

//! An SMMUv3 brought up by its driver under the IOMMU core: a device gets a paging domain, a
//! buffer is mapped in it, and the device's DMA is translated by the SMMU model, through its
//! stream table entry, context descriptor, stage-1 tables and TLB.
//!
//! Run it with `cargo run --example smmu_dma -p softiommu-smmuv3`.

use std::error::Error;
use std::sync::Arc;

use softiommu_core::{
    DeviceCaps, DeviceDesc, DmaFaultKind, Iommu, Mem, PagingRequest, Rid, TableAlloc, Topology,
};
use softiommu_mem::{PageAlloc, RamArena};
use softiommu_pgtable::{Access, Prot};
use softiommu_smmuv3::driver::SmmuDriver;
use softiommu_smmuv3::event::EventId;
use softiommu_smmuv3::model::{Request, SmmuUnit};
use softiommu_smmuv3::regs::SmmuParams;

fn main() -> Result<(), Box<dyn Error>> {
    // 256 MiB of RAM; the driver's tables and queues come from [8 MiB, 64 MiB).
    let ram: Mem = Arc::new(RamArena::new(0, 256 << 20)?);
    let tables: TableAlloc = Arc::new(PageAlloc::new(ram.clone(), 8 << 20, 56 << 20)?);

    // The hardware: an SMMU with every feature, its interrupts dropped. The checking mode
    // compares every TLB hit with a fresh walk.
    let unit = Arc::new(SmmuUnit::new(
        SmmuParams::full(),
        ram.clone(),
        Arc::new(|_| {}),
    )?);
    unit.set_checking(true);

    // The OS side: the driver brings the SMMU up through its registers (stream table,
    // command and event queues, SMMUEN) and joins the core as one instance.
    let driver = Arc::new(SmmuDriver::new(unit.clone(), ram.clone(), tables.clone())?);
    let iommu = Iommu::new(ram.clone(), tables);
    let instance = iommu.add_instance(driver.clone());

    // One PCI device, 00:03.0: its StreamID is its requester ID.
    let rid = Rid::new(0, 0, 3, 0);
    let desc = DeviceDesc {
        rid,
        instance,
        caps: DeviceCaps::default(),
        bridge: None,
        alias: None,
    };
    let topology = Topology {
        bridges: vec![],
        devices: vec![desc],
    };
    let dev = iommu.add_devices(&topology)?[0];
    let sid = u32::from(rid.source_id());

    // A paging domain for it, attached at its RID, with 64 KiB of RAM mapped at IOVA 1 MiB.
    let domain = iommu.new_paging(dev, PagingRequest::default())?;
    iommu.attach(dev, &domain)?;
    let buf = 128 << 20;
    ram.write(buf + 0x1004, b"hello")?;
    domain.map_sync(0x10_0000, buf, 64 << 10, Prot::RW)?;

    // The device reads IOVA 0x101004: the request as it reaches the SMMU.
    let read = Request::new(sid, None, 0x10_1004, Access::READ);
    let t = unit.translate(read).map_err(|f| format!("{f:?}"))?;
    println!(
        "{:#x} -> {:#x} ({} bytes to the page end)",
        read.addr, t.pa, t.len
    );
    assert_eq!(t.pa, buf + 0x1004);
    let mut data = [0; 5];
    ram.read(t.pa, &mut data)?;
    assert_eq!(&data, b"hello");

    // The second read hits the TLB; the core's DMA call goes the same way, through the
    // driver.
    assert_eq!(unit.translate(read).map(|t| t.pa), Ok(buf + 0x1004));
    assert_eq!(
        iommu.dma(dev, None, 0x10_1004, Access::WRITE).map(|t| t.pa),
        Ok(buf + 0x1004)
    );

    // An address outside the mapping faults: the SMMU writes F_TRANSLATION to its event
    // queue, where the driver finds it.
    let outside = unit.translate(Request::new(sid, None, 0x20_0000, Access::READ));
    let fault = outside.expect_err("0x200000 is not mapped");
    assert_eq!(fault.id(), Some(EventId::Translation));
    let (events, _) = driver.events();
    println!(
        "event queue: {:?}",
        events.iter().map(|e| e.id.name()).collect::<Vec<_>>()
    );
    assert!(
        events
            .iter()
            .any(|e| e.id == EventId::Translation && e.addr == 0x20_0000)
    );

    // Unmapping invalidates the TLB: the device loses the buffer at once, and the checking
    // mode found no stale translation.
    domain.unmap_sync(0x10_0000, 64 << 10)?;
    let gone = iommu.dma(dev, None, 0x10_1004, Access::READ);
    assert_eq!(gone.map_err(|f| f.kind), Err(DmaFaultKind::NotPresent));
    assert_eq!(unit.stale_count(), 0);
    Ok(())
}

//! A VT-d unit brought up by its driver under the IOMMU core: a device gets a paging domain,
//! a buffer is mapped in it, and the device's DMA is translated by the unit model, through
//! its context and PASID entries, second-stage tables and IOTLB.
//!
//! Run it with `cargo run --example vtd_dma -p softiommu-vtd`.

use std::error::Error;
use std::sync::Arc;

use softiommu_core::{
    DeviceCaps, DeviceDesc, DmaFaultKind, Iommu, Mem, PagingRequest, Rid, TableAlloc, Topology,
};
use softiommu_mem::{PageAlloc, RamArena};
use softiommu_pgtable::{Access, Prot};
use softiommu_vtd::driver::VtdDriver;
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::model::{Request, VtdUnit};
use softiommu_vtd::regs::VtdParams;

fn main() -> Result<(), Box<dyn Error>> {
    // 256 MiB of RAM; the driver's tables and queues come from [8 MiB, 64 MiB).
    let ram: Mem = Arc::new(RamArena::new(0, 256 << 20)?);
    let tables: TableAlloc = Arc::new(PageAlloc::new(ram.clone(), 8 << 20, 56 << 20)?);

    // The hardware: a scalable-mode unit, its interrupts and device messages dropped. The
    // checking mode compares every IOTLB hit with a fresh walk.
    let unit = Arc::new(VtdUnit::new(
        VtdParams::default(),
        ram.clone(),
        Arc::new(|_, _, _| {}),
        Arc::new(|_| {}),
    )?);
    unit.set_checking(true);

    // The OS side: the driver brings the unit up through its registers (root table,
    // invalidation queue, translation enabled) and joins the core as one instance.
    let driver = Arc::new(VtdDriver::new(unit.clone(), ram.clone(), tables.clone())?);
    let iommu = Iommu::new(ram.clone(), tables);
    let instance = iommu.add_instance(driver);

    // One PCI device, 00:03.0, behind the unit.
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

    // A paging domain for it, attached at its RID, with 64 KiB of RAM mapped at IOVA 1 MiB.
    let domain = iommu.new_paging(dev, PagingRequest::default())?;
    iommu.attach(dev, &domain)?;
    let buf = 128 << 20;
    ram.write(buf + 0x1004, b"hello")?;
    domain.map_sync(0x10_0000, buf, 64 << 10, Prot::RW)?;

    // The device reads IOVA 0x101004: the request as it reaches the unit.
    let read = Request {
        sid: rid.source_id(),
        pasid: None,
        addr: 0x10_1004,
        access: Access::READ,
    };
    let t = unit.translate(read).map_err(|f| f.reason)?;
    println!(
        "{:#x} -> {:#x} ({} bytes to the page end)",
        read.addr, t.pa, t.len
    );
    assert_eq!(t.pa, buf + 0x1004);
    let mut data = [0; 5];
    ram.read(t.pa, &mut data)?;
    assert_eq!(&data, b"hello");

    // The second read hits the IOTLB; the core's DMA call goes the same way, through the
    // driver.
    assert_eq!(unit.translate(read).map(|t| t.pa), Ok(buf + 0x1004));
    assert_eq!(
        iommu.dma(dev, None, 0x10_1004, Access::WRITE).map(|t| t.pa),
        Ok(buf + 0x1004)
    );

    // An address outside the mapping faults; the unit records the fault.
    let outside = unit.translate(Request {
        addr: 0x20_0000,
        ..read
    });
    let fault = outside.expect_err("0x200000 is not mapped");
    println!("{:#x} -> fault: {}", fault.request.addr, fault.reason);
    assert_eq!(fault.reason, FaultReason::Sss2);

    // Unmapping invalidates the IOTLB: the device loses the buffer at once, and the checking
    // mode found no stale translation.
    domain.unmap_sync(0x10_0000, 64 << 10)?;
    let gone = iommu.dma(dev, None, 0x10_1004, Access::READ);
    assert_eq!(gone.map_err(|f| f.kind), Err(DmaFaultKind::NotPresent));
    assert_eq!(unit.stale_count(), 0);
    Ok(())
}

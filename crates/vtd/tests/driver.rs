//! The VT-d driver under the core, against the unit model.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::{
    CoreError, DeviceCaps, DeviceDesc, DeviceId, DmaFaultKind, InstanceId, Iommu, Mem,
    PagingRequest, Rid, TableAlloc, Topology,
};
use softiommu_devices::bus::{AtsRequest, DmaRequest, PageResponseCode, Upstream};
use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};
use softiommu_pgtable::{Access, Prot};
use softiommu_vtd::desc::ResponseCode;
use softiommu_vtd::driver::VtdDriver;
use softiommu_vtd::model::{DeviceMessage, VtdUnit};
use softiommu_vtd::regs::{Event, RTADDR_REG, VtdParams};
use softiommu_vtd::structs::{
    ContextEntry, PasidDirEntry, PasidEntry, ScalableRootEntry, pasid_dir_index,
    pasid_entry_address, root_entry_address,
};

mod common;
#[path = "driver/dirty.rs"]
mod dirty;
#[path = "driver/lifecycle.rs"]
mod lifecycle;
#[path = "driver/prq.rs"]
mod prq;
#[path = "driver/queue.rs"]
mod queue;
#[path = "driver/writes.rs"]
mod writes;

const MEM: u64 = 64 << 20;

/// A core with one VT-d unit under the driver, and three devices with 20-bit PASIDs, ATS and
/// PRI: 00:03.0, 00:03.1 and 80:1f.7.
struct Rig {
    iommu: Iommu,
    unit: Arc<VtdUnit<Mem>>,
    driver: Arc<VtdDriver<Mem>>,
    alloc: TableAlloc,
    /// What the unit sent to the three devices, attached on the bus.
    bus: Arc<common::BusLog>,
    /// The interrupts the unit raised.
    events: Arc<Mutex<Vec<Event>>>,
    inst: InstanceId,
    devs: Vec<DeviceId>,
}

fn rig(params: VtdParams) -> Rig {
    let mem: Mem = Arc::new(RamArena::new(0, MEM).unwrap());
    let alloc: TableAlloc =
        Arc::new(PageAlloc::new(mem.clone(), 8 << 20, MEM - (8 << 20)).unwrap());
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let e = events.clone();
    let unit = Arc::new(
        VtdUnit::new(
            params,
            mem.clone(),
            Arc::new(move |which, _, _| e.lock().push(which)),
            Arc::new(|_: DeviceMessage| {}),
        )
        .unwrap(),
    );
    unit.set_checking(true);
    let driver = Arc::new(VtdDriver::new(unit.clone(), mem.clone(), alloc.clone()).unwrap());
    let iommu = Iommu::new(mem, alloc.clone());
    let inst = iommu.add_instance(driver.clone());
    let devs = [
        Rid::new(0, 3, 0, 0),
        Rid::new(0, 3, 0, 1),
        Rid::new(0, 0x80, 0x1f, 7),
    ]
    .into_iter()
    .map(|rid| add_device(&iommu, inst, rid))
    .collect::<Vec<_>>();
    let bus: Arc<common::BusLog> = Arc::default();
    for &d in &devs {
        let rid = iommu.device_info(d).unwrap().rid.source_id();
        unit.attach(rid, bus.clone());
    }
    Rig {
        iommu,
        unit,
        driver,
        alloc,
        bus,
        events,
        inst,
        devs,
    }
}

/// Adds a device with 20-bit PASIDs, ATS and PRI at `rid`.
fn add_device(iommu: &Iommu, inst: InstanceId, rid: Rid) -> DeviceId {
    let caps = DeviceCaps {
        pasid_bits: 20,
        ats: true,
        pri: true,
    };
    let desc = DeviceDesc {
        rid,
        instance: inst,
        caps,
        bridge: None,
        alias: None,
    };
    iommu
        .add_devices(&Topology {
            bridges: vec![],
            devices: vec![desc],
        })
        .unwrap()[0]
}

impl Rig {
    /// The context entry of `rid` as the unit finds it: from RTADDR through the root table.
    fn context_entry(&self, rid: Rid) -> (u64, ContextEntry) {
        let mem = self.iommu.mem();
        let rta = self.unit.mmio_read(RTADDR_REG, 8) & !0xfff;
        let root = ScalableRootEntry::read(&**mem, root_entry_address(rta, rid.bus)).unwrap();
        let at = root.context_entry_address(rid.devfn).unwrap();
        (at, ContextEntry::read(&**mem, at).unwrap())
    }

    /// The PASID-table entry of `pasid` of `rid`, if its PASID table is present.
    fn pasid_entry(&self, rid: Rid, pasid: u32) -> Option<PasidEntry> {
        let mem = self.iommu.mem();
        let (_, ctx) = self.context_entry(rid);
        let de = ctx.pasid_dir() + 8 * u64::from(pasid_dir_index(pasid));
        let de = PasidDirEntry::from_bits(mem.load_u64(de).unwrap());
        de.p()
            .then(|| PasidEntry::read(&**mem, pasid_entry_address(&de, pasid)).unwrap())
    }

    /// The requester ID of device `i`.
    fn rid(&self, i: usize) -> Rid {
        self.iommu.device_info(self.devs[i]).unwrap().rid
    }

    /// The page responses the unit sent, as (SID, PASID, PRGI, code).
    fn responses(&self) -> Vec<(u16, Option<u32>, u16, ResponseCode)> {
        common::page_responses(&self.bus)
    }
}

#[test]
fn rid_paging_map_unmap_replace() {
    let r = rig(VtdParams::default());
    let dev = r.devs[0];
    let d = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    d.with_table(|t| assert!(matches!(t.format(), Some(AnyFormat::VtdSs(_)))))
        .unwrap();
    r.iommu.attach(dev, &d).unwrap();
    d.map_sync(0x1000_0000, 0x20_0000, 0x2000, Prot::RW)
        .unwrap();
    let t = r.iommu.dma(dev, None, 0x1000_1234, Access::WRITE).unwrap();
    assert_eq!(t.pa, 0x20_1234);
    // A hit from the IOTLB, then unmap: the flush must reach the IOTLB.
    assert_eq!(
        r.iommu
            .dma(dev, None, 0x1000_1234, Access::READ)
            .unwrap()
            .pa,
        0x20_1234
    );
    d.unmap_sync(0x1000_0000, 0x2000).unwrap();
    let f = r
        .iommu
        .dma(dev, None, 0x1000_1234, Access::READ)
        .unwrap_err();
    assert_eq!(f.kind, DmaFaultKind::NotPresent);
    assert_eq!(r.unit.stale_count(), 0);
    // Another device is blocked.
    let f = r
        .iommu
        .dma(r.devs[2], None, 0x1000, Access::READ)
        .unwrap_err();
    assert_eq!(f.kind, DmaFaultKind::Blocked);

    // Replace with another domain.
    d.map_sync(0x1000_0000, 0x20_0000, 0x1000, Prot::RW)
        .unwrap();
    r.iommu.dma(dev, None, 0x1000_0000, Access::READ).unwrap();
    let d2 = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    d2.map_sync(0x1000_0000, 0x40_0000, 0x1000, Prot::READ)
        .unwrap();
    let did1 = r.driver.domain_id_of(d.id()).unwrap();
    r.iommu.replace(dev, &d2).unwrap();
    assert_eq!(
        r.driver.domain_id_of(d.id()),
        None,
        "DID freed with the last user"
    );
    let did2 = r.driver.domain_id_of(d2.id()).unwrap();
    assert!(did2 > 1 && did1 > 1);
    assert_eq!(
        r.iommu
            .dma(dev, None, 0x1000_0000, Access::READ)
            .unwrap()
            .pa,
        0x40_0000
    );
    let f = r
        .iommu
        .dma(dev, None, 0x1000_0000, Access::WRITE)
        .unwrap_err();
    assert_eq!(f.kind, DmaFaultKind::Permission);
    // A large unmap of many pages, in many PSI chunks or a DSI.
    d2.map_sync(0x2000_0000, 0x80_0000, 0x20_0000, Prot::RW)
        .unwrap();
    for off in (0..0x20_0000).step_by(0x1000) {
        r.iommu
            .dma(dev, None, 0x2000_0000 + off, Access::READ)
            .unwrap();
    }
    d2.unmap_sync(0x2000_1000, 0x1f_e000).unwrap();
    r.iommu.dma(dev, None, 0x2000_0000, Access::READ).unwrap();
    assert!(r.iommu.dma(dev, None, 0x2010_0000, Access::READ).is_err());
    assert_eq!(r.unit.stale_count(), 0);
    // Device-TLB invalidations went to the device.
    let rid = r.rid(0).source_id();
    assert!(r.bus.invalidations.lock().iter().any(|i| i.rid == rid));
}

#[test]
fn pasid_first_stage_identity_and_detach_rid() {
    let r = rig(VtdParams::default());
    let dev = r.devs[2];
    let fs = r
        .iommu
        .new_paging(
            dev,
            PagingRequest {
                pasid: true,
                ..Default::default()
            },
        )
        .unwrap();
    fs.with_table(|t| assert!(matches!(t.format(), Some(AnyFormat::X86(_)))))
        .unwrap();
    let ss = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    ss.map_sync(0x5000, 0x30_0000, 0x1000, Prot::RW).unwrap();
    r.iommu.attach(dev, &ss).unwrap();
    r.iommu.attach_pasid(dev, 7, &fs).unwrap();
    fs.map_sync(0x7000, 0x31_0000, 0x1000, Prot::RW).unwrap();
    assert_eq!(
        r.iommu.dma(dev, Some(7), 0x7008, Access::READ).unwrap().pa,
        0x31_0008
    );
    assert_eq!(
        r.iommu.dma(dev, None, 0x5008, Access::READ).unwrap().pa,
        0x30_0008
    );
    // FS unmap: p_iotlb page-selective at PASID 7.
    fs.unmap_sync(0x7000, 0x1000).unwrap();
    let f = r.iommu.dma(dev, Some(7), 0x7008, Access::READ).unwrap_err();
    assert_eq!(f.kind, DmaFaultKind::NotPresent);
    assert!(
        !f.recoverable,
        "a paging domain has no I/O page fault handler, though the device has PRI"
    );
    fs.map_sync(0x7000, 0x31_0000, 0x1000, Prot::RW).unwrap();
    // S7 (docs/design.md): detaching the RID leaves the PASID working.
    r.iommu.detach(dev).unwrap();
    assert_eq!(
        r.iommu
            .dma(dev, None, 0x5008, Access::READ)
            .unwrap_err()
            .kind,
        DmaFaultKind::Blocked
    );
    assert_eq!(
        r.iommu.dma(dev, Some(7), 0x7008, Access::READ).unwrap().pa,
        0x31_0008
    );
    // Identity at the RID.
    r.iommu.attach(dev, &r.iommu.identity_domain()).unwrap();
    assert_eq!(
        r.iommu
            .dma(dev, None, 0x1234_5678, Access::WRITE)
            .unwrap()
            .pa,
        0x1234_5678
    );
    // The same FS domain at a PASID of a second device, then detach both.
    r.iommu.attach_pasid(r.devs[0], 9, &fs).unwrap();
    assert_eq!(
        r.iommu
            .dma(r.devs[0], Some(9), 0x7000, Access::READ)
            .unwrap()
            .pa,
        0x31_0000
    );
    r.iommu.detach_pasid(dev, 7).unwrap();
    assert!(r.driver.domain_id_of(fs.id()).is_some());
    r.iommu.detach_pasid(r.devs[0], 9).unwrap();
    assert_eq!(r.driver.domain_id_of(fs.id()), None);
    assert_eq!(
        r.iommu
            .dma(dev, Some(7), 0x7008, Access::READ)
            .unwrap_err()
            .kind,
        DmaFaultKind::Blocked
    );
    assert_eq!(r.unit.stale_count(), 0);
}

#[test]
fn sva_page_request_resolves_through_the_core() {
    let r = rig(VtdParams::default());
    let dev = r.devs[0];
    let fmt: AnyFormat = X86::new(X86Config::default()).unwrap().into();
    let mm = r.iommu.new_mm(fmt).unwrap();
    mm.mmap(0x40_0000, 0x4000, Prot::RW).unwrap();
    let pasid = r.iommu.sva_bind(dev, &mm).unwrap();
    let f = r
        .iommu
        .dma(dev, Some(pasid), 0x40_1000, Access::WRITE)
        .unwrap_err();
    assert!(f.recoverable);
    let t = r
        .iommu
        .dma_with_page_request(dev, Some(pasid), 0x40_1010, Access::WRITE)
        .unwrap();
    assert_eq!(Some(t.pa - 0x10), mm.lookup(0x40_1000));
    assert!(
        r.bus
            .responses
            .lock()
            .iter()
            .any(|m| m.pasid == Some(pasid) && m.code == PageResponseCode::Success)
    );
    r.iommu.sva_unbind(dev, &mm).unwrap();
    assert_eq!(
        r.iommu
            .dma(dev, Some(pasid), 0x40_1010, Access::READ)
            .unwrap_err()
            .kind,
        DmaFaultKind::Blocked
    );
}

#[test]
fn incompatible_domains_are_refused() {
    // A unit with only 3-level second stage cannot walk a 4-level domain of another unit.
    let big = rig(VtdParams::default());
    let small = rig(VtdParams {
        ss_4level: false,
        mgaw: 39,
        ..VtdParams::default()
    });
    let d = big
        .iommu
        .new_paging(big.devs[0], PagingRequest::default())
        .unwrap();
    use softiommu_core::IommuDriver;
    assert!(small.driver.check_domain(&d).is_err());
    assert!(big.driver.check_domain(&d).is_ok());
    // Through the core: a 4-level SS format on the small unit's core.
    let f: AnyFormat = VtdSs::new(VtdSsConfig::default()).unwrap().into();
    let nested_parent = small
        .iommu
        .new_paging(
            small.devs[0],
            PagingRequest {
                nest_parent: true,
                ..Default::default()
            },
        )
        .unwrap();
    let nd = small
        .iommu
        .new_nested(
            &nested_parent,
            softiommu_core::NestedData::PasidTable {
                format: f,
                root: 0,
                entries: 1,
                ats: 0,
            },
        )
        .unwrap();
    match small.iommu.attach(small.devs[0], &nd) {
        Err(CoreError::Incompatible { .. }) => {}
        other => panic!("expected Incompatible, got {other:?}"),
    }
    let _ = small.unit.stale_count();
}

#[test]
fn nested_stage1_over_parent() {
    let r = rig(VtdParams::default());
    let dev = r.devs[0];
    let parent = r
        .iommu
        .new_paging(
            dev,
            PagingRequest {
                nest_parent: true,
                ..Default::default()
            },
        )
        .unwrap();
    // The guest's stage-1 table lives in guest memory [0, 1 MiB) = host [16 MiB, 17 MiB).
    parent.map_sync(0, 0x100_0000, 0x10_0000, Prot::RW).unwrap();
    let mem = r.iommu.mem().clone();
    // Stage 1: 4-level x86 at guest 0x1000..; maps guest VA 0x40_0000 -> guest PA 0x8000.
    let w = |gpa: u64, v: u64| mem.store_u64(0x100_0000 + gpa, v).unwrap();
    w(0x1000, 0x2000 | 7);
    w(0x2000, 0x3000 | 7);
    let fmt: AnyFormat = X86::new(X86Config::default()).unwrap().into();
    // 0x40_0000: PML4 index 0, PDPT index 0, PD index 2, PT index 0.
    w(0x3000 + 8 * 2, 0x4000 | 7);
    w(0x4000, 0x8000 | 7 | 0x60);
    let nd = r
        .iommu
        .new_nested(
            &parent,
            softiommu_core::NestedData::Stage1 {
                format: fmt,
                root: 0x1000,
            },
        )
        .unwrap();
    r.iommu.attach(dev, &nd).unwrap();
    let t = r.iommu.dma(dev, None, 0x40_0010, Access::READ).unwrap();
    assert_eq!(t.pa, 0x100_8010);
}

#[test]
fn a_device_atc_fills_through_ats_and_an_unmap_invalidates_it_before_returning() {
    let r = rig(VtdParams::default());
    let dev = r.devs[0];
    let rid = r.rid(0).source_id();
    let d = r.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    r.iommu.attach(dev, &d).unwrap();
    d.map_sync(0x1000_0000, 0x20_0000, 0x2000, Prot::RW)
        .unwrap();
    let ask = |addr| {
        r.unit.ats_translate(&AtsRequest {
            rid,
            pasid: None,
            addr,
            no_write: false,
        })
    };
    let t = ask(0x1000_1234).unwrap();
    assert_eq!(t.translate(0x1000_1234), Some(0x20_1234));
    assert!(t.rights.read && t.rights.write);
    // The translated request the device then sends reaches memory at the address it holds.
    let req = DmaRequest::write(rid, 0x20_1234, 4).translated();
    r.unit.dma_write(&req, &[1, 2, 3, 4]).unwrap();
    let mut back = [0u8; 4];
    r.iommu.mem().read(0x20_1234, &mut back).unwrap();
    assert_eq!(back, [1, 2, 3, 4]);
    // The unmap returns only after the device's ATC was told; then the page is gone.
    let before = r.bus.invalidations.lock().len();
    d.unmap_sync(0x1000_0000, 0x2000).unwrap();
    let invs = r.bus.invalidations.lock()[before..].to_vec();
    assert!(
        invs.iter()
            .any(|i| i.rid == rid && i.pasid.is_none() && i.overlaps(0x1000_1000, 0x1000)),
        "{invs:x?}"
    );
    assert!(!ask(0x1000_1234).unwrap().is_available());
    assert_eq!(r.unit.stale_count(), 0);
}

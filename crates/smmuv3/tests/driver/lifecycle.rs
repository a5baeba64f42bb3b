//! Release, ASID and VMID exhaustion, and command errors.

use softiommu_core::testing::DEV;
use softiommu_core::{CoreError, DmaFaultKind, PagingRequest};
use softiommu_pgtable::Prot;
use softiommu_smmuv3::cmd::{Cerror, Command, TlbiEl3All, TlbiNhAll};
use softiommu_smmuv3::regs::SmmuParams;

use crate::common::SmmuHarness;

const IOVA: u64 = 0x10_0000;

/// A full SMMU with 8-bit ASIDs and VMIDs.
fn narrow_ids() -> SmmuParams {
    let mut p = SmmuParams::full();
    p.asid16 = false;
    p.vmid16 = false;
    p
}

#[test]
fn release_aborts_the_stream_and_gives_back_its_ids() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let [a, b] = p.devices([(0, DEV), (0, DEV)]);
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    let buf = p.alloc(0x10000);
    d.map_sync(IOVA, buf, 0x10000, Prot::RW).unwrap();
    p.iommu.attach(a, &d).unwrap();
    p.iommu.attach_pasid(a, 5, &d).unwrap();
    p.iommu.attach(b, &d).unwrap();
    assert_eq!(p.pa(a, Some(5), IOVA), buf);
    p.iommu.remove_device(a).unwrap();
    // The domain keeps its ASID for b; a's stream aborts.
    assert!(units[0].driver.asid_of(d.id()).is_some());
    assert_eq!(p.pa(b, None, IOVA), buf);
    p.iommu.remove_device(b).unwrap();
    assert_eq!(units[0].driver.asid_of(d.id()), None);
    assert_eq!(units[0].driver.command_errors(), vec![]);
}

#[test]
fn asids_run_out_with_a_typed_error_and_come_back() {
    let (p, units) = SmmuHarness::build(&[narrow_ids()]);
    let [a] = p.devices([(0, DEV)]);
    // ASID 0 is reserved: 255 domains at 255 PASIDs.
    let mut domains = Vec::new();
    for pasid in 1..=255 {
        let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
        p.iommu.attach_pasid(a, pasid, &d).unwrap();
        domains.push(d);
    }
    let extra = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    assert!(matches!(
        p.iommu.attach_pasid(a, 256, &extra),
        Err(CoreError::Exhausted(_))
    ));
    assert!(p.iommu.pasid_domain(a, 256).unwrap().is_none());
    // A domain already attached shares its ASID.
    p.iommu.attach(a, &domains[0]).unwrap();
    p.iommu.detach_pasid(a, 7).unwrap();
    p.iommu.attach_pasid(a, 256, &extra).unwrap();
    assert!(units[0].driver.asid_of(extra.id()).is_some());
}

#[test]
fn vmids_run_out_with_a_typed_error() {
    let (p, units) = SmmuHarness::build(&[narrow_ids()]);
    let devs: Vec<_> = (0..256).map(|_| p.desc(0, DEV)).collect();
    let ids = p
        .add_topology(&softiommu_core::Topology {
            bridges: Vec::new(),
            devices: devs,
        })
        .unwrap();
    let parent = PagingRequest {
        nest_parent: true,
        ..PagingRequest::default()
    };
    for &dev in &ids[..255] {
        let d = p.iommu.new_paging(dev, parent).unwrap();
        p.iommu.attach(dev, &d).unwrap();
    }
    let d = p.iommu.new_paging(ids[255], parent).unwrap();
    assert!(matches!(
        p.iommu.attach(ids[255], &d),
        Err(CoreError::Exhausted(_))
    ));
    assert_eq!(units[0].driver.vmid_of(d.id()), None);
    assert_eq!(p.fault_kind(ids[255], None, IOVA), DmaFaultKind::Blocked);
}

#[test]
fn a_refused_command_is_skipped_and_the_queue_goes_on() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let [a] = p.devices([(0, DEV)]);
    let drv = &units[0].driver;
    units[0]
        .refusals_expected
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // CMD_TLBI_EL3_ALL is for the Secure queue only: CERROR_ILL.
    let r = drv.submit(&[
        Command::TlbiNhAll(TlbiNhAll::new()),
        Command::TlbiEl3All(TlbiEl3All::new()),
        Command::TlbiNhAll(TlbiNhAll::new()),
    ]);
    assert!(matches!(r, Err(CoreError::Driver(_))), "{r:?}");
    let errs = drv.command_errors();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].cerror, Some(Cerror::Ill));
    assert_eq!(errs[0].words, TlbiEl3All::new().to_words());
    // The queue works on: an attach, a map and an unmap with their commands.
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    let buf = p.alloc(0x10000);
    d.map_sync(IOVA, buf, 0x10000, Prot::RW).unwrap();
    p.iommu.attach(a, &d).unwrap();
    assert_eq!(p.pa(a, None, IOVA + 4), buf + 4);
    d.unmap_sync(IOVA, 0x10000).unwrap();
    assert_eq!(p.fault_kind(a, None, IOVA + 4), DmaFaultKind::NotPresent);
    assert_eq!(drv.command_errors().len(), 1);
    assert!(drv.submit(&[Command::TlbiNhAll(TlbiNhAll::new())]).is_ok());
}

#[test]
fn with_tlbi_on_map_a_map_is_followed_by_its_tlb_invalidation() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let [a] = p.devices([(0, DEV)]);
    let u = &units[0];
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    p.iommu.attach(a, &d).unwrap();
    let buf = p.alloc(0x10000);
    u.unit.set_stats(true);
    let batches = || u.unit.stats().tlbi_batches;
    let before = batches();
    // By default a map sends nothing: the SMMU caches no not-present entries.
    assert!(!u.driver.tlbi_on_map());
    d.map_sync(IOVA, buf, 0x1000, Prot::RW).unwrap();
    assert_eq!(batches(), before);
    // Asked to, the driver invalidates the mapped range after the map, as after an unmap.
    u.driver.set_tlbi_on_map(true);
    d.map_sync(IOVA + 0x1000, buf + 0x1000, 0x1000, Prot::RW)
        .unwrap();
    assert_eq!(batches(), before + 1);
    assert_eq!(p.pa(a, None, IOVA + 0x1234), buf + 0x1234);
}

//! S3 of `docs/design.md` on SMMUv3: one domain on two SMMUs of different capabilities,
//! refused by one that cannot walk it, and one unmap invalidated on both.

use softiommu_core::testing::{DEV, Platform};
use softiommu_core::{CoreError, DeviceCaps, DeviceId, DmaFaultKind, PagingRequest, Topology};
use softiommu_pgtable::{Access, Prot};
use softiommu_smmuv3::regs::SmmuParams;

use crate::common::SmmuHarness;

const IOVA: u64 = 0x10_0000;

/// Adds one device behind each instance index of `list`.
pub fn devices<const N: usize>(p: &Platform, list: [usize; N]) -> [DeviceId; N] {
    p.devices(list.map(|i| (i, DEV)))
}

/// A full SMMU (4K, 16K, 64K granules, 48-bit OAS) and a small one (4 KiB granule only,
/// 40-bit OAS, stage 1 only, no PASIDs).
fn full_and_small() -> [SmmuParams; 2] {
    let mut small = SmmuParams::minimal();
    small.sid_bits = 16;
    small.two_level_stream_table = true;
    [SmmuParams::full(), small]
}

#[test]
fn one_domain_on_two_smmus_and_one_unmap_reaches_both_tlbs() {
    let (p, units) = SmmuHarness::build(&full_and_small());
    let [a, s] = devices(&p, [0, 1]);
    // A domain of the small SMMU (4 KiB granule, 40-bit output) fits the full one.
    let d = p.iommu.new_paging(s, PagingRequest::default()).unwrap();
    let buf = p.alloc(0x4000);
    d.map_sync(IOVA, buf, 0x4000, Prot::RW).unwrap();
    p.iommu.attach(a, &d).unwrap();
    p.iommu.attach(s, &d).unwrap();
    let hits = |i: usize| units[i].unit.stats().tlb_hits;
    for (i, dev) in [a, s].into_iter().enumerate() {
        assert_eq!(p.pa(dev, None, IOVA + 0x1008), buf + 0x1008);
        // Twice: the second is a TLB hit.
        let before = hits(i);
        assert_eq!(p.pa(dev, None, IOVA + 0x1008), buf + 0x1008);
        assert_eq!(hits(i), before + 1);
    }
    // Each SMMU has its own ASID for it.
    assert!(units[0].driver.asid_of(d.id()).is_some());
    assert!(units[1].driver.asid_of(d.id()).is_some());
    let before = units
        .iter()
        .map(|u| u.unit.stats().tlbi_batches)
        .collect::<Vec<_>>();
    d.unmap_sync(IOVA + 0x1000, 0x1000).unwrap();
    let after = units
        .iter()
        .map(|u| u.unit.stats().tlbi_batches)
        .collect::<Vec<_>>();
    assert_eq!(units[0].driver.command_errors(), vec![]);
    assert_eq!((after[0] - before[0], after[1] - before[1]), (1, 1));
    for dev in [a, s] {
        assert_eq!(
            p.fault_kind(dev, None, IOVA + 0x1008),
            DmaFaultKind::NotPresent
        );
        assert_eq!(p.pa(dev, None, IOVA + 8), buf + 8);
    }
    // No TLB hit contradicted the tables.
    for u in &units {
        assert_eq!(u.unit.stale_count(), 0, "{:?}", u.unit.stale_reports());
    }
}

#[test]
fn a_domain_the_small_smmu_cannot_walk_is_refused_with_a_typed_error() {
    let (p, _units) = SmmuHarness::build(&full_and_small());
    let [a, s] = devices(&p, [0, 1]);
    // The full SMMU's domains have a 48-bit output: beyond the small one's OAS.
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    let r = p.iommu.attach(s, &d);
    assert!(
        matches!(r, Err(CoreError::Incompatible { why, .. }) if why.contains("OAS")),
        "{r:?}"
    );
    assert!(d.attachments().is_empty());
    assert_eq!(p.fault_kind(s, None, IOVA), DmaFaultKind::Blocked);
    // A nesting parent cannot be made on a stage-1-only SMMU.
    let parent = PagingRequest {
        nest_parent: true,
        ..PagingRequest::default()
    };
    assert!(matches!(
        p.iommu.new_paging(s, parent),
        Err(CoreError::NotSupported(_))
    ));
    // A stage-2 domain of the full SMMU is refused by the stage-1-only one.
    let s2 = p.iommu.new_paging(a, parent).unwrap();
    assert!(matches!(
        p.iommu.attach(s, &s2),
        Err(CoreError::Incompatible { .. })
    ));
}

#[test]
fn a_granule_the_smmu_does_not_walk_is_refused() {
    let mut no4k = SmmuParams::full();
    no4k.gran4k = false;
    let (p, _units) = SmmuHarness::build(&[SmmuParams::full(), no4k]);
    let [a, b] = devices(&p, [0, 1]);
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    let r = p.iommu.attach(b, &d);
    assert!(
        matches!(r, Err(CoreError::Incompatible { why, .. }) if why.contains("granule")),
        "{r:?}"
    );
    // Its own domains use the smallest granule it has, which the full SMMU walks too.
    let (d16, buf) = {
        let d = p.iommu.new_paging(b, PagingRequest::default()).unwrap();
        let buf = p.alloc(0x10000);
        d.map_sync(IOVA, buf, 0x10000, Prot::RW).unwrap();
        (d, buf)
    };
    p.iommu.attach(a, &d16).unwrap();
    p.iommu.attach(b, &d16).unwrap();
    assert_eq!(p.pa(a, None, IOVA + 0x4321), buf + 0x4321);
    assert_eq!(p.pa(b, None, IOVA + 0x4321), buf + 0x4321);
    let t = p.dma(b, None, IOVA, Access::WRITE).unwrap();
    assert_eq!(t.pa, buf);
}

#[test]
fn a_device_without_pasids_behind_a_full_smmu_takes_no_pasid() {
    let (p, _units) = SmmuHarness::build(&[SmmuParams::full()]);
    let caps = DeviceCaps {
        pasid_bits: 0,
        ..DEV
    };
    let topo = Topology {
        bridges: Vec::new(),
        devices: vec![p.desc(0, caps)],
    };
    let [dev] = <[DeviceId; 1]>::try_from(p.add_topology(&topo).unwrap()).unwrap();
    let d = p.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    assert!(p.iommu.attach_pasid(dev, 1, &d).is_err());
}

#[test]
fn a_minimal_smmu_linear_stream_table_one_cd_and_syncs_without_msis() {
    // Stage 1 only, 6-bit StreamIDs in a linear table, no SubstreamIDs, no MSIs: CMD_SYNC
    // completion is seen by CONS passing it.
    let (p, units) = SmmuHarness::build(&[SmmuParams::minimal()]);
    let mut desc = p.desc(0, DEV);
    desc.rid = softiommu_core::Rid::new(0, 0, 5, 2);
    let topo = Topology {
        bridges: Vec::new(),
        devices: vec![desc],
    };
    let [dev] = <[DeviceId; 1]>::try_from(p.add_topology(&topo).unwrap()).unwrap();
    assert_eq!(p.iommu.device_caps(dev).unwrap().pasid_bits, 0);
    let d = p.iommu.new_paging(dev, PagingRequest::default()).unwrap();
    let buf = p.alloc(0x10000);
    d.map_sync(IOVA, buf, 0x10000, Prot::RW).unwrap();
    p.iommu.attach(dev, &d).unwrap();
    assert_eq!(p.pa(dev, None, IOVA + 0x2345), buf + 0x2345);
    d.unmap_sync(IOVA, 0x10000).unwrap();
    assert_eq!(p.fault_kind(dev, None, IOVA), DmaFaultKind::NotPresent);
    assert_eq!(units[0].unit.stale_count(), 0);
    // Identity, then blocked.
    p.iommu.replace(dev, &p.iommu.identity_domain()).unwrap();
    assert_eq!(p.pa(dev, None, buf + 8), buf + 8);
    p.iommu.replace(dev, &p.iommu.blocked_domain()).unwrap();
    assert_eq!(p.fault_kind(dev, None, buf + 8), DmaFaultKind::Blocked);
    // A StreamID beyond the table is refused when the device is added.
    let mut far = p.desc(0, DEV);
    far.rid = softiommu_core::Rid::new(0, 1, 0, 0);
    let topo = Topology {
        bridges: Vec::new(),
        devices: vec![far],
    };
    assert!(p.add_topology(&topo).is_err());
}

#[test]
fn a_map_sends_no_command_and_an_unmap_sends_its_invalidation_and_a_sync() {
    // SMMUv3 caches no not-present entries: what a map makes present needs no invalidation.
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let u = &units[0];
    let [a] = devices(&p, [0]);
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    p.iommu.attach(a, &d).unwrap();
    let asid = u.driver.asid_of(d.id()).expect("an ASID");
    let buf = p.alloc(0x4000);
    // A fault on the page first: a walk that found nothing, which the SMMU does not cache.
    assert_eq!(p.fault_kind(a, None, IOVA), DmaFaultKind::NotPresent);
    let before = u.unit.stats();
    d.map_sync(IOVA, buf, 0x4000, Prot::RW).unwrap();
    let after = u.unit.stats();
    assert_eq!(
        after.commands.total(),
        before.commands.total(),
        "a map queued commands"
    );
    assert_eq!(after.syncs, before.syncs);
    assert_eq!(p.pa(a, None, IOVA + 0x1008), buf + 0x1008);

    // An unmap: one CMD_TLBI_NH_VA (a range command with IDR3.RIL) and the CMD_SYNC that
    // completes it, then the device's CMD_ATC_INV (it has ATS) and its CMD_SYNC, as Linux
    // orders them.
    let before = u.unit.stats();
    d.unmap_sync(IOVA + 0x1000, 0x1000).unwrap();
    let after = u.unit.stats();
    let delta = |op: u8| after.commands.get(op) - before.commands.get(op);
    assert_eq!(delta(0x12), 1, "CMD_TLBI_NH_VA");
    assert_eq!(delta(0x40), 1, "CMD_ATC_INV");
    assert_eq!(delta(0x46), 2, "CMD_SYNC");
    assert_eq!(after.commands.total() - before.commands.total(), 4);
    assert_eq!(after.tlbi_batches - before.tlbi_batches, 1);
    assert_ne!(asid, 0);
    assert_eq!(
        p.fault_kind(a, None, IOVA + 0x1000),
        DmaFaultKind::NotPresent
    );
    assert_eq!(p.pa(a, None, IOVA), buf);
}

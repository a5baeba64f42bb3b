//! Nested translation with a guest-owned CD table over a host stage 2: translation through
//! both, a fault at each stage reported with its event, and ATS as the user's STE asks.

use std::sync::Arc;

use softiommu_core::testing::{DEV, Platform};
use softiommu_core::{CoreError, DeviceCaps, DmaFaultKind, Domain, NestedData, PagingRequest};
use softiommu_devices::bus::{AtsFailure, AtsRequest, AtsTranslation, PasidPrefix, Upstream};
use softiommu_mem::PageAlloc;
use softiommu_pgtable::{PageTable, Prot};
use softiommu_smmuv3::event::{EventClass, EventId};
use softiommu_smmuv3::regs::SmmuParams;
use softiommu_smmuv3::ste::{Eats, SteConfig};

use crate::common::{SmmuHarness, Unit, guest_cd};
use crate::tables::ste_of;

const IOVA: u64 = 0x40_0000;
/// Guest-physical address of the guest's data page.
const DATA_GPA: u64 = 0x8000_0000;
/// A guest-physical address the host's stage 2 does not map.
const HOLE_GPA: u64 = 0x9000_0000;
const GUEST_TABLES: u64 = 1 << 20;

struct Guest {
    parent: Arc<Domain>,
    tables: Arc<PageAlloc<softiommu_core::Mem>>,
    data_hpa: u64,
}

/// A nesting parent for `dev`'s SMMU mapping the guest's table pages 1:1 and its data page.
fn guest(p: &Platform, dev: softiommu_core::DeviceId) -> Guest {
    let req = PagingRequest {
        nest_parent: true,
        ..PagingRequest::default()
    };
    let parent = p.iommu.new_paging(dev, req).unwrap();
    let base = p.alloc(GUEST_TABLES);
    parent.map_sync(base, base, GUEST_TABLES, Prot::RW).unwrap();
    let data_hpa = p.alloc(0x10000);
    parent
        .map_sync(DATA_GPA, data_hpa, 0x10000, Prot::RW)
        .unwrap();
    Guest {
        parent,
        tables: Arc::new(PageAlloc::new(p.mem().clone(), base, GUEST_TABLES).unwrap()),
        data_hpa,
    }
}

/// The last event `unit` recorded.
fn last_event(u: &Unit) -> softiommu_smmuv3::event::Event {
    *u.driver.events().0.last().expect("an event")
}

#[test]
fn guest_cd_table_over_host_stage2_with_a_fault_at_each_stage() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let [a, b, c] = p.devices([(0, DEV), (0, DEV), (0, DEV)]);
    let g = guest(&p, a);
    // The guest's stage 1: IOVA to its data page, IOVA + 64 KiB to a hole of stage 2.
    let mut s1 = PageTable::new(p.stage1.clone(), g.tables.clone()).unwrap();
    s1.map(IOVA, DATA_GPA, 0x10000, Prot::RW).unwrap();
    s1.map(IOVA + 0x10000, HOLE_GPA, 0x10000, Prot::RW).unwrap();
    let table = g.tables.alloc(4096).unwrap();
    guest_cd(p.mem(), table, 0, s1.root(), true);
    guest_cd(p.mem(), table, 1, s1.root(), true);
    let nested = |root: u64| {
        p.iommu
            .new_nested(
                &g.parent,
                NestedData::PasidTable {
                    format: p.stage1.clone(),
                    root,
                    entries: 2,
                    ats: 0,
                },
            )
            .unwrap()
    };
    let n = nested(table);
    p.iommu.attach(a, &n).unwrap();
    let vmid = units[0].driver.vmid_of(n.id()).expect("a VMID");
    assert_ne!(vmid, 0);
    assert_eq!(p.pa(a, None, IOVA + 0x123), g.data_hpa + 0x123);
    assert_eq!(p.pa(a, Some(1), IOVA + 0x123), g.data_hpa + 0x123);

    // Stage 1: the guest's table maps nothing there.
    assert_eq!(
        p.fault_kind(a, Some(1), IOVA + 0x20000),
        DmaFaultKind::NotPresent
    );
    let e = last_event(&units[0]);
    assert_eq!((e.id, e.s2, e.ssid), (EventId::Translation, false, Some(1)));
    assert_eq!(e.addr, IOVA + 0x20000);

    // Stage 2, translating the stage-1 output.
    assert_eq!(
        p.fault_kind(a, None, IOVA + 0x10000),
        DmaFaultKind::NotPresent
    );
    let e = last_event(&units[0]);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::Translation, true, EventClass::In)
    );
    assert_eq!(e.ipa, HOLE_GPA);

    // Stage 2, fetching the guest's CD: its table is where stage 2 maps nothing.
    let bad_cd = nested(HOLE_GPA);
    p.iommu.attach(b, &bad_cd).unwrap();
    let f = p.fault(b, None, IOVA);
    assert!(!f.recoverable);
    let e = last_event(&units[0]);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::Translation, true, EventClass::Cd)
    );

    // Stage 2, fetching the guest's stage-1 table.
    let table_c = g.tables.alloc(4096).unwrap();
    guest_cd(p.mem(), table_c, 0, HOLE_GPA, true);
    let bad_tt = nested(table_c);
    p.iommu.attach(c, &bad_tt).unwrap();
    p.fault(c, None, IOVA);
    let e = last_event(&units[0]);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::Translation, true, EventClass::Tt)
    );

    // An invalid guest CD is the guest's configuration: C_BAD_CD.
    guest_cd(p.mem(), table, 1, s1.root(), false);
    n.invalidate_stage1().unwrap();
    assert_eq!(p.fault_kind(a, Some(1), IOVA), DmaFaultKind::BadConfig);
    assert_eq!(last_event(&units[0]).id, EventId::BadCd);
    // Still translating without a PASID, and no stale hit anywhere.
    assert_eq!(p.pa(a, None, IOVA), g.data_hpa);
    assert_eq!(units[0].unit.stale_count(), 0);

    // The parent's unmap reaches the nested translation.
    g.parent.unmap_sync(DATA_GPA, 0x10000).unwrap();
    assert_eq!(p.fault_kind(a, None, IOVA), DmaFaultKind::NotPresent);
    assert!(last_event(&units[0]).s2);
    assert_eq!(units[0].unit.stale_count(), 0);

    // Detached, the VMID is given back.
    p.iommu.detach(a).unwrap();
    assert_eq!(units[0].driver.vmid_of(n.id()), None);
    assert_eq!(p.fault_kind(a, None, IOVA), DmaFaultKind::Blocked);
}

#[test]
fn a_stage2_domain_at_the_rid_is_invalidated_by_ipa() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let [a] = p.devices([(0, DEV)]);
    let g = guest(&p, a);
    p.iommu.attach(a, &g.parent).unwrap();
    assert!(units[0].driver.vmid_of(g.parent.id()).is_some());
    assert_eq!(p.pa(a, None, DATA_GPA + 0x40), g.data_hpa + 0x40);
    let before = units[0].unit.stats();
    g.parent.unmap_sync(DATA_GPA, 0x10000).unwrap();
    let after = units[0].unit.stats();
    // One batch of CMD_TLBI_S2_IPA (opcode 0x2a) commands.
    assert_eq!(after.tlbi_batches - before.tlbi_batches, 1);
    assert!(after.commands.get(0x2a) > before.commands.get(0x2a));
    assert_eq!(
        p.fault_kind(a, None, DATA_GPA + 0x40),
        DmaFaultKind::NotPresent
    );
    let e = last_event(&units[0]);
    assert_eq!((e.id, e.s2), (EventId::Translation, true));
    assert_eq!(units[0].unit.stale_count(), 0);
    // PASIDs need the CD table in the STE: refused while a stage-2 domain is at the RID.
    let d = p.iommu.new_paging(a, PagingRequest::default()).unwrap();
    assert!(p.iommu.attach_pasid(a, 3, &d).is_err());
}

/// An ATS Translation Request of `sid` (at `pasid`) for `iova`.
/// The function at `sid` asks its SMMU, over the bus, to translate the page of `iova`.
fn ats(u: &Unit, sid: u32, pasid: Option<u32>, iova: u64) -> Result<AtsTranslation, AtsFailure> {
    u.unit.ats_translate(&AtsRequest {
        rid: sid as u16,
        pasid: pasid.map(PasidPrefix::new),
        addr: iova,
        no_write: false,
    })
}

/// The ATC invalidations `u` sent to `sid`.
fn atc_invalidations(u: &Unit, sid: u32) -> usize {
    u.bus
        .invalidations
        .lock()
        .iter()
        .filter(|i| u32::from(i.rid) == sid)
        .count()
}

#[test]
fn a_nested_ste_asking_for_ats_gets_full_ats_and_its_invalidations_reach_the_atc() {
    let (p, units) = SmmuHarness::build(&[SmmuParams::full()]);
    let u = &units[0];
    let no_ats = DeviceCaps {
        ats: false,
        pri: false,
        ..DEV
    };
    let [a, b, c] = p.devices([(0, DEV), (0, DEV), (0, no_ats)]);
    let sid = |d| u32::from(p.iommu.device_info(d).unwrap().rid.source_id());
    let g = guest(&p, a);
    let mut s1 = PageTable::new(p.stage1.clone(), g.tables.clone()).unwrap();
    s1.map(IOVA, DATA_GPA, 0x10000, Prot::RW).unwrap();
    let table = g.tables.alloc(4096).unwrap();
    guest_cd(p.mem(), table, 0, s1.root(), true);
    guest_cd(p.mem(), table, 1, s1.root(), true);
    let nested = |ats: u8| {
        p.iommu
            .new_nested(
                &g.parent,
                NestedData::PasidTable {
                    format: p.stage1.clone(),
                    root: table,
                    entries: 2,
                    ats,
                },
            )
            .unwrap()
    };

    // The user's STE asks for full ATS: EATS=01, and Translation Requests are answered through
    // the user's stage 1 and the host's stage 2.
    let n = nested(1);
    p.iommu.attach(a, &n).unwrap();
    assert_eq!(ste_of(&p, u, a).dw1.eats(), Eats::Full);
    let t = ats(u, sid(a), None, IOVA + 0x123).unwrap();
    assert_eq!(t.translate(IOVA + 0x123), Some(g.data_hpa + 0x123));
    assert!(t.rights.read && t.rights.write);
    let t = ats(u, sid(a), Some(1), IOVA + 0x40).unwrap();
    assert_eq!(t.translate(IOVA + 0x40), Some(g.data_hpa + 0x40));

    // The user's invalidation of its stage 1 reaches the TLB and the device's ATC.
    let (before, stats) = (atc_invalidations(u, sid(a)), u.unit.stats());
    n.invalidate_stage1().unwrap();
    assert!(atc_invalidations(u, sid(a)) > before);
    let after = u.unit.stats();
    assert!(
        after.commands.get(0x40) > stats.commands.get(0x40),
        "CMD_ATC_INV"
    );
    assert!(
        after.commands.get(0x28) > stats.commands.get(0x28),
        "CMD_TLBI_S12_VMALL"
    );
    // Two CMD_SYNCs: the ATC goes once the TLB invalidation is complete, so that no ATS
    // request in between refills it from the TLB.
    assert_eq!(after.syncs - stats.syncs, 2);
    // So does a change of the host's stage 2 under it: the ATC asks again and is refused.
    let before = atc_invalidations(u, sid(a));
    g.parent.unmap_sync(DATA_GPA, 0x10000).unwrap();
    assert!(atc_invalidations(u, sid(a)) > before);
    assert!(!ats(u, sid(a), None, IOVA).unwrap().is_available());

    // A user's STE without ATS: EATS=00, Translation Requests refused, no ATC invalidation.
    let plain = nested(0);
    p.iommu.attach(b, &plain).unwrap();
    assert_eq!(ste_of(&p, u, b).dw1.eats(), Eats::Disabled);
    assert_eq!(
        ats(u, sid(b), None, IOVA),
        Err(AtsFailure::UnsupportedRequest)
    );
    let (before, stats) = (atc_invalidations(u, sid(b)), u.unit.stats());
    plain.invalidate_stage1().unwrap();
    assert_eq!(atc_invalidations(u, sid(b)), before);
    assert_eq!(u.unit.stats().syncs - stats.syncs, 1);

    // A device without ATS: the request for it is left off, as Linux does.
    p.iommu.attach(c, &nested(1)).unwrap();
    assert_eq!(ste_of(&p, u, c).dw1.eats(), Eats::Disabled);

    // Split-stage ATS and the reserved encoding are refused, and the STE stays as it was.
    p.iommu.detach(b).unwrap();
    assert!(matches!(
        p.iommu.attach(b, &nested(2)),
        Err(CoreError::NotSupported(_))
    ));
    assert!(matches!(
        p.iommu.attach(b, &nested(3)),
        Err(CoreError::Invalid(_))
    ));
    assert_eq!(ste_of(&p, u, b).dw0.config(), SteConfig::Abort);
    assert_eq!(u.unit.stale_count(), 0);
}

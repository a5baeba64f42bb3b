//! Nested translation with a guest-owned CD table over a host stage 2: translation through
//! both, and a fault at each stage reported with its event.

use std::sync::Arc;

use softiommu_core::testing::{DEV, Platform};
use softiommu_core::{DmaFaultKind, Domain, NestedData, PagingRequest};
use softiommu_mem::PageAlloc;
use softiommu_pgtable::{PageTable, Prot};
use softiommu_smmuv3::event::{EventClass, EventId};
use softiommu_smmuv3::regs::SmmuParams;

use crate::common::{SmmuHarness, Unit, guest_cd};

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

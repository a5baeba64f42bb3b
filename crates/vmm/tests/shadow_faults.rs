//! A shadowed device's DMA faults through the host's I/O page-fault path: the device is
//! attached to a HWPT over the shadow IOAS with a fault queue, and its work queue blocks on
//! faults. A move to a page the guest does not map becomes a page request that the VMM
//! answers invalid after recording the fault in the guest's own vIOMMU queue, at the
//! faulting address; a move to a page the guest maps but the shadow missed (the guest
//! forgot its invalidation after the map) is served on demand and completes. An mdev on
//! SMMUv3 does the same through its PASID of the parent, the parent's PRI turned on by the
//! host's mdev driver.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use softiommu_core::{Domain, Gather};
use softiommu_devices::dsa::Status;
use softiommu_pgtable::Prot;
use softiommu_vmm::assign::{Assigned, GuestFault, VtdShadow};
use softiommu_vmm::{Guest, GuestDriver, HostRig, ShadowStats, SmmuShadow};
use vm_memory::{Bytes, GuestAddress};

const TABLES: (u64, u64) = (48 << 20, 16 << 20);
const SRC: u64 = 0x10_0000;
const DST: u64 = 0x20_0000;
const CR: u64 = 0x30_0000;
const IOVA_SRC: u64 = 0x7000_0000;
const IOVA_DST: u64 = 0x7100_0000;
const IOVA_CR: u64 = 0x7200_0000;
/// A device address the guest never maps.
const IOVA_HOLE: u64 = 0x7340_0000;
/// Three pages and a bit: four destination pages.
const LEN: usize = 3 * 4096 + 64;

/// What the tests read of either shadow.
trait Shadowed: Assigned {
    fn stats(&self) -> ShadowStats;
    fn mirrored(&self) -> Vec<(u64, u64)>;
    fn domain(&self) -> Arc<Domain>;
}

impl Shadowed for VtdShadow {
    fn stats(&self) -> ShadowStats {
        self.shadow().stats()
    }
    fn mirrored(&self) -> Vec<(u64, u64)> {
        self.shadow().mirrored()
    }
    fn domain(&self) -> Arc<Domain> {
        VtdShadow::domain(self).clone()
    }
}

impl Shadowed for SmmuShadow {
    fn stats(&self) -> ShadowStats {
        SmmuShadow::stats(self)
    }
    fn mirrored(&self) -> Vec<(u64, u64)> {
        SmmuShadow::mirrored(self)
    }
    fn domain(&self) -> Arc<Domain> {
        SmmuShadow::domain(self).clone()
    }
}

fn guest() -> Guest {
    Guest::new(&[(0, 64 << 20)]).unwrap()
}

fn ram(g: &Guest, gpa: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    g.memory().read_slice(&mut b, GuestAddress(gpa)).unwrap();
    b
}

fn pattern(g: &Guest) -> Vec<u8> {
    let p: Vec<u8> = (0..LEN).map(|i| (i as u8).wrapping_mul(7) ^ 0x3c).collect();
    g.memory().write_slice(&p, GuestAddress(SRC)).unwrap();
    p
}

/// The source (read-only) and the completion record mapped with their invalidations.
fn map_src_and_cr(a: &mut impl Shadowed) {
    a.map(IOVA_SRC, SRC, 4 * 4096, false).unwrap();
    a.map(IOVA_CR, CR, 4096, true).unwrap();
}

/// A move to a page the guest never mapped faults there, writes nothing, and the guest's
/// queue holds exactly that fault; the VMM counted it as reported. The device then still
/// moves what the guest maps.
fn fault_reaches_guest(a: &mut impl Shadowed) -> GuestFault {
    map_src_and_cr(a);
    a.map(IOVA_DST, DST, 4 * 4096, true).unwrap();
    assert!(a.faults().is_empty());
    assert_eq!(a.undelivered_faults(), None);
    let r = a.memmove(IOVA_SRC, IOVA_HOLE + 0x10, 64, IOVA_CR).unwrap();
    assert_eq!(
        (r.status, r.fault_addr, r.bytes_completed),
        (Status::PageFaultIr as u8, IOVA_HOLE + 0x10, 0),
        "{r:?}"
    );
    let f = a.faults();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].addr, f[0].pasid), (IOVA_HOLE, None), "{f:?}");
    let s = a.stats();
    assert_eq!((s.reported, s.on_demand, s.errors), (1, 0, 0), "{s:?}");
    let p = pattern(a.guest());
    let r = a.memmove(IOVA_SRC, IOVA_DST, LEN as u32, IOVA_CR).unwrap();
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(ram(a.guest(), DST, LEN), p);
    assert!(a.faults().is_empty());
    f[0].clone()
}

/// The guest maps the destination and forgets to invalidate: the shadow never saw it, and
/// the move still completes, each destination page mirrored when the device asks for it.
fn missed_map_served_on_demand(a: &mut impl Shadowed) {
    map_src_and_cr(a);
    let before = a.stats();
    let mut owed = Gather::new();
    a.domain()
        .map(IOVA_DST, DST, 4 * 4096, Prot::RW, &mut owed)
        .unwrap();
    assert_eq!(a.stats(), before, "no invalidation, nothing mirrored");
    assert!(!a.mirrored().iter().any(|&(i, _)| i == IOVA_DST));
    let p = pattern(a.guest());
    let r = a
        .memmove(IOVA_SRC, IOVA_DST + 8, LEN as u32, IOVA_CR)
        .unwrap();
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(ram(a.guest(), DST + 8, LEN), p);
    let s = a.stats();
    assert_eq!((s.on_demand, s.reported, s.errors), (4, 0, 0), "{s:?}");
    assert_eq!(s.host_maps, before.host_maps + 4, "{s:?}");
    for k in 0..4 {
        let page = (IOVA_DST + k * 4096, DST + k * 4096);
        assert!(a.mirrored().contains(&page), "{page:x?}");
    }
    assert!(a.faults().is_empty(), "nothing reported to the guest");
}

/// The device writes into the guest's read-only source: the host holds the page read-only
/// too, and the guest's tables refuse the write the device asks for; nothing is written,
/// and the guest's queue holds the fault.
fn write_to_read_only_is_reported(a: &mut impl Shadowed) -> GuestFault {
    map_src_and_cr(a);
    let g = a.guest().clone();
    g.memory()
        .write_slice(&[0xee; 64], GuestAddress(SRC))
        .unwrap();
    let r = a.memmove(IOVA_CR + 0x100, IOVA_SRC, 64, IOVA_CR).unwrap();
    assert_eq!(
        (r.status, r.fault_addr, r.fault_info & 1),
        (Status::PageFaultIr as u8, IOVA_SRC, 1),
        "{r:?}"
    );
    assert_eq!(ram(&g, SRC, 64), [0xee; 64]);
    let f = a.faults();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].addr, IOVA_SRC);
    assert_eq!(a.stats().reported, 1);
    f[0].clone()
}

#[test]
fn a_vf_on_vtd_reports_its_fault_in_the_guest_s_fault_recording_registers() {
    let rig = HostRig::vtd().unwrap();
    let mut a = VtdShadow::new(&rig, &guest(), 0, TABLES).unwrap();
    let f = fault_reaches_guest(&mut a);
    // Not present in the guest's second-stage table.
    assert_eq!(f.reason, "SSS.2", "{f:?}");
}

#[test]
fn a_vf_on_vtd_has_a_page_its_shadow_missed_served_on_demand() {
    let rig = HostRig::vtd().unwrap();
    let mut a = VtdShadow::new(&rig, &guest(), 0, TABLES).unwrap();
    missed_map_served_on_demand(&mut a);
}

#[test]
fn a_vf_on_vtd_writing_a_read_only_page_is_reported_to_the_guest() {
    let rig = HostRig::vtd().unwrap();
    let mut a = VtdShadow::new(&rig, &guest(), 0, TABLES).unwrap();
    write_to_read_only_is_reported(&mut a);
}

#[test]
fn a_vf_on_smmuv3_reports_its_fault_in_the_guest_s_event_queue() {
    let rig = HostRig::smmuv3().unwrap();
    let mut a = SmmuShadow::vf(&rig, &guest(), 0, TABLES).unwrap();
    let f = fault_reaches_guest(&mut a);
    assert_eq!(f.reason, "F_TRANSLATION");
}

#[test]
fn a_vf_on_smmuv3_has_a_page_its_shadow_missed_served_on_demand() {
    let rig = HostRig::smmuv3().unwrap();
    let mut a = SmmuShadow::vf(&rig, &guest(), 0, TABLES).unwrap();
    missed_map_served_on_demand(&mut a);
}

#[test]
fn a_vf_on_smmuv3_writing_a_read_only_page_is_reported_to_the_guest() {
    let rig = HostRig::smmuv3().unwrap();
    let mut a = SmmuShadow::vf(&rig, &guest(), 0, TABLES).unwrap();
    let f = write_to_read_only_is_reported(&mut a);
    assert_eq!(f.reason, "F_PERMISSION");
}

#[test]
fn an_mdev_on_smmuv3_reports_its_fault_in_the_guest_s_event_queue() {
    let rig = HostRig::smmuv3().unwrap();
    let mut a = SmmuShadow::mdev(&rig, &guest(), TABLES).unwrap();
    let f = fault_reaches_guest(&mut a);
    // With the guest's StreamID and no SubstreamID: the guest sees a device, not a PASID.
    assert_eq!(f.reason, "F_TRANSLATION");
}

#[test]
fn an_mdev_on_smmuv3_has_a_page_its_shadow_missed_served_on_demand() {
    let rig = HostRig::smmuv3().unwrap();
    let mut a = SmmuShadow::mdev(&rig, &guest(), TABLES).unwrap();
    missed_map_served_on_demand(&mut a);
}

#[test]
fn an_mdev_on_smmuv3_writing_a_read_only_page_is_reported_to_the_guest() {
    let rig = HostRig::smmuv3().unwrap();
    let mut a = SmmuShadow::mdev(&rig, &guest(), TABLES).unwrap();
    let f = write_to_read_only_is_reported(&mut a);
    assert_eq!(f.reason, "F_PERMISSION");
}

#[test]
fn the_guest_s_driver_blocks_on_faults_only_once_the_host_turned_pri_on() {
    let rig = HostRig::vtd().unwrap();
    let ctx = rig.context();
    let ioas = ctx.ioas_alloc().unwrap();
    let dev = rig.vfio().open_device(rig.vf(0).unwrap()).unwrap();
    dev.bind_iommufd(&ctx).unwrap();
    dev.attach_pt(ioas).unwrap();
    let mut driver = GuestDriver::new(dev);
    driver.bring_up(None).unwrap();
    assert!(!driver.blocks_on_faults(), "PRI is off: no page requests");
    rig.enable_page_requests(0).unwrap();
    driver.bring_up(None).unwrap();
    assert!(driver.blocks_on_faults());
    assert!(rig.enable_page_requests(2).is_err(), "no third function");
}

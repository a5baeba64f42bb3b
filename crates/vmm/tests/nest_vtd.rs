//! Nesting on VT-d: a guest's first-stage tables given to the host as nested HWPTs over its
//! RAM, for a VF (at its RID, or at a PASID the guest picks) and for an mdev (at its PASID
//! of the parent, the guest seeing no PASIDs, or the one PASID the VMM hands out through
//! the vIOMMU's virtual commands). The guest maps buffers and its engine moves bytes; an
//! unmap the guest invalidates reaches the host, the engine faults there and the fault is
//! in the guest's own fault recording registers; a guest that writes a malformed PASID
//! entry gets the fault, and the host and another guest go on.

#![allow(clippy::unwrap_used)]

use softiommu_core::{PagingRequest, Rid};
use softiommu_devices::dsa::Status;
use softiommu_pgtable::Prot;
use softiommu_vmm::assign::{Assigned, Column, Mechanism, Unit};
use softiommu_vmm::nest::{GUEST_RID, VtdNest, nest_viommu_params, nest_vtd};
use softiommu_vmm::{Guest, HostRig};
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::model::ModelCaps;
use softiommu_vtd::regs::{IQA_REG, IQT_REG, RTADDR_REG, VCMD_REG, VCRSP_REG};
use softiommu_vtd::structs::{
    ContextEntry, PasidDirEntry, PasidEntry, ScalableRootEntry, pasid_entry_address,
    root_entry_address,
};
use vm_memory::{Bytes, GuestAddress};

const TABLES: (u64, u64) = (48 << 20, 16 << 20);
const SRC: u64 = 0x10_0000;
const DST: u64 = 0x20_0000;
const CR: u64 = 0x30_0000;
const IOVA_SRC: u64 = 0x7000_0000;
const IOVA_DST: u64 = 0x7100_0000;
const IOVA_CR: u64 = 0x7200_0000;
const LEN: usize = 3 * 4096 + 64;
const SIZE: u64 = 4 * 4096;

fn guest() -> Guest {
    Guest::new(&[(0, 64 << 20)]).unwrap()
}

fn nest(rig: &HostRig, guest: &Guest, unit: Unit, slot: usize, column: Column) -> VtdNest {
    VtdNest::new(rig, guest, (unit, slot), column, TABLES).unwrap()
}

fn ram(g: &Guest, gpa: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    g.memory().read_slice(&mut b, GuestAddress(gpa)).unwrap();
    b
}

/// The guest maps its buffers and moves a pattern: the bytes land in its RAM.
fn map_and_move(a: &mut dyn Assigned, seed: u8) {
    for (iova, gpa) in [(IOVA_SRC, SRC), (IOVA_DST, DST), (IOVA_CR, CR)] {
        a.map(iova, gpa, SIZE, true).unwrap();
    }
    move_pattern(a, seed);
}

/// The guest's engine moves a pattern from its source to its destination buffer.
fn move_pattern(a: &mut dyn Assigned, seed: u8) {
    let pattern: Vec<u8> = (0..LEN)
        .map(|i| (i as u8).wrapping_mul(13) ^ seed)
        .collect();
    let g = a.guest().clone();
    g.memory().write_slice(&pattern, GuestAddress(SRC)).unwrap();
    g.memory()
        .write_slice(&vec![0u8; SIZE as usize], GuestAddress(DST))
        .unwrap();
    let r = a
        .memmove(IOVA_SRC, IOVA_DST + 8, LEN as u32, IOVA_CR)
        .unwrap();
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(ram(&g, DST + 8, LEN), pattern);
    assert_eq!(ram(&g, DST, 8), [0; 8], "nothing before the buffer");
}

/// Every cell: a move, then an unmap the guest invalidates, after which the engine faults
/// there and the guest finds the fault in its own queue.
fn cell(a: &mut VtdNest, mechanism: Mechanism) {
    assert_eq!(a.mechanism(), mechanism);
    map_and_move(a, 0x5a);
    assert_eq!(a.nests(), 1, "one nested HWPT for the guest's one stage 1");
    assert_eq!(a.host_errors(), (0, None));
    let before = a.counts();

    a.unmap(IOVA_DST, SIZE).unwrap();
    let after = a.counts();
    assert!(
        after.guest_invalidations > before.guest_invalidations,
        "{after:?}"
    );
    assert_eq!(
        after.host_invalidations,
        before.host_invalidations + 1,
        "one host call for the guest's one sync: {after:?}"
    );
    assert!(after.host_invalidations <= after.guest_invalidations);

    let g = a.guest().clone();
    g.memory()
        .write_slice(&vec![0u8; SIZE as usize], GuestAddress(DST))
        .unwrap();
    let r = a.memmove(IOVA_SRC, IOVA_DST, LEN as u32, IOVA_CR).unwrap();
    assert_eq!(
        (r.status, r.fault_addr),
        (Status::PageFaultNoBof as u8, IOVA_DST),
        "{r:?}"
    );
    assert!(ram(&g, DST, SIZE as usize).iter().all(|&b| b == 0));
    let faults = a.faults();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].addr, IOVA_DST);
    assert_eq!(faults[0].pasid, a.pasid());
    assert_eq!(
        faults[0].reason, "SFS.2",
        "the guest's first stage is not present"
    );
    assert!(a.faults().is_empty(), "read once");
    assert_eq!(a.host_errors(), (0, None));
}

#[test]
fn a_vf_nests_the_guests_stage_1_at_its_rid() {
    let rig = HostRig::vtd().unwrap();
    let g = guest();
    let mut a = nest(&rig, &g, Unit::Vf, 0, Column::Viommu);
    assert_eq!(a.pasid(), None);
    cell(&mut a, Mechanism::Nest);

    // The guest kernel gives the device a new domain whose destination is elsewhere: the
    // VMM nests the new table, and the engine's bytes land where it maps.
    let core = a.viommu().os().core();
    let req = PagingRequest {
        pasid: true,
        ..PagingRequest::default()
    };
    let d2 = core.new_paging(a.guest_device(), req).unwrap();
    const DST2: u64 = 0x40_0000;
    for (iova, gpa) in [(IOVA_SRC, SRC), (IOVA_DST, DST2), (IOVA_CR, CR)] {
        d2.map_sync(iova, gpa, SIZE, Prot::RW).unwrap();
    }
    core.replace(a.guest_device(), &d2).unwrap();
    assert_eq!(a.nests(), 2, "the new table nested");
    let r = a
        .driver()
        .memmove(&g, (IOVA_SRC, IOVA_DST, LEN as u32), (IOVA_CR, CR))
        .unwrap();
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(ram(&g, DST2, LEN), ram(&g, SRC, LEN));
    assert_eq!(a.host_errors(), (0, None));
}

#[test]
fn a_vf_nests_the_guests_stage_1_at_the_pasid_it_picks() {
    let rig = HostRig::vtd().unwrap();
    let g = guest();
    let mut a = nest(&rig, &g, Unit::Vf, 1, Column::ViommuPasid);
    let pasid = a.pasid().unwrap();
    assert!(pasid > 0);
    cell(&mut a, Mechanism::Nest);

    // The guest's driver tags the WQ with a PASID it has given no domain: the host has
    // nothing there, the move is refused before any byte, and the guest hears of it at
    // that PASID, its entry not present.
    let other = pasid + 1;
    let mut driver = softiommu_vmm::GuestDriver::shared(a.driver().shared_device());
    driver.bring_up(Some(other)).unwrap();
    a.map(IOVA_DST, DST, SIZE, true).unwrap();
    g.memory()
        .write_slice(&[0u8; 32], GuestAddress(CR))
        .unwrap();
    driver
        .submit_memmove(IOVA_SRC, IOVA_DST, LEN as u32, IOVA_CR)
        .unwrap();
    assert_eq!(ram(&g, CR, 32), [0; 32], "no completion record");
    let faults = a.faults();
    assert!(!faults.is_empty());
    assert!(
        faults
            .iter()
            .all(|f| f.pasid == Some(other) && f.reason == "SPT.2"),
        "{faults:?}"
    );
}

#[test]
fn an_mdev_nests_the_guests_stage_1_at_its_pasid_of_the_parent() {
    let rig = HostRig::vtd().unwrap();
    let g = guest();
    let mut a = nest_vtd(&rig, &g, (Unit::Mdev, 0), Column::Viommu, TABLES).unwrap();
    assert_eq!(a.pasid(), None, "the guest sees no PASIDs");
    assert_eq!(a.mechanism(), Mechanism::Nest);
    map_and_move(&mut *a, 0x33);
    drop(a);
    assert!(rig.parent().names().is_empty(), "the mdev goes with it");
    let mut a = nest(&rig, &g, Unit::Mdev, 0, Column::Viommu);
    cell(&mut a, Mechanism::Nest);
}

#[test]
fn an_mdev_guest_gets_the_hosts_pasid_through_virtual_commands() {
    let rig = HostRig::vtd().unwrap();
    let other = nest(&rig, &guest(), Unit::Mdev, 0, Column::ViommuPasid);
    let mut a = nest(&rig, &guest(), Unit::Mdev, 0, Column::ViommuPasid);
    let host_pasids: Vec<u32> = rig
        .parent()
        .names()
        .iter()
        .map(|n| rig.parent().pasid_of(n).unwrap().unwrap())
        .collect();
    assert_eq!(other.pasid(), Some(host_pasids[0]));
    assert_eq!(
        a.pasid(),
        Some(host_pasids[1]),
        "the guest's PASID is the host's"
    );
    let other_pasid = host_pasids[0];
    cell(&mut a, Mechanism::NestPv);

    // Its one PASID is handed out: no other, and another mdev's cannot be freed.
    let vcmd = |cmd: u64, oa: u64| {
        a.mmio().mmio_write(VCMD_REG, 8, oa << 16 | cmd);
        let r = a.mmio().mmio_read(VCRSP_REG, 8);
        (r >> 1 & 0x7f, r >> 16)
    };
    assert_eq!(vcmd(1, 0), (16, 0), "no PASID available");
    assert_eq!(vcmd(2, u64::from(other_pasid)), (16, 0), "invalid PASID");

    // The guest gives a domain to the other mdev's PASID: the VMM does not nest it, and
    // the device's requests still go by its own entry.
    let (nests, refused) = (a.nests(), a.refused().0);
    let core = a.viommu().os().core();
    let req = PagingRequest {
        pasid: true,
        ..PagingRequest::default()
    };
    let d2 = core.new_paging(a.guest_device(), req).unwrap();
    d2.map_sync(IOVA_DST, SRC, SIZE, Prot::RW).unwrap();
    core.attach_pasid(a.guest_device(), other_pasid, &d2)
        .unwrap();
    assert_eq!(a.nests(), nests);
    assert_eq!(a.refused().0, refused + 1);
    a.map(IOVA_DST, DST, SIZE, true).unwrap();
    move_pattern(&mut a, 7);
    assert!(a.faults().is_empty());
    assert_eq!(other.host_errors(), (0, None));
}

/// The address of the guest's PASID-table entry `pasid` of `rid`, found as the unit walks.
fn entry_address(a: &VtdNest, rid: Rid, pasid: u32) -> u64 {
    let mem = a.guest().space();
    let unit = a.viommu().unit();
    let caps = ModelCaps::from_params(&nest_viommu_params(false))
        .unwrap()
        .structs;
    let rta = unit.mmio_read(RTADDR_REG, 8) & !0xfff;
    let root = ScalableRootEntry::read(&*mem, root_entry_address(rta, rid.bus)).unwrap();
    let ctx = ContextEntry::read(&*mem, root.lookup(rid.devfn, &caps).unwrap()).unwrap();
    let dir_at = ctx.pasid_dir_entry_address(pasid, &caps).unwrap();
    let dir = PasidDirEntry::read(&*mem, dir_at).unwrap();
    pasid_entry_address(&dir, pasid)
}

/// The guest queues `descs` and an invalidation wait itself, through its register path.
fn queue(a: &VtdNest, descs: &[[u64; 4]]) {
    let regs = a.mmio();
    let mem = a.guest().space();
    let iqa = regs.mmio_read(IQA_REG, 8);
    let (base, size) = (iqa & !0xfff, 4096u64 << (iqa & 7));
    let mut tail = regs.mmio_read(IQT_REG, 8);
    for d in descs.iter().chain([&[5u64, 0, 0, 0]]) {
        for (i, w) in d.iter().enumerate() {
            mem.store_u64(base + tail + 8 * i as u64, *w).unwrap();
        }
        tail = (tail + 32) % size;
    }
    regs.mmio_write(IQT_REG, 8, tail);
}

#[test]
fn a_malformed_pasid_entry_faults_in_its_guest_only() {
    let rig = HostRig::vtd().unwrap();
    let (ga, gb) = (guest(), guest());
    let mut a = nest(&rig, &ga, Unit::Vf, 0, Column::Viommu);
    let mut b = nest(&rig, &gb, Unit::Vf, 1, Column::Viommu);
    map_and_move(&mut a, 1);
    map_and_move(&mut b, 2);

    // Guest A sets a reserved bit of its device's entry (bits 255:192) and invalidates it.
    let at = entry_address(&a, GUEST_RID, 0);
    let mem = ga.space();
    let e = PasidEntry::read(&*mem, at).unwrap();
    mem.store_u64(at + 24, 1).unwrap();
    let did = u64::from(e.qw1.did());
    queue(&a, &[[7 | 1 << 4 | did << 16, 0, 0, 0]]);
    assert_eq!(a.refused(), (1, Some(FaultReason::Spt3)));

    // A's engine reaches nothing, not even its completion record; the faults are in A's
    // queue with the reason its entry earns.
    for gpa in [DST, CR] {
        ga.memory()
            .write_slice(&vec![0u8; SIZE as usize], GuestAddress(gpa))
            .unwrap();
    }
    a.driver()
        .submit_memmove(IOVA_SRC, IOVA_DST, LEN as u32, IOVA_CR)
        .unwrap();
    assert!(ram(&ga, CR, 32).iter().all(|&b| b == 0));
    assert!(ram(&ga, DST, SIZE as usize).iter().all(|&b| b == 0));
    let faults = a.faults();
    assert!(
        faults.iter().any(|f| f.addr == IOVA_SRC),
        "the source read faults first: {faults:?}"
    );
    assert!(
        faults
            .iter()
            .all(|f| f.reason == "SPT.3" && f.pasid.is_none()),
        "{faults:?}"
    );

    // B goes on, and finds no fault; nothing of A's is left unclaimed on the host, and
    // the host still assigns: a third guest's mdev moves.
    move_pattern(&mut b, 3);
    assert!(b.faults().is_empty());
    assert_eq!(rig.vtd_faults().unwrap().unclaimed(), 0);
    assert_eq!(b.host_errors(), (0, None));
    let mut c = nest(&rig, &guest(), Unit::Mdev, 0, Column::Viommu);
    map_and_move(&mut c, 5);
    assert!(c.faults().is_empty());

    // A's guest repairs its entry: nested again, it moves.
    mem.store_u64(at + 24, 0).unwrap();
    queue(&a, &[[7 | 1 << 4 | did << 16, 0, 0, 0]]);
    assert_eq!(a.nests(), 2);
    move_pattern(&mut a, 4);
}

#[test]
fn the_guests_invalidations_reach_the_host_once_per_sync() {
    let rig = HostRig::vtd().unwrap();
    let mut a = nest(&rig, &guest(), Unit::Vf, 0, Column::Viommu);
    map_and_move(&mut a, 9);
    let did = u64::from(
        PasidEntry::read(&*a.guest().space(), entry_address(&a, GUEST_RID, 0))
            .unwrap()
            .qw1
            .did(),
    );
    // Page-selective PASID-IOTLB invalidations of PASID 0 (RID_PASID) in the entry's DID.
    let p_iotlb = |iova: u64| [6 | 3 << 4 | did << 16, iova, 0, 0];
    let before = a.counts();
    // Three invalidations, then the sync: one host call.
    queue(
        &a,
        &[p_iotlb(IOVA_SRC), p_iotlb(IOVA_DST), p_iotlb(IOVA_CR)],
    );
    let c = a.counts();
    assert_eq!(c.guest_invalidations, before.guest_invalidations + 3);
    assert_eq!(c.host_invalidations, before.host_invalidations + 1);
    // Another domain's invalidation is not the device's: nothing reaches the host.
    queue(&a, &[[6 | 3 << 4 | (did + 1) << 16, IOVA_SRC, 0, 0]]);
    assert_eq!(a.counts(), c);
    // Two syncs in one tail write: two host calls.
    queue(&a, &[p_iotlb(IOVA_SRC), [5, 0, 0, 0], p_iotlb(IOVA_DST)]);
    let d = a.counts();
    assert_eq!(d.guest_invalidations, c.guest_invalidations + 2);
    assert_eq!(d.host_invalidations, c.host_invalidations + 2);
    assert_eq!(a.host_errors(), (0, None));
    move_pattern(&mut a, 10);
}

#[test]
fn nesting_is_refused_without_a_viommu_or_on_another_iommu() {
    let rig = HostRig::vtd().unwrap();
    let g = guest();
    let e = VtdNest::new(&rig, &g, (Unit::Mdev, 0), Column::NoViommu, TABLES).unwrap_err();
    assert!(e.to_string().contains("needs a vIOMMU"), "{e}");
    assert!(rig.parent().names().is_empty(), "no mdev left behind");
    let smmu = HostRig::smmuv3().unwrap();
    let e = VtdNest::new(&smmu, &g, (Unit::Vf, 0), Column::Viommu, TABLES).unwrap_err();
    assert!(e.to_string().contains("VT-d host"), "{e}");
}

//! Shadowing on SMMUv3: a guest whose vSMMU driver invalidates after maps maps buffers for
//! its assigned copy engine (a whole VF, or an mdev at a PASID of the host's parent); the
//! VMM sees each TLB invalidation in the guest's command queue, walks the guest's CD and
//! stage-1 tables and mirrors the mappings into the host IOAS the device is attached to,
//! so that the engine, given guest IOVAs, moves the guest's bytes; an unmap the guest
//! invalidates leaves the host, and the engine faults there; one it forgets to invalidate
//! stays reachable, as behind a stale TLB, and the vIOMMU's checking mode reports it.
//! The fault there reaches the guest's event queue through the host's fault queue. An mdev
//! under a guest with PASIDs is shadowed at a PASID the host gives it through the guest's
//! paravirtual call.

#![allow(clippy::unwrap_used)]

use softiommu_core::{Gather, Rid};
use softiommu_devices::dsa::Status;
use softiommu_vmm::assign::{Assigned, Mechanism};
use softiommu_vmm::{Guest, HostRig, SmmuShadow};
use vm_memory::iommu::IommuMemory;
use vm_memory::{Bytes, GuestAddress};

const TABLES: (u64, u64) = (48 << 20, 16 << 20);
const SRC: u64 = 0x10_0000;
const DST: u64 = 0x20_0000;
const CR: u64 = 0x30_0000;
const IOVA_SRC: u64 = 0x7000_0000;
const IOVA_DST: u64 = 0x7100_0000;
const IOVA_CR: u64 = 0x7200_0000;
const LEN: usize = 3 * 4096 + 64;
/// The device as the guest knows it.
const RID: Rid = Rid::new(0, 0, 3, 0);

fn ram(g: &Guest, gpa: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    g.memory().read_slice(&mut b, GuestAddress(gpa)).unwrap();
    b
}

fn guest() -> Guest {
    Guest::new(&[(0, 64 << 20)]).unwrap()
}

/// One cell: maps mirrored, a move, an unmap removed from the host and the move faulting,
/// with the fault in the guest's event queue (at the device's PASID, if it has one).
fn cell(g: Guest, mut s: SmmuShadow) {
    let pasid = s.pasid();
    let mechanism = match pasid {
        Some(_) => Mechanism::ShadowPv,
        None => Mechanism::Shadow,
    };
    assert_eq!(s.mechanism(), mechanism);
    assert!(s.mirrored().is_empty());
    for (iova, gpa) in [(IOVA_SRC, SRC), (IOVA_DST, DST), (IOVA_CR, CR)] {
        s.map(iova, gpa, 4 * 4096, true).unwrap();
    }
    let st = s.stats();
    assert_eq!(s.last_error(), None);
    assert_eq!(
        (st.host_maps, st.host_unmaps, st.errors),
        (12, 0, 0),
        "{st:?}"
    );
    assert!(st.guest_invalidations >= 3, "{st:?}");
    assert!(s.mirrored().contains(&(IOVA_DST + 0x1000, DST + 0x1000)));
    let c = s.counts();
    assert_eq!(c.host_invalidations, 12);

    let pattern: Vec<u8> = (0..LEN)
        .map(|i| (i as u8).wrapping_mul(11) ^ 0x96)
        .collect();
    g.memory().write_slice(&pattern, GuestAddress(SRC)).unwrap();
    let r = s
        .memmove(IOVA_SRC, IOVA_DST + 8, LEN as u32, IOVA_CR)
        .unwrap();
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(ram(&g, DST + 8, LEN), pattern);

    g.memory()
        .write_slice(&[0u8; 4 * 4096], GuestAddress(DST))
        .unwrap();
    s.unmap(IOVA_DST, 4 * 4096).unwrap();
    let st = s.stats();
    assert_eq!((st.host_unmaps, st.errors), (4, 0), "{st:?}");
    assert_eq!(s.mirrored().len(), 8);
    let r = s.memmove(IOVA_SRC, IOVA_DST, LEN as u32, IOVA_CR).unwrap();
    assert!(ram(&g, DST, 4 * 4096).iter().all(|&b| b == 0));
    assert_eq!(r.fault_addr, IOVA_DST, "{r:?}");
    // The device blocked on the fault; the VMM found the page unmapped in the guest's
    // tables, put the event in the guest's queue and refused the page request.
    assert_eq!(r.status, Status::PageFaultIr as u8, "{r:?}");
    let f = s.faults();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].addr, f[0].pasid), (IOVA_DST, pasid), "{f:?}");
    assert_eq!(f[0].reason, "F_TRANSLATION");
    assert_eq!(s.stats().reported, 1);
    assert_eq!(s.undelivered_faults(), None);
}

#[test]
fn a_vf_s_guest_mappings_are_mirrored_on_its_invalidations() {
    let rig = HostRig::smmuv3().unwrap();
    let g = guest();
    let s = SmmuShadow::vf(&rig, &g, 0, TABLES).unwrap();
    cell(g, s);
}

#[test]
fn an_mdev_s_guest_mappings_are_mirrored_into_the_ioas_at_the_parent_s_pasid() {
    let rig = HostRig::smmuv3().unwrap();
    let g = guest();
    let s = SmmuShadow::mdev(&rig, &g, TABLES).unwrap();
    assert_eq!(rig.parent().names().len(), 1);
    cell(g, s);
    assert!(
        rig.parent().names().is_empty(),
        "the mdev went with the assignment"
    );
}

#[test]
fn a_forgotten_invalidation_leaves_the_stale_mapping_and_the_model_reports_it() {
    let rig = HostRig::smmuv3().unwrap();
    let g = guest();
    let mut s = SmmuShadow::vf(&rig, &g, 0, TABLES).unwrap();
    s.viommu().unit().set_checking(true);
    for (iova, gpa) in [(IOVA_SRC, SRC), (IOVA_DST, DST), (IOVA_CR, CR)] {
        s.map(iova, gpa, 4 * 4096, true).unwrap();
    }
    g.memory().write_slice(b"first", GuestAddress(SRC)).unwrap();

    // The guest kernel unmaps the destination and forgets to invalidate: the VMM sees
    // nothing, and the engine still reaches the page, as a device behind a stale TLB would.
    let mut owed = Gather::new();
    let domain = s.domain().clone();
    assert_eq!(
        domain.unmap(IOVA_DST, 4 * 4096, &mut owed).unwrap(),
        4 * 4096
    );
    assert_eq!(s.stats().host_unmaps, 0);
    let r = s.memmove(IOVA_SRC, IOVA_DST, 5, IOVA_CR).unwrap();
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(ram(&g, DST, 5), b"first");

    // The vIOMMU still holds the translation (its walks filled its TLB): a DMA through it
    // is answered from the TLB, and its checking mode reports the missing invalidation.
    assert_eq!(s.viommu().unit().stale_count(), 0);
    let mem = IommuMemory::new(g.memory().clone(), s.viommu().iommu(RID, None), true, ());
    let mut b = [0u8; 5];
    mem.read_slice(&mut b, GuestAddress(IOVA_DST)).unwrap();
    assert_eq!(&b, b"first");
    assert_eq!(s.viommu().unit().stale_count(), 1);
    let report = s.viommu().unit().stale_reports()[0];
    assert_eq!((report.request.addr, report.cached), (IOVA_DST, DST));
    assert!(report.fresh.is_err(), "{report:?}");

    // Once the guest invalidates, the host mapping goes and the engine faults; the VMM
    // finds the page gone from the guest's tables too and reports the fault to the guest.
    domain.sync(&mut owed);
    assert_eq!(s.stats().host_unmaps, 4);
    let r = s.memmove(IOVA_SRC, IOVA_DST, 5, IOVA_CR).unwrap();
    assert_eq!(r.status, Status::PageFaultIr as u8);
    assert_eq!(s.faults().len(), 1);
}

#[test]
fn an_mdev_with_guest_pasids_is_shadowed_at_the_pasid_its_pv_call_got_from_the_host() {
    let rig = HostRig::smmuv3().unwrap();
    let in_use = rig.host().iommu().pasids_in_use();
    let g = guest();
    let s = SmmuShadow::mdev_pasid(&rig, &g, TABLES).unwrap();
    let names = rig.parent().names();
    assert_eq!(names.len(), 1);
    let p = s.pasid().expect("the guest's PASID");
    // The guest sees the number the host gave the mdev, not the mdev's own PASID.
    assert_eq!(rig.parent().pasids_of(&names[0]).unwrap(), [p]);
    assert_ne!(rig.parent().pasid_of(&names[0]).unwrap(), Some(p));
    cell(g, s);
    assert!(rig.parent().names().is_empty(), "the mdev went");
    assert_eq!(
        rig.host().iommu().pasids_in_use(),
        in_use,
        "its PASIDs went back to the parent"
    );
}

#[test]
fn another_mdev_s_file_cannot_attach_the_pasid_a_guest_was_given() {
    let rig = HostRig::smmuv3().unwrap();
    let g = guest();
    let s = SmmuShadow::mdev_pasid(&rig, &g, TABLES).unwrap();
    let p = s.pasid().unwrap();
    let other = rig.parent().create().unwrap();
    let file = rig.parent().open(&other).unwrap();
    let ctx = rig.context();
    let id = file.bind_iommufd(&ctx).unwrap();
    let ioas = ctx.ioas_alloc().unwrap();
    let hwpt = ctx
        .hwpt_alloc(id, ioas, softiommu_iommufd::HWPT_ALLOC_PASID)
        .unwrap();
    let e = file.attach_pasid(p, hwpt).unwrap_err();
    assert_eq!(e.errno(), libc::EINVAL, "{e}");
    // Given one of its own, the other mdev attaches that one.
    let q = rig.parent().alloc_pasid(&other).unwrap();
    assert_ne!(p, q);
    assert_eq!(file.attach_pasid(q, hwpt).unwrap(), hwpt);
    drop(file);
    rig.parent().remove(&other).unwrap();
    drop(s);
}

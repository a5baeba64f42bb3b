//! Nesting on SMMUv3: a guest's VF behind its vSMMU, the guest's STE given to the host as a
//! vSTE through a vIOMMU, its invalidations forwarded at each `CMD_SYNC`, and the host's
//! events on its stage 1 written into the guest's own event queue; at the RID and at a
//! SubstreamID of the guest's CD table. An mdev cannot be nested: the host refuses. A
//! guest that writes a malformed STE finds the event in its queue, and the host and another
//! guest go on unharmed.

#![allow(clippy::unwrap_used)]

use softiommu_core::{Mem, Rid};
use softiommu_devices::dsa::Status;
use softiommu_smmuv3::cmd::Command;
use softiommu_smmuv3::model::SmmuUnit;
use softiommu_smmuv3::regs::{SMMU_STRTAB_BASE, SMMU_STRTAB_BASE_CFG};
use softiommu_vmm::assign::{Assigned, Mechanism};
use softiommu_vmm::nest::SmmuNest;
use softiommu_vmm::{Guest, HostRig, Result};
use vm_memory::{Bytes, GuestAddress};

const TABLES: (u64, u64) = (48 << 20, 16 << 20);
const SRC: u64 = 0x10_0000;
const DST: u64 = 0x20_0000;
const CR: u64 = 0x30_0000;
const IOVA_SRC: u64 = 0x7000_0000;
const IOVA_DST: u64 = 0x7100_0000;
const IOVA_CR: u64 = 0x7200_0000;
const LEN: usize = 3 * 4096 + 64;

fn guest() -> Guest {
    Guest::new(&[(0, 64 << 20)]).unwrap()
}

/// Where each guest sees its device.
const GUEST_RID: Rid = Rid::new(0, 0, 3, 0);

/// Function `n` of the host's engine nested for `guest`, through a context of its own.
fn nest(rig: &HostRig, guest: &Guest, n: usize, pasid: Option<u32>) -> Result<SmmuNest> {
    SmmuNest::new(rig, guest, n, TABLES, pasid)
}

fn smmu_host() -> HostRig {
    HostRig::smmuv3().unwrap()
}

fn ram(g: &Guest, gpa: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    g.memory().read_slice(&mut b, GuestAddress(gpa)).unwrap();
    b
}

fn pattern(seed: u8) -> Vec<u8> {
    (0..LEN)
        .map(|i| (i as u8).wrapping_mul(seed) ^ 0x3c)
        .collect()
}

/// Maps the three buffers and moves a pattern from the source to the destination.
fn map_and_move(a: &mut dyn Assigned, seed: u8) {
    for (iova, gpa) in [(IOVA_SRC, SRC), (IOVA_DST, DST), (IOVA_CR, CR)] {
        a.map(iova, gpa, 4 * 4096, true).unwrap();
    }
    let p = pattern(seed);
    a.guest()
        .memory()
        .write_slice(&p, GuestAddress(SRC))
        .unwrap();
    let r = a
        .memmove(IOVA_SRC, IOVA_DST + 8, LEN as u32, IOVA_CR)
        .unwrap();
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(ram(a.guest(), DST + 8, LEN), p);
}

/// One cell: the guest maps and moves, unmaps the destination, and the move faults there
/// with the event in the guest's queue.
fn cell(pasid: Option<u32>) {
    let rig = smmu_host();
    let g = guest();
    let mut a: Box<dyn Assigned> = Box::new(nest(&rig, &g, 0, pasid).unwrap());
    assert_eq!((a.mechanism(), a.pasid()), (Mechanism::Nest, pasid));
    map_and_move(&mut *a, 7);
    assert!(a.faults().is_empty());
    let before = a.counts();
    assert!(before.guest_invalidations > 0, "{before:?}");
    assert!(before.host_invalidations > 0, "{before:?}");

    g.memory()
        .write_slice(&[0u8; 4 * 4096], GuestAddress(DST))
        .unwrap();
    a.unmap(IOVA_DST, 4 * 4096).unwrap();
    let after = a.counts();
    assert!(after.guest_invalidations > before.guest_invalidations);
    assert_eq!(
        after.host_invalidations,
        before.host_invalidations + 1,
        "one vIOMMU invalidation for the unmap's batch"
    );
    let r = a.memmove(IOVA_SRC, IOVA_DST, LEN as u32, IOVA_CR).unwrap();
    assert_eq!(
        (r.status, r.fault_addr),
        (Status::PageFaultNoBof as u8, IOVA_DST),
        "{r:?}"
    );
    assert!(ram(&g, DST, 4 * 4096).iter().all(|&b| b == 0));
    let faults = a.faults();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].addr, IOVA_DST);
    assert_eq!(faults[0].pasid, pasid);
    assert_eq!(faults[0].reason, "F_TRANSLATION");
    assert!(a.faults().is_empty(), "reported once");
    assert_eq!(a.undelivered_faults(), None);
}

#[test]
fn a_nested_vf_moves_through_the_guest_s_stage1_and_faults_into_its_queue() {
    cell(None);
}

#[test]
fn a_nested_vf_at_a_substream_of_the_guest_s_cd_table() {
    cell(Some(5));
}

#[test]
fn an_mdev_cannot_be_nested_and_the_host_says_why() {
    let rig = smmu_host();
    let g = guest();
    let e = SmmuNest::mdev(&rig, &g).unwrap_err();
    assert_eq!(e.errno(), libc::EOPNOTSUPP, "{e}");
    assert!(
        rig.parent().names().is_empty(),
        "the attempt's mdev is gone"
    );
}

/// Where the STE of `sid` is in the stream table `unit`'s registers point at.
fn ste_at(unit: &SmmuUnit<Mem>, mem: &Mem, sid: u32) -> u64 {
    let base = unit.mmio_read(SMMU_STRTAB_BASE, 8) & 0x000f_ffff_ffff_ffc0;
    let cfg = unit.mmio_read(SMMU_STRTAB_BASE_CFG, 4);
    let (split, fmt) = ((cfg >> 6) & 0x1f, (cfg >> 16) & 3);
    let sid = u64::from(sid);
    if fmt == 0 {
        return base + sid * 64;
    }
    let mut d = [0u8; 8];
    mem.read(base + (sid >> split) * 8, &mut d).unwrap();
    (u64::from_le_bytes(d) & 0x000f_ffff_ffff_ffc0) + (sid & ((1 << split) - 1)) * 64
}

#[test]
fn a_malformed_ste_is_reported_to_its_guest_only() {
    let rig = smmu_host();
    let (ga, gb) = (guest(), guest());
    let mut a = nest(&rig, &ga, 0, None).unwrap();
    let mut b = nest(&rig, &gb, 1, None).unwrap();
    map_and_move(&mut a, 3);
    map_and_move(&mut b, 5);

    // Guest A's kernel writes a reserved Config (0b010) into its device's STE and
    // invalidates it.
    let sid = u32::from(GUEST_RID.source_id());
    let mem = ga.space();
    let at = ste_at(a.viommu().unit(), &mem, sid);
    let mut w = [0u8; 8];
    mem.read(at, &mut w).unwrap();
    let w0 = (u64::from_le_bytes(w) & !0xe) | 0b010 << 1;
    mem.write(at, &w0.to_le_bytes()).unwrap();
    let cfgi = Command::from_words([0x03 | u64::from(sid) << 32, 1]).unwrap();
    a.viommu().driver().submit(&[cfgi]).unwrap();

    // The host refused it: A's device aborts, and A finds C_BAD_STE in its queue.
    assert_eq!(a.refused_stes(), 1);
    assert!(a.last_error().is_some_and(|e| e.contains("iommufd")));
    let faults = a.faults();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].reason, "C_BAD_STE");
    // Its engine's accesses abort, the completion record's too: none comes, and nothing
    // is written.
    ga.memory()
        .write_slice(&[0u8; 64], GuestAddress(DST))
        .unwrap();
    assert!(a.memmove(IOVA_SRC, IOVA_DST, 64, IOVA_CR).is_err());
    assert!(ram(&ga, DST, 64).iter().all(|&b| b == 0));
    assert!(
        a.faults().is_empty(),
        "an aborting STE records nothing more"
    );

    // Guest B goes on, and sees none of it.
    gb.memory()
        .write_slice(&[0u8; 64], GuestAddress(DST))
        .unwrap();
    let r = b.memmove(IOVA_SRC, IOVA_DST, 64, IOVA_CR).unwrap();
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(ram(&gb, DST, 64), pattern(5)[..64]);
    assert!(b.faults().is_empty());
    assert_eq!(b.last_error(), None);
}

#[test]
fn a_new_domain_of_the_guest_s_reaches_the_host_through_its_cd_invalidation() {
    let rig = smmu_host();
    let g = guest();
    let mut a = nest(&rig, &g, 0, None).unwrap();
    map_and_move(&mut a, 9);
    // The guest kernel moves the device to a new domain whose destination is elsewhere:
    // its driver rewrites CD 0 and invalidates it, and the host follows.
    const DST2: u64 = 0x40_0000;
    let core = a.viommu().os().core();
    let d2 = core
        .new_paging(a.device(), softiommu_core::PagingRequest::default())
        .unwrap();
    for (iova, gpa) in [(IOVA_SRC, SRC), (IOVA_DST, DST2), (IOVA_CR, CR)] {
        d2.map_sync(iova, gpa, 4 * 4096, softiommu_pgtable::Prot::RW)
            .unwrap();
    }
    let before = a.counts();
    core.replace(a.device(), &d2).unwrap();
    assert!(a.counts().host_invalidations > before.host_invalidations);
    g.memory()
        .write_slice(&[0u8; 64], GuestAddress(DST + 8))
        .unwrap();
    let r = a.memmove(IOVA_SRC, IOVA_DST + 8, 64, IOVA_CR).unwrap();
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(ram(&g, DST2 + 8, 64), pattern(9)[..64]);
    assert!(
        ram(&g, DST + 8, 64).iter().all(|&b| b == 0),
        "not the old page"
    );
    assert_eq!(a.last_error(), None);
}

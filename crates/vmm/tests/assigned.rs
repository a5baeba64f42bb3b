//! A device assigned to a guest without a vIOMMU: the guest's RAM is mapped into a host IOAS
//! at IOVA = guest-physical address and the copy engine, a VFIO device bound to the
//! context and attached to that IOAS, moves bytes between guest-physical buffers that the
//! guest's driver gives it.

#![allow(clippy::unwrap_used)]

use softiommu_devices::dsa::{CompletionRecord, Status};
use softiommu_vmm::{Guest, GuestDriver, HostRig};
use vm_memory::{Bytes, GuestAddress};

const MIB: u64 = 1 << 20;
const SRC: u64 = 0x10_0000;
const DST: u64 = 17 * MIB + 0x800;
const CR: u64 = 0x30_0000;
const LEN: usize = 3 * 4096 + 100;
/// Guest-physical addresses in the hole between the two RAM ranges.
const HOLE: u64 = 10 * MIB;

fn record(guest: &Guest) -> CompletionRecord {
    let mut rec = [0u8; 32];
    guest
        .memory()
        .read_slice(&mut rec, GuestAddress(CR))
        .unwrap();
    CompletionRecord::from_bytes(&rec)
}

/// All of the guest's RAM but the completion record's page.
fn snapshot(guest: &Guest) -> Vec<u8> {
    let mut out = Vec::new();
    for (gpa, _, len) in guest.regions() {
        let mut b = vec![0u8; len as usize];
        guest
            .memory()
            .read_slice(&mut b, GuestAddress(gpa))
            .unwrap();
        if (gpa..gpa + len).contains(&CR) {
            b[(CR - gpa) as usize..][..4096].fill(0);
        }
        out.extend(b);
    }
    out
}

#[test]
fn an_assigned_engine_moves_bytes_between_guest_physical_buffers() {
    let rig = HostRig::vtd().unwrap();
    let ctx = rig.context();
    // RAM at [0, 8 MiB) and [16 MiB, 24 MiB): a hole between.
    let guest = Guest::new(&[(0, 8 << 20), (16 << 20, 8 << 20)]).unwrap();
    let ioas = ctx.ioas_alloc().unwrap();
    guest.map_into(&ctx, ioas).unwrap();
    let mapped = ctx.ioas_mappings(ioas).unwrap();
    assert_eq!(mapped, vec![(0, 8 * MIB - 1), (16 * MIB, 24 * MIB - 1)]);

    let dev = rig.vfio().open_device(rig.vf(0).unwrap()).unwrap();
    dev.bind_iommufd(&ctx).unwrap();
    dev.attach_pt(ioas).unwrap();
    let mut engine = GuestDriver::new(dev);
    engine.bring_up(None).unwrap();

    let pattern: Vec<u8> = (0..LEN)
        .map(|i| (i as u8).wrapping_mul(29) ^ 0x5a)
        .collect();
    guest
        .memory()
        .write_slice(&pattern, GuestAddress(SRC))
        .unwrap();
    // Across the hole: the source in the first range, the destination in the second.
    let r = engine
        .memmove(&guest, (SRC, DST, LEN as u32), (CR, CR))
        .unwrap();
    assert_eq!(r, record(&guest));
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    let mut got = vec![0u8; LEN + 2];
    guest
        .memory()
        .read_slice(&mut got, GuestAddress(DST - 1))
        .unwrap();
    assert_eq!(&got[1..=LEN], &pattern[..]);
    assert_eq!((got[0], got[LEN + 1]), (0, 0), "nothing beside the buffer");

    // A move into the hole faults at its first byte and changes nothing in guest RAM.
    let before = snapshot(&guest);
    let r = engine
        .memmove(&guest, (SRC, HOLE, LEN as u32), (CR, CR))
        .unwrap();
    assert_eq!(
        (r.status, r.bytes_completed, r.fault_addr),
        (Status::PageFaultNoBof as u8, 0, HOLE),
        "{r:?}"
    );
    assert!(
        snapshot(&guest) == before,
        "the faulting move touched nothing"
    );
    // A move out of the hole faults on its read side.
    let r = engine
        .memmove(&guest, (HOLE, DST, LEN as u32), (CR, CR))
        .unwrap();
    assert_eq!(r.status, Status::PageFaultNoBof as u8, "{r:?}");
    assert!(snapshot(&guest) == before);

    // Once the guest's RAM leaves the IOAS the device reaches none of it.
    guest.unmap_from(&ctx, ioas).unwrap();
    assert!(ctx.ioas_mappings(ioas).unwrap().is_empty());
}

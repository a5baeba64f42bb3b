//! Shadowing on VT-d: a guest whose vIOMMU runs in caching mode maps buffers for its
//! assigned copy engine; the VMM sees each IOTLB invalidation the guest queues, walks the
//! guest's tables and mirrors the mappings into the host IOAS the engine is attached to,
//! so that the engine, given guest IOVAs, moves the guest's bytes; an unmap the guest
//! invalidates is removed from the host, and the engine faults there; one it forgets to
//! invalidate stays reachable, as behind a stale IOTLB, and the vIOMMU's checking mode
//! reports it.

#![allow(clippy::unwrap_used)]

use softiommu_core::{DeviceCaps, Gather, PagingRequest, Rid};
use softiommu_devices::dsa::{CompletionRecord, Status};
use softiommu_pgtable::Prot;
use softiommu_vmm::{Guest, GuestDriver, HostRig, Shadow};
use softiommu_vtd::regs::VtdParams;
use vm_memory::iommu::IommuMemory;
use vm_memory::{Bytes, GuestAddress};

const RID: Rid = Rid::new(0, 0, 3, 0);
const TABLES: (u64, u64) = (48 << 20, 16 << 20);
/// Guest-physical buffers.
const SRC: u64 = 0x10_0000;
const DST: u64 = 0x20_0000;
const CR: u64 = 0x30_0000;
/// The guest's IOVAs for them.
const IOVA_SRC: u64 = 0x7000_0000;
const IOVA_DST: u64 = 0x7100_0000;
const IOVA_CR: u64 = 0x7200_0000;
const LEN: usize = 3 * 4096 + 64;

fn record(g: &Guest) -> CompletionRecord {
    let mut rec = [0u8; 32];
    g.memory().read_slice(&mut rec, GuestAddress(CR)).unwrap();
    CompletionRecord::from_bytes(&rec)
}

/// The guest's driver moves `len` bytes between IOVAs, its completion record at IOVA_CR.
fn mv(engine: &GuestDriver, g: &Guest, src: u64, dst: u64, len: u32) -> CompletionRecord {
    let r = engine.memmove(g, (src, dst, len), (IOVA_CR, CR)).unwrap();
    assert_eq!(r, record(g));
    r
}

fn ram(g: &Guest, gpa: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    g.memory().read_slice(&mut b, GuestAddress(gpa)).unwrap();
    b
}

#[test]
fn guest_mappings_are_mirrored_into_the_host_on_its_invalidations() {
    let rig = HostRig::vtd().unwrap();
    let ctx = rig.context();
    let ioas = ctx.ioas_alloc().unwrap();
    let guest = Guest::new(&[(0, 64 << 20)]).unwrap();
    let (viommu, shadow) = Shadow::vtd(
        &guest,
        VtdParams::default(),
        TABLES,
        (ctx.clone(), ioas),
        RID,
    )
    .unwrap();
    assert!(viommu.unit().mmio_read(8, 8) >> 7 & 1 == 1, "CAP.CM is set");

    // The VMM assigns the engine: bound to the host context, attached to the shadow IOAS,
    // which holds nothing yet.
    let dev = rig.vfio().open_device(rig.vf(0).unwrap()).unwrap();
    dev.bind_iommufd(&ctx).unwrap();
    dev.attach_pt(ioas).unwrap();
    assert!(ctx.ioas_mappings(ioas).unwrap().is_empty());

    // The guest kernel gives the engine a paging domain and maps its buffers.
    let os = viommu.os();
    let gdev = os.add_device(RID, DeviceCaps::default()).unwrap();
    let domain = os
        .core()
        .new_paging(gdev, PagingRequest::default())
        .unwrap();
    os.core().attach(gdev, &domain).unwrap();
    for (iova, gpa) in [(IOVA_SRC, SRC), (IOVA_DST, DST), (IOVA_CR, CR)] {
        domain.map_sync(iova, gpa, 4 * 4096, Prot::RW).unwrap();
    }
    let s = shadow.stats();
    assert_eq!(shadow.last_error(), None);
    assert_eq!((s.host_maps, s.host_unmaps, s.errors), (12, 0, 0), "{s:?}");
    assert!(s.guest_invalidations >= 3, "{s:?}");
    let mirrored = shadow.mirrored();
    assert!(mirrored.contains(&(IOVA_DST + 0x1000, DST + 0x1000)));
    assert_eq!(ctx.ioas_mappings(ioas).unwrap().len(), 12);

    // The guest's driver programs the engine with its IOVAs.
    let mut engine = GuestDriver::new(dev);
    engine.bring_up(None).unwrap();
    let pattern: Vec<u8> = (0..LEN)
        .map(|i| (i as u8).wrapping_mul(13) ^ 0xa5)
        .collect();
    guest
        .memory()
        .write_slice(&pattern, GuestAddress(SRC))
        .unwrap();
    let r = mv(&engine, &guest, IOVA_SRC, IOVA_DST + 8, LEN as u32);
    assert_eq!(r.status, Status::Success as u8, "{r:?}");
    assert_eq!(ram(&guest, DST + 8, LEN), pattern);

    // The guest unmaps the destination: its invalidation removes it from the host, and the
    // engine faults there without writing.
    guest
        .memory()
        .write_slice(&vec![0u8; 4 * 4096], GuestAddress(DST))
        .unwrap();
    assert_eq!(domain.unmap_sync(IOVA_DST, 4 * 4096).unwrap(), 4 * 4096);
    let s = shadow.stats();
    assert_eq!((s.host_unmaps, s.errors), (4, 0), "{s:?}");
    assert_eq!(ctx.ioas_mappings(ioas).unwrap().len(), 8);
    let r = mv(&engine, &guest, IOVA_SRC, IOVA_DST, LEN as u32);
    assert_eq!(
        (r.status, r.fault_addr),
        (Status::PageFaultNoBof as u8, IOVA_DST),
        "{r:?}"
    );
    assert!(ram(&guest, DST, 4 * 4096).iter().all(|&b| b == 0));
}

#[test]
fn a_forgotten_invalidation_leaves_the_stale_mapping_and_the_model_reports_it() {
    let rig = HostRig::vtd().unwrap();
    let ctx = rig.context();
    let ioas = ctx.ioas_alloc().unwrap();
    let guest = Guest::new(&[(0, 64 << 20)]).unwrap();
    let (viommu, shadow) = Shadow::vtd(
        &guest,
        VtdParams::default(),
        TABLES,
        (ctx.clone(), ioas),
        RID,
    )
    .unwrap();
    viommu.unit().set_checking(true);
    let dev = rig.vfio().open_device(rig.vf(0).unwrap()).unwrap();
    dev.bind_iommufd(&ctx).unwrap();
    dev.attach_pt(ioas).unwrap();
    let os = viommu.os();
    let gdev = os.add_device(RID, DeviceCaps::default()).unwrap();
    let domain = os
        .core()
        .new_paging(gdev, PagingRequest::default())
        .unwrap();
    os.core().attach(gdev, &domain).unwrap();
    for (iova, gpa) in [(IOVA_SRC, SRC), (IOVA_DST, DST), (IOVA_CR, CR)] {
        domain.map_sync(iova, gpa, 4 * 4096, Prot::RW).unwrap();
    }
    let mut engine = GuestDriver::new(dev);
    engine.bring_up(None).unwrap();
    guest
        .memory()
        .write_slice(b"first", GuestAddress(SRC))
        .unwrap();

    // The guest unmaps the destination and forgets to invalidate: the VMM sees nothing,
    // and the engine still reaches the page, as a device behind a stale IOTLB would.
    let mut owed = Gather::new();
    assert_eq!(
        domain.unmap(IOVA_DST, 4 * 4096, &mut owed).unwrap(),
        4 * 4096
    );
    assert_eq!(shadow.stats().host_unmaps, 0);
    let r = mv(&engine, &guest, IOVA_SRC, IOVA_DST, 5);
    assert_eq!(r.status, Status::Success as u8);
    assert_eq!(ram(&guest, DST, 5), b"first");

    // The vIOMMU still holds the translation too: a DMA through it (an emulated device's,
    // through IommuMemory) is answered from its IOTLB, and its checking mode reports the
    // missing invalidation.
    assert_eq!(viommu.unit().stale_count(), 0);
    let mem = IommuMemory::new(guest.memory().clone(), viommu.iommu(RID, None), true, ());
    let mut b = [0u8; 5];
    mem.read_slice(&mut b, GuestAddress(IOVA_DST)).unwrap();
    assert_eq!(&b, b"first");
    assert_eq!(viommu.unit().stale_count(), 1);
    let report = viommu.unit().stale_reports()[0];
    assert_eq!((report.request.addr, report.cached), (IOVA_DST, DST));
    assert!(report.fresh.is_err(), "{report:?}");

    // Once the guest invalidates, the host mapping goes and the engine faults.
    domain.sync(&mut owed);
    assert_eq!(shadow.stats().host_unmaps, 4);
    let r = mv(&engine, &guest, IOVA_SRC, IOVA_DST, 5);
    assert_eq!(r.status, Status::PageFaultNoBof as u8);
}

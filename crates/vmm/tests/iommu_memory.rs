//! A VMM's emulated device doing DMA through vm-memory's `IommuMemory`, translated by a
//! VT-d or SMMUv3 vIOMMU whose guest driver (this project's driver and core, running over
//! guest RAM) made, mapped and attached the device's domain: mapped and unmapped pages,
//! permission faults recorded by the model where the guest's driver finds them, and
//! invalidations seen at once.

#![allow(clippy::unwrap_used)]

use softiommu_core::{DeviceCaps, Domain, Gather, PagingRequest, Rid};
use softiommu_pgtable::Prot;
use softiommu_smmuv3::event::EventId;
use softiommu_smmuv3::regs::SmmuParams;
use softiommu_vmm::Guest;
use softiommu_vmm::viommu::{GuestOs, SmmuViommu, VtdViommu};
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::regs::{CAP_REG, Frcd, RequestKind, VtdParams};
use std::sync::Arc;
use vm_memory::iommu::{Iommu, IommuMemory};
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryMmap};

const RID: Rid = Rid::new(0, 0, 3, 0);
/// The guest kernel's IOMMU tables: [48 MiB, 64 MiB) of its RAM.
const TABLES: (u64, u64) = (48 << 20, 16 << 20);
const IOVA: u64 = 0x40_0000;
const BUF: u64 = 0x10_0000;
const OTHER: u64 = 0x20_0000;

/// The emulated device: copies `len` bytes from IOVA `src` to IOVA `dst` through `mem`.
fn dma_copy<M: GuestMemory>(mem: &M, src: u64, dst: u64, len: usize) -> Result<(), String> {
    let mut b = vec![0u8; len];
    mem.read_slice(&mut b, GuestAddress(src))
        .map_err(|e| e.to_string())?;
    mem.write_slice(&b, GuestAddress(dst))
        .map_err(|e| e.to_string())
}

fn guest() -> Guest {
    let g = Guest::new(&[(0, 64 << 20)]).unwrap();
    let pattern: Vec<u8> = (0..0x4000u32).map(|i| (i * 7 + (i >> 8)) as u8).collect();
    g.memory().write_slice(&pattern, GuestAddress(BUF)).unwrap();
    g
}

/// The guest's driver: a paging domain for the device, attached at its RID.
fn domain(os: &GuestOs) -> Arc<Domain> {
    let dev = os.add_device(RID, DeviceCaps::default()).unwrap();
    let d = os.core().new_paging(dev, PagingRequest::default()).unwrap();
    os.core().attach(dev, &d).unwrap();
    d
}

fn memory<I: Iommu>(g: &Guest, iommu: I) -> IommuMemory<GuestMemoryMmap, I> {
    IommuMemory::new(g.memory().clone(), iommu, true, ())
}

fn ram(g: &Guest, gpa: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    g.memory().read_slice(&mut b, GuestAddress(gpa)).unwrap();
    b
}

/// The scenario on either model; `faults()` gives the (page, write) of each fault the
/// guest's driver finds recorded since it last looked.
fn scenario<I: Iommu>(
    g: &Guest,
    d: &Domain,
    mem: &IommuMemory<GuestMemoryMmap, I>,
    mut faults: impl FnMut() -> Vec<(u64, bool)>,
) {
    // Two pages mapped read-write, one read-only after them.
    d.map_sync(IOVA, BUF, 0x2000, Prot::RW).unwrap();
    d.map_sync(IOVA + 0x2000, BUF + 0x2000, 0x1000, Prot::READ)
        .unwrap();
    // A read across the two pages, written back further on in the first.
    dma_copy(mem, IOVA + 0xf00, IOVA + 0x10, 0x200).unwrap();
    assert_eq!(ram(g, BUF + 0x10, 0x200), ram(g, BUF + 0xf00, 0x200));
    assert!(faults().is_empty());

    // An unmapped IOVA: the access fails, the model records the fault, nothing is written.
    let before = ram(g, BUF, 0x3000);
    let e = dma_copy(mem, IOVA + 0x10_0000, IOVA, 64).unwrap_err();
    assert!(e.contains("fault"), "{e}");
    assert_eq!(faults(), vec![(IOVA + 0x10_0000, false)]);
    // The read-only page: read, but not written.
    dma_copy(mem, IOVA + 0x2000, IOVA + 0x1000, 64).unwrap();
    let e = dma_copy(mem, IOVA, IOVA + 0x2040, 64).unwrap_err();
    assert!(e.contains("fault"), "{e}");
    assert_eq!(faults(), vec![(IOVA + 0x2000, true)]);
    let mut want = before.clone();
    want.copy_within(0x2000..0x2040, 0x1000);
    assert!(ram(g, BUF, 0x3000) == want, "only the allowed copy landed");

    // Unmapping invalidates the model's IOTLB: the page is gone at once. Mapped again
    // elsewhere, the device sees the new page.
    assert_eq!(d.unmap_sync(IOVA, 0x1000).unwrap(), 0x1000);
    assert!(mem.check_range(GuestAddress(IOVA + 0x1000), 8, vm_memory::Permissions::Read));
    assert!(!mem.check_range(GuestAddress(IOVA), 8, vm_memory::Permissions::Read));
    assert_eq!(faults(), vec![(IOVA, false)]);
    g.memory()
        .write_slice(b"elsewhere", GuestAddress(OTHER + 0x20))
        .unwrap();
    d.map_sync(IOVA, OTHER, 0x1000, Prot::RW).unwrap();
    let mut b = [0u8; 9];
    mem.read_slice(&mut b, GuestAddress(IOVA + 0x20)).unwrap();
    assert_eq!(&b, b"elsewhere");
}

/// VT-d's primary fault records, as the guest's fault handler reads and clears them.
fn vtd_faults(v: &VtdViommu) -> impl FnMut() -> Vec<(u64, bool)> + use<> {
    let unit = v.unit().clone();
    move || {
        let cap = unit.mmio_read(CAP_REG, 8);
        let (fro, n) = ((cap >> 24 & 0x3ff) * 16, (cap >> 40 & 0xff) + 1);
        let mut out = Vec::new();
        for i in 0..n {
            let at = fro + 16 * i;
            let bits =
                u128::from(unit.mmio_read(at, 8)) | u128::from(unit.mmio_read(at + 8, 8)) << 64;
            let r = Frcd::from_bits(bits);
            if r.f() {
                assert_eq!(r.sid(), RID.source_id());
                let reason = FaultReason::from_code(r.fr()).unwrap();
                let write = r.kind() == RequestKind::Write;
                let want = if write {
                    FaultReason::Sgn6
                } else {
                    FaultReason::Sss2
                };
                assert_eq!(reason, want, "{reason}");
                out.push((r.fi() << 12, write));
                unit.mmio_write(at + 8, 8, 1 << 63);
            }
        }
        out
    }
}

#[test]
fn iommu_memory_translates_through_the_vtd_model() {
    // With the checking mode on, every access asks the model; with it off, pages the model
    // answered from its IOTLB are answered without asking it again.
    for checking in [true, false] {
        let g = guest();
        let v = VtdViommu::new(&g, VtdParams::default(), TABLES).unwrap();
        v.unit().set_checking(checking);
        let d = domain(v.os());
        let mem = memory(&g, v.iommu(RID, None));
        scenario(&g, &d, &mem, vtd_faults(&v));
        assert_eq!(v.unit().stale_count(), 0);
    }
}

/// SMMUv3's fault events, as the guest's event handler reads them.
fn smmu_faults(v: &SmmuViommu) -> impl FnMut() -> Vec<(u64, bool)> + use<> {
    let driver = v.driver().clone();
    let mut seen = 0;
    move || {
        let (events, overflow) = driver.events();
        assert!(!overflow);
        let new = events[seen..]
            .iter()
            .map(|e| {
                assert_eq!(e.sid, u32::from(RID.source_id()));
                let perm = e.id == EventId::Permission;
                assert!(perm || e.id == EventId::Translation, "{:?}", e.id);
                assert_eq!(
                    perm, !e.rnw,
                    "a write to a read-only page is a permission fault"
                );
                (e.addr & !0xfff, !e.rnw)
            })
            .collect();
        seen = events.len();
        new
    }
}

#[test]
fn iommu_memory_translates_through_the_smmu_model() {
    for checking in [true, false] {
        let g = guest();
        let v = SmmuViommu::new(&g, SmmuParams::full(), TABLES).unwrap();
        v.unit().set_checking(checking);
        let d = domain(v.os());
        let mem = memory(&g, v.iommu(RID, None));
        scenario(&g, &d, &mem, smmu_faults(&v));
        assert_eq!(v.unit().stale_count(), 0);
    }
}

/// A guest that remaps a page and forgets the invalidation: the device keeps reaching the
/// old page, as the model's IOTLB still holds it, however often it reads; once enough
/// other pages have pushed that entry out of the IOTLB, the model walks the guest's table
/// again and the device reaches the new page, even on a thread that has read the old page
/// before; the late invalidation changes nothing more.
fn forgotten_invalidation<I: Iommu>(g: &Guest, d: &Domain, mem: &IommuMemory<GuestMemoryMmap, I>) {
    let read = |iova: u64| {
        let mut b = [0u8; 9];
        mem.read_slice(&mut b, GuestAddress(iova)).unwrap();
        b
    };
    g.memory()
        .write_slice(b"new page!", GuestAddress(OTHER + 0x40))
        .unwrap();
    let old: [u8; 9] = ram(g, BUF + 0x40, 9).try_into().unwrap();
    d.map_sync(IOVA, BUF, 0x1000, Prot::RW).unwrap();
    for _ in 0..3 {
        assert_eq!(read(IOVA + 0x40), old);
    }
    let mut gather = Gather::new();
    assert_eq!(d.unmap(IOVA, 0x1000, &mut gather).unwrap(), 0x1000);
    d.map(IOVA, OTHER, 0x1000, Prot::RW, &mut Gather::new())
        .unwrap();
    for _ in 0..3 {
        assert_eq!(read(IOVA + 0x40), old, "the stale entry is in use");
    }
    // Four times the IOTLB's 4096 entries of other pages, each read once: each set is
    // refilled many times over. Their IOVAs and addresses differ modulo 2 MiB, so each is
    // a 4 KiB entry of its own.
    const SPAN: u64 = 16 << 20;
    const FAR: u64 = 0x1_0000_0000;
    for c in 0..4 {
        d.map_sync(FAR + c * SPAN, 0x1000, SPAN, Prot::READ)
            .unwrap();
    }
    // Read by another thread: what this one keeps of the model's answers is not disturbed.
    std::thread::scope(|s| {
        s.spawn(|| {
            for p in 0..(4 * SPAN) >> 12 {
                read(FAR + (p << 12));
            }
        });
    });
    assert_eq!(
        read(IOVA + 0x40),
        *b"new page!",
        "the evicted entry is walked again"
    );
    d.sync(&mut gather);
    assert_eq!(read(IOVA + 0x40), *b"new page!");
}

/// A stale entry in use at full speed; then the checking mode, turned on, finds it at the
/// next read.
fn checking_finds_a_stale_entry_in_use<I: Iommu>(
    g: &Guest,
    d: &Domain,
    mem: &IommuMemory<GuestMemoryMmap, I>,
    set_checking: impl Fn(bool),
    stale: impl Fn() -> u64,
) {
    let mut b = [0u8; 8];
    d.map_sync(IOVA, BUF, 0x1000, Prot::RW).unwrap();
    for _ in 0..3 {
        mem.read_slice(&mut b, GuestAddress(IOVA)).unwrap();
    }
    let mut gather = Gather::new();
    d.unmap(IOVA, 0x1000, &mut gather).unwrap();
    d.map(IOVA, OTHER, 0x1000, Prot::RW, &mut Gather::new())
        .unwrap();
    for _ in 0..3 {
        mem.read_slice(&mut b, GuestAddress(IOVA)).unwrap();
    }
    assert_eq!(b[..], ram(g, BUF, 8)[..]);
    assert_eq!(stale(), 0, "nothing checks while the mode is off");
    set_checking(true);
    mem.read_slice(&mut b, GuestAddress(IOVA)).unwrap();
    assert_eq!(b[..], ram(g, BUF, 8)[..], "the stale entry is still used");
    assert_eq!(stale(), 1, "and reported");
    d.sync(&mut gather);
}

#[test]
fn the_checking_mode_turned_on_sees_accesses_answered_before() {
    let g = guest();
    let v = VtdViommu::new(&g, VtdParams::default(), TABLES).unwrap();
    let (d, mem) = (domain(v.os()), memory(&g, v.iommu(RID, None)));
    let (set, stale) = (|on| v.unit().set_checking(on), || v.unit().stale_count());
    checking_finds_a_stale_entry_in_use(&g, &d, &mem, set, stale);

    let g = guest();
    let v = SmmuViommu::new(&g, SmmuParams::full(), TABLES).unwrap();
    let (d, mem) = (domain(v.os()), memory(&g, v.iommu(RID, None)));
    let (set, stale) = (|on| v.unit().set_checking(on), || v.unit().stale_count());
    checking_finds_a_stale_entry_in_use(&g, &d, &mem, set, stale);
}

#[test]
fn a_forgotten_invalidation_lasts_as_long_as_the_vtd_iotlb_entry() {
    let g = guest();
    let v = VtdViommu::new(&g, VtdParams::default(), TABLES).unwrap();
    let d = domain(v.os());
    forgotten_invalidation(&g, &d, &memory(&g, v.iommu(RID, None)));
    assert!(vtd_faults(&v)().is_empty());
}

#[test]
fn a_forgotten_invalidation_lasts_as_long_as_the_smmu_tlb_entry() {
    let g = guest();
    let v = SmmuViommu::new(&g, SmmuParams::full(), TABLES).unwrap();
    let d = domain(v.os());
    forgotten_invalidation(&g, &d, &memory(&g, v.iommu(RID, None)));
    assert!(smmu_faults(&v)().is_empty());
}

/// A device with PASIDs: its RID and PASID 7 in two domains mapping the same IOVA to
/// different guest pages; each adapter reaches its own, and an unattached PASID none.
fn pasids<I: Iommu>(g: &Guest, os: &GuestOs, view: impl Fn(Option<u32>) -> I) {
    let caps = DeviceCaps {
        pasid_bits: 20,
        ..DeviceCaps::default()
    };
    let dev = os.add_device(RID, caps).unwrap();
    let rid_domain = os.core().new_paging(dev, PagingRequest::default()).unwrap();
    os.core().attach(dev, &rid_domain).unwrap();
    rid_domain.map_sync(IOVA, BUF, 0x1000, Prot::RW).unwrap();
    let req = PagingRequest {
        pasid: true,
        ..PagingRequest::default()
    };
    let pasid_domain = os.core().new_paging(dev, req).unwrap();
    os.core().attach_pasid(dev, 7, &pasid_domain).unwrap();
    pasid_domain
        .map_sync(IOVA, OTHER, 0x1000, Prot::RW)
        .unwrap();
    g.memory()
        .write_slice(b"pasid 7", GuestAddress(OTHER + 0x40))
        .unwrap();

    let mut b = [0u8; 7];
    memory(g, view(Some(7)))
        .read_slice(&mut b, GuestAddress(IOVA + 0x40))
        .unwrap();
    assert_eq!(&b, b"pasid 7");
    memory(g, view(None))
        .read_slice(&mut b, GuestAddress(IOVA + 0x40))
        .unwrap();
    assert_eq!(b[..], ram(g, BUF + 0x40, 7)[..]);
    let other = memory(g, view(Some(8)));
    assert!(other.read_slice(&mut b, GuestAddress(IOVA + 0x40)).is_err());
}

#[test]
fn iommu_memory_translates_pasid_requests_through_the_vtd_model() {
    let g = guest();
    let v = VtdViommu::new(&g, VtdParams::default(), TABLES).unwrap();
    pasids(&g, v.os(), |p| v.iommu(RID, p));
}

#[test]
fn iommu_memory_translates_substream_requests_through_the_smmu_model() {
    let g = guest();
    let v = SmmuViommu::new(&g, SmmuParams::full(), TABLES).unwrap();
    pasids(&g, v.os(), |p| v.iommu(RID, p));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Random maps, unmaps, reads, writes and checking-mode turns on either model (the fuzz
    /// body `iommu_memory`): every access does what the pages mapped say.
    #[test]
    fn accesses_do_what_the_mapped_pages_say(
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..600)
    ) {
        softiommu_vmm::fuzz::iommu_memory(&data);
    }
}

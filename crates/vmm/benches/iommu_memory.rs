//! 4 KiB DMA reads through vm-memory's `IommuMemory` on IOTLB hits: translated by the VT-d
//! model, by the SMMUv3 model (each brought up by its driver over the guest's RAM), and by
//! vm-memory's own `Iotlb` holding the same mappings, in one run.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::{RwLock, RwLockReadGuard};

use criterion::{Criterion, criterion_group, criterion_main};
use softiommu_core::{DeviceCaps, PagingRequest, Rid};
use softiommu_pgtable::Prot;
use softiommu_smmuv3::regs::SmmuParams;
use softiommu_vmm::Guest;
use softiommu_vmm::viommu::{GuestOs, SmmuViommu, VtdViommu};
use softiommu_vtd::regs::VtdParams;
use vm_memory::iommu::{Error, Iommu, IommuMemory, Iotlb, IotlbIterator, IovaRange};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap, Permissions};

const RID: Rid = Rid::new(0, 0, 3, 0);
const TABLES: (u64, u64) = (48 << 20, 16 << 20);
const IOVA: u64 = 0x4000_0000;
const GPA: u64 = 0x10_0000;
const PAGES: u64 = 64;

/// vm-memory's own IOTLB, filled with the mappings up front.
#[derive(Debug)]
struct Plain(RwLock<Iotlb>);

impl Iommu for Plain {
    type IotlbGuard<'a> = RwLockReadGuard<'a, Iotlb>;

    fn translate(
        &self,
        iova: GuestAddress,
        length: usize,
        access: Permissions,
    ) -> Result<IotlbIterator<Self::IotlbGuard<'_>>, Error> {
        let tlb = self.0.read().unwrap();
        Iotlb::lookup(tlb, iova, length, access).map_err(|_| Error::CannotResolve {
            iova_range: IovaRange { base: iova, length },
            reason: "miss".into(),
        })
    }
}

fn map(os: &GuestOs) -> std::sync::Arc<softiommu_core::Domain> {
    let dev = os.add_device(RID, DeviceCaps::default()).unwrap();
    let d = os.core().new_paging(dev, PagingRequest::default()).unwrap();
    os.core().attach(dev, &d).unwrap();
    d.map_sync(IOVA, GPA, PAGES << 12, Prot::RW).unwrap();
    d
}

fn reads<I: Iommu>(c: &mut Criterion, name: &str, mem: &IommuMemory<GuestMemoryMmap, I>) {
    let mut buf = vec![0u8; 4096];
    // Warm the IOTLB.
    for p in 0..PAGES {
        mem.read_slice(&mut buf, GuestAddress(IOVA + (p << 12)))
            .unwrap();
    }
    let mut p = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            p = (p + 1) % PAGES;
            mem.read_slice(&mut buf, GuestAddress(IOVA + (p << 12)))
                .unwrap();
            black_box(&buf);
        })
    });
}

fn bench(c: &mut Criterion) {
    let guest = Guest::new(&[(0, 64 << 20)]).unwrap();
    let ram = guest.memory().clone();

    let mut tlb = Iotlb::new();
    for p in 0..PAGES {
        let (iova, gpa) = (IOVA + (p << 12), GPA + (p << 12));
        tlb.set_mapping(
            GuestAddress(iova),
            GuestAddress(gpa),
            4096,
            Permissions::ReadWrite,
        )
        .unwrap();
    }
    let plain = IommuMemory::new(ram.clone(), Plain(RwLock::new(tlb)), true, ());
    reads(c, "read_4k/vm-memory Iotlb", &plain);

    let vtd = VtdViommu::new(&guest, VtdParams::default(), TABLES).unwrap();
    let _vtd_domain = map(vtd.os());
    let mem = IommuMemory::new(ram.clone(), vtd.iommu(RID, None), true, ());
    reads(c, "read_4k/VT-d model", &mem);

    let guest2 = Guest::new(&[(0, 64 << 20)]).unwrap();
    let smmu = SmmuViommu::new(&guest2, SmmuParams::full(), TABLES).unwrap();
    let _smmu_domain = map(smmu.os());
    let mem = IommuMemory::new(guest2.memory().clone(), smmu.iommu(RID, None), true, ());
    reads(c, "read_4k/SMMUv3 model", &mem);
}

criterion_group!(benches, bench);
criterion_main!(benches);

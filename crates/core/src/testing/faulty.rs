//! Misbehaving hardware for drivers' robustness tests: a register frame whose accesses a
//! test rewrites or drops ([`RegisterFaults`]), and memory whose small writes do not land
//! ([`FaultyMem`]). A driver crate's tests put them at its driver's seams (its MMIO accessor
//! and the memory its unit writes). The checks every such test makes through the core are
//! here too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use softiommu_mem::AddressSpace;
use softiommu_pgtable::{Access, Prot};

use crate::{
    CoreError, DeviceCaps, DeviceDesc, DeviceId, DmaFaultKind, HwError, InstanceId, Iommu, Mem,
    PagingRequest, Rid, Topology,
};

/// What is done to the accesses at one register offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Fault {
    /// Bits whose reads are stuck.
    mask: u64,
    /// The values they are stuck at.
    value: u64,
    /// Writes are dropped.
    drop_writes: bool,
}

/// Faults injected into the register accesses of one unit, offset by offset, and a count of
/// the reads of each offset (to see how long a driver polled).
#[derive(Debug, Default)]
pub struct RegisterFaults {
    faults: Mutex<HashMap<u64, Fault>>,
    reads: Mutex<HashMap<u64, u64>>,
}

impl RegisterFaults {
    /// No faults yet.
    pub fn new() -> RegisterFaults {
        RegisterFaults::default()
    }

    /// From now on, reads at `offset` see the bits of `mask` as they are in `value`.
    pub fn stick(&self, offset: u64, mask: u64, value: u64) {
        let mut f = self.faults.lock();
        let e = f.entry(offset).or_default();
        e.mask = mask;
        e.value = value & mask;
    }

    /// From now on, reads at `offset` return `value`.
    pub fn set(&self, offset: u64, value: u64) {
        self.stick(offset, u64::MAX, value);
    }

    /// From now on, writes at `offset` are dropped.
    pub fn drop_writes(&self, offset: u64) {
        self.faults.lock().entry(offset).or_default().drop_writes = true;
    }

    /// The register at `offset` behaves again.
    pub fn heal(&self, offset: u64) {
        self.faults.lock().remove(&offset);
    }

    /// Every register behaves again.
    pub fn heal_all(&self) {
        self.faults.lock().clear();
    }

    /// How many reads were made at `offset` so far.
    pub fn reads(&self, offset: u64) -> u64 {
        self.reads.lock().get(&offset).copied().unwrap_or(0)
    }

    /// A read at `offset`, `real` being what the unit answers.
    pub fn read(&self, offset: u64, real: impl FnOnce() -> u64) -> u64 {
        *self.reads.lock().entry(offset).or_default() += 1;
        let f = self.faults.lock().get(&offset).copied().unwrap_or_default();
        (real() & !f.mask) | f.value
    }

    /// A write of `value` at `offset`, `real` making it reach the unit.
    pub fn write(&self, offset: u64, value: u64, real: impl FnOnce(u64)) {
        let drop = self
            .faults
            .lock()
            .get(&offset)
            .is_some_and(|f| f.drop_writes);
        if !drop {
            real(value);
        }
    }
}

/// Memory that drops, while armed, every byte-wise write of one length: a unit's status
/// writes (a VT-d invalidation wait's 4-byte status data, an SMMUv3 `CMD_SYNC` MSI's 4-byte
/// data) then never land. Word accesses ([`AddressSpace::words`] and what is built on it)
/// always reach the memory.
#[derive(Clone)]
pub struct FaultyMem {
    inner: Mem,
    armed: std::sync::Arc<AtomicBool>,
    len: std::sync::Arc<AtomicU64>,
}

impl std::fmt::Debug for FaultyMem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyMem")
            .field("armed", &self.armed.load(Ordering::Relaxed))
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl FaultyMem {
    /// `inner`, with nothing dropped yet.
    pub fn new(inner: Mem) -> FaultyMem {
        FaultyMem {
            inner,
            armed: Default::default(),
            len: Default::default(),
        }
    }

    /// From now on, writes of exactly `len` bytes do not land.
    pub fn drop_writes_of(&self, len: u64) {
        self.len.store(len, Ordering::Relaxed);
        self.armed.store(true, Ordering::Release);
    }

    /// Writes land again.
    pub fn heal(&self) {
        self.armed.store(false, Ordering::Release);
    }
}

impl AddressSpace for FaultyMem {
    fn words(&self, pa: u64, count: usize) -> softiommu_mem::Result<&[AtomicU64]> {
        self.inner.words(pa, count)
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> softiommu_mem::Result<()> {
        self.inner.read(pa, buf)
    }

    fn write(&self, pa: u64, buf: &[u8]) -> softiommu_mem::Result<()> {
        if self.armed.load(Ordering::Acquire)
            && buf.len() as u64 == self.len.load(Ordering::Relaxed)
        {
            return Ok(());
        }
        self.inner.write(pa, buf)
    }
}

/// The memory of a faulty platform: RAM from address 0, table pages from its upper part,
/// the same RAM behind a [`FaultyMem`] for the unit, and register faults for its registers.
pub struct FaultyPlatform {
    /// The RAM, as software sees it.
    pub mem: Mem,
    /// Table pages, from `[tables, ram)`.
    pub alloc: crate::TableAlloc,
    /// The RAM as the unit writes it.
    pub faulty_mem: FaultyMem,
    /// The faults of the unit's registers (none yet).
    pub faults: std::sync::Arc<RegisterFaults>,
}

impl FaultyPlatform {
    /// `ram` bytes of RAM, table pages from `tables` up. Panics if they cannot be had.
    pub fn new(ram: u64, tables: u64) -> FaultyPlatform {
        let mem: Mem = std::sync::Arc::new(softiommu_mem::RamArena::new(0, ram).expect("RAM"));
        let alloc: crate::TableAlloc = std::sync::Arc::new(
            softiommu_mem::PageAlloc::new(mem.clone(), tables, ram - tables).expect("table pages"),
        );
        FaultyPlatform {
            faulty_mem: FaultyMem::new(mem.clone()),
            mem,
            alloc,
            faults: Default::default(),
        }
    }
}

/// Whether `r` failed with a [`HwError::Timeout`].
pub fn is_timeout<T>(r: &crate::Result<T>) -> bool {
    matches!(r, Err(CoreError::Hardware(HwError::Timeout { .. })))
}

/// Whether `r` failed with a [`HwError::BadRegister`] naming `register`.
pub fn is_bad_register<T>(r: &crate::Result<T>, register: &str) -> bool {
    matches!(r, Err(CoreError::Hardware(HwError::BadRegister { register: n, .. })) if *n == register)
}

/// Adds one device at `rid` of instance `inst`, with 20-bit PASIDs, ATS and PRI.
pub fn add_device(iommu: &Iommu, inst: InstanceId, rid: Rid) -> crate::Result<DeviceId> {
    let desc = DeviceDesc {
        rid,
        instance: inst,
        caps: DeviceCaps {
            pasid_bits: 20,
            ats: true,
            pri: true,
        },
        bridge: None,
        alias: None,
    };
    Ok(iommu.add_devices(&Topology {
        bridges: vec![],
        devices: vec![desc],
    })?[0])
}

/// IOVA of the page [`unmap_reaches_the_tlb`] and [`map_attach_unmap`] map.
const IOVA: u64 = 0x1000;
/// Where that page goes.
const PA: u64 = 0x20_0000;

/// Maps one page in a new paging domain, attaches `dev` to it and unmaps the page again:
/// the calls a driver must answer however its hardware behaves. Panics if the core refuses
/// one of them.
pub fn map_attach_unmap(iommu: &Iommu, dev: DeviceId) {
    let d = iommu
        .new_paging(dev, PagingRequest::default())
        .expect("a paging domain");
    d.map_sync(IOVA, PA, 0x1000, Prot::RW).expect("map");
    iommu.attach(dev, &d).expect("attach");
    d.unmap_sync(IOVA, 0x1000).expect("unmap");
}

/// Maps one page for `dev`, checks that DMA reaches it, unmaps it and checks that DMA
/// faults: the unmap's invalidation reached the hardware's TLB. Panics otherwise.
pub fn unmap_reaches_the_tlb(iommu: &Iommu, dev: DeviceId) {
    let d = iommu
        .new_paging(dev, PagingRequest::default())
        .expect("a paging domain");
    d.map_sync(IOVA, PA, 0x1000, Prot::RW).expect("map");
    iommu.attach(dev, &d).expect("attach");
    let t = iommu
        .dma(dev, None, IOVA, Access::READ)
        .expect("DMA to a mapped page");
    assert_eq!(t.pa, PA, "DMA translated elsewhere");
    d.unmap_sync(IOVA, 0x1000).expect("unmap");
    let f = iommu
        .dma(dev, None, IOVA, Access::READ)
        .expect_err("DMA after the unmap");
    assert_eq!(f.kind, DmaFaultKind::NotPresent, "DMA after the unmap");
}

//! The platform the behaviour tests run on, behind a trait so that every driver runs the same
//! tests.
//!
//! A [`Harness`] builds a [`Platform`]: an [`Iommu`] over RAM, with IOMMU instances of the
//! capabilities a test asks for ([`InstSpec`]), run by one driver. Everything a test needs
//! from the driver side — instances of given capabilities, devices, DMA, memory, the page
//! responses a device received, the driver's cache counters — goes through the platform, so
//! the test bodies never name a driver. [`behaviour_tests!`](crate::behaviour_tests) runs every behaviour test once
//! per harness.
//!
//! The reference driver's harnesses are here ([`RefHarness`]); a driver crate adds its own
//! and runs the same tests from its own `tests/`.

use std::ops::Range;
use std::sync::Arc;

use super::IrqLine;
use crate::reference::{RefConfig, RefIommu};
use crate::{
    DeviceCaps, DeviceDesc, DeviceId, DmaFault, DmaFaultKind, DmaTranslation, InstanceId, Iommu,
    Mem, PageResponse, Pasid, Result, Rid, TableAlloc, Topology,
};
use parking_lot::Mutex;
use softiommu_devices::bus::Upstream;
use softiommu_mem::{AddressSpace, PageAlloc, RamArena};
use softiommu_pgtable::Access;
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};

/// Size of every mapping the tests make: a multiple of every page size a harness uses (64 KiB
/// granules included), so the same test maps on every platform.
pub const PAGE: u64 = 0x1_0000;

/// How an instance compares with the family's usual one, for the tests of S3
/// (`docs/design.md`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    /// The family's usual instance.
    Full,
    /// A smaller input range than [`Shape::Full`]: it refuses domains made on a full instance,
    /// and a full instance takes the domains made on it.
    Narrow,
    /// Other page sizes and input range than [`Shape::Full`]: each refuses the other's
    /// domains.
    Other,
}

/// The capabilities a test asks of one IOMMU instance.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct InstSpec {
    /// How it compares with the family's usual instance.
    pub shape: Shape,
    /// PASID width (0: no PASIDs).
    pub pasid_bits: u8,
    /// Shared virtual addressing.
    pub sva: bool,
    /// Page requests.
    pub pri: bool,
    /// ATS.
    pub ats: bool,
    /// Nested translation.
    pub nesting: bool,
}

impl InstSpec {
    /// An instance with everything: 20-bit PASIDs, SVA, PRI, ATS, nesting.
    pub const fn full() -> InstSpec {
        InstSpec {
            shape: Shape::Full,
            pasid_bits: 20,
            sva: true,
            pri: true,
            ats: true,
            nesting: true,
        }
    }

    /// The same with another shape.
    pub const fn shape(self, shape: Shape) -> InstSpec {
        InstSpec { shape, ..self }
    }

    /// The same with another PASID width.
    pub const fn pasid_bits(self, pasid_bits: u8) -> InstSpec {
        InstSpec { pasid_bits, ..self }
    }

    /// The same without SVA.
    pub const fn no_sva(self) -> InstSpec {
        InstSpec { sva: false, ..self }
    }

    /// The same without page requests.
    pub const fn no_pri(self) -> InstSpec {
        InstSpec { pri: false, ..self }
    }

    /// The same without ATS.
    pub const fn no_ats(self) -> InstSpec {
        InstSpec { ats: false, ..self }
    }

    /// The same without nesting.
    pub const fn no_nesting(self) -> InstSpec {
        InstSpec {
            nesting: false,
            ..self
        }
    }
}

/// A device with 20-bit PASIDs, ATS and page requests.
pub const DEV: DeviceCaps = DeviceCaps {
    pasid_bits: 20,
    ats: true,
    pri: true,
};

/// What a driver's caches did, as far as the harness can tell.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CacheStats {
    /// Invalidations the core asked of the instance.
    pub flushes: u64,
    /// DMA requests answered from the instance's TLB.
    pub hits: u64,
    /// DMA requests that walked the tables.
    pub walks: u64,
}

/// The driver side of a platform: how devices are added and issue DMA, and what the driver
/// can report. The defaults go through the core's calls.
pub trait DriverSide: Send + Sync {
    /// Adds the devices of `topo` (a hardware model may have to wire them up too).
    fn add_devices(&self, iommu: &Iommu, topo: &Topology) -> Result<Vec<DeviceId>> {
        iommu.add_devices(topo)
    }

    /// One DMA request of `dev`, as the device issues it.
    fn dma(
        &self,
        iommu: &Iommu,
        dev: DeviceId,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        iommu.dma(dev, pasid, iova, access)
    }

    /// One DMA request from a device that asks for missing pages and retries once.
    fn dma_with_page_request(
        &self,
        iommu: &Iommu,
        dev: DeviceId,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        iommu.dma_with_page_request(dev, pasid, iova, access)
    }

    /// The page responses instance `inst` sent to devices, oldest first.
    fn page_responses(&self, inst: InstanceId) -> Vec<PageResponse>;

    /// The cache counters of instance `inst`, if the driver keeps them.
    fn stats(&self, inst: InstanceId) -> Option<CacheStats>;

    /// The bus instance `inst` serves, on which a device model's DMA reaches it, if the
    /// driver runs a hardware model that has one.
    fn upstream(&self, inst: InstanceId) -> Option<Arc<dyn Upstream>> {
        let _ = inst;
        None
    }

    /// The DMA faults instance `inst` has recorded (fault records, events) and still holds,
    /// oldest first.
    fn recorded_faults(&self, inst: InstanceId) -> Vec<RecordedFault> {
        let _ = inst;
        Vec::new()
    }

    /// The line instance `inst` raises when it has queued page requests (the VT-d
    /// page-request event, the SMMUv3 PRI queue interrupt), if the driver runs a model
    /// that has one.
    fn page_request_irq(&self, inst: InstanceId) -> Option<Arc<IrqLine>> {
        let _ = inst;
        None
    }
}

/// A DMA fault as an IOMMU recorded it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecordedFault {
    /// Requester ID of the faulting request.
    pub rid: u16,
    /// Its PASID, if it carried one.
    pub pasid: Option<u32>,
    /// The faulting address (bits 11:0 cleared where the record does not keep them).
    pub addr: u64,
    /// The request was a write.
    pub write: bool,
}

/// Builds platforms for the behaviour tests.
pub trait Harness {
    /// A fresh platform whose instances have the capabilities of `specs`, in order.
    fn platform(&self, specs: &[InstSpec]) -> Platform;

    /// Whether the driver takes a user-owned PASID table as a nested domain
    /// ([`NestedData::PasidTable`](crate::NestedData::PasidTable), the SMMUv3 model). A
    /// driver without it (VT-d nests one stage-1 table) must refuse to attach one with
    /// [`CoreError::Incompatible`](crate::CoreError::Incompatible), which the tests then
    /// check instead.
    fn nested_pasid_table(&self) -> bool {
        true
    }

    /// Whether the driver takes a single user stage-1 table over a nesting parent
    /// ([`NestedData::Stage1`](crate::NestedData::Stage1), the VT-d model). A driver that
    /// nests only whole PASID tables (SMMUv3, whose stage 2 is per stream) refuses it with
    /// [`CoreError::Incompatible`](crate::CoreError::Incompatible), which S8
    /// (`docs/design.md`) then checks.
    fn nested_stage1(&self) -> bool {
        true
    }

    /// Writes entry `index` of a user-owned PASID table at `table` (guest memory, 4 KiB):
    /// stage-1 root `root`, valid or not, in the format the family's hardware walks. The
    /// default is the format [`NestedData::PasidTable`](crate::NestedData::PasidTable) names
    /// (64-bit entries, bit 0 valid); an SMMUv3 harness writes a context descriptor.
    fn write_pasid_entry(&self, p: &Platform, table: u64, index: u32, root: u64, valid: bool) {
        p.mem()
            .store_u64(table + 8 * u64::from(index), root | u64::from(valid))
            .expect("guest memory");
    }
}

/// An IOMMU core with its instances, its RAM, and the driver side.
pub struct Platform {
    /// The core.
    pub iommu: Iommu,
    /// The instances, in the order of the specs.
    pub inst: Vec<InstanceId>,
    /// The format of process tables (SVA) and of a guest's stage-1 tables on this family:
    /// x86-64 on Intel, Arm stage 1 on Arm.
    pub stage1: AnyFormat,
    side: Box<dyn DriverSide>,
    /// RAM that no table or hardware structure uses, for the tests' data and guest memory.
    free: Mutex<Range<u64>>,
    next_rid: Mutex<u16>,
}

impl Platform {
    /// A platform from its parts; `free` is RAM the tests may use as they like.
    pub fn new(
        iommu: Iommu,
        inst: Vec<InstanceId>,
        stage1: AnyFormat,
        side: Box<dyn DriverSide>,
        free: Range<u64>,
    ) -> Platform {
        Platform {
            iommu,
            inst,
            stage1,
            side,
            free: Mutex::new(free),
            next_rid: Mutex::new(0x100),
        }
    }

    /// Physical memory.
    pub fn mem(&self) -> &Mem {
        self.iommu.mem()
    }

    /// `size` bytes of free RAM, aligned to `size` rounded up to a power of two (64 KiB at
    /// least), zeroed.
    pub fn alloc(&self, size: u64) -> u64 {
        let align = size.next_power_of_two().max(PAGE);
        let mut f = self.free.lock();
        let at = f.start.next_multiple_of(align);
        assert!(at + size <= f.end, "the platform's free RAM is used up");
        f.start = at + size;
        self.mem().fill(at, size, 0).expect("free RAM is backed");
        at
    }

    /// A requester ID no device has yet.
    pub fn rid(&self) -> Rid {
        let mut n = self.next_rid.lock();
        let r = *n;
        *n += 1;
        Rid::new(0, (r >> 8) as u8, ((r >> 3) & 0x1f) as u8, (r & 7) as u8)
    }

    /// A device description behind instance `inst` (an index into the specs) with `caps`, a
    /// fresh RID, no bridge and no alias.
    pub fn desc(&self, inst: usize, caps: DeviceCaps) -> DeviceDesc {
        DeviceDesc {
            rid: self.rid(),
            instance: self.inst[inst],
            caps,
            bridge: None,
            alias: None,
        }
    }

    /// Adds the devices of `topo`.
    pub fn add_topology(&self, topo: &Topology) -> Result<Vec<DeviceId>> {
        self.side.add_devices(&self.iommu, topo)
    }

    /// Adds one device per `(instance index, caps)`, each in its own group.
    pub fn devices<const N: usize>(&self, list: [(usize, DeviceCaps); N]) -> [DeviceId; N] {
        let topo = Topology {
            bridges: Vec::new(),
            devices: list.iter().map(|&(i, c)| self.desc(i, c)).collect(),
        };
        let ids = self.add_topology(&topo).expect("devices added");
        ids.try_into().expect("one handle per device")
    }

    /// One DMA request.
    pub fn dma(
        &self,
        dev: DeviceId,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        self.side.dma(&self.iommu, dev, pasid, iova, access)
    }

    /// One DMA request from a device with page requests.
    pub fn dma_with_page_request(
        &self,
        dev: DeviceId,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        self.side
            .dma_with_page_request(&self.iommu, dev, pasid, iova, access)
    }

    /// The physical address a read of `iova` reaches; panics if it faults.
    #[track_caller]
    pub fn pa(&self, dev: DeviceId, pasid: Option<Pasid>, iova: u64) -> u64 {
        match self.dma(dev, pasid, iova, Access::READ) {
            Ok(t) => t.pa,
            Err(f) => panic!("{dev} {pasid:?} {iova:#x}: expected a translation, got {f:?}"),
        }
    }

    /// The fault a read of `iova` gets; panics if it translates.
    #[track_caller]
    pub fn fault(&self, dev: DeviceId, pasid: Option<Pasid>, iova: u64) -> DmaFault {
        self.fault_on(dev, pasid, iova, Access::READ)
    }

    /// The fault an access to `iova` gets; panics if it translates.
    #[track_caller]
    pub fn fault_on(
        &self,
        dev: DeviceId,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> DmaFault {
        match self.dma(dev, pasid, iova, access) {
            Ok(t) => panic!(
                "{dev} {pasid:?} {iova:#x}: expected a fault, got a translation to {:#x}",
                t.pa
            ),
            Err(f) => f,
        }
    }

    /// The kind of fault a read of `iova` gets; panics if it translates.
    #[track_caller]
    pub fn fault_kind(&self, dev: DeviceId, pasid: Option<Pasid>, iova: u64) -> DmaFaultKind {
        self.fault(dev, pasid, iova).kind
    }

    /// Writes `data` at `iova` by DMA, translation by translation.
    pub fn dma_write(
        &self,
        dev: DeviceId,
        pasid: Option<Pasid>,
        iova: u64,
        data: &[u8],
    ) -> std::result::Result<(), DmaFault> {
        let mut done = 0;
        while done < data.len() {
            let t = self.dma(dev, pasid, iova + done as u64, Access::WRITE)?;
            let n = (t.len as usize).min(data.len() - done);
            self.mem()
                .write(t.pa, &data[done..done + n])
                .expect("DMA reaches RAM");
            done += n;
        }
        Ok(())
    }

    /// Reads `len` bytes at `iova` by DMA.
    pub fn dma_read(
        &self,
        dev: DeviceId,
        pasid: Option<Pasid>,
        iova: u64,
        len: usize,
    ) -> std::result::Result<Vec<u8>, DmaFault> {
        let mut out = vec![0; len];
        let mut done = 0;
        while done < len {
            let t = self.dma(dev, pasid, iova + done as u64, Access::READ)?;
            let n = (t.len as usize).min(len - done);
            self.mem()
                .read(t.pa, &mut out[done..done + n])
                .expect("DMA reaches RAM");
            done += n;
        }
        Ok(out)
    }

    /// Reads `len` bytes of physical memory.
    pub fn read(&self, pa: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.mem().read(pa, &mut out).expect("RAM");
        out
    }

    /// The page responses instance `inst` (an index into the specs) sent.
    pub fn page_responses(&self, inst: usize) -> Vec<PageResponse> {
        self.side.page_responses(self.inst[inst])
    }

    /// The cache counters of instance `inst` (an index into the specs), if the driver keeps
    /// them.
    pub fn stats(&self, inst: usize) -> Option<CacheStats> {
        self.side.stats(self.inst[inst])
    }

    /// The bus instance `inst` (an index into the specs) serves, if the driver has one.
    pub fn upstream(&self, inst: usize) -> Option<Arc<dyn Upstream>> {
        self.side.upstream(self.inst[inst])
    }

    /// The DMA faults instance `inst` (an index into the specs) has recorded and still holds.
    pub fn recorded_faults(&self, inst: usize) -> Vec<RecordedFault> {
        self.side.recorded_faults(self.inst[inst])
    }

    /// The page-request interrupt line of instance `inst` (an index into the specs), if the
    /// driver has one.
    pub fn page_request_irq(&self, inst: usize) -> Option<Arc<IrqLine>> {
        self.side.page_request_irq(self.inst[inst])
    }
}

/// Bytes of a platform's RAM (one lazily populated arena from address 0).
pub const RAM: u64 = 1 << 30;
/// A platform's free RAM, for the tests' data: `[FREE, RAM)`. Tables and hardware structures
/// sit below.
pub const FREE: u64 = 256 << 20;

/// A platform's RAM, the allocator of table pages carved from `tables` (below [`FREE`]), and
/// the core over them.
pub fn platform_memory(tables: Range<u64>) -> (Mem, TableAlloc, Iommu) {
    assert!(tables.end <= FREE, "table pages below the free RAM");
    let mem: Mem = Arc::new(RamArena::new(0, RAM).expect("RAM arena"));
    let alloc: TableAlloc = Arc::new(
        PageAlloc::new(mem.clone(), tables.start, tables.end - tables.start).expect("table pages"),
    );
    let iommu = Iommu::new(mem.clone(), alloc.clone());
    (mem, alloc, iommu)
}

// ------------------------------------------------------------------------------------------
// The reference driver.

/// Table pages (and SVA data pages) come from `[0, TABLES)`.
const TABLES: u64 = 64 << 20;

/// The reference driver, with its private table format or with a hardware format.
#[derive(Clone, Copy, Debug)]
pub enum RefHarness {
    /// Paging domains in the driver's private format (any page size, an aperture).
    Private,
    /// Paging domains in the VT-d second-stage format, x86-64 first stage at PASIDs.
    VtdSs,
    /// Paging domains in the Arm stage-1 format.
    ArmS1,
}

fn x86(levels: u8, pages_1g: bool) -> AnyFormat {
    X86::new(X86Config {
        levels,
        pages_1g,
        ..X86Config::default()
    })
    .expect("x86 format")
    .into()
}

fn vtd_ss(levels: u8, large_pages: bool) -> AnyFormat {
    VtdSs::new(VtdSsConfig {
        levels,
        pages_2m: large_pages,
        pages_1g: large_pages,
        ..VtdSsConfig::default()
    })
    .expect("VT-d second-stage format")
    .into()
}

fn arm_s1(granule: Granule, ia_bits: u8) -> AnyFormat {
    ArmS1::new(ArmS1Config {
        granule,
        ia_bits,
        ..ArmS1Config::default()
    })
    .expect("Arm stage-1 format")
    .into()
}

impl RefHarness {
    fn config(self, spec: &InstSpec) -> RefConfig {
        let mut c = RefConfig {
            pasid_bits: spec.pasid_bits,
            sva: spec.sva,
            pri: spec.pri,
            ats: spec.ats,
            nesting: spec.nesting,
            ..RefConfig::default()
        };
        match (self, spec.shape) {
            (RefHarness::Private, Shape::Full) => {}
            (RefHarness::Private, Shape::Narrow) => c.aperture = 0..1 << 39,
            (RefHarness::Private, Shape::Other) => c.page_size = 16 << 10,
            (RefHarness::VtdSs, Shape::Full) => {
                c.format = Some(vtd_ss(4, true));
                c.pasid_format = Some(x86(4, true));
            }
            (RefHarness::VtdSs, Shape::Narrow) => c.format = Some(vtd_ss(3, true)),
            (RefHarness::VtdSs, Shape::Other) => {
                c.format = Some(vtd_ss(5, false));
                c.pasid_format = Some(x86(5, false));
            }
            (RefHarness::ArmS1, Shape::Full) => c.format = Some(arm_s1(Granule::K4, 48)),
            (RefHarness::ArmS1, Shape::Narrow) => c.format = Some(arm_s1(Granule::K4, 39)),
            (RefHarness::ArmS1, Shape::Other) => c.format = Some(arm_s1(Granule::K64, 48)),
        }
        c
    }

    fn stage1(self) -> AnyFormat {
        match self {
            RefHarness::Private | RefHarness::VtdSs => x86(4, true),
            RefHarness::ArmS1 => arm_s1(Granule::K4, 48),
        }
    }
}

struct RefSide {
    drivers: Vec<(InstanceId, Arc<RefIommu>)>,
}

impl RefSide {
    fn driver(&self, inst: InstanceId) -> &RefIommu {
        &self
            .drivers
            .iter()
            .find(|(i, _)| *i == inst)
            .expect("an instance of this platform")
            .1
    }
}

impl DriverSide for RefSide {
    fn page_responses(&self, inst: InstanceId) -> Vec<PageResponse> {
        self.driver(inst).responses()
    }

    fn stats(&self, inst: InstanceId) -> Option<CacheStats> {
        let s = self.driver(inst).stats();
        Some(CacheStats {
            flushes: s.flushes,
            hits: s.tlb_hits,
            walks: s.walks,
        })
    }
}

impl Harness for RefHarness {
    fn platform(&self, specs: &[InstSpec]) -> Platform {
        let (mem, _, iommu) = platform_memory(0..TABLES);
        let mut drivers = Vec::new();
        for spec in specs {
            let drv = RefIommu::new(self.config(spec), mem.clone()).expect("reference instance");
            drivers.push((iommu.add_instance(drv.clone()), drv));
        }
        let inst = drivers.iter().map(|(i, _)| *i).collect();
        Platform::new(
            iommu,
            inst,
            self.stage1(),
            Box::new(RefSide { drivers }),
            FREE..RAM,
        )
    }
}

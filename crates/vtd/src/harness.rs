//! The VT-d platform the behaviour tests, the driver tests, the end-to-end scenarios and the
//! fuzz targets run on (feature `testing`): a platform of VT-d units (the model, its checking
//! mode and statistics on) each under a [`VtdDriver`], built from the behaviours' instance
//! specs. What the core sees of each driver can be wrapped (the Linux differential
//! test checks every entry the driver writes through such a wrapper).

#![allow(clippy::expect_used)]

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::testing::{
    CacheStats, DriverSide, FREE, Harness, InstSpec, IrqLine, Platform, RAM, RecordedFault, Shape,
    platform_memory,
};
use softiommu_core::{
    DeviceId, InstanceId, Iommu, IommuDriver, Mem, PageResponse, ResponseCode, Result, Topology,
};
use softiommu_devices::bus::{PageResponseCode, Upstream};
pub use softiommu_devices::testing::BusLog;
use softiommu_pgtable::formats::x86::{X86, X86Config};

use crate::desc::ResponseCode as VtdCode;
use crate::driver::VtdDriver;
use crate::model::{DeviceMessage, VtdUnit};
use crate::regs::{Event, Frcd, RequestKind, VtdParams};

/// Table pages and the units' structures come from here.
const TABLES: std::ops::Range<u64> = (8 << 20)..(64 << 20);

/// VT-d units built from the specs: [`Shape::Full`] is the default modern unit (3- and
/// 4-level second stage, MGAW 48, 2 MiB and 1 GiB pages); [`Shape::Narrow`] has only a
/// 3-level second stage and MGAW 39; [`Shape::Other`] has other page sizes and input range
/// at the second stage: no large pages, and only a 5-level second stage (MGAW 57). Every
/// shape has the same first stage (4- and 5-level x86-64 with 1 GiB pages), so that one
/// process address space binds on all of them, as one CPU's page tables do on every unit
/// of a machine (Linux refuses SVA on a unit without FS1GP when the CPU has 1 GiB pages).
pub struct VtdHarness {
    /// What the core is given for each driver, with the platform's memory.
    pub wrap: fn(Arc<VtdDriver<Mem>>, Mem) -> Arc<dyn IommuDriver>,
    /// The units compare every IOTLB hit with a fresh walk and count what they do (off for
    /// speed measurements).
    pub checking: bool,
}

impl VtdHarness {
    /// The harness whose drivers the core uses as they are.
    pub const fn plain() -> VtdHarness {
        VtdHarness {
            wrap: |driver, _| driver,
            checking: true,
        }
    }

    /// The plain harness with the units' checking mode and statistics off (for the benches).
    pub const fn unchecked() -> VtdHarness {
        VtdHarness {
            checking: false,
            ..VtdHarness::plain()
        }
    }

    /// The unit parameters of `spec`.
    pub fn params(spec: &InstSpec) -> VtdParams {
        let mut p = VtdParams {
            pasid_bits: spec.pasid_bits,
            // SVA is first-stage tables and page requests; nesting needs the first stage too.
            first_stage: spec.sva || spec.nesting,
            // Page requests need device-TLBs (ECAP.PRS needs ECAP.DT).
            page_requests: spec.pri && spec.ats,
            device_tlb: spec.ats,
            nesting: spec.nesting,
            ..VtdParams::default()
        };
        match spec.shape {
            Shape::Full => {}
            Shape::Narrow => {
                p.ss_3level = true;
                p.ss_4level = false;
                p.ss_5level = false;
                p.mgaw = 39;
            }
            Shape::Other => {
                p.ss_3level = false;
                p.ss_4level = false;
                p.ss_5level = true;
                p.mgaw = 57;
                p.ss_2m = false;
                p.ss_1g = false;
            }
        }
        p
    }
}

struct Unit {
    inst: InstanceId,
    /// What the unit sent to the platform's devices, attached on the bus.
    bus: Arc<BusLog>,
    unit: Arc<VtdUnit<Mem>>,
    /// The page-request event's interrupt.
    prq_irq: Arc<IrqLine>,
}

struct VtdSide {
    units: Vec<Unit>,
    /// Every device added: (instance, source-ID, handle).
    devices: Mutex<Vec<(InstanceId, u16, DeviceId)>>,
}

impl DriverSide for VtdSide {
    fn add_devices(&self, iommu: &Iommu, topo: &Topology) -> Result<Vec<DeviceId>> {
        let ids = iommu.add_devices(topo)?;
        let mut devs = self.devices.lock();
        for (desc, &id) in topo.devices.iter().zip(&ids) {
            devs.push((desc.instance, desc.rid.source_id(), id));
            if let Some(u) = self.units.iter().find(|u| u.inst == desc.instance) {
                u.unit.attach(desc.rid.source_id(), u.bus.clone());
            }
        }
        Ok(ids)
    }

    fn page_responses(&self, inst: InstanceId) -> Vec<PageResponse> {
        let unit = self
            .units
            .iter()
            .find(|u| u.inst == inst)
            .expect("an instance of this platform");
        let devs = self.devices.lock();
        page_responses(&unit.bus)
            .into_iter()
            .map(|(sid, pasid, prgi, code)| PageResponse {
                device: devs
                    .iter()
                    .find(|(i, s, _)| *i == inst && *s == sid)
                    .expect("a response to a device of this unit")
                    .2,
                pasid,
                group: prgi,
                code: match code {
                    VtdCode::Success => ResponseCode::Success,
                    VtdCode::InvalidRequest => ResponseCode::Invalid,
                    VtdCode::Failure => ResponseCode::Failure,
                    VtdCode::Reserved(c) => panic!("a reserved response code {c:#x}"),
                },
            })
            .collect()
    }

    fn upstream(&self, inst: InstanceId) -> Option<Arc<dyn Upstream>> {
        let u = self.units.iter().find(|u| u.inst == inst)?;
        Some(u.unit.clone())
    }

    fn page_request_irq(&self, inst: InstanceId) -> Option<Arc<IrqLine>> {
        let u = self.units.iter().find(|u| u.inst == inst)?;
        Some(u.prq_irq.clone())
    }

    fn recorded_faults(&self, inst: InstanceId) -> Vec<RecordedFault> {
        let Some(u) = self.units.iter().find(|u| u.inst == inst) else {
            return Vec::new();
        };
        // CAP_REG.FRO (x16 bytes) and CAP_REG.NFR (+1): where the fault records are.
        let cap = u.unit.mmio_read(0x08, 8);
        let (fro, n) = ((cap >> 24 & 0x3ff) * 16, (cap >> 40 & 0xff) + 1);
        (0..n)
            .map(|i| {
                let at = fro + 16 * i;
                let lo = u.unit.mmio_read(at, 8);
                let hi = u.unit.mmio_read(at + 8, 8);
                Frcd::from_bits(u128::from(lo) | u128::from(hi) << 64)
            })
            .filter(|r| r.f())
            .map(|r| RecordedFault {
                rid: r.sid(),
                pasid: r.pp().then_some(r.pv()),
                addr: r.fi() << 12,
                write: r.kind() == RequestKind::Write,
            })
            .collect()
    }

    fn stats(&self, inst: InstanceId) -> Option<CacheStats> {
        // A flush the core asks of the driver is one batch of IOTLB (or PASID-based IOTLB)
        // invalidations closed by a wait, however many descriptors the range and the PASIDs
        // of the domain take.
        let s = self.units.iter().find(|u| u.inst == inst)?.unit.stats();
        Some(CacheStats {
            flushes: s.iotlb_batches,
            hits: s.iotlb_hits,
            walks: s.walks,
        })
    }
}

impl Harness for VtdHarness {
    fn platform(&self, specs: &[InstSpec]) -> Platform {
        let (mem, alloc, iommu) = platform_memory(TABLES);
        let mut units = Vec::new();
        for spec in specs {
            let prq_irq = Arc::new(IrqLine::new());
            let line = prq_irq.clone();
            let unit = Arc::new(
                VtdUnit::new(
                    Self::params(spec),
                    mem.clone(),
                    Arc::new(move |which, _, _| {
                        if which == Event::PageRequest {
                            line.raise();
                        }
                    }),
                    Arc::new(|_: DeviceMessage| {}),
                )
                .expect("VT-d unit"),
            );
            unit.set_checking(self.checking);
            unit.set_stats(self.checking);
            let driver = Arc::new(
                VtdDriver::new(unit.clone(), mem.clone(), alloc.clone())
                    .expect("VT-d driver bring-up"),
            );
            let inst = iommu.add_instance((self.wrap)(driver, mem.clone()));
            units.push(Unit {
                inst,
                bus: Arc::default(),
                unit,
                prq_irq,
            });
        }
        let inst = units.iter().map(|u| u.inst).collect();
        let stage1 = X86::new(X86Config::default()).expect("x86 format").into();
        Platform::new(
            iommu,
            inst,
            stage1,
            Box::new(VtdSide {
                units,
                devices: Mutex::new(Vec::new()),
            }),
            FREE..RAM,
        )
    }

    fn nested_pasid_table(&self) -> bool {
        false
    }
}

/// The page responses the functions on the bus received, oldest first, as (RID, PASID, PRGI,
/// code).
pub fn page_responses(log: &BusLog) -> Vec<(u16, Option<u32>, u16, VtdCode)> {
    log.responses
        .lock()
        .iter()
        .map(|r| {
            let code = match r.code {
                PageResponseCode::Success => VtdCode::Success,
                PageResponseCode::InvalidRequest => VtdCode::InvalidRequest,
                PageResponseCode::ResponseFailure => VtdCode::Failure,
            };
            (r.rid, r.pasid, r.prgi, code)
        })
        .collect()
}

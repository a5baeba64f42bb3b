//! The VT-d platform the behaviour tests, the driver tests and the fuzz targets run on
//! (feature `testing`): one [`VtdUnit`] and one [`VtdDriver`] per instance spec, over one RAM
//! arena, with the unit's checking mode on.

#![allow(clippy::expect_used)]

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::testing::{
    CacheStats, DriverSide, FREE, Harness, InstSpec, Platform, RAM, Shape, platform_memory,
};
use softiommu_core::{
    DeviceId, InstanceId, Iommu, Mem, PageResponse, ResponseCode, Result, Topology,
};
use softiommu_pgtable::formats::x86::{X86, X86Config};

use crate::desc::ResponseCode as VtdCode;
use crate::driver::VtdDriver;
use crate::model::{DeviceMessage, VtdUnit};
use crate::regs::VtdParams;

/// Table pages and the units' structures come from here.
const TABLES: std::ops::Range<u64> = (8 << 20)..(64 << 20);

/// VT-d units built from the specs: [`Shape::Full`] is the default modern unit (3- and
/// 4-level second stage, MGAW 48, 2 MiB and 1 GiB pages); [`Shape::Narrow`] has only a
/// 3-level second stage and MGAW 39; [`Shape::Other`] has other page sizes and input range
/// at the second stage: no large pages, and only a 5-level second stage (MGAW 57). Every
/// shape has the same first stage (4- and 5-level x86-64 with 1 GiB pages), so that one
/// process address space binds on all of them, as one CPU's page tables do on every unit
/// of a machine (Linux refuses SVA on a unit without FS1GP when the CPU has 1 GiB pages).
pub struct VtdHarness;

impl VtdHarness {
    fn params(spec: &InstSpec) -> VtdParams {
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
    msgs: Arc<Mutex<Vec<DeviceMessage>>>,
    unit: Arc<VtdUnit<Mem>>,
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
        page_responses(&unit.msgs.lock())
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
            let msgs: Arc<Mutex<Vec<DeviceMessage>>> = Arc::default();
            let m = msgs.clone();
            let unit = Arc::new(
                VtdUnit::new(
                    Self::params(spec),
                    mem.clone(),
                    Arc::new(|_, _, _| {}),
                    Arc::new(move |msg| m.lock().push(msg)),
                )
                .expect("VT-d unit"),
            );
            unit.set_checking(true);
            unit.set_stats(true);
            let driver = Arc::new(
                VtdDriver::new(unit.clone(), mem.clone(), alloc.clone())
                    .expect("VT-d driver bring-up"),
            );
            let inst = iommu.add_instance(driver);
            units.push(Unit { inst, msgs, unit });
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

/// The page responses among the messages a unit sent to its devices, oldest first, as
/// (SID, PASID, PRGI, code).
pub fn page_responses(msgs: &[DeviceMessage]) -> Vec<(u16, Option<u32>, u16, VtdCode)> {
    msgs.iter()
        .filter_map(|m| match *m {
            DeviceMessage::PageResponse {
                sid,
                pasid,
                prgi,
                code,
            } => Some((sid, pasid, prgi, code)),
            DeviceMessage::InvalidateAtc { .. } => None,
        })
        .collect()
}

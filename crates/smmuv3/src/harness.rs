//! The SMMUv3 platform the behaviour tests, the driver tests, the end-to-end scenarios and the
//! fuzz targets run on (feature `testing`): one [`SmmuUnit`] and one [`SmmuDriver`] per
//! instance spec, over one RAM arena, with the unit's checking mode on.

#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

use parking_lot::Mutex;
use softiommu_core::testing::{
    CacheStats, DriverSide, FREE, Harness, InstSpec, IrqLine, Platform, RAM, RecordedFault, Shape,
    platform_memory,
};
use softiommu_core::{
    DeviceId, InstanceId, Iommu, Mem, PageResponse, ResponseCode, Result, Topology,
};
use softiommu_devices::bus::{PageResponseCode, Upstream};
pub use softiommu_devices::testing::BusLog;
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};

use crate::driver::{SmmuDriver, stage1_cd};
use crate::model::{DeviceMessage, SmmuUnit};
use crate::regs::{Interrupt, Irq, SmmuParams};

/// Table pages and the units' structures come from here.
const TABLES: std::ops::Range<u64> = (8 << 20)..(128 << 20);

/// SMMUs built from the specs. [`Shape::Full`] walks 4 KiB and 16 KiB granules with a 44-bit
/// OAS (its domains: 4 KiB granule, 44-bit output); [`Shape::Narrow`] is the same with a
/// 40-bit OAS; [`Shape::Other`] walks 4 KiB and 64 KiB granules with a 42-bit OAS, under a
/// driver whose OS pages are 64 KiB (its domains: 64 KiB granule, 42-bit output). Every
/// shape walks the process tables of SVA and a guest's stage 1 (4 KiB granule, 40-bit
/// output), as one CPU's page tables are walked by every SMMU of a machine.
pub struct SmmuHarness;

impl SmmuHarness {
    /// The SMMU parameters of `spec`.
    pub fn params(spec: &InstSpec) -> SmmuParams {
        let mut p = SmmuParams::full();
        p.ssid_bits = spec.pasid_bits;
        p.two_level_cd = spec.pasid_bits > 0;
        p.ats = spec.ats;
        p.pri = spec.pri && spec.ats;
        p.stage2 = spec.nesting;
        p.hyp = spec.nesting;
        p.gran64k = false;
        p.oas_bits = 44;
        match spec.shape {
            Shape::Full => {}
            Shape::Narrow => p.oas_bits = 40,
            Shape::Other => {
                p.gran16k = false;
                p.gran64k = true;
                p.oas_bits = 42;
            }
        }
        p
    }

    /// The format of process tables and of a guest's stage-1 tables.
    pub fn stage1() -> AnyFormat {
        ArmS1::new(ArmS1Config {
            granule: Granule::K4,
            ia_bits: 48,
            oa_bits: 40,
            ha: false,
            hd: false,
        })
        .expect("Arm stage-1 format")
        .into()
    }

    /// A platform of SMMUs with `params`, and what the tests need to look inside.
    pub fn build(params: &[SmmuParams]) -> (Platform, Vec<Arc<Unit>>) {
        Self::build_with(params, true)
    }

    /// The same, with the units' checking mode and statistics on or off.
    pub fn build_with(params: &[SmmuParams], checking: bool) -> (Platform, Vec<Arc<Unit>>) {
        let (mem, alloc, iommu) = platform_memory(TABLES);
        let mut units = Vec::new();
        for p in params {
            let priq_irq = Arc::new(IrqLine::new());
            let line = priq_irq.clone();
            let sink = Arc::new(move |i: Interrupt| {
                if i.irq == Irq::PriQueue {
                    line.raise();
                }
            });
            let unit = Arc::new(SmmuUnit::new(*p, mem.clone(), sink).expect("SMMU unit"));
            unit.set_checking(checking);
            unit.set_stats(checking);
            // The OS page size of the driver: 64 KiB where only that granule is beside 4 KiB.
            let page = if p.gran64k && !p.gran16k {
                Granule::K64
            } else {
                Granule::K4
            };
            let driver = Arc::new(
                SmmuDriver::with_page_size(unit.clone(), mem.clone(), alloc.clone(), page)
                    .expect("SMMU driver bring-up"),
            );
            let inst = iommu.add_instance(driver.clone());
            units.push(Arc::new(Unit {
                inst,
                msgs: Arc::default(),
                bus: Arc::default(),
                unit,
                driver,
                refusals_expected: AtomicBool::new(false),
                priq_irq,
            }));
        }
        let inst = units.iter().map(|u| u.inst).collect();
        let side = SmmuSide {
            units: units.clone(),
            devices: Mutex::new(Vec::new()),
        };
        (
            Platform::new(iommu, inst, Self::stage1(), Box::new(side), FREE..RAM),
            units,
        )
    }
}

/// One SMMU of a platform.
pub struct Unit {
    /// The instance the core knows it as.
    pub inst: InstanceId,
    /// What the unit sent to devices attached with a device sink.
    pub msgs: Arc<Mutex<Vec<DeviceMessage>>>,
    /// What the unit sent to the platform's devices, attached on the bus.
    pub bus: Arc<BusLog>,
    /// The SMMU.
    pub unit: Arc<SmmuUnit<Mem>>,
    /// Its driver.
    pub driver: Arc<SmmuDriver>,
    /// The test makes the SMMU refuse commands on purpose.
    pub refusals_expected: AtomicBool,
    /// The PRI queue's interrupt.
    pub priq_irq: Arc<IrqLine>,
}

struct SmmuSide {
    units: Vec<Arc<Unit>>,
    /// Every device added: (instance, StreamID, handle).
    devices: Mutex<Vec<(InstanceId, u32, DeviceId)>>,
}

impl Drop for SmmuSide {
    /// Every test on the platform ends with no command the SMMUs refused: a driver that
    /// builds an illegal command would otherwise lose an invalidation silently.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        for u in self
            .units
            .iter()
            .filter(|u| !u.refusals_expected.load(Relaxed))
        {
            assert_eq!(
                u.driver.command_errors(),
                vec![],
                "commands the SMMU refused"
            );
        }
    }
}

impl DriverSide for SmmuSide {
    fn add_devices(&self, iommu: &Iommu, topo: &Topology) -> Result<Vec<DeviceId>> {
        let ids = iommu.add_devices(topo)?;
        let mut devs = self.devices.lock();
        for (desc, &id) in topo.devices.iter().zip(&ids) {
            let sid = u32::from(desc.rid.source_id());
            devs.push((desc.instance, sid, id));
            if let Some(u) = self.units.iter().find(|u| u.inst == desc.instance) {
                u.unit.attach(desc.rid.source_id(), u.bus.clone());
            }
        }
        Ok(ids)
    }

    fn page_responses(&self, inst: InstanceId) -> Vec<PageResponse> {
        let devs = self.devices.lock();
        let device_of = |sid: u32| {
            devs.iter()
                .find(|&&(i, s, _)| (i, s) == (inst, sid))
                .map(|d| d.2)
        };
        let mut out = Vec::new();
        for u in self.units.iter().filter(|u| u.inst == inst) {
            for r in u.bus.responses.lock().iter() {
                let device =
                    device_of(u32::from(r.rid)).expect("a response to a device of this SMMU");
                out.push(PageResponse {
                    device,
                    pasid: r.pasid,
                    group: r.prgi,
                    code: response_code(r.code),
                });
            }
        }
        out
    }

    fn upstream(&self, inst: InstanceId) -> Option<Arc<dyn Upstream>> {
        let u = self.units.iter().find(|u| u.inst == inst)?;
        Some(u.unit.clone())
    }

    fn page_request_irq(&self, inst: InstanceId) -> Option<Arc<IrqLine>> {
        let u = self.units.iter().find(|u| u.inst == inst)?;
        Some(u.priq_irq.clone())
    }

    fn recorded_faults(&self, inst: InstanceId) -> Vec<RecordedFault> {
        let Some(u) = self.units.iter().find(|u| u.inst == inst) else {
            return Vec::new();
        };
        u.driver
            .events()
            .0
            .iter()
            .map(|e| RecordedFault {
                rid: e.sid as u16,
                pasid: e.ssid,
                addr: e.addr,
                write: !e.rnw,
            })
            .collect()
    }

    fn stats(&self, inst: InstanceId) -> Option<CacheStats> {
        // A flush the core asks of the driver is one batch of TLB invalidations closed by a
        // CMD_SYNC, however many commands the range and the users of the domain take.
        let s = self.units.iter().find(|u| u.inst == inst)?.unit.stats();
        Some(CacheStats {
            flushes: s.tlbi_batches,
            hits: s.tlb_hits,
            walks: s.walks,
        })
    }
}

/// The core's name for a PRI response code.
fn response_code(r: PageResponseCode) -> ResponseCode {
    match r {
        PageResponseCode::Success => ResponseCode::Success,
        PageResponseCode::InvalidRequest => ResponseCode::Invalid,
        PageResponseCode::ResponseFailure => ResponseCode::Failure,
    }
}

impl Harness for SmmuHarness {
    fn platform(&self, specs: &[InstSpec]) -> Platform {
        let params: Vec<SmmuParams> = specs.iter().map(Self::params).collect();
        Self::build(&params).0
    }

    fn nested_stage1(&self) -> bool {
        false
    }

    fn write_pasid_entry(&self, p: &Platform, table: u64, index: u32, root: u64, valid: bool) {
        guest_cd(p.mem(), table, index, root, valid);
    }
}

/// The SMMU harness with the units' checking mode and statistics off, for speed
/// measurements.
pub struct UncheckedHarness;

impl Harness for UncheckedHarness {
    fn platform(&self, specs: &[InstSpec]) -> Platform {
        let params: Vec<SmmuParams> = specs.iter().map(SmmuHarness::params).collect();
        SmmuHarness::build_with(&params, false).0
    }

    fn nested_stage1(&self) -> bool {
        false
    }
}

/// Writes the CD a guest's driver writes at index `index` of its linear CD table at `table`:
/// a stage-1 table of [`SmmuHarness::stage1`]'s format at `root`, ASID `index + 1`.
pub fn guest_cd(mem: &Mem, table: u64, index: u32, root: u64, valid: bool) {
    let AnyFormat::ArmS1(f) = SmmuHarness::stage1() else {
        unreachable!("a stage-1 format")
    };
    let mut cd = stage1_cd(&f, root, index as u16 + 1, false);
    cd.dw0 = cd.dw0.with_v(valid);
    cd.write(&**mem, table + 64 * u64::from(index))
        .expect("guest memory");
}

//! The SMMUv3 driver against a misbehaving SMMU: a register path that lies or drops writes
//! ([`RegisterFaults`] behind the driver's [`SmmuHw`] seam) and memory where the SMMU's
//! `CMD_SYNC` MSI writes do not land ([`FaultyMem`] under the unit). Every case must end in
//! a typed error after a bounded wait, never a hang or a panic, with the driver still
//! answering.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bringup;
mod queues;
mod waits;

use std::sync::Arc;

use softiommu_core::testing::faulty::{
    FaultyMem, FaultyPlatform, RegisterFaults, add_device, is_bad_register, is_timeout,
    map_attach_unmap, unmap_reaches_the_tlb,
};
use softiommu_core::{CoreError, DeviceId, HwError, Iommu, Mem, Rid, TableAlloc};
use softiommu_smmuv3::driver::{SmmuDriver, SmmuHw};
use softiommu_smmuv3::model::{Fault, Request, SmmuUnit, Translated};
use softiommu_smmuv3::regs::SmmuParams;

/// RAM of each rig; table pages come from its upper part.
const MEM: u64 = 48 << 20;
/// Where table pages start.
const TABLES: u64 = 4 << 20;

/// The SMMU as the driver reaches it through faulty registers.
struct FaultySmmu {
    unit: Arc<SmmuUnit<FaultyMem>>,
    faults: Arc<RegisterFaults>,
}

impl SmmuHw for FaultySmmu {
    fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        self.faults
            .read(offset, || self.unit.mmio_read(offset, size))
    }

    fn mmio_write(&self, offset: u64, size: u32, value: u64) {
        self.faults
            .write(offset, value, |v| self.unit.mmio_write(offset, size, v));
    }

    fn translate(&self, req: Request) -> Result<Translated, Fault> {
        self.unit.translate(req)
    }

    fn page_request(&self, req: &softiommu_devices::bus::PageRequest) {
        softiommu_devices::bus::Upstream::page_request(&*self.unit, req);
    }
}

/// An SMMU over faulty memory, reached through faulty registers; no driver yet.
struct Parts {
    mem: Mem,
    faulty_mem: FaultyMem,
    alloc: TableAlloc,
    unit: Arc<SmmuUnit<FaultyMem>>,
    faults: Arc<RegisterFaults>,
}

impl Parts {
    fn new(params: SmmuParams) -> Parts {
        let FaultyPlatform {
            mem,
            alloc,
            faulty_mem,
            faults,
        } = FaultyPlatform::new(MEM, TABLES);
        let unit = Arc::new(SmmuUnit::new(params, faulty_mem.clone(), Arc::new(|_| {})).unwrap());
        Parts {
            mem,
            faulty_mem,
            alloc,
            unit,
            faults,
        }
    }

    /// Brings the driver up through the faulty registers.
    fn bring_up(&self) -> softiommu_core::Result<SmmuDriver> {
        let hw = Arc::new(FaultySmmu {
            unit: self.unit.clone(),
            faults: self.faults.clone(),
        });
        SmmuDriver::new(hw, self.mem.clone(), self.alloc.clone())
    }
}

/// The StreamID of the rig's device (03:00.0).
const SID: u32 = 0x300;

/// A driver brought up through faulty registers (none injected yet) on a full-featured SMMU
/// ([`rig_with`]: another),
/// under a core with one device with PASIDs, ATS and PRI at 03:00.0.
struct Rig {
    parts: Parts,
    driver: Arc<SmmuDriver>,
    iommu: Iommu,
    dev: DeviceId,
}

fn rig() -> Rig {
    rig_with(SmmuParams::full())
}

/// [`rig`] on an SMMU of `params`.
fn rig_with(params: SmmuParams) -> Rig {
    let parts = Parts::new(params);
    let driver = Arc::new(parts.bring_up().unwrap());
    let iommu = Iommu::new(parts.mem.clone(), parts.alloc.clone());
    let inst = iommu.add_instance(driver.clone());
    let rid = Rid::new(0, 3, 0, 0);
    assert_eq!(u32::from(rid.source_id()), SID);
    let dev = add_device(&iommu, inst, rid).unwrap();
    Rig {
        parts,
        driver,
        iommu,
        dev,
    }
}

//! The VT-d driver against a misbehaving unit: a register path that lies or drops writes
//! ([`RegisterFaults`] behind the driver's [`VtdMmio`] seam) and memory where the unit's
//! status writes do not land ([`FaultyMem`] under the unit). Every case must end in a typed
//! error after a bounded wait, never a hang or a panic, with the driver still answering.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bringup;
mod prq;
mod waits;

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::testing::faulty::{
    FaultyMem, FaultyPlatform, RegisterFaults, add_device, is_bad_register, is_timeout,
    map_attach_unmap, unmap_reaches_the_tlb,
};
use softiommu_core::{CoreError, DeviceId, HwError, Iommu, Mem, Rid, TableAlloc};
use softiommu_vtd::driver::{VtdDriver, VtdMmio};
use softiommu_vtd::model::{DeviceMessage, VtdUnit};
use softiommu_vtd::regs::VtdParams;

/// RAM of each rig; table pages come from its upper part.
const MEM: u64 = 16 << 20;
/// Where table pages start.
const TABLES: u64 = 4 << 20;

/// The unit as the driver reaches it through faulty registers.
struct FaultyRegs {
    unit: Arc<VtdUnit<FaultyMem>>,
    faults: Arc<RegisterFaults>,
}

impl VtdMmio for FaultyRegs {
    fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        self.faults
            .read(offset, || self.unit.mmio_read(offset, size))
    }

    fn mmio_write(&self, offset: u64, size: u32, value: u64) {
        self.faults
            .write(offset, value, |v| self.unit.mmio_write(offset, size, v));
    }
}

/// A unit over faulty memory, reached through faulty registers; no driver yet.
struct Parts {
    mem: Mem,
    faulty_mem: FaultyMem,
    alloc: TableAlloc,
    unit: Arc<VtdUnit<FaultyMem>>,
    faults: Arc<RegisterFaults>,
    /// What the unit sent to devices.
    msgs: Arc<Mutex<Vec<DeviceMessage>>>,
}

impl Parts {
    fn new(params: VtdParams) -> Parts {
        let FaultyPlatform {
            mem,
            alloc,
            faulty_mem,
            faults,
        } = FaultyPlatform::new(MEM, TABLES);
        let msgs: Arc<Mutex<Vec<DeviceMessage>>> = Arc::default();
        let m = msgs.clone();
        let unit = Arc::new(
            VtdUnit::new(
                params,
                faulty_mem.clone(),
                Arc::new(|_, _, _| {}),
                Arc::new(move |msg| m.lock().push(msg)),
            )
            .unwrap(),
        );
        Parts {
            mem,
            faulty_mem,
            alloc,
            unit,
            faults,
            msgs,
        }
    }

    /// Brings the driver up through the faulty registers.
    fn bring_up(&self) -> softiommu_core::Result<VtdDriver<FaultyMem>> {
        let regs = Arc::new(FaultyRegs {
            unit: self.unit.clone(),
            faults: self.faults.clone(),
        });
        VtdDriver::with_mmio(
            self.unit.clone(),
            regs,
            self.mem.clone(),
            self.alloc.clone(),
            None,
        )
    }
}

/// A driver brought up through faulty registers (none injected yet), under a core with one
/// device with PASIDs, ATS and PRI at 03:00.0.
struct Rig {
    parts: Parts,
    driver: Arc<VtdDriver<FaultyMem>>,
    iommu: Iommu,
    dev: DeviceId,
}

fn rig() -> Rig {
    let parts = Parts::new(VtdParams::default());
    let driver = Arc::new(parts.bring_up().unwrap());
    let iommu = Iommu::new(parts.mem.clone(), parts.alloc.clone());
    let inst = iommu.add_instance(driver.clone());
    let dev = add_device(&iommu, inst, Rid::new(0, 3, 0, 0)).unwrap();
    Rig {
        parts,
        driver,
        iommu,
        dev,
    }
}

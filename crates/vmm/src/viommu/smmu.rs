//! An SMMUv3 vIOMMU: a unit over the guest's RAM, its driver in the guest.

use std::sync::Arc;

use softiommu_core::{Mem, Rid};
use softiommu_pgtable::Access;
use softiommu_smmuv3::driver::{SmmuDriver, SmmuHw};
use softiommu_smmuv3::model::{Request, SmmuUnit};
use softiommu_smmuv3::regs::SmmuParams;
use vm_memory::iommu::{Error as IommuError, Iommu, IotlbIterator};
use vm_memory::{GuestAddress, Permissions};

use softiommu_pgtable::tlb::Epoch;

use super::{GuestOs, Model, Run, Step, translate_range};
use crate::{Error, Guest, Result};

/// An SMMUv3 whose physical space is a guest's RAM, brought up by its driver under the
/// guest kernel's IOMMU core.
#[derive(Debug)]
pub struct SmmuViommu {
    unit: Arc<SmmuUnit<Mem>>,
    driver: Arc<SmmuDriver>,
    os: GuestOs,
}

impl SmmuViommu {
    /// An SMMU with `params` over `guest`'s RAM, its driver's tables and queues taken from
    /// guest-physical `[tables.0, tables.0 + tables.1)`. Its interrupts are dropped (the
    /// guest polls its queues).
    pub fn new(guest: &Guest, params: SmmuParams, tables: (u64, u64)) -> Result<Self> {
        Self::with_mmio(guest, params, tables, |unit| unit.clone())
    }

    /// [`new`](Self::new) with the guest's register accesses going through the path `regs`
    /// makes for the unit (a VMM's trap of the unit's registers, such as its command
    /// queue's PROD).
    pub fn with_mmio(
        guest: &Guest,
        params: SmmuParams,
        tables: (u64, u64),
        regs: impl FnOnce(&Arc<SmmuUnit<Mem>>) -> Arc<dyn SmmuHw>,
    ) -> Result<Self> {
        let mem = guest.space();
        let unit = SmmuUnit::new(params, mem.clone(), Arc::new(|_| {}))
            .map_err(|e| Error::Viommu(format!("SMMUv3: {e}")))?;
        let unit = Arc::new(unit);
        let alloc = GuestOs::tables(guest, tables)?;
        let driver = SmmuDriver::new(regs(&unit), mem, alloc.clone())
            .map_err(|e| Error::Viommu(format!("SMMUv3 driver: {e}")))?;
        let driver = Arc::new(driver);
        let os = GuestOs::new(guest, alloc, driver.clone());
        Ok(SmmuViommu { unit, driver, os })
    }

    /// The unit (its registers and counters).
    pub fn unit(&self) -> &Arc<SmmuUnit<Mem>> {
        &self.unit
    }

    /// The guest's driver (its view of the event queue).
    pub fn driver(&self) -> &Arc<SmmuDriver> {
        &self.driver
    }

    /// The guest kernel's side.
    pub fn os(&self) -> &GuestOs {
        &self.os
    }

    /// vm-memory's view of the SMMU for the requests of function `rid` (its StreamID is its
    /// requester ID), with SubstreamID `ssid` if given.
    pub fn iommu(&self, rid: Rid, ssid: Option<u32>) -> SmmuIommu {
        let sid = u32::from(rid.source_id());
        SmmuIommu {
            unit: self.unit.clone(),
            sid,
            ssid,
            tag: u64::from(sid) | ssid.map_or(0, |s| u64::from(s) << 32 | 1 << 63),
        }
    }
}

/// One stream's DMA through an SMMUv3, as vm-memory's [`Iommu`].
#[derive(Debug, Clone)]
pub struct SmmuIommu {
    unit: Arc<SmmuUnit<Mem>>,
    sid: u32,
    ssid: Option<u32>,
    /// The requester's IDs packed in one word.
    tag: u64,
}

impl Model for SmmuIommu {
    fn epoch(&self) -> Epoch {
        self.unit.hit_epoch()
    }

    fn step(&self, addr: u64, access: Access) -> Step {
        let req = Request::new(self.sid, self.ssid, addr, access);
        if let Some(t) = self.unit.translate_hit(req) {
            return Ok((t.pa, t.len, true));
        }
        match self.unit.translate(req) {
            Ok(t) => Ok((t.pa, t.len, false)),
            Err(f) => Err(format!(
                "SMMUv3 fault {:?} at {addr:#x}",
                f.event.map(|e| e.id)
            )),
        }
    }
}

impl Iommu for SmmuIommu {
    type IotlbGuard<'a> = Run;

    fn translate(
        &self,
        iova: GuestAddress,
        length: usize,
        access: Permissions,
    ) -> std::result::Result<IotlbIterator<Run>, IommuError> {
        translate_range(self, self.tag, iova, length, access)
    }
}

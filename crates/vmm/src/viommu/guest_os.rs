//! The guest kernel's side of a vIOMMU: this project's IOMMU core over the guest's RAM,
//! with the unit's driver as its one instance.

use std::sync::Arc;

use softiommu_core::{
    DeviceCaps, DeviceDesc, DeviceId, InstanceId, Iommu, IommuDriver, Rid, TableAlloc, Topology,
};
use softiommu_mem::PageAlloc;

use crate::{Error, Guest, Result};

/// The guest's IOMMU core: domains are made, mapped and attached through it, and its
/// driver writes the unit's registers and tables in guest RAM.
pub struct GuestOs {
    core: Iommu,
    instance: InstanceId,
}

impl std::fmt::Debug for GuestOs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestOs")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl GuestOs {
    /// The page allocator of the guest kernel's IOMMU tables: `[base, base + size)` of
    /// `guest`'s RAM.
    pub(crate) fn tables(guest: &Guest, (base, size): (u64, u64)) -> Result<TableAlloc> {
        let alloc = PageAlloc::new(guest.space(), base, size)
            .map_err(|e| Error::Viommu(format!("table pages: {e}")))?;
        Ok(Arc::new(alloc))
    }

    /// A core over `guest`'s RAM with `driver` as its one instance.
    pub(crate) fn new(guest: &Guest, tables: TableAlloc, driver: Arc<dyn IommuDriver>) -> Self {
        let core = Iommu::new(guest.space(), tables);
        let instance = core.add_instance(driver);
        GuestOs { core, instance }
    }

    /// The guest kernel's IOMMU core.
    pub fn core(&self) -> &Iommu {
        &self.core
    }

    /// Adds the PCI function `rid` with capabilities `caps` behind the unit.
    pub fn add_device(&self, rid: Rid, caps: DeviceCaps) -> Result<DeviceId> {
        let topo = Topology {
            bridges: vec![],
            devices: vec![DeviceDesc {
                rid,
                instance: self.instance,
                caps,
                bridge: None,
                alias: None,
            }],
        };
        let ids = self.core.add_devices(&topo)?;
        ids.first()
            .copied()
            .ok_or_else(|| Error::Viommu("no device added".into()))
    }
}

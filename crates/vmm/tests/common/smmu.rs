//! A host whose copy engines sit behind an SMMUv3 brought up by its driver: two VFs bound
//! to VFIO's PCI driver, and a third engine as the parent of mdevs (at its PASIDs). The
//! unit's event interrupt is handled at once, as the host kernel's handler would be, so
//! that events on a guest's stage 1 reach its vIOMMU's vEVENTQ before the DMA returns.

use std::sync::{Arc, OnceLock, Weak};

use softiommu_core::{DeviceCaps, DeviceDesc, InstanceId, Iommu, Mem, Rid, TableAlloc, Topology};
use softiommu_devices::dsa::{DsaConfig, DsaFunction};
use softiommu_iommufd::vfio::{MdevParent, VfioPci};
use softiommu_iommufd::{Context, Credentials, Host};
use softiommu_mem::{HostMemory, PageAlloc};
use softiommu_smmuv3::driver::SmmuDriver;
use softiommu_smmuv3::model::SmmuUnit;
use softiommu_smmuv3::regs::{Interrupt, Irq, SmmuParams};

/// The VFs' requester IDs, and the mdev parent's.
pub const VF_RIDS: [Rid; 2] = [Rid::new(0, 0, 3, 0), Rid::new(0, 0, 4, 0)];
pub const PARENT_RID: Rid = Rid::new(0, 0, 5, 0);

/// The SMMUv3 host.
pub struct SmmuHost {
    pub host: Arc<Host>,
    pub vfio: Arc<VfioPci>,
    /// The VFs' device names, in the order of [`VF_RIDS`].
    pub vfs: Vec<String>,
    pub parent: Arc<MdevParent>,
    pub unit: Arc<SmmuUnit<Mem>>,
    pub driver: Arc<SmmuDriver>,
}

pub fn smmu_host() -> SmmuHost {
    let mem = Arc::new(HostMemory::new(64 << 20).unwrap());
    let m: Mem = mem.clone();
    let (base, size) = mem.table_range();
    let tables: TableAlloc = Arc::new(PageAlloc::new(m.clone(), base, size).unwrap());
    let core: Arc<OnceLock<(Weak<Iommu>, InstanceId)>> = Arc::new(OnceLock::new());
    let irq_core = core.clone();
    let irq = move |i: Interrupt| {
        if i.irq == Irq::EventQueue
            && let Some((iommu, inst)) = irq_core.get()
            && let Some(iommu) = iommu.upgrade()
        {
            let _ = iommu.event_interrupt(*inst);
        }
    };
    let unit = Arc::new(SmmuUnit::new(SmmuParams::full(), m.clone(), Arc::new(irq)).unwrap());
    unit.set_checking(true);
    let upstream: Arc<dyn softiommu_devices::bus::Upstream> = unit.clone();
    let driver = Arc::new(SmmuDriver::new(unit.clone(), m.clone(), tables.clone()).unwrap());
    let iommu = Arc::new(Iommu::new(m, tables));
    let instance = iommu.add_instance(driver.clone());
    let _ = core.set((Arc::downgrade(&iommu), instance));
    let caps = DeviceCaps {
        pasid_bits: 20,
        ats: false,
        pri: false,
    };
    let rids: Vec<Rid> = VF_RIDS.iter().copied().chain([PARENT_RID]).collect();
    let topo = Topology {
        bridges: vec![],
        devices: rids
            .iter()
            .map(|&rid| DeviceDesc {
                rid,
                instance,
                caps,
                bridge: None,
                alias: None,
            })
            .collect(),
    };
    let devs = iommu.add_devices(&topo).unwrap();
    let host = Host::new(mem, iommu);
    let vfio = VfioPci::new(host.clone());
    let function = |rid: Rid| {
        let port = vfio.irqs().port(upstream.clone());
        Arc::new(DsaFunction::new(DsaConfig::default(), port, rid.source_id()).unwrap())
    };
    let vfs = VF_RIDS
        .iter()
        .zip(&devs)
        .map(|(&rid, &dev)| vfio.add(dev, rid.source_id(), function(rid)).unwrap())
        .collect();
    let parent =
        MdevParent::new(&vfio, devs[2], PARENT_RID.source_id(), function(PARENT_RID)).unwrap();
    assert!(parent.uses_pasid());
    SmmuHost {
        host,
        vfio,
        vfs,
        parent,
        unit,
        driver,
    }
}

impl SmmuHost {
    /// A context of an unprivileged user allowed to lock 1 GiB.
    pub fn context(&self) -> Arc<Context> {
        let cred = Credentials {
            memlock_limit: Some(1 << 30),
            ..Credentials::default()
        };
        Arc::new(Context::new(self.host.clone(), cred))
    }
}

//! The platform a configuration describes: this process's memory under a VT-d or SMMUv3
//! unit brought up by its driver (or the test channel's mock IOMMU), and the copy engines at
//! their PCI addresses behind it, bound to VFIO's PCI driver.

use std::sync::Arc;

use softiommu_core::{DeviceCaps, DeviceDesc, GroupId, Iommu, IommuDriver, Mem, Rid, TableAlloc};
use softiommu_devices::bus::Upstream;
use softiommu_devices::dsa::{DsaConfig, DsaFunction};
use softiommu_iommufd::Host;
use softiommu_iommufd::vfio::VfioPci;
use softiommu_mem::{HostMemory, PageAlloc};

use crate::config::{Config, DeviceSpec, IommuKind};

/// Bytes of this process's address space reserved for the IOMMU's tables.
const TABLE_ARENA: u64 = 64 << 20;

/// One device of the platform.
pub struct Device {
    /// Its address.
    pub spec: DeviceSpec,
    /// Its name (`0000:bb:dd.f`), under which VFIO knows it.
    pub name: String,
    /// Its VFIO group number (`/dev/vfio/N`).
    pub group: u32,
    /// The engine.
    pub function: Arc<DsaFunction>,
}

/// A host with its devices bound to VFIO.
pub struct Platform {
    /// What every context shares.
    pub host: Arc<Host>,
    /// VFIO's PCI driver, with the devices bound.
    pub vfio: Arc<VfioPci>,
    /// The devices, in the configuration's order (device `k` is `vfio{k}`).
    pub devices: Vec<Device>,
    /// The core's group of each VFIO group number.
    pub groups: Vec<GroupId>,
}

fn fail(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl Platform {
    /// Builds the platform `cfg` describes.
    pub fn build(cfg: &Config) -> Result<Platform, String> {
        cfg.validate()?;
        let mem = Arc::new(HostMemory::new(TABLE_ARENA).map_err(|e| fail("memory", e))?);
        let m: Mem = mem.clone();
        let (base, size) = mem.table_range();
        let tables: TableAlloc =
            Arc::new(PageAlloc::new(m.clone(), base, size).map_err(|e| fail("table pages", e))?);
        let iommu = Arc::new(Iommu::new(m.clone(), tables.clone()));
        let (driver, upstream): (Arc<dyn IommuDriver>, Arc<dyn Upstream>) = match cfg.iommu {
            IommuKind::Mock => {
                let host = Host::with_mock(mem, iommu).map_err(|e| fail("mock IOMMU", e))?;
                let vfio = VfioPci::new(host.clone());
                return Ok(Platform {
                    host,
                    vfio,
                    devices: Vec::new(),
                    groups: Vec::new(),
                });
            }
            IommuKind::Vtd => {
                use softiommu_vtd::{driver::VtdDriver, model::VtdUnit, regs::VtdParams};
                let unit = VtdUnit::new(
                    VtdParams::default(),
                    m.clone(),
                    Arc::new(|_, _, _| {}),
                    Arc::new(|_| {}),
                )
                .map_err(|e| fail("VT-d unit", e))?;
                let unit = Arc::new(unit);
                let driver =
                    VtdDriver::new(unit.clone(), m, tables).map_err(|e| fail("VT-d driver", e))?;
                (Arc::new(driver), unit)
            }
            IommuKind::Smmuv3 => {
                use softiommu_smmuv3::{driver::SmmuDriver, model::SmmuUnit, regs::SmmuParams};
                let unit = SmmuUnit::new(SmmuParams::full(), m.clone(), Arc::new(|_| {}))
                    .map_err(|e| fail("SMMUv3 unit", e))?;
                let unit = Arc::new(unit);
                let driver = SmmuDriver::new(unit.clone(), m, tables)
                    .map_err(|e| fail("SMMUv3 driver", e))?;
                (Arc::new(driver), unit)
            }
        };
        let instance = iommu.add_instance(driver);
        let topo = softiommu_core::Topology {
            bridges: vec![],
            devices: cfg
                .devices
                .iter()
                .map(|d| DeviceDesc {
                    rid: Rid::new(0, d.bus, d.device, d.function),
                    instance,
                    caps: DeviceCaps::default(),
                    bridge: None,
                    alias: None,
                })
                .collect(),
        };
        let ids = iommu.add_devices(&topo).map_err(|e| fail("devices", e))?;
        let host = Host::new(mem, iommu);
        let vfio = VfioPci::new(host.clone());
        let mut devices = Vec::new();
        let mut groups: Vec<GroupId> = Vec::new();
        for (spec, id) in cfg.devices.iter().zip(ids) {
            let port = vfio.irqs().port(upstream.clone());
            let function = DsaFunction::new(DsaConfig::default(), port, spec.rid())
                .map_err(|e| fail("copy engine", e))?;
            let function = Arc::new(function);
            let name = vfio
                .add(id, spec.rid(), function.clone())
                .map_err(|e| fail("VFIO", e))?;
            let g = host.iommu().group_of(id).map_err(|e| fail("group", e))?;
            let group = match groups.iter().position(|x| *x == g) {
                Some(n) => n,
                None => {
                    groups.push(g);
                    groups.len() - 1
                }
            };
            devices.push(Device {
                spec: *spec,
                name,
                group: group as u32,
                function,
            });
        }
        Ok(Platform {
            host,
            vfio,
            devices,
            groups,
        })
    }
}

//! The host a VMM runs its guests on: this process's memory under a VT-d or an SMMUv3
//! unit brought up by its driver, with copy engines behind the unit. Two functions of one
//! engine (00:03.0 and 00:03.1) are bound to VFIO's PCI driver, one for each guest that is
//! given a whole function; a third (00:04.0), with PASIDs, is taken by the host's mdev
//! driver, which shares one work queue of it out as mediated devices. The functions speak
//! ATS and PRI; the unit's page-request interrupt is served by a thread of the host kernel,
//! which routes each request to the domain's fault handler (an iommufd fault queue).

use std::sync::{Arc, Weak, mpsc};
use std::time::Duration;

use softiommu_core::{
    DeviceCaps, DeviceDesc, DeviceId, InstanceId, Iommu, IommuDriver, Mem, Rid, TableAlloc,
    Topology,
};
use softiommu_devices::bus::Upstream;
use softiommu_devices::dsa::{DsaConfig, DsaFunction};
use softiommu_devices::pci::AccessSize;
use softiommu_devices::pci::regs::ext_cap_id;
use softiommu_iommufd::vfio::{MdevParent, VfioPci};
use softiommu_iommufd::{Context, Credentials, Host};
use softiommu_mem::{HostMemory, PageAlloc};
use softiommu_smmuv3::driver::SmmuDriver;
use softiommu_smmuv3::model::SmmuUnit;
use softiommu_smmuv3::regs::{Interrupt, Irq, SmmuParams};
use softiommu_vtd::driver::VtdDriver;
use softiommu_vtd::model::VtdUnit;
use softiommu_vtd::regs::{Event, VtdParams};

use crate::nest::HostFaults;
use crate::{Error, Result};

/// The host's IOMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IommuKind {
    /// Intel VT-d in scalable mode.
    Vtd,
    /// Arm SMMUv3 with every feature.
    Smmuv3,
}

impl IommuKind {
    /// The name a user gives or sees: `vtd` or `smmuv3`.
    pub fn name(self) -> &'static str {
        match self {
            IommuKind::Vtd => "vtd",
            IommuKind::Smmuv3 => "smmuv3",
        }
    }
}

/// The two functions bound to VFIO, one per guest: functions 0 and 1 of device 3.
pub const VF_RIDS: [Rid; 2] = [Rid::new(0, 0, 3, 0), Rid::new(0, 0, 3, 1)];
/// The function whose work queue is shared out as mdevs.
pub const PARENT_RID: Rid = Rid::new(0, 0, 4, 0);
/// The PASID width every function has.
const PASID_BITS: u8 = 20;
/// Bytes of host memory for the host IOMMU's own tables and queues.
const TABLE_BYTES: u64 = 64 << 20;
/// Locked memory each user context may charge.
const MEMLOCK: u64 = 1 << 30;
/// Outstanding page requests the host allows a function whose PRI it enables.
const PRI_ALLOCATION: u32 = 32;
/// How long a function waits for a page group response before it gives up on the request.
const PAGE_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// PRI's control register (Enable is bit 0) and outstanding allocation, from the
/// capability's start.
const PRI_CONTROL: u32 = 4;
const PRI_ALLOC: u32 = 0xc;

/// A host with its IOMMU, the functions bound to VFIO and the mdev parent.
pub struct HostRig {
    kind: IommuKind,
    host: Arc<Host>,
    vfio: Arc<VfioPci>,
    instance: InstanceId,
    vfs: [String; 2],
    vf_functions: [Arc<DsaFunction>; 2],
    parent: Arc<MdevParent>,
    parent_dev: DeviceId,
    /// The VT-d unit's fault records, as the host kernel takes them for the VMMs.
    vtd_faults: Option<Arc<HostFaults>>,
}

impl std::fmt::Debug for HostRig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostRig")
            .field("kind", &self.kind)
            .field("vfs", &self.vfs)
            .finish_non_exhaustive()
    }
}

impl HostRig {
    /// A host behind a scalable-mode VT-d unit.
    pub fn vtd() -> Result<HostRig> {
        Self::new(IommuKind::Vtd)
    }

    /// A host behind an SMMUv3 with every feature.
    pub fn smmuv3() -> Result<HostRig> {
        Self::new(IommuKind::Smmuv3)
    }

    /// A host behind an IOMMU of `kind`.
    pub fn new(kind: IommuKind) -> Result<HostRig> {
        let mem = Arc::new(HostMemory::new(TABLE_BYTES)?);
        let m: Mem = mem.clone();
        let (base, size) = mem.table_range();
        let tables: TableAlloc = Arc::new(PageAlloc::new(m.clone(), base, size)?);
        let (driver, upstream, page_requests, vtd_faults) = unit(kind, &m, &tables)?;
        let iommu = Arc::new(Iommu::new(m, tables));
        let instance = iommu.add_instance(driver);
        serve_page_requests(Arc::downgrade(&iommu), page_requests, instance)?;
        let caps = DeviceCaps {
            pasid_bits: PASID_BITS,
            ats: true,
            pri: true,
        };
        let rids = [VF_RIDS[0], VF_RIDS[1], PARENT_RID];
        let devices = rids
            .iter()
            .map(|&rid| DeviceDesc {
                rid,
                instance,
                caps,
                bridge: None,
                alias: None,
            })
            .collect();
        let topo = Topology {
            bridges: vec![],
            devices,
        };
        let ids = iommu.add_devices(&topo)?;
        let &[vf0, vf1, parent_dev] = ids.as_slice() else {
            return Err(Error::Host(format!("{} devices added of 3", ids.len())));
        };
        let host = Host::new(mem, iommu);
        let vfio = VfioPci::new(host.clone());
        let function = |rid: Rid| -> Result<Arc<DsaFunction>> {
            let port = vfio.irqs().port(upstream.clone());
            let f = DsaFunction::new(DsaConfig::default(), port, rid.source_id())
                .map_err(|e| Error::Host(format!("copy engine at {rid:?}: {e}")))?;
            Ok(Arc::new(f))
        };
        let vf_functions = [function(VF_RIDS[0])?, function(VF_RIDS[1])?];
        let vfs = [
            vfio.add(vf0, VF_RIDS[0].source_id(), vf_functions[0].clone())?,
            vfio.add(vf1, VF_RIDS[1].source_id(), vf_functions[1].clone())?,
        ];
        let parent_fn = function(PARENT_RID)?;
        // The parent's page requests wait for the VMMs serving its mdevs' fault queues.
        parent_fn
            .port()
            .set_page_response_timeout(PAGE_RESPONSE_TIMEOUT);
        let parent = MdevParent::new(&vfio, parent_dev, PARENT_RID.source_id(), parent_fn)?;
        Ok(HostRig {
            kind,
            host,
            vfio,
            instance,
            vfs,
            vf_functions,
            parent,
            parent_dev,
            vtd_faults,
        })
    }

    /// The host's IOMMU.
    pub fn kind(&self) -> IommuKind {
        self.kind
    }

    /// The host: its memory and IOMMU core.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// VFIO's PCI driver, holding the two functions.
    pub fn vfio(&self) -> &Arc<VfioPci> {
        &self.vfio
    }

    /// The VFIO name of function `i` (0 or 1) of the engine bound to VFIO: the one a guest
    /// given a whole function opens.
    pub fn vf(&self, i: usize) -> Result<&str> {
        self.vfs
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| Error::Host(format!("no function {i} bound to VFIO")))
    }

    /// The requester ID of function `i` (0 or 1).
    pub fn vf_rid(&self, i: usize) -> Result<Rid> {
        VF_RIDS
            .get(i)
            .copied()
            .ok_or_else(|| Error::Host(format!("no function {i} bound to VFIO")))
    }

    /// The engine behind function `i` (0 or 1), as the host sees it.
    pub fn vf_function(&self, i: usize) -> Result<&Arc<DsaFunction>> {
        self.vf_functions
            .get(i)
            .ok_or_else(|| Error::Host(format!("no function {i} bound to VFIO")))
    }

    /// Turns on PRI in function `i`'s (0 or 1) configuration space, with a page-request
    /// allocation and a response timeout of two seconds, as the host kernel does when it
    /// attaches a domain that takes I/O page faults for the function (Linux enables PRI
    /// with the device's IOPF feature). The guest's driver then finds PRI enabled and lets
    /// its work queue block on faults.
    pub fn enable_page_requests(&self, i: usize) -> Result<()> {
        let f = self.vf_function(i)?;
        let pri = ext_cap(f, ext_cap_id::PRI)
            .ok_or_else(|| Error::Host(format!("function {i} has no PRI capability")))?;
        f.port().set_page_response_timeout(PAGE_RESPONSE_TIMEOUT);
        f.config_write(pri + PRI_ALLOC, AccessSize::Dword, PRI_ALLOCATION);
        f.config_write(pri + PRI_CONTROL, AccessSize::Word, 1);
        Ok(())
    }

    /// The host's mdev driver of the parent function: [`MdevParent::create`] makes an mdev
    /// for a guest.
    pub fn parent(&self) -> &Arc<MdevParent> {
        &self.parent
    }

    /// The core's device of the mdev parent function.
    pub fn parent_device(&self) -> DeviceId {
        self.parent_dev
    }

    /// The fault records of a VT-d host's unit, as the host kernel's fault handler takes
    /// them and hands each to the VMM whose device faulted (`None` on SMMUv3, whose events
    /// reach users through [`serve_events`](Self::serve_events)).
    pub fn vtd_faults(&self) -> Option<&Arc<HostFaults>> {
        self.vtd_faults.as_ref()
    }

    /// The host IOMMU instance the devices sit behind.
    pub fn instance(&self) -> InstanceId {
        self.instance
    }

    /// Serves the host IOMMU's event interrupt as the host kernel does: the events recorded
    /// for devices whose domain leaves them to its user (nested HWPTs) go to that user.
    /// Returns how many were delivered.
    pub fn serve_events(&self) -> Result<usize> {
        Ok(self.host.iommu().event_interrupt(self.instance)?)
    }

    /// A context of an unprivileged user (a VMM process) allowed to lock 1 GiB.
    pub fn context(&self) -> Arc<Context> {
        let cred = Credentials {
            memlock_limit: Some(MEMLOCK),
            ..Credentials::default()
        };
        Arc::new(Context::new(self.host.clone(), cred))
    }
}

/// The offset of extended capability `id` in `f`'s configuration space.
fn ext_cap(f: &DsaFunction, id: u16) -> Option<u32> {
    let mut at = 0x100;
    // A well-formed list visits each dword at most once.
    for _ in 0..1024 {
        let h = f.config_read(at, AccessSize::Dword);
        if h & 0xffff == u32::from(id) {
            return Some(at);
        }
        at = h >> 20;
        if at < 0x100 {
            return None;
        }
    }
    None
}

/// Starts the host kernel's handler of the unit's page-request interrupt: at each signal on
/// `signals`, the core has the driver take what the unit queued and routes it to the
/// domains' fault handlers. It ends once the unit (holding the sender) or the core is gone.
fn serve_page_requests(
    iommu: Weak<Iommu>,
    signals: mpsc::Receiver<()>,
    instance: InstanceId,
) -> Result<()> {
    std::thread::Builder::new()
        .name("host-prq".into())
        .spawn(move || {
            while signals.recv().is_ok() {
                let Some(iommu) = iommu.upgrade() else { return };
                // A failure here is the host's to log; the device's request times out.
                let _ = iommu.page_request_event(instance);
            }
        })
        .map_err(|e| Error::Host(format!("no page-request thread: {e}")))?;
    Ok(())
}

/// The driver of a unit, the unit as the functions' upstream, the signals of its
/// page-request interrupt, and a VT-d unit's fault records.
type Parts = (
    Arc<dyn IommuDriver>,
    Arc<dyn Upstream>,
    mpsc::Receiver<()>,
    Option<Arc<HostFaults>>,
);

/// The unit of `kind` over host memory `m`, brought up by its driver with `tables`.
fn unit(kind: IommuKind, m: &Mem, tables: &TableAlloc) -> Result<Parts> {
    let fail = |what: &str, e: &dyn std::fmt::Display| Error::Host(format!("{what}: {e}"));
    let (tx, rx) = mpsc::channel::<()>();
    let tx = parking_lot::Mutex::new(tx);
    Ok(match kind {
        IommuKind::Vtd => {
            let events = Arc::new(move |which, _, _| {
                if which == Event::PageRequest {
                    let _ = tx.lock().send(());
                }
            });
            let unit = VtdUnit::new(VtdParams::default(), m.clone(), events, Arc::new(|_| {}))
                .map_err(|e| fail("VT-d unit", &e))?;
            let unit = Arc::new(unit);
            let upstream: Arc<dyn Upstream> = unit.clone();
            let faults = HostFaults::new(unit.clone());
            let driver = VtdDriver::new(unit, m.clone(), tables.clone())
                .map_err(|e| fail("VT-d driver", &e))?;
            (Arc::new(driver), upstream, rx, Some(faults))
        }
        IommuKind::Smmuv3 => {
            let irq = Arc::new(move |i: Interrupt| {
                if i.irq == Irq::PriQueue {
                    let _ = tx.lock().send(());
                }
            });
            let unit = SmmuUnit::new(SmmuParams::full(), m.clone(), irq)
                .map_err(|e| fail("SMMUv3 unit", &e))?;
            let unit = Arc::new(unit);
            let upstream: Arc<dyn Upstream> = unit.clone();
            let driver = SmmuDriver::new(unit, m.clone(), tables.clone())
                .map_err(|e| fail("SMMUv3 driver", &e))?;
            (Arc::new(driver), upstream, rx, None)
        }
    })
}

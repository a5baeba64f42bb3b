//! A whole function on VT-d under a guest whose vIOMMU it uses without PASIDs, its
//! translations shadowed ([`Shadow`]): the guest's domain is mirrored into a host IOAS, on
//! each IOTLB invalidation the guest queues, and the function is attached to a HWPT over
//! that IOAS whose page requests go to a fault queue the VMM serves: a page the guest maps
//! but the host lacks is mirrored on demand, and a DMA to a page the guest does not map is
//! recorded as a fault in the guest's vIOMMU.

use std::sync::Arc;

use softiommu_core::{DeviceCaps, Domain, PagingRequest, Rid};
use softiommu_devices::dsa::CompletionRecord;
use softiommu_iommufd::Context;
use softiommu_pgtable::Prot;
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::regs::{CAP_REG, Cap, Frcd, VtdParams};

use super::{Assigned, Counts, GuestFault, Mechanism};
use crate::host::IommuKind;
use crate::shadow::FaultService;
use crate::viommu::VtdViommu;
use crate::{Error, Guest, GuestDriver, HostRig, Result, Shadow};

/// Where the guest sees its device.
const GUEST_RID: Rid = Rid::new(0, 0, 3, 0);
/// F in the high half of a fault record (write 1 to clear).
const FRCD_F: u64 = 1 << 63;

/// A function of a VT-d host assigned to a guest with a shadowed VT-d vIOMMU.
pub struct VtdShadow {
    guest: Guest,
    viommu: VtdViommu,
    shadow: Arc<Shadow>,
    domain: Arc<Domain>,
    driver: GuestDriver,
    /// The VMM's context, which holds the shadow IOAS and the function's binding.
    ctx: Arc<Context>,
    /// The function's fault queue and the VMM's thread serving it.
    faults: FaultService,
}

impl std::fmt::Debug for VtdShadow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtdShadow")
            .field("shadow", &self.shadow)
            .field("driver", &self.driver)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl VtdShadow {
    /// Function `slot` (0 or 1) of `rig`'s engine assigned to `guest`, whose kernel keeps
    /// its vIOMMU tables in guest-physical `tables`: the VMM makes an empty IOAS, a VT-d
    /// vIOMMU in caching mode trapped by the shadow, binds the function and attaches it to
    /// a HWPT over the IOAS with a fault queue it serves (the host turning the function's
    /// page requests on); the guest kernel gives the device a paging domain and its driver
    /// brings the WQ up, blocking on faults.
    pub fn new(rig: &HostRig, guest: &Guest, slot: usize, tables: (u64, u64)) -> Result<Self> {
        if rig.kind() != IommuKind::Vtd {
            return Err(Error::Host("VT-d shadowing needs a VT-d host".into()));
        }
        let ctx = rig.context();
        let ioas = ctx.ioas_alloc()?;
        let params = VtdParams::default();
        let (viommu, shadow) = Shadow::vtd(guest, params, tables, (ctx.clone(), ioas), GUEST_RID)?;
        let dev = rig.vfio().open_device(rig.vf(slot)?)?;
        let dev_id = dev.bind_iommufd(&ctx)?;
        let (faults, hwpt) = FaultService::start(&ctx, (dev_id, ioas), 0, shadow.clone())?;
        dev.attach_pt(hwpt)?;
        rig.enable_page_requests(slot)?;
        let os = viommu.os();
        let gdev = os.add_device(GUEST_RID, DeviceCaps::default())?;
        let domain = os.core().new_paging(gdev, PagingRequest::default())?;
        os.core().attach(gdev, &domain)?;
        let mut driver = GuestDriver::new(dev);
        driver.bring_up(None)?;
        Ok(VtdShadow {
            guest: guest.clone(),
            viommu,
            shadow,
            domain,
            driver,
            ctx,
            faults,
        })
    }

    /// The shadow (its counts, mirrored pages and last host error).
    pub fn shadow(&self) -> &Arc<Shadow> {
        &self.shadow
    }

    /// The VMM's host context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The guest kernel's paging domain of the device (for a kernel that changes its
    /// tables and forgets to invalidate).
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// The guest's vIOMMU (its unit and the guest kernel's driver of it).
    pub fn viommu(&self) -> &VtdViommu {
        &self.viommu
    }
}

impl Assigned for VtdShadow {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Shadow
    }

    fn guest(&self) -> &Guest {
        &self.guest
    }

    fn pasid(&self) -> Option<u32> {
        None
    }

    fn map(&mut self, iova: u64, gpa: u64, len: u64, write: bool) -> Result<()> {
        let prot = if write { Prot::RW } else { Prot::READ };
        let errors = self.shadow.stats().errors;
        self.domain.map_sync(iova, gpa, len, prot)?;
        shadow_error(&self.shadow, errors)
    }

    fn unmap(&mut self, iova: u64, len: u64) -> Result<()> {
        let errors = self.shadow.stats().errors;
        self.domain.unmap_sync(iova, len)?;
        shadow_error(&self.shadow, errors)
    }

    fn memmove(&mut self, src: u64, dst: u64, len: u32, cr: u64) -> Result<CompletionRecord> {
        let cr_gpa = self
            .domain
            .iova_to_phys(cr)
            .ok_or_else(|| Error::Viommu(format!("completion record at {cr:#x} not mapped")))?;
        self.driver
            .memmove(&self.guest, (src, dst, len), (cr, cr_gpa))
    }

    /// The fault records of the guest's vIOMMU, read and cleared through its registers as
    /// the guest's driver does; each reason by its short name (`SSS.2`).
    fn faults(&mut self) -> Vec<GuestFault> {
        let unit = self.viommu.unit();
        let cap = Cap::from_bits(unit.mmio_read(CAP_REG, 8));
        let first = u64::from(cap.fro()) * 16;
        let mut out = Vec::new();
        for n in 0..=u64::from(cap.nfr()) {
            let at = first + 16 * n;
            let low = unit.mmio_read(at, 8);
            let high = unit.mmio_read(at + 8, 8);
            let r = Frcd::from_bits(u128::from(high) << 64 | u128::from(low));
            if !r.f() {
                continue;
            }
            unit.mmio_write(at + 8, 8, FRCD_F);
            let reason = match FaultReason::from_code(r.fr()) {
                Some(f) => f.name().to_string(),
                None => format!("fault reason {:#x}", r.fr()),
            };
            out.push(GuestFault {
                addr: r.fi() << 12,
                pasid: r.pp().then(|| r.pv()),
                reason,
            });
        }
        out
    }

    fn counts(&self) -> Counts {
        let s = self.shadow.stats();
        Counts {
            guest_invalidations: s.guest_invalidations,
            host_invalidations: s.host_maps + s.host_unmaps,
        }
    }
}

/// The shadow's last failed host call, as an error, if any failed since its error count
/// was `before`.
fn shadow_error(shadow: &Shadow, before: u64) -> Result<()> {
    if shadow.stats().errors == before {
        return Ok(());
    }
    let e = shadow.last_error().unwrap_or_default();
    Err(Error::Viommu(format!(
        "shadow: the host refused a call: {e}"
    )))
}

//! A device assigned to a guest whose VT-d vIOMMU's first stage the host nests: a VF at its
//! RID or at a PASID the guest picks, or an mdev at its PASID of the parent, the guest then
//! seeing a device without PASIDs, or with the one PASID the VMM hands out through the
//! vIOMMU's virtual commands (the host's PASID of the mdev).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::{DeviceCaps, DeviceId, Domain, PagingRequest, Rid};
use softiommu_devices::dsa::CompletionRecord;
use softiommu_iommufd::vfio::MdevParent;
use softiommu_iommufd::{Context, HWPT_ALLOC_NEST_PARENT};
use softiommu_pgtable::{Access, Prot};
use softiommu_vtd::driver::VtdMmio;
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::model::{ModelCaps, PasidAllocator, Request};
use softiommu_vtd::regs::{FaultRecord, RequestKind, VCMD_REG, VCRSP_REG, Vcrsp, VtdParams};

use super::faults::{HostFaults, take_records};
use super::trap::{HostPoint, NestTrap, TrapParts};
use crate::assign::{Assigned, Column, Counts, GuestFault, Mechanism, Unit};
use crate::host::PARENT_RID;
use crate::viommu::VtdViommu;
use crate::{Error, Guest, GuestDriver, HostRig, Result};

/// Owner token of the PASIDs a guest kernel takes from its own global space.
const GUEST_PASID_OWNER: u64 = 1;

/// Where the guests see their device.
pub const GUEST_RID: Rid = Rid::new(0, 0, 3, 0);

/// The vIOMMU a nesting guest is given: scalable mode with first-stage translation only (its
/// second stage is the host's), PASIDs, caching mode (so that the guest invalidates the
/// PASID cache when it makes an entry present, which is when the VMM nests it), and the
/// virtual command interface when the VMM allocates PASIDs.
pub fn nest_viommu_params(vcmd: bool) -> VtdParams {
    VtdParams {
        second_stage: false,
        ss_2m: false,
        ss_1g: false,
        ss_ad: false,
        nesting: false,
        device_tlb: false,
        page_requests: false,
        virtual_command: vcmd,
        caching_mode: true,
        ..VtdParams::default()
    }
}

/// One PASID of the host's, handed to a guest through its vIOMMU's virtual commands.
struct OnePasid {
    pasid: u32,
    taken: Mutex<bool>,
}

impl PasidAllocator for OnePasid {
    fn alloc(&self) -> Option<u32> {
        let mut t = self.taken.lock();
        (!*t).then(|| {
            *t = true;
            self.pasid
        })
    }

    fn free(&self, pasid: u32) -> bool {
        let mut t = self.taken.lock();
        let ok = *t && pasid == self.pasid;
        if ok {
            *t = false;
        }
        ok
    }
}

/// A device assigned to a guest whose first-stage tables the host nests.
pub struct VtdNest {
    guest: Guest,
    viommu: VtdViommu,
    trap: Arc<NestTrap>,
    driver: GuestDriver,
    /// The VMM's context: the IOAS of the guest's RAM, the HWPTs, the device's binding.
    ctx: Arc<Context>,
    faults: Arc<HostFaults>,
    domain: Arc<Domain>,
    /// The device in the guest kernel's IOMMU core.
    gdev: DeviceId,
    unit: Unit,
    mechanism: Mechanism,
    /// The PASID the guest's driver tags requests with.
    pasid: Option<u32>,
    /// The host's requester ID and PASID of the device's requests.
    host_req: (u16, Option<u32>),
    /// The guest's mappings: IOVA -> (GPA, length).
    maps: BTreeMap<u64, (u64, u64)>,
    /// The mdev made for this guest, removed after the fields above let its file go.
    _mdev: Option<MdevGuard>,
}

impl std::fmt::Debug for VtdNest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtdNest")
            .field("mechanism", &self.mechanism)
            .field("pasid", &self.pasid)
            .field("host_req", &self.host_req)
            .finish_non_exhaustive()
    }
}

/// [`VtdNest::new`] as an [`Assigned`].
pub fn nest_vtd(
    rig: &HostRig,
    guest: &Guest,
    (unit, slot): (Unit, usize),
    column: Column,
    tables: (u64, u64),
) -> Result<Box<dyn Assigned>> {
    Ok(Box::new(VtdNest::new(
        rig,
        guest,
        (unit, slot),
        column,
        tables,
    )?))
}

impl VtdNest {
    /// `unit` of VT-d host `rig` (function `slot`, 0 or 1, of the engine bound to VFIO, or
    /// a new mdev of the parent) assigned to `guest` under a vIOMMU of `column`
    /// ([`Column::Viommu`] or [`Column::ViommuPasid`]), the guest kernel's IOMMU tables in
    /// guest-physical `tables`. The VMM's context gets an IOAS holding the guest's RAM at
    /// IOVA = GPA under a nesting-parent HWPT; the guest kernel brings its vIOMMU up and
    /// gives the device (at [`GUEST_RID`]) a first-stage paging domain, at its RID, at a
    /// PASID it takes from its own space (a VF), or at the PASID the vIOMMU's virtual
    /// command hands it (an mdev: the host's PASID of the mdev); the VMM nests that
    /// domain's table on the host, and the guest's driver brings the work queue up.
    pub fn new(
        rig: &HostRig,
        guest: &Guest,
        (unit, slot): (Unit, usize),
        column: Column,
        tables: (u64, u64),
    ) -> Result<VtdNest> {
        let with_pasid = match column {
            Column::Viommu => false,
            Column::ViommuPasid => true,
            Column::NoViommu => {
                return Err(Error::Viommu(
                    "nesting needs a vIOMMU: without one the assignment is direct".into(),
                ));
            }
        };
        let faults = rig
            .vtd_faults()
            .ok_or_else(|| Error::Host("VT-d nesting needs a VT-d host".into()))?
            .clone();
        // Declared first, dropped last: an mdev made here goes if anything below fails.
        let mut mdev = None;
        let (file, host_sid, mdev_pasid) = match unit {
            Unit::Vf => {
                let sid = rig.vf_rid(slot)?.source_id();
                (rig.vfio().open_device(rig.vf(slot)?)?, sid, None)
            }
            Unit::Mdev => {
                let parent = rig.parent().clone();
                let name = parent.create()?;
                let guard = mdev.insert(MdevGuard(parent.clone(), name));
                let file = parent.open(&guard.1)?;
                let pasid = parent.pasid_of(&guard.1)?;
                (file, PARENT_RID.source_id(), pasid)
            }
        };
        let vcmd = unit == Unit::Mdev && with_pasid;
        let ctx = rig.context();
        let dev_id = file.bind_iommufd(&ctx)?;
        let ioas = ctx.ioas_alloc()?;
        guest.map_into(&ctx, ioas)?;
        let parent = ctx.hwpt_alloc(dev_id, ioas, HWPT_ALLOC_NEST_PARENT)?;
        let params = nest_viommu_params(vcmd);
        let caps = ModelCaps::from_params(&params)
            .map_err(|e| Error::Viommu(format!("vIOMMU parameters: {e}")))?
            .structs;

        let file = Arc::new(file);
        let parts = TrapParts {
            mem: guest.space(),
            caps,
            ctx: ctx.clone(),
            dev: file.clone(),
            dev_id,
            parent,
            sid: GUEST_RID.source_id(),
        };
        let mut made = None;
        let viommu = VtdViommu::with_mmio(guest, params, tables, |u| {
            let t = Arc::new(NestTrap::new(u.clone(), parts));
            made = Some(t.clone());
            t
        })?;
        let trap = made.ok_or_else(|| Error::Viommu("no register path".into()))?;
        let mechanism = if vcmd {
            Mechanism::NestPv
        } else {
            Mechanism::Nest
        };
        if let (true, Some(p)) = (vcmd, mdev_pasid) {
            viommu.unit().set_pasid_allocator(Some(Arc::new(OnePasid {
                pasid: p,
                taken: Mutex::new(false),
            })));
        }

        // The guest kernel: the device behind its vIOMMU, a first-stage domain for it.
        let os = viommu.os();
        let dcaps = DeviceCaps {
            pasid_bits: if with_pasid { 20 } else { 0 },
            ..DeviceCaps::default()
        };
        let gdev = os.add_device(GUEST_RID, dcaps)?;
        let domain = os.core().new_paging(
            gdev,
            PagingRequest {
                pasid: true,
                ..PagingRequest::default()
            },
        )?;
        // The PASID of the guest's entry: RID_PASID without PASIDs; for a VF one the guest
        // kernel takes from its own space; for an mdev the one its virtual command is
        // given, the host's.
        let pasid = match (unit, with_pasid) {
            (_, false) => None,
            (Unit::Vf, true) => Some(os.core().alloc_pasid(GUEST_PASID_OWNER)?),
            (Unit::Mdev, true) => Some(vcmd_alloc(&*trap)?),
        };
        let point = match (unit, pasid) {
            (Unit::Vf, None) => HostPoint::Rid,
            (Unit::Vf, Some(p)) => HostPoint::Pasid(p),
            (Unit::Mdev, _) => HostPoint::Mdev,
        };
        trap.set_target(pasid.unwrap_or(0), point);
        let host_pasid = if unit == Unit::Vf { pasid } else { mdev_pasid };
        match pasid {
            Some(p) => os.core().attach_pasid(gdev, p, &domain)?,
            None => os.core().attach(gdev, &domain)?,
        }
        let mut driver = GuestDriver::shared(file);
        driver.bring_up(if unit == Unit::Vf { pasid } else { None })?;
        Ok(VtdNest {
            guest: guest.clone(),
            viommu,
            trap,
            driver,
            ctx,
            faults,
            domain,
            gdev,
            unit,
            mechanism,
            pasid,
            host_req: (host_sid, host_pasid),
            maps: BTreeMap::new(),
            _mdev: mdev,
        })
    }

    /// The guest's vIOMMU.
    pub fn viommu(&self) -> &VtdViommu {
        &self.viommu
    }

    /// The device in the guest kernel's IOMMU core.
    pub fn guest_device(&self) -> DeviceId {
        self.gdev
    }

    /// The VMM's context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The guest's driver of the engine.
    pub fn driver(&self) -> &GuestDriver {
        &self.driver
    }

    /// The guest's register path to its vIOMMU: the VMM's trap.
    pub fn mmio(&self) -> Arc<dyn VtdMmio> {
        self.trap.clone()
    }

    /// Nested HWPTs made so far (one per stage-1 change of the guest's).
    pub fn nests(&self) -> u64 {
        self.trap.state.lock().nests
    }

    /// Guest entries the VMM would not nest (malformed, or at a PASID the device was not
    /// given), and the reason the hardware gives for the last malformed one of the device.
    pub fn refused(&self) -> (u64, Option<FaultReason>) {
        let st = self.trap.state.lock();
        (st.refused, st.refusal)
    }

    /// Host calls that failed, with the last failure.
    pub fn host_errors(&self) -> (u64, Option<String>) {
        let st = self.trap.state.lock();
        (st.errors, st.last_error.clone())
    }

    /// The guest-physical address behind device address `iova`, by the guest's mappings.
    fn gpa(&self, iova: u64) -> Option<u64> {
        let (&start, &(gpa, len)) = self.maps.range(..=iova).next_back()?;
        let off = iova - start;
        if off < len {
            gpa.checked_add(off)
        } else {
            None
        }
    }

    /// Hands the host's faults of the device to the guest's vIOMMU, each with the reason
    /// the guest's own tables give for it (the host's when they translate). A VF is the
    /// guest's whole: its faults at any PASID are the guest's, at the same PASID. An mdev's
    /// are those at its PASID of the parent, which the guest knows as its own PASID (or as
    /// requests without one).
    fn forward(&self) {
        let unit = self.viommu.unit();
        let records = match self.host_req {
            (sid, _) if self.unit == Unit::Vf => self.faults.take_if(|r| r.sid == sid),
            (sid, pasid) => self.faults.take(sid, pasid),
        };
        for r in records {
            let pasid = if self.unit == Unit::Vf {
                r.pasid
            } else {
                self.pasid
            };
            let req = Request {
                sid: self.trap.sid(),
                pasid,
                addr: r.addr,
                access: Access {
                    write: r.kind == RequestKind::Write,
                    exec: r.execute,
                    privileged: r.privileged,
                },
            };
            let reason = match unit.engine().translate(req) {
                Err(f) if !f.record => continue,
                Err(f) => f.reason.code(),
                Ok(_) => r.reason,
            };
            unit.inject_fault(FaultRecord {
                sid: req.sid,
                pasid,
                reason,
                ..r
            });
        }
    }
}

/// The guest kernel's Allocate PASID virtual command through its register path.
fn vcmd_alloc(regs: &dyn VtdMmio) -> Result<u32> {
    regs.mmio_write(VCMD_REG, 8, 1);
    let r = Vcrsp::from_bits(regs.mmio_read(VCRSP_REG, 8));
    if r.ip() || r.sc() != 0 {
        return Err(Error::Viommu(format!(
            "Allocate PASID: status code {}",
            r.sc()
        )));
    }
    u32::try_from(r.rslt()).map_err(|_| Error::Viommu("a PASID wider than 32 bits".into()))
}

/// The mdev made for a guest: removed once everything holding its file is gone.
struct MdevGuard(Arc<MdevParent>, String);

impl Drop for MdevGuard {
    fn drop(&mut self) {
        let _ = self.0.remove(&self.1);
    }
}

impl Assigned for VtdNest {
    fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    fn guest(&self) -> &Guest {
        &self.guest
    }

    fn pasid(&self) -> Option<u32> {
        self.pasid
    }

    fn map(&mut self, iova: u64, gpa: u64, len: u64, write: bool) -> Result<()> {
        let prot = if write { Prot::RW } else { Prot::READ };
        self.domain.map_sync(iova, gpa, len, prot)?;
        self.maps.insert(iova, (gpa, len));
        Ok(())
    }

    fn unmap(&mut self, iova: u64, len: u64) -> Result<()> {
        self.domain.unmap_sync(iova, len)?;
        let end = iova.saturating_add(len);
        self.maps
            .retain(|&s, &mut (_, l)| s.saturating_add(l) <= iova || s >= end);
        Ok(())
    }

    fn memmove(&mut self, src: u64, dst: u64, len: u32, cr: u64) -> Result<CompletionRecord> {
        let cr_gpa = self
            .gpa(cr)
            .ok_or_else(|| Error::Viommu(format!("completion record at unmapped {cr:#x}")))?;
        self.driver
            .memmove(&self.guest, (src, dst, len), (cr, cr_gpa))
    }

    fn faults(&mut self) -> Vec<GuestFault> {
        self.forward();
        take_records(&*self.trap)
            .into_iter()
            .map(|r| GuestFault {
                addr: r.addr,
                pasid: r.pasid,
                reason: FaultReason::from_code(r.reason)
                    .map_or_else(|| format!("{:#x}", r.reason), |f| f.name().to_string()),
            })
            .collect()
    }

    fn counts(&self) -> Counts {
        let st = self.trap.state.lock();
        Counts {
            guest_invalidations: st.guest_invalidations,
            host_invalidations: st.host_invalidations,
        }
    }
}

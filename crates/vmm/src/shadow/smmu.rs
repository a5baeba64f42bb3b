//! Shadowing a guest's SMMUv3 translations for an assigned VF or mdev.
//!
//! An SMMU caches no not-present entries, so a guest driver sends nothing after a map
//! unless asked to: the guest's driver here invalidates after maps as after unmaps
//! ([`SmmuDriver::set_tlbi_on_map`](softiommu_smmuv3::driver::SmmuDriver::set_tlbi_on_map)),
//! as a Linux guest is told to under a shadowing vSMMU. The VMM traps the command queue:
//! after the unit has consumed the guest's commands, each `CMD_TLBI_NH_VA`/`VAA` is
//! answered by walking the guest's CD and stage-1 tables over its range (through the unit's
//! translation engine, which records no event for it) and mirroring what it finds into a
//! host IOAS — guest IOVA to the host memory of the guest page; an invalidation of a whole
//! ASID, of everything, or of the device's STE or CDs checks again every page mirrored.
//! The device, attached to that IOAS (an mdev through its own device file, the host
//! putting the IOAS at the parent's PASID), reaches what the guest mapped for it.
//!
//! The device is attached to a HWPT over the IOAS with a fault queue the VMM serves (an
//! mdev's made for PASIDs, the host attaching it at the mdev's PASID of the parent and
//! turning the parent's PRI on): a page request for a page the guest maps (the shadow was
//! behind) mirrors it on demand; one for a page the guest does not map has the fault the
//! guest's tables give (F_TRANSLATION for a missing page, with the guest's StreamID)
//! injected into the guest's event queue.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::{Domain, Mem, Rid};
use softiommu_devices::dsa::CompletionRecord;
use softiommu_iommufd::vfio::{MdevParent, VfioDevice};
use softiommu_iommufd::{Context, HWPT_ALLOC_PASID};
use softiommu_pgtable::Access;
use softiommu_smmuv3::model::{Request, SmmuUnit};
use softiommu_smmuv3::regs::SmmuParams;

use super::{FaultService, PageServer, ShadowStats};
use crate::assign::{Assigned, Counts, GuestFault, Mechanism};
use crate::viommu::SmmuViommu;
use crate::viommu::smmu_guest::SmmuGuestDevice;
use crate::viommu::smmu_trap::{CmdqTrap, CommandSink, names_stream, op, tlbi_range};
use crate::{Error, Guest, HostRig, IommuKind, Result};

const PAGE: u64 = 4096;
/// The largest range walked page by page for one invalidation: 1 GiB. A larger one checks
/// what is mirrored.
const MAX_WALK: u64 = 1 << 30;

#[derive(Debug, Default)]
struct State {
    /// Mirrored pages: guest IOVA -> (guest-physical page, writable).
    pages: BTreeMap<u64, (u64, bool)>,
    stats: ShadowStats,
    last_error: Option<String>,
}

/// The VMM's side: the host IOAS kept in step with the guest's mappings of one stream.
struct Mirror {
    guest: Guest,
    ctx: Arc<Context>,
    ioas: u32,
    sid: u32,
    /// The guest's SubstreamID of the device's DMA, if it uses one.
    ssid: Option<u32>,
    st: Mutex<State>,
}

impl Mirror {
    fn note(st: &mut State, r: Result<()>) {
        if let Err(e) = r {
            st.stats.errors += 1;
            st.last_error = Some(e.to_string());
        }
    }

    /// The guest's mapping of page `iova`: (guest-physical page, writable).
    fn walk(&self, unit: &SmmuUnit<Mem>, iova: u64) -> Option<(u64, bool)> {
        let engine = unit.engine();
        let req = |access| Request::new(self.sid, self.ssid, iova, access);
        let t = engine.translate(req(Access::READ)).ok()?;
        let w = engine.translate(req(Access::WRITE)).is_ok();
        Some((t.pa & !(PAGE - 1), w))
    }

    fn map(&self, iova: u64, gpa: u64, write: bool) -> Result<()> {
        self.guest.map_page(&self.ctx, self.ioas, iova, gpa, write)
    }

    /// Brings the host's page `iova` in line with the guest's tables.
    fn sync_page(&self, unit: &SmmuUnit<Mem>, st: &mut State, iova: u64) {
        let want = self.walk(unit, iova);
        let have = st.pages.get(&iova).copied();
        if want == have {
            return;
        }
        if have.is_some() {
            st.pages.remove(&iova);
            let r = self.ctx.ioas_unmap(self.ioas, iova, PAGE);
            st.stats.host_unmaps += 1;
            Self::note(st, r.map(|_| ()).map_err(Error::from));
        }
        if let Some((gpa, w)) = want {
            let r = self.map(iova, gpa, w);
            st.stats.host_maps += 1;
            if r.is_ok() {
                st.pages.insert(iova, (gpa, w));
            }
            Self::note(st, r);
        }
    }

    /// Mirrors `[start, end)`; a range beyond [`MAX_WALK`] checks what is mirrored.
    fn sync_range(&self, unit: &SmmuUnit<Mem>, st: &mut State, (start, end): (u64, u64)) {
        if end.saturating_sub(start) > MAX_WALK {
            return self.recheck(unit, st);
        }
        let mut iova = start & !(PAGE - 1);
        while iova < end {
            self.sync_page(unit, st, iova);
            match iova.checked_add(PAGE) {
                Some(next) => iova = next,
                None => break,
            }
        }
    }

    /// Checks every mirrored page again.
    fn recheck(&self, unit: &SmmuUnit<Mem>, st: &mut State) {
        let held: Vec<u64> = st.pages.keys().copied().collect();
        for iova in held {
            self.sync_page(unit, st, iova);
        }
    }
}

/// The VMM's service of the device's page requests: the guest's tables walked through its
/// vIOMMU's translation engine as the device's request.
struct Pages {
    mirror: Arc<Mirror>,
    unit: Arc<SmmuUnit<Mem>>,
}

impl PageServer for Pages {
    /// A translation mirrors the page; a fault's event (when the guest's configuration
    /// records one) goes into the guest's event queue as the SMMU records its own, never as
    /// a stall, the device having been answered already.
    fn serve(&self, addr: u64, write: bool) -> bool {
        let access = if write { Access::WRITE } else { Access::READ };
        let req = Request::new(self.mirror.sid, self.mirror.ssid, addr, access);
        let walked = self.unit.engine().translate(req);
        let mut st = self.mirror.st.lock();
        match walked {
            Ok(_) => {
                st.stats.on_demand += 1;
                self.mirror
                    .sync_page(&self.unit, &mut st, addr & !(PAGE - 1));
                true
            }
            Err(f) => {
                st.stats.reported += 1;
                drop(st);
                if let Some(mut e) = f.event.filter(|_| f.record) {
                    e.stall = None;
                    self.unit.inject_event(&e);
                }
                false
            }
        }
    }
}

impl CommandSink for Mirror {
    fn commands(&self, unit: &SmmuUnit<Mem>, cmds: &[[u64; 2]]) {
        let mut st = self.st.lock();
        for &c in cmds {
            match c[0] & 0xff {
                op::TLBI_NH_VA | op::TLBI_NH_VAA => {
                    st.stats.guest_invalidations += 1;
                    self.sync_range(unit, &mut st, tlbi_range(c));
                }
                op::TLBI_NH_ALL | op::TLBI_NH_ASID | op::TLBI_NSNH_ALL => {
                    st.stats.guest_invalidations += 1;
                    self.recheck(unit, &mut st);
                }
                op::CFGI_STE | op::CFGI_STE_RANGE | op::CFGI_CD | op::CFGI_CD_ALL
                    if names_stream(c, self.sid) =>
                {
                    st.stats.guest_invalidations += 1;
                    self.recheck(unit, &mut st);
                }
                _ => {}
            }
        }
    }
}

/// Where the guest sees its device.
const GUEST_RID: Rid = Rid::new(0, 0, 3, 0);

/// What the shadow's device is on the host.
enum Attach {
    /// A function of the engine bound to VFIO (0 or 1).
    Vf(usize),
    /// An mdev of the parent, removed with the assignment; at a PASID the host gave it
    /// for the guest, if given.
    Mdev(Arc<MdevParent>, String, Option<u32>),
}

/// A VF or an mdev assigned to a guest with an SMMUv3 vIOMMU, its guest's mappings (at
/// the RID, or for an mdev at a SubstreamID the host allocated) shadowed into a host IOAS.
pub struct SmmuShadow {
    side: SmmuGuestDevice,
    mirror: Arc<Mirror>,
    /// The mdev made for the guest, removed with the assignment.
    mdev: Option<(Arc<MdevParent>, String)>,
    /// The device's fault queue and the VMM's thread serving it (dropped before the device
    /// file closes).
    faults: Option<FaultService>,
}

impl Drop for SmmuShadow {
    fn drop(&mut self) {
        self.faults = None;
        self.side.close();
        if let Some((parent, name)) = self.mdev.take() {
            let _ = parent.remove(&name);
        }
    }
}

impl std::fmt::Debug for SmmuShadow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmmuShadow")
            .field("ioas", &self.mirror.ioas)
            .field("sid", &self.mirror.sid)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl SmmuShadow {
    /// Function `slot` (0 or 1) of `rig`'s engine (an SMMUv3 host) assigned to `guest`
    /// behind an SMMUv3 vIOMMU whose kernel keeps its tables in guest-physical `tables`.
    pub fn vf(rig: &HostRig, guest: &Guest, slot: usize, tables: (u64, u64)) -> Result<Self> {
        let file = rig.vfio().open_device(rig.vf(slot)?)?;
        Self::new(rig, guest, tables, file, Attach::Vf(slot))
    }

    /// A new mdev of `rig`'s parent engine (an SMMUv3 host) assigned to `guest` behind an
    /// SMMUv3 vIOMMU whose kernel keeps its tables in guest-physical `tables`: the host
    /// puts the shadow IOAS at the parent's PASID for it. The mdev is removed with the
    /// assignment.
    pub fn mdev(rig: &HostRig, guest: &Guest, tables: (u64, u64)) -> Result<Self> {
        let parent = rig.parent();
        let name = parent.create()?;
        let made = parent.open(&name).map_err(Error::from).and_then(|file| {
            Self::new(
                rig,
                guest,
                tables,
                file,
                Attach::Mdev(parent.clone(), name.clone(), None),
            )
        });
        if made.is_err() {
            let _ = parent.remove(&name);
        }
        made
    }

    /// The guest's paravirtual PASID allocation for its device, mdev `name` of `rig`'s
    /// parent: the VMM asks the host for one more PASID of the parent for the mdev and
    /// returns its number, which the guest uses as is (as VT-d's virtual command hands a
    /// guest the host's PASID).
    fn pv_alloc_pasid(rig: &HostRig, name: &str) -> Result<u32> {
        Ok(rig.parent().alloc_pasid(name)?)
    }

    /// Column "vIOMMU with PASID" for an mdev (shadow + PV): a new mdev of `rig`'s parent
    /// assigned to `guest` behind an SMMUv3 vIOMMU with SubstreamIDs whose kernel keeps its
    /// tables in guest-physical `tables`. The guest's kernel allocates its PASID through
    /// the paravirtual call (the host's PASID of the parent, given to the mdev), puts its
    /// CD at that SubstreamID and tags the device's WQ with it; the VMM shadows that
    /// SubstreamID's stage 1 into a host IOAS, whose HWPT (with the fault queue the VMM
    /// serves) the mdev's file attaches at that PASID. The mdev and its PASIDs go with the
    /// assignment.
    pub fn mdev_pasid(rig: &HostRig, guest: &Guest, tables: (u64, u64)) -> Result<Self> {
        let parent = rig.parent();
        let name = parent.create()?;
        let made = Self::pv_alloc_pasid(rig, &name).and_then(|pasid| {
            let file = parent.open(&name)?;
            Self::new(
                rig,
                guest,
                tables,
                file,
                Attach::Mdev(parent.clone(), name.clone(), Some(pasid)),
            )
        });
        if made.is_err() {
            let _ = parent.remove(&name);
        }
        made
    }

    /// Device file `file` bound to a new context of the VMM, with a new IOAS the VMM keeps
    /// in step with the guest's mappings: the device attached to a HWPT over it whose faults
    /// the VMM serves (for a VF the host turning the function's page requests on; for an
    /// mdev a HWPT for PASIDs, the host's mdev driver turning the parent's on); the guest kernel attaches a paging domain at the RID and its engine driver
    /// brings WQ 0 up.
    fn new(
        rig: &HostRig,
        guest: &Guest,
        tables: (u64, u64),
        file: VfioDevice,
        attach: Attach,
    ) -> Result<Self> {
        if rig.kind() != IommuKind::Smmuv3 {
            return Err(Error::Host("SMMUv3 shadowing needs an SMMUv3 host".into()));
        }
        let ctx = rig.context();
        let dev_id = file.bind_iommufd(&ctx)?;
        let ioas = ctx.ioas_alloc()?;
        let mirror = Arc::new(Mirror {
            guest: guest.clone(),
            ctx: ctx.clone(),
            ioas,
            sid: u32::from(GUEST_RID.source_id()),
            ssid: match &attach {
                Attach::Mdev(_, _, pasid) => *pasid,
                Attach::Vf(_) => None,
            },
            st: Mutex::new(State::default()),
        });
        let sink = mirror.clone();
        let viommu = SmmuViommu::with_mmio(guest, SmmuParams::full(), tables, |unit| {
            Arc::new(CmdqTrap::new(unit, guest.space(), sink))
        })?;
        viommu.driver().set_tlbi_on_map(true);
        let pages = Arc::new(Pages {
            mirror: mirror.clone(),
            unit: viommu.unit().clone(),
        });
        let (flags, slot, mdev) = match attach {
            Attach::Vf(slot) => (0, Some(slot), None),
            Attach::Mdev(parent, name, _) => (HWPT_ALLOC_PASID, None, Some((parent, name))),
        };
        let ssid = mirror.ssid;
        let (faults, hwpt) = FaultService::start(&ctx, (dev_id, ioas), flags, pages)?;
        match ssid {
            Some(p) => file.attach_pasid(p, hwpt)?,
            None => file.attach_pt(hwpt)?,
        };
        if let Some(slot) = slot {
            rig.enable_page_requests(slot)?;
        }
        let side = SmmuGuestDevice::attach(guest, viommu, (GUEST_RID, ssid), file)?;
        Ok(SmmuShadow {
            side,
            mirror,
            mdev,
            faults: Some(faults),
        })
    }

    /// The device as the guest kernel's IOMMU core knows it (in
    /// [`viommu().os()`](SmmuViommu::os)).
    pub fn device(&self) -> softiommu_core::DeviceId {
        self.side.device()
    }

    /// The guest's vIOMMU (its unit and the guest kernel's driver of it).
    pub fn viommu(&self) -> &SmmuViommu {
        &self.side.viommu
    }

    /// The guest kernel's paging domain of the device (for a kernel that changes its
    /// tables and forgets to invalidate).
    pub fn domain(&self) -> &Arc<Domain> {
        self.side.domain()
    }

    /// The host IOAS the device is attached to.
    pub fn ioas(&self) -> u32 {
        self.mirror.ioas
    }

    /// The counts so far.
    pub fn stats(&self) -> ShadowStats {
        self.mirror.st.lock().stats
    }

    /// The last host call that failed, if any.
    pub fn last_error(&self) -> Option<String> {
        self.mirror.st.lock().last_error.clone()
    }

    /// The guest IOVA pages mirrored now, with the guest-physical page each maps.
    pub fn mirrored(&self) -> Vec<(u64, u64)> {
        let st = self.mirror.st.lock();
        st.pages.iter().map(|(&i, &(g, _))| (i, g)).collect()
    }
}

impl Assigned for SmmuShadow {
    fn mechanism(&self) -> Mechanism {
        match self.mirror.ssid {
            Some(_) => Mechanism::ShadowPv,
            None => Mechanism::Shadow,
        }
    }

    fn guest(&self) -> &Guest {
        &self.side.guest
    }

    fn pasid(&self) -> Option<u32> {
        self.mirror.ssid
    }

    fn map(&mut self, iova: u64, gpa: u64, len: u64, write: bool) -> Result<()> {
        self.side.map(iova, gpa, len, write)
    }

    fn unmap(&mut self, iova: u64, len: u64) -> Result<()> {
        self.side.unmap(iova, len)
    }

    fn memmove(&mut self, src: u64, dst: u64, len: u32, cr: u64) -> Result<CompletionRecord> {
        self.side.memmove((src, dst, len), cr)
    }

    /// What the guest's SMMU driver found in its event queue: the faults the VMM injected
    /// there.
    fn faults(&mut self) -> Vec<GuestFault> {
        self.side.faults()
    }

    fn counts(&self) -> Counts {
        let s = self.stats();
        Counts {
            guest_invalidations: s.guest_invalidations,
            host_invalidations: s.host_maps + s.host_unmaps,
        }
    }
}

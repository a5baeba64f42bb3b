//! The core's registry: instances, devices, groups and what each RID and PASID is attached
//! to. Every call here is short: look up, check, ask the driver, record.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::caps::{EffectiveCaps, Family};
use crate::domain::{Attachment, Domain, DomainKind, Nested, NestedData};
use crate::driver::{DeviceInfo, HwInfo, IommuDriver, PagingRequest, Target};
use crate::error::{CoreError, Result};
use crate::ids::{DeviceId, DomainId, GroupId, InstanceId, PASID_LIMIT, Pasid};
use crate::iopf::PageRequest;
use crate::pasid::{PasidOwner, PasidSpace};
use crate::sva::Mm;
use crate::table::{Mem, TableAlloc};
use crate::topology::Topology;

/// Page-request groups a device may have open at once before the core answers new ones
/// with a failure.
const OPEN_GROUPS_MAX: usize = 512;

/// A page-request group: device, PASID and group index.
type GroupKey = (DeviceId, Option<Pasid>, u16);

pub(crate) struct Dev {
    info: DeviceInfo,
    group: GroupId,
    rid: Option<Arc<Domain>>,
    pasids: BTreeMap<Pasid, Arc<Domain>>,
    private: BTreeSet<Pasid>,
    sva: HashMap<u32, (Pasid, Arc<Mm>, usize)>,
}

impl Dev {
    /// Refuses a call that would change `pasid` behind the back of the SVA binding that
    /// attached it: only [`Iommu::sva_unbind`] detaches a bound PASID.
    fn not_sva_bound(&self, pasid: Pasid) -> Result<()> {
        if self.sva.values().any(|b| b.0 == pasid) {
            Err(CoreError::Busy(
                "the PASID is bound to an address space: unbind it",
            ))
        } else {
            Ok(())
        }
    }
}

/// Refuses to attach an SVA domain anywhere but where [`Iommu::sva_bind`] attaches it.
fn not_sva(domain: &Domain) -> Result<()> {
    if matches!(domain.kind(), DomainKind::Sva(_)) {
        Err(CoreError::Invalid(
            "an SVA domain is attached by binding its address space",
        ))
    } else {
        Ok(())
    }
}

struct Group {
    devices: Vec<DeviceId>,
    owner: Option<u64>,
}

#[derive(Default)]
pub(crate) struct State {
    instances: Vec<Arc<dyn IommuDriver>>,
    devices: BTreeMap<DeviceId, Dev>,
    groups: BTreeMap<GroupId, Group>,
    next_device: u32,
    next_group: u32,
}

impl State {
    fn dev(&self, id: DeviceId) -> Result<&Dev> {
        self.devices.get(&id).ok_or(CoreError::NoDevice(id))
    }

    fn dev_mut(&mut self, id: DeviceId) -> Result<&mut Dev> {
        self.devices.get_mut(&id).ok_or(CoreError::NoDevice(id))
    }

    fn driver(&self, id: InstanceId) -> Result<Arc<dyn IommuDriver>> {
        self.instances
            .get(id.0 as usize)
            .cloned()
            .ok_or(CoreError::NoInstance(id))
    }

    fn singleton(&self, dev: &Dev) -> Result<()> {
        match self.groups.get(&dev.group) {
            Some(g) if g.devices.len() == 1 => Ok(()),
            Some(_) => Err(CoreError::Invalid(
                "the device shares its group: attach the group",
            )),
            None => Err(CoreError::NoGroup(dev.group)),
        }
    }
}

/// Refuses a PASID that does not fit in 20 bits: no device sends one and no hardware
/// structure holds one.
pub(crate) fn check_pasid(pasid: Pasid) -> Result<()> {
    if pasid < PASID_LIMIT {
        Ok(())
    } else {
        Err(CoreError::Invalid("PASID wider than 20 bits"))
    }
}

fn target(d: Option<&Arc<Domain>>) -> Target<'_> {
    match d.map(|d| (d, d.kind())) {
        None | Some((_, DomainKind::Blocked)) => Target::Blocked,
        Some((_, DomainKind::Identity)) => Target::Identity,
        Some((d, _)) => Target::Domain(d),
    }
}

/// The IOMMU core: the registry of instances, devices, groups and domains, and the calls that
/// attach domains to RIDs and PASIDs, bind process address spaces, and route I/O page faults.
///
/// One instance run by the pure-software reference driver, one device behind it, a paging
/// domain attached at its RID and mapped, and the device's DMA:
///
/// ```
/// use std::sync::Arc;
/// use softiommu_core::reference::{RefConfig, RefIommu};
/// use softiommu_core::{
///     DeviceCaps, DeviceDesc, DmaFaultKind, Iommu, Mem, PagingRequest, Rid, TableAlloc, Topology,
/// };
/// use softiommu_mem::{PageAlloc, RamArena};
/// use softiommu_pgtable::{Access, Prot};
///
/// let ram: Mem = Arc::new(RamArena::new(0, 256 << 20)?);
/// let tables: TableAlloc = Arc::new(PageAlloc::new(ram.clone(), 0, 16 << 20)?);
/// let iommu = Iommu::new(ram.clone(), tables);
/// let instance = iommu.add_instance(RefIommu::new(RefConfig::default(), ram)?);
///
/// let device = DeviceDesc {
///     rid: Rid::new(0, 0, 3, 0),
///     instance,
///     caps: DeviceCaps::default(),
///     bridge: None,
///     alias: None,
/// };
/// let topology = Topology { bridges: vec![], devices: vec![device] };
/// let dev = iommu.add_devices(&topology)?[0];
///
/// let domain = iommu.new_paging(dev, PagingRequest::default())?;
/// iommu.attach(dev, &domain)?;
/// domain.map_sync(0x10_0000, 0x800_0000, 64 << 10, Prot::RW)?;
///
/// let t = iommu.dma(dev, None, 0x10_1234, Access::WRITE).expect("mapped");
/// assert_eq!(t.pa, 0x800_1234);
/// let f = iommu.dma(dev, None, 0x20_0000, Access::READ).expect_err("not mapped");
/// assert_eq!(f.kind, DmaFaultKind::NotPresent);
///
/// // Detaching blocks the RID.
/// iommu.detach(dev)?;
/// let f = iommu.dma(dev, None, 0x10_1234, Access::READ).expect_err("blocked");
/// assert_eq!(f.kind, DmaFaultKind::Blocked);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Iommu {
    mem: Mem,
    tables: TableAlloc,
    state: RwLock<State>,
    pasids: Mutex<PasidSpace>,
    open_groups: Mutex<HashMap<GroupKey, Vec<PageRequest>>>,
    next_domain: AtomicU32,
    blocked: Arc<Domain>,
    identity: Arc<Domain>,
}

impl Iommu {
    /// A core over physical memory `mem`, with table pages (and SVA data pages) from `tables`.
    pub fn new(mem: Mem, tables: TableAlloc) -> Iommu {
        Iommu {
            mem,
            tables,
            state: RwLock::new(State::default()),
            pasids: Mutex::new(PasidSpace::new()),
            open_groups: Mutex::new(HashMap::new()),
            next_domain: AtomicU32::new(2),
            blocked: Domain::new(DomainId(0), None, DomainKind::Blocked),
            identity: Domain::new(DomainId(1), None, DomainKind::Identity),
        }
    }

    /// The physical memory.
    pub fn mem(&self) -> &Mem {
        &self.mem
    }

    /// The table-page allocator.
    pub fn tables(&self) -> &TableAlloc {
        &self.tables
    }

    pub(crate) fn domain_id(&self) -> DomainId {
        DomainId(self.next_domain.fetch_add(1, Ordering::Relaxed))
    }

    /// Registers an IOMMU instance run by `driver`.
    pub fn add_instance(&self, driver: Arc<dyn IommuDriver>) -> InstanceId {
        let mut st = self.state.write();
        st.instances.push(driver);
        InstanceId(st.instances.len() as u32 - 1)
    }

    /// Adds the devices of `topo`, forming their groups; returns their handles in order.
    /// Nothing is added if any device is refused.
    pub fn add_devices(&self, topo: &Topology) -> Result<Vec<DeviceId>> {
        let mut st = self.state.write();
        let leaders = topo.group_leaders();
        for (i, d) in topo.devices.iter().enumerate() {
            st.driver(d.instance)?;
            if d.bridge.is_some_and(|b| b >= topo.bridges.len()) {
                return Err(CoreError::Invalid("device behind an unknown bridge"));
            }
            let clash = st
                .devices
                .values()
                .any(|o| o.info.rid == d.rid || d.alias.is_some_and(|a| a == o.info.rid))
                || topo.devices[..i].iter().any(|o| o.rid == d.rid);
            if clash {
                return Err(CoreError::Busy("requester ID already in use"));
            }
        }
        let mut ids = Vec::new();
        let mut probed: Vec<(Arc<dyn IommuDriver>, DeviceInfo)> = Vec::new();
        for d in &topo.devices {
            let info = DeviceInfo {
                id: DeviceId(st.next_device + ids.len() as u32),
                rid: d.rid,
                caps: d.caps,
                instance: d.instance,
            };
            let drv = st.driver(d.instance)?;
            if let Err(e) = drv.probe(&info) {
                for (drv, info) in &probed {
                    drv.release(info);
                }
                return Err(e);
            }
            probed.push((drv, info));
            ids.push(info.id);
        }
        let mut groups: HashMap<usize, GroupId> = HashMap::new();
        for (i, (_, info)) in probed.iter().enumerate() {
            let gid = *groups.entry(leaders[i]).or_insert_with(|| {
                let g = GroupId(st.next_group);
                st.next_group += 1;
                g
            });
            st.groups
                .entry(gid)
                .or_insert_with(|| Group {
                    devices: Vec::new(),
                    owner: None,
                })
                .devices
                .push(info.id);
            st.devices.insert(
                info.id,
                Dev {
                    info: *info,
                    group: gid,
                    rid: None,
                    pasids: BTreeMap::new(),
                    private: BTreeSet::new(),
                    sva: HashMap::new(),
                },
            );
        }
        st.next_device += ids.len() as u32;
        Ok(ids)
    }

    /// What the device can use: its capabilities met by the instance behind it.
    pub fn device_caps(&self, dev: DeviceId) -> Result<EffectiveCaps> {
        let st = self.state.read();
        let d = st.dev(dev)?;
        Ok(EffectiveCaps::of(
            st.driver(d.info.instance)?.caps(),
            d.info.caps,
        ))
    }

    /// The identification registers of the instance `dev` sits behind.
    pub fn hw_info(&self, dev: DeviceId) -> Result<HwInfo> {
        let st = self.state.read();
        let d = st.dev(dev)?;
        Ok(st.driver(d.info.instance)?.hw_info())
    }

    /// The device as its driver sees it.
    pub fn device_info(&self, dev: DeviceId) -> Result<DeviceInfo> {
        Ok(self.state.read().dev(dev)?.info)
    }

    /// The group of a device.
    pub fn group_of(&self, dev: DeviceId) -> Result<GroupId> {
        Ok(self.state.read().dev(dev)?.group)
    }

    /// The devices of a group.
    pub fn group_devices(&self, group: GroupId) -> Result<Vec<DeviceId>> {
        let st = self.state.read();
        Ok(st
            .groups
            .get(&group)
            .ok_or(CoreError::NoGroup(group))?
            .devices
            .clone())
    }

    /// Claims a group's DMA for `owner` (a user-space driver, say); refused while another
    /// owner has it.
    pub fn claim_group(&self, group: GroupId, owner: u64) -> Result<()> {
        let mut st = self.state.write();
        let g = st.groups.get_mut(&group).ok_or(CoreError::NoGroup(group))?;
        match g.owner {
            Some(o) if o != owner => Err(CoreError::Busy("group owned by another user")),
            _ => {
                g.owner = Some(owner);
                Ok(())
            }
        }
    }

    /// Gives up a claim made with [`claim_group`](Iommu::claim_group).
    pub fn release_group(&self, group: GroupId, owner: u64) -> Result<()> {
        let mut st = self.state.write();
        let g = st.groups.get_mut(&group).ok_or(CoreError::NoGroup(group))?;
        if g.owner != Some(owner) {
            return Err(CoreError::Busy("group not owned by this user"));
        }
        g.owner = None;
        Ok(())
    }

    /// The domain that blocks all DMA.
    pub fn blocked_domain(&self) -> Arc<Domain> {
        self.blocked.clone()
    }

    /// The domain whose output address is its input address.
    pub fn identity_domain(&self) -> Arc<Domain> {
        self.identity.clone()
    }

    /// A new paging domain for `dev`: the driver of the instance behind it chooses the table
    /// format for `req`.
    pub fn new_paging(&self, dev: DeviceId, req: PagingRequest) -> Result<Arc<Domain>> {
        let (drv, caps) = {
            let st = self.state.read();
            let d = st.dev(dev)?;
            let drv = st.driver(d.info.instance)?;
            let caps = drv.caps();
            (drv, caps)
        };
        if req.nest_parent && !caps.nesting {
            return Err(CoreError::NotSupported("nesting"));
        }
        if req.dirty_tracking && !caps.dirty_tracking {
            return Err(CoreError::NotSupported("dirty tracking"));
        }
        let table = drv.alloc_table(&req, &self.tables)?;
        Ok(Domain::new_paging(
            self.domain_id(),
            caps.family,
            table,
            req.nest_parent,
            req.dirty_tracking,
        ))
    }

    /// A nested domain: the user's stage 1 `data` over `parent`, a paging domain made as a
    /// nesting parent.
    pub fn new_nested(&self, parent: &Arc<Domain>, data: NestedData) -> Result<Arc<Domain>> {
        match parent.kind() {
            DomainKind::Paging(p) if p.nest_parent => {}
            _ => {
                return Err(CoreError::Invalid(
                    "the parent must be a nesting-parent paging domain",
                ));
            }
        }
        Ok(Domain::new(
            self.domain_id(),
            parent.family(),
            DomainKind::Nested(Box::new(Nested {
                parent: parent.clone(),
                data,
            })),
        ))
    }

    fn check_compat(drv: &dyn IommuDriver, instance: InstanceId, d: &Domain) -> Result<()> {
        let caps = drv.caps();
        let bad = |why| {
            Err(CoreError::Incompatible {
                instance,
                domain: d.id(),
                why,
            })
        };
        if let Some(f) = d.family()
            && f != caps.family
        {
            return bad("a domain of another family");
        }
        match d.kind() {
            DomainKind::Blocked | DomainKind::Identity => return Ok(()),
            DomainKind::Sva(_) if !caps.sva => return bad("no SVA"),
            DomainKind::Nested(_) if !caps.nesting => return bad("no nesting"),
            _ => {}
        }
        match drv.check_domain(d) {
            Ok(()) => Ok(()),
            Err(why) => bad(why),
        }
    }

    /// Points the RID of `dev` at `new` (None: blocked), replacing what was there; on failure
    /// the old attachment stays as it was.
    fn set_rid(&self, st: &mut State, dev: DeviceId, new: Option<&Arc<Domain>>) -> Result<()> {
        let d = st.dev(dev)?;
        let drv = st.driver(d.info.instance)?;
        if let Some(n) = new {
            if matches!(n.kind(), DomainKind::Sva(_)) {
                return Err(CoreError::Invalid("an SVA domain is attached at a PASID"));
            }
            if n.claims_pasids() && !d.pasids.is_empty() {
                return Err(CoreError::Busy(
                    "PASIDs are attached: a user PASID table would claim them",
                ));
            }
            Self::check_compat(&*drv, d.info.instance, n)?;
        }
        if let (Some(n), Some(o)) = (new, d.rid.as_ref())
            && Arc::ptr_eq(n, o)
        {
            return Ok(());
        }
        let info = d.info;
        // Recorded before the hardware is programmed, so that a sync running meanwhile
        // already flushes this instance; taken back if the driver refuses.
        if let Some(n) = new {
            n.attach_record(Attachment {
                device: dev,
                pasid: None,
                instance: info.instance,
                driver: Arc::downgrade(&drv),
            });
        }
        if let Err(e) = drv.set_rid(&info, target(new), target(d.rid.as_ref())) {
            if let Some(n) = new {
                n.detach_record(dev, None);
            }
            return Err(e);
        }
        let d = st.dev_mut(dev)?;
        if let Some(old) = d.rid.take() {
            old.detach_record(dev, None);
        }
        d.rid = new.cloned();
        Ok(())
    }

    /// Attaches `domain` to the RID of `dev` (alone in its group); refused if something is
    /// attached already.
    pub fn attach(&self, dev: DeviceId, domain: &Arc<Domain>) -> Result<()> {
        let mut st = self.state.write();
        let d = st.dev(dev)?;
        st.singleton(d)?;
        if d.rid.is_some() {
            return Err(CoreError::Busy("the RID is attached: replace or detach it"));
        }
        self.set_rid(&mut st, dev, Some(domain))
    }

    /// Replaces what the RID of `dev` is attached to with `domain`, atomically: if it fails,
    /// the old domain stays attached and working. A RID always translates through something
    /// (blocked when nothing is attached), so this also works on a detached RID.
    pub fn replace(&self, dev: DeviceId, domain: &Arc<Domain>) -> Result<()> {
        let mut st = self.state.write();
        let d = st.dev(dev)?;
        st.singleton(d)?;
        self.set_rid(&mut st, dev, Some(domain))
    }

    /// Detaches the RID of `dev`: its requests without PASID are blocked. Its PASIDs stay
    /// attached.
    pub fn detach(&self, dev: DeviceId) -> Result<()> {
        let mut st = self.state.write();
        if st.dev(dev)?.rid.is_none() {
            return Err(CoreError::NotAttached {
                device: dev,
                pasid: None,
            });
        }
        self.set_rid(&mut st, dev, None)
    }

    /// Attaches (or replaces) `domain` on the RID of every device of `group`; if any device
    /// refuses, those already switched go back to what they had.
    pub fn attach_group(&self, group: GroupId, domain: &Arc<Domain>) -> Result<()> {
        let mut st = self.state.write();
        let devs = st
            .groups
            .get(&group)
            .ok_or(CoreError::NoGroup(group))?
            .devices
            .clone();
        let old: Vec<Option<Arc<Domain>>> = devs
            .iter()
            .map(|d| st.dev(*d).map(|x| x.rid.clone()))
            .collect::<Result<_>>()?;
        for (i, dev) in devs.iter().enumerate() {
            if let Err(e) = self.set_rid(&mut st, *dev, Some(domain)) {
                for (j, back) in devs[..i].iter().enumerate() {
                    let _ = self.set_rid(&mut st, *back, old[j].as_ref());
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// What the RID of `dev` is attached to.
    pub fn rid_domain(&self, dev: DeviceId) -> Result<Option<Arc<Domain>>> {
        Ok(self.state.read().dev(dev)?.rid.clone())
    }

    /// What `pasid` of `dev` is attached to.
    pub fn pasid_domain(&self, dev: DeviceId, pasid: Pasid) -> Result<Option<Arc<Domain>>> {
        check_pasid(pasid)?;
        Ok(self.state.read().dev(dev)?.pasids.get(&pasid).cloned())
    }

    pub(crate) fn set_pasid(
        &self,
        st: &mut State,
        dev: DeviceId,
        pasid: Pasid,
        new: Option<&Arc<Domain>>,
    ) -> Result<()> {
        check_pasid(pasid)?;
        let d = st.dev(dev)?;
        let drv = st.driver(d.info.instance)?;
        let old = d.pasids.get(&pasid).cloned();
        if let Some(n) = new {
            let caps = EffectiveCaps::of(drv.caps(), d.info.caps);
            if !caps.pasid_ok(pasid) {
                return Err(CoreError::Invalid("PASID outside what the device can use"));
            }
            st.singleton(d)?;
            if d.rid.as_ref().is_some_and(|r| r.claims_pasids()) {
                return Err(CoreError::Busy(
                    "a nested domain with a user PASID table owns every PASID",
                ));
            }
            match n.kind() {
                DomainKind::Blocked => return Err(CoreError::Invalid("detach the PASID instead")),
                DomainKind::Nested(_) if n.claims_pasids() => {
                    return Err(CoreError::Invalid("a user PASID table attaches at the RID"));
                }
                _ => {}
            }
            Self::check_compat(&*drv, d.info.instance, n)?;
            // SVA domains come from the binding that owns their PASID; anything else must
            // not take a PASID another owner has.
            if !matches!(n.kind(), DomainKind::Sva(_)) {
                self.not_owned_elsewhere(dev, pasid)?;
            }
        }
        if let (Some(n), Some(o)) = (new, old.as_ref())
            && Arc::ptr_eq(n, o)
        {
            return Ok(());
        }
        let info = d.info;
        // Recorded first, as for the RID: a concurrent sync must not miss this instance.
        if let Some(n) = new {
            n.attach_record(Attachment {
                device: dev,
                pasid: Some(pasid),
                instance: info.instance,
                driver: Arc::downgrade(&drv),
            });
        }
        if let Err(e) = drv.set_pasid(&info, pasid, target(new), target(old.as_ref())) {
            if let Some(n) = new {
                n.detach_record(dev, Some(pasid));
            }
            return Err(e);
        }
        let d = st.dev_mut(dev)?;
        if let Some(o) = d.pasids.remove(&pasid) {
            o.detach_record(dev, Some(pasid));
        }
        if let Some(n) = new {
            d.pasids.insert(pasid, n.clone());
        }
        Ok(())
    }

    /// Attaches `domain` to `pasid` of `dev`; refused if the PASID is attached already, and
    /// for an SVA domain ([`sva_bind`](Iommu::sva_bind) attaches those).
    pub fn attach_pasid(&self, dev: DeviceId, pasid: Pasid, domain: &Arc<Domain>) -> Result<()> {
        check_pasid(pasid)?;
        not_sva(domain)?;
        let mut st = self.state.write();
        if st.dev(dev)?.pasids.contains_key(&pasid) {
            return Err(CoreError::Busy(
                "the PASID is attached: replace or detach it",
            ));
        }
        self.set_pasid(&mut st, dev, pasid, Some(domain))
    }

    /// Replaces what `pasid` of `dev` is attached to, atomically. Unlike a RID, a PASID with
    /// nothing attached has no translation to replace: that is [`CoreError::NotAttached`].
    /// A PASID an SVA binding attached stays the binding's ([`CoreError::Busy`]), and an SVA
    /// domain is refused as by [`attach_pasid`](Iommu::attach_pasid).
    pub fn replace_pasid(&self, dev: DeviceId, pasid: Pasid, domain: &Arc<Domain>) -> Result<()> {
        check_pasid(pasid)?;
        not_sva(domain)?;
        let mut st = self.state.write();
        let d = st.dev(dev)?;
        if !d.pasids.contains_key(&pasid) {
            return Err(CoreError::NotAttached {
                device: dev,
                pasid: Some(pasid),
            });
        }
        d.not_sva_bound(pasid)?;
        self.set_pasid(&mut st, dev, pasid, Some(domain))
    }

    /// Detaches `pasid` of `dev`: its requests with that PASID are blocked. A PASID an SVA
    /// binding attached is refused ([`CoreError::Busy`]): [`sva_unbind`](Iommu::sva_unbind)
    /// detaches it.
    pub fn detach_pasid(&self, dev: DeviceId, pasid: Pasid) -> Result<()> {
        check_pasid(pasid)?;
        let mut st = self.state.write();
        let d = st.dev(dev)?;
        if !d.pasids.contains_key(&pasid) {
            return Err(CoreError::NotAttached {
                device: dev,
                pasid: Some(pasid),
            });
        }
        d.not_sva_bound(pasid)?;
        self.set_pasid(&mut st, dev, pasid, None)
    }

    /// Refuses to attach at `pasid` of `dev` when the PASID is an address space's (its SVA
    /// bindings attach it) or another device's private PASID.
    fn not_owned_elsewhere(&self, dev: DeviceId, pasid: Pasid) -> Result<()> {
        match self.pasids.lock().owner(pasid) {
            Some(PasidOwner::Sva(_)) => Err(CoreError::Busy(
                "the PASID is an address space's: bind it instead",
            )),
            Some(PasidOwner::Private(d)) if d != dev => Err(CoreError::Busy(
                "the PASID is another device's private PASID",
            )),
            _ => Ok(()),
        }
    }

    /// Detaches everything from `dev` and lets its driver go.
    pub fn remove_device(&self, dev: DeviceId) -> Result<()> {
        let mut st = self.state.write();
        let pasids: Vec<Pasid> = st.dev(dev)?.pasids.keys().copied().collect();
        for p in pasids {
            self.set_pasid(&mut st, dev, p, None)?;
        }
        if st.dev(dev)?.rid.is_some() {
            self.set_rid(&mut st, dev, None)?;
        }
        let d = st.devices.remove(&dev).ok_or(CoreError::NoDevice(dev))?;
        for p in &d.private {
            let _ = self.pasids.lock().free(*p, PasidOwner::Private(dev));
        }
        if let Some(g) = st.groups.get_mut(&d.group) {
            g.devices.retain(|x| *x != dev);
            if g.devices.is_empty() {
                st.groups.remove(&d.group);
            }
        }
        st.driver(d.info.instance)?.release(&d.info);
        Ok(())
    }

    /// The family of the instance `id`.
    pub fn family(&self, id: InstanceId) -> Result<Family> {
        Ok(self.state.read().driver(id)?.caps().family)
    }

    /// The driver of instance `id`, without keeping it alive.
    #[cfg(feature = "testing")]
    pub(crate) fn driver_weak(&self, id: InstanceId) -> Option<std::sync::Weak<dyn IommuDriver>> {
        let drv = self.state.read().driver(id).ok()?;
        Some(Arc::downgrade(&drv))
    }
}

impl Drop for Iommu {
    /// Detaches everything from every device and lets the drivers go, as removing each
    /// device would: the drivers drop what they hold of the domains, and every domain drops
    /// its attachments. A driver that refuses a step is left holding what it holds until it
    /// goes itself.
    fn drop(&mut self) {
        let mut st = std::mem::take(self.state.get_mut());
        let devices: Vec<DeviceId> = st.devices.keys().copied().collect();
        for dev in devices {
            let pasids: Vec<Pasid> = st.devices[&dev].pasids.keys().copied().collect();
            for p in pasids {
                let _ = self.set_pasid(&mut st, dev, p, None);
            }
            let _ = self.set_rid(&mut st, dev, None);
            if let Some(d) = st.devices.remove(&dev) {
                for (p, domain) in &d.pasids {
                    domain.detach_record(dev, Some(*p));
                }
                if let Some(domain) = &d.rid {
                    domain.detach_record(dev, None);
                }
                if let Ok(drv) = st.driver(d.info.instance) {
                    drv.release(&d.info);
                }
            }
        }
    }
}

mod pasids;
mod resv;
mod sva;

//! Domains: what a RID or a PASID translates through.

use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::{DirtyBitmap, Prot};

use crate::caps::Family;
use crate::driver::IommuDriver;
use crate::error::{CoreError, Result};
use crate::ids::{DeviceId, DomainId, InstanceId, Pasid};
use crate::sva::Mm;
use crate::table::IoPageTable;

/// The stage-1 data a user supplies for a nested domain.
#[derive(Clone, Debug)]
pub enum NestedData {
    /// One stage-1 table (VT-d style): the user's first-stage table at `root` (an address in
    /// the parent's input space), attachable at a RID or at a PASID.
    Stage1 {
        /// Format of the user's table.
        format: AnyFormat,
        /// Root of the user's table, as an input address of the parent.
        root: u64,
    },
    /// A whole PASID table owned by the user (SMMUv3 style: the guest's CD table): claims the
    /// RID and every PASID of the device it is attached to.
    PasidTable {
        /// Format of the stage-1 tables the PASID table's entries point to.
        format: AnyFormat,
        /// The PASID table, as an input address of the parent, in the format the family's
        /// hardware walks: for the reference driver 64-bit entries indexed by PASID, bit 0
        /// valid, bits 63:12 the stage-1 root; for SMMUv3 a linear table of context
        /// descriptors.
        root: u64,
        /// Number of entries (PASIDs 0 .. entries); PASID 0 serves requests without PASID.
        entries: u32,
        /// The ATS the user's stream entry asks for, in the family's encoding: for SMMUv3 the
        /// vSTE's EATS (0 none, 1 full ATS; a driver refuses what it cannot honour). 0 asks
        /// for none.
        ats: u8,
    },
}

/// What a domain is.
pub enum DomainKind {
    /// Every DMA refused.
    Blocked,
    /// Output address = input address.
    Identity,
    /// A page table the core maps and unmaps.
    Paging(Paging),
    /// A process address space bound for shared virtual addressing.
    Sva(Arc<Mm>),
    /// A user's stage 1 over a paging parent.
    Nested(Box<Nested>),
}

/// A paging domain's table and properties.
pub struct Paging {
    table: RwLock<Box<dyn IoPageTable>>,
    /// Made to be a nesting parent.
    pub nest_parent: bool,
    /// Made to track dirty pages.
    pub dirty_tracking: bool,
    children: Mutex<Vec<Weak<Domain>>>,
}

/// A nested domain's parent and stage-1 data.
pub struct Nested {
    /// The paging domain that translates the stage-1 tables and output.
    pub parent: Arc<Domain>,
    /// The user's stage 1.
    pub data: NestedData,
}

/// One place a domain is attached: a device's RID (`pasid` None) or one of its PASIDs.
#[derive(Clone)]
pub struct Attachment {
    /// The device.
    pub device: DeviceId,
    /// The PASID, or `None` for the RID.
    pub pasid: Option<Pasid>,
    /// The instance the device sits behind.
    pub instance: InstanceId,
    /// The instance's driver, not kept alive by the domain: the driver keeps the domains
    /// it has programmed, and a strong reference back would keep both forever.
    pub(crate) driver: Weak<dyn IommuDriver>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("device", &self.device)
            .field("pasid", &self.pasid)
            .field("instance", &self.instance)
            .finish()
    }
}

/// Invalidations a batch of map and unmap calls owes, flushed once by [`Domain::sync`].
#[derive(Debug, Default, Clone)]
pub struct Gather {
    range: Option<(u64, u64)>,
    mapped: Option<(u64, u64)>,
    tables_freed: bool,
}

/// Widens `range` to cover `[start, end)`.
fn widen(range: &mut Option<(u64, u64)>, start: u64, end: u64) {
    *range = Some(match *range {
        Some((s, e)) => (s.min(start), e.max(end)),
        None => (start, end),
    });
}

impl Gather {
    /// An empty gather.
    pub fn new() -> Gather {
        Gather::default()
    }

    /// Adds `[start, end)` to what must be invalidated: translations that were there and
    /// have changed or gone.
    pub fn add(&mut self, start: u64, end: u64) {
        widen(&mut self.range, start, end);
    }

    /// Adds `[start, end)` to what was newly mapped where nothing was: only hardware that
    /// caches not-present entries needs to hear of it (see [`IommuDriver::flush_map`]).
    ///
    /// [`IommuDriver::flush_map`]: crate::IommuDriver::flush_map
    pub fn add_mapped(&mut self, start: u64, end: u64) {
        widen(&mut self.mapped, start, end);
    }

    /// Whether nothing is owed.
    pub fn is_empty(&self) -> bool {
        self.range.is_none() && self.mapped.is_none()
    }

    /// The range owed an invalidation, if any.
    pub fn range(&self) -> Option<(u64, u64)> {
        self.range
    }

    /// The newly mapped range, if any.
    pub fn mapped(&self) -> Option<(u64, u64)> {
        self.mapped
    }
}

/// An address space that RIDs and PASIDs are attached to.
pub struct Domain {
    id: DomainId,
    family: Option<Family>,
    kind: DomainKind,
    attachments: RwLock<Vec<Attachment>>,
    fault_handler: RwLock<Option<Arc<dyn FaultHandler>>>,
    event_handler: RwLock<Option<Arc<dyn EventHandler>>>,
}

/// Where the hardware events of the devices attached to a domain go when its user takes
/// them (a nested domain whose stage 1 belongs to a guest).
pub trait EventHandler: Send + Sync {
    /// Hardware record `record` (the driver's format) of a fault of `device`.
    fn device_event(&self, device: crate::ids::DeviceId, record: &[u64]);
}

/// Where the page-request groups of a domain go when its user answers them itself (a user
/// space fault queue) rather than the core's own handling.
pub trait FaultHandler: Send + Sync {
    /// A complete page-request group for the domain, oldest request first. The answer is
    /// sent later with [`Iommu::page_response`](crate::Iommu::page_response).
    fn page_request_group(&self, group: Vec<crate::iopf::PageRequest>);
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("id", &self.id)
            .field("kind", &self.kind_name())
            .field("family", &self.family)
            .finish()
    }
}

impl Domain {
    pub(crate) fn new(id: DomainId, family: Option<Family>, kind: DomainKind) -> Arc<Domain> {
        let d = Arc::new(Domain {
            id,
            family,
            kind,
            attachments: RwLock::new(Vec::new()),
            fault_handler: RwLock::new(None),
            event_handler: RwLock::new(None),
        });
        if let DomainKind::Nested(n) = &d.kind
            && let DomainKind::Paging(p) = &n.parent.kind
        {
            p.children.lock().push(Arc::downgrade(&d));
        }
        d
    }

    pub(crate) fn new_paging(
        id: DomainId,
        family: Family,
        table: Box<dyn IoPageTable>,
        nest_parent: bool,
        dirty_tracking: bool,
    ) -> Arc<Domain> {
        Domain::new(
            id,
            Some(family),
            DomainKind::Paging(Paging {
                table: RwLock::new(table),
                nest_parent,
                dirty_tracking,
                children: Mutex::new(Vec::new()),
            }),
        )
    }

    /// The domain's handle.
    pub fn id(&self) -> DomainId {
        self.id
    }

    /// The family whose instances can use it (`None` for blocked, identity and SVA domains,
    /// which every family can use).
    pub fn family(&self) -> Option<Family> {
        self.family
    }

    /// What the domain is.
    pub fn kind(&self) -> &DomainKind {
        &self.kind
    }

    /// The kind's name: blocked, identity, paging, sva or nested.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            DomainKind::Blocked => "blocked",
            DomainKind::Identity => "identity",
            DomainKind::Paging(_) => "paging",
            DomainKind::Sva(_) => "sva",
            DomainKind::Nested(_) => "nested",
        }
    }

    /// Sends the domain's page-request groups to `handler` (or, with `None`, back to the
    /// core's own handling).
    pub fn set_fault_handler(&self, handler: Option<Arc<dyn FaultHandler>>) {
        *self.fault_handler.write() = handler;
    }

    /// The handler of the domain's page-request groups, if it has one.
    pub fn fault_handler(&self) -> Option<Arc<dyn FaultHandler>> {
        self.fault_handler.read().clone()
    }

    /// Sends the hardware events of the domain's devices to `handler` (or nowhere, with
    /// `None`).
    pub fn set_event_handler(&self, handler: Option<Arc<dyn EventHandler>>) {
        *self.event_handler.write() = handler;
    }

    /// The handler of the domain's hardware events, if it has one.
    pub fn event_handler(&self) -> Option<Arc<dyn EventHandler>> {
        self.event_handler.read().clone()
    }

    /// Where the domain is attached now.
    pub fn attachments(&self) -> Vec<Attachment> {
        self.attachments.read().clone()
    }

    pub(crate) fn attach_record(&self, a: Attachment) {
        self.attachments.write().push(a);
    }

    pub(crate) fn detach_record(&self, device: DeviceId, pasid: Option<Pasid>) {
        self.attachments
            .write()
            .retain(|a| !(a.device == device && a.pasid == pasid));
    }

    fn paging(&self) -> Result<&Paging> {
        match &self.kind {
            DomainKind::Paging(p) => Ok(p),
            _ => Err(CoreError::Invalid("not a paging domain")),
        }
    }

    /// Runs `f` on the paging domain's table (read access), e.g. for a driver that needs its
    /// root and format, or a reference walk.
    pub fn with_table<R>(&self, f: impl FnOnce(&dyn IoPageTable) -> R) -> Result<R> {
        Ok(f(&**self.paging()?.table.read()))
    }

    /// The hardware format of the paging domain's table, for a driver checking that its
    /// instance can walk it; the reason when this is no paging domain or its table has no
    /// hardware format.
    pub fn table_format(&self) -> std::result::Result<AnyFormat, &'static str> {
        self.with_table(|t| t.format().cloned())
            .map_err(|_| "not a paging domain")?
            .ok_or("a table the hardware cannot walk")
    }

    /// Maps `[iova, iova + size)` to `pa`; the new range goes to `gather`, for hardware that
    /// caches not-present entries.
    pub fn map(
        &self,
        iova: u64,
        pa: u64,
        size: u64,
        prot: Prot,
        gather: &mut Gather,
    ) -> Result<()> {
        self.paging()?.table.write().map(iova, pa, size, prot)?;
        gather.add_mapped(iova, iova.saturating_add(size));
        Ok(())
    }

    /// Unmaps `[iova, iova + size)`; returns the bytes unmapped. The caches still hold the
    /// old translations until [`sync`](Domain::sync) flushes `gather`.
    pub fn unmap(&self, iova: u64, size: u64, gather: &mut Gather) -> Result<u64> {
        let done = self.paging()?.table.write().unmap(iova, size)?;
        gather.add(iova, iova + size);
        gather.tables_freed = true;
        Ok(done)
    }

    /// Maps and flushes at once.
    pub fn map_sync(&self, iova: u64, pa: u64, size: u64, prot: Prot) -> Result<()> {
        let mut g = Gather::new();
        self.map(iova, pa, size, prot, &mut g)?;
        self.sync(&mut g);
        Ok(())
    }

    /// Unmaps and flushes at once; returns the bytes unmapped.
    pub fn unmap_sync(&self, iova: u64, size: u64) -> Result<u64> {
        let mut g = Gather::new();
        let done = self.unmap(iova, size, &mut g);
        self.sync(&mut g);
        done
    }

    /// Flushes what `gather` owes on every instance the domain is used on — where it is
    /// attached, and where a nested domain over it is — once per instance, and empties it.
    pub fn sync(&self, gather: &mut Gather) {
        if let Some(mapped) = gather.mapped.take() {
            self.flush_users_map(mapped);
        }
        let Some(range) = gather.range.take() else {
            return;
        };
        let freed = std::mem::take(&mut gather.tables_freed);
        self.flush_users(Some(range), freed);
        if let DomainKind::Paging(p) = &self.kind {
            let children: Vec<Arc<Domain>> =
                p.children.lock().iter().filter_map(Weak::upgrade).collect();
            for c in children {
                // A second-stage change reaches every stage-1 translation over it.
                c.flush_users(None, freed);
            }
            if freed {
                // Every instance has completed its invalidation: no walk reads the pages of
                // tables the unmaps took out any more.
                p.table.write().release_freed();
            }
        }
    }

    /// Flushes the domain on every instance it is attached to, once each.
    pub(crate) fn flush_users(&self, range: Option<(u64, u64)>, tables_freed: bool) {
        self.each_instance(|d| d.flush(self, range, tables_freed));
    }

    /// Runs `f` on the driver of each instance the domain is attached to, once each.
    fn each_instance(&self, f: impl Fn(&dyn IommuDriver)) {
        // The drivers are called without the attachments' lock held. A domain is almost
        // always used on one or two instances: those are held inline, without allocating.
        {
            let users = self.attachments.read();
            if let [only] = users.as_slice() {
                let driver = only.driver.upgrade();
                drop(users);
                // A driver that is gone caches nothing of the domain.
                if let Some(driver) = driver {
                    f(&*driver);
                }
                return;
            }
        }
        const INLINE: usize = 2;
        let mut inline: [Option<(InstanceId, Arc<dyn IommuDriver>)>; INLINE] = [None, None];
        let mut more: Vec<(InstanceId, Arc<dyn IommuDriver>)> = Vec::new();
        {
            let users = self.attachments.read();
            let mut n = 0;
            for a in users.iter() {
                let seen = inline[..n.min(INLINE)]
                    .iter()
                    .flatten()
                    .chain(more.iter())
                    .any(|(i, _)| *i == a.instance);
                // A driver that is gone caches nothing of the domain.
                if seen {
                    continue;
                }
                let Some(driver) = a.driver.upgrade() else {
                    continue;
                };
                if n < INLINE {
                    inline[n] = Some((a.instance, driver));
                } else {
                    more.push((a.instance, driver));
                }
                n += 1;
            }
        }
        for (_, driver) in inline.iter().flatten().chain(more.iter()) {
            f(&**driver);
        }
    }

    /// Tells every instance the domain is attached to, once each, of a newly mapped range.
    fn flush_users_map(&self, range: (u64, u64)) {
        self.each_instance(|d| d.flush_map(self, range));
    }

    /// The output address of `iova` in a paging domain.
    pub fn iova_to_phys(&self, iova: u64) -> Option<u64> {
        let p = self.paging().ok()?;
        let t = p.table.read();
        t.lookup(iova).map(|m| m.pa + (iova - m.iova))
    }

    /// Marks the dirty pages of `[iova, iova + size)` in `bitmap`, cleaning them with `clear`
    /// (the caller then flushes, as for an unmap, before trusting a clean state).
    pub fn read_and_clear_dirty(
        &self,
        iova: u64,
        size: u64,
        bitmap: &mut DirtyBitmap,
        clear: bool,
    ) -> Result<()> {
        let p = self.paging()?;
        if !p.dirty_tracking {
            return Err(CoreError::NotSupported(
                "domain made without dirty tracking",
            ));
        }
        Ok(p.table
            .read()
            .read_and_clear_dirty(iova, size, bitmap, clear)?)
    }

    /// For a nested domain: invalidates what the instances cache of its stage 1 (the user
    /// changed its tables).
    pub fn invalidate_stage1(&self) -> Result<()> {
        match &self.kind {
            DomainKind::Nested(_) => {
                self.flush_users(None, true);
                Ok(())
            }
            _ => Err(CoreError::Invalid("not a nested domain")),
        }
    }

    /// Whether this nested domain owns the whole PASID table of what it is attached to.
    pub fn claims_pasids(&self) -> bool {
        match &self.kind {
            DomainKind::Nested(n) => matches!(n.data, NestedData::PasidTable { .. }),
            _ => false,
        }
    }
}

//! The reference driver: a pure-software IOMMU behind the same driver trait as the hardware
//! drivers. It keeps the per-(RID, PASID) state a real driver keeps, caches translations in
//! its own TLB until the core flushes them (so a missing invalidation shows as a stale
//! translation), and answers DMA requests.

mod nested;
mod soft_table;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::{Access, FaultKind, Format, Perm, WalkFault};

pub use soft_table::SoftTable;

use crate::caps::{Family, IommuCaps};
use crate::domain::{Domain, DomainKind, NestedData};
use crate::driver::{
    DeviceInfo, DmaFault, DmaFaultKind, DmaTranslation, HwInfo, IommuDriver, PagingRequest, Target,
};
use crate::error::{CoreError, Result};
use crate::ids::{DeviceId, DomainId, Pasid};
use crate::iopf::PageResponse;
use crate::table::{HwTable, IoPageTable, Mem, TableAlloc};

/// Settings of a reference instance.
#[derive(Clone, Debug)]
pub struct RefConfig {
    /// Page size of its paging domains (any power of two; 2 KiB for the iommufd mock).
    pub page_size: u64,
    /// Input addresses its paging domains accept.
    pub aperture: Range<u64>,
    /// Output-address width.
    pub oa_bits: u8,
    /// PASID width (0: no PASIDs).
    pub pasid_bits: u8,
    /// Nesting supported.
    pub nesting: bool,
    /// SVA supported.
    pub sva: bool,
    /// ATS supported.
    pub ats: bool,
    /// Page requests supported.
    pub pri: bool,
    /// Dirty tracking supported.
    pub dirty_tracking: bool,
    /// Paging domains in this hardware format instead of the private one (its page sizes
    /// and input range then come from the format).
    pub format: Option<AnyFormat>,
    /// Paging domains asked for with [`PagingRequest::pasid`] in this format instead of
    /// `format`: a first-stage format, as VT-d uses at PASID granularity. The instance walks
    /// tables of either format.
    pub pasid_format: Option<AnyFormat>,
}

impl Default for RefConfig {
    fn default() -> Self {
        RefConfig {
            page_size: 4096,
            aperture: 0..1 << 48,
            oa_bits: 48,
            pasid_bits: 20,
            nesting: true,
            sva: true,
            ats: true,
            pri: true,
            dirty_tracking: true,
            format: None,
            pasid_format: None,
        }
    }
}

impl RefConfig {
    /// The iommufd mock device's settings: 2 KiB pages, aperture [2^24, 2^31).
    pub fn iommufd_mock() -> RefConfig {
        RefConfig {
            page_size: 2048,
            aperture: 1 << 24..1 << 31,
            ..RefConfig::default()
        }
    }
}

/// What one RID or PASID of a device translates through, as the driver programmed it.
#[derive(Clone)]
enum Entry {
    Blocked,
    Identity,
    Domain(Arc<Domain>),
}

impl Entry {
    fn of(t: Target<'_>) -> Entry {
        match t {
            Target::Blocked => Entry::Blocked,
            Target::Identity => Entry::Identity,
            Target::Domain(d) => Entry::Domain(d.clone()),
        }
    }
}

#[derive(Clone)]
struct RefDev {
    rid: Entry,
    pasids: HashMap<Pasid, Entry>,
}

/// A cached translation: domain, PASID the entry is for (nested PASID tables only), page.
type TlbKey = (DomainId, Option<Pasid>, u64);

/// One smallest page of a translation: its output address and rights.
#[derive(Clone, Copy)]
struct TlbEntry {
    pa: u64,
    perm: Perm,
}

/// Counters a test reads to see what the driver was asked to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefStats {
    /// Flushes the core asked for.
    pub flushes: u64,
    /// DMA requests answered from the TLB.
    pub tlb_hits: u64,
    /// DMA requests that walked.
    pub walks: u64,
}

/// A reference IOMMU instance and its driver in one.
pub struct RefIommu {
    cfg: RefConfig,
    mem: Mem,
    devices: RwLock<HashMap<DeviceId, RefDev>>,
    tlb: RwLock<HashMap<TlbKey, TlbEntry>>,
    /// Bumped, under the TLB's write lock, by every invalidation: a walk that began before
    /// one may have read what it removed, and must not fill the TLB after it.
    tlb_gen: AtomicU64,
    responses: Mutex<Vec<PageResponse>>,
    flushes: AtomicU64,
    tlb_hits: AtomicU64,
    walks: AtomicU64,
}

impl RefIommu {
    /// An instance with settings `cfg`; nested stage-1 tables are read from `mem`.
    pub fn new(cfg: RefConfig, mem: Mem) -> Result<Arc<RefIommu>> {
        if !cfg.page_size.is_power_of_two() || cfg.page_size < 1024 {
            return Err(CoreError::Invalid(
                "page size must be a power of two of 1 KiB or more",
            ));
        }
        if cfg.aperture.is_empty() || cfg.pasid_bits > 20 {
            return Err(CoreError::Invalid("empty aperture or PASID width over 20"));
        }
        Ok(Arc::new(RefIommu {
            cfg,
            mem,
            devices: RwLock::new(HashMap::new()),
            tlb: RwLock::new(HashMap::new()),
            tlb_gen: AtomicU64::new(0),
            responses: Mutex::new(Vec::new()),
            flushes: AtomicU64::new(0),
            tlb_hits: AtomicU64::new(0),
            walks: AtomicU64::new(0),
        }))
    }

    /// The counters.
    pub fn stats(&self) -> RefStats {
        RefStats {
            flushes: self.flushes.load(Ordering::Relaxed),
            tlb_hits: self.tlb_hits.load(Ordering::Relaxed),
            walks: self.walks.load(Ordering::Relaxed),
        }
    }

    /// The page responses sent to devices, oldest first.
    pub fn responses(&self) -> Vec<PageResponse> {
        self.responses.lock().clone()
    }

    /// The tables this instance walks, one per format it uses: page sizes, input range and
    /// input width of each.
    fn shapes(&self) -> impl Iterator<Item = (u64, Range<u64>, u8)> + '_ {
        let own = match &self.cfg.format {
            Some(f) => shape_of(f),
            None => (
                self.cfg.page_size,
                self.cfg.aperture.clone(),
                (64 - (self.cfg.aperture.end - 1).leading_zeros()) as u8,
            ),
        };
        std::iter::once(own).chain(self.cfg.pasid_format.as_ref().map(shape_of))
    }

    fn entry(&self, dev: &DeviceInfo, pasid: Option<Pasid>) -> Option<(Entry, Option<Pasid>)> {
        let devs = self.devices.read();
        let d = devs.get(&dev.id)?;
        // A user PASID table at the RID serves every PASID.
        if let Entry::Domain(rid) = &d.rid
            && rid.claims_pasids()
        {
            return Some((d.rid.clone(), Some(pasid.unwrap_or(0))));
        }
        match pasid {
            None => Some((d.rid.clone(), None)),
            Some(p) => d.pasids.get(&p).map(|e| (e.clone(), None)),
        }
    }

    /// Drops what the TLB caches of `domain` for `[start, end)` (all of it with `None`).
    fn invalidate(&self, domain: &Domain, range: Option<(u64, u64)>) {
        let unit = unit_of(domain);
        let id = domain.id();
        let mut tlb = self.tlb.write();
        tlb.retain(|&(d, _, page), _| {
            d != id || range.is_some_and(|(s, end)| page + unit <= s || page >= end)
        });
        self.tlb_gen.fetch_add(1, Ordering::Release);
    }

    /// Once no RID or PASID of this instance translates through `old` any more, forgets
    /// what the TLB holds of it, as a driver does when a domain leaves its last device on an
    /// instance (and gives up its domain ID there): the core flushes a domain only where it
    /// is attached, so entries kept past that would come back stale when it is attached here
    /// again.
    fn forget_if_unused(&self, devs: &HashMap<DeviceId, RefDev>, old: &Entry) {
        let Entry::Domain(old) = old else {
            return;
        };
        let id = old.id();
        let uses = |e: &Entry| matches!(e, Entry::Domain(d) if d.id() == id);
        let used = devs
            .values()
            .any(|d| uses(&d.rid) || d.pasids.values().any(uses));
        if !used {
            self.invalidate(old, None);
        }
    }

    fn walk(
        &self,
        domain: &Domain,
        sub: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<(u64, u64, Perm), WalkFault> {
        let t = match domain.kind() {
            DomainKind::Paging(_) => domain
                .with_table(|t| t.translate(iova, access))
                .map_err(|_| nested::bad_config())?,
            DomainKind::Sva(mm) => mm.translate(iova, access),
            DomainKind::Nested(n) => {
                let (format, root) = match &n.data {
                    NestedData::Stage1 { format, root } => (format.clone(), *root),
                    NestedData::PasidTable {
                        format,
                        root,
                        entries,
                        ..
                    } => {
                        let p = sub.unwrap_or(0);
                        if p >= *entries {
                            return Err(nested::bad_config());
                        }
                        let s1 = nested::pasid_entry(&self.mem, &n.parent, *root, p)?;
                        (format.clone(), s1)
                    }
                };
                nested::translate(&self.mem, &n.parent, &format, root, iova, access)
            }
            DomainKind::Blocked | DomainKind::Identity => return Err(nested::bad_config()),
        }?;
        Ok((t.pa, t.page_size, t.perm))
    }
}

/// Page sizes, input range and input width of a table in `format`.
fn shape_of(format: &AnyFormat) -> (u64, Range<u64>, u8) {
    let g = format.geometry();
    (
        g.page_sizes().fold(0, |m, s| m | s),
        0..g.map_limit(),
        g.ia_bits(),
    )
}

/// The unit the TLB caches translations through `domain` in: the smallest page any of its
/// tables maps, so that one entry never spans two pages.
fn unit_of(domain: &Domain) -> u64 {
    let smallest = |sizes: u64| 1u64 << sizes.trailing_zeros().min(63);
    match domain.kind() {
        DomainKind::Paging(_) => domain
            .with_table(|t| smallest(t.page_sizes()))
            .unwrap_or(1024),
        DomainKind::Sva(mm) => mm.format().geometry().granule(),
        DomainKind::Nested(n) => {
            let (NestedData::Stage1 { format, .. } | NestedData::PasidTable { format, .. }) =
                &n.data;
            format.geometry().granule().min(unit_of(&n.parent))
        }
        DomainKind::Blocked | DomainKind::Identity => 1024,
    }
}

fn fault_kind(k: FaultKind) -> DmaFaultKind {
    match k {
        FaultKind::Translation => DmaFaultKind::NotPresent,
        FaultKind::Permission | FaultKind::AccessFlag => DmaFaultKind::Permission,
        FaultKind::Input | FaultKind::AddressSize => DmaFaultKind::AddressSize,
        FaultKind::Reserved | FaultKind::Fetch(_) | FaultKind::Update => DmaFaultKind::BadConfig,
    }
}

impl IommuDriver for RefIommu {
    fn hw_info(&self) -> HwInfo {
        // Pure software: no registers to report.
        HwInfo::None
    }

    fn caps(&self) -> IommuCaps {
        let (page_sizes, ia_bits) = self
            .shapes()
            .fold((0, 0), |(p, i), (sizes, _, ia)| (p | sizes, i.max(ia)));
        IommuCaps {
            family: Family::Reference,
            page_sizes,
            ia_bits,
            oa_bits: self.cfg.oa_bits,
            pasid_bits: self.cfg.pasid_bits,
            first_stage: true,
            second_stage: true,
            nesting: self.cfg.nesting,
            sva: self.cfg.sva,
            dirty_tracking: self.cfg.dirty_tracking,
            ats: self.cfg.ats,
            pri: self.cfg.pri,
        }
    }

    fn probe(&self, dev: &DeviceInfo) -> Result<()> {
        let mut devs = self.devices.write();
        if devs.contains_key(&dev.id) {
            return Err(CoreError::Busy("device probed twice"));
        }
        devs.insert(
            dev.id,
            RefDev {
                rid: Entry::Blocked,
                pasids: HashMap::new(),
            },
        );
        Ok(())
    }

    fn release(&self, dev: &DeviceInfo) {
        let mut devs = self.devices.write();
        if let Some(d) = devs.remove(&dev.id) {
            for e in std::iter::once(&d.rid).chain(d.pasids.values()) {
                self.forget_if_unused(&devs, e);
            }
        }
    }

    fn alloc_table(&self, req: &PagingRequest, alloc: &TableAlloc) -> Result<Box<dyn IoPageTable>> {
        let format = match &self.cfg.pasid_format {
            Some(f) if req.pasid => Some(f),
            _ => self.cfg.format.as_ref(),
        };
        Ok(match format {
            Some(f) => Box::new(HwTable::new(f.clone(), alloc.clone())?),
            None => Box::new(SoftTable::new(
                self.cfg.page_size,
                self.cfg.aperture.clone(),
                self.cfg.oa_bits,
                req.dirty_tracking,
            )),
        })
    }

    fn check_domain(&self, domain: &Domain) -> std::result::Result<(), &'static str> {
        let paging = match domain.kind() {
            DomainKind::Nested(n) => &n.parent,
            DomainKind::Paging(_) => domain,
            _ => return Ok(()),
        };
        let (sizes, ap, oa) = paging
            .with_table(|t| (t.page_sizes(), t.aperture(), t.oa_bits()))
            .map_err(|_| "not a paging domain")?;
        // The domain's table must fit one of the formats this instance walks.
        let fits = |(s, range, _): (u64, Range<u64>, u8)| {
            sizes & !s == 0 && ap.start >= range.start && ap.end <= range.end
        };
        if !self.shapes().any(fits) {
            return Err(if self.shapes().any(|(s, _, _)| sizes & !s == 0) {
                "input range wider than this instance translates"
            } else {
                "page sizes this instance does not walk"
            });
        }
        if oa > self.cfg.oa_bits {
            return Err("output width wider than this instance's");
        }
        if matches!(paging.kind(), DomainKind::Paging(p) if p.dirty_tracking)
            && !self.cfg.dirty_tracking
        {
            return Err("a dirty-tracking domain on an instance that tracks no dirty pages");
        }
        Ok(())
    }

    fn set_rid(&self, dev: &DeviceInfo, new: Target<'_>, _old: Target<'_>) -> Result<()> {
        let mut devs = self.devices.write();
        let d = devs.get_mut(&dev.id).ok_or(CoreError::NoDevice(dev.id))?;
        let old = std::mem::replace(&mut d.rid, Entry::of(new));
        self.forget_if_unused(&devs, &old);
        Ok(())
    }

    fn set_pasid(
        &self,
        dev: &DeviceInfo,
        pasid: Pasid,
        new: Target<'_>,
        _old: Target<'_>,
    ) -> Result<()> {
        if u64::from(pasid) >= 1u64 << self.cfg.pasid_bits {
            return Err(CoreError::Invalid("PASID beyond this instance's width"));
        }
        let mut devs = self.devices.write();
        let d = devs.get_mut(&dev.id).ok_or(CoreError::NoDevice(dev.id))?;
        let old = match new {
            Target::Blocked => d.pasids.remove(&pasid),
            t => d.pasids.insert(pasid, Entry::of(t)),
        };
        if let Some(old) = old {
            self.forget_if_unused(&devs, &old);
        }
        Ok(())
    }

    fn flush(&self, domain: &Domain, range: Option<(u64, u64)>, _tables_freed: bool) {
        self.invalidate(domain, range);
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    fn page_response(&self, _dev: &DeviceInfo, resp: &PageResponse) {
        let mut r = self.responses.lock();
        if r.len() >= 4096 {
            r.remove(0);
        }
        r.push(*resp);
    }

    fn dma(
        &self,
        dev: &DeviceInfo,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        // Read before the device's entry and the walk: see `tlb_gen`.
        let generation = self.tlb_gen.load(Ordering::Acquire);
        let (entry, sub) = self.entry(dev, pasid).ok_or(DmaFault::BLOCKED)?;
        let domain = match entry {
            Entry::Blocked => return Err(DmaFault::BLOCKED),
            Entry::Identity => {
                return Ok(DmaTranslation {
                    pa: iova,
                    len: self.cfg.page_size - (iova & (self.cfg.page_size - 1)),
                });
            }
            Entry::Domain(d) => d,
        };
        let unit = unit_of(&domain);
        let page = iova & !(unit - 1);
        let off = iova - page;
        let key = (domain.id(), sub, page);
        let hit = self.tlb.read().get(&key).copied();
        if let Some(e) = hit
            && e.perm.allows(access)
        {
            self.tlb_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(DmaTranslation {
                pa: e.pa + off,
                len: unit - off,
            });
        }
        self.walks.fetch_add(1, Ordering::Relaxed);
        match self.walk(&domain, sub, iova, access) {
            Ok((pa, _size, perm)) => {
                let mut tlb = self.tlb.write();
                // An invalidation since the walk began may have removed what it found.
                if self.tlb_gen.load(Ordering::Relaxed) == generation {
                    tlb.insert(key, TlbEntry { pa: pa - off, perm });
                }
                drop(tlb);
                Ok(DmaTranslation {
                    pa,
                    len: unit - off,
                })
            }
            Err(f) => {
                let sva = matches!(domain.kind(), DomainKind::Sva(_));
                Err(DmaFault::new(fault_kind(f.kind), || {
                    sva && dev.caps.pri && self.cfg.pri
                }))
            }
        }
    }
}

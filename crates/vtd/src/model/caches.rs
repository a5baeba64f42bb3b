//! The unit's caches — context cache, PASID cache and IOTLB — and how each invalidation
//! reaches them (spec Table 23, "Reach of each invalidation type" in the reference).

use softiommu_pgtable::Perm;

use crate::structs::{ContextEntry, PasidEntry, Pgtt};
use softiommu_pgtable::tlb::Tlb;

/// The class of an IOTLB entry, as invalidation tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Second-stage or pass-through translations (PGTT 010, 100).
    Second,
    /// First-stage or nested translations (PGTT 001, 011).
    First,
}

/// What an IOTLB invalidation removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IotlbScope {
    /// Everything (global).
    Global,
    /// Every entry of a domain (DSI, and p_iotlb domain-selective uses of it).
    Domain(u16),
    /// Page-selective: second-stage entries of the domain in `[addr, addr + size)`, and every
    /// first-stage entry of the domain.
    Pages {
        /// Domain.
        did: u16,
        /// First byte.
        addr: u64,
        /// Bytes (2^AM pages).
        size: u64,
    },
    /// Every entry of a domain and PASID (p_iotlb G=10).
    Pasid {
        /// Domain.
        did: u16,
        /// PASID.
        pasid: u32,
    },
    /// First-stage entries of a domain and PASID in `[addr, addr + size)` (p_iotlb G=11).
    PasidPages {
        /// Domain.
        did: u16,
        /// PASID.
        pasid: u32,
        /// First byte.
        addr: u64,
        /// Bytes.
        size: u64,
    },
}

/// A cached translation of one 4 KiB page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IotlbEntry {
    /// Output address of the page.
    pub pa: u64,
    /// Rights of the whole walk.
    pub perm: Perm,
    /// Domain tag.
    pub did: u16,
    /// Invalidation class.
    pub class: Class,
    /// The leaf's Dirty state is set (a write may hit; otherwise it walks to set it).
    pub dirty: bool,
    /// log2 of the page size the walk found (for the reports of the checking mode).
    pub shift: u8,
    /// The PASID the translation belongs to: the request's, or RID_PASID for a request
    /// without one (PASID-selective invalidations match on it).
    pub pasid: u32,
}

const VALID: u64 = 1;

/// The context cache (by source ID), the PASID cache (by source ID and PASID) and the IOTLB
/// (by source ID, PASID, privilege and page; tagged with the domain).
pub struct Caches {
    context: Tlb<2>,
    pasid: Tlb<3>,
    iotlb: Tlb<2>,
    /// A bit per domain ID modulo 64: set once a first-stage entry of such a domain is
    /// cached, so that a page-selective invalidation sweeps the whole IOTLB (as first-stage
    /// entries of the domain must go) only when there may be some.
    first_stage_dids: std::sync::atomic::AtomicU64,
    /// Bumped before every invalidation sweeps: a walk that began before it may not leave
    /// its (possibly stale) result behind.
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches").finish_non_exhaustive()
    }
}

impl Default for Caches {
    fn default() -> Self {
        Caches::new(256, 1024, 4096)
    }
}

/// The IOTLB key of a request: source ID, its PASID if it has one, privilege and page.
fn iotlb_key(sid: u16, pasid: Option<u32>, privileged: bool, page: u64) -> [u64; 2] {
    [
        VALID
            | u64::from(privileged) << 1
            | u64::from(pasid.unwrap_or(0)) << 2
            | u64::from(sid) << 22
            | u64::from(pasid.is_some()) << 38,
        page,
    ]
}

impl Caches {
    /// Caches of at least the given numbers of entries.
    pub fn new(context: usize, pasid: usize, iotlb: usize) -> Caches {
        Caches {
            context: Tlb::new(context),
            pasid: Tlb::new(pasid),
            iotlb: Tlb::new(iotlb),
            first_stage_dids: std::sync::atomic::AtomicU64::new(0),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The generation a walk reads before it starts, and hands to the fills it makes.
    #[inline(always)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Inserts unless an invalidation began since `generation`; takes the entry back if one
    /// began while it was being inserted (its sweep may have passed the slot first).
    fn fill<const V: usize>(
        &self,
        t: &Tlb<V>,
        index: u64,
        key: [u64; 2],
        v: [u64; V],
        generation: u64,
    ) {
        if self.generation() != generation {
            return;
        }
        t.insert(index, key, v);
        if self.generation() != generation {
            t.invalidate(Some(index..index + 1), |k, _| k == key);
        }
    }

    pub(crate) fn context(&self, sid: u16) -> Option<ContextEntry> {
        self.context
            .lookup(u64::from(sid), [VALID | u64::from(sid) << 1, 0])
            .map(|[a, b]| ContextEntry::from_words([a, b, 0, 0]))
    }

    pub(crate) fn fill_context(&self, sid: u16, c: &ContextEntry, generation: u64) {
        let w = c.to_words();
        let key = [VALID | u64::from(sid) << 1, 0];
        self.fill(&self.context, u64::from(sid), key, [w[0], w[1]], generation);
    }

    pub(crate) fn pasid(&self, sid: u16, pasid: u32) -> Option<PasidEntry> {
        let key = [VALID | u64::from(sid) << 1 | u64::from(pasid) << 17, 0];
        self.pasid
            .lookup(u64::from(pasid) << 16 | u64::from(sid), key)
            .map(|[a, b, c]| PasidEntry::from_words([a, b, c, 0, 0, 0, 0, 0]))
    }

    pub(crate) fn fill_pasid(&self, sid: u16, pasid: u32, e: &PasidEntry, generation: u64) {
        let w = e.to_words();
        let key = [VALID | u64::from(sid) << 1 | u64::from(pasid) << 17, 0];
        let index = u64::from(pasid) << 16 | u64::from(sid);
        self.fill(&self.pasid, index, key, [w[0], w[1], w[2]], generation);
    }

    #[inline]
    pub(crate) fn iotlb(
        &self,
        sid: u16,
        pasid: Option<u32>,
        privileged: bool,
        addr: u64,
    ) -> Option<IotlbEntry> {
        let page = addr >> 12;
        let [v0, v1] = self
            .iotlb
            .lookup(page, iotlb_key(sid, pasid, privileged, page))?;
        Some(IotlbEntry {
            pa: v0 & !0xfff,
            perm: Perm::from_bits(v0 as u8),
            did: v1 as u16,
            class: if v1 >> 16 & 1 != 0 {
                Class::First
            } else {
                Class::Second
            },
            dirty: v1 >> 17 & 1 != 0,
            shift: (v1 >> 24) as u8,
            pasid: (v1 >> 32) as u32,
        })
    }

    pub(crate) fn fill_iotlb(
        &self,
        sid: u16,
        pasid: Option<u32>,
        privileged: bool,
        addr: u64,
        e: &IotlbEntry,
        generation: u64,
    ) {
        let page = addr >> 12;
        if e.class == Class::First {
            self.first_stage_dids
                .fetch_or(1 << (e.did % 64), std::sync::atomic::Ordering::Relaxed);
        }
        let v0 = (e.pa & !0xfff) | u64::from(e.perm.bits());
        let v1 = u64::from(e.did)
            | u64::from(e.class == Class::First) << 16
            | u64::from(e.dirty) << 17
            | u64::from(e.shift) << 24
            | u64::from(e.pasid) << 32;
        let key = iotlb_key(sid, pasid, privileged, page);
        self.fill(&self.iotlb, page, key, [v0, v1], generation);
    }

    /// Context-cache invalidation: one source ID, or all. (In scalable mode the context cache
    /// is not tagged by domain: a domain-selective invalidation is global.)
    pub fn invalidate_context(&self, sid: Option<u16>) -> u64 {
        self.bump();
        match sid {
            Some(s) => self
                .context
                .invalidate(Some(u64::from(s)..u64::from(s) + 1), |k, _| {
                    k[0] >> 1 & 0xffff == u64::from(s)
                }),
            None => self.context.invalidate(None, |_, _| true),
        }
    }

    /// PASID-cache invalidation: everything (`did` None), a domain, or a domain's PASID.
    pub fn invalidate_pasid(&self, did: Option<u16>, pasid: Option<u32>) -> u64 {
        self.bump();
        self.pasid.invalidate(None, |k, v| {
            let entry_did = PasidEntry::from_words([v[0], v[1], v[2], 0, 0, 0, 0, 0])
                .qw1
                .did();
            did.is_none_or(|d| d == entry_did) && pasid.is_none_or(|p| (k[0] >> 17) as u32 == p)
        })
    }

    /// IOTLB invalidation of `scope`. Returns the entries removed.
    pub fn invalidate_iotlb(&self, scope: IotlbScope) -> u64 {
        let did_of = |v: [u64; 2]| v[1] as u16;
        let first = |v: [u64; 2]| v[1] >> 16 & 1 != 0;
        let pasid_of = |_: [u64; 2], v: [u64; 2]| (v[1] >> 32) as u32;
        self.bump();
        match scope {
            IotlbScope::Global => {
                self.first_stage_dids
                    .store(0, std::sync::atomic::Ordering::Relaxed);
                self.iotlb.invalidate(None, |_, _| true)
            }
            IotlbScope::Domain(d) => self.iotlb.invalidate(None, |_, v| did_of(v) == d),
            IotlbScope::Pages { did, addr, size } => {
                let (lo, hi) = (addr >> 12, (addr + size).div_ceil(4096));
                // First-stage entries of the domain go wherever they are.
                let maybe = self
                    .first_stage_dids
                    .load(std::sync::atomic::Ordering::Relaxed)
                    & 1 << (did % 64)
                    != 0;
                let n = if maybe {
                    self.iotlb
                        .invalidate(None, |_, v| did_of(v) == did && first(v))
                } else {
                    0
                };
                n + self.iotlb.invalidate(Some(lo..hi), |k, v| {
                    did_of(v) == did && (lo..hi).contains(&k[1])
                })
            }
            IotlbScope::Pasid { did, pasid } => self
                .iotlb
                .invalidate(None, |k, v| did_of(v) == did && pasid_of(k, v) == pasid),
            IotlbScope::PasidPages {
                did,
                pasid,
                addr,
                size,
            } => {
                let (lo, hi) = (addr >> 12, (addr + size).div_ceil(4096));
                self.iotlb.invalidate(Some(lo..hi), |k, v| {
                    did_of(v) == did
                        && pasid_of(k, v) == pasid
                        && first(v)
                        && (lo..hi).contains(&k[1])
                })
            }
        }
    }
}

impl Pgtt {
    pub(crate) fn class(self) -> Class {
        match self {
            Pgtt::FirstStage | Pgtt::Nested => Class::First,
            _ => Class::Second,
        }
    }
}

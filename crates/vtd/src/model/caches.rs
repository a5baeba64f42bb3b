//! The unit's caches — context cache, PASID cache and IOTLB — and how each invalidation
//! reaches them (spec Table 23, "Reach of each invalidation type" in the reference).
//!
//! An IOTLB entry caches the translation of a whole page of the size the walk found: 4 KiB,
//! or a 2 MiB or 1 GiB superpage when its leaf was one (with nesting, the smaller of the two
//! stages' leaves). A lookup finds the entry of any size that holds its address; a
//! page-selective invalidation removes every entry whose page overlaps its range, a
//! superpage the range only partly covers included (spec 6.5.2.3, 6.5.2.4).

use std::sync::atomic::{AtomicU64, Ordering};

use softiommu_pgtable::tlb::WAYS;
use softiommu_pgtable::{Access, Perm};

use crate::structs::{ContextEntry, PasidEntry, PasidQw1, Pgtt};
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

/// A cached translation of one page: 4 KiB, 2 MiB or 1 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IotlbEntry {
    /// Output address of the page's first byte (aligned to its size).
    pub pa: u64,
    /// Rights of the whole walk.
    pub perm: Perm,
    /// Domain tag.
    pub did: u16,
    /// Invalidation class.
    pub class: Class,
    /// The leaf's Dirty state is set (a write may hit; otherwise it walks to set it).
    pub dirty: bool,
    /// log2 of the page size the entry covers: 12, 21 or 30.
    pub shift: u8,
    /// The PASID the translation belongs to: the request's, or RID_PASID for a request
    /// without one (PASID-selective invalidations match on it).
    pub pasid: u32,
}

/// What the context and PASID entries decide for requests of one source ID with one request
/// PASID (or none): the PASID the translation belongs to, the PASID entry (its first three
/// words, which steer the walk) and whether fault processing is disabled along the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Steer {
    /// The request's PASID, or RID_PASID for a request without one.
    pub pasid: u32,
    /// The PASID entry (words 3 and up are not kept).
    pub entry: PasidEntry,
    /// FPD of the context entry, the PASID-directory entry or the PASID entry.
    pub fpd: bool,
}

const VALID: u64 = 1;

/// Bits 5:0 of an IOTLB entry's first value word: the rights of the walk; bits 9:6: which
/// accesses of the entry's privilege a hit serves, by [`hit_index`] (a write only once the
/// leaf is Dirty).
const PERM_BITS: u64 = 0x3f;
const HIT_SHIFT: u32 = 6;

/// The context cache (by source ID), the PASID cache (by source ID and PASID) and the IOTLB
/// (by source ID, PASID, privilege, page size and page; tagged with the domain).
///
/// A fourth cache, the steer cache, holds what the context and PASID entries decide for a
/// source ID and request PASID, so that an IOTLB miss probes one structure cache, not two.
/// It is derived from the other two and goes wherever they go: every context-cache and
/// PASID-cache invalidation removes the steer entries it could have changed.
pub struct Caches {
    context: Tlb<2>,
    pasid: Tlb<3>,
    steer: Tlb<4>,
    iotlb: Tlb<2>,
    /// A bit per domain ID modulo 64: set once a first-stage entry of such a domain is
    /// cached, so that a page-selective invalidation sweeps the whole IOTLB (as first-stage
    /// entries of the domain must go) only when there may be some.
    first_stage_dids: AtomicU64,
    /// Bit n set once an IOTLB entry of a superpage of 2^n bytes (n = 21, 30) has been
    /// cached: the sizes a lookup probes after 4 KiB, and the sets an invalidation sweeps.
    /// Never cleared: an invalidation racing a fill could otherwise hide a size that still
    /// has entries from later ones.
    large: AtomicU64,
    /// Bumped before every invalidation sweeps: a walk that began before it may not leave
    /// its (possibly stale) result behind.
    generation: AtomicU64,
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

/// Where an IOTLB key keeps log2 of its page size.
const KEY_SHIFT: u32 = 40;

/// The IOTLB key of a request: source ID, its PASID if it has one, privilege, and the page
/// number `page` of a page of 2^`shift` bytes.
#[inline(always)]
fn iotlb_key(sid: u16, pasid: Option<u32>, privileged: bool, shift: u32, page: u64) -> [u64; 2] {
    [
        VALID
            | u64::from(privileged) << 1
            | u64::from(pasid.unwrap_or(0)) << 2
            | u64::from(sid) << 22
            | u64::from(pasid.is_some()) << 38
            | u64::from(shift) << KEY_SHIFT,
        page,
    ]
}

/// The first and last input bytes of the page an IOTLB key names.
fn key_span(k: [u64; 2]) -> (u64, u64) {
    let shift = (k[0] >> KEY_SHIFT & 0x3f) as u32;
    // Page numbers are addresses shifted right by `shift`: shifting back cannot overflow.
    let base = k[1] << shift;
    (base, base | ((1u64 << shift) - 1))
}

/// An access of a given privilege as a number below 4: write and exec as bits 0 and 1.
#[inline(always)]
const fn hit_index(a: Access) -> u32 {
    a.write as u32 | (a.exec as u32) << 1
}

/// The accesses an IOTLB entry serves on a hit (bit [`hit_index`]), by the rights of its walk
/// (bits 5:0), whether its leaf is Dirty (bit 6) and its privilege (bit 7).
const HITS: [u8; 256] = {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        let perm = Perm::from_bits(i as u8 & 0x3f);
        let dirty = i & 0x40 != 0;
        let mut k = 0;
        while k < 4 {
            let a = Access {
                write: k & 1 != 0,
                exec: k & 2 != 0,
                privileged: i & 0x80 != 0,
            };
            if perm.allows(a) && (dirty || !a.write) {
                t[i] |= 1 << hit_index(a);
            }
            k += 1;
        }
        i += 1;
    }
    t
};

/// The steer-cache set index and key of a source ID and request PASID.
#[inline(always)]
fn steer_key(sid: u16, pasid: Option<u32>) -> (u64, [u64; 2]) {
    let p = u64::from(pasid.unwrap_or(0));
    let k0 = VALID | u64::from(sid) << 1 | u64::from(pasid.is_some()) << 17 | p << 18;
    // The second word repeats the first: a lookup passes over a slot whose second word
    // differs on one load.
    (p << 16 | u64::from(sid), [k0, k0])
}

impl Caches {
    /// Caches of at least the given numbers of entries.
    pub fn new(context: usize, pasid: usize, iotlb: usize) -> Caches {
        Caches {
            context: Tlb::new(context),
            pasid: Tlb::new(pasid),
            steer: Tlb::new(pasid.max(context)),
            iotlb: Tlb::new(iotlb),
            first_stage_dids: AtomicU64::new(0),
            large: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// The generation a walk reads before it starts, and hands to the fills it makes.
    #[inline(always)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Moves the generation on before an invalidation sweeps.
    ///
    /// The bump and the invalidation's later loads of `first_stage_dids` and `large` are
    /// sequentially consistent, and a fill sets its bit before the sequentially consistent
    /// fence of `Tlb::insert_current` and looks at the generation after it: so either the
    /// fill sees the bump and drops its entry, or the invalidation sees the fill's bit.
    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Inserts unless an invalidation began since `generation`, up to the moment the entry
    /// becomes visible.
    fn fill<const V: usize>(
        &self,
        t: &Tlb<V>,
        index: u64,
        key: [u64; 2],
        v: [u64; V],
        generation: u64,
    ) {
        t.insert_current(index, key, v, &self.generation, generation);
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

    /// What the structures decided for `sid` and request PASID `pasid`, if cached.
    #[inline]
    pub(crate) fn steer(&self, sid: u16, pasid: Option<u32>) -> Option<Steer> {
        let (index, key) = steer_key(sid, pasid);
        let [a, b, c, d] = self.steer.lookup(index, key)?;
        Some(Steer {
            pasid: d as u32,
            entry: PasidEntry::from_words([a, b, c, 0, 0, 0, 0, 0]),
            fpd: d >> 32 & 1 != 0,
        })
    }

    pub(crate) fn fill_steer(&self, sid: u16, pasid: Option<u32>, st: &Steer, generation: u64) {
        let (index, key) = steer_key(sid, pasid);
        let w = st.entry.to_words();
        let d = u64::from(st.pasid) | u64::from(st.fpd) << 32;
        self.fill(&self.steer, index, key, [w[0], w[1], w[2], d], generation);
    }

    /// The IOTLB entry that holds `addr` for requests of `sid`, `pasid` and privilege
    /// `privileged`: its value words and log2 of its page size. 4 KiB pages are probed
    /// first, then the superpage sizes in use, smaller first.
    #[inline(always)]
    fn find(
        &self,
        sid: u16,
        pasid: Option<u32>,
        privileged: bool,
        addr: u64,
    ) -> Option<([u64; 2], u32)> {
        let page = addr >> 12;
        match self
            .iotlb
            .lookup(page, iotlb_key(sid, pasid, privileged, 12, page))
        {
            Some(v) => Some((v, 12)),
            None => match self.large.load(Ordering::Relaxed) {
                0 => None,
                sizes => self.find_large(sid, pasid, privileged, addr, sizes),
            },
        }
    }

    /// [`find`](Self::find) among the superpage entries of the sizes in `sizes` (bit n for
    /// 2^n bytes).
    #[inline(never)]
    fn find_large(
        &self,
        sid: u16,
        pasid: Option<u32>,
        privileged: bool,
        addr: u64,
        mut sizes: u64,
    ) -> Option<([u64; 2], u32)> {
        while sizes != 0 {
            let shift = sizes.trailing_zeros();
            sizes &= sizes - 1;
            let page = addr >> shift;
            if let Some(v) = self
                .iotlb
                .lookup(page, iotlb_key(sid, pasid, privileged, shift, page))
            {
                return Some((v, shift));
            }
        }
        None
    }

    /// The IOTLB's epoch: while it reads the same, an entry found in the IOTLB is still there.
    #[inline(always)]
    pub(crate) fn iotlb_epoch(&self) -> softiommu_pgtable::tlb::Epoch {
        self.iotlb.epoch()
    }

    /// Moves the IOTLB's epoch on: what decides a plain hit, besides the entries, changed.
    pub(crate) fn advance_iotlb_epoch(&self) {
        self.iotlb.advance();
    }

    /// The translation an IOTLB entry gives `access` to `addr`, when there is one and it
    /// allows the access without a walk: the output address of `addr`, the bytes from it to
    /// the end of the entry's page, and the rights.
    #[inline(always)]
    pub(crate) fn iotlb_hit(
        &self,
        sid: u16,
        pasid: Option<u32>,
        addr: u64,
        access: Access,
    ) -> Option<(u64, u64, Perm)> {
        let ([v0, _], shift) = self.find(sid, pasid, access.privileged, addr)?;
        let off = addr & ((1u64 << shift) - 1);
        (v0 >> (HIT_SHIFT + hit_index(access)) & 1 != 0).then_some((
            (v0 & !0xfff) | off,
            (1u64 << shift) - off,
            Perm::from_bits((v0 & PERM_BITS) as u8),
        ))
    }

    /// The IOTLB entry that holds `addr` for requests of `sid`, `pasid` and privilege
    /// `privileged`, whatever access it serves.
    #[inline]
    pub(crate) fn iotlb(
        &self,
        sid: u16,
        pasid: Option<u32>,
        privileged: bool,
        addr: u64,
    ) -> Option<IotlbEntry> {
        let ([v0, v1], shift) = self.find(sid, pasid, privileged, addr)?;
        Some(IotlbEntry {
            pa: v0 & !0xfff,
            perm: Perm::from_bits((v0 & PERM_BITS) as u8),
            did: v1 as u16,
            class: if v1 >> 16 & 1 != 0 {
                Class::First
            } else {
                Class::Second
            },
            dirty: v1 >> 17 & 1 != 0,
            shift: shift as u8,
            pasid: (v1 >> 32) as u32,
        })
    }

    /// Caches `e`, the translation of the page of 2^`e.shift` bytes that holds `addr`, for
    /// requests of `sid`, `pasid` and privilege `privileged`, unless an invalidation began
    /// since `generation`. `e.shift` must be 12, 21 or 30 and `e.pa` aligned to it.
    #[inline]
    pub(crate) fn fill_iotlb(
        &self,
        sid: u16,
        pasid: Option<u32>,
        privileged: bool,
        addr: u64,
        e: &IotlbEntry,
        generation: u64,
    ) {
        debug_assert!(matches!(e.shift, 12 | 21 | 30));
        debug_assert_eq!(e.pa & ((1u64 << e.shift) - 1), 0);
        let shift = u32::from(e.shift);
        let page = addr >> shift;
        if e.class == Class::First {
            self.first_stage_dids
                .fetch_or(1 << (e.did % 64), Ordering::Relaxed);
        }
        if shift != 12 {
            // A read-modify-write sees the latest bits; the fill's fence orders it before
            // the fill's last look at the generation.
            self.large.fetch_or(1 << shift, Ordering::Relaxed);
        }
        let hits = HITS
            [usize::from(e.perm.bits()) | usize::from(e.dirty) << 6 | usize::from(privileged) << 7];
        let v0 = (e.pa & !0xfff) | u64::from(e.perm.bits()) | u64::from(hits) << HIT_SHIFT;
        let v1 = u64::from(e.did)
            | u64::from(e.class == Class::First) << 16
            | u64::from(e.dirty) << 17
            | u64::from(e.shift) << 24
            | u64::from(e.pasid) << 32;
        let key = iotlb_key(sid, pasid, privileged, shift, page);
        self.fill(&self.iotlb, page, key, [v0, v1], generation);
        if self.large.load(Ordering::Relaxed) >> (shift + 1) != 0 {
            // Smaller pages are probed first: inside a larger entry found before, this one
            // now decides the answer, so whoever kept that answer must ask again. After the
            // fill, so that a reader who read the epoch since finds this entry.
            self.iotlb.advance();
        }
    }

    /// Context-cache invalidation: one source ID, or all. (In scalable mode the context cache
    /// is not tagged by domain: a domain-selective invalidation is global.)
    pub fn invalidate_context(&self, sid: Option<u16>) -> u64 {
        self.bump();
        self.steer.invalidate(None, |k, _| {
            sid.is_none_or(|s| k[0] >> 1 & 0xffff == u64::from(s))
        });
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
        self.steer.invalidate(None, |_, v| {
            let entry_did = PasidQw1::from_bits(v[1]).did();
            did.is_none_or(|d| d == entry_did) && pasid.is_none_or(|p| v[3] as u32 == p)
        });
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
        let pasid_of = |v: [u64; 2]| (v[1] >> 32) as u32;
        self.bump();
        match scope {
            IotlbScope::Global => {
                self.first_stage_dids.store(0, Ordering::Relaxed);
                self.iotlb.invalidate(None, |_, _| true)
            }
            IotlbScope::Domain(d) => self.iotlb.invalidate(None, |_, v| did_of(v) == d),
            IotlbScope::Pages { did, addr, size } => {
                // First-stage entries of the domain go wherever they are.
                let maybe = self.first_stage_dids.load(Ordering::SeqCst) & 1 << (did % 64) != 0;
                let n = if maybe {
                    self.iotlb
                        .invalidate(None, |_, v| did_of(v) == did && first(v))
                } else {
                    0
                };
                n + self.sweep_range(addr, size, |v| did_of(v) == did)
            }
            IotlbScope::Pasid { did, pasid } => self
                .iotlb
                .invalidate(None, |_, v| did_of(v) == did && pasid_of(v) == pasid),
            IotlbScope::PasidPages {
                did,
                pasid,
                addr,
                size,
            } => self.sweep_range(addr, size, |v| {
                did_of(v) == did && pasid_of(v) == pasid && first(v)
            }),
        }
    }

    /// Removes the IOTLB entries that `drop` names (by their value words) among those whose
    /// page overlaps `[addr, addr + size)` — the range ending at the last byte of the address
    /// space when it would run past it; nothing when `size` is 0. It looks in the sets the
    /// range's pages of each size in use choose, or in every set when they are as many.
    fn sweep_range(&self, addr: u64, size: u64, drop: impl Fn([u64; 2]) -> bool) -> u64 {
        let Some(last) = size.checked_sub(1).map(|extra| addr.saturating_add(extra)) else {
            return 0;
        };
        let pred = |k: [u64; 2], v: [u64; 2]| {
            let (base, top) = key_span(k);
            base <= last && addr <= top && drop(v)
        };
        let sets = (self.iotlb.capacity() / WAYS) as u64;
        // 4 KiB pages are the most numerous: when they reach every set, one sweep does.
        if (last >> 12) - (addr >> 12) >= sets {
            return self.iotlb.invalidate(None, pred);
        }
        let mut sizes = 1u64 << 12 | self.large.load(Ordering::SeqCst);
        let mut n = 0;
        while sizes != 0 {
            let shift = sizes.trailing_zeros();
            sizes &= sizes - 1;
            // The last page number is below 2^52: one more cannot overflow.
            n += self
                .iotlb
                .invalidate(Some(addr >> shift..(last >> shift) + 1), pred);
        }
        n
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

#[cfg(test)]
mod tests {
    use super::*;

    const LAST_PAGE: u64 = !0xfff;

    /// An entry of `class` for a page of 2^`shift` bytes at output address `pa`.
    fn entry_of(class: Class, shift: u8, pa: u64) -> IotlbEntry {
        IotlbEntry {
            pa,
            perm: Perm::from_bits(0x3f),
            did: 7,
            class,
            dirty: true,
            shift,
            pasid: 3,
        }
    }

    fn entry(class: Class) -> IotlbEntry {
        entry_of(class, 12, 0x5000)
    }

    /// Caches holding `e` for the page that holds `addr`.
    fn cached(addr: u64, e: &IotlbEntry) -> Caches {
        let c = Caches::default();
        let g = c.generation();
        c.fill_iotlb(1, Some(3), false, addr, e, g);
        assert!(c.iotlb(1, Some(3), false, addr).is_some());
        c
    }

    #[test]
    fn a_smaller_page_filled_inside_a_larger_one_moves_the_epoch() {
        let block = entry_of(Class::First, 21, 0x20_0000);
        let c = cached(0x40_0000, &block);
        let g = c.generation();
        let e0 = c.iotlb_epoch();
        // Another 2 MiB entry, and a 1 GiB one: nothing smaller than them is probed first.
        c.fill_iotlb(1, Some(3), false, 0x80_0000, &block, g);
        c.fill_iotlb(
            1,
            Some(3),
            false,
            0x4000_0000,
            &entry_of(Class::First, 30, 0),
            g,
        );
        let e1 = c.iotlb_epoch();
        assert_eq!(e1, e0);
        // A 4 KiB page inside the first block now answers for its address.
        c.fill_iotlb(
            1,
            Some(3),
            false,
            0x40_1000,
            &entry_of(Class::First, 12, 0x9000),
            g,
        );
        assert_ne!(c.iotlb_epoch(), e1);
        assert_eq!(
            c.iotlb_hit(1, Some(3), 0x40_1000, Access::READ)
                .map(|h| h.0),
            Some(0x9000)
        );
    }

    /// Caches holding one entry of `class` for the last page of the address space.
    fn last_page_cached(class: Class) -> Caches {
        cached(LAST_PAGE, &entry(class))
    }

    #[test]
    fn page_invalidations_reach_the_last_page_of_the_address_space() {
        let pages = IotlbScope::Pages {
            did: 7,
            addr: LAST_PAGE,
            size: 0x1000,
        };
        let pasid_pages = IotlbScope::PasidPages {
            did: 7,
            pasid: 3,
            addr: LAST_PAGE,
            size: 0x1000,
        };
        for (class, scope) in [(Class::Second, pages), (Class::First, pasid_pages)] {
            let c = last_page_cached(class);
            assert_eq!(c.invalidate_iotlb(scope), 1, "{scope:?}");
            assert!(c.iotlb(1, Some(3), false, LAST_PAGE).is_none());
        }
        // The last gigabyte, as one entry, goes for its last byte.
        let c = cached(u64::MAX, &entry_of(Class::Second, 30, 0x4000_0000));
        let scope = IotlbScope::Pages {
            did: 7,
            addr: u64::MAX,
            size: 1,
        };
        assert_eq!(c.invalidate_iotlb(scope), 1);
    }

    #[test]
    fn ranges_running_past_the_end_stop_there_and_empty_ones_reach_nothing() {
        let c = last_page_cached(Class::Second);
        let scope = IotlbScope::Pages {
            did: 7,
            addr: LAST_PAGE - 0x1000,
            size: u64::MAX,
        };
        assert_eq!(c.invalidate_iotlb(scope), 1);

        let c = last_page_cached(Class::Second);
        let scope = IotlbScope::Pages {
            did: 7,
            addr: LAST_PAGE,
            size: 0,
        };
        assert_eq!(c.invalidate_iotlb(scope), 0);
    }

    #[test]
    fn a_superpage_entry_answers_every_address_inside_it_and_none_outside() {
        const BASE: u64 = 0x4000_0000;
        let c = cached(BASE + 0x3456, &entry_of(Class::Second, 21, 0x60_0000));
        for off in [0, 0x1234, 0x1f_f000, 0x1f_ffff] {
            assert_eq!(
                c.iotlb_hit(1, Some(3), BASE + off, Access::WRITE),
                Some((0x60_0000 + off, 0x20_0000 - off, Perm::from_bits(0x3f))),
                "{off:#x}"
            );
            let e = c.iotlb(1, Some(3), false, BASE + off).unwrap();
            assert_eq!((e.pa, e.shift), (0x60_0000, 21));
        }
        for addr in [BASE - 1, BASE + 0x20_0000] {
            assert_eq!(c.iotlb_hit(1, Some(3), addr, Access::READ), None);
        }
        // Another requester, PASID or privilege has entries of its own.
        assert_eq!(c.iotlb_hit(2, Some(3), BASE, Access::READ), None);
        assert_eq!(c.iotlb_hit(1, None, BASE, Access::READ), None);
        assert_eq!(c.iotlb(1, Some(3), true, BASE), None);
    }

    /// Every page size, and ranges around, inside and across an entry of it: a
    /// page-selective invalidation removes the entry exactly when its range overlaps the
    /// entry's page.
    #[test]
    fn page_invalidations_remove_exactly_the_entries_they_overlap() {
        for shift in [12u8, 21, 30] {
            let page = 1u64 << shift;
            let base = 5 * (1u64 << 30);
            let probes = [0, 1, 0x1000, page / 2, page - 0x1000, page - 1, page];
            for &start in probes.iter().chain(&[base - 0x1000, base - 1]) {
                let addr = if start >= base { start } else { base + start };
                for size in [0, 1, 2, 0x1000, 0x20_0000, 1 << 31] {
                    for first_stage in [false, true] {
                        let (class, scope) = if first_stage {
                            let s = IotlbScope::PasidPages {
                                did: 7,
                                pasid: 3,
                                addr,
                                size,
                            };
                            (Class::First, s)
                        } else {
                            (Class::Second, IotlbScope::Pages { did: 7, addr, size })
                        };
                        let c = cached(base, &entry_of(class, shift, 0x8000_0000));
                        let overlaps = size != 0 && addr < base + page && base <= addr + (size - 1);
                        let n = c.invalidate_iotlb(scope);
                        assert_eq!(n, u64::from(overlaps), "{shift} {addr:#x} {size:#x}");
                        let left = c.iotlb(1, Some(3), false, base + page - 1).is_some();
                        assert_eq!(left, !overlaps);
                    }
                }
            }
        }
    }
}

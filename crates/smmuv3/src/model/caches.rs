//! The SMMU's caches — level-1 stream table descriptors, STEs by StreamID, level-1 CDs,
//! stream contexts (the STE and CD a (StreamID, SubstreamID) pair resolves to) and the TLB —
//! and the reach of each invalidation command over them.
//!
//! | Command | [`InvalidationScope`] | What goes |
//! |---|---|---|
//! | CMD_CFGI_STE | `Ste { sid, leaf }` | the STE of `sid`, every context and L1CD of `sid`; the L1STD covering `sid` unless `leaf` |
//! | CMD_CFGI_STE_RANGE | `SteRange { sid, range }` | the same for the 2^(range+1) StreamIDs from `sid` aligned down, L1STDs included |
//! | CMD_CFGI_CD | `Cd { sid, ssid, leaf }` | the context using CD `ssid` of `sid` (or its only CD); the L1CD covering `ssid` unless `leaf` |
//! | CMD_CFGI_CD_ALL | `CdAll { sid }` | every context with a CD of `sid`, every L1CD of `sid` |
//! | CMD_CFGI_ALL | `All` | every configuration cache entry |
//! | CMD_TLBI_NH_ALL | `NhAll { vmid }` | stage-1 (and nested) entries of `vmid` |
//! | CMD_TLBI_NH_ASID | `NhAsid { vmid, asid }` | non-global stage-1 entries of `vmid` and `asid` |
//! | CMD_TLBI_NH_VA | `NhVa { vmid, asid, range, .. }` | stage-1 entries of `vmid`, of `asid` or global, overlapping the range |
//! | CMD_TLBI_NH_VAA | `NhVaa { vmid, range, .. }` | stage-1 entries of `vmid`, any ASID, overlapping the range |
//! | CMD_TLBI_S12_VMALL | `S12Vmall { vmid }` | every entry of `vmid` |
//! | CMD_TLBI_S2_IPA | `S2Ipa { vmid, range, .. }` | stage-2-only entries of `vmid` overlapping the IPA range (combined nested entries stay, as the architecture says: software follows with S12_VMALL or NH_ALL) |
//! | CMD_TLBI_NSNH_ALL | `NsnhAll` | every TLB entry |
//!
//! A range (TG ≠ 0) covers (NUM + 1) × 2^SCALE granules from the address; with TG = 0
//! it is the one address. A TTL level hint (with TG ≠ 0) limits the reach to leaves of that
//! level, as the architecture allows: an entry cached from a leaf at another level stays. The
//! Leaf flag has no effect: the model keeps no walk caches, only leaf translations. Without
//! stage 2 (IDR0.S2P = 0) nothing is VMID-tagged and command VMIDs are ignored.
//!
//! Every cache is a lock-free `softiommu_pgtable::tlb::Tlb`: a hit takes no lock and writes
//! nothing shared.

use std::sync::atomic::{AtomicU64, Ordering};

use softiommu_pgtable::Perm;
use softiommu_pgtable::tlb::Tlb;

use super::context::{Ctx, Kind};
use crate::cd::L1Cd;
use crate::model::ModelCaps;
use crate::ste::{L1Std, Ste};

const VALID: u64 = 1;

/// An address range of a TLB invalidation command: Addr, and the range fields NUM, SCALE, TG
/// and the level hint TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TlbiRange {
    /// The address (VA or IPA), bits 63:12.
    pub addr: u64,
    /// NUM: the range is NUM + 1 times 2^SCALE granules.
    pub num: u8,
    /// SCALE.
    pub scale: u8,
    /// TG: the granule of the range (0: one address; 1: 4 KiB; 2: 16 KiB; 3: 64 KiB).
    pub tg: u8,
    /// TTL: with TG ≠ 0, the level of the leaves to invalidate (0: any).
    pub ttl: u8,
}

impl TlbiRange {
    /// The single address `addr` (TG = 0).
    pub const fn page(addr: u64) -> TlbiRange {
        TlbiRange {
            addr,
            num: 0,
            scale: 0,
            tg: 0,
            ttl: 0,
        }
    }

    /// First byte and length of the range.
    fn bounds(&self) -> (u64, u64) {
        let g = match self.tg & 3 {
            0 => return (self.addr & !0xfff, 1),
            1 => 12,
            2 => 14,
            _ => 16,
        };
        // (NUM + 1) × 2^SCALE granules: at most 2^5 × 2^31 × 2^16 bytes, no overflow.
        let granules = u64::from(self.num & 31) + 1;
        let len = granules << (u32::from(self.scale & 31) + g);
        (self.addr & !((1u64 << g) - 1), len)
    }

    /// The level hint in effect: `Some(level)` when TG ≠ 0 and TTL ≠ 0.
    fn level(&self) -> Option<u8> {
        (self.tg & 3 != 0 && self.ttl & 3 != 0).then_some(self.ttl & 3)
    }
}

/// What one invalidation command removes (see the module documentation for each reach).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidationScope {
    /// CMD_CFGI_STE.
    Ste {
        /// StreamID.
        sid: u32,
        /// Leaf: the L1STD may stay.
        leaf: bool,
    },
    /// CMD_CFGI_STE_RANGE (CMD_CFGI_ALL is `range` 31).
    SteRange {
        /// A StreamID of the range.
        sid: u32,
        /// The range is 2^(range + 1) StreamIDs.
        range: u8,
    },
    /// CMD_CFGI_CD.
    Cd {
        /// StreamID.
        sid: u32,
        /// SubstreamID of the CD.
        ssid: u32,
        /// Leaf: the L1CD may stay.
        leaf: bool,
    },
    /// CMD_CFGI_CD_ALL.
    CdAll {
        /// StreamID.
        sid: u32,
    },
    /// CMD_CFGI_ALL.
    All,
    /// CMD_TLBI_NH_ALL.
    NhAll {
        /// VMID.
        vmid: u16,
    },
    /// CMD_TLBI_NH_ASID.
    NhAsid {
        /// VMID.
        vmid: u16,
        /// ASID.
        asid: u16,
    },
    /// CMD_TLBI_NH_VA.
    NhVa {
        /// VMID.
        vmid: u16,
        /// ASID.
        asid: u16,
        /// The VA range.
        range: TlbiRange,
        /// Leaf only (no effect: no walk caches).
        leaf: bool,
    },
    /// CMD_TLBI_NH_VAA.
    NhVaa {
        /// VMID.
        vmid: u16,
        /// The VA range.
        range: TlbiRange,
        /// Leaf only (no effect).
        leaf: bool,
    },
    /// CMD_TLBI_S12_VMALL.
    S12Vmall {
        /// VMID.
        vmid: u16,
    },
    /// CMD_TLBI_S2_IPA.
    S2Ipa {
        /// VMID.
        vmid: u16,
        /// The IPA range.
        range: TlbiRange,
        /// Leaf only (no effect).
        leaf: bool,
    },
    /// CMD_TLBI_NSNH_ALL.
    NsnhAll,
}

/// Which translations a TLB entry holds, as invalidation tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    /// Stage 1, or stage 1 and 2 combined (nested): tagged by VMID and ASID, keyed by VA.
    S1 = 0,
    /// Stage 2 only: tagged by VMID, keyed by IPA.
    S2 = 1,
}

/// A cached translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TlbEntry {
    /// Output address of the first byte of the page.
    pub out: u64,
    /// log2 of the page size.
    pub shift: u8,
    /// Rights of the whole translation.
    pub perm: Perm,
    /// A write may hit: the leaf (every leaf, nested) is already dirty or needs no update.
    pub dirty: bool,
    /// A global stage-1 leaf (nG = 0): invalidation by VA and ASID reaches it for any ASID.
    pub global: bool,
    /// Arm level of the leaf (of the stage-1 leaf for combined entries).
    pub level: u8,
    /// The stage-2 leaf maps Device memory (S2PTW refuses walks to it).
    pub device: bool,
}

fn tlb_key(class: Class, shift: u8, vmid: u16, asid: u16, input: u64) -> [u64; 2] {
    [
        VALID
            | (class as u64) << 1
            | u64::from(shift) << 2
            | u64::from(vmid) << 8
            | u64::from(asid) << 24,
        input >> shift,
    ]
}

/// What spreads one address space's entries over the TLB's sets apart from another's: the
/// set index of a page is its page number plus this.
fn tag_mix(class: Class, vmid: u16, asid: u16) -> u64 {
    let tag = u64::from(asid) | u64::from(vmid) << 16 | (class as u64) << 32;
    tag.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 24
}

struct TlbKey {
    class: u64,
    shift: u8,
    vmid: u16,
    asid: u16,
    page: u64,
}

fn parse_key(k: [u64; 2]) -> TlbKey {
    TlbKey {
        class: (k[0] >> 1) & 1,
        shift: ((k[0] >> 2) & 0x3f) as u8,
        vmid: (k[0] >> 8) as u16,
        asid: (k[0] >> 24) as u16,
        page: k[1],
    }
}

fn encode_entry(e: &TlbEntry) -> u64 {
    (e.out & !0xfff)
        | u64::from(e.perm.bits())
        | u64::from(e.dirty) << 6
        | u64::from(e.global) << 7
        | u64::from(e.level & 3) << 8
        | u64::from(e.device) << 10
}

fn decode_entry(v: u64, shift: u8) -> TlbEntry {
    TlbEntry {
        out: v & !0xfff,
        shift,
        perm: Perm::from_bits(v as u8),
        dirty: v >> 6 & 1 != 0,
        global: v >> 7 & 1 != 0,
        level: (v >> 8 & 3) as u8,
        device: v >> 10 & 1 != 0,
    }
}

fn context_key(sid: u32, ssid: Option<u32>) -> [u64; 2] {
    let (ssv, s) = match ssid {
        Some(s) => (1, u64::from(s & 0xf_ffff)),
        None => (0, 0),
    };
    [VALID | ssv << 1, s | u64::from(sid) << 20]
}

fn context_sid(k: [u64; 2]) -> u32 {
    (k[1] >> 20) as u32
}

fn context_index(sid: u32, ssid: Option<u32>) -> u64 {
    u64::from(sid) ^ u64::from(ssid.map_or(0x8000_0000, |s| s)) << 20
}

/// The configuration caches and the TLB of one SMMU.
pub struct Caches {
    l1std: Tlb<1>,
    ste: Tlb<4>,
    l1cd: Tlb<1>,
    context: Tlb<8>,
    tlb: Tlb<1>,
    /// Bit n set once an entry of page size 2^n is in the TLB: the sizes a look-up probes.
    /// Never cleared: an invalidation racing a fill could otherwise hide a size that still
    /// has entries from later range invalidations.
    shifts: AtomicU64,
    /// A bit per VMID modulo 64, set once a global stage-1 entry of such a VMID is cached:
    /// an invalidation by VA and ASID then sweeps the whole TLB for global entries of other
    /// ASIDs, which sit in other sets.
    global_vmids: AtomicU64,
    /// Bumped before every invalidation sweeps: a walk that began before it may not leave
    /// its (possibly stale) result behind.
    generation: AtomicU64,
    /// VMIDs tag entries (stage 2 is implemented).
    vmid_tags: bool,
    /// ASIDs are 16 bits wide.
    asid16: bool,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("tlb", &self.tlb.capacity())
            .finish_non_exhaustive()
    }
}

impl Caches {
    /// Caches for an SMMU with `caps`: 256 STEs and L1 descriptors, 1024 contexts, a
    /// 4096-entry TLB.
    pub fn new(caps: &ModelCaps) -> Caches {
        Caches::with_sizes(caps, 256, 1024, 4096)
    }

    /// Caches of at least `ste` STEs (and as many L1 descriptors of each kind), `context`
    /// contexts and `tlb` translations.
    pub fn with_sizes(caps: &ModelCaps, ste: usize, context: usize, tlb: usize) -> Caches {
        Caches {
            l1std: Tlb::new(ste),
            ste: Tlb::new(ste),
            l1cd: Tlb::new(ste),
            context: Tlb::new(context),
            tlb: Tlb::new(tlb),
            shifts: AtomicU64::new(0),
            global_vmids: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            vmid_tags: caps.s2p,
            asid16: caps.asid16,
        }
    }

    /// Number of TLB entries.
    pub fn tlb_capacity(&self) -> usize {
        self.tlb.capacity()
    }

    /// The generation a walk reads before it starts, and hands to the fills it makes.
    #[inline(always)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Inserts unless an invalidation began since `generation`.
    fn fill<const V: usize>(&self, t: &Tlb<V>, i: u64, k: [u64; 2], v: [u64; V], g: u64) {
        t.insert_current(i, k, v, &self.generation, g);
    }

    pub(crate) fn l1std(&self, index: u32, split: u8) -> Option<L1Std> {
        let key = [VALID | u64::from(split) << 1, u64::from(index)];
        self.l1std
            .lookup(u64::from(index), key)
            .map(|[d]| L1Std::from_bits(d))
    }

    pub(crate) fn fill_l1std(&self, index: u32, split: u8, d: L1Std, generation: u64) {
        let key = [VALID | u64::from(split) << 1, u64::from(index)];
        self.fill(
            &self.l1std,
            u64::from(index),
            key,
            [d.into_bits()],
            generation,
        );
    }

    pub(crate) fn ste(&self, sid: u32) -> Option<Ste> {
        self.ste
            .lookup(u64::from(sid), [VALID, u64::from(sid)])
            .map(|[a, b, c, d]| Ste::from_words([a, b, c, d, 0, 0, 0, 0]))
    }

    pub(crate) fn fill_ste(&self, sid: u32, s: &Ste, generation: u64) {
        let w = s.to_words();
        let key = [VALID, u64::from(sid)];
        self.fill(
            &self.ste,
            u64::from(sid),
            key,
            [w[0], w[1], w[2], w[3]],
            generation,
        );
    }

    fn l1cd_key(sid: u32, leaf_bits: u8, index: u32) -> [u64; 2] {
        [
            VALID | u64::from(leaf_bits == 10) << 1 | u64::from(sid) << 2,
            u64::from(index),
        ]
    }

    pub(crate) fn l1cd(&self, sid: u32, leaf_bits: u8, index: u32) -> Option<L1Cd> {
        let key = Self::l1cd_key(sid, leaf_bits, index);
        self.l1cd
            .lookup(u64::from(sid) ^ u64::from(index) << 16, key)
            .map(|[d]| L1Cd::from_bits(d))
    }

    pub(crate) fn fill_l1cd(&self, sid: u32, leaf_bits: u8, index: u32, d: L1Cd, gen_: u64) {
        let key = Self::l1cd_key(sid, leaf_bits, index);
        let i = u64::from(sid) ^ u64::from(index) << 16;
        self.fill(&self.l1cd, i, key, [d.into_bits()], gen_);
    }

    /// The context a request from `sid` with `ssid` resolved to.
    #[inline]
    pub(crate) fn context(&self, sid: u32, ssid: Option<u32>) -> Option<Ctx> {
        self.context
            .lookup(context_index(sid, ssid), context_key(sid, ssid))
            .map(Ctx::from_words)
    }

    pub(crate) fn fill_context(&self, sid: u32, ssid: Option<u32>, c: &Ctx, generation: u64) {
        self.fill(
            &self.context,
            context_index(sid, ssid),
            context_key(sid, ssid),
            c.to_words(),
            generation,
        );
    }

    /// The cached translation of `input` for `class`, `vmid` and `asid`, at any page size in
    /// use, smallest first.
    #[inline]
    pub(crate) fn tlb(&self, class: Class, vmid: u16, asid: u16, input: u64) -> Option<TlbEntry> {
        let mut sizes = self.shifts.load(Ordering::Relaxed);
        let mix = tag_mix(class, vmid, asid);
        while sizes != 0 {
            let shift = sizes.trailing_zeros() as u8;
            sizes &= sizes - 1;
            let key = tlb_key(class, shift, vmid, asid, input);
            if let Some([v]) = self.tlb.lookup(key[1].wrapping_add(mix), key) {
                return Some(decode_entry(v, shift));
            }
        }
        None
    }

    pub(crate) fn fill_tlb(
        &self,
        class: Class,
        vmid: u16,
        asid: u16,
        input: u64,
        e: &TlbEntry,
        generation: u64,
    ) {
        let bit = 1u64 << e.shift;
        if self.shifts.load(Ordering::Relaxed) & bit == 0 {
            self.shifts.fetch_or(bit, Ordering::Relaxed);
        }
        if e.global {
            let v = 1u64 << (vmid % 64);
            if self.global_vmids.load(Ordering::Relaxed) & v == 0 {
                self.global_vmids.fetch_or(v, Ordering::Relaxed);
            }
        }
        let key = tlb_key(class, e.shift, vmid, asid, input);
        let index = key[1].wrapping_add(tag_mix(class, vmid, asid));
        self.fill(&self.tlb, index, key, [encode_entry(e)], generation);
    }

    fn vmid(&self, vmid: u16) -> u16 {
        if self.vmid_tags { vmid } else { 0 }
    }

    fn asid(&self, asid: u16) -> u16 {
        if self.asid16 { asid } else { asid & 0xff }
    }

    /// Carries out one invalidation command. Returns the entries removed.
    pub fn invalidate(&self, scope: InvalidationScope) -> u64 {
        use InvalidationScope as S;
        self.generation.fetch_add(1, Ordering::AcqRel);
        match scope {
            S::Ste { sid, leaf } => self.invalidate_streams(u64::from(sid), 1, !leaf),
            S::SteRange { sid, range } => {
                let n = 1u64 << (u32::from(range).min(31) + 1);
                self.invalidate_streams(u64::from(sid) & !(n - 1), n, true)
            }
            S::All => {
                self.l1std.invalidate(None, |_, _| true)
                    + self.ste.invalidate(None, |_, _| true)
                    + self.l1cd.invalidate(None, |_, _| true)
                    + self.context.invalidate(None, |_, _| true)
            }
            S::Cd { sid, ssid, leaf } => {
                let n = self.context.invalidate(None, |k, v| {
                    context_sid(k) == sid && Ctx::from_words(v).uses_cd(ssid)
                });
                let l1 = if leaf {
                    0
                } else {
                    self.l1cd.invalidate(None, |k, _| {
                        k[0] >> 2 == u64::from(sid)
                            && k[1] == u64::from(ssid >> if k[0] & 2 != 0 { 10 } else { 6 })
                    })
                };
                n + l1
            }
            S::CdAll { sid } => {
                self.context.invalidate(None, |k, v| {
                    context_sid(k) == sid && Ctx::from_words(v).kind_has_cd()
                }) + self
                    .l1cd
                    .invalidate(None, |k, _| k[0] >> 2 == u64::from(sid))
            }
            S::NhAll { vmid } => {
                let vmid = self.vmid(vmid);
                self.tlb.invalidate(None, |k, _| {
                    let k = parse_key(k);
                    k.class == Class::S1 as u64 && k.vmid == vmid
                })
            }
            S::NhAsid { vmid, asid } => {
                let (vmid, asid) = (self.vmid(vmid), self.asid(asid));
                self.tlb.invalidate(None, |k, v| {
                    let k = parse_key(k);
                    let e = decode_entry(v[0], k.shift);
                    k.class == Class::S1 as u64 && k.vmid == vmid && k.asid == asid && !e.global
                })
            }
            S::NhVa {
                vmid, asid, range, ..
            } => {
                let (vmid, asid) = (self.vmid(vmid), self.asid(asid));
                let globals = self.global_vmids.load(Ordering::Relaxed) & 1 << (vmid % 64) != 0;
                let sets = (!globals).then(|| tag_mix(Class::S1, vmid, asid));
                self.invalidate_range(range, sets, |k, e| {
                    k.class == Class::S1 as u64 && k.vmid == vmid && (k.asid == asid || e.global)
                })
            }
            S::NhVaa { vmid, range, .. } => {
                let vmid = self.vmid(vmid);
                self.invalidate_range(range, None, |k, _| {
                    k.class == Class::S1 as u64 && k.vmid == vmid
                })
            }
            S::S12Vmall { vmid } => {
                let vmid = self.vmid(vmid);
                self.tlb.invalidate(None, |k, _| parse_key(k).vmid == vmid)
            }
            S::S2Ipa { vmid, range, .. } => {
                let vmid = self.vmid(vmid);
                let sets = Some(tag_mix(Class::S2, vmid, 0));
                self.invalidate_range(range, sets, |k, _| {
                    k.class == Class::S2 as u64 && k.vmid == vmid
                })
            }
            S::NsnhAll => self.tlb.invalidate(None, |_, _| true),
        }
    }

    /// Configuration entries of the `n` StreamIDs from `first`, L1STDs too when `l1`.
    fn invalidate_streams(&self, first: u64, n: u64, l1: bool) -> u64 {
        let hit = |sid: u64| sid.wrapping_sub(first) < n;
        let mut removed = self
            .ste
            .invalidate((n <= 16).then_some(first..first + n), |k, _| hit(k[1]));
        removed += self
            .context
            .invalidate(None, |k, _| hit(u64::from(context_sid(k))));
        removed += self.l1cd.invalidate(None, |k, _| hit(k[0] >> 2));
        if l1 {
            removed += self.l1std.invalidate(None, |k, _| {
                let split = (k[0] >> 1) & 0x1f;
                let index = k[1];
                // The StreamIDs the descriptor covers overlap [first, first + n).
                let lo = index << split;
                let hi = lo + (1u64 << split);
                lo < first.saturating_add(n) && first < hi
            });
        }
        removed
    }

    /// TLB entries for which `hit` holds whose page overlaps `range` (and whose level matches
    /// its TTL hint), looked for in the sets of one address space (`mix`, see [`tag_mix`]) or
    /// everywhere.
    fn invalidate_range(
        &self,
        range: TlbiRange,
        mix: Option<u64>,
        hit: impl Fn(&TlbKey, &TlbEntry) -> bool,
    ) -> u64 {
        let (start, len) = range.bounds();
        let end = start.saturating_add(len);
        let level = range.level();
        let sizes = self.shifts.load(Ordering::Relaxed);
        let pred = |k: [u64; 2], v: [u64; 1]| {
            let k = parse_key(k);
            let e = decode_entry(v[0], k.shift);
            let base = k.page.checked_shl(u32::from(k.shift)).unwrap_or(u64::MAX);
            let top = base.saturating_add(1u64 << k.shift);
            base < end && start < top && level.is_none_or(|l| l == e.level) && hit(&k, &e)
        };
        let sets = (self.tlb.capacity() / softiommu_pgtable::tlb::WAYS) as u64;
        let mut spans = Vec::new();
        let mut everywhere = mix.is_none();
        for shift in (0..64u32).filter(|s| sizes >> s & 1 != 0) {
            let (lo, hi) = (start >> shift, ((end - 1) >> shift) + 1);
            let n = hi - lo;
            let first = mix.and_then(|m| lo.checked_add(m)).filter(|_| n < sets);
            match first.and_then(|f| Some(f..f.checked_add(n)?)) {
                Some(r) => spans.push(r),
                None => everywhere = true,
            }
        }
        if everywhere {
            return self.tlb.invalidate(None, pred);
        }
        spans
            .into_iter()
            .map(|r| self.tlb.invalidate(Some(r), pred))
            .sum()
    }
}

impl Ctx {
    /// Whether the context holds a CD that CMD_CFGI_CD for `ssid` reaches: CD `ssid`, or the
    /// only CD of a stream without substreams.
    fn uses_cd(&self, ssid: u32) -> bool {
        self.kind_has_cd() && (self.single || self.cd_index == ssid)
    }

    fn kind_has_cd(&self) -> bool {
        matches!(self.kind, Kind::S1 | Kind::Nested)
    }
}

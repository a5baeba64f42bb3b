//! The SMMU's caches — level-1 stream table descriptors, STEs by StreamID, level-1 CDs,
//! stream contexts (the STE and CD a (StreamID, SubstreamID) pair resolves to) and the TLB
//! ([`super::tlb`]) — and the reach of each invalidation command over them.
//!
//! | Command | [`InvalidationScope`] | What goes |
//! |---|---|---|
//! | CMD_CFGI_STE | `Ste { sid, leaf }` | the STE of `sid`, every context and L1CD of `sid`, the stream's TLB entries; the L1STD covering `sid` unless `leaf` |
//! | CMD_CFGI_STE_RANGE | `SteRange { sid, range }` | the same for the 2^(range+1) StreamIDs from `sid` aligned down, L1STDs included |
//! | CMD_CFGI_CD | `Cd { sid, ssid, leaf }` | the context using CD `ssid` of `sid` (or its only CD) and its TLB entries; the L1CD covering `ssid` unless `leaf` |
//! | CMD_CFGI_CD_ALL | `CdAll { sid }` | every context with a CD of `sid` and their TLB entries, every L1CD of `sid` |
//! | CMD_CFGI_ALL | `All` | every configuration cache entry, every stream's TLB entries |

//! | CMD_TLBI_NH_ALL | `NhAll { vmid }` | stage-1 (and nested) entries of `vmid` |
//! | CMD_TLBI_NH_ASID | `NhAsid { vmid, asid }` | non-global stage-1 entries of `vmid` and `asid` |
//! | CMD_TLBI_NH_VA | `NhVa { vmid, asid, range, .. }` | stage-1 entries of `vmid`, of `asid` or global, overlapping the range |
//! | CMD_TLBI_NH_VAA | `NhVaa { vmid, range, .. }` | stage-1 entries of `vmid`, any ASID, overlapping the range |
//! | CMD_TLBI_S12_VMALL | `S12Vmall { vmid }` | every entry of `vmid` |
//! | CMD_TLBI_S2_IPA | `S2Ipa { vmid, range, .. }` | stage-2-only entries of `vmid` overlapping the IPA range, and the stage-2 translations walks cached (combined nested entries stay, as the architecture says: software follows with S12_VMALL or NH_ALL) |
//! | CMD_TLBI_NSNH_ALL | `NsnhAll` | every TLB entry |
//!
//! A range (TG ≠ 0) covers (NUM + 1) × 2^SCALE granules from the address; with TG = 0
//! it is the one address. A TTL level hint (with TG ≠ 0) limits the reach to leaves of that
//! level, as the architecture allows: an entry cached from a leaf at another level stays. The
//! Leaf flag has no effect: the model keeps no walk caches, only leaf translations. Without
//! stage 2 (IDR0.S2P = 0) nothing is VMID-tagged and command VMIDs are ignored. That a CFGI
//! also drops the TLB entries of the streams it reaches is explained in [`super::tlb`]; every
//! context a CFGI drops takes its stream configuration ([`super::stream`]) with it.
//!
//! Every cache is a lock-free `softiommu_pgtable::tlb::Tlb`: a hit takes no lock and writes
//! nothing shared.

use std::sync::atomic::{AtomicU64, Ordering};

use softiommu_pgtable::tlb::Tlb;

use super::context::{Ctx, tag_has_cd, tag_uses_cd};
use super::stream::StreamCfg;
use super::tlb::{Class, Hit, StreamTlb, TlbEntry};
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

#[inline(always)]
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

#[inline(always)]
fn context_index(sid: u32, ssid: Option<u32>) -> u64 {
    u64::from(sid) ^ u64::from(ssid.map_or(0x8000_0000, |s| s)) << 20
}

/// The configuration caches and the TLB of one SMMU.
pub struct Caches {
    l1std: Tlb<1>,
    ste: Tlb<4>,
    l1cd: Tlb<1>,
    context: Tlb<9>,
    /// The stream configurations stage-1 misses start from ([`super::stream`]), keyed and
    /// dropped as the contexts they come from.
    stream: Tlb<2>,
    tlb: StreamTlb,
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
            stream: Tlb::new(context),
            tlb: StreamTlb::new(tlb),
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
        let (index, key) = (context_index(sid, ssid), context_key(sid, ssid));
        self.fill(&self.context, index, key, c.to_words(), generation);
    }

    /// The stream configuration of `sid` with `ssid`.
    #[inline(always)]
    pub(crate) fn stream(&self, sid: u32, ssid: Option<u32>) -> Option<StreamCfg> {
        self.stream
            .lookup(context_index(sid, ssid), context_key(sid, ssid))
            .map(StreamCfg)
    }

    /// Keeps `c`, the stream configuration of `sid` with `ssid`, unless an invalidation
    /// began since `gen_`.
    pub(crate) fn fill_stream(&self, sid: u32, ssid: Option<u32>, c: &StreamCfg, gen_: u64) {
        let (index, key) = (context_index(sid, ssid), context_key(sid, ssid));
        self.fill(&self.stream, index, key, c.0, gen_);
    }

    /// Removes the contexts for which `drop(key, tag word)` holds, and the stream
    /// configurations that came from them. Returns how many contexts went.
    fn drop_contexts(&self, drop: impl Fn([u64; 2], u64) -> bool) -> u64 {
        self.stream.invalidate(None, |k, v| drop(k, v[0]));
        self.context.invalidate(None, |k, v| drop(k, v[0]))
    }

    /// The translation cached for `addr` from stream `sid`/`ssid`.
    #[inline(always)]
    pub(crate) fn tlb(&self, sid: u32, ssid: Option<u32>, addr: u64) -> Option<Hit> {
        self.tlb.stream(sid, ssid, addr)
    }

    /// The TLB's epoch: while it reads the same, an entry found in the TLB is still there.
    #[inline(always)]
    pub(crate) fn tlb_epoch(&self) -> softiommu_pgtable::tlb::Epoch {
        self.tlb.epoch()
    }

    /// Moves the TLB's epoch on: what decides a plain hit, besides the entries, changed.
    pub(crate) fn advance_tlb_epoch(&self) {
        self.tlb.advance();
    }

    /// The TLB's answer to `access` at `addr` from stream `sid`/`ssid`: output address,
    /// bytes to the end of the page, rights.
    #[inline(always)]
    pub(crate) fn tlb_hit(
        &self,
        sid: u32,
        ssid: Option<u32>,
        addr: u64,
        access: softiommu_pgtable::Access,
    ) -> Option<(u64, u64, softiommu_pgtable::Perm)> {
        self.tlb.stream_hit(sid, ssid, addr, access)
    }

    /// Caches `e`, the translation of `addr` from stream `sid`/`ssid`.
    #[inline]
    pub(crate) fn fill_tlb(
        &self,
        sid: u32,
        ssid: Option<u32>,
        addr: u64,
        e: &TlbEntry,
        generation: u64,
    ) {
        self.tlb
            .fill_stream(sid, ssid, addr, e, &self.generation, generation);
    }

    /// The stage-2 translation of `ipa` cached for `vmid`'s walks.
    #[inline]
    pub(crate) fn walk_tlb(&self, vmid: u16, ipa: u64) -> Option<Hit> {
        self.tlb.walk(vmid, ipa)
    }

    /// Caches the stage-2 translation `e` of `ipa` for `vmid`'s walks.
    pub(crate) fn fill_walk_tlb(&self, vmid: u16, ipa: u64, e: &TlbEntry, generation: u64) {
        self.tlb
            .fill_walk(vmid, ipa, e, &self.generation, generation);
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
        let tlb = &self.tlb;
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
                    + self.drop_contexts(|_, _| true)
                    + tlb.sweep(|k, _| !k.walk)
            }
            S::Cd { sid, ssid, leaf } => {
                let n =
                    self.drop_contexts(|k, tag| context_sid(k) == sid && tag_uses_cd(tag, ssid));
                let l1 = if leaf {
                    0
                } else {
                    self.l1cd.invalidate(None, |k, _| {
                        k[0] >> 2 == u64::from(sid)
                            && k[1] == u64::from(ssid >> if k[0] & 2 != 0 { 10 } else { 6 })
                    })
                };
                // A substream's translations, or those of a stream without substreams.
                let t =
                    tlb.sweep(|k, _| !k.walk && k.sid == sid && k.ssid.is_none_or(|s| s == ssid));
                n + l1 + t
            }
            S::CdAll { sid } => {
                self.drop_contexts(|k, tag| context_sid(k) == sid && tag_has_cd(tag))
                    + self
                        .l1cd
                        .invalidate(None, |k, _| k[0] >> 2 == u64::from(sid))
                    + tlb.sweep(|k, e| !k.walk && k.sid == sid && e.class == Class::S1)
            }
            S::NhAll { vmid } => {
                let vmid = self.vmid(vmid);
                tlb.sweep(|_, e| e.class == Class::S1 && e.vmid == vmid)
            }
            S::NhAsid { vmid, asid } => {
                let (vmid, asid) = (self.vmid(vmid), self.asid(asid));
                tlb.sweep(|_, e| {
                    e.class == Class::S1 && e.vmid == vmid && e.asid == asid && !e.global
                })
            }
            S::NhVa {
                vmid, asid, range, ..
            } => {
                let (vmid, asid) = (self.vmid(vmid), self.asid(asid));
                let (start, len) = range.bounds();
                tlb.sweep_range(start, len, range.level(), None, |_, e| {
                    e.class == Class::S1 && e.vmid == vmid && (e.asid == asid || e.global)
                })
            }
            S::NhVaa { vmid, range, .. } => {
                let vmid = self.vmid(vmid);
                let (start, len) = range.bounds();
                tlb.sweep_range(start, len, range.level(), None, |_, e| {
                    e.class == Class::S1 && e.vmid == vmid
                })
            }
            S::S12Vmall { vmid } => {
                let vmid = self.vmid(vmid);
                tlb.sweep(|_, e| e.class != Class::Bypass && e.vmid == vmid)
            }
            S::S2Ipa { vmid, range, .. } => {
                let vmid = self.vmid(vmid);
                let (start, len) = range.bounds();
                tlb.sweep_range(start, len, range.level(), Some(vmid), |_, e| {
                    matches!(e.class, Class::S2 | Class::Walk) && e.vmid == vmid
                })
            }
            S::NsnhAll => tlb.sweep(|_, _| true),
        }
    }

    /// Configuration entries of the `n` StreamIDs from `first` and their TLB entries,
    /// L1STDs too when `l1`.
    fn invalidate_streams(&self, first: u64, n: u64, l1: bool) -> u64 {
        let hit = |sid: u64| sid.wrapping_sub(first) < n;
        let mut removed = self
            .ste
            .invalidate((n <= 16).then_some(first..first + n), |k, _| hit(k[1]));
        removed += self.drop_contexts(|k, _| hit(u64::from(context_sid(k))));
        removed += self.l1cd.invalidate(None, |k, _| hit(k[0] >> 2));
        removed += self.tlb.sweep(|k, _| !k.walk && hit(u64::from(k.sid)));
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
}

//! The TLB. Translations are keyed by the stream that made them — StreamID, SubstreamID,
//! page size and the page of the input address — so that a hit is one look-up, as the
//! VT-d IOTLB is keyed by source ID and PASID; each carries the tags the invalidation
//! commands name (VMID, ASID, stage, leaf level, nG). The stage-2 translations of the CDs
//! and stage-1 tables walks read are kept apart, keyed by VMID and IPA, and shared by every
//! stream of the VMID.
//!
//! A stream's entries belong to the STE and CD it resolved to: an invalidation of that
//! configuration (CMD_CFGI_*) also drops them. The architecture lets a TLB lose entries at
//! any time, so this is an over-invalidation a driver cannot tell from eviction; the
//! commands that must reach TLB entries (CMD_TLBI_*) reach them by their tags whatever the
//! stream.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use softiommu_pgtable::tlb::{Tlb, WAYS};
use softiommu_pgtable::{Access, Perm};

const VALID: u64 = 1;
/// Value word 1, bits 47:40: the hit bits, one per kind of access ([`hit_index`]) that the
/// entry answers without a walk.
const HIT_SHIFT: u32 = 40;
/// Key bit 1: a walk's stage-2 entry (keyed by VMID), not a stream's.
const WALK: u64 = 1 << 1;

/// What a TLB entry translates, as invalidation tells entries apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    /// A stream's stage-1 (or combined nested) translation of a VA: NH_* and S12_VMALL.
    S1 = 0,
    /// A stream's stage-2-only translation of an IPA: S2_IPA and S12_VMALL.
    S2 = 1,
    /// A stream's bypass (identity): no TLBI but NSNH_ALL names it.
    Bypass = 2,
    /// A walk's stage-2 translation of an IPA, for every stream of the VMID.
    Walk = 3,
}

impl Class {
    const fn from_bits(bits: u64) -> Class {
        match bits & 3 {
            0 => Class::S1,
            1 => Class::S2,
            2 => Class::Bypass,
            _ => Class::Walk,
        }
    }
}

/// A cached translation and its tags.
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
    /// CD.PAN applies: privileged data accesses to user-readable pages fault.
    pub pan: bool,
    /// The input is keyed as presented, top byte included, while TBI made the walk ignore it.
    pub tbi: bool,
    /// What the entry translates.
    pub class: Class,
    /// VMID tag.
    pub vmid: u16,
    /// ASID tag (stage-1 entries).
    pub asid: u16,
}

/// The bit of an access among an entry's hit bits: write, instruction, privileged.
#[inline(always)]
fn hit_index(a: Access) -> u32 {
    u32::from(a.write) | u32::from(a.exec) << 1 | u32::from(a.privileged) << 2
}

/// The rights each kind of access needs, by [`hit_index`]; an instruction write needs more
/// than any entry grants.
const NEEDS: [u8; 8] = {
    let mut n = [u8::MAX; 8];
    let mut i = 0;
    while i < 8 {
        let a = Access {
            write: i & 1 != 0,
            exec: i & 2 != 0,
            privileged: i & 4 != 0,
        };
        if !(a.write && a.exec) {
            n[i] = a.needs().bits();
        }
        i += 1;
    }
    n
};
/// The hit bits the rights of an entry give, by the rights' bits.
const HITS: [u8; 64] = {
    let mut h = [0u8; 64];
    let mut p = 0;
    while p < 64 {
        let mut i = 0;
        while i < 8 {
            if p as u8 & NEEDS[i] == NEEDS[i] {
                h[p] |= 1 << i;
            }
            i += 1;
        }
        p += 1;
    }
    h
};
/// The hit bits of data writes.
const WRITES: u64 = 1 << 1 | 1 << 5;
/// The hit bits of privileged data accesses.
const PRIVILEGED_DATA: u64 = 1 << 4 | 1 << 5;

impl TlbEntry {
    /// The hit bits of every kind of access: those whose rights the entry grants, but for
    /// writes to an entry not yet dirty, privileged data accesses PAN refuses (to a
    /// user-readable page), and instruction writes (which the SMMU refuses as unsupported
    /// before any look-up).
    fn hit_bits(&self) -> u64 {
        let mut bits = u64::from(HITS[usize::from(self.perm.bits() & 63)]);
        if !self.dirty {
            bits &= !WRITES;
        }
        if self.pan && self.perm.contains(Perm::UR) {
            bits &= !PRIVILEGED_DATA;
        }
        bits
    }

    fn encode(&self) -> [u64; 2] {
        [
            (self.out & !0xfff)
                | u64::from(self.perm.bits())
                | u64::from(self.dirty) << 6
                | u64::from(self.global) << 7
                | u64::from(self.level & 3) << 8
                | u64::from(self.device) << 10
                | u64::from(self.pan) << 11,
            u64::from(self.vmid)
                | u64::from(self.asid) << 16
                | (self.class as u64) << 32
                | u64::from(self.tbi) << 34
                | self.hit_bits() << HIT_SHIFT,
        ]
    }

    #[inline(always)]
    fn decode(v: [u64; 2], shift: u8) -> TlbEntry {
        let [a, b] = v;
        TlbEntry {
            out: a & !0xfff,
            shift,
            perm: Perm::from_bits(a as u8),
            dirty: a >> 6 & 1 != 0,
            global: a >> 7 & 1 != 0,
            level: (a >> 8 & 3) as u8,
            device: a >> 10 & 1 != 0,
            pan: a >> 11 & 1 != 0,
            vmid: b as u16,
            asid: (b >> 16) as u16,
            class: Class::from_bits(b >> 32),
            tbi: b >> 34 & 1 != 0,
        }
    }

    /// First byte of the input range the entry covers (the top byte sign-extended from bit
    /// 55 when it was ignored).
    fn base(&self, page: u64) -> u64 {
        let base = page.checked_shl(u32::from(self.shift)).unwrap_or(u64::MAX);
        if self.tbi {
            (((base << 8) as i64) >> 8) as u64
        } else {
            base
        }
    }
}

/// A stream's TLB hit, decoded only as far as the hit path needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    v: [u64; 2],
    /// log2 of the page size.
    pub shift: u8,
}

impl Hit {
    /// Output address of the first byte of the page.
    #[inline(always)]
    pub(crate) fn out(&self) -> u64 {
        self.v[0] & !0xfff
    }

    /// Rights of the translation.
    #[inline(always)]
    pub(crate) fn perm(&self) -> Perm {
        Perm::from_bits(self.v[0] as u8)
    }

    /// A write may hit.
    #[inline(always)]
    pub(crate) fn dirty(&self) -> bool {
        self.v[0] >> 6 & 1 != 0
    }

    /// The stage-2 leaf maps Device memory.
    #[inline(always)]
    pub(crate) fn device(&self) -> bool {
        self.v[0] >> 10 & 1 != 0
    }

    /// Arm level of the leaf.
    #[inline(always)]
    pub(crate) fn level(&self) -> u8 {
        (self.v[0] >> 8 & 3) as u8
    }

    /// The whole entry.
    pub(crate) fn entry(&self) -> TlbEntry {
        TlbEntry::decode(self.v, self.shift)
    }
}

/// Key word 0 of a stream's entry, but for the page size.
#[inline(always)]
fn stream_k0(sid: u32, ssid: Option<u32>) -> u64 {
    let (ssv, s) = match ssid {
        Some(s) => (1, u64::from(s & 0xf_ffff)),
        None => (0, 0),
    };
    VALID | ssv << 8 | s << 9 | u64::from(sid) << 29
}

/// Key word 0 of a walk's stage-2 entry, but for the page size.
fn walk_k0(vmid: u16) -> u64 {
    VALID | WALK | u64::from(vmid) << 8
}

/// Where a VMID's walk entries sit apart from stream entries of the same pages.
fn walk_mix(vmid: u16) -> u64 {
    (u64::from(vmid) | 1 << 16).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 24
}

/// A key's fields.
pub(crate) struct Key {
    /// A walk entry.
    pub walk: bool,
    pub shift: u8,
    pub sid: u32,
    pub ssid: Option<u32>,
    pub page: u64,
}

fn parse(k: [u64; 2]) -> Key {
    Key {
        walk: k[0] & WALK != 0,
        shift: ((k[0] >> 2) & 0x3f) as u8,
        sid: (k[0] >> 29) as u32,
        ssid: (k[0] >> 8 & 1 != 0).then_some((k[0] >> 9) as u32 & 0xf_ffff),
        page: k[1],
    }
}

/// The TLB of one SMMU.
pub(crate) struct StreamTlb {
    t: Tlb<2>,
    /// Bit n set once a stream's entry of page size 2^n is in the TLB: the sizes a look-up
    /// probes. Never cleared: an invalidation racing a fill could otherwise hide a size that
    /// still has entries from later range invalidations.
    shifts: AtomicU64,
    /// The same for walks' stage-2 entries.
    walk_shifts: AtomicU64,
    /// Set once an entry keyed by an input whose top byte TBI ignored is cached: a range
    /// invalidation then sweeps everything (such entries sit in the sets of their tagged
    /// pages).
    tagged: AtomicBool,
}

impl StreamTlb {
    /// The TLB's epoch: while it reads the same, an entry found in it is still there.
    #[inline(always)]
    pub(crate) fn epoch(&self) -> softiommu_pgtable::tlb::Epoch {
        self.t.epoch()
    }

    /// Moves the TLB's epoch on: what decides a plain hit, besides the entries, changed.
    pub(crate) fn advance(&self) {
        self.t.advance();
    }

    pub(crate) fn new(entries: usize) -> StreamTlb {
        StreamTlb {
            t: Tlb::new(entries),
            shifts: AtomicU64::new(0),
            walk_shifts: AtomicU64::new(0),
            tagged: AtomicBool::new(false),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.t.capacity()
    }

    /// The translation cached for `addr` from stream `sid`/`ssid`, at any page size in use,
    /// smallest first.
    #[inline(always)]
    pub(crate) fn stream(&self, sid: u32, ssid: Option<u32>, addr: u64) -> Option<Hit> {
        let k0 = stream_k0(sid, ssid);
        let mut sizes = self.shifts.load(Ordering::Relaxed);
        while sizes != 0 {
            let shift = sizes.trailing_zeros() as u8;
            sizes &= sizes - 1;
            let page = addr >> shift;
            if let Some(v) = self.t.lookup(page, [k0 | u64::from(shift) << 2, page]) {
                return Some(Hit { v, shift });
            }
        }
        None
    }

    /// The answer to `access` at `addr` from stream `sid`/`ssid` when the TLB holds it: the
    /// output address of `addr`, the bytes left in its page, and the rights. `None` when the
    /// first entry found (smallest page size first) does not answer the access.
    #[inline(always)]
    pub(crate) fn stream_hit(
        &self,
        sid: u32,
        ssid: Option<u32>,
        addr: u64,
        access: Access,
    ) -> Option<(u64, u64, Perm)> {
        let k0 = stream_k0(sid, ssid);
        let bit = HIT_SHIFT + hit_index(access);
        let answer = |[v0, v1]: [u64; 2], shift: u32| {
            if v1 >> bit & 1 == 0 {
                return None;
            }
            let off = addr & ((1u64 << shift) - 1);
            let len = (1u64 << shift) - off;
            Some(((v0 & !0xfff) | off, len, Perm::from_bits(v0 as u8)))
        };
        let mut sizes = self.shifts.load(Ordering::Relaxed);
        // 4 KiB, the smallest page, first: its probe does not wait for the sizes in use.
        if sizes & 1 << 12 != 0 {
            let page = addr >> 12;
            if let Some(v) = self.t.lookup(page, [k0 | 12 << 2, page]) {
                return answer(v, 12);
            }
            sizes &= !(1 << 12);
        }
        while sizes != 0 {
            let shift = sizes.trailing_zeros();
            sizes &= sizes - 1;
            let page = addr >> shift;
            if let Some(v) = self.t.lookup(page, [k0 | u64::from(shift) << 2, page]) {
                return answer(v, shift);
            }
        }
        None
    }

    /// The stage-2 translation of `ipa` a walk for `vmid` cached, largest page size first
    /// (tables usually sit in large stage-2 blocks).
    #[inline]
    pub(crate) fn walk(&self, vmid: u16, ipa: u64) -> Option<Hit> {
        let (k0, mix) = (walk_k0(vmid), walk_mix(vmid));
        let mut sizes = self.walk_shifts.load(Ordering::Relaxed);
        while sizes != 0 {
            let shift = 63 - sizes.leading_zeros() as u8;
            sizes &= !(1u64 << shift);
            let page = ipa >> shift;
            let key = [k0 | u64::from(shift) << 2, page];
            if let Some(v) = self.t.lookup(page.wrapping_add(mix), key) {
                return Some(Hit { v, shift });
            }
        }
        None
    }

    #[inline(always)]
    fn note(&self, e: &TlbEntry) {
        let bit = 1u64 << e.shift;
        let shifts = if e.class == Class::Walk {
            &self.walk_shifts
        } else {
            &self.shifts
        };
        if shifts.load(Ordering::Relaxed) & bit == 0 {
            shifts.fetch_or(bit, Ordering::Relaxed);
        }
        if e.tbi && !self.tagged.load(Ordering::Relaxed) {
            self.tagged.store(true, Ordering::Relaxed);
        }
    }

    /// Caches `e` for `addr` from stream `sid`/`ssid`, unless `generation` moved on from
    /// `seen`.
    #[inline]
    pub(crate) fn fill_stream(
        &self,
        sid: u32,
        ssid: Option<u32>,
        addr: u64,
        e: &TlbEntry,
        generation: &AtomicU64,
        seen: u64,
    ) {
        self.note(e);
        let page = addr >> e.shift;
        let key = [stream_k0(sid, ssid) | u64::from(e.shift) << 2, page];
        self.t
            .insert_current(page, key, e.encode(), generation, seen);
        if self.shifts.load(Ordering::Relaxed) >> (u32::from(e.shift) + 1) != 0 {
            // Smaller pages are probed first: inside a larger entry found before, this one
            // now decides the answer, so whoever kept that answer must ask again. After the
            // fill, so that a reader who read the epoch since finds this entry.
            self.t.advance();
        }
    }

    /// Caches the stage-2 translation `e` of `ipa` for `vmid`'s walks.
    pub(crate) fn fill_walk(
        &self,
        vmid: u16,
        ipa: u64,
        e: &TlbEntry,
        generation: &AtomicU64,
        seen: u64,
    ) {
        self.note(e);
        let page = ipa >> e.shift;
        let key = [walk_k0(vmid) | u64::from(e.shift) << 2, page];
        let index = page.wrapping_add(walk_mix(vmid));
        self.t
            .insert_current(index, key, e.encode(), generation, seen);
    }

    /// Removes every entry for which `drop` holds. Returns how many went.
    pub(crate) fn sweep(&self, drop: impl Fn(&Key, &TlbEntry) -> bool) -> u64 {
        self.t.invalidate(None, |k, v| {
            let k = parse(k);
            drop(&k, &TlbEntry::decode(v, k.shift))
        })
    }

    /// Removes the entries for which `drop` holds whose input range overlaps
    /// `[start, start + len)` (and whose level is `level`, when given), looking in the sets
    /// stream entries of those pages use, and when `walk_vmid` is given in the sets of that
    /// VMID's walk entries too (`drop` must refuse walk entries otherwise).
    pub(crate) fn sweep_range(
        &self,
        start: u64,
        len: u64,
        level: Option<u8>,
        walk_vmid: Option<u16>,
        drop: impl Fn(&Key, &TlbEntry) -> bool,
    ) -> u64 {
        // Inclusive ends: a range or an entry may end at the last byte of the address space.
        let Some(last) = len.checked_sub(1).map(|l| start.saturating_add(l)) else {
            return 0;
        };
        let pred = |k: [u64; 2], v: [u64; 2]| {
            let k = parse(k);
            let e = TlbEntry::decode(v, k.shift);
            let base = e.base(k.page);
            let top = base | ((1u64 << k.shift) - 1);
            base <= last && start <= top && level.is_none_or(|l| l == e.level) && drop(&k, &e)
        };
        if self.tagged.load(Ordering::Relaxed) {
            return self.t.invalidate(None, pred);
        }
        let sets = (self.t.capacity() / WAYS) as u64;
        let mixes = [Some(0), walk_vmid.map(walk_mix)];
        // Walk entries only answer to commands that name their VMID (S2_IPA).
        let walks = walk_vmid.map_or(0, |_| self.walk_shifts.load(Ordering::Relaxed));
        let sizes = self.shifts.load(Ordering::Relaxed) | walks;
        // The sets of each page size in use and each kind of entry the command reaches.
        let mut spans = [(0u64, 0u64); 16];
        let mut n = 0;
        let mut left = sizes;
        while left != 0 {
            let shift = left.trailing_zeros();
            left &= left - 1;
            let (lo, hi) = (start >> shift, (last >> shift) + 1);
            for mix in mixes.into_iter().flatten() {
                let span = lo.checked_add(mix).zip(hi.checked_add(mix));
                match (span, spans.get_mut(n)) {
                    (Some(r), Some(slot)) if hi - lo < sets => {
                        *slot = r;
                        n += 1;
                    }
                    _ => return self.t.invalidate(None, pred),
                }
            }
        }
        spans
            .iter()
            .take(n)
            .map(|&(a, b)| self.t.invalidate(Some(a..b), pred))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::translate::pan_refuses;
    use proptest::prelude::*;

    fn entry(perm: u8, dirty: bool, pan: bool) -> TlbEntry {
        TlbEntry {
            out: 0x8000,
            shift: 12,
            perm: Perm::from_bits(perm),
            dirty,
            global: false,
            level: 3,
            device: false,
            pan,
            tbi: false,
            class: Class::S1,
            vmid: 0,
            asid: 0,
        }
    }

    proptest! {
        /// An access hits exactly when the entry's rights allow it, a write finds it dirty,
        /// PAN does not refuse it, and it is not an instruction write.
        #[test]
        fn hit_bits_follow_rights_dirty_and_pan(
            perm in 0u8..64, dirty: bool, pan: bool,
            write: bool, exec: bool, privileged: bool,
        ) {
            let e = entry(perm, dirty, pan);
            let a = Access { write, exec, privileged };
            let p = e.perm;
            let want = p.allows(a) && (!write || dirty) && !pan_refuses(pan, a, p)
                && !(write && exec);
            let got = e.hit_bits() >> hit_index(a) & 1 != 0;
            prop_assert_eq!(got, want);
            let [_, v1] = e.encode();
            prop_assert_eq!(v1 >> (HIT_SHIFT + hit_index(a)) & 1 != 0, want);
        }
    }

    #[test]
    fn range_sweeps_reach_the_last_page_and_empty_ranges_nothing() {
        let last: u64 = !0xfff;
        let t = StreamTlb::new(64);
        let g = AtomicU64::new(0);
        let mut e = entry(0x3f, true, false);
        // A page of an address space that ends at 2^64, and a 2 MiB block at its end.
        t.fill_stream(1, None, last, &e, &g, 0);
        e.shift = 21;
        t.fill_stream(2, None, last, &e, &g, 0);
        assert_eq!(t.sweep_range(last, 0x1000, None, None, |_, _| true), 2);
        t.fill_stream(1, None, last, &e, &g, 0);
        assert_eq!(t.sweep_range(last, 0, None, None, |_, _| true), 0);
        assert_eq!(
            t.sweep_range(last - 0x1000, u64::MAX, None, None, |_, _| true),
            1
        );
    }

    #[test]
    fn a_smaller_page_filled_inside_a_larger_one_moves_the_epoch() {
        let t = StreamTlb::new(64);
        let g = AtomicU64::new(0);
        let mut e = entry(0x3f, true, false);
        e.shift = 21;
        t.fill_stream(1, None, 0x40_0000, &e, &g, 0);
        let e0 = t.epoch();
        // A larger entry is probed after the smaller ones: it changes no answer.
        e.shift = 30;
        t.fill_stream(1, None, 0x4000_0000, &e, &g, 0);
        assert_eq!(t.epoch(), e0);
        // A 4 KiB page inside the block now answers for its address.
        e.shift = 12;
        t.fill_stream(1, None, 0x40_1000, &e, &g, 0);
        assert_ne!(t.epoch(), e0);
    }

    #[test]
    fn a_read_only_user_page_answers_reads_only() {
        // UR | PR: user and privileged reads hit; no write, no instruction fetch.
        let e = entry(0b00_1001, true, false);
        assert_eq!(e.hit_bits(), 1 << 0 | 1 << 4);
        // PAN takes the privileged read away.
        assert_eq!(entry(0b00_1001, true, true).hit_bits(), 1 << 0);
    }
}

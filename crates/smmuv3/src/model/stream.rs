//! The stream configurations a stage-1 TLB miss starts from: for a stream whose STE and CD
//! resolve to stage 1 alone, what the walk of the TTB0 half needs — the table root, the kept
//! format, the input width and the CD's TBI0, PAN and WXN — with the tags its translations
//! carry, in one small cache entry keyed by (StreamID, SubstreamID). Every command that drops
//! the context of a stream drops its configuration too ([`super::caches`]).
//!
//! A miss of such a stream walks from it and fills the TLB; anything else — no entry, the
//! TTB1 half, a walk that faults or a stage-1 right refused — goes the whole way through the
//! STE and CD, which raises the event with every field.

use softiommu_mem::AddressSpace;

use super::context::{Ctx, Kind, tag_asid, tag_vmid};
use super::tlb::{Class, TlbEntry};
use super::translate::{Request, Translated, TranslationUnit, pan_refuses};
use super::walk::{S1_AP_RDONLY, S1_NG, root_mask, s1_rights};

/// Word 1: CD.WXN.
const WXN: u64 = 1 << 0;
/// Word 1: the table root, bits 47:3.
const ROOT: u64 = ((1 << 48) - 1) & !7;
/// Word 1: the slot of the kept format, bits 55:48.
const SLOT_SHIFT: u32 = 48;
/// Word 1: the input width, bits 61:56.
const IA_SHIFT: u32 = 56;
/// Word 1: CD.TBI0.
const TBI: u64 = 1 << 62;
/// Word 1: CD.PAN.
const PAN: u64 = 1 << 63;

/// A stream configuration: the context's tag word, and the packed walk settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamCfg(pub [u64; 2]);

impl StreamCfg {
    fn root(&self) -> u64 {
        self.0[1] & ROOT
    }

    fn slot(&self) -> u8 {
        (self.0[1] >> SLOT_SHIFT) as u8
    }

    fn ia_bits(&self) -> u32 {
        (self.0[1] >> IA_SHIFT) as u32 & 63
    }
}

impl<M: AddressSpace> TranslationUnit<M> {
    /// The stream configuration of `ctx`, when its misses may start from one: stage 1 alone,
    /// the TTB0 half walkable (EPD0 = 0) with a kept format.
    pub(super) fn stream_cfg(&self, ctx: &Ctx) -> Option<StreamCfg> {
        if ctx.kind != Kind::S1 {
            return None;
        }
        let cd = ctx.cd();
        let d = cd.dw0;
        let slot = ctx.s1_slot()?;
        let fmt = self.formats.s1_at(slot)?;
        if d.epd0() {
            return None;
        }
        let ia = u64::from(64u8.saturating_sub(d.t0sz()).min(63));
        let root = cd.ttb0() & root_mask(fmt);
        if root & !ROOT != 0 {
            return None;
        }
        Some(StreamCfg([
            ctx.tag(),
            root | u64::from(slot) << SLOT_SHIFT
                | ia << IA_SHIFT
                | if d.tbi0() { TBI } else { 0 }
                | if d.pan() { PAN } else { 0 }
                | if d.wxn() { WXN } else { 0 },
        ]))
    }

    /// A stage-1 TLB miss of `req` (untranslated, translation on, nothing unusual) walked
    /// from its stream configuration, and the TLB filled; `None` when the whole walk must
    /// answer it.
    #[inline]
    pub(super) fn stage1_miss(&self, req: &Request) -> Option<Translated> {
        if req.addr >> 55 & 1 != 0 {
            return None;
        }
        let generation = self.caches.generation();
        let c = self.caches.stream(req.sid, req.ssid)?;
        let w = c.0[1];
        let va = if w & TBI != 0 {
            (((req.addr << 8) as i64) >> 8) as u64
        } else {
            req.addr
        };
        let n = c.ia_bits();
        if va >> n != 0 {
            return None;
        }
        let fmt = self.formats.s1_at(c.slot())?;
        let t = fmt
            .fmt
            .translate(&self.mem, c.root(), va, req.access, fmt.affd)
            .ok()?;
        let perm = s1_rights(t.perm, w & WXN != 0);
        let pan = w & PAN != 0;
        if !perm.allows(req.access) || pan_refuses(pan, req.access, perm) {
            return None;
        }
        let shift = t.page_size.trailing_zeros() as u8;
        let entry = TlbEntry {
            out: t.pa & !(t.page_size - 1),
            shift,
            perm,
            dirty: req.access.write || t.pte & S1_AP_RDONLY == 0,
            global: t.pte & S1_NG == 0,
            level: fmt.fmt.start_level() + t.level as u8,
            device: false,
            pan,
            tbi: va != req.addr,
            class: Class::S1,
            vmid: tag_vmid(c.0[0]),
            asid: tag_asid(c.0[0]),
        };
        self.caches
            .fill_tlb(req.sid, req.ssid, req.addr, &entry, generation);
        Some(Translated {
            pa: t.pa,
            len: t.page_size - (t.pa & (t.page_size - 1)),
            perm,
        })
    }
}

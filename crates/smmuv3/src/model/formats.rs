//! The page-table formats a walk uses, built once per configuration and kept, so that a TLB
//! miss does not build one: the shared Arm stage-1 and stage-2 formats, with the Access flag
//! fault disable of the CD (AFFD) or STE (S2AFFD) on top.

use std::sync::OnceLock;

use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
use softiommu_pgtable::{Access, Format, Geometry, Prot, Pte};

/// A format whose Access flag faults may be disabled: with `affd`, a leaf with AF=0 reads as
/// AF=1 (no fault, and no update unless hardware updates are on).
#[derive(Debug, Clone)]
pub(crate) struct Stage<F> {
    pub fmt: F,
    pub affd: bool,
}

impl<F: Format> Format for Stage<F> {
    fn name(&self) -> &'static str {
        self.fmt.name()
    }
    #[inline(always)]
    fn geometry(&self) -> &Geometry {
        self.fmt.geometry()
    }
    #[inline(always)]
    fn is_valid(&self, pte: u64) -> bool {
        self.fmt.is_valid(pte)
    }
    #[inline(always)]
    fn decode(&self, pte: u64, level: usize) -> Pte {
        self.fmt.decode(pte, level)
    }
    fn table(&self, next: u64, level: usize) -> u64 {
        self.fmt.table(next, level)
    }
    fn leaf(&self, pa: u64, level: usize, prot: Prot) -> u64 {
        self.fmt.leaf(pa, level, prot)
    }
    fn leaf_prot(&self, pte: u64, level: usize) -> Prot {
        self.fmt.leaf_prot(pte, level)
    }
    fn effective(&self, prot: Prot) -> Prot {
        self.fmt.effective(prot)
    }
    fn demote(&self, pte: u64, level: usize) -> u64 {
        self.fmt.demote(pte, level)
    }
    #[inline(always)]
    fn input(&self, iova: u64) -> Option<u64> {
        self.fmt.input(iova)
    }
    #[inline(always)]
    fn access_flag_fault(&self, pte: u64, level: usize) -> bool {
        !self.affd && self.fmt.access_flag_fault(pte, level)
    }
    #[inline(always)]
    fn hw_update(&self, pte: u64, level: usize, leaf: bool, access: Access) -> u64 {
        self.fmt.hw_update(pte, level, leaf, access)
    }
    fn tracks_dirty(&self) -> bool {
        self.fmt.tracks_dirty()
    }
    fn is_dirty(&self, pte: u64, level: usize) -> bool {
        self.fmt.is_dirty(pte, level)
    }
    fn clear_dirty(&self, pte: u64, level: usize) -> u64 {
        self.fmt.clear_dirty(pte, level)
    }
    fn describe(&self, pte: u64, level: usize) -> String {
        self.fmt.describe(pte, level)
    }
}

/// A format from the cache, or built for one walk when the cache had no room.
pub(crate) enum Got<'a, F> {
    /// Kept in the cache, in this slot.
    Shared(&'a F, u8),
    /// Built for this walk.
    Own(Box<F>),
}

impl<F> Got<'_, F> {
    /// The cache slot that keeps the format.
    pub(crate) fn slot(&self) -> Option<u8> {
        match self {
            Got::Shared(_, i) => Some(*i),
            Got::Own(_) => None,
        }
    }
}

impl<F> std::ops::Deref for Got<'_, F> {
    type Target = F;
    #[inline(always)]
    fn deref(&self) -> &F {
        match self {
            Got::Shared(f, _) => f,
            Got::Own(f) => f,
        }
    }
}

/// Slots a cache holds; a configuration that finds none free is built for the one walk.
const SLOTS: usize = 64;
/// Slots a look-up probes.
const PROBES: usize = 8;

/// One cache slot: a configuration key and its format, set once.
type Slot<F> = OnceLock<(u32, Box<F>)>;

/// Formats by configuration key, filled on first use without locks.
struct FormatCache<F> {
    slots: Box<[Slot<F>]>,
}

impl<F: Clone> FormatCache<F> {
    fn new() -> FormatCache<F> {
        FormatCache {
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The format for `key`, built by `build` the first time; `None` when `build` refuses.
    #[inline]
    fn get(&self, key: u32, build: impl FnOnce() -> Option<F>) -> Option<Got<'_, F>> {
        let start = (key.wrapping_mul(0x9e37_79b9) >> 26) as usize;
        for i in 0..PROBES {
            let at = (start + i) % SLOTS;
            let slot = &self.slots[at];
            match slot.get() {
                Some((k, f)) if *k == key => return Some(Got::Shared(f, at as u8)),
                Some(_) => continue,
                None => return self.fill(slot, start + i, key, build),
            }
        }
        build().map(|f| Got::Own(Box::new(f)))
    }

    /// Builds the format for `key` into the free `slot` (the `at`-th probe), or past it
    /// when another walk takes the slot first.
    #[cold]
    fn fill<'a>(
        &'a self,
        slot: &'a Slot<F>,
        at: usize,
        key: u32,
        build: impl FnOnce() -> Option<F>,
    ) -> Option<Got<'a, F>> {
        let mut f = Box::new(build()?);
        let mut slot = slot;
        let mut at = at;
        loop {
            match slot.set((key, f)) {
                Ok(()) => break,
                Err((_, back)) => f = back,
            }
            // Another walk filled the slot first, maybe with this very key.
            if let Some((k, g)) = slot.get()
                && *k == key
            {
                return Some(Got::Shared(g, (at % SLOTS) as u8));
            }
            at += 1;
            if at >= PROBES + (key.wrapping_mul(0x9e37_79b9) >> 26) as usize {
                return Some(Got::Own(f));
            }
            slot = &self.slots[at % SLOTS];
        }
        slot.get()
            .map(|(_, f)| Got::Shared(&**f, (at % SLOTS) as u8))
    }

    /// The format kept in slot `at`.
    #[inline(always)]
    fn at(&self, at: u8) -> Option<&F> {
        self.slots.get(usize::from(at))?.get().map(|(_, f)| &**f)
    }
}

fn granule_bits(g: Granule) -> u32 {
    match g {
        Granule::K4 => 0,
        Granule::K16 => 1,
        Granule::K64 => 2,
    }
}

/// The stage-1 and stage-2 formats of one engine.
pub(crate) struct Formats {
    s1: FormatCache<Stage<ArmS1>>,
    s2: FormatCache<Stage<ArmS2>>,
}

impl Formats {
    pub(crate) fn new() -> Formats {
        Formats {
            s1: FormatCache::new(),
            s2: FormatCache::new(),
        }
    }

    /// The stage-1 format of a CD half: granule, 64 − TxSZ input bits, the effective IPS,
    /// HA, HD and AFFD. `None` for a configuration the format refuses.
    pub(crate) fn s1(&self, cfg: ArmS1Config, affd: bool) -> Option<Got<'_, Stage<ArmS1>>> {
        let key = granule_bits(cfg.granule)
            | u32::from(cfg.ia_bits) << 2
            | u32::from(cfg.oa_bits) << 8
            | u32::from(cfg.ha) << 14
            | u32::from(cfg.hd) << 15
            | u32::from(affd) << 16;
        self.s1.get(key, || {
            Some(Stage {
                fmt: ArmS1::new(cfg).ok()?,
                affd,
            })
        })
    }

    /// The stage-1 format a [`Got::slot`] of [`s1`](Self::s1) named.
    #[inline(always)]
    pub(crate) fn s1_at(&self, slot: u8) -> Option<&Stage<ArmS1>> {
        self.s1.at(slot)
    }

    /// The stage-2 format a [`Got::slot`] of [`s2`](Self::s2) named.
    #[inline(always)]
    pub(crate) fn s2_at(&self, slot: u8) -> Option<&Stage<ArmS2>> {
        self.s2.at(slot)
    }

    /// The stage-2 format of an STE, with S2AFFD.
    pub(crate) fn s2(&self, cfg: ArmS2Config, affd: bool) -> Option<Got<'_, Stage<ArmS2>>> {
        let key = granule_bits(cfg.granule)
            | u32::from(cfg.ia_bits) << 2
            | u32::from(cfg.oa_bits) << 8
            | u32::from(cfg.ha) << 14
            | u32::from(cfg.hd) << 15
            | u32::from(affd) << 16
            | u32::from(cfg.start_level) << 17;
        self.s2.get(key, || {
            Some(Stage {
                fmt: ArmS2::new(cfg).ok()?,
                affd,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_built_once_and_shared() {
        let f = Formats::new();
        let cfg = ArmS1Config::default();
        let a = f.s1(cfg, false).unwrap();
        let b = f.s1(cfg, false).unwrap();
        assert!(
            matches!((&a, &b), (Got::Shared(x, i), Got::Shared(y, j)) if std::ptr::eq(*x, *y) && i == j)
        );
        let slot = a.slot().unwrap();
        assert!(std::ptr::eq(f.s1_at(slot).unwrap(), &*a));
        assert!(f.s1_at(255).is_none());
        let c = f.s1(cfg, true).unwrap();
        assert!(c.affd && !a.affd);
        // A refused configuration is None.
        let bad = ArmS1Config { ia_bits: 60, ..cfg };
        assert!(f.s1(bad, false).is_none());
        // More configurations than slots: the rest are built each time, still correct.
        let mut n = 0;
        for ia in 25..=48u8 {
            for oa in [32u8, 36, 40, 42, 44, 48] {
                let c = ArmS1Config {
                    ia_bits: ia,
                    oa_bits: oa,
                    ..cfg
                };
                let got = f.s1(c, false).unwrap();
                assert_eq!(got.geometry().ia_bits(), ia);
                assert_eq!(got.geometry().oa_bits(), oa);
                n += 1;
            }
        }
        assert!(n > SLOTS);
    }

    #[test]
    fn affd_suppresses_only_the_access_flag_fault() {
        let f = Formats::new();
        let s = f.s2(ArmS2Config::auto(Granule::K4, 40, 48).unwrap(), true);
        let s = s.unwrap();
        let leaf = s.leaf(0x1000, s.geometry().depth() - 1, Prot::RW) & !(1 << 10);
        let last = s.geometry().depth() - 1;
        assert!(!s.access_flag_fault(leaf, last));
        let strict = f
            .s2(ArmS2Config::auto(Granule::K4, 40, 48).unwrap(), false)
            .unwrap();
        assert!(strict.access_flag_fault(leaf, last));
        assert_eq!(s.decode(leaf, last), strict.decode(leaf, last));
    }
}

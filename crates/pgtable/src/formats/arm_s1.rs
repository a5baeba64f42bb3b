//! Arm VMSAv8-64 stage 1 (the SMMUv3 context descriptor's TTB0 tables), 4K, 16K and 64K granules.
//!
//! Leaves are written as Linux's io-pgtable writes them: AP\[1\] unless `PRIV`, AP\[2\] unless
//! `WRITE`, SH inner, AF and nG set, AttrIndx 1 for `CACHE` and 2 for `MMIO` (see
//! [`MAIR`](super::arm::MAIR)), UXN and PXN for `NOEXEC`.

use crate::error::PgError;
use crate::format::{Format, Pte};
use crate::formats::arm::{self, Desc, Granule};
use crate::formats::arm::{
    AF, CONTIG, DBM, MAIR_IDX_CACHE, MAIR_IDX_DEVICE, S1_AP_RDONLY, S1_AP_TABLE_NO_EL0,
    S1_AP_TABLE_RDONLY, S1_AP_UNPRIV, S1_ATTR_INDX_MASK, S1_NG, S1_NS, S1_NS_TABLE, S1_PXN,
    S1_PXN_TABLE, S1_UXN, S1_UXN_TABLE, SH_INNER, SH_MASK,
};
use crate::geometry::Geometry;
use crate::prot::{Access, Perm, Prot};

/// Settings of a stage-1 table, as a context descriptor gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmS1Config {
    /// Translation granule (CD.TG0).
    pub granule: Granule,
    /// Input width, 64 − CD.T0SZ: 25 to 48 bits.
    pub ia_bits: u8,
    /// Output width from CD.IPS: 32, 36, 40, 42, 44 or 48 bits (52 is not supported).
    pub oa_bits: u8,
    /// Hardware Access-flag updates (CD.HA): a walk sets AF instead of faulting.
    pub ha: bool,
    /// Hardware dirty-state updates (CD.HD); only in effect together with `ha`, as the
    /// architecture says. Writable leaves are then written clean (AP\[2\] = 1, DBM = 1).
    pub hd: bool,
}

impl Default for ArmS1Config {
    fn default() -> Self {
        Self {
            granule: Granule::K4,
            ia_bits: 48,
            oa_bits: 48,
            ha: false,
            hd: false,
        }
    }
}

/// The VMSAv8-64 stage-1 format.
#[derive(Debug, Clone)]
pub struct ArmS1 {
    cfg: ArmS1Config,
    geo: Geometry,
    start: u8,
    /// Dirty-state management in effect (`hd && ha`).
    hd: bool,
    bits: arm::LeafBits,
    /// How a descriptor decodes at each level (counted from the root; the last serves every
    /// index beyond the table).
    rules: [arm::LevelRule; crate::MAX_LEVELS],
    /// The rights of a leaf by its AP\[2:1\], DBM, PXN and UXN bits ([`leaf_bits`]).
    leaf_perms: [Perm; 32],
}

/// A leaf's AP\[2:1\] (bits 7:6), DBM (51), PXN (53) and UXN (54), gathered into bits 4:0:
/// everything its rights depend on.
#[inline(always)]
fn leaf_bits(pte: u64) -> usize {
    ((pte >> 6) & 3 | (pte >> 49) & 4 | (pte >> 50) & 0x18) as usize
}

/// A leaf with the bits [`leaf_bits`] gathers set as `i` says, and no other.
fn leaf_with_bits(i: usize) -> u64 {
    let i = i as u64;
    (i & 3) << 6 | (i & 4) << 49 | (i & 0x18) << 50
}

mod walk;

/// How this stage marks a written DBM page.
const DIRTY: arm::DirtyBit = arm::DirtyBit {
    mask: S1_AP_RDONLY,
    set_when_dirty: false,
};

/// The attribute bits of a stage-1 leaf for `prot` (everything but type and address).
fn s1_attrs(prot: Prot, hd: bool) -> u64 {
    let mut pte = SH_INNER | AF | S1_NG;
    if prot.contains(Prot::MMIO) {
        pte |= MAIR_IDX_DEVICE << 2;
    } else if prot.contains(Prot::CACHE) {
        pte |= MAIR_IDX_CACHE << 2;
    }
    if !prot.contains(Prot::PRIV) {
        pte |= S1_AP_UNPRIV;
    }
    if !prot.contains(Prot::WRITE) {
        pte |= S1_AP_RDONLY;
    } else if hd {
        // Writable-clean: the first write clears AP[2].
        pte |= S1_AP_RDONLY | DBM;
    }
    if prot.contains(Prot::NOEXEC) {
        pte |= S1_UXN | S1_PXN;
    }
    pte
}

impl ArmS1 {
    /// A format for `cfg`, which must name a legal input and output width.
    pub fn new(cfg: ArmS1Config) -> Result<ArmS1, PgError> {
        arm::check_ia(cfg.ia_bits)?;
        arm::check_oa(cfg.oa_bits)?;
        let start = cfg.granule.start_level(cfg.ia_bits);
        let geo = arm::geometry(cfg.granule, cfg.ia_bits, start, cfg.oa_bits)?;
        Ok(ArmS1 {
            cfg,
            geo,
            start,
            hd: cfg.hd && cfg.ha,
            bits: arm::LeafBits::new(cfg.granule, start, |p| s1_attrs(p, cfg.hd && cfg.ha)),
            rules: std::array::from_fn(|i| {
                arm::LevelRule::new(cfg.granule, usize::from(start) + i)
            }),
            leaf_perms: [Perm::NONE; 32],
        }
        .with_leaf_perms())
    }

    /// The format with its table of leaf rights filled in from [`leaf_perm`](Self::leaf_perm).
    fn with_leaf_perms(mut self) -> ArmS1 {
        self.leaf_perms = std::array::from_fn(|i| self.leaf_perm(leaf_with_bits(i)));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ArmS1Config {
        &self.cfg
    }

    /// The Arm level the walk starts at: 4 − ⌈(IA − G) / (G − 3)⌉.
    pub fn start_level(&self) -> u8 {
        self.start
    }

    /// CD.T0SZ for this configuration (64 − IA).
    pub fn t0sz(&self) -> u8 {
        64 - self.cfg.ia_bits
    }

    /// CD.TG0 for this configuration.
    pub fn tg0(&self) -> u8 {
        self.cfg.granule.tg0()
    }

    /// CD.IPS for this configuration.
    pub fn ips(&self) -> u8 {
        arm::oas_encoding(self.cfg.oa_bits).unwrap_or(0)
    }

    /// The MAIR (CD.MAIR, MAIR_EL1) that gives the AttrIndx values this format writes their
    /// meaning: [`MAIR`](arm::MAIR).
    pub const fn mair(&self) -> u64 {
        arm::MAIR
    }

    #[inline(always)]
    fn number(&self, level: usize) -> usize {
        usize::from(self.start) + level
    }

    /// How a descriptor at `level` (counted from the root) decodes.
    #[inline(always)]
    fn rule(&self, level: usize) -> &arm::LevelRule {
        &self.rules[level.min(crate::MAX_LEVELS - 1)]
    }

    #[inline(always)]
    fn writable(&self, pte: u64) -> bool {
        pte & S1_AP_RDONLY == 0 || (self.hd && pte & DBM != 0)
    }

    #[inline(always)]
    fn leaf_perm(&self, pte: u64) -> Perm {
        let user = pte & S1_AP_UNPRIV != 0;
        let write = self.writable(pte);
        Perm::new(
            user,
            user && write,
            user && pte & S1_UXN == 0,
            true,
            write,
            pte & S1_PXN == 0,
        )
    }
}

/// What a table descriptor's APTable, UXNTable and PXNTable leave to the entries below it.
#[inline(always)]
const fn table_perm(pte: u64) -> Perm {
    let user = pte & S1_AP_TABLE_NO_EL0 == 0;
    let write = pte & S1_AP_TABLE_RDONLY == 0;
    Perm::new(
        user,
        user && write,
        user && pte & S1_UXN_TABLE == 0,
        true,
        write,
        pte & S1_PXN_TABLE == 0,
    )
}

/// The rights table descriptors leave, by their PXNTable, UXNTable and APTable\[1:0\]
/// (bits 62:59 moved to 3:0).
const TABLE_PERMS: [Perm; 16] = {
    let mut t = [Perm::NONE; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = table_perm((i as u64) << 59);
        i += 1;
    }
    t
};

impl ArmS1 {
    /// The rights of leaf `pte` below table descriptors whose bits, ORed, are `above`.
    #[inline(always)]
    fn walk_perm(&self, above: u64, pte: u64) -> Perm {
        let table = TABLE_PERMS[(above >> 59 & 15) as usize];
        table & self.leaf_perms[leaf_bits(pte)]
    }
}

impl Format for ArmS1 {
    fn name(&self) -> &'static str {
        "arm-s1"
    }

    #[inline(always)]
    fn geometry(&self) -> &Geometry {
        &self.geo
    }

    #[inline(always)]
    fn is_valid(&self, pte: u64) -> bool {
        pte & 1 != 0
    }

    #[inline(always)]
    fn decode(&self, pte: u64, level: usize) -> Pte {
        match self.rule(level).classify(pte) {
            Desc::Invalid => Pte::Invalid,
            Desc::Reserved => Pte::Reserved,
            Desc::Table(next) => Pte::Table {
                next,
                perm: table_perm(pte),
            },
            Desc::Leaf(pa) => Pte::Leaf {
                pa,
                perm: self.leaf_perm(pte),
            },
        }
    }

    /// Valid: bit 0; a table: bits 1:0 both set.
    fn kind_bits(&self) -> u64 {
        arm::DESC_TYPE
    }

    #[inline(always)]
    fn next_table(&self, pte: u64, level: usize) -> Option<u64> {
        (level + 1 < self.geo.depth() && pte & arm::DESC_TYPE == arm::DESC_TABLE)
            .then_some(pte & arm::OA_MASK & !(self.geo.granule() - 1))
    }

    #[inline(always)]
    fn table(&self, next: u64, _level: usize) -> u64 {
        (next & arm::OA_MASK & !(self.cfg.granule.size() - 1)) | arm::DESC_TABLE
    }

    #[inline(always)]
    fn leaf(&self, pa: u64, level: usize, prot: Prot) -> u64 {
        self.bits.leaf(pa, level, prot)
    }

    fn leaf_prot(&self, pte: u64, _level: usize) -> Prot {
        let mut p = Prot::READ;
        if self.writable(pte) {
            p = p | Prot::WRITE;
        }
        if pte & S1_AP_UNPRIV == 0 {
            p = p | Prot::PRIV;
        }
        if pte & (S1_UXN | S1_PXN) != 0 {
            p = p | Prot::NOEXEC;
        }
        match (pte & S1_ATTR_INDX_MASK) >> 2 {
            MAIR_IDX_CACHE => p = p | Prot::CACHE,
            MAIR_IDX_DEVICE => p = p | Prot::MMIO,
            _ => {}
        }
        p
    }

    fn effective(&self, prot: Prot) -> Prot {
        let p = Prot::READ
            | (prot & (Prot::WRITE | Prot::NOEXEC | Prot::PRIV | Prot::CACHE | Prot::MMIO));
        arm::one_memory_type(p)
    }

    fn demote(&self, pte: u64, level: usize) -> u64 {
        arm::demote(pte, self.number(level) + 1)
    }

    fn access_flag_fault(&self, pte: u64, _level: usize) -> bool {
        pte & AF == 0 && !self.cfg.ha
    }

    #[inline(always)]
    fn hw_update(&self, pte: u64, _level: usize, leaf: bool, access: Access) -> u64 {
        DIRTY.hw_update(pte, leaf, self.cfg.ha, self.hd, access.write)
    }

    fn tracks_dirty(&self) -> bool {
        self.hd
    }

    fn is_dirty(&self, pte: u64, _level: usize) -> bool {
        DIRTY.is_dirty(pte)
    }

    fn clear_dirty(&self, pte: u64, _level: usize) -> u64 {
        DIRTY.clean(pte)
    }

    fn describe(&self, pte: u64, level: usize) -> String {
        let n = self.number(level);
        match arm::classify(self.cfg.granule, pte, n) {
            Desc::Invalid => format!("L{n}: (invalid)"),
            Desc::Reserved => format!("L{n}: (reserved) {pte:#x}"),
            Desc::Table(next) => {
                let ap = (pte >> 61) & 0b11;
                let f = arm::flags(
                    pte,
                    &[
                        (S1_UXN_TABLE, "UXNTable"),
                        (S1_PXN_TABLE, "PXNTable"),
                        (S1_NS_TABLE, "NSTable"),
                    ],
                );
                format!("L{n} table: APTable={ap:02b}{f} next={next:#x}")
            }
            Desc::Leaf(pa) => {
                let attr = (pte & S1_ATTR_INDX_MASK) >> 2;
                let ap = (pte >> 6) & 0b11;
                let sh = (pte & SH_MASK) >> 8;
                let f = arm::flags(
                    pte,
                    &[
                        (S1_NS, "NS"),
                        (AF, "AF"),
                        (S1_NG, "nG"),
                        (CONTIG, "Contig"),
                        (S1_UXN, "UXN"),
                        (S1_PXN, "PXN"),
                        (DBM, "DBM"),
                    ],
                );
                // Bits 7:6 are AP[2:1], printed in that order.
                format!(
                    "{}: AttrIndx={attr} AP={ap:02b} SH={sh:02b}{f} out={pa:#x}",
                    arm::leaf_name(n)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::arm::checks;
    use proptest::prelude::*;

    fn s1(granule: Granule, ia_bits: u8) -> ArmS1 {
        ArmS1::new(ArmS1Config {
            granule,
            ia_bits,
            ..ArmS1Config::default()
        })
        .unwrap()
    }

    fn s1_dirty(granule: Granule, ia_bits: u8) -> ArmS1 {
        ArmS1::new(ArmS1Config {
            granule,
            ia_bits,
            ha: true,
            hd: true,
            ..ArmS1Config::default()
        })
        .unwrap()
    }

    /// Level index of Arm level `number` in `f`.
    fn at(f: &ArmS1, number: u8) -> usize {
        usize::from(number - f.start_level())
    }

    #[test]
    fn known_answers_4k() {
        let f = s1(Granule::K4, 48);
        let rw_cache = Prot::RW | Prot::CACHE;
        // Page: 11 | AttrIndx 1 (0x4) | AP[1] (0x40) | SH 11 (0x300) | AF (0x400) | nG (0x800).
        assert_eq!(f.leaf(0x1234_5000, at(&f, 3), rw_cache), 0x1234_5f47);
        // Read-only adds AP[2] (0x80).
        let ro = Prot::READ | Prot::CACHE;
        assert_eq!(f.leaf(0x1234_5000, at(&f, 3), ro), 0x1234_5fc7);
        // NOEXEC sets UXN (54) and PXN (53).
        let nx = Prot::RW | Prot::NOEXEC;
        assert_eq!(f.leaf(0x1234_5000, at(&f, 3), nx), 0x0060_0000_1234_5f43);
        // PRIV drops AP[1].
        let pr = Prot::RW | Prot::PRIV;
        assert_eq!(f.leaf(0x1234_5000, at(&f, 3), pr), 0x1234_5f03);
        // 2 MiB block: 01 | AttrIndx 2 (0x8) for MMIO.
        let mmio = Prot::RW | Prot::MMIO | Prot::NOEXEC;
        assert_eq!(f.leaf(0x4020_0000, at(&f, 2), mmio), 0x0060_0000_4020_0f49);
        // MMIO wins over CACHE.
        let both = Prot::RW | Prot::MMIO | Prot::CACHE | Prot::NOEXEC;
        assert_eq!(f.leaf(0x4020_0000, at(&f, 2), both), 0x0060_0000_4020_0f49);
        // 1 GiB block, privileged read-only, AttrIndx 0.
        let pro = Prot::READ | Prot::PRIV;
        assert_eq!(f.leaf(0x80_4000_0000, at(&f, 1), pro), 0x80_4000_0f81);
        assert_eq!(f.table(0x8765_4000, 0), 0x8765_4003);
    }

    #[test]
    fn known_answers_16k_64k() {
        let f = s1(Granule::K16, 48);
        assert_eq!(f.leaf(0x1_2345_c000, at(&f, 3), Prot::RW), 0x1_2345_cf43);
        let p = Prot::READ | Prot::NOEXEC | Prot::CACHE;
        assert_eq!(f.leaf(0x12_0200_0000, at(&f, 2), p), 0x0060_0012_0200_0fc5);
        let f = s1(Granule::K64, 48);
        let p = Prot::RW | Prot::PRIV | Prot::MMIO;
        assert_eq!(f.leaf(0xab_cde1_0000, at(&f, 3), p), 0xab_cde1_0f0b);
        assert_eq!(f.leaf(0x60_2000_0000, at(&f, 2), Prot::RW), 0x60_2000_0f41);
        // With HD, writable is written clean: AP[2] and DBM (51).
        let f = s1_dirty(Granule::K64, 48);
        assert_eq!(
            f.leaf(0x60_2000_0000, at(&f, 2), Prot::RW),
            0x0008_0060_2000_0fc1
        );
    }

    #[test]
    fn decodes_hand_built_descriptors() {
        let f = s1(Granule::K4, 48);
        let leaf = |pa, perm| Pte::Leaf { pa, perm };
        assert_eq!(f.decode(0x1234_5f47, 3), leaf(0x1234_5000, Perm::ALL));
        assert_eq!(
            f.decode(0x1234_5fc7, 3),
            leaf(0x1234_5000, Perm::new(true, false, true, true, false, true))
        );
        assert_eq!(
            f.decode(0x0060_0000_4020_0f49, 2),
            leaf(0x4020_0000, Perm::new(true, true, false, true, true, false))
        );
        assert_eq!(
            f.decode(0x80_4000_0f81, 1),
            leaf(
                0x80_4000_0000,
                Perm::new(false, false, false, true, false, true)
            )
        );
        // Tables: APTable, UXNTable and PXNTable restrict what is below.
        let table = |next, perm| Pte::Table { next, perm };
        assert_eq!(f.decode(0x8765_4003, 1), table(0x8765_4000, Perm::ALL));
        assert_eq!(
            f.decode(0x2000_0000_8765_4003, 1),
            table(
                0x8765_4000,
                Perm::new(false, false, false, true, true, true)
            )
        );
        assert_eq!(
            f.decode(0x4000_0000_8765_4003, 0),
            table(0x8765_4000, Perm::new(true, false, true, true, false, true))
        );
        assert_eq!(
            f.decode(0x1800_0000_8765_4003, 2),
            table(0x8765_4000, Perm::new(true, true, false, true, true, false))
        );
        // Structure.
        assert_eq!(f.decode(0x1234_5f46, 3), Pte::Invalid);
        assert_eq!(f.decode(0x1234_5f45, 3), Pte::Reserved);
        assert_eq!(f.decode(0x80_0000_0f41, 0), Pte::Reserved);
        assert_eq!(f.decode(0x8765_4003, 4), Pte::Reserved);
        let f16 = s1(Granule::K16, 48);
        assert_eq!(f16.decode(0x10_0000_0f41, 1), Pte::Reserved);
        assert!(matches!(f16.decode(0x12_0200_0f41, 2), Pte::Leaf { .. }));
        let f64 = s1(Granule::K64, 48);
        assert_eq!(f64.decode(0x400_0000_0f41, 0), Pte::Reserved);
        // DBM makes an AP[2] entry writable only when HD is in effect.
        let clean = 0x0008_0060_2000_0fc1;
        let Pte::Leaf { perm, .. } = f64.decode(clean, 1) else {
            panic!("not a leaf")
        };
        assert!(!perm.contains(Perm::PW));
        let Pte::Leaf { perm, .. } = s1_dirty(Granule::K64, 48).decode(clean, 1) else {
            panic!("not a leaf")
        };
        assert!(perm.contains(Perm::UW | Perm::PW));
    }

    #[test]
    fn start_levels_and_roots() {
        // (granule, IA, start level, root entries, depth)
        let cases = [
            (Granule::K4, 48, 0, 512, 4),
            (Granule::K4, 40, 0, 2, 4),
            (Granule::K4, 39, 1, 512, 3),
            (Granule::K4, 32, 1, 4, 3),
            (Granule::K4, 30, 2, 512, 2),
            (Granule::K4, 25, 2, 16, 2),
            (Granule::K16, 48, 0, 2, 4),
            (Granule::K16, 47, 1, 2048, 3),
            (Granule::K16, 36, 2, 2048, 2),
            (Granule::K16, 25, 3, 2048, 1),
            (Granule::K64, 48, 1, 64, 3),
            (Granule::K64, 42, 2, 8192, 2),
            (Granule::K64, 25, 3, 512, 1),
        ];
        for (g, ia, start, entries, depth) in cases {
            let f = s1(g, ia);
            let geo = f.geometry();
            assert_eq!(f.start_level(), start, "{g:?} IA {ia}");
            assert_eq!(geo.levels()[0].number, start);
            assert_eq!(geo.levels()[0].entries(), entries, "{g:?} IA {ia}");
            assert_eq!(geo.depth(), depth);
            assert_eq!(geo.root_bytes(), g.size());
            assert_eq!(geo.map_limit(), 1 << ia);
            assert_eq!(f.t0sz(), 64 - ia);
        }
        let sizes = |f: ArmS1| f.geometry().page_sizes().collect::<Vec<_>>();
        assert_eq!(sizes(s1(Granule::K4, 48)), [1 << 30, 1 << 21, 1 << 12]);
        assert_eq!(sizes(s1(Granule::K16, 48)), [1 << 25, 1 << 14]);
        assert_eq!(sizes(s1(Granule::K64, 48)), [1 << 29, 1 << 16]);
        assert_eq!(s1(Granule::K16, 48).tg0(), 0b10);
        assert_eq!(s1(Granule::K4, 48).ips(), 5);
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = |cfg: ArmS1Config| matches!(ArmS1::new(cfg), Err(PgError::BadConfig(_)));
        let d = ArmS1Config::default();
        assert!(bad(ArmS1Config { ia_bits: 24, ..d }));
        assert!(bad(ArmS1Config { ia_bits: 49, ..d }));
        assert!(bad(ArmS1Config { ia_bits: 0, ..d }));
        assert!(bad(ArmS1Config { oa_bits: 52, ..d }));
        assert!(bad(ArmS1Config { oa_bits: 47, ..d }));
        assert!(bad(ArmS1Config { oa_bits: 0, ..d }));
        for oa in [32, 36, 40, 42, 44, 48] {
            assert!(ArmS1::new(ArmS1Config { oa_bits: oa, ..d }).is_ok());
        }
    }

    #[test]
    fn prot_and_effective() {
        let f = s1(Granule::K4, 48);
        assert_eq!(f.effective(Prot::WRITE), Prot::RW);
        assert_eq!(
            f.effective(Prot::READ | Prot::MMIO | Prot::CACHE),
            Prot::READ | Prot::MMIO
        );
        assert_eq!(f.leaf_prot(0x1234_5f47, 3), Prot::RW | Prot::CACHE);
        assert_eq!(
            f.leaf_prot(0x0060_0000_4020_0f49, 2),
            Prot::RW | Prot::MMIO | Prot::NOEXEC
        );
        assert_eq!(f.leaf_prot(0x80_4000_0f81, 1), Prot::READ | Prot::PRIV);
        // A writable-clean entry reports WRITE under HD.
        let d = s1_dirty(Granule::K4, 48);
        assert_eq!(d.leaf_prot(d.leaf(0x1000, 3, Prot::RW), 3), Prot::RW);
    }

    #[test]
    fn access_flag_and_dirty_state() {
        let f = s1(Granule::K4, 48);
        let no_af = 0x1234_5f47 & !AF;
        assert!(f.access_flag_fault(no_af, 3));
        assert!(!f.access_flag_fault(0x1234_5f47, 3));
        assert_eq!(f.hw_update(no_af, 3, true, Access::WRITE), no_af);
        assert!(!f.tracks_dirty());

        let d = s1_dirty(Granule::K4, 48);
        assert!(d.tracks_dirty());
        assert!(!d.access_flag_fault(no_af, 3));
        assert_eq!(d.hw_update(no_af, 3, true, Access::READ), 0x1234_5f47);
        assert_eq!(d.hw_update(no_af, 2, false, Access::READ), no_af);
        let clean = d.leaf(0x1234_5000, 3, Prot::RW);
        assert_eq!(clean, 0x0008_0000_1234_5fc3);
        assert!(!d.is_dirty(clean, 3));
        assert_eq!(d.hw_update(clean, 3, true, Access::READ), clean);
        let dirty = d.hw_update(clean, 3, true, Access::WRITE);
        assert_eq!(dirty, 0x0008_0000_1234_5f43);
        assert!(d.is_dirty(dirty, 3));
        assert_eq!(d.clear_dirty(dirty, 3), clean);
        // A read-only entry without DBM stays read-only and is never dirty.
        let ro = d.leaf(0x1234_5000, 3, Prot::READ);
        assert_eq!(d.hw_update(ro, 3, true, Access::WRITE), ro);
        assert!(!d.is_dirty(ro, 3));
        assert_eq!(d.clear_dirty(ro, 3), ro);

        // HD without HA is not in effect.
        let hd_only = ArmS1::new(ArmS1Config {
            hd: true,
            ..ArmS1Config::default()
        })
        .unwrap();
        assert!(!hd_only.tracks_dirty());
        assert_eq!(hd_only.leaf(0x1000, 3, Prot::RW), 0x1f43);
    }

    #[test]
    fn demote_splits_blocks() {
        let f = s1(Granule::K4, 48);
        let block = 0x0060_0000_4020_0f49;
        let child = f.demote(block, 2);
        assert_eq!(child, 0x0060_0000_4020_0f4b);
        assert_eq!(f.leaf_prot(child, 3), f.leaf_prot(block, 2));
        assert_eq!(f.demote(0x80_4000_0f81, 1), 0x80_4000_0f81);
    }

    #[test]
    fn describe_names_fields() {
        let f = s1(Granule::K4, 48);
        assert_eq!(
            f.describe(0x0060_0000_4020_0f49, 2),
            "L2 block: AttrIndx=2 AP=01 SH=11 AF nG UXN PXN out=0x40200000"
        );
        assert_eq!(
            s1_dirty(Granule::K4, 48).describe(0x0008_0000_1234_5fc3, 3),
            "L3 page: AttrIndx=0 AP=11 SH=11 AF nG DBM out=0x12345000"
        );
        assert_eq!(
            f.describe(0x7800_0000_8765_4003, 1),
            "L1 table: APTable=11 UXNTable PXNTable next=0x87654000"
        );
        assert_eq!(f.describe(0, 3), "L3: (invalid)");
        assert_eq!(f.describe(0x1001, 3), "L3: (reserved) 0x1001");
    }

    fn granule() -> impl Strategy<Value = Granule> {
        prop_oneof![Just(Granule::K4), Just(Granule::K16), Just(Granule::K64)]
    }

    proptest! {
        #[test]
        fn decode_never_panics(g in granule(), ia in 25u8..=48, hd: bool, pte: u64) {
            let f = ArmS1::new(ArmS1Config { granule: g, ia_bits: ia, oa_bits: 48, ha: hd, hd })
                .unwrap();
            checks::never_panics(&f, pte);
        }

        #[test]
        fn leaves_round_trip(
            g in granule(),
            ia in 25u8..=48,
            oa in prop::sample::select(vec![32u8, 36, 40, 42, 44, 48]),
            hd: bool,
            addr: u64,
            prot in 0u8..64,
        ) {
            let f = ArmS1::new(ArmS1Config { granule: g, ia_bits: ia, oa_bits: oa, ha: hd, hd })
                .unwrap();
            checks::round_trips(&f, addr, Prot::from_bits_truncate(prot));
        }
    }
}

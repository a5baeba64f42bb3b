//! Arm VMSAv8-64 stage 2 (the SMMUv3 STE's S2TTB tables), 4K, 16K and 64K granules, with
//! concatenated root tables.
//!
//! Leaves carry S2AP read (bit 6) and write (bit 7) exactly, MemAttr 0xF for `CACHE`, 0x1 for
//! `MMIO` and 0x5 otherwise, SH inner, AF set, and XN for `NOEXEC`. Table descriptors carry no
//! attributes; stage 2 has no privilege distinction.

use crate::error::PgError;
use crate::format::{Format, Pte};
use crate::formats::arm::{self, Desc, Granule};
use crate::formats::arm::{
    AF, CONTIG, DBM, S2_AP_READ, S2_AP_WRITE, S2_MEMATTR_DEVICE, S2_MEMATTR_MASK, S2_MEMATTR_NC,
    S2_MEMATTR_WB, S2_XN, SH_INNER, SH_MASK,
};
use crate::geometry::Geometry;
use crate::prot::{Access, Perm, Prot};

/// Settings of a stage-2 table, as a stream table entry gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmS2Config {
    /// Translation granule (STE.S2TG).
    pub granule: Granule,
    /// Input (IPA) width, 64 − STE.S2T0SZ: 25 to 48 bits.
    pub ia_bits: u8,
    /// The Arm level the walk starts at (from STE.S2SL0): 4K 0–2, 16K 1–3, 64K 2–3. The root
    /// resolves IA − shift(start) bits, 1 to stride + 4; above stride, 2 to 16 tables are
    /// concatenated.
    pub start_level: u8,
    /// Output width from STE.S2PS: 32, 36, 40, 42, 44 or 48 bits (52 is not supported).
    pub oa_bits: u8,
    /// Hardware Access-flag updates (STE.S2HA).
    pub ha: bool,
    /// Hardware dirty-state updates (STE.S2HD); only in effect together with `ha`. Writable
    /// leaves are then written clean (S2AP\[1\] = 0, DBM = 1).
    pub hd: bool,
}

impl ArmS2Config {
    /// The configuration an STE describes: S2TG decoded to `granule`, the raw `s2t0sz` and `s2sl0`
    /// fields, and the effective output width in bits (`min(S2PS, IDR5.OAS)`, decoded with
    /// [`oas_bits`](arm::oas_bits)). A 52-bit width is capped at 48 for 4K and 16K granules, as
    /// the SMMU does, and refused for 64K.
    pub fn from_ste(
        granule: Granule,
        s2t0sz: u8,
        s2sl0: u8,
        ps_bits: u8,
        ha: bool,
        hd: bool,
    ) -> Result<ArmS2Config, PgError> {
        let ia_bits = 64u8
            .checked_sub(s2t0sz)
            .ok_or(PgError::BadConfig("S2T0SZ is larger than 64"))?;
        let start_level = match (granule, s2sl0) {
            (Granule::K4, 0) => 2,
            (Granule::K4, 1) => 1,
            (Granule::K4, 2) => 0,
            (Granule::K16 | Granule::K64, 0) => 3,
            (Granule::K16 | Granule::K64, 1) => 2,
            (Granule::K16, 2) => 1,
            (Granule::K64, 2) => {
                return Err(PgError::BadConfig(
                    "S2SL0=2 with 64 KiB granules needs 52-bit addresses, which are not supported",
                ));
            }
            _ => return Err(PgError::BadConfig("reserved S2SL0 value")),
        };
        let oa_bits = if ps_bits == 52 && granule != Granule::K64 {
            48
        } else {
            ps_bits
        };
        let cfg = ArmS2Config {
            granule,
            ia_bits,
            start_level,
            oa_bits,
            ha,
            hd,
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// A configuration for an `ia_bits`-wide IPA space: start where the root fits one table, or
    /// one level lower with concatenated tables whenever 16 or fewer suffice there (a shorter
    /// walk; Linux's io-pgtable does this from level 0, KVM at every level). A start level S2SL0
    /// cannot express is avoided the same way, and refused when no level works (64K with more
    /// than 46 bits). HA and HD are off; set them on the result.
    pub fn auto(granule: Granule, ia_bits: u8, oa_bits: u8) -> Result<ArmS2Config, PgError> {
        arm::check_ia(ia_bits)?;
        arm::check_oa(oa_bits)?;
        let one = granule.start_level(ia_bits);
        let at = |start_level: u8| ArmS2Config {
            granule,
            ia_bits,
            start_level,
            oa_bits,
            ha: false,
            hd: false,
        };
        if one < 3 {
            let lower = at(one + 1);
            if lower.check().is_ok() {
                return Ok(lower);
            }
        }
        let cfg = at(one);
        cfg.check()?;
        Ok(cfg)
    }

    /// Refuses a configuration the hardware does not allow.
    fn check(&self) -> Result<(), PgError> {
        arm::check_ia(self.ia_bits)?;
        arm::check_oa(self.oa_bits)?;
        let g = self.granule;
        let first = match g {
            Granule::K4 => 0,
            Granule::K16 => 1,
            Granule::K64 => 2,
        };
        let last = if g == Granule::K4 { 2 } else { 3 };
        if !(first..=last).contains(&self.start_level) {
            return Err(PgError::BadConfig(
                "start level not expressible in S2SL0 for this granule",
            ));
        }
        let n = i32::from(self.ia_bits) - i32::from(g.level_shift(self.start_level));
        if n < 1 {
            return Err(PgError::BadConfig(
                "input width too small for the start level",
            ));
        }
        if n > i32::from(g.stride()) + 4 {
            return Err(PgError::BadConfig(
                "start level would need more than 16 concatenated tables",
            ));
        }
        Ok(())
    }
}

/// The VMSAv8-64 stage-2 format.
#[derive(Debug, Clone)]
pub struct ArmS2 {
    cfg: ArmS2Config,
    geo: Geometry,
    /// Dirty-state management in effect (`hd && ha`).
    hd: bool,
    bits: arm::LeafBits,
}

/// How this stage marks a written DBM page.
const DIRTY: arm::DirtyBit = arm::DirtyBit {
    mask: S2_AP_WRITE,
    set_when_dirty: true,
};

/// The attribute bits of a stage-2 leaf for `prot` (everything but type and address).
fn s2_attrs(prot: Prot, hd: bool) -> u64 {
    let attr = if prot.contains(Prot::MMIO) {
        S2_MEMATTR_DEVICE
    } else if prot.contains(Prot::CACHE) {
        S2_MEMATTR_WB
    } else {
        S2_MEMATTR_NC
    };
    let mut pte = SH_INNER | AF | attr << 2;
    if prot.contains(Prot::READ) {
        pte |= S2_AP_READ;
    }
    if prot.contains(Prot::WRITE) {
        // With dirty management, writable-clean: the first write sets S2AP[1].
        pte |= if hd { DBM } else { S2_AP_WRITE };
    }
    if prot.contains(Prot::NOEXEC) {
        pte |= S2_XN;
    }
    pte
}

impl ArmS2 {
    /// A format for `cfg`, which must be a combination the hardware allows.
    pub fn new(cfg: ArmS2Config) -> Result<ArmS2, PgError> {
        cfg.check()?;
        let geo = arm::geometry(cfg.granule, cfg.ia_bits, cfg.start_level, cfg.oa_bits)?;
        Ok(ArmS2 {
            cfg,
            geo,
            hd: cfg.hd && cfg.ha,
            bits: arm::LeafBits::new(cfg.granule, cfg.start_level, |p| {
                s2_attrs(p, cfg.hd && cfg.ha)
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ArmS2Config {
        &self.cfg
    }

    /// STE.S2SL0 for this configuration: 2 − start for 4K, 3 − start for 16K and 64K.
    pub fn sl0(&self) -> u8 {
        match self.cfg.granule {
            Granule::K4 => 2 - self.cfg.start_level,
            Granule::K16 | Granule::K64 => 3 - self.cfg.start_level,
        }
    }

    /// STE.S2T0SZ for this configuration (64 − IA).
    pub fn t0sz(&self) -> u8 {
        64 - self.cfg.ia_bits
    }

    /// STE.S2TG for this configuration.
    pub fn tg(&self) -> u8 {
        self.cfg.granule.tg0()
    }

    /// STE.S2PS for this configuration.
    pub fn ps(&self) -> u8 {
        arm::oas_encoding(self.cfg.oa_bits).unwrap_or(0)
    }

    /// Granule-sized tables concatenated at the root (1 when the root fits one table).
    pub fn concatenated(&self) -> u64 {
        (self.geo.root_bytes() / self.geo.granule()).max(1)
    }

    #[inline(always)]
    fn number(&self, level: usize) -> usize {
        usize::from(self.cfg.start_level) + level
    }

    #[inline(always)]
    fn writable(&self, pte: u64) -> bool {
        pte & S2_AP_WRITE != 0 || (self.hd && pte & DBM != 0)
    }
}

impl Format for ArmS2 {
    fn name(&self) -> &'static str {
        "arm-s2"
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
        match arm::classify(self.cfg.granule, pte, self.number(level)) {
            Desc::Invalid => Pte::Invalid,
            Desc::Reserved => Pte::Reserved,
            Desc::Table(next) => Pte::Table {
                next,
                perm: Perm::ALL,
            },
            Desc::Leaf(pa) => {
                let read = pte & S2_AP_READ != 0;
                Pte::Leaf {
                    pa,
                    perm: Perm::same(read, self.writable(pte), read && pte & S2_XN == 0),
                }
            }
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
        let mut p = Prot::NONE;
        if pte & S2_AP_READ != 0 {
            p = p | Prot::READ;
        }
        if self.writable(pte) {
            p = p | Prot::WRITE;
        }
        if pte & S2_XN != 0 {
            p = p | Prot::NOEXEC;
        }
        let attr = (pte & S2_MEMATTR_MASK) >> 2;
        if attr == S2_MEMATTR_WB {
            p = p | Prot::CACHE;
        } else if attr & 0b1100 == 0 {
            // MemAttr[3:2] = 00 is Device memory.
            p = p | Prot::MMIO;
        }
        p
    }

    fn effective(&self, prot: Prot) -> Prot {
        let p = prot & (Prot::READ | Prot::WRITE | Prot::NOEXEC | Prot::CACHE | Prot::MMIO);
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
            Desc::Table(next) => format!("L{n} table: next={next:#x}"),
            Desc::Leaf(pa) => {
                let ap = (pte >> 6) & 0b11;
                let attr = (pte & S2_MEMATTR_MASK) >> 2;
                let sh = (pte & SH_MASK) >> 8;
                let f = arm::flags(
                    pte,
                    &[(AF, "AF"), (CONTIG, "Contig"), (S2_XN, "XN"), (DBM, "DBM")],
                );
                format!(
                    "{}: S2AP={ap:02b} MemAttr={attr:#x} SH={sh:02b}{f} out={pa:#x}",
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

    fn s2(granule: Granule, ia_bits: u8, start_level: u8) -> ArmS2 {
        ArmS2::new(ArmS2Config {
            granule,
            ia_bits,
            start_level,
            oa_bits: 48,
            ha: false,
            hd: false,
        })
        .unwrap()
    }

    fn dirty(f: &ArmS2) -> ArmS2 {
        ArmS2::new(ArmS2Config {
            ha: true,
            hd: true,
            ..*f.config()
        })
        .unwrap()
    }

    fn ste(g: Granule, t0sz: u8, sl0: u8) -> Result<ArmS2, PgError> {
        ArmS2::new(ArmS2Config::from_ste(g, t0sz, sl0, 48, false, false)?)
    }

    /// Level index of Arm level `number` in `f`.
    fn at(f: &ArmS2, number: u8) -> usize {
        usize::from(number - f.config().start_level)
    }

    #[test]
    fn known_answers_4k() {
        let f = s2(Granule::K4, 48, 0);
        // Page: 11 | MemAttr 0xf (0x3c) | S2AP 11 (0xc0) | SH 11 (0x300) | AF (0x400).
        let p = Prot::RW | Prot::CACHE;
        assert_eq!(f.leaf(0x1234_5000, at(&f, 3), p), 0x1234_57ff);
        // Read-only, Normal NC: MemAttr 0x5 (0x14), S2AP 01.
        assert_eq!(f.leaf(0x1234_5000, at(&f, 3), Prot::READ), 0x1234_5757);
        // PRIV means nothing at stage 2.
        let p = Prot::READ | Prot::PRIV;
        assert_eq!(f.leaf(0x1234_5000, at(&f, 3), p), 0x1234_5757);
        // 2 MiB block: 01, MemAttr 0x1 (0x4) for MMIO, XN (54).
        let p = Prot::RW | Prot::MMIO | Prot::NOEXEC;
        assert_eq!(f.leaf(0x4020_0000, at(&f, 2), p), 0x0040_0000_4020_07c5);
        let p = Prot::RW | Prot::MMIO | Prot::CACHE | Prot::NOEXEC;
        assert_eq!(f.leaf(0x4020_0000, at(&f, 2), p), 0x0040_0000_4020_07c5);
        // 1 GiB block, write-only: S2AP 10.
        assert_eq!(
            f.leaf(0x80_4000_0000, at(&f, 1), Prot::WRITE),
            0x80_4000_0795
        );
        assert_eq!(f.table(0x8765_4000, 0), 0x8765_4003);
    }

    #[test]
    fn known_answers_16k_64k() {
        let f = s2(Granule::K16, 48, 1);
        assert_eq!(f.leaf(0x1_2345_c000, at(&f, 3), Prot::RW), 0x1_2345_c7d7);
        let p = Prot::READ | Prot::NOEXEC | Prot::CACHE;
        assert_eq!(f.leaf(0x12_0200_0000, at(&f, 2), p), 0x0040_0012_0200_077d);
        let f = s2(Granule::K64, 42, 2);
        let p = Prot::RW | Prot::MMIO;
        assert_eq!(f.leaf(0xab_cde1_0000, at(&f, 3), p), 0xab_cde1_07c7);
        let p = Prot::RW | Prot::CACHE;
        assert_eq!(f.leaf(0x60_2000_0000, at(&f, 2), p), 0x60_2000_07fd);
        // With HD, writable is written clean: S2AP[1] clear, DBM (51) set.
        let d = dirty(&f);
        assert_eq!(d.leaf(0x60_2000_0000, at(&d, 2), p), 0x0008_0060_2000_077d);
    }

    #[test]
    fn decodes_hand_built_descriptors() {
        let f = s2(Granule::K4, 48, 0);
        let leaf = |pa, perm| Pte::Leaf { pa, perm };
        assert_eq!(f.decode(0x1234_57ff, 3), leaf(0x1234_5000, Perm::ALL));
        assert_eq!(
            f.decode(0x1234_5757, 3),
            leaf(0x1234_5000, Perm::same(true, false, true))
        );
        assert_eq!(
            f.decode(0x0040_0000_4020_07c5, 2),
            leaf(0x4020_0000, Perm::same(true, true, false))
        );
        assert_eq!(
            f.decode(0x80_4000_0795, 1),
            leaf(0x80_4000_0000, Perm::same(false, true, false))
        );
        // Stage-2 tables carry no attributes: the upper bits are ignored.
        assert_eq!(
            f.decode(0x7800_0000_8765_4003, 1),
            Pte::Table {
                next: 0x8765_4000,
                perm: Perm::ALL
            }
        );
        assert_eq!(f.decode(0x1234_57fe, 3), Pte::Invalid);
        assert_eq!(f.decode(0x1234_57fd, 3), Pte::Reserved);
        assert_eq!(f.decode(0x80_0000_07fd, 0), Pte::Reserved);
        let f = s2(Granule::K16, 48, 1);
        assert_eq!(f.decode(0x10_0000_07fd, 0), Pte::Reserved);
        let f = s2(Granule::K64, 42, 2);
        assert!(matches!(f.decode(0x60_2000_07fd, 0), Pte::Leaf { .. }));
        // DBM makes an entry writable only when HD is in effect.
        let clean = 0x0008_0060_2000_077d;
        assert_eq!(
            f.decode(clean, 0),
            leaf(0x60_2000_0000, Perm::same(true, false, true))
        );
        assert_eq!(dirty(&f).decode(clean, 0), leaf(0x60_2000_0000, Perm::ALL));
    }

    #[test]
    fn from_ste_and_concatenation() {
        // (granule, S2T0SZ, S2SL0, start level, root entries, concatenated tables)
        let cases = [
            (Granule::K4, 24, 1, 1, 1024, 2),
            (Granule::K4, 22, 1, 1, 4096, 8),
            (Granule::K4, 21, 1, 1, 8192, 16),
            (Granule::K4, 25, 1, 1, 512, 1),
            (Granule::K4, 33, 1, 1, 2, 1),
            (Granule::K4, 20, 2, 0, 32, 1),
            (Granule::K4, 16, 2, 0, 512, 1),
            (Granule::K4, 30, 0, 2, 8192, 16),
            (Granule::K4, 39, 0, 2, 16, 1),
            (Granule::K16, 16, 2, 1, 4096, 2),
            (Granule::K16, 24, 1, 2, 32768, 16),
            (Granule::K16, 39, 0, 3, 2048, 1),
            (Granule::K64, 22, 1, 2, 8192, 1),
            (Granule::K64, 18, 1, 2, 131072, 16),
            (Granule::K64, 35, 0, 3, 8192, 1),
        ];
        for (g, t0sz, sl0, start, entries, tables) in cases {
            let f = ste(g, t0sz, sl0).unwrap();
            let geo = f.geometry();
            let what = format!("{g:?} S2T0SZ={t0sz} SL0={sl0}");
            assert_eq!(f.config().start_level, start, "{what}");
            assert_eq!(geo.levels()[0].number, start, "{what}");
            assert_eq!(geo.levels()[0].entries(), entries, "{what}");
            assert_eq!(f.concatenated(), tables, "{what}");
            assert_eq!(geo.root_bytes(), tables * g.size(), "{what}");
            assert_eq!(f.sl0(), sl0, "{what}");
            assert_eq!(f.t0sz(), t0sz, "{what}");
            assert_eq!(f.tg(), g.tg0());
            assert_eq!(geo.map_limit(), 1 << (64 - t0sz));
        }
        // The 40-bit IPA with SL0=1 of the task: two concatenated 4 KiB tables, indexed by IPA[39:30].
        let f = ste(Granule::K4, 24, 1).unwrap();
        assert_eq!(f.geometry().levels()[0].index(0xff_c000_0000), 1023);
    }

    #[test]
    fn from_ste_refuses_what_the_hardware_refuses() {
        let bad = |r: Result<ArmS2, PgError>| matches!(r, Err(PgError::BadConfig(_)));
        // More than 16 tables, or no bits left at the start level.
        assert!(bad(ste(Granule::K4, 20, 1)));
        assert!(bad(ste(Granule::K4, 25, 0)));
        assert!(bad(ste(Granule::K4, 34, 1)));
        assert!(bad(ste(Granule::K16, 16, 1)));
        assert!(bad(ste(Granule::K16, 34, 2)));
        assert!(bad(ste(Granule::K64, 17, 1)));
        // Reserved S2SL0 values, and 64K level 1 (52-bit PA only).
        assert!(bad(ste(Granule::K4, 24, 3)));
        assert!(bad(ste(Granule::K16, 24, 3)));
        assert!(bad(ste(Granule::K64, 20, 2)));
        assert!(bad(ste(Granule::K64, 20, 3)));
        assert!(bad(ste(Granule::K4, 24, 4)));
        // S2T0SZ out of range.
        assert!(bad(ste(Granule::K4, 15, 2)));
        assert!(bad(ste(Granule::K4, 40, 0)));
        assert!(bad(ste(Granule::K4, 65, 0)));
        assert!(bad(ste(Granule::K4, 255, 0)));
        // Output widths: 52 is capped at 48 below 64K, refused at 64K.
        let ps = |g, bits| ArmS2Config::from_ste(g, 24, 1, bits, false, false);
        assert_eq!(ps(Granule::K4, 52).unwrap().oa_bits, 48);
        assert!(matches!(ps(Granule::K64, 52), Err(PgError::BadConfig(_))));
        assert!(matches!(ps(Granule::K4, 47), Err(PgError::BadConfig(_))));
        assert_eq!(ps(Granule::K4, 40).unwrap().oa_bits, 40);
        assert_eq!(ArmS2::new(ps(Granule::K4, 40).unwrap()).unwrap().ps(), 2);
        // new() checks a hand-built configuration the same way.
        let cfg = ArmS2Config {
            granule: Granule::K4,
            ia_bits: 48,
            start_level: 1,
            oa_bits: 48,
            ha: false,
            hd: false,
        };
        assert!(bad(ArmS2::new(cfg)));
        assert!(bad(ArmS2::new(ArmS2Config {
            start_level: 3,
            ia_bits: 25,
            ..cfg
        })));
        assert!(bad(ArmS2::new(ArmS2Config {
            start_level: 0,
            oa_bits: 33,
            ..cfg
        })));
    }

    #[test]
    fn auto_concatenates_when_it_can() {
        // (granule, IA, start level, concatenated tables); None when nothing is legal.
        let cases = [
            (Granule::K4, 48, Some((0, 1))),
            (Granule::K4, 44, Some((0, 1))),
            (Granule::K4, 43, Some((1, 16))),
            (Granule::K4, 40, Some((1, 2))),
            (Granule::K4, 39, Some((1, 1))),
            (Granule::K4, 32, Some((2, 4))),
            (Granule::K4, 25, Some((2, 1))),
            (Granule::K16, 48, Some((1, 2))),
            (Granule::K16, 47, Some((1, 1))),
            (Granule::K16, 40, Some((2, 16))),
            (Granule::K16, 25, Some((3, 1))),
            (Granule::K64, 48, None),
            (Granule::K64, 47, None),
            (Granule::K64, 46, Some((2, 16))),
            (Granule::K64, 42, Some((2, 1))),
            (Granule::K64, 32, Some((3, 8))),
        ];
        for (g, ia, want) in cases {
            let got = ArmS2Config::auto(g, ia, 48).and_then(ArmS2::new);
            match want {
                Some((start, tables)) => {
                    let f = got.unwrap();
                    assert_eq!(f.config().start_level, start, "{g:?} IA {ia}");
                    assert_eq!(f.concatenated(), tables, "{g:?} IA {ia}");
                    // The STE encodings describe the same configuration.
                    let back = ArmS2Config::from_ste(g, f.t0sz(), f.sl0(), 48, false, false);
                    assert_eq!(back.unwrap(), *f.config());
                }
                None => assert!(matches!(got, Err(PgError::BadConfig(_))), "{g:?} IA {ia}"),
            }
        }
        assert!(ArmS2Config::auto(Granule::K4, 49, 48).is_err());
        assert!(ArmS2Config::auto(Granule::K4, 40, 52).is_err());
    }

    #[test]
    fn prot_and_effective() {
        let f = s2(Granule::K4, 48, 0);
        assert_eq!(f.effective(Prot::WRITE | Prot::PRIV), Prot::WRITE);
        assert_eq!(
            f.effective(Prot::READ | Prot::MMIO | Prot::CACHE),
            Prot::READ | Prot::MMIO
        );
        assert_eq!(f.leaf_prot(0x1234_57ff, 3), Prot::RW | Prot::CACHE);
        assert_eq!(f.leaf_prot(0x1234_5757, 3), Prot::READ);
        assert_eq!(
            f.leaf_prot(0x0040_0000_4020_07c5, 2),
            Prot::RW | Prot::MMIO | Prot::NOEXEC
        );
        assert_eq!(f.leaf_prot(0x80_4000_0795, 1), Prot::WRITE);
        // Any Device MemAttr reads back as MMIO.
        assert_eq!(f.leaf_prot(0x1234_5743, 3), Prot::READ | Prot::MMIO);
    }

    #[test]
    fn access_flag_and_dirty_state() {
        let f = s2(Granule::K4, 48, 0);
        let no_af = 0x1234_57ff & !AF;
        assert!(f.access_flag_fault(no_af, 3));
        assert!(!f.access_flag_fault(0x1234_57ff, 3));
        assert_eq!(f.hw_update(no_af, 3, true, Access::WRITE), no_af);
        assert!(!f.tracks_dirty());

        let d = dirty(&f);
        assert!(d.tracks_dirty());
        assert!(!d.access_flag_fault(no_af, 3));
        assert_eq!(d.hw_update(no_af, 3, true, Access::READ), 0x1234_57ff);
        let clean = d.leaf(0x1234_5000, 3, Prot::RW | Prot::CACHE);
        assert_eq!(clean, 0x0008_0000_1234_577f);
        assert!(!d.is_dirty(clean, 3));
        assert_eq!(d.hw_update(clean, 3, true, Access::READ), clean);
        let written = d.hw_update(clean, 3, true, Access::WRITE);
        assert_eq!(written, 0x0008_0000_1234_57ff);
        assert!(d.is_dirty(written, 3));
        assert_eq!(d.clear_dirty(written, 3), clean);
        let ro = d.leaf(0x1234_5000, 3, Prot::READ);
        assert_eq!(d.hw_update(ro, 3, true, Access::WRITE), ro);
        assert_eq!(d.clear_dirty(ro, 3), ro);
        // A write-only mapping under HD: S2AP 00 plus DBM, writable, not readable.
        let wo = d.leaf(0x1234_5000, 3, Prot::WRITE);
        assert_eq!(wo, 0x0008_0000_1234_5717);
        assert_eq!(d.leaf_prot(wo, 3), Prot::WRITE);
    }

    #[test]
    fn demote_and_describe() {
        let f = s2(Granule::K4, 48, 0);
        assert_eq!(f.demote(0x0040_0000_4020_07c5, 2), 0x0040_0000_4020_07c7);
        assert_eq!(f.demote(0x80_4000_0795, 1), 0x80_4000_0795);
        assert_eq!(
            f.describe(0x0040_0000_4020_07c5, 2),
            "L2 block: S2AP=11 MemAttr=0x1 SH=11 AF XN out=0x40200000"
        );
        assert_eq!(
            f.describe(0x1234_57ff, 3),
            "L3 page: S2AP=11 MemAttr=0xf SH=11 AF out=0x12345000"
        );
        assert_eq!(
            f.describe(0x7800_0000_8765_4003, 1),
            "L1 table: next=0x87654000"
        );
        assert_eq!(f.describe(0x1234_57fe, 3), "L3: (invalid)");
        assert_eq!(f.describe(0x1001, 3), "L3: (reserved) 0x1001");
    }

    /// Every legal stage-2 configuration, as (granule, IA, start level).
    fn config() -> impl Strategy<Value = ArmS2Config> {
        let g = prop_oneof![Just(Granule::K4), Just(Granule::K16), Just(Granule::K64)];
        (g, 25u8..=48, 0u8..=3, any::<bool>()).prop_filter_map(
            "illegal configuration",
            |(granule, ia_bits, start_level, hd)| {
                let cfg = ArmS2Config {
                    granule,
                    ia_bits,
                    start_level,
                    oa_bits: 48,
                    ha: hd,
                    hd,
                };
                cfg.check().is_ok().then_some(cfg)
            },
        )
    }

    proptest! {
        #[test]
        fn decode_never_panics(cfg in config(), pte: u64) {
            checks::never_panics(&ArmS2::new(cfg).unwrap(), pte);
        }

        #[test]
        fn leaves_round_trip(
            cfg in config(),
            oa in prop::sample::select(vec![32u8, 36, 40, 42, 44, 48]),
            addr: u64,
            prot in 0u8..64,
        ) {
            let f = ArmS2::new(ArmS2Config { oa_bits: oa, ..cfg }).unwrap();
            checks::round_trips(&f, addr, Prot::from_bits_truncate(prot));
        }
    }
}

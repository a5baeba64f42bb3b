//! Arm VMSAv8-64 translation tables: what stage 1 ([`ArmS1`](super::arm_s1::ArmS1)) and stage 2
//! ([`ArmS2`](super::arm_s2::ArmS2)) share — granules, level arithmetic and descriptor bits.
//!
//! Levels carry Arm's numbers (0 … 3) in [`Level::number`]; a configuration starts at some level
//! and always ends at level 3. 52-bit output addresses (FEAT_LPA, LPA2) are not supported: bits
//! 51:48 of a descriptor are ignored and a 52-bit output width is refused.

use crate::error::PgError;
use crate::geometry::{Geometry, Level};

/// Mask of the descriptor type, bits 1:0 (`x0` invalid, `01` block, `11` table or page).
pub const DESC_TYPE: u64 = 0b11;
/// Bits 1:0 of a block (levels 0–2; reserved at level 3).
pub const DESC_BLOCK: u64 = 0b01;
/// Bits 1:0 of a table descriptor (levels 0–2).
pub const DESC_TABLE: u64 = 0b11;
/// Bits 1:0 of a page descriptor (level 3).
pub const DESC_PAGE: u64 = 0b11;
/// Address bits 47:0 of a descriptor, before granule or block alignment.
pub const OA_MASK: u64 = (1 << 48) - 1;
/// Shareability, bits 9:8.
pub const SH_MASK: u64 = 0b11 << 8;
/// Shareability Inner (`11`).
pub const SH_INNER: u64 = 0b11 << 8;
/// Access flag, bit 10.
pub const AF: u64 = 1 << 10;
/// Dirty bit modifier, bit 51: with hardware dirty management a write makes the entry writable.
pub const DBM: u64 = 1 << 51;
/// Contiguous hint, bit 52.
pub const CONTIG: u64 = 1 << 52;

/// Stage 1: AttrIndx, bits 4:2 (index into the CD's MAIR).
pub const S1_ATTR_INDX_MASK: u64 = 0b111 << 2;
/// Stage 1: NS, bit 5.
pub const S1_NS: u64 = 1 << 5;
/// Stage 1: AP\[1\], bit 6 — unprivileged (EL0) access allowed.
pub const S1_AP_UNPRIV: u64 = 1 << 6;
/// Stage 1: AP\[2\], bit 7 — read-only.
pub const S1_AP_RDONLY: u64 = 1 << 7;
/// Stage 1: nG, bit 11 — the entry is tagged with the ASID.
pub const S1_NG: u64 = 1 << 11;
/// Stage 1: PXN, bit 53 — no privileged execution.
pub const S1_PXN: u64 = 1 << 53;
/// Stage 1: UXN, bit 54 — no unprivileged execution.
pub const S1_UXN: u64 = 1 << 54;
/// Stage 1 table descriptor: PXNTable, bit 59.
pub const S1_PXN_TABLE: u64 = 1 << 59;
/// Stage 1 table descriptor: UXNTable, bit 60.
pub const S1_UXN_TABLE: u64 = 1 << 60;
/// Stage 1 table descriptor: APTable\[0\], bit 61 — no EL0 access below.
pub const S1_AP_TABLE_NO_EL0: u64 = 1 << 61;
/// Stage 1 table descriptor: APTable\[1\], bit 62 — no writes below.
pub const S1_AP_TABLE_RDONLY: u64 = 1 << 62;
/// Stage 1 table descriptor: NSTable, bit 63.
pub const S1_NS_TABLE: u64 = 1 << 63;
/// MAIR index of Normal non-cacheable memory (mappings without `CACHE` or `MMIO`).
pub const MAIR_IDX_NC: u64 = 0;
/// MAIR index of Normal write-back memory (`Prot::CACHE`).
pub const MAIR_IDX_CACHE: u64 = 1;
/// MAIR index of Device-nGnRE memory (`Prot::MMIO`).
pub const MAIR_IDX_DEVICE: u64 = 2;
/// The CD.MAIR value that gives the three indices above their meaning (0x44, 0xff, 0x04).
pub const MAIR: u64 = 0x0004_ff44;

/// Stage 2: MemAttr, bits 5:2.
pub const S2_MEMATTR_MASK: u64 = 0xf << 2;
/// Stage 2 MemAttr of Normal write-back memory (`Prot::CACHE`).
pub const S2_MEMATTR_WB: u64 = 0xf;
/// Stage 2 MemAttr of Normal non-cacheable memory.
pub const S2_MEMATTR_NC: u64 = 0x5;
/// Stage 2 MemAttr of Device-nGnRE memory (`Prot::MMIO`).
pub const S2_MEMATTR_DEVICE: u64 = 0x1;
/// Stage 2: S2AP\[0\], bit 6 — reads allowed.
pub const S2_AP_READ: u64 = 1 << 6;
/// Stage 2: S2AP\[1\], bit 7 — writes allowed.
pub const S2_AP_WRITE: u64 = 1 << 7;
/// Stage 2: XN, bit 54 — no execution.
pub const S2_XN: u64 = 1 << 54;

/// Smallest input width (T0SZ = 39) either stage accepts.
pub const MIN_IA_BITS: u8 = 25;
/// Largest input width (T0SZ = 16) either stage accepts (52-bit inputs are not supported).
pub const MAX_IA_BITS: u8 = 48;

/// A translation granule: the page size, and the size of every table but a stage-2 root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Granule {
    /// 4 KiB pages, 9 index bits per level.
    K4,
    /// 16 KiB pages, 11 index bits per level.
    K16,
    /// 64 KiB pages, 13 index bits per level.
    K64,
}

impl Granule {
    /// log2 of the granule size (G).
    pub const fn shift(self) -> u8 {
        match self {
            Granule::K4 => 12,
            Granule::K16 => 14,
            Granule::K64 => 16,
        }
    }

    /// The granule size in bytes.
    pub const fn size(self) -> u64 {
        1 << self.shift()
    }

    /// Index bits a full table resolves (G − 3).
    pub const fn stride(self) -> u8 {
        self.shift() - 3
    }

    /// The granule a CD.TG0 or STE.S2TG field names (`00` 4K, `01` 64K, `10` 16K); `None` for
    /// the reserved `11` or a value wider than two bits.
    pub const fn from_tg0(tg: u8) -> Option<Granule> {
        match tg {
            0b00 => Some(Granule::K4),
            0b01 => Some(Granule::K64),
            0b10 => Some(Granule::K16),
            _ => None,
        }
    }

    /// The CD.TG0 / STE.S2TG encoding of this granule.
    pub const fn tg0(self) -> u8 {
        match self {
            Granule::K4 => 0b00,
            Granule::K64 => 0b01,
            Granule::K16 => 0b10,
        }
    }

    /// log2 of the span one entry at Arm level `level` maps: G + (3 − level)(G − 3). Levels above
    /// 3 count as 3.
    pub const fn level_shift(self, level: u8) -> u8 {
        let up = 3u8.saturating_sub(level);
        self.shift() + up * self.stride()
    }

    /// Whether a block descriptor is legal at Arm level `level` (levels 0–2; level 3 holds pages):
    /// 4K at L1 (1 GiB) and L2 (2 MiB), 16K at L2 (32 MiB), 64K at L2 (512 MiB).
    pub const fn block_allowed(self, level: u8) -> bool {
        matches!(
            (self, level),
            (Granule::K4, 1 | 2) | (Granule::K16, 2) | (Granule::K64, 2)
        )
    }

    /// The level a walk of an `ia_bits`-wide input starts at when the root is at most one table:
    /// 4 − ⌈(IA − G) / (G − 3)⌉, clamped to 0..=3.
    pub const fn start_level(self, ia_bits: u8) -> u8 {
        let above = ia_bits as i32 - self.shift() as i32;
        let stride = self.stride() as i32;
        let levels = (above + stride - 1).div_euclid(stride);
        let start = 4 - levels;
        if start < 0 {
            0
        } else if start > 3 {
            3
        } else {
            start as u8
        }
    }
}

/// The output width in bits a CD.IPS, STE.S2PS or IDR5.OAS encoding names (`000` 32 … `110` 52);
/// `None` for a reserved value.
pub const fn oas_bits(encoding: u8) -> Option<u8> {
    match encoding {
        0 => Some(32),
        1 => Some(36),
        2 => Some(40),
        3 => Some(42),
        4 => Some(44),
        5 => Some(48),
        6 => Some(52),
        _ => None,
    }
}

/// The IPS / S2PS / OAS encoding of an output width; `None` for a width without one.
pub const fn oas_encoding(bits: u8) -> Option<u8> {
    match bits {
        32 => Some(0),
        36 => Some(1),
        40 => Some(2),
        42 => Some(3),
        44 => Some(4),
        48 => Some(5),
        52 => Some(6),
        _ => None,
    }
}

/// Refuses an output width other than 32, 36, 40, 42, 44 or 48 bits.
pub(crate) fn check_oa(bits: u8) -> Result<(), PgError> {
    match oas_encoding(bits) {
        Some(_) if bits <= 48 => Ok(()),
        Some(_) => Err(PgError::BadConfig(
            "52-bit output addresses are not supported",
        )),
        None => Err(PgError::BadConfig(
            "output width must be 32, 36, 40, 42, 44 or 48 bits",
        )),
    }
}

/// Refuses an input width outside 25..=48 bits (T0SZ 16..=39).
pub(crate) fn check_ia(bits: u8) -> Result<(), PgError> {
    if (MIN_IA_BITS..=MAX_IA_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(PgError::BadConfig("input width must be 25 to 48 bits"))
    }
}

/// The geometry of a walk from Arm level `start` to level 3; the root resolves whatever input
/// bits are left above its shift (fewer than a table, or more when tables are concatenated).
pub(crate) fn geometry(
    g: Granule,
    ia_bits: u8,
    start: u8,
    oa_bits: u8,
) -> Result<Geometry, PgError> {
    if start > 3 || ia_bits <= g.level_shift(start) {
        return Err(PgError::BadConfig(
            "the start level leaves no input bits to resolve",
        ));
    }
    let levels: Vec<Level> = (start..=3)
        .map(|number| {
            let shift = g.level_shift(number);
            Level {
                shift,
                bits: if number == start {
                    ia_bits - shift
                } else {
                    g.stride()
                },
                leaf: number == 3 || g.block_allowed(number),
                number,
            }
        })
        .collect();
    Geometry::new(&levels, g.shift(), ia_bits, oa_bits, 1u64 << ia_bits)
}

/// A descriptor's structure, before its attributes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Desc {
    /// Bits 1:0 are `x0`.
    Invalid,
    /// A block where none is allowed, or `01` at level 3 (or a level beyond 3).
    Reserved,
    /// A table descriptor and the next table's address.
    Table(u64),
    /// A block or page and its output address.
    Leaf(u64),
}

/// Leaf bits worked out once per configuration: each level's address mask and descriptor type,
/// and the attribute bits of every [`Prot`](crate::Prot) value.
#[derive(Debug, Clone)]
pub(crate) struct LeafBits {
    base: [(u64, u64); crate::MAX_LEVELS],
    attrs: [u64; 64],
}

impl LeafBits {
    /// The bits for granule `g`, a walk starting at Arm level `start`, and `attrs` giving the
    /// attribute bits of one `Prot`.
    pub(crate) fn new(g: Granule, start: u8, attrs: impl Fn(crate::Prot) -> u64) -> LeafBits {
        let mut base = [(0, 0); crate::MAX_LEVELS];
        for (i, b) in base.iter_mut().enumerate() {
            let n = (usize::from(start) + i).min(3);
            let ty = leaf_base(g, 0, n);
            *b = (OA_MASK & !((1u64 << g.level_shift(n as u8)) - 1), ty);
        }
        let mut table = [0u64; 64];
        for (bits, a) in table.iter_mut().enumerate() {
            *a = attrs(crate::Prot::from_bits_truncate(bits as u8));
        }
        LeafBits { base, attrs: table }
    }

    /// The leaf at level `level` (counted from the root) mapping `pa` with `prot`.
    #[inline(always)]
    pub(crate) fn leaf(&self, pa: u64, level: usize, prot: crate::Prot) -> u64 {
        let (mask, ty) = self.base[level.min(crate::MAX_LEVELS - 1)];
        (pa & mask) | ty | self.attrs[usize::from(prot.bits() & 63)]
    }
}

/// How a stage records that a dirty-bit-managed (DBM) page was written: stage 1 clears
/// AP[2] (read-only), stage 2 sets S2AP[1] (write).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DirtyBit {
    /// The permission bit that changes.
    pub mask: u64,
    /// Whether a written page has it set (stage 2) or clear (stage 1).
    pub set_when_dirty: bool,
}

impl DirtyBit {
    /// Whether DBM page `pte` has been written.
    pub(crate) fn is_dirty(self, pte: u64) -> bool {
        pte & DBM != 0 && (pte & self.mask != 0) == self.set_when_dirty
    }

    fn mark(self, pte: u64) -> u64 {
        if self.set_when_dirty {
            pte | self.mask
        } else {
            pte & !self.mask
        }
    }

    /// `pte` made clean again (unchanged unless it is a DBM page).
    pub(crate) fn clean(self, pte: u64) -> u64 {
        if pte & DBM == 0 {
            pte
        } else if self.set_when_dirty {
            pte & !self.mask
        } else {
            pte | self.mask
        }
    }

    /// The leaf after an allowed access walked it: AF set when the hardware manages it (HA),
    /// and a write to a DBM page marked dirty when it manages that too (HD).
    #[inline(always)]
    pub(crate) fn hw_update(self, pte: u64, leaf: bool, ha: bool, hd: bool, write: bool) -> u64 {
        if !leaf {
            return pte;
        }
        let mut v = pte;
        if ha {
            v |= AF;
        }
        if hd && write && v & DBM != 0 {
            v = self.mark(v);
        }
        v
    }
}

/// `p` with MMIO winning over CACHE: a mapping is device memory or cacheable, never both.
pub(crate) fn one_memory_type(p: crate::Prot) -> crate::Prot {
    if p.contains(crate::Prot::MMIO) {
        p.without(crate::Prot::CACHE)
    } else {
        p
    }
}

/// How a descriptor decodes at one Arm level of one granule, worked out once: the address
/// bits its table, page or block form carries. Every decode of a descriptor's structure goes
/// through it ([`classify`] and the formats' own per-level tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LevelRule {
    /// Type `11` is a table (levels 0–2), not a page (level 3).
    table: bool,
    /// Address bits of a type-`11` descriptor: 47:G. Zero beyond level 3, where nothing is
    /// valid.
    next_mask: u64,
    /// Address bits of a block (type `01`), 47:level shift; zero where no block is allowed.
    block_mask: u64,
}

impl LevelRule {
    /// The rule at Arm level `number` (beyond 3: every present descriptor is reserved).
    pub(crate) const fn new(g: Granule, number: usize) -> LevelRule {
        if number > 3 {
            return LevelRule {
                table: false,
                next_mask: 0,
                block_mask: 0,
            };
        }
        let n = number as u8;
        LevelRule {
            table: n < 3,
            next_mask: OA_MASK & !(g.size() - 1),
            block_mask: if g.block_allowed(n) {
                OA_MASK & !((1u64 << g.level_shift(n)) - 1)
            } else {
                0
            },
        }
    }

    /// Sorts out `pte`. Addresses are bits 47:G (tables and pages) or 47:level shift
    /// (blocks); other bits are left to the caller.
    #[inline(always)]
    pub(crate) fn classify(&self, pte: u64) -> Desc {
        if pte & 1 == 0 {
            Desc::Invalid
        } else if self.next_mask == 0 {
            Desc::Reserved
        } else if pte & DESC_TYPE == DESC_TABLE {
            if self.table {
                Desc::Table(pte & self.next_mask)
            } else {
                Desc::Leaf(pte & self.next_mask)
            }
        } else if self.block_mask != 0 {
            Desc::Leaf(pte & self.block_mask)
        } else {
            Desc::Reserved
        }
    }
}

/// Sorts out `pte` found at Arm level `number` (see [`LevelRule::classify`]).
#[inline(always)]
pub(crate) fn classify(g: Granule, pte: u64, number: usize) -> Desc {
    LevelRule::new(g, number).classify(pte)
}

/// Type bits and output address of a leaf mapping `pa` at Arm level `number` (`11` page at level 3,
/// `01` block above).
#[inline(always)]
pub(crate) fn leaf_base(g: Granule, pa: u64, number: usize) -> u64 {
    let n = number.min(3) as u8;
    let addr = pa & OA_MASK & !((1u64 << g.level_shift(n)) - 1);
    addr | if n == 3 { DESC_PAGE } else { DESC_BLOCK }
}

/// The first child of block `pte` when it is split into entries at Arm level `child`: a page at
/// level 3, still a block above; every other bit is kept.
pub(crate) fn demote(pte: u64, child: usize) -> u64 {
    let ty = if child >= 3 { DESC_PAGE } else { DESC_BLOCK };
    (pte & !DESC_TYPE) | ty
}

/// `" name"` for every flag of `flags` set in `pte`.
pub(crate) fn flags(pte: u64, flags: &[(u64, &str)]) -> String {
    let mut s = String::new();
    for &(bit, name) in flags {
        if pte & bit != 0 {
            s.push(' ');
            s.push_str(name);
        }
    }
    s
}

/// `"L<n>"` and the kind of a present leaf: `"page"` at level 3, `"block"` above.
pub(crate) fn leaf_name(number: usize) -> String {
    if number >= 3 {
        format!("L{number} page")
    } else {
        format!("L{number} block")
    }
}

/// Checks both stages' tests share.
#[cfg(test)]
pub(crate) mod checks {
    use crate::format::{Format, Pte};
    use crate::prot::{Access, Prot};

    /// Nothing a format does with `pte` panics, at any level or one past the last.
    pub(crate) fn never_panics<F: Format>(f: &F, pte: u64) {
        for level in 0..=f.geometry().depth() {
            let d = f.decode(pte, level);
            assert_eq!(f.is_valid(pte), d != Pte::Invalid);
            let _ = f.describe(pte, level);
            let _ = f.leaf_prot(pte, level);
            let _ = f.demote(pte, level);
            let _ = f.access_flag_fault(pte, level);
            let _ = f.hw_update(pte, level, true, Access::WRITE);
            let _ = f.is_dirty(pte, level);
            let _ = f.clear_dirty(pte, level);
        }
    }

    /// At every leaf level, `leaf` decodes back to `addr` aligned to the level's span, with the
    /// effective `prot`; the first child of a block decodes to the same address.
    pub(crate) fn round_trips<F: Format>(f: &F, addr: u64, prot: Prot) {
        let geo = *f.geometry();
        let limit = 1u64 << geo.oa_bits();
        for (i, l) in geo.levels().iter().enumerate() {
            if !l.leaf {
                continue;
            }
            let pa = addr & (limit - 1) & !(l.span() - 1);
            let pte = f.leaf(pa, i, prot);
            match f.decode(pte, i) {
                Pte::Leaf { pa: got, .. } => assert_eq!(got, pa, "level {i}"),
                other => panic!("level {i}: {pte:#x} decoded as {other:?}"),
            }
            assert_eq!(f.leaf_prot(pte, i), f.effective(prot), "level {i}");
            assert!(!f.access_flag_fault(pte, i));
            if i + 1 < geo.depth() {
                let child = f.demote(pte, i);
                match f.decode(child, i + 1) {
                    Pte::Leaf { pa: got, .. } => assert_eq!(got, pa),
                    other => panic!("child of level {i}: {child:#x} decoded as {other:?}"),
                }
                assert_eq!(f.leaf_prot(child, i + 1), f.effective(prot));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tg0_round_trips() {
        for g in [Granule::K4, Granule::K16, Granule::K64] {
            assert_eq!(Granule::from_tg0(g.tg0()), Some(g));
        }
        assert_eq!(Granule::from_tg0(0b01), Some(Granule::K64));
        assert_eq!(Granule::from_tg0(0b10), Some(Granule::K16));
        assert_eq!(Granule::from_tg0(0b11), None);
        assert_eq!(Granule::from_tg0(7), None);
    }

    #[test]
    fn level_shifts_follow_the_granule() {
        let k4: Vec<u8> = (0..4).map(|l| Granule::K4.level_shift(l)).collect();
        assert_eq!(k4, [39, 30, 21, 12]);
        let k16: Vec<u8> = (0..4).map(|l| Granule::K16.level_shift(l)).collect();
        assert_eq!(k16, [47, 36, 25, 14]);
        let k64: Vec<u8> = (1..4).map(|l| Granule::K64.level_shift(l)).collect();
        assert_eq!(k64, [42, 29, 16]);
        assert_eq!(Granule::K4.level_shift(9), 12);
    }

    #[test]
    fn one_table_start_levels() {
        assert_eq!(Granule::K4.start_level(48), 0);
        assert_eq!(Granule::K4.start_level(40), 0);
        assert_eq!(Granule::K4.start_level(39), 1);
        assert_eq!(Granule::K4.start_level(31), 1);
        assert_eq!(Granule::K4.start_level(30), 2);
        assert_eq!(Granule::K4.start_level(25), 2);
        assert_eq!(Granule::K16.start_level(48), 0);
        assert_eq!(Granule::K16.start_level(47), 1);
        assert_eq!(Granule::K16.start_level(36), 2);
        assert_eq!(Granule::K16.start_level(25), 3);
        assert_eq!(Granule::K64.start_level(48), 1);
        assert_eq!(Granule::K64.start_level(42), 2);
        assert_eq!(Granule::K64.start_level(29), 3);
    }

    #[test]
    fn oas_encodings() {
        for (e, b) in [
            (0, 32),
            (1, 36),
            (2, 40),
            (3, 42),
            (4, 44),
            (5, 48),
            (6, 52),
        ] {
            assert_eq!(oas_bits(e), Some(b));
            assert_eq!(oas_encoding(b), Some(e));
        }
        assert_eq!(oas_bits(7), None);
        assert_eq!(oas_encoding(39), None);
        assert!(check_oa(48).is_ok());
        assert!(matches!(check_oa(52), Err(PgError::BadConfig(_))));
        assert!(matches!(check_oa(47), Err(PgError::BadConfig(_))));
    }

    #[test]
    fn classify_by_type_and_level() {
        let g = Granule::K4;
        assert_eq!(classify(g, 0x1234_5002, 3), Desc::Invalid);
        assert_eq!(classify(g, 0, 0), Desc::Invalid);
        assert_eq!(classify(g, 0x1234_5001, 3), Desc::Reserved);
        assert_eq!(classify(g, 0x4000_0001, 0), Desc::Reserved);
        assert_eq!(classify(g, 0x4000_0003, 4), Desc::Reserved);
        // Bits 51:48 and the upper attributes are not part of the address.
        assert_eq!(
            classify(g, 0xfff0_0012_3456_7fff, 3),
            Desc::Leaf(0x12_3456_7000)
        );
        assert_eq!(
            classify(g, 0x000f_0000_4020_0f03, 1),
            Desc::Table(0x4020_0000)
        );
        // A 2 MiB block ignores bits 20:12.
        assert_eq!(classify(g, 0x4033_4f01, 2), Desc::Leaf(0x4020_0000));
        assert_eq!(
            classify(Granule::K16, 0x12_03ff_c001, 2),
            Desc::Leaf(0x12_0200_0000)
        );
        assert_eq!(classify(Granule::K16, 0x8000_0001, 1), Desc::Reserved);
        assert_eq!(
            classify(Granule::K64, 0x60_3fff_0001, 2),
            Desc::Leaf(0x60_2000_0000)
        );
        assert_eq!(classify(Granule::K64, 0x1, 1), Desc::Reserved);
    }

    #[test]
    fn demote_keeps_attributes() {
        assert_eq!(demote(0x0060_0000_4020_0f49, 3), 0x0060_0000_4020_0f4b);
        assert_eq!(demote(0x0000_0080_4000_0f81, 2), 0x0000_0080_4000_0f81);
    }
}

//! Intel VT-d second-stage paging (rev 5.10), 3-, 4- and 5-level: the table a scalable-mode
//! PASID entry points at with SSPTPTR (second-stage-only or nested translation).

use crate::error::PgError;
use crate::format::{Format, Pte};
use crate::geometry::{Geometry, Level};
use crate::prot::{Access, Perm, Prot};

const R: u64 = 1 << 0;
/// The rights of an entry by its R and W bits (no execute right in rev 5: an instruction
/// fetch needs read).
const SS_PERMS: [Perm; 4] = [
    Perm::same(false, false, false),
    Perm::same(true, false, true),
    Perm::same(false, true, false),
    Perm::same(true, true, true),
];
const W: u64 = 1 << 1;
/// Extended memory type in a leaf (bits 5:3; used only when the PASID entry sets EMTE).
const EMT_SHIFT: u32 = 3;
const EMT_MASK: u64 = 0b111 << EMT_SHIFT;
/// Ignore PAT in a leaf (used only with EMTE).
const IPAT: u64 = 1 << 6;
/// Page size: set in 1 GiB and 2 MiB leaves; reserved in PML5E and PML4E; ignored in a PTE.
const PS: u64 = 1 << 7;
const A: u64 = 1 << 8;
const D: u64 = 1 << 9;
/// How a walk sets [`A`] and [`D`].
const AD: super::AccessedDirty = super::AccessedDirty {
    accessed: A,
    dirty: D,
};
/// Snoop: in a leaf when ECAP.SC=1; reserved in non-leaf entries and when SC=0.
const SNP: u64 = 1 << 11;
/// I/O read and write rights (used instead of R/W only when RTADDR.SSIRWE=1; not modelled).
const IR: u64 = 1 << 61;
const IW: u64 = 1 << 62;
/// Bits 11:0 of an entry: flags, never address.
const LOW: u64 = 0xfff;

/// Settings of a VT-d second-stage table, as the capability registers and the PASID entry
/// give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VtdSsConfig {
    /// 3, 4 or 5 levels: 39-, 48- or 57-bit input (the PASID entry's AW, one of CAP.SAGAW).
    pub levels: u8,
    /// Host address width: output bits, 32 to 52; bits 51:HAW of every entry are reserved.
    pub haw: u8,
    /// 2 MiB pages allowed (CAP.SSLPS bit 0).
    pub pages_2m: bool,
    /// 1 GiB pages allowed (CAP.SSLPS bit 1); the hardware offers them only with 2 MiB pages.
    pub pages_1g: bool,
    /// Snoop control (ECAP.SC): leaves may carry SNP; without it, SNP is a reserved bit.
    pub snoop_ctl: bool,
    /// Accessed and Dirty tracking (PASID-entry SSADE, needs ECAP.SSADS): walks set A in every
    /// entry and writes set D in the leaf.
    pub ad: bool,
}

impl Default for VtdSsConfig {
    fn default() -> Self {
        Self {
            levels: 4,
            haw: 48,
            pages_2m: true,
            pages_1g: true,
            snoop_ctl: true,
            ad: false,
        }
    }
}

/// The VT-d second-stage paging format.
#[derive(Debug, Clone)]
pub struct VtdSs {
    cfg: VtdSsConfig,
    geo: Geometry,
    /// Address bits (HAW-1):12.
    addr_mask: u64,
    /// PS for each level (counted from the root).
    ps: [u64; crate::MAX_LEVELS],
    /// Leaf attribute bits (R, W, SNP) of every `Prot` value.
    attrs: [u64; 64],
    /// Bits a table entry must have clear: reserved high bits and SNP.
    table_rsvd: u64,
    /// How a present entry decodes at each level (counted from the root); the last one
    /// serves every index beyond the table.
    rules: [LevelRule; crate::MAX_LEVELS + 1],
}

/// The decoding rules of one level, worked out once from the configuration: which entries
/// are leaves, which bits a leaf must have clear, and where its address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct LevelRule {
    /// A present entry with one of these bits is a leaf: PS where pages are examined, every
    /// bit at the PTE level (whose bit 7 is ignored), none beyond the table.
    leaf_if: u64,
    /// Bits a leaf must have clear: reserved high bits, address bits below the page's
    /// alignment, SNP without snoop control; every bit where no page is allowed.
    leaf_rsvd: u64,
    /// A leaf's address bits.
    leaf_addr: u64,
}

impl LevelRule {
    /// The rules at the level the specification numbers `number` (0: beyond the table).
    fn new(cfg: &VtdSsConfig, number: u8, rsvd_high: u64, addr_mask: u64) -> LevelRule {
        let snp = if cfg.snoop_ctl { 0 } else { SNP };
        match number {
            0 => LevelRule::default(),
            1 => LevelRule {
                leaf_if: u64::MAX,
                leaf_rsvd: rsvd_high | snp,
                leaf_addr: addr_mask,
            },
            _ => {
                let allowed = match number {
                    2 => cfg.pages_2m,
                    3 => cfg.pages_1g,
                    _ => false,
                };
                let below = (1u64 << (12 + 9 * (u32::from(number) - 1))) - 1;
                LevelRule {
                    leaf_if: PS,
                    leaf_rsvd: if allowed {
                        rsvd_high | (below & !LOW) | snp
                    } else {
                        u64::MAX
                    },
                    leaf_addr: addr_mask & !below,
                }
            }
        }
    }
}

impl VtdSs {
    /// A format for `cfg`.
    pub fn new(cfg: VtdSsConfig) -> Result<VtdSs, PgError> {
        if !(3..=5).contains(&cfg.levels) {
            return Err(PgError::BadConfig(
                "VT-d second-stage tables have 3, 4 or 5 levels",
            ));
        }
        if !(32..=52).contains(&cfg.haw) {
            return Err(PgError::BadConfig(
                "host address width must be 32 to 52 bits",
            ));
        }
        if cfg.pages_1g && !cfg.pages_2m {
            return Err(PgError::BadConfig(
                "1 GiB second-stage pages need 2 MiB pages (SSLPS 0010 is not valid)",
            ));
        }
        let n = cfg.levels as usize;
        let levels: Vec<Level> = (0..n)
            .map(|i| {
                let number = (n - i) as u8;
                Level {
                    shift: 12 + 9 * (number - 1),
                    bits: 9,
                    leaf: number == 1
                        || (number == 2 && cfg.pages_2m)
                        || (number == 3 && cfg.pages_1g),
                    number,
                }
            })
            .collect();
        let ia = 12 + 9 * cfg.levels;
        let geo = Geometry::new(&levels, 12, ia, cfg.haw, 1u64 << ia)?;
        let below_haw = (1u64 << cfg.haw) - 1;
        let addr_mask = below_haw & !LOW;
        let rsvd_high = ((1u64 << 52) - 1) & !below_haw;
        Ok(VtdSs {
            cfg,
            geo,
            addr_mask,
            table_rsvd: rsvd_high | SNP,
            rules: std::array::from_fn(|i| {
                let number = usize::from(cfg.levels).saturating_sub(i) as u8;
                LevelRule::new(&cfg, number, rsvd_high, addr_mask)
            }),
            ps: std::array::from_fn(|i| {
                if i + 1 < usize::from(cfg.levels) {
                    PS
                } else {
                    0
                }
            }),
            attrs: std::array::from_fn(|bits| {
                let prot = Prot::from_bits_truncate(bits as u8);
                let mut a = 0;
                if prot.contains(Prot::READ) {
                    a |= R;
                }
                if prot.contains(Prot::WRITE) {
                    a |= W;
                }
                if prot.contains(Prot::CACHE) && cfg.snoop_ctl {
                    a |= SNP;
                }
                a
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VtdSsConfig {
        &self.cfg
    }

    /// The specification's number of the level at index `level` (1 = PTE … 5 = PML5E); 0 for
    /// an index beyond the table.
    fn number(&self, level: usize) -> u8 {
        usize::from(self.cfg.levels).saturating_sub(level) as u8
    }
}

impl Format for VtdSs {
    fn name(&self) -> &'static str {
        "vtd-ss"
    }

    #[inline(always)]
    fn geometry(&self) -> &Geometry {
        &self.geo
    }

    #[inline(always)]
    fn is_valid(&self, pte: u64) -> bool {
        pte & (R | W) != 0
    }

    #[inline(always)]
    fn decode(&self, pte: u64, level: usize) -> Pte {
        if pte & (R | W) == 0 {
            return Pte::Invalid;
        }
        // Bits 51:HAW are reserved everywhere; 63:52 (IR/IW included) are ignored.
        let rule = &self.rules[level.min(crate::MAX_LEVELS)];
        let perm = SS_PERMS[(pte & (R | W)) as usize];
        if pte & rule.leaf_if != 0 {
            if pte & rule.leaf_rsvd != 0 {
                return Pte::Reserved;
            }
            Pte::Leaf {
                pa: pte & rule.leaf_addr,
                perm,
            }
        } else if pte & self.table_rsvd != 0 {
            Pte::Reserved
        } else {
            Pte::Table {
                next: pte & self.addr_mask,
                perm,
            }
        }
    }

    /// Valid: R or W; a table: valid with PS clear.
    fn kind_bits(&self) -> u64 {
        R | W | PS
    }

    #[inline(always)]
    fn next_table(&self, pte: u64, level: usize) -> Option<u64> {
        (level + 1 < usize::from(self.cfg.levels) && pte & (R | W) != 0 && pte & PS == 0)
            .then_some(pte & self.addr_mask)
    }

    #[inline(always)]
    fn table(&self, next: u64, _level: usize) -> u64 {
        next | R | W
    }

    #[inline(always)]
    fn leaf(&self, pa: u64, level: usize, prot: Prot) -> u64 {
        let ps = self.ps[level.min(crate::MAX_LEVELS - 1)];
        (pa & self.addr_mask) | ps | self.attrs[usize::from(prot.bits() & 63)]
    }

    fn leaf_prot(&self, pte: u64, _level: usize) -> Prot {
        let mut p = Prot::NONE;
        if pte & R != 0 {
            p = p | Prot::READ;
        }
        if pte & W != 0 {
            p = p | Prot::WRITE;
        }
        if pte & SNP != 0 && self.cfg.snoop_ctl {
            p = p | Prot::CACHE;
        }
        p
    }

    fn effective(&self, prot: Prot) -> Prot {
        let mut p = prot & Prot::RW;
        if self.cfg.snoop_ctl {
            p = p | (prot & Prot::CACHE);
        }
        p
    }

    fn demote(&self, pte: u64, level: usize) -> u64 {
        if self.number(level) == 2 {
            // 2 MiB → 4 KiB pages: PS goes away; 1 GiB → 2 MiB keeps it.
            pte & !PS
        } else {
            pte
        }
    }

    #[inline(always)]
    fn hw_update(&self, pte: u64, _level: usize, leaf: bool, access: Access) -> u64 {
        if !self.cfg.ad {
            return pte;
        }
        AD.hw_update(pte, leaf, access.write)
    }

    fn tracks_dirty(&self) -> bool {
        self.cfg.ad
    }

    fn is_dirty(&self, pte: u64, _level: usize) -> bool {
        AD.is_dirty(pte)
    }

    fn clear_dirty(&self, pte: u64, _level: usize) -> u64 {
        AD.clean(pte)
    }

    fn describe(&self, pte: u64, level: usize) -> String {
        let number = self.number(level);
        let name = ["SS-PTE", "SS-PDE", "SS-PDPE", "SS-PML4E", "SS-PML5E"]
            .get(usize::from(number).wrapping_sub(1))
            .copied()
            .unwrap_or("SS-?");
        let flag = |bit: u64, n: &str| {
            if pte & bit != 0 {
                format!(" {n}")
            } else {
                String::new()
            }
        };
        let leafish = number == 1 || pte & PS != 0;
        let mut s = format!("{name}:");
        s += &flag(R, "R");
        s += &flag(W, "W");
        if leafish {
            let emt = (pte & EMT_MASK) >> EMT_SHIFT;
            if emt != 0 {
                s += &format!(" EMT={emt}");
            }
            s += &flag(IPAT, "IPAT");
        }
        if number > 1 {
            s += &flag(PS, "PS");
        }
        s += &flag(A, "A");
        if leafish {
            s += &flag(D, "D");
        }
        s += &flag(SNP, "SNP");
        s += &flag(IR, "IR");
        s += &flag(IW, "IW");
        match self.decode(pte, level) {
            Pte::Invalid => s += " (not present)",
            Pte::Reserved => s += " (reserved bits set)",
            Pte::Table { next, .. } => s += &format!(" next={next:#x}"),
            Pte::Leaf { pa, .. } => s += &format!(" page={pa:#x}"),
        }
        s
    }
}

#[cfg(test)]
mod tests;

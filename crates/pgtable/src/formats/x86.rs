//! x86-64 paging, 4- and 5-level: the VT-d first stage and process page tables for SVA.

use crate::error::PgError;
use crate::format::{Format, Pte};
use crate::geometry::{Geometry, Level};
use crate::prot::{Access, Perm, Prot};

const P: u64 = 1 << 0;
const RW: u64 = 1 << 1;
const US: u64 = 1 << 2;
const PWT: u64 = 1 << 3;
const PCD: u64 = 1 << 4;
const A: u64 = 1 << 5;
const D: u64 = 1 << 6;
/// How a walk sets [`A`] and [`D`].
const AD: super::AccessedDirty = super::AccessedDirty {
    accessed: A,
    dirty: D,
};
const PS: u64 = 1 << 7;
/// PAT in a 4 KiB PTE.
const PAT_4K: u64 = 1 << 7;
/// PAT in a 2 MiB or 1 GiB leaf.
const PAT_LARGE: u64 = 1 << 12;
const EA: u64 = 1 << 10;

/// Settings of an x86-64 table, as the VT-d PASID entry and capability registers give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct X86Config {
    /// 4 (48-bit input) or 5 (57-bit input, needs CAP.FS5LP).
    pub levels: u8,
    /// Host address width: output bits; bits 51:HAW of every entry are reserved.
    pub haw: u8,
    /// 1 GiB pages allowed (CAP.FS1GP).
    pub pages_1g: bool,
    /// Write-protect enable: supervisor writes also need R/W at every level.
    pub wpe: bool,
    /// Leaves start clean so that writes set Dirty; otherwise `map` presets A and D as Linux does.
    pub dirty_tracking: bool,
}

impl Default for X86Config {
    fn default() -> Self {
        Self {
            levels: 4,
            haw: 48,
            pages_1g: true,
            wpe: false,
            dirty_tracking: false,
        }
    }
}

/// The x86-64 paging format (VT-d first stage).
#[derive(Debug, Clone)]
pub struct X86 {
    cfg: X86Config,
    /// The rights of an entry by its R/W and U/S bits (index = U/S << 1 | R/W).
    perms: [Perm; 4],
    geo: Geometry,
    addr_mask: u64,
}

impl X86 {
    /// A format for `cfg`.
    pub fn new(cfg: X86Config) -> Result<X86, PgError> {
        if cfg.levels != 4 && cfg.levels != 5 {
            return Err(PgError::BadConfig("x86-64 paging has 4 or 5 levels"));
        }
        if !(32..=52).contains(&cfg.haw) {
            return Err(PgError::BadConfig(
                "host address width must be 32 to 52 bits",
            ));
        }
        let n = cfg.levels as usize;
        let levels: Vec<Level> = (0..n)
            .map(|i| {
                let number = (n - i) as u8;
                Level {
                    shift: 12 + 9 * (number - 1),
                    bits: 9,
                    leaf: number == 1 || number == 2 || (number == 3 && cfg.pages_1g),
                    number,
                }
            })
            .collect();
        let ia = 12 + 9 * cfg.levels;
        let geo = Geometry::new(&levels, 12, ia, cfg.haw, 1u64 << (ia - 1))?;
        let perms = std::array::from_fn(|i| {
            let (rw, us) = (i & 1 != 0, i & 2 != 0);
            Perm::new(us, us && rw, us, true, rw || !cfg.wpe, true)
        });
        Ok(X86 {
            cfg,
            perms,
            geo,
            addr_mask: ((1u64 << cfg.haw) - 1) & !0xfff,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &X86Config {
        &self.cfg
    }

    fn number(&self, level: usize) -> u8 {
        self.cfg.levels - level as u8
    }
}

impl Format for X86 {
    fn name(&self) -> &'static str {
        if self.cfg.levels == 5 {
            "x86-5"
        } else {
            "x86-4"
        }
    }

    #[inline(always)]
    fn geometry(&self) -> &Geometry {
        &self.geo
    }

    #[inline(always)]
    fn is_valid(&self, pte: u64) -> bool {
        pte & P != 0
    }

    #[inline(always)]
    fn decode(&self, pte: u64, level: usize) -> Pte {
        if pte & P == 0 {
            return Pte::Invalid;
        }
        // Bits 51:HAW are reserved everywhere; 63:52 are ignored.
        if pte & ((1u64 << 52) - 1) & !((1u64 << self.cfg.haw) - 1) != 0 {
            return Pte::Reserved;
        }
        let perm = self.perms[((pte & (RW | US)) >> 1) as usize];
        let number = self.number(level);
        let leaf = match number {
            1 => true,
            2 | 3 if pte & PS != 0 => {
                if number == 3 && !self.cfg.pages_1g {
                    return Pte::Reserved;
                }
                // Bits below the page's alignment (above PAT at 12) are reserved.
                let span = 1u64 << (12 + 9 * (number - 1));
                if pte & (span - 1) & !0x1fff != 0 {
                    return Pte::Reserved;
                }
                true
            }
            4 | 5 if pte & PS != 0 => return Pte::Reserved,
            _ => false,
        };
        if leaf {
            let span = 1u64 << (12 + 9 * (number - 1));
            Pte::Leaf {
                pa: pte & self.addr_mask & !(span - 1),
                perm,
            }
        } else {
            Pte::Table {
                next: pte & self.addr_mask,
                perm,
            }
        }
    }

    /// Valid: P; a table: P with PS clear.
    fn kind_bits(&self) -> u64 {
        P | PS
    }

    #[inline(always)]
    fn next_table(&self, pte: u64, level: usize) -> Option<u64> {
        (level + 1 < usize::from(self.cfg.levels) && pte & (P | PS) == P)
            .then_some(pte & self.addr_mask)
    }

    #[inline(always)]
    fn table(&self, next: u64, _level: usize) -> u64 {
        next | P | RW | US | A
    }

    #[inline(always)]
    fn leaf(&self, pa: u64, level: usize, prot: Prot) -> u64 {
        let mut pte = pa | P | A;
        if prot.contains(Prot::WRITE) {
            pte |= RW;
            if !self.cfg.dirty_tracking {
                pte |= D;
            }
        }
        if !prot.contains(Prot::PRIV) {
            pte |= US;
        }
        if self.number(level) > 1 {
            pte |= PS;
        }
        pte
    }

    fn leaf_prot(&self, pte: u64, _level: usize) -> Prot {
        let mut p = Prot::READ;
        if pte & RW != 0 {
            p = p | Prot::WRITE;
        }
        if pte & US == 0 {
            p = p | Prot::PRIV;
        }
        p
    }

    fn effective(&self, prot: Prot) -> Prot {
        Prot::READ | (prot & (Prot::WRITE | Prot::PRIV))
    }

    fn demote(&self, pte: u64, level: usize) -> u64 {
        if self.number(level) == 2 {
            // 2 MiB → 4 KiB: PS goes away and PAT moves from bit 12 to bit 7.
            let pat = if pte & PAT_LARGE != 0 { PAT_4K } else { 0 };
            (pte & !(PS | PAT_LARGE)) | pat
        } else {
            pte
        }
    }

    fn input(&self, iova: u64) -> Option<u64> {
        let va_bits = u32::from(self.geo.ia_bits());
        let top = (iova as i64) >> (va_bits - 1);
        (top == 0 || top == -1).then_some(iova & ((1u64 << va_bits) - 1))
    }

    #[inline(always)]
    fn hw_update(&self, pte: u64, _level: usize, leaf: bool, access: Access) -> u64 {
        AD.hw_update(pte, leaf, access.write)
    }

    fn tracks_dirty(&self) -> bool {
        self.cfg.dirty_tracking
    }

    fn is_dirty(&self, pte: u64, _level: usize) -> bool {
        AD.is_dirty(pte)
    }

    fn clear_dirty(&self, pte: u64, _level: usize) -> u64 {
        AD.clean(pte)
    }

    fn describe(&self, pte: u64, level: usize) -> String {
        let number = self.number(level);
        let name = ["PTE", "PDE", "PDPE", "PML4E", "PML5E"][usize::from(number - 1)];
        let flag = |bit: u64, n: &str| {
            if pte & bit != 0 {
                format!(" {n}")
            } else {
                String::new()
            }
        };
        let mut s = format!("{name}:");
        s += &flag(P, "P");
        s += &flag(RW, "R/W");
        s += &flag(US, "U/S");
        s += &flag(PWT, "PWT");
        s += &flag(PCD, "PCD");
        s += &flag(A, "A");
        let leafish = number == 1 || (pte & PS != 0);
        if leafish {
            s += &flag(D, "D");
        }
        if number > 1 {
            s += &flag(PS, "PS");
        } else {
            s += &flag(PAT_4K, "PAT");
        }
        s += &flag(EA, "EA");
        match self.decode(pte, level) {
            Pte::Invalid => s += " (not present)",
            Pte::Reserved => s += " (reserved bits set)",
            Pte::Table { next, .. } => s += &format!(" next={next:#x}"),
            Pte::Leaf { pa, .. } => s += &format!(" page={pa:#x}"),
        }
        s
    }
}

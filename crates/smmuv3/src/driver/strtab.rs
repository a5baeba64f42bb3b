//! The stream table — linear, or two-level with level-2 tables allocated as streams are
//! probed — and the update sequence for a live entry (STE or CD) that never lets the SMMU
//! see it torn, as Linux's `arm_smmu_write_entry` does.

use std::collections::HashMap;

use softiommu_core::{CoreError, Mem, Result, TableAlloc};

use crate::cd::{Cd, CdDw0};
use crate::cmd::{CfgiCd, CfgiSte, Command};
use crate::regs::{STRTAB_FMT_TWO_LEVEL, StrtabBase, StrtabBaseCfg};
use crate::ste::{L1STD_SIZE, L1Std, STE_SIZE, Ste, SteConfig, SteDw0};

/// StreamID bits a level-2 stream table resolves (Linux's STRTAB_SPLIT).
pub(super) const SPLIT: u8 = 8;

/// The driver's stream table.
#[derive(Debug)]
pub(super) struct Strtab {
    /// Linear table, or level-1 table.
    pub(super) base: u64,
    /// StreamID width the table covers.
    pub(super) log2size: u8,
    pub(super) two_level: bool,
    /// Level-2 tables by level-1 index.
    pub(super) l2: HashMap<u32, u64>,
}

/// Bytes of a level-2 stream table.
const L2_BYTES: u64 = STE_SIZE << SPLIT;

impl Strtab {
    /// A table for `sid_bits`-bit StreamIDs, two-level when `two_level` (and worth it), every
    /// linear STE set to abort.
    pub(super) fn new(
        mem: &Mem,
        alloc: &TableAlloc,
        sid_bits: u8,
        two_level: bool,
    ) -> Result<Strtab> {
        let two_level = two_level && sid_bits > SPLIT;
        let bytes = if two_level {
            L1STD_SIZE << (sid_bits - SPLIT)
        } else {
            STE_SIZE << sid_bits
        };
        let base = alloc.alloc(bytes.max(4096))?;
        if !two_level {
            init_aborts(mem, base, 1 << sid_bits)?;
        }
        Ok(Strtab {
            base,
            log2size: sid_bits,
            two_level,
            l2: HashMap::new(),
        })
    }

    /// The table's pages, level-2 tables included, as (address, bytes).
    pub(super) fn pages(&self) -> Vec<(u64, u64)> {
        let bytes = if self.two_level {
            L1STD_SIZE << (self.log2size - SPLIT)
        } else {
            STE_SIZE << self.log2size
        };
        let l2 = self.l2.values().map(|&t| (t, L2_BYTES));
        std::iter::once((self.base, bytes.max(4096)))
            .chain(l2)
            .collect()
    }

    /// The STRTAB_BASE and STRTAB_BASE_CFG values.
    pub(super) fn registers(&self) -> (u64, u32) {
        let base = StrtabBase::new().with_ra(true).with_address(self.base);
        let mut cfg = StrtabBaseCfg::new().with_log2size(self.log2size);
        if self.two_level {
            cfg = cfg.with_fmt(STRTAB_FMT_TWO_LEVEL).with_split(SPLIT);
        }
        (base.into_bits(), cfg.into_bits())
    }

    /// Where `sid`'s STE is, allocating its level-2 table (every STE abort) and publishing its
    /// level-1 descriptor. An L1STD that was invalid is never cached, so no invalidation is
    /// needed for it.
    pub(super) fn ste_at(&mut self, mem: &Mem, alloc: &TableAlloc, sid: u32) -> Result<u64> {
        if u64::from(sid) >> self.log2size != 0 {
            return Err(CoreError::Invalid("StreamID beyond the SMMU's SIDSIZE"));
        }
        if !self.two_level {
            return Ok(self.base + u64::from(sid) * STE_SIZE);
        }
        let l1 = sid >> SPLIT;
        let l2 = match self.l2.get(&l1) {
            Some(&t) => t,
            None => {
                let t = alloc.alloc(L2_BYTES)?;
                let desc = L1Std::for_table(t, SPLIT + 1);
                let publish = init_aborts(mem, t, 1 << SPLIT)
                    .and_then(|()| Ok(desc.write(&**mem, self.base + u64::from(l1) * L1STD_SIZE)?));
                if let Err(e) = publish {
                    let _ = alloc.free(t, L2_BYTES);
                    return Err(e);
                }
                self.l2.insert(l1, t);
                t
            }
        };
        Ok(l2 + u64::from(sid & ((1 << SPLIT) - 1)) * STE_SIZE)
    }
}

/// Writes `n` abort STEs (V=1, Config=abort) from `at`: a stream no device was probed for
/// is refused without an event, as Linux's `arm_smmu_init_initial_stes` sets them.
fn init_aborts(mem: &Mem, at: u64, n: u64) -> Result<()> {
    let abort = Ste::with_config(SteConfig::Abort);
    for i in 0..n {
        abort.write(&**mem, at + i * STE_SIZE)?;
    }
    Ok(())
}

/// Which live entry is being changed, for the invalidation that follows each step.
#[derive(Debug, Clone, Copy)]
pub(super) enum EntryKind {
    /// The STE of a StreamID.
    Ste(u32),
    /// CD `ssid` of a StreamID.
    Cd(u32, u32),
}

impl EntryKind {
    /// The valid bit of the entry's word 0.
    pub(super) fn valid_bit(self) -> u64 {
        match self {
            EntryKind::Ste(_) => SteDw0::new().with_v(true).into_bits(),
            EntryKind::Cd(..) => CdDw0::new().with_v(true).into_bits(),
        }
    }

    /// The configuration invalidation of this entry.
    pub(super) fn cfgi(self) -> Command {
        match self {
            EntryKind::Ste(sid) => {
                let mut c = CfgiSte::new();
                c.dw0 = c.dw0.with_sid(sid);
                c.dw1 = c.dw1.with_leaf(true);
                Command::CfgiSte(c)
            }
            EntryKind::Cd(sid, ssid) => {
                let mut c = CfgiCd::new();
                c.dw0 = c.dw0.with_sid(sid).with_ssid(ssid);
                c.dw1 = c.dw1.with_leaf(true);
                Command::CfgiCd(c)
            }
        }
    }
}

/// What of an entry the SMMU reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Used {
    /// Word 0 only: an entry with V=0, or an STE that aborts or bypasses (this driver never
    /// sets the attribute overrides those read from word 1).
    First,
    /// Every word.
    All,
}

impl Used {
    /// What the SMMU reads of STE `w`.
    pub(super) fn ste(w: &Ste) -> Used {
        let c = w.dw0.config();
        if w.dw0.v() && (c.stage1() || c.stage2()) {
            Used::All
        } else {
            Used::First
        }
    }

    /// What the SMMU reads of CD `cd`.
    pub(super) fn cd(cd: &Cd) -> Used {
        if cd.dw0.v() { Used::All } else { Used::First }
    }
}

/// The steps that change an 8-word entry from `old` to `new` so that the SMMU never walks a
/// torn one (as Linux's `arm_smmu_write_entry`): each step is a set of (word index, value)
/// stores followed by the entry's invalidation and a sync. `old_used` and `new_used` say
/// what the SMMU reads of each; `v` is the valid bit of word 0.
///
/// - The SMMU reads only word 0 of the old entry: the other words first, word 0 last.
/// - It reads only word 0 of the new one: word 0 first, the other words after.
/// - One word differs: that word alone, a single 64-bit store.
/// - Otherwise: word 0 with V cleared (the entry breaks), the other words, then word 0.
pub(super) fn update_steps(
    old: [u64; 8],
    new: [u64; 8],
    (old_used, new_used): (Used, Used),
    v: u64,
) -> Vec<Vec<(usize, u64)>> {
    if old == new {
        return Vec::new();
    }
    let rest: Vec<(usize, u64)> = (1..8)
        .filter(|&i| old[i] != new[i])
        .map(|i| (i, new[i]))
        .collect();
    let first = vec![(0, new[0])];
    let mut steps = Vec::new();
    let mut push = |s: Vec<(usize, u64)>| {
        if !s.is_empty() {
            steps.push(s);
        }
    };
    if old_used == Used::First {
        push(rest);
        push(first);
    } else if new_used == Used::First {
        push(first);
        push(rest);
    } else if rest.is_empty() || (old[0] == new[0] && rest.len() == 1) {
        push(if old[0] == new[0] { rest } else { first });
    } else {
        push(vec![(0, old[0] & !v)]);
        push(rest);
        push(first);
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::{Used, update_steps};

    const ALL: (Used, Used) = (Used::All, Used::All);

    #[test]
    fn a_live_entry_is_broken_before_more_than_one_word_changes() {
        let old = [1, 2, 3, 0, 0, 0, 0, 0];
        assert!(update_steps(old, old, ALL, 1).is_empty());
        // One word: a single store.
        let mut one = old;
        one[2] = 9;
        assert_eq!(update_steps(old, one, ALL, 1), vec![vec![(2, 9)]]);
        let mut w0 = old;
        w0[0] = 3;
        assert_eq!(update_steps(old, w0, ALL, 1), vec![vec![(0, 3)]]);
        // Two words: V off, the rest, then word 0.
        let two = [5, 2, 7, 0, 0, 0, 0, 0];
        assert_eq!(
            update_steps(old, two, ALL, 1),
            vec![vec![(0, 0)], vec![(2, 7)], vec![(0, 5)]]
        );
        // From an entry the SMMU reads only word 0 of: the rest first, word 0 last.
        let off = [0, 2, 3, 0, 0, 0, 0, 0];
        assert_eq!(
            update_steps(off, two, (Used::First, Used::All), 1),
            vec![vec![(2, 7)], vec![(0, 5)]]
        );
        // To one: word 0 first, the rest after.
        assert_eq!(
            update_steps(two, off, (Used::All, Used::First), 1),
            vec![vec![(0, 0)], vec![(2, 3)]]
        );
    }
}

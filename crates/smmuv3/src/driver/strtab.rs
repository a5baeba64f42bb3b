//! The stream table — linear, or two-level with level-2 tables allocated as streams are
//! probed — and the update sequence for a live entry (STE or CD) that never lets the SMMU
//! see it torn, as Linux's `arm_smmu_write_entry` does.

use std::collections::HashMap;

use softiommu_core::{CoreError, Mem, Result, TableAlloc};

use crate::cmd::{CfgiCd, CfgiSte, Command};
use crate::regs::{STRTAB_FMT_TWO_LEVEL, StrtabBase, StrtabBaseCfg};
use crate::ste::{L1STD_SIZE, L1Std, STE_SIZE, Ste, SteConfig};

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

/// The steps that change an 8-word entry from `old` to `new` so that the SMMU never walks a
/// torn one: each step is a set of (word index, value) stores followed by the entry's
/// invalidation and a sync.
///
/// - Not valid before: everything but word 0, then word 0 (which holds V).
/// - One word differs: that word alone, a single 64-bit store.
/// - Otherwise: word 0 with V cleared (the entry breaks), the other words, then word 0.
pub(super) fn update_steps(old: [u64; 8], new: [u64; 8]) -> Vec<Vec<(usize, u64)>> {
    const V: u64 = 1;
    if old == new {
        return Vec::new();
    }
    let rest = |w: &[u64; 8]| -> Vec<(usize, u64)> {
        (1..8)
            .filter(|&i| old[i] != w[i])
            .map(|i| (i, w[i]))
            .collect()
    };
    if old[0] & V == 0 {
        let mut steps = Vec::new();
        let r = rest(&new);
        if !r.is_empty() {
            steps.push(r);
        }
        steps.push(vec![(0, new[0])]);
        return steps;
    }
    let diff: Vec<usize> = (0..8).filter(|&i| old[i] != new[i]).collect();
    if let [only] = diff[..] {
        return vec![vec![(only, new[only])]];
    }
    let mut steps = vec![vec![(0, old[0] & !V)]];
    let r = rest(&new);
    if !r.is_empty() {
        steps.push(r);
    }
    steps.push(vec![(0, new[0])]);
    steps
}

#[cfg(test)]
mod tests {
    use super::update_steps;

    #[test]
    fn a_live_entry_is_broken_before_more_than_one_word_changes() {
        let old = [1, 2, 3, 0, 0, 0, 0, 0];
        assert!(update_steps(old, old).is_empty());
        // One word: a single store.
        let mut one = old;
        one[2] = 9;
        assert_eq!(update_steps(old, one), vec![vec![(2, 9)]]);
        // Two words: V off, the rest, then word 0.
        let two = [5, 2, 7, 0, 0, 0, 0, 0];
        assert_eq!(
            update_steps(old, two),
            vec![vec![(0, 0)], vec![(2, 7)], vec![(0, 5)]]
        );
        // From not valid: the rest first, word 0 last.
        let off = [0, 2, 3, 0, 0, 0, 0, 0];
        assert_eq!(update_steps(off, two), vec![vec![(2, 7)], vec![(0, 5)]]);
    }
}

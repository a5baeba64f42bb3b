//! What a unit has done: TLB hits and walks (behind a switch), commands by opcode, `CMD_SYNC`s, and the TLB invalidation batches a
//! `CMD_SYNC` closed.

use softiommu_mem::AddressSpace;

use crate::cmd::Command;
use crate::model::TranslationUnit;

impl<M: AddressSpace> TranslationUnit<M> {
    /// Turns the counting of TLB hits and walks on or off (off when the engine is made).
    pub fn set_stats(&self, on: bool) {
        self.counters.set_enabled(on);
        self.set_mode(crate::model::translate::COUNTING, on);
    }

    /// The TLB hits and the page-table walks counted so far: (hits, walks).
    pub fn hit_counts(&self) -> (u64, u64) {
        self.counters.totals()
    }
}

/// Number of opcodes counted (every legal opcode is below it).
const OPCODES: usize = 0x80;

/// Commands carried out, by opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandCounts {
    by_opcode: [u64; OPCODES],
}

impl Default for CommandCounts {
    fn default() -> Self {
        CommandCounts {
            by_opcode: [0; OPCODES],
        }
    }
}

impl CommandCounts {
    /// How many commands of `opcode` were carried out.
    pub fn get(&self, opcode: u8) -> u64 {
        self.by_opcode
            .get(usize::from(opcode))
            .copied()
            .unwrap_or(0)
    }

    /// How many commands were carried out in all.
    pub fn total(&self) -> u64 {
        self.by_opcode.iter().sum()
    }

    /// How many TLB invalidations (`CMD_TLBI_*`, opcodes 10h–3Fh) were carried out.
    pub fn tlbi(&self) -> u64 {
        self.by_opcode[0x10..0x40].iter().sum()
    }
}

/// The unit's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitStats {
    /// Requests answered from the TLB (while counting was on).
    pub tlb_hits: u64,
    /// Requests that missed the TLB and walked the page tables, faulting or not (while
    /// counting was on).
    pub walks: u64,
    /// Commands carried out, by opcode (a command that stopped the queue is not counted).
    pub commands: CommandCounts,
    /// `CMD_SYNC`s completed.
    pub syncs: u64,
    /// TLB invalidation batches: `CMD_SYNC`s completed after at least one `CMD_TLBI_*` since
    /// the `CMD_SYNC` before.
    pub tlbi_batches: u64,
}

/// The counts the unit keeps with its registers.
#[derive(Debug, Default)]
pub(super) struct CommandTally {
    stats: UnitStats,
    /// A TLB invalidation was carried out since the last `CMD_SYNC`.
    tlbi_pending: bool,
}

impl CommandTally {
    /// Counts command `cmd`, carried out.
    pub(super) fn count(&mut self, cmd: &Command) {
        let op = cmd.opcode();
        if let Some(n) = self.stats.commands.by_opcode.get_mut(usize::from(op)) {
            *n += 1;
        }
        match cmd {
            Command::CmdSync(_) => {
                self.stats.syncs += 1;
                if std::mem::take(&mut self.tlbi_pending) {
                    self.stats.tlbi_batches += 1;
                }
            }
            _ if (0x10..0x40).contains(&op) => self.tlbi_pending = true,
            _ => {}
        }
    }

    /// The counters, with the engine's `(hits, walks)`.
    pub(super) fn stats(&self, (tlb_hits, walks): (u64, u64)) -> UnitStats {
        UnitStats {
            tlb_hits,
            walks,
            ..self.stats
        }
    }
}

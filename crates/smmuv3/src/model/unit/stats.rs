//! What a unit has done: commands by opcode, `CMD_SYNC`s, and the TLB invalidation batches a
//! `CMD_SYNC` closed.

use crate::cmd::Command;

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

    /// The counters.
    pub(super) fn stats(&self) -> UnitStats {
        self.stats
    }
}

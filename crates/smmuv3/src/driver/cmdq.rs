//! The command queue as Linux's arm-smmu-v3 runs it: commands written at PROD, PROD
//! published, every batch closed by a `CMD_SYNC` whose completion is an MSI write to a word in
//! memory the driver polls (or, without MSIs, CONS passing the sync). A command the SMMU
//! refuses stops the queue with `GERROR.CMDQ_ERR`: the driver records it, puts a `CMD_SYNC`
//! in its place and acknowledges the error, so that the queue goes on (Linux's
//! `arm_smmu_cmdq_skip_err`).

use softiommu_core::Mem;
use softiommu_mem::AddressSpace;

use crate::cmd::{Cerror, CmdSync, Command};
use crate::queue::{Queue, QueueBase, QueueCons, QueueKind, QueuePos, QueueProd};
use crate::regs::{Gerror, SMMU_CMDQ_CONS, SMMU_CMDQ_PROD, SMMU_GERROR, SMMU_GERRORN};

use super::SmmuHw;

/// How many times a completion is polled before the driver gives up.
const POLLS: u32 = 100_000;

/// A command the SMMU refused, as the driver recovered from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandErrorReport {
    /// `SMMU_CMDQ_CONS.ERR`: why.
    pub cerror: Option<Cerror>,
    /// The raw ERR code.
    pub code: u8,
    /// The refused command's words, as the driver read them back from the queue.
    pub words: [u64; 2],
}

/// The driver's command queue.
#[derive(Debug)]
pub(super) struct Cmdq {
    /// The queue's base register value.
    pub(super) base: QueueBase,
    /// Where the next command goes.
    prod: QueuePos,
    /// The word `CMD_SYNC` completions are written to.
    sync_word: u64,
    /// The last `CMD_SYNC` completion value used.
    seq: u32,
    /// MSI completion (IDR0.MSI) rather than polling CONS.
    msi: bool,
    /// Refused commands recovered from (the first 64).
    pub(super) errors: Vec<CommandErrorReport>,
}

impl Cmdq {
    /// A queue of 2^`log2` commands at `base`, completions written to `sync_word`.
    pub(super) fn new(base: u64, log2: u8, sync_word: u64, msi: bool) -> Cmdq {
        Cmdq {
            base: QueueBase::new().with_log2size(log2).with_address(base),
            prod: QueuePos::new(log2, 0),
            sync_word,
            seq: 0,
            msi,
            errors: Vec::new(),
        }
    }

    /// The pages the queue and its completion word take, as (address, bytes).
    pub(super) fn pages(&self) -> [(u64, u64); 2] {
        [(self.base.address(), 4096), (self.sync_word, 4096)]
    }

    fn snapshot(&self, cons: u32) -> Queue {
        Queue::new(
            QueueKind::Command,
            self.base,
            self.base.log2size(),
            self.prod.raw(),
            cons,
        )
    }

    fn cons(hw: &dyn SmmuHw) -> QueueCons {
        QueueCons::from_bits(hw.mmio_read(SMMU_CMDQ_CONS, 4) as u32)
    }

    /// Runs `cmds` then a `CMD_SYNC`, and waits for the sync. A refused command is recorded
    /// and skipped; the call then fails with the reasons, after the rest completed.
    pub(super) fn run(
        &mut self,
        hw: &dyn SmmuHw,
        mem: &Mem,
        cmds: &[Command],
    ) -> Result<(), String> {
        let errors_before = self.errors.len();
        let mut failed = 0usize;
        for c in cmds {
            self.push(hw, mem, c.encode(), &mut failed)?;
        }
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let sync = if self.msi {
            mem.store_u64(self.sync_word, 0)
                .map_err(|e| e.to_string())?;
            CmdSync::msi(self.sync_word, seq)
        } else {
            CmdSync::new()
        };
        self.push(hw, mem, sync.to_words(), &mut failed)?;
        hw.mmio_write(SMMU_CMDQ_PROD, 4, u64::from(self.prod.raw()));
        let target = self.prod;
        let mut done = false;
        for _ in 0..POLLS {
            if self.recover(hw, mem) {
                failed += 1;
                continue;
            }
            done = if self.msi {
                mem.load_u64(self.sync_word).map_err(|e| e.to_string())? & 0xffff_ffff
                    == u64::from(seq)
            } else {
                let q = self.snapshot(Self::cons(hw).rd());
                q.cons() == target || q.is_empty()
            };
            if done {
                break;
            }
            std::hint::spin_loop();
        }
        if !done {
            return Err("CMD_SYNC did not complete".into());
        }
        if failed > 0 || self.errors.len() > errors_before {
            return Err(format!("{failed} command(s) refused by the SMMU"));
        }
        Ok(())
    }

    /// Writes one command at PROD, waiting for room.
    fn push(
        &mut self,
        hw: &dyn SmmuHw,
        mem: &Mem,
        words: [u64; 2],
        failed: &mut usize,
    ) -> Result<(), String> {
        let mut room = false;
        for _ in 0..POLLS {
            let q = self.snapshot(Self::cons(hw).rd());
            if !q.is_full() {
                room = true;
                break;
            }
            // Publish what is written so that the SMMU consumes it.
            hw.mmio_write(SMMU_CMDQ_PROD, 4, u64::from(self.prod.raw()));
            if self.recover(hw, mem) {
                *failed += 1;
            }
            std::hint::spin_loop();
        }
        if !room {
            return Err("the command queue stays full".into());
        }
        let at = self.snapshot(0).entry_address(self.prod);
        mem.store_u64(at, words[0]).map_err(|e| e.to_string())?;
        mem.store_u64(at + 8, words[1]).map_err(|e| e.to_string())?;
        self.prod = self.prod.next();
        Ok(())
    }

    /// Handles an active `GERROR.CMDQ_ERR`: records the command at CONS, replaces it with a
    /// `CMD_SYNC` and acknowledges the error. Whether there was one.
    pub(super) fn recover(&mut self, hw: &dyn SmmuHw, mem: &Mem) -> bool {
        let gerror = Gerror::from_bits(hw.mmio_read(SMMU_GERROR, 4) as u32);
        let gerrorn = Gerror::from_bits(hw.mmio_read(SMMU_GERRORN, 4) as u32);
        if gerror.cmdq_err() == gerrorn.cmdq_err() {
            return false;
        }
        let cons = Self::cons(hw);
        let q = self.snapshot(cons.rd());
        let at = q.entry_address(q.cons());
        let words = [
            mem.load_u64(at).unwrap_or_default(),
            mem.load_u64(at + 8).unwrap_or_default(),
        ];
        if self.errors.len() < 64 {
            self.errors.push(CommandErrorReport {
                cerror: Cerror::from_code(cons.err()),
                code: cons.err(),
                words,
            });
        }
        let skip = CmdSync::new().to_words();
        let _ = mem.store_u64(at, skip[0]);
        let _ = mem.store_u64(at + 8, skip[1]);
        let ack = gerrorn.with_cmdq_err(gerror.cmdq_err());
        hw.mmio_write(SMMU_GERRORN, 4, u64::from(ack.into_bits()));
        true
    }

    /// The CMDQ_PROD register value (bring-up).
    pub(super) fn prod_bits(&self) -> u32 {
        QueueProd::new().with_wr(self.prod.raw()).into_bits()
    }
}

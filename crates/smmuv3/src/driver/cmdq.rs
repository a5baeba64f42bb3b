//! The command queue as Linux's arm-smmu-v3 runs it: commands written at PROD, PROD
//! published, every batch closed by a `CMD_SYNC` whose completion is an MSI write to a word in
//! memory the driver polls (or, without MSIs, CONS passing the sync). A command the SMMU
//! refuses stops the queue with `GERROR.CMDQ_ERR`: the driver records it, puts a `CMD_SYNC`
//! in its place and acknowledges the error, so that the queue goes on (Linux's
//! `arm_smmu_cmdq_skip_err`).

use softiommu_core::{CoreError, HwError, Mem, Result};
use softiommu_mem::AddressSpace;

use crate::cmd::{Cerror, CmdSync, Command};
use crate::queue::{Queue, QueueBase, QueueCons, QueueKind, QueuePos, QueueProd};
use crate::regs::{Gerror, SMMU_CMDQ_CONS, SMMU_CMDQ_PROD, SMMU_GERROR, SMMU_GERRORN};

use super::SmmuHw;
use super::queues::pointer_in_range;

/// How many times a completion (the MSI word, or CMDQ_CONS without MSIs) is polled, and
/// how many times CMDQ_CONS is read while waiting for room, before the driver gives up.
pub(super) const POLLS: u32 = 100_000;
/// CMDQ_CONS.ERR, bits 30:24.
const CONS_ERR: u32 = 0x7f << 24;

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

    /// CMDQ_CONS; a value whose RD does not fit the queue is the SMMU's error.
    fn cons(&self, hw: &dyn SmmuHw) -> Result<QueueCons> {
        let raw = hw.mmio_read(SMMU_CMDQ_CONS, 4) as u32;
        if !pointer_in_range(raw & !CONS_ERR, self.base.log2size()) {
            return Err(CoreError::Hardware(HwError::BadRegister {
                register: "CMDQ_CONS",
                value: u64::from(raw),
                why: "RD beyond the command queue",
            }));
        }
        Ok(QueueCons::from_bits(raw))
    }

    /// Runs `cmds` then a `CMD_SYNC`, and waits for the sync. A refused command is recorded
    /// and skipped; the call then fails with [`CoreError::Driver`], after the rest completed.
    /// A sync that does not complete, a queue that stays full, a command error raised more
    /// often than the batch has commands, or a CMDQ_CONS out of range fails it with
    /// [`CoreError::Hardware`], each after at most [`POLLS`] polls.
    pub(super) fn run(&mut self, hw: &dyn SmmuHw, mem: &Mem, cmds: &[Command]) -> Result<()> {
        // Every command of the batch may be refused once; the sync itself is valid.
        let mut budget = cmds.len();
        for c in cmds {
            self.push(hw, mem, c.encode(), &mut budget)?;
        }
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let sync = if self.msi {
            mem.store_u64(self.sync_word, 0)?;
            CmdSync::msi(self.sync_word, seq)
        } else {
            CmdSync::new()
        };
        self.push(hw, mem, sync.to_words(), &mut budget)?;
        hw.mmio_write(SMMU_CMDQ_PROD, 4, u64::from(self.prod.raw()));
        let target = self.prod;
        let mut done = false;
        for _ in 0..POLLS {
            if self.recover(hw, mem, &mut budget)? {
                continue;
            }
            done = if self.msi {
                mem.load_u64(self.sync_word)? & 0xffff_ffff == u64::from(seq)
            } else {
                let q = self.snapshot(self.cons(hw)?.rd());
                q.cons() == target || q.is_empty()
            };
            if done {
                break;
            }
            std::hint::spin_loop();
        }
        if !done {
            return Err(CoreError::Hardware(HwError::Timeout {
                what: "CMD_SYNC completion",
                polls: POLLS,
            }));
        }
        let refused = cmds.len() - budget;
        if refused > 0 {
            return Err(CoreError::Driver(format!(
                "{refused} command(s) refused by the SMMU"
            )));
        }
        Ok(())
    }

    /// Writes one command at PROD, waiting for room.
    fn push(
        &mut self,
        hw: &dyn SmmuHw,
        mem: &Mem,
        words: [u64; 2],
        budget: &mut usize,
    ) -> Result<()> {
        let mut room = false;
        for _ in 0..POLLS {
            let q = self.snapshot(self.cons(hw)?.rd());
            if !q.is_full() {
                room = true;
                break;
            }
            // Publish what is written so that the SMMU consumes it.
            hw.mmio_write(SMMU_CMDQ_PROD, 4, u64::from(self.prod.raw()));
            self.recover(hw, mem, budget)?;
            std::hint::spin_loop();
        }
        if !room {
            return Err(CoreError::Hardware(HwError::Timeout {
                what: "room in the command queue (CMDQ_CONS)",
                polls: POLLS,
            }));
        }
        let at = self.snapshot(0).entry_address(self.prod);
        mem.store_u64(at, words[0])?;
        mem.store_u64(at + 8, words[1])?;
        self.prod = self.prod.next();
        Ok(())
    }

    /// Handles an active `GERROR.CMDQ_ERR`: records the command at CONS, replaces it with a
    /// `CMD_SYNC` and acknowledges the error, taking one from `budget`. Whether there was
    /// one; an error with the budget spent is the SMMU's.
    pub(super) fn recover(
        &mut self,
        hw: &dyn SmmuHw,
        mem: &Mem,
        budget: &mut usize,
    ) -> Result<bool> {
        let gerror = Gerror::from_bits(hw.mmio_read(SMMU_GERROR, 4) as u32);
        let gerrorn = Gerror::from_bits(hw.mmio_read(SMMU_GERRORN, 4) as u32);
        if gerror.cmdq_err() == gerrorn.cmdq_err() {
            return Ok(false);
        }
        if *budget == 0 {
            return Err(CoreError::Hardware(HwError::BadRegister {
                register: "GERROR",
                value: u64::from(gerror.into_bits()),
                why: "CMDQ_ERR raised more often than the batch has commands",
            }));
        }
        *budget -= 1;
        let cons = self.cons(hw)?;
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
        Ok(true)
    }

    /// The CMDQ_PROD register value (bring-up).
    pub(super) fn prod_bits(&self) -> u32 {
        QueueProd::new().with_wr(self.prod.raw()).into_bits()
    }
}

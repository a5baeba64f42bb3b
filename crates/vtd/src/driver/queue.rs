//! The driver's side of the invalidation queue: 256-bit descriptors written at the tail,
//! each batch closed by an invalidation wait that writes a status word the driver polls, and
//! the recovery from a descriptor the unit refuses.

use softiommu_core::{CoreError, HwError, Mem, Result};

use super::VtdMmio;
use crate::desc::{InvWait, InvWaitQw0, InvWaitQw1};
use crate::regs::{FSTS_REG, IQERCD_REG, IQH_REG, IQT_REG, Iqei, Iqercd, Iqh};

/// Bytes of one 256-bit descriptor.
const DESC_BYTES: u64 = 32;
/// FSTS.IQE: invalidation queue error.
const FSTS_IQE: u64 = 1 << 4;
/// How many times the status word is read before a wait is taken as failed, and how many
/// times IQH is read while waiting for room in the queue.
pub(super) const POLLS: u32 = 1000;

/// An invalidation queue error the driver found and recovered from: what the unit reported
/// and the descriptor it stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueErrorReport {
    /// Why the unit stopped (IQERCD.IQEI); `None` for a reserved code.
    pub iqei: Option<Iqei>,
    /// Byte offset in the queue of the descriptor the unit stopped at (IQH).
    pub offset: u64,
    /// The descriptor found there, before the driver replaced it.
    pub descriptor: [u64; 4],
}

/// The invalidation queue as the driver keeps it: where it is, where the tail is, and the
/// status word its waits write.
#[derive(Debug)]
pub(super) struct InvQueue {
    /// Physical base of the queue.
    pub(super) base: u64,
    /// Size of the queue in bytes.
    pub(super) size: u64,
    /// Byte offset of the next descriptor to write.
    tail: u64,
    /// Physical address of the status word.
    pub(super) status: u64,
    /// The status data of the last wait.
    seq: u32,
    /// The errors recovered from, oldest first.
    pub(super) errors: Vec<QueueErrorReport>,
}

/// Errors kept for [`VtdDriver::queue_errors`](super::VtdDriver::queue_errors).
const ERRORS_KEPT: usize = 64;

impl InvQueue {
    /// A queue at `base` of `size` bytes whose waits write the word at `status`.
    pub(super) fn new(base: u64, size: u64, status: u64) -> InvQueue {
        InvQueue {
            base,
            size,
            tail: 0,
            status,
            seq: 0,
            errors: Vec::new(),
        }
    }

    /// Submits `descs` and waits for them: in batches that fit the queue, each followed by
    /// an inv_wait with SW=1 whose status write the driver polls in memory, and with PD=1
    /// when `page_drain` (the wait then also completes behind every page request the unit
    /// has received). A descriptor the unit refuses is skipped (see [`recover`](Self::recover)); the batches still complete,
    /// and the first such error is returned ([`CoreError::Driver`]). A batch the unit does not
    /// complete within the bounds of [`POLLS`] ends the call with [`CoreError::Hardware`],
    /// and the batches after it are not sent.
    pub(super) fn run(
        &mut self,
        regs: &dyn VtdMmio,
        mem: &Mem,
        descs: &[[u64; 4]],
        page_drain: bool,
    ) -> Result<()> {
        // One slot stays empty (head == tail means empty) and one takes the wait.
        let batch = usize::try_from(self.size / DESC_BYTES - 2)
            .unwrap_or(1)
            .max(1);
        let mut first_err = None;
        for chunk in descs.chunks(batch) {
            match self.batch(regs, mem, chunk, page_drain) {
                Ok(()) => {}
                // The unit is not working the queue: later batches would wait as long.
                Err(e @ (CoreError::Hardware(_) | CoreError::Mem(_))) => return Err(e),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if descs.is_empty() {
            self.batch(regs, mem, &[], page_drain)?;
        }
        first_err.map_or(Ok(()), Err)
    }

    fn put(&mut self, mem: &Mem, d: &[u64; 4]) -> Result<()> {
        // One write of the whole descriptor, little-endian words in order, as the unit
        // fetches it.
        let mut bytes = [0u8; DESC_BYTES as usize];
        for (b, w) in bytes.chunks_exact_mut(8).zip(d) {
            b.copy_from_slice(&w.to_le_bytes());
        }
        mem.write(self.base + self.tail, &bytes)?;
        self.tail = (self.tail + DESC_BYTES) % self.size;
        Ok(())
    }

    /// IQH as a byte offset into the queue. IQH holds it in bits 18:4 and every other bit
    /// is reserved, so a value outside the queue or inside a descriptor is the unit's error.
    fn head(&self, regs: &dyn VtdMmio) -> Result<u64> {
        let raw = regs.mmio_read(IQH_REG, 8);
        let head = u64::from(Iqh::from_bits(raw).qh()) * 16;
        if raw != head || head >= self.size || head % DESC_BYTES != 0 {
            return Err(CoreError::Hardware(HwError::BadRegister {
                register: "IQH",
                value: raw,
                why: "head outside the queue or inside a descriptor",
            }));
        }
        Ok(head)
    }

    /// Waits until `n` more descriptors fit between the tail and the unit's head (one slot
    /// stays empty): at most [`POLLS`] reads of IQH.
    fn wait_room(&self, regs: &dyn VtdMmio, n: u64) -> Result<()> {
        for _ in 0..POLLS {
            let head = self.head(regs)?;
            let free = (head + self.size - self.tail - DESC_BYTES) % self.size;
            if free >= n * DESC_BYTES {
                return Ok(());
            }
            // Publish the tail again: the unit may have missed it (the batches behind it are
            // whole, each closed by its wait).
            regs.mmio_write(IQT_REG, 8, self.tail);
            std::hint::spin_loop();
        }
        Err(CoreError::Hardware(HwError::Timeout {
            what: "room in the invalidation queue (IQH)",
            polls: POLLS,
        }))
    }

    fn batch(
        &mut self,
        regs: &dyn VtdMmio,
        mem: &Mem,
        descs: &[[u64; 4]],
        page_drain: bool,
    ) -> Result<()> {
        self.wait_room(regs, descs.len() as u64 + 1)?;
        for d in descs {
            self.put(mem, d)?;
        }
        // Never 0, which the status word may hold before any wait wrote it.
        self.seq = self.seq.wrapping_add(1).max(1);
        let wait = InvWait {
            qw0: InvWaitQw0::new()
                .with_sw(true)
                .with_pd(page_drain)
                .with_status_data(self.seq),
            qw1: InvWaitQw1::new().with_status_address(self.status),
        };
        self.put(mem, &wait.to_words())?;
        regs.mmio_write(IQT_REG, 8, self.tail);
        // Every descriptor of the batch may be refused once; the wait itself is valid.
        let mut recoveries = descs.len();
        let mut error = None;
        for _ in 0..POLLS {
            let mut b = [0u8; 4];
            mem.read(self.status, &mut b)?;
            if u32::from_le_bytes(b) == self.seq {
                return error.map_or(Ok(()), Err);
            }
            let fsts = regs.mmio_read(FSTS_REG, 4);
            if fsts & FSTS_IQE != 0 {
                if recoveries == 0 {
                    return Err(CoreError::Hardware(HwError::BadRegister {
                        register: "FSTS",
                        value: fsts,
                        why: "IQE raised more often than the batch has descriptors",
                    }));
                }
                recoveries -= 1;
                let msg = self.recover(regs, mem)?;
                error.get_or_insert(CoreError::Driver(msg));
                continue;
            }
            std::hint::spin_loop();
        }
        Err(CoreError::Hardware(HwError::Timeout {
            what: "the status write of an invalidation wait",
            polls: POLLS,
        }))
    }

    /// After an invalidation queue error, as Linux's qi_check_fault does: the error is
    /// recorded, the descriptor at the head (the one the unit refused) is replaced by a wait
    /// without status write or interrupt, and FSTS.IQE is cleared, so that the unit fetches
    /// again from the head and the rest of the batch runs.
    fn recover(&mut self, regs: &dyn VtdMmio, mem: &Mem) -> Result<String> {
        let head = self.head(regs)?;
        let iqei = Iqercd::from_bits(regs.mmio_read(IQERCD_REG, 8)).iqei();
        let mut descriptor = [0u64; 4];
        for (k, w) in descriptor.iter_mut().enumerate() {
            *w = mem.load_u64(self.base + head + 8 * k as u64).unwrap_or(0);
        }
        if self.errors.len() < ERRORS_KEPT {
            self.errors.push(QueueErrorReport {
                iqei: Iqei::from_code(iqei),
                offset: head,
                descriptor,
            });
        }
        let nop = InvWait::default().to_words();
        for (k, w) in nop.iter().enumerate() {
            let _ = mem.store_u64(self.base + head + 8 * k as u64, *w);
        }
        regs.mmio_write(FSTS_REG, 4, FSTS_IQE);
        Ok(format!(
            "invalidation queue error (IQEI {iqei}) at offset {head:#x}: descriptor {:#x?} skipped",
            descriptor
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use softiommu_mem::RamArena;

    use super::*;

    /// A unit that fetches nothing: every register reads 0 (IQH at the start of the queue,
    /// no error), and writes are ignored.
    struct Idle;

    impl VtdMmio for Idle {
        fn mmio_read(&self, _: u64, _: u32) -> u64 {
            0
        }

        fn mmio_write(&self, _: u64, _: u32, _: u64) {}
    }

    #[test]
    fn a_wait_after_the_status_data_wraps_is_not_done_on_a_zero_status_word() {
        let mem: Mem = Arc::new(RamArena::new(0, 0x3000).unwrap());
        let mut q = InvQueue::new(0x1000, 0x1000, 0x2000);
        q.seq = u32::MAX;
        let r = q.run(&Idle, &mem, &[], false);
        assert!(
            matches!(
                r,
                Err(CoreError::Hardware(HwError::Timeout { polls: POLLS, .. }))
            ),
            "{r:?}"
        );
        assert_eq!(q.seq, 1);
    }
}

//! The driver's side of the invalidation queue: 256-bit descriptors written at the tail,
//! each batch closed by an invalidation wait that writes a status word the driver polls, and
//! the recovery from a descriptor the unit refuses.

use softiommu_core::Mem;
use softiommu_mem::AddressSpace;

use crate::desc::{InvWait, InvWaitQw0, InvWaitQw1};
use crate::model::VtdUnit;
use crate::regs::{FSTS_REG, IQERCD_REG, IQH_REG, IQT_REG, Iqei, Iqercd, Iqh};

/// Bytes of one 256-bit descriptor.
const DESC_BYTES: u64 = 32;
/// FSTS.IQE: invalidation queue error.
const FSTS_IQE: u64 = 1 << 4;
/// How many times the status word is read before the wait is taken as failed.
const POLLS: u32 = 1000;

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
    /// an inv_wait with SW=1 whose status write the driver polls in memory. A descriptor the
    /// unit refuses is skipped (see [`recover`](Self::recover)); the batches still complete,
    /// and the first such error is returned.
    pub(super) fn run<M: AddressSpace>(
        &mut self,
        unit: &VtdUnit<M>,
        mem: &Mem,
        descs: &[[u64; 4]],
    ) -> Result<(), String> {
        // One slot stays empty (head == tail means empty) and one takes the wait.
        let batch = usize::try_from(self.size / DESC_BYTES - 2)
            .unwrap_or(1)
            .max(1);
        let mut first_err = None;
        for chunk in descs.chunks(batch) {
            if let Err(e) = self.batch(unit, mem, chunk) {
                first_err.get_or_insert(e);
            }
        }
        if descs.is_empty() {
            self.batch(unit, mem, &[])?;
        }
        first_err.map_or(Ok(()), Err)
    }

    fn put(&mut self, mem: &Mem, d: &[u64; 4]) -> Result<(), String> {
        for (k, w) in d.iter().enumerate() {
            mem.store_u64(self.base + self.tail + 8 * k as u64, *w)
                .map_err(|e| format!("invalidation queue write: {e}"))?;
        }
        self.tail = (self.tail + DESC_BYTES) % self.size;
        Ok(())
    }

    fn batch<M: AddressSpace>(
        &mut self,
        unit: &VtdUnit<M>,
        mem: &Mem,
        descs: &[[u64; 4]],
    ) -> Result<(), String> {
        for d in descs {
            self.put(mem, d)?;
        }
        self.seq = self.seq.wrapping_add(1);
        let wait = InvWait {
            qw0: InvWaitQw0::new().with_sw(true).with_status_data(self.seq),
            qw1: InvWaitQw1::new().with_status_address(self.status),
        };
        self.put(mem, &wait.to_words())?;
        unit.mmio_write(IQT_REG, 8, self.tail);
        // Every descriptor of the batch may be refused once; the wait itself is valid.
        let mut recoveries = descs.len();
        let mut error = None;
        for _ in 0..POLLS {
            let mut b = [0u8; 4];
            mem.read(self.status, &mut b)
                .map_err(|e| format!("invalidation status read: {e}"))?;
            if u32::from_le_bytes(b) == self.seq {
                return error.map_or(Ok(()), Err);
            }
            if unit.mmio_read(FSTS_REG, 4) & FSTS_IQE != 0 {
                if recoveries == 0 {
                    return Err("invalidation queue error on the driver's own wait".into());
                }
                recoveries -= 1;
                let msg = self.recover(unit, mem);
                error.get_or_insert(msg);
                continue;
            }
            std::hint::spin_loop();
        }
        Err(error.unwrap_or_else(|| "invalidation wait timed out".to_string()))
    }

    /// After an invalidation queue error, as Linux's qi_check_fault does: the error is
    /// recorded, the descriptor at the head (the one the unit refused) is replaced by a wait
    /// without status write or interrupt, and FSTS.IQE is cleared, so that the unit fetches
    /// again from the head and the rest of the batch runs.
    fn recover<M: AddressSpace>(&mut self, unit: &VtdUnit<M>, mem: &Mem) -> String {
        let head = u64::from(Iqh::from_bits(unit.mmio_read(IQH_REG, 8)).qh()) * 16 % self.size;
        let iqei = Iqercd::from_bits(unit.mmio_read(IQERCD_REG, 8)).iqei();
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
        unit.mmio_write(FSTS_REG, 4, FSTS_IQE);
        format!(
            "invalidation queue error (IQEI {iqei}) at offset {head:#x}: descriptor {:#x?} skipped",
            descriptor
        )
    }
}

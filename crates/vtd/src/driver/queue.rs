//! The driver's side of the invalidation queue: 256-bit descriptors written at the tail,
//! each batch closed by an invalidation wait that writes a status word the driver polls.

use softiommu_core::Mem;
use softiommu_mem::AddressSpace;

use crate::desc::{InvWait, InvWaitQw0, InvWaitQw1};
use crate::model::VtdUnit;
use crate::regs::{FSTS_REG, IQH_REG, IQT_REG};

/// Bytes of one 256-bit descriptor.
const DESC_BYTES: u64 = 32;
/// FSTS.IQE: invalidation queue error.
const FSTS_IQE: u64 = 1 << 4;
/// How many times the status word is read before the wait is taken as failed.
const POLLS: u32 = 1000;

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
    status: u64,
    /// The status data of the last wait.
    seq: u32,
}

impl InvQueue {
    /// A queue at `base` of `size` bytes whose waits write the word at `status`.
    pub(super) fn new(base: u64, size: u64, status: u64) -> InvQueue {
        InvQueue {
            base,
            size,
            tail: 0,
            status,
            seq: 0,
        }
    }

    /// Submits `descs` and waits for them: in batches that fit the queue, each followed by
    /// an inv_wait with SW=1 whose status write the driver polls in memory.
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
        for chunk in descs.chunks(batch) {
            self.batch(unit, mem, chunk)?;
        }
        if descs.is_empty() {
            self.batch(unit, mem, &[])?;
        }
        Ok(())
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
        for _ in 0..POLLS {
            let mut b = [0u8; 4];
            mem.read(self.status, &mut b)
                .map_err(|e| format!("invalidation status read: {e}"))?;
            if u32::from_le_bytes(b) == self.seq {
                return Ok(());
            }
            if unit.mmio_read(FSTS_REG, 4) & FSTS_IQE != 0 {
                return Err(self.recover(unit, mem));
            }
            std::hint::spin_loop();
        }
        Err("invalidation wait timed out".to_string())
    }

    /// After an invalidation queue error: the descriptor at the head is replaced by a
    /// harmless wait (as Linux does) and IQE cleared, so the queue runs on.
    fn recover<M: AddressSpace>(&mut self, unit: &VtdUnit<M>, mem: &Mem) -> String {
        let head = unit.mmio_read(IQH_REG, 8) % self.size;
        let nop = InvWait::default().to_words();
        for (k, w) in nop.iter().enumerate() {
            let _ = mem.store_u64(self.base + head + 8 * k as u64, *w);
        }
        unit.mmio_write(FSTS_REG, 4, FSTS_IQE);
        format!("invalidation queue error at offset {head:#x}")
    }
}

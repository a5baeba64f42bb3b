//! Misbehaving hardware for drivers' robustness tests: a register frame whose accesses a
//! test rewrites or drops ([`RegisterFaults`]), and memory whose small writes do not land
//! ([`FaultyMem`]). A driver crate's tests put them at its driver's seams (its MMIO accessor
//! and the memory its unit writes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use softiommu_mem::{AddressSpace, Result};

use crate::Mem;

/// What is done to the accesses at one register offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Fault {
    /// Bits whose reads are stuck.
    mask: u64,
    /// The values they are stuck at.
    value: u64,
    /// Writes are dropped.
    drop_writes: bool,
}

/// Faults injected into the register accesses of one unit, offset by offset, and a count of
/// the reads of each offset (to see how long a driver polled).
#[derive(Debug, Default)]
pub struct RegisterFaults {
    faults: Mutex<HashMap<u64, Fault>>,
    reads: Mutex<HashMap<u64, u64>>,
}

impl RegisterFaults {
    /// No faults yet.
    pub fn new() -> RegisterFaults {
        RegisterFaults::default()
    }

    /// From now on, reads at `offset` see the bits of `mask` as they are in `value`.
    pub fn stick(&self, offset: u64, mask: u64, value: u64) {
        let mut f = self.faults.lock();
        let e = f.entry(offset).or_default();
        e.mask = mask;
        e.value = value & mask;
    }

    /// From now on, reads at `offset` return `value`.
    pub fn set(&self, offset: u64, value: u64) {
        self.stick(offset, u64::MAX, value);
    }

    /// From now on, writes at `offset` are dropped.
    pub fn drop_writes(&self, offset: u64) {
        self.faults.lock().entry(offset).or_default().drop_writes = true;
    }

    /// The register at `offset` behaves again.
    pub fn heal(&self, offset: u64) {
        self.faults.lock().remove(&offset);
    }

    /// Every register behaves again.
    pub fn heal_all(&self) {
        self.faults.lock().clear();
    }

    /// How many reads were made at `offset` so far.
    pub fn reads(&self, offset: u64) -> u64 {
        self.reads.lock().get(&offset).copied().unwrap_or(0)
    }

    /// A read at `offset`, `real` being what the unit answers.
    pub fn read(&self, offset: u64, real: impl FnOnce() -> u64) -> u64 {
        *self.reads.lock().entry(offset).or_default() += 1;
        let f = self.faults.lock().get(&offset).copied().unwrap_or_default();
        (real() & !f.mask) | f.value
    }

    /// A write of `value` at `offset`, `real` making it reach the unit.
    pub fn write(&self, offset: u64, value: u64, real: impl FnOnce(u64)) {
        let drop = self
            .faults
            .lock()
            .get(&offset)
            .is_some_and(|f| f.drop_writes);
        if !drop {
            real(value);
        }
    }
}

/// Memory that drops, while armed, every byte-wise write of one length: a unit's status
/// writes (a VT-d invalidation wait's 4-byte status data, an SMMUv3 `CMD_SYNC` MSI's 4-byte
/// data) then never land. Word accesses ([`AddressSpace::words`] and what is built on it)
/// always reach the memory.
#[derive(Clone)]
pub struct FaultyMem {
    inner: Mem,
    armed: std::sync::Arc<AtomicBool>,
    len: std::sync::Arc<AtomicU64>,
}

impl std::fmt::Debug for FaultyMem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyMem")
            .field("armed", &self.armed.load(Ordering::Relaxed))
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl FaultyMem {
    /// `inner`, with nothing dropped yet.
    pub fn new(inner: Mem) -> FaultyMem {
        FaultyMem {
            inner,
            armed: Default::default(),
            len: Default::default(),
        }
    }

    /// From now on, writes of exactly `len` bytes do not land.
    pub fn drop_writes_of(&self, len: u64) {
        self.len.store(len, Ordering::Relaxed);
        self.armed.store(true, Ordering::Release);
    }

    /// Writes land again.
    pub fn heal(&self) {
        self.armed.store(false, Ordering::Release);
    }
}

impl AddressSpace for FaultyMem {
    fn words(&self, pa: u64, count: usize) -> Result<&[AtomicU64]> {
        self.inner.words(pa, count)
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> Result<()> {
        self.inner.read(pa, buf)
    }

    fn write(&self, pa: u64, buf: &[u8]) -> Result<()> {
        if self.armed.load(Ordering::Acquire)
            && buf.len() as u64 == self.len.load(Ordering::Relaxed)
        {
            return Ok(());
        }
        self.inner.write(pa, buf)
    }
}

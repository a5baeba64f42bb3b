//! Memory as a nested first-stage walk sees it: every table address is a guest-physical
//! address, translated through the second stage before the entry is read or updated.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use softiommu_mem::{AddressSpace, MemError};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::{Access, FaultKind};

use crate::fault::FaultReason;

/// The second stage under a nested walk, and the fault it raised last.
pub(super) struct SecondStageView<'a, M: AddressSpace> {
    pub mem: &'a M,
    pub ss: &'a AnyFormat,
    pub ss_root: u64,
    pub mgaw: u8,
    /// The first-stage table root (its read is SFS.6; deeper entries SFS.7).
    pub fs_root: u64,
    /// The second-stage or nesting fault that stopped the walk (0: none).
    pub fault: AtomicU8,
}

impl<M: AddressSpace> SecondStageView<'_, M> {
    fn host(&self, gpa: u64, len: u64, write: bool) -> Result<u64, MemError> {
        let out = MemError::OutOfRange { addr: gpa, len };
        let table = gpa & !0xfff;
        let fail = |r: FaultReason| {
            self.fault.store(r.code(), Ordering::Relaxed);
            out
        };
        if self.mgaw < 64 && gpa >> self.mgaw != 0 {
            return Err(fail(FaultReason::Sfs5));
        }
        let access = if write { Access::WRITE } else { Access::READ };
        match self.ss.translate(self.mem, self.ss_root, gpa, access) {
            Ok(t) => {
                if (gpa & 0xfff) + len > 0x1000 {
                    return Err(out);
                }
                Ok(t.pa)
            }
            Err(f) => Err(fail(match f.kind {
                FaultKind::Permission if write => FaultReason::Sfs8,
                FaultKind::Permission if table == self.fs_root => FaultReason::Sfs6,
                FaultKind::Permission => FaultReason::Sfs7,
                k => super::translate::ss_reason(k, f.level, write),
            })),
        }
    }
}

impl<M: AddressSpace> AddressSpace for SecondStageView<'_, M> {
    fn words(&self, pa: u64, count: usize) -> Result<&[AtomicU64], MemError> {
        let hpa = self.host(pa, count as u64 * 8, false)?;
        self.mem.words(hpa, count)
    }

    fn read(&self, pa: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let hpa = self.host(pa, buf.len() as u64, false)?;
        self.mem.read(hpa, buf)
    }

    fn write(&self, pa: u64, buf: &[u8]) -> Result<(), MemError> {
        let hpa = self.host(pa, buf.len() as u64, true)?;
        self.mem.write(hpa, buf)
    }

    fn cmpxchg_u64(
        &self,
        pa: u64,
        current: u64,
        new: u64,
    ) -> Result<std::result::Result<u64, u64>, MemError> {
        // A first-stage Accessed/Dirty update needs second-stage write rights (SFS.8).
        let hpa = self.host(pa, 8, true)?;
        self.mem.cmpxchg_u64(hpa, current, new)
    }
}

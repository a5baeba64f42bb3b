//! Memory as a nested first-stage walk sees it: every table address is a guest-physical
//! address, translated through the second stage before the entry is read or updated.

use std::sync::atomic::{AtomicU8, Ordering};

use softiommu_mem::{AddressSpace, MappedSpace, MemError};
use softiommu_pgtable::formats::vtd_ss::VtdSs;
use softiommu_pgtable::walk;
use softiommu_pgtable::{Access, FaultKind};

use crate::fault::FaultReason;

/// The second stage under a nested walk, and the fault it raised last.
pub(super) struct SecondStageView<'a, M: AddressSpace + ?Sized> {
    pub mem: &'a M,
    pub ss: &'a VtdSs,
    pub ss_root: u64,
    pub mgaw: u8,
    /// The first-stage table root (its read is SFS.6; deeper entries SFS.7).
    pub fs_root: u64,
    /// The second-stage or nesting fault that stopped the walk (0: none).
    pub fault: AtomicU8,
}

impl<M: AddressSpace + ?Sized> SecondStageView<'_, M> {
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
        match walk::translate(self.ss, self.mem, self.ss_root, gpa, access) {
            Ok(t) => {
                if len > 0x1000 - (gpa & 0xfff) {
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

impl<'a, M: AddressSpace + ?Sized> SecondStageView<'a, M> {
    /// Memory as the first-stage walk sees it: every access through the second stage (an
    /// Accessed/Dirty update needs write rights there, SFS.8).
    pub(super) fn space(&'a self) -> impl AddressSpace + 'a {
        MappedSpace::new(self.mem, move |gpa, len, write| self.host(gpa, len, write))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use softiommu_mem::{PageAlloc, RamArena};
    use softiommu_pgtable::formats::vtd_ss::VtdSsConfig;
    use softiommu_pgtable::{PageTable, Prot};

    use super::*;

    #[test]
    fn an_access_longer_than_what_is_left_of_its_page_is_refused_without_overflow() {
        let mem = Arc::new(RamArena::new(0, 4 << 20).unwrap());
        let alloc = Arc::new(PageAlloc::new(mem.clone(), 1 << 20, 1 << 20).unwrap());
        let ss = VtdSs::new(VtdSsConfig::default()).unwrap();
        let mut t = PageTable::new(ss.clone(), alloc).unwrap();
        t.map(0x1000, 0x3000, 0x1000, Prot::RW).unwrap();
        let view = SecondStageView {
            mem: &*mem,
            ss: &ss,
            ss_root: t.root(),
            mgaw: 48,
            fs_root: 0x1000,
            fault: AtomicU8::new(0),
        };
        let space = view.space();
        assert_eq!(space.load_u64(0x1ff8).unwrap(), 0);
        assert!(space.words(0x1ff8, 2).is_err());
        assert!(space.words(0x1008, usize::MAX / 8).is_err());
    }
}

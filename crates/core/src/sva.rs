//! Process address spaces for shared virtual addressing: the table the 'CPU' uses, bound to
//! device PASIDs; pages missing from it come back as I/O page faults.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::{Access, Format, PageTable, PgError, Prot, Translation, WalkFault};

use crate::caps::Family;
use crate::domain::Domain;
use crate::error::{CoreError, Result};
use crate::ids::Pasid;
use crate::iopf::ResponseCode;
use crate::table::{Mem, TableAlloc};

static NEXT_MM: AtomicU32 = AtomicU32::new(1);

/// A process address space: its page table, in a format the CPU and the IOMMU both walk, and
/// the ranges the process has mapped (populated when first touched, by the CPU or by a
/// device's page request).
pub struct Mm {
    id: u32,
    table: Mutex<PageTable<AnyFormat, Mem>>,
    root: u64,
    format: AnyFormat,
    pages: TableAlloc,
    vmas: Mutex<BTreeMap<u64, (u64, Prot)>>,
    pub(crate) pasid: Mutex<Option<Pasid>>,
    pub(crate) domains: Mutex<Vec<(Family, Weak<Domain>)>>,
}

impl std::fmt::Debug for Mm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mm")
            .field("id", &self.id)
            .field("root", &format_args!("{:#x}", self.root))
            .field("format", &self.format.name())
            .finish()
    }
}

impl Mm {
    /// An empty address space with a table of `format` (x86-64 on Intel, Arm stage 1 on Arm);
    /// table and data pages come from `pages`.
    pub fn new(format: AnyFormat, pages: TableAlloc) -> Result<Arc<Mm>> {
        let table = PageTable::new(format.clone(), pages.clone())?;
        Ok(Arc::new(Mm {
            id: NEXT_MM.fetch_add(1, Ordering::Relaxed),
            root: table.root(),
            table: Mutex::new(table),
            format,
            pages,
            vmas: Mutex::new(BTreeMap::new()),
            pasid: Mutex::new(None),
            domains: Mutex::new(Vec::new()),
        }))
    }

    /// A number naming this address space.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Root of the process table.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Format of the process table.
    pub fn format(&self) -> &AnyFormat {
        &self.format
    }

    /// The PASID bound devices use for this address space, once one is.
    pub fn pasid(&self) -> Option<Pasid> {
        *self.pasid.lock()
    }

    /// Makes `[addr, addr + len)` part of the address space with `prot`, without populating
    /// it (like an anonymous mmap).
    pub fn mmap(&self, addr: u64, len: u64, prot: Prot) -> Result<()> {
        let g = self.format.geometry().granule();
        let end = addr
            .checked_add(len)
            .ok_or(CoreError::Invalid("range overflows"))?;
        if !addr.is_multiple_of(g)
            || !len.is_multiple_of(g)
            || len == 0
            || end > self.format.geometry().map_limit()
        {
            return Err(CoreError::Invalid("unaligned or out-of-range mmap"));
        }
        let mut v = self.vmas.lock();
        if v.range(..end)
            .next_back()
            .is_some_and(|(_, &(e, _))| e > addr)
        {
            return Err(CoreError::Busy("range already mapped"));
        }
        v.insert(addr, (end, prot));
        Ok(())
    }

    /// Populates every page of `[addr, addr + len)` now, as a CPU touching them would.
    pub fn populate(&self, addr: u64, len: u64) -> Result<()> {
        let g = self.format.geometry().granule();
        let mut a = addr & !(g - 1);
        while a < addr.saturating_add(len) {
            if self.handle_fault(a, Access::READ) != ResponseCode::Success {
                return Err(CoreError::Invalid("address outside the process's mappings"));
            }
            a += g;
        }
        Ok(())
    }

    /// Removes `[addr, addr + len)` from the address space and its table, freeing its pages,
    /// and invalidates it on every device bound to the address space.
    pub fn munmap(&self, addr: u64, len: u64) -> Result<()> {
        let end = addr
            .checked_add(len)
            .ok_or(CoreError::Invalid("range overflows"))?;
        {
            let mut v = self.vmas.lock();
            let hits: Vec<u64> = v
                .range(..end)
                .filter(|(_, v)| v.0 > addr)
                .map(|(&k, _)| k)
                .collect();
            for k in hits {
                if let Some((e, prot)) = v.remove(&k) {
                    if k < addr {
                        v.insert(k, (addr, prot));
                    }
                    if e > end {
                        v.insert(end, (e, prot));
                    }
                }
            }
        }
        self.unpopulate(addr, end);
        // The CPU's TLB shootdown reaches the IOMMUs too.
        let domains: Vec<Arc<Domain>> = self
            .domains
            .lock()
            .iter()
            .filter_map(|(_, w)| w.upgrade())
            .collect();
        for d in domains {
            d.flush_users(Some((addr, end)), true);
        }
        Ok(())
    }

    /// Unmaps the populated pages of `[addr, end)` and frees them.
    fn unpopulate(&self, addr: u64, end: u64) {
        let g = self.format.geometry().granule();
        let mut t = self.table.lock();
        let mut a = addr;
        while a < end {
            if let Some(m) = t.lookup(a) {
                let _ = t.unmap(m.iova, m.size);
                let _ = self.pages.free(m.pa, m.size);
                a = m.iova + m.size;
            } else {
                a += g;
            }
        }
    }

    /// Resolves a fault at `addr` for `access`: a page inside a mapping that allows the
    /// access is populated (zeroed) and mapped; anything else is invalid.
    pub fn handle_fault(&self, addr: u64, access: Access) -> ResponseCode {
        let g = self.format.geometry().granule();
        let page = addr & !(g - 1);
        let prot = {
            let v = self.vmas.lock();
            match v.range(..=page).next_back() {
                Some((_, &(e, prot))) if page < e => prot,
                _ => return ResponseCode::Invalid,
            }
        };
        if access.write && !prot.contains(Prot::WRITE) {
            return ResponseCode::Invalid;
        }
        let mut t = self.table.lock();
        if t.lookup(page).is_some() {
            return ResponseCode::Success;
        }
        let Ok(data) = self.pages.alloc(g) else {
            return ResponseCode::Failure;
        };
        match t.map(page, data, g, prot) {
            Ok(()) | Err(PgError::AlreadyMapped { .. }) => ResponseCode::Success,
            Err(_) => {
                let _ = self.pages.free(data, g);
                ResponseCode::Failure
            }
        }
    }

    /// The walk a device's request makes through the process table.
    pub fn translate(
        &self,
        addr: u64,
        access: Access,
    ) -> std::result::Result<Translation, WalkFault> {
        self.table.lock().translate(addr, access)
    }

    /// The physical address behind `addr`, if populated.
    pub fn lookup(&self, addr: u64) -> Option<u64> {
        self.table.lock().iova_to_phys(addr)
    }

    pub(crate) fn domain_for(&self, family: Family) -> Option<Arc<Domain>> {
        self.domains
            .lock()
            .iter()
            .filter(|(f, _)| *f == family)
            .find_map(|(_, w)| w.upgrade())
    }
}

impl Drop for Mm {
    /// The populated pages go back where they came from (the table frees its own pages).
    /// No device can reach them any more: every SVA domain of the address space holds it.
    fn drop(&mut self) {
        let vmas: Vec<(u64, u64)> = self
            .vmas
            .get_mut()
            .iter()
            .map(|(&a, &(e, _))| (a, e))
            .collect();
        for (addr, end) in vmas {
            self.unpopulate(addr, end);
        }
    }
}

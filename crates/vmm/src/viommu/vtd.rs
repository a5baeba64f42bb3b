//! A VT-d vIOMMU: a scalable-mode unit over the guest's RAM, its driver in the guest.

use std::sync::Arc;

use softiommu_core::{Mem, Rid};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;
use softiommu_vtd::driver::{VtdDriver, VtdMmio};
use softiommu_vtd::model::{Request, VtdUnit};
use softiommu_vtd::regs::{IQA_REG, VtdParams};
use vm_memory::iommu::{Error as IommuError, Iommu, IotlbIterator};
use vm_memory::{GuestAddress, Permissions};

use softiommu_pgtable::tlb::Epoch;

use super::{GuestOs, Model, Run, Step, translate_range};
use crate::{Error, Guest, Result};

/// A VT-d unit whose physical space is a guest's RAM, brought up by its driver under the
/// guest kernel's IOMMU core.
#[derive(Debug)]
pub struct VtdViommu {
    unit: Arc<VtdUnit<Mem>>,
    os: GuestOs,
}

impl VtdViommu {
    /// A unit with `params` over `guest`'s RAM, its driver's tables and queues taken from
    /// guest-physical `[tables.0, tables.0 + tables.1)`. Interrupts and device messages
    /// the unit raises are dropped (the guest polls).
    pub fn new(guest: &Guest, params: VtdParams, tables: (u64, u64)) -> Result<Self> {
        Self::with_mmio(guest, params, tables, |unit| unit.clone())
    }

    /// [`new`](Self::new) with the guest's register accesses going through the MMIO path
    /// `regs` makes for the unit (a VMM's trap of the unit's registers).
    pub fn with_mmio(
        guest: &Guest,
        params: VtdParams,
        tables: (u64, u64),
        regs: impl FnOnce(&Arc<VtdUnit<Mem>>) -> Arc<dyn VtdMmio>,
    ) -> Result<Self> {
        let mem = guest.space();
        let unit = VtdUnit::new(
            params,
            mem.clone(),
            Arc::new(|_, _, _| {}),
            Arc::new(|_| {}),
        )
        .map_err(|e| Error::Viommu(format!("VT-d unit: {e}")))?;
        let unit = Arc::new(unit);
        let alloc = GuestOs::tables(guest, tables)?;
        let driver = VtdDriver::with_mmio(unit.clone(), regs(&unit), mem, alloc.clone(), None)
            .map_err(|e| Error::Viommu(format!("VT-d driver: {e}")))?;
        let os = GuestOs::new(guest, alloc, Arc::new(driver));
        Ok(VtdViommu { unit, os })
    }

    /// The unit (its registers, fault records and counters, as the guest sees them).
    pub fn unit(&self) -> &Arc<VtdUnit<Mem>> {
        &self.unit
    }

    /// The guest kernel's side.
    pub fn os(&self) -> &GuestOs {
        &self.os
    }

    /// vm-memory's view of the unit for the requests of function `rid`, tagged with
    /// `pasid` if given.
    pub fn iommu(&self, rid: Rid, pasid: Option<u32>) -> VtdIommu {
        let sid = rid.source_id();
        VtdIommu {
            unit: self.unit.clone(),
            sid,
            pasid,
            tag: u64::from(sid) | pasid.map_or(0, |p| u64::from(p) << 16 | 1 << 40),
        }
    }
}

/// One requester's DMA through a VT-d unit, as vm-memory's [`Iommu`].
#[derive(Debug, Clone)]
pub struct VtdIommu {
    unit: Arc<VtdUnit<Mem>>,
    sid: u16,
    pasid: Option<u32>,
    /// The requester's IDs packed in one word.
    tag: u64,
}

impl VtdIommu {
    /// The request for `access` at `addr`.
    fn request(&self, addr: u64, access: Access) -> Request {
        Request {
            sid: self.sid,
            pasid: self.pasid,
            addr,
            access,
        }
    }
}

impl Model for VtdIommu {
    fn epoch(&self) -> Epoch {
        self.unit.hit_epoch()
    }

    fn step(&self, addr: u64, access: Access) -> Step {
        let req = self.request(addr, access);
        if let Some(t) = self.unit.translate_hit(req) {
            return Ok((t.pa, t.len, true));
        }
        match self.unit.translate(req) {
            Ok(t) => Ok((t.pa, t.len, false)),
            Err(f) => Err(format!("VT-d fault {:?} at {addr:#x}", f.reason)),
        }
    }
}

impl Iommu for VtdIommu {
    type IotlbGuard<'a> = Run;

    fn translate(
        &self,
        iova: GuestAddress,
        length: usize,
        access: Permissions,
    ) -> std::result::Result<IotlbIterator<Run>, IommuError> {
        translate_range(self, self.tag, iova, length, access)
    }
}

/// The tail bits of an IQT_REG value (QT, bits 18:4, as a byte offset).
pub(crate) const IQT_MASK: u64 = 0x7_fff0;

/// The descriptors the guest queued in `unit`'s invalidation queue (in `mem`) between byte
/// offsets `old` and `new`, one lap of the queue at most, each as four quadwords (the upper
/// two zero for 128-bit descriptors); a quadword that cannot be read is zero.
pub(crate) fn queued_descriptors(
    unit: &VtdUnit<Mem>,
    mem: &dyn AddressSpace,
    old: u64,
    new: u64,
) -> Vec<[u64; 4]> {
    const PAGE: u64 = 4096;
    let iqa = unit.mmio_read(IQA_REG, 8);
    let base = iqa & !0xfff;
    let size = PAGE << (iqa & 7);
    let step = if iqa >> 11 & 1 == 1 { 32 } else { 16 };
    let mut out = Vec::new();
    let (mut at, end) = (old % size, new % size);
    for _ in 0..size / step {
        if at == end {
            break;
        }
        let mut d = [0u64; 4];
        for (i, w) in d.iter_mut().enumerate().take(step as usize / 8) {
            *w = mem
                .load_u64(base.wrapping_add(at + 8 * i as u64))
                .unwrap_or(0);
        }
        out.push(d);
        at = (at + step) % size;
    }
    out
}

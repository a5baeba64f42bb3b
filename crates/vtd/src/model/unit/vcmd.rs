//! The virtual command interface (ECAP.VCS): Allocate PASID and Free PASID, answered from
//! the unit's own PASID space, or from a platform's allocator when one is set (a VMM that
//! hands a guest PASIDs of the host's space).

use std::sync::Arc;

use softiommu_mem::AddressSpace;

use super::{Inner, VtdUnit};
use crate::regs::{
    VCMD_ALLOC_PASID, VCMD_FREE_PASID, VCMD_NULL, VCMD_SC_INVALID_PASID, VCMD_SC_NO_PASID,
    VCMD_SC_SUCCESS, VCMD_SC_UNDEFINED,
};

/// Where a unit's virtual commands take PASIDs from, in place of the unit's own space.
///
/// It is called while the unit's registers are locked, so it must not call back into the
/// unit.
pub trait PasidAllocator: Send + Sync {
    /// A PASID for the software that asked; `None` when none is left (VCRSP.SC "no PASID
    /// available").
    fn alloc(&self) -> Option<u32>;

    /// Takes back `pasid`; `false` when it was not handed out to that software (VCRSP.SC
    /// "invalid PASID").
    fn free(&self, pasid: u32) -> bool;
}

impl<M: AddressSpace> VtdUnit<M> {
    /// Has the virtual commands of a unit with ECAP.VCS allocate and free PASIDs through
    /// `allocator` (`None`: the unit's own space again). The registers behave the same
    /// either way: VCRSP reports the same status codes and the PASID in RSLT. A PASID the
    /// allocator gives that is 0 or wider than the unit's PASID width is given back to it
    /// and reported as none available.
    pub fn set_pasid_allocator(&self, allocator: Option<Arc<dyn PasidAllocator>>) {
        self.inner.lock().allocator = allocator;
    }

    /// A virtual command: Allocate PASID hands out the lowest free PASID above 0 (or the
    /// allocator's), Free PASID returns one.
    pub(super) fn virtual_command(&self, inner: &mut Inner, cmd: u8, operand: u64) {
        let (sc, result) = match cmd {
            VCMD_NULL => (VCMD_SC_SUCCESS, 0),
            VCMD_ALLOC_PASID => match &inner.allocator {
                Some(a) => match a.alloc() {
                    Some(p) if p != 0 && u64::from(p) >> self.pasid_bits == 0 => {
                        (VCMD_SC_SUCCESS, u64::from(p))
                    }
                    Some(p) => {
                        a.free(p);
                        (VCMD_SC_NO_PASID, 0)
                    }
                    None => (VCMD_SC_NO_PASID, 0),
                },
                None => own_alloc(&mut inner.pasids),
            },
            VCMD_FREE_PASID => {
                let in_range = operand >> self.pasid_bits == 0 && operand != 0;
                match &inner.allocator {
                    Some(a) if in_range && a.free(operand as u32) => (VCMD_SC_SUCCESS, 0),
                    Some(_) => (VCMD_SC_INVALID_PASID, 0),
                    None => own_free(&mut inner.pasids, operand, in_range),
                }
            }
            _ => (VCMD_SC_UNDEFINED, 0),
        };
        inner.regs.complete_virtual_command(sc, result);
    }
}

/// Allocate PASID from the unit's own bitmap.
fn own_alloc(pasids: &mut [u64]) -> (u8, u64) {
    let free = pasids.iter().enumerate().find_map(|(i, w)| {
        // PASID 0 is never handed out (it is the usual RID_PASID).
        let w = if i == 0 { *w | 1 } else { *w };
        (w != u64::MAX).then(|| i * 64 + (!w).trailing_zeros() as usize)
    });
    match free {
        Some(p) => {
            pasids[p / 64] |= 1 << (p % 64);
            (VCMD_SC_SUCCESS, p as u64)
        }
        None => (VCMD_SC_NO_PASID, 0),
    }
}

/// Free PASID `operand` in the unit's own bitmap.
fn own_free(pasids: &mut [u64], operand: u64, in_range: bool) -> (u8, u64) {
    let p = usize::try_from(operand).unwrap_or(usize::MAX);
    match pasids.get_mut(p / 64) {
        Some(w) if in_range && *w & 1 << (p % 64) != 0 => {
            *w &= !(1 << (p % 64));
            (VCMD_SC_SUCCESS, 0)
        }
        _ => (VCMD_SC_INVALID_PASID, 0),
    }
}

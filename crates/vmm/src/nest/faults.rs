//! Fault recording registers read as a driver reads them: the host's, whose records of
//! nested devices the VMM forwards to their guests, and a guest's vIOMMU's, which the
//! guest's IOMMU driver reads.

use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_vtd::driver::VtdMmio;
use softiommu_vtd::regs::{CAP_REG, Cap, FSTS_REG, FaultRecord, Frcd};

/// FSTS.PFO: primary fault overflow (RW1C).
const FSTS_PFO: u64 = 1;
/// Records kept for devices that have not claimed them (faults of devices no nesting VMM
/// owns are never claimed); beyond it the oldest go.
const KEPT: usize = 1024;

/// Takes every pending record out of the fault recording registers behind `regs`: each
/// read and cleared (F written with 1), then an overflow cleared; oldest first from the
/// index FSTS.FRI names.
pub fn take_records(regs: &dyn VtdMmio) -> Vec<FaultRecord> {
    let cap = Cap::from_bits(regs.mmio_read(CAP_REG, 8));
    let base = u64::from(cap.fro()) * 16;
    let n = u64::from(cap.nfr()) + 1;
    let fsts = regs.mmio_read(FSTS_REG, 4);
    let first = (fsts >> 8 & 0xff) % n;
    let mut out = Vec::new();
    for k in 0..n {
        let at = base + 16 * ((first + k) % n);
        let hi = regs.mmio_read(at + 8, 8);
        if hi >> 63 == 0 {
            continue;
        }
        let lo = regs.mmio_read(at, 8);
        let f = Frcd::from_bits(u128::from(hi) << 64 | u128::from(lo));
        out.push(FaultRecord {
            sid: f.sid(),
            addr: f.fi() << 12,
            reason: f.fr(),
            kind: f.kind(),
            at: f.at(),
            pasid: f.pp().then(|| f.pv()),
            privileged: f.privileged(),
            execute: f.exe(),
        });
        regs.mmio_write(at + 12, 4, 1 << 31);
    }
    if fsts & FSTS_PFO != 0 {
        regs.mmio_write(FSTS_REG, 4, FSTS_PFO);
    }
    out
}

/// The host's fault records, as the host kernel's fault handler takes them from its unit
/// and hands each to the VMM that owns the faulting requester and PASID. One per host
/// unit, shared by every nested device behind it, so that a record taken for one guest's
/// device still reaches the guest whose it is.
pub struct HostFaults {
    regs: Arc<dyn VtdMmio>,
    pending: Mutex<Vec<FaultRecord>>,
}

impl std::fmt::Debug for HostFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostFaults")
            .field("pending", &self.pending.lock().len())
            .finish_non_exhaustive()
    }
}

impl HostFaults {
    /// The fault records of the host unit whose registers are `regs`.
    pub fn new(regs: Arc<dyn VtdMmio>) -> Arc<HostFaults> {
        Arc::new(HostFaults {
            regs,
            pending: Mutex::new(Vec::new()),
        })
    }

    /// The records of requester `sid` with PASID `pasid` (`None`: requests without one),
    /// oldest first, taken from the unit and from what was taken before for others.
    pub fn take(&self, sid: u16, pasid: Option<u32>) -> Vec<FaultRecord> {
        self.take_if(|r| r.sid == sid && r.pasid == pasid)
    }

    /// The records `mine` picks, oldest first, taken from the unit and from what was taken
    /// before for others.
    pub fn take_if(&self, mine: impl Fn(&FaultRecord) -> bool) -> Vec<FaultRecord> {
        let mut pending = self.pending.lock();
        self.collect(&mut pending);
        let (mine, rest): (Vec<_>, Vec<_>) = pending.drain(..).partition(|r| mine(r));
        *pending = rest;
        mine
    }

    /// Moves the unit's records behind those kept, keeping at most [`KEPT`].
    fn collect(&self, pending: &mut Vec<FaultRecord>) {
        pending.extend(take_records(&*self.regs));
        let over = pending.len().saturating_sub(KEPT);
        pending.drain(..over);
    }

    /// Records taken from the unit that no device has claimed yet (at most the last 1024).
    pub fn unclaimed(&self) -> usize {
        let mut pending = self.pending.lock();
        self.collect(&mut pending);
        pending.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use softiommu_core::Mem;
    use softiommu_mem::RamArena;
    use softiommu_vtd::model::VtdUnit;
    use softiommu_vtd::regs::{AddressType, FSTS_REG, RequestKind, VtdParams};

    use super::*;

    fn record(sid: u16, pasid: Option<u32>, addr: u64) -> FaultRecord {
        FaultRecord {
            sid,
            addr,
            reason: 0x71,
            kind: RequestKind::Read,
            at: AddressType::Untranslated,
            pasid,
            privileged: false,
            execute: false,
        }
    }

    #[test]
    fn each_device_takes_its_own_records_and_the_registers_are_emptied() {
        let mem: Mem = Arc::new(RamArena::new(0, 1 << 20).unwrap());
        let params = VtdParams {
            fault_records: 2,
            ..VtdParams::default()
        };
        let unit = VtdUnit::new(params, mem, Arc::new(|_, _, _| {}), Arc::new(|_| {}));
        let unit = Arc::new(unit.unwrap());
        let faults = HostFaults::new(unit.clone());
        assert!(unit.inject_fault(record(0x18, None, 0x1000)));
        assert!(unit.inject_fault(record(0x20, Some(3), 0x2000)));
        // Both records in use: this one overflows and is lost, as on the hardware.
        assert!(!unit.inject_fault(record(0x18, None, 0x3000)));
        assert_eq!(faults.take(0x18, None), vec![record(0x18, None, 0x1000)]);
        assert_eq!(unit.mmio_read(FSTS_REG, 4) & 3, 0, "PPF and PFO clear");
        assert_eq!(faults.take(0x20, None), vec![], "another PASID's");
        assert_eq!(faults.unclaimed(), 1);
        // The registers take records again.
        assert!(unit.inject_fault(record(0x20, Some(3), 0x4000)));
        let got = faults.take_if(|r| r.sid == 0x20);
        assert_eq!(
            got.iter().map(|r| r.addr).collect::<Vec<_>>(),
            [0x2000, 0x4000]
        );
        assert_eq!(faults.unclaimed(), 0);
    }
}

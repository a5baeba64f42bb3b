//! The VMM's trap of a nesting guest's VT-d registers: each write of the invalidation
//! queue's tail is passed to the vIOMMU, and then the descriptors the guest queued are
//! acted on for the one assigned device. A PASID-cache (or context-cache) invalidation
//! that covers the device's entry has the VMM read the guest's PASID entry again and, when
//! its first stage changed, give the host a nested HWPT of it and attach the device there;
//! IOTLB invalidations of the entry's domain are gathered and sent to the host as one
//! `IOMMU_HWPT_INVALIDATE` at each invalidation wait, the guest's point of sync.

use std::sync::Arc;

use crate::viommu::vtd::{IQT_MASK, queued_descriptors};
use parking_lot::Mutex;
use softiommu_core::Mem;
use softiommu_iommufd::vfio::VfioDevice;
use softiommu_iommufd::{
    Context, HWPT_ALLOC_PASID, HwptData, Invalidation, VTD_S1_EAFE, VTD_S1_SRE, VTD_S1_WPE,
    VtdInvalidation,
};
use softiommu_vtd::driver::VtdMmio;
use softiommu_vtd::fault::FaultReason;
use softiommu_vtd::model::VtdUnit;
use softiommu_vtd::regs::{IQT_REG, RTADDR_REG};
use softiommu_vtd::structs::{
    ContextEntry, Fspm, PasidDirEntry, PasidEntry, Pgtt, ScalableRootEntry, StructCaps,
    pasid_entry_address, root_entry_address,
};

const PAGE: u64 = 4096;
/// Descriptor types (bits 3:0).
const CC_INV: u64 = 0x1;
const IOTLB_INV: u64 = 0x2;
const INV_WAIT: u64 = 0x5;
const P_IOTLB_INV: u64 = 0x6;
const PC_INV: u64 = 0x7;

/// Where the host attaches the device's nested HWPT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum HostPoint {
    /// The VF's RID.
    #[default]
    Rid,
    /// PASID `0` of the VF.
    Pasid(u32),
    /// The mdev's own PASID of its parent (its device file's attach).
    Mdev,
}

/// What the trap has done, for [`Counts`](crate::assign::Counts) and the tests.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrapState {
    /// The queue's tail as the guest last wrote it.
    tail: u64,
    /// The PASID of the guest's entry the VMM nests (0: RID_PASID), and where the host
    /// attaches it.
    pasid: u32,
    point: HostPoint,
    /// The nested HWPT the device is attached to, with the DID and stage-1 fields it was
    /// made from.
    nested: Option<(u32, u16, [u64; 2])>,
    /// Stage-1 invalidations gathered since the last wait.
    pending: Vec<VtdInvalidation>,
    /// Guest invalidation descriptors of the device's entry or domain.
    pub(crate) guest_invalidations: u64,
    /// `IOMMU_HWPT_INVALIDATE` calls made.
    pub(crate) host_invalidations: u64,
    /// Nested HWPTs made (one per stage-1 change the guest made).
    pub(crate) nests: u64,
    /// Guest entries the VMM would not nest: malformed, another PASID's, or not first-stage.
    pub(crate) refused: u64,
    /// The reason the device's guest entry was last refused for.
    pub(crate) refusal: Option<FaultReason>,
    /// Host calls that failed, and the last failure.
    pub(crate) errors: u64,
    pub(crate) last_error: Option<String>,
}

/// The trap of one guest vIOMMU's registers, for one assigned device.
pub(crate) struct NestTrap {
    pub(crate) unit: Arc<VtdUnit<Mem>>,
    mem: Mem,
    caps: StructCaps,
    ctx: Arc<Context>,
    pub(crate) dev: Arc<VfioDevice>,
    /// The host device object (a VF or an mdev) in `ctx`.
    dev_id: u32,
    /// The nesting parent HWPT: the guest's RAM at IOVA = GPA.
    parent: u32,
    /// The guest requester ID of the device.
    sid: u16,
    pub(crate) state: Mutex<TrapState>,
}

/// Everything the trap is made of, apart from the unit.
pub(crate) struct TrapParts {
    pub(crate) mem: Mem,
    pub(crate) caps: StructCaps,
    pub(crate) ctx: Arc<Context>,
    pub(crate) dev: Arc<VfioDevice>,
    pub(crate) dev_id: u32,
    pub(crate) parent: u32,
    pub(crate) sid: u16,
}

/// What the guest's entry for the device holds, as the VMM reads it.
enum Entry {
    /// No entry on the way to it is present: the device's DMA is blocked.
    Absent,
    /// An entry the hardware would refuse with this reason (or one not first-stage).
    Bad(FaultReason),
    /// A first-stage entry.
    FirstStage(PasidEntry),
}

impl NestTrap {
    pub(crate) fn new(unit: Arc<VtdUnit<Mem>>, p: TrapParts) -> NestTrap {
        NestTrap {
            unit,
            mem: p.mem,
            caps: p.caps,
            ctx: p.ctx,
            dev: p.dev,
            dev_id: p.dev_id,
            parent: p.parent,
            sid: p.sid,
            state: Mutex::new(TrapState::default()),
        }
    }

    /// The guest requester ID of the device.
    pub(crate) fn sid(&self) -> u16 {
        self.sid
    }

    /// Nests the guest's entry at `pasid` (0: RID_PASID) at `point` of the host device.
    pub(crate) fn set_target(&self, pasid: u32, point: HostPoint) {
        let mut st = self.state.lock();
        st.pasid = pasid;
        st.point = point;
    }

    /// The guest's entry for the device, read as the hardware walks to it.
    fn entry(&self, pasid: u32) -> Entry {
        let caps = &self.caps;
        let mem = &*self.mem;
        let rta = self.unit.mmio_read(RTADDR_REG, 8) & !0xfff;
        let (bus, devfn) = ((self.sid >> 8) as u8, self.sid as u8);
        let absent = |r: FaultReason| {
            if matches!(
                r,
                FaultReason::Srt2 | FaultReason::Sct2 | FaultReason::Spd2 | FaultReason::Spt2
            ) {
                Entry::Absent
            } else {
                Entry::Bad(r)
            }
        };
        let Ok(root) = ScalableRootEntry::read(mem, root_entry_address(rta, bus)) else {
            return Entry::Bad(FaultReason::Srt1);
        };
        let ctx_at = match root.lookup(devfn, caps) {
            Ok(a) => a,
            Err(r) => return absent(r),
        };
        let Ok(ctx) = ContextEntry::read(mem, ctx_at) else {
            return Entry::Bad(FaultReason::Sct1);
        };
        if let Err(r) = ctx.check(caps) {
            return absent(r);
        }
        let dir_at = match ctx.pasid_dir_entry_address(pasid, caps) {
            Ok(a) => a,
            Err(r) => return absent(r),
        };
        let Ok(dir) = PasidDirEntry::read(mem, dir_at) else {
            return Entry::Bad(FaultReason::Spd1);
        };
        if let Err(r) = dir.check(caps) {
            return absent(r);
        }
        let Ok(e) = PasidEntry::read(mem, pasid_entry_address(&dir, pasid)) else {
            return Entry::Bad(FaultReason::Spt1);
        };
        match e.check(caps) {
            Err(r) => absent(r),
            Ok(()) if e.qw0.pgtt() == Pgtt::FirstStage => Entry::FirstStage(e),
            Ok(()) => Entry::Bad(FaultReason::Spt4),
        }
    }

    /// Reads the guest's entry again and brings the host in step with it.
    fn refresh(&self, st: &mut TrapState) {
        match self.entry(st.pasid) {
            Entry::FirstStage(e) => {
                let fields = [e.qw2.into_bits(), e.qw0.into_bits() & 0x1c0];
                let did = e.qw1.did();
                if st.nested.is_some_and(|(_, d, f)| d == did && f == fields) {
                    return;
                }
                st.refusal = None;
                let r = self.nest(&e, st.point);
                match r {
                    Ok(id) => {
                        st.nests += 1;
                        if let Some((old, ..)) = st.nested.replace((id, did, fields)) {
                            note(st, self.ctx.destroy(old).map_err(|e| e.to_string()));
                        }
                    }
                    Err(e) => {
                        note(st, Err(e));
                        self.block(st);
                    }
                }
            }
            Entry::Absent => {
                st.refusal = None;
                self.block(st);
            }
            Entry::Bad(reason) => {
                st.refused += 1;
                st.refusal = Some(reason);
                self.block(st);
            }
        }
    }

    /// A nested HWPT of the guest's first stage in `e`, the device attached to it.
    fn nest(&self, e: &PasidEntry, point: HostPoint) -> Result<u32, String> {
        let q2 = e.qw2;
        let addr_width = match q2.fspm() {
            Fspm::FourLevel => 48,
            Fspm::FiveLevel => 57,
            Fspm::Reserved(_) => return Err("a reserved FSPM".into()),
        };
        let mut flags = 0;
        for (on, f) in [
            (q2.sre(), VTD_S1_SRE),
            (q2.wpe(), VTD_S1_WPE),
            (q2.eafe(), VTD_S1_EAFE),
        ] {
            if on {
                flags |= f;
            }
        }
        let data = HwptData::VtdS1 {
            flags,
            pgtbl_addr: q2.fsptptr() << 12,
            addr_width,
        };
        let alloc = if point == HostPoint::Rid {
            0
        } else {
            HWPT_ALLOC_PASID
        };
        let id = self
            .ctx
            .hwpt_alloc_with(self.dev_id, self.parent, alloc, data, 0)
            .map_err(|e| e.to_string())?;
        let r = match point {
            HostPoint::Rid | HostPoint::Mdev => self.dev.attach_pt(id),
            HostPoint::Pasid(p) => self.dev.attach_pasid(p, id),
        };
        if let Err(e) = r {
            let _ = self.ctx.destroy(id);
            return Err(e.to_string());
        }
        Ok(id)
    }

    /// Blocks the device's DMA on the host and drops its nested HWPT.
    fn block(&self, st: &mut TrapState) {
        let r = match st.point {
            HostPoint::Rid | HostPoint::Mdev => self.dev.detach_pt(),
            HostPoint::Pasid(p) => self.dev.detach_pasid(p),
        };
        note(st, r.map_err(|e| e.to_string()));
        if let Some((old, ..)) = st.nested.take() {
            note(st, self.ctx.destroy(old).map_err(|e| e.to_string()));
        }
        st.pending.clear();
    }

    /// Acts on one descriptor the guest queued.
    fn descriptor(&self, st: &mut TrapState, d: [u64; 4]) {
        let (q0, q1) = (d[0], d[1]);
        let g = q0 >> 4 & 3;
        let did = (q0 >> 16 & 0xffff) as u16;
        let pasid = (q0 >> 32 & 0xf_ffff) as u32;
        let ours = st.nested.map(|(_, d, _)| d);
        match q0 & 0xf | (q0 >> 5 & 0x70) {
            PC_INV => {
                // G: 0 domain-selective, 1 PASID-selective, 3 global. The entry is read
                // again whatever DID is named: a guest that gives the PASID a new domain
                // names the new one.
                let covers = match g {
                    0 | 3 => true,
                    1 => pasid == st.pasid,
                    _ => false,
                };
                if covers {
                    st.guest_invalidations += 1;
                    self.refresh(st);
                } else if g == 1 {
                    // An entry at a PASID the device was not given is not nested.
                    st.refused += 1;
                }
            }
            CC_INV => {
                st.guest_invalidations += 1;
                self.refresh(st);
            }
            P_IOTLB_INV if ours == Some(did) && pasid == st.pasid => {
                st.guest_invalidations += 1;
                st.pending.push(p_iotlb_entry(g, q1));
            }
            IOTLB_INV if g == 1 || ours == Some(did) => {
                st.guest_invalidations += 1;
                st.pending.push(everything());
            }
            INV_WAIT => self.flush(st),
            _ => {}
        }
    }

    /// Sends the gathered invalidations to the host as one call.
    fn flush(&self, st: &mut TrapState) {
        let Some((id, ..)) = st.nested else {
            st.pending.clear();
            return;
        };
        if st.pending.is_empty() {
            return;
        }
        let mut done = 0;
        let r = self
            .ctx
            .hwpt_invalidate(id, Invalidation::VtdS1(&st.pending), &mut done);
        st.host_invalidations += 1;
        st.pending.clear();
        note(st, r.map_err(|e| e.to_string()));
    }
}

/// The host invalidation for a p_iotlb_inv_dsc of granularity `g` whose second word is
/// `q1`: page-selective-within-PASID (G = 3) names ADDR and AM (2^AM pages, ADDR aligned
/// down to them, IH ignored); any other the whole stage 1.
fn p_iotlb_entry(g: u64, q1: u64) -> VtdInvalidation {
    if g != 3 {
        return everything();
    }
    let am = (q1 & 0x3f).min(51);
    VtdInvalidation {
        addr: q1 & !0xfff & !((PAGE << am) - 1),
        npages: 1 << am,
        ..Default::default()
    }
}

/// An invalidation of the whole stage 1.
fn everything() -> VtdInvalidation {
    VtdInvalidation {
        addr: 0,
        npages: u64::MAX,
        ..Default::default()
    }
}

fn note(st: &mut TrapState, r: Result<(), String>) {
    if let Err(e) = r {
        st.errors += 1;
        st.last_error = Some(e);
    }
}

impl VtdMmio for NestTrap {
    fn mmio_read(&self, offset: u64, size: u32) -> u64 {
        self.unit.mmio_read(offset, size)
    }

    fn mmio_write(&self, offset: u64, size: u32, value: u64) {
        if offset != IQT_REG {
            return self.unit.mmio_write(offset, size, value);
        }
        let mut st = self.state.lock();
        let new = value & IQT_MASK;
        let descs = queued_descriptors(&self.unit, &*self.mem, st.tail, new);
        st.tail = new;
        // The vIOMMU carries them out first (its own caches, the wait's status write); the
        // host is brought in step before the guest's poll of the status can return.
        self.unit.mmio_write(offset, size, value);
        for d in descs {
            self.descriptor(&mut st, d);
        }
        self.flush(&mut st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_selective_invalidation_names_its_aligned_pages() {
        // ADDR 0x7000_3000, IH set, AM 2: four pages from 0x7000_0000.
        let e = p_iotlb_entry(3, 0x7000_3000 | 1 << 6 | 2);
        assert_eq!((e.addr, e.npages, e.flags), (0x7000_0000, 4, 0));
        // AM 0: the one page.
        assert_eq!(p_iotlb_entry(3, 0x1234_5000).npages, 1);
        // PASID-selective: everything.
        assert_eq!(p_iotlb_entry(2, 0x7000_3000), everything());
        // A mask beyond any address is bounded, not an overflow.
        let e = p_iotlb_entry(3, !0x40);
        assert_eq!((e.addr, e.npages), (0x8000_0000_0000_0000, 1 << 51));
    }
}

//! The invalidation queue: fetching descriptors from memory, checking them, and what each
//! one does to the caches and devices.

use softiommu_mem::AddressSpace;

use super::{Inner, VtdUnit};
use crate::desc::{
    CcGranularity, DescCaps, Descriptor, IotlbGranularity, PIotlbGranularity, PcGranularity,
    QueueMode,
};
use crate::model::IotlbScope;
use crate::model::stats::InvalidationTally;
use crate::regs::{Iqei, RegisterFile, Ttm};

/// The range `[addr, addr + 4096·2^am)`, naturally aligned, as (first byte, bytes); the
/// whole address space when it is 2^64 bytes or more. (It may end at 2^64: the caches take
/// such a range to the last byte.)
fn am_range(addr: u64, am: u8) -> (u64, u64) {
    let shift = 12 + u32::from(am);
    if shift >= 64 {
        return (0, u64::MAX);
    }
    let size = 1u64 << shift;
    (addr & !(size - 1), size)
}

impl<M: AddressSpace> VtdUnit<M> {
    /// Fetches and carries out descriptors while the register file says the queue is ready:
    /// IQH advances past each one; a bad one stops the queue with FSTS.IQE set and IQH on it.
    pub(super) fn process_queue(&self, inner: &mut Inner) {
        let Inner { regs, tally, .. } = inner;
        let ecap = regs.ecap();
        let caps = DescCaps {
            dit: ecap.dit(),
            pds: ecap.pds(),
            prs: ecap.prs(),
            hpts: ecap.hpts(),
            mamv: regs.cap().mamv(),
        };
        while regs.iq_fetch_ready() {
            let iqa = regs.iqa();
            let ttm = regs.root_table().ttm();
            if ttm == Ttm::Reserved {
                regs.set_queue_error(Iqei::InvalidTtm);
                return;
            }
            // 256-bit descriptors need scalable (or abort-DMA) mode support.
            if iqa.dw() && !ecap.smts() && !ecap.adms() {
                regs.set_queue_error(Iqei::BadWidth);
                return;
            }
            let mode = QueueMode {
                scalable: matches!(ttm, Ttm::Scalable | Ttm::AbortDma),
                dw256: iqa.dw(),
            };
            let size = iqa.size_bytes();
            let dsz = iqa.descriptor_bytes();
            let head = u64::from(regs.iqh().qh()) * 16 % size;
            let mut bytes = [0u8; 32];
            let buf = &mut bytes[..dsz as usize];
            // A queue that runs past the end of the address space fails its fetch there.
            let fetched = iqa
                .base()
                .checked_add(head)
                .map(|at| self.mem.read(at, buf));
            if !matches!(fetched, Some(Ok(()))) {
                regs.set_queue_error(Iqei::FetchError);
                return;
            }
            let mut words = [0u64; 4];
            for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                *w = u64::from_le_bytes(b);
            }
            match Descriptor::decode(words, mode, &caps) {
                Ok(d) => {
                    tracing::debug!(target: "vtd", descriptor = ?d, "invalidation queue");
                    if !self.apply(regs, tally, d) {
                        // A device-TLB invalidation timed out: ITE stops the queue past it.
                        regs.set_iq_head((head + dsz) % size);
                        return;
                    }
                }
                Err(e) => {
                    regs.set_queue_error(Iqei::from_code(e.iqei()).unwrap_or(Iqei::NoInfo));
                    return;
                }
            }
            regs.set_iq_head((head + dsz) % size);
        }
    }

    /// Carries out one valid descriptor, and counts it. Returns `false` when it was a
    /// device-TLB invalidation that timed out.
    fn apply(&self, regs: &mut RegisterFile, tally: &mut InvalidationTally, d: Descriptor) -> bool {
        count(tally, &d);
        let caches = self.engine.caches();
        match d {
            Descriptor::ContextCache(c) => {
                let q = c.qw0;
                match q.g() {
                    // The context cache is not tagged by domain: domain-selective is global
                    // (in legacy mode too, where over-invalidating is harmless).
                    CcGranularity::Global | CcGranularity::Domain | CcGranularity::Reserved => {
                        caches.invalidate_context(None);
                    }
                    CcGranularity::Device => {
                        // FM masks function bits 2, 2:1 or 2:0.
                        let mask: u16 = match q.fm() {
                            0 => 0,
                            1 => 0b100,
                            2 => 0b110,
                            _ => 0b111,
                        };
                        let base = q.sid() & !mask;
                        for low in 0..=mask {
                            if low & !mask == 0 {
                                caches.invalidate_context(Some(base | low));
                            }
                        }
                    }
                }
            }
            Descriptor::PasidCache(p) => {
                let q = p.qw0;
                match q.g() {
                    PcGranularity::Domain => caches.invalidate_pasid(Some(q.did()), None),
                    PcGranularity::Pasid => caches.invalidate_pasid(Some(q.did()), Some(q.pasid())),
                    PcGranularity::Global | PcGranularity::Reserved => {
                        caches.invalidate_pasid(None, None)
                    }
                };
            }
            Descriptor::Iotlb(i) => {
                let did = i.qw0.did();
                let scope = match i.qw0.g() {
                    IotlbGranularity::Domain => IotlbScope::Domain(did),
                    IotlbGranularity::Page => {
                        let (addr, size) = am_range(i.qw1.address(), i.qw1.am());
                        IotlbScope::Pages { did, addr, size }
                    }
                    IotlbGranularity::Global | IotlbGranularity::Reserved => IotlbScope::Global,
                };
                caches.invalidate_iotlb(scope);
            }
            Descriptor::PasidIotlb(p) => {
                let (did, pasid) = (p.qw0.did(), p.qw0.pasid());
                let scope = match p.qw0.g() {
                    PIotlbGranularity::Page => {
                        let (addr, size) = am_range(p.qw1.address(), p.qw1.am());
                        IotlbScope::PasidPages {
                            did,
                            pasid,
                            addr,
                            size,
                        }
                    }
                    PIotlbGranularity::Pasid | PIotlbGranularity::Reserved(_) => {
                        IotlbScope::Pasid { did, pasid }
                    }
                };
                caches.invalidate_iotlb(scope);
            }
            Descriptor::DevTlb(t) => {
                return self.send_atc_invalidation(regs, t.qw0.sid(), None, false, t.qw1.range());
            }
            Descriptor::PasidDevTlb(t) => {
                let pasid = Some(t.qw0.pasid());
                let (sid, gi) = (t.qw0.sid(), t.qw1.gi());
                return self.send_atc_invalidation(regs, sid, pasid, gi, t.qw1.range());
            }
            Descriptor::Wait(w) => {
                if w.qw0.sw() {
                    let haw_mask = if self.haw >= 64 {
                        u64::MAX
                    } else {
                        (1u64 << self.haw) - 1
                    };
                    let at = w.qw1.status_address() & haw_mask;
                    // A status write that hits no memory is lost, as a write to nowhere is.
                    let _ = self.mem.write(at, &w.qw0.status_data().to_le_bytes());
                }
                if w.qw0.if_flag() {
                    regs.set_iwc();
                }
            }
            Descriptor::PageGroupResponse(r) => {
                let q = r.qw0;
                let pasid = q.pp().then_some(q.pasid());
                tracing::debug!(
                    target: "vtd",
                    rid = format_args!("{:#06x}", q.rid()),
                    pasid = ?pasid,
                    group = r.qw1.prgi(),
                    code = ?q.rc(),
                    "page response"
                );
                self.send_page_response(q.rid(), pasid, r.qw1.prgi(), q.rc());
            }
            // No interrupt-entry cache and no host permission tables are modelled.
            Descriptor::InterruptEntryCache(_) | Descriptor::Hpt(_) => {}
        }
        true
    }
}

/// Counts descriptor `d` in `tally`: by type, and a wait that closes a batch of IOTLB
/// invalidations.
fn count(tally: &mut InvalidationTally, d: &Descriptor) {
    let n = &mut tally.descriptors;
    match d {
        Descriptor::ContextCache(_) => n.context_cache += 1,
        Descriptor::Iotlb(_) => {
            n.iotlb += 1;
            tally.iotlb_pending = true;
        }
        Descriptor::DevTlb(_) => n.dev_tlb += 1,
        Descriptor::InterruptEntryCache(_) => n.iec += 1,
        Descriptor::Wait(_) => {
            n.wait += 1;
            if std::mem::take(&mut tally.iotlb_pending) {
                tally.iotlb_batches += 1;
            }
        }
        Descriptor::PasidIotlb(_) => {
            n.pasid_iotlb += 1;
            tally.iotlb_pending = true;
        }
        Descriptor::PasidCache(_) => n.pasid_cache += 1,
        Descriptor::PasidDevTlb(_) => n.pasid_dev_tlb += 1,
        Descriptor::PageGroupResponse(_) => n.page_response += 1,
        Descriptor::Hpt(_) => n.hpt += 1,
    }
}

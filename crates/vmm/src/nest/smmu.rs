//! Nesting on SMMUv3: the guest's STE for its device (its CD table pointer and stage-1
//! configuration) is handed to the host as a nested HWPT — a vSTE through a vIOMMU over a
//! nesting parent that holds the guest's RAM at IOVA = guest-physical address, the device
//! being a vDEVICE whose virtual ID is the guest's StreamID. The VMM traps the guest's
//! command queue: each `CMD_CFGI_STE` of the device installs the STE the guest now has,
//! and the guest's TLB, CD and ATC invalidations are forwarded to the vIOMMU
//! (`IOMMU_HWPT_INVALIDATE`, SMMUv3 commands), batched up to the guest's `CMD_SYNC`. The
//! host's events on the guest's stage 1 come through the vIOMMU's vEVENTQ, already bearing
//! the guest's StreamID, and are written into the guest's own event queue.
//!
//! An STE the host refuses (a Config or field no vSTE may have) leaves the device
//! aborting, and the VMM records `C_BAD_STE` for it in the guest's event queue, as the
//! vIOMMU would for a transaction meeting that STE.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::{InstanceId, Mem, Rid};
use softiommu_devices::dsa::CompletionRecord;
use softiommu_iommufd::{
    Context, HWPT_ALLOC_NEST_PARENT, HwptData, Invalidation, VEVENT_HEADER_SIZE,
    VEVENTQ_FLAG_LOST_EVENTS, VEVENTQ_TYPE_ARM_SMMUV3, VIOMMU_TYPE_ARM_SMMUV3,
};
use softiommu_smmuv3::event::{Event, EventId};
use softiommu_smmuv3::model::SmmuUnit;
use softiommu_smmuv3::regs::SmmuParams;

use crate::assign::{Assigned, Counts, GuestFault, Mechanism};
use crate::viommu::SmmuViommu;
use crate::viommu::smmu_guest::SmmuGuestDevice;
use crate::viommu::smmu_trap::{CmdqTrap, CommandSink, guest_ste, names_stream, op};
use crate::{Error, Guest, HostRig, IommuKind, Result};

/// STE word 0 fields a vSTE carries: V, Config, S1Fmt, S1ContextPtr, S1CDMax.
const VSTE0: u64 = 0xf80f_ffff_ffff_ffff;
/// STE word 1 fields a vSTE carries: S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS.
const VSTE1: u64 = 0x3800_00ff;
/// A vSTE that aborts: V with Config 0b000.
const ABORT_VSTE: [u64; 2] = [1, 0];
/// Events the vEVENTQ holds.
const VEVENTQ_DEPTH: u32 = 64;
/// An SMMUv3 event record's size in a vEVENTQ.
const VEVENT_SIZE: usize = VEVENT_HEADER_SIZE + 32;

/// What the VMM keeps of the host side while the guest runs.
#[derive(Default)]
struct State {
    /// The nested HWPT of the guest's current STE (`None`: the aborting one).
    nested: Option<u32>,
    /// Invalidations waiting for the guest's `CMD_SYNC`.
    pending: Vec<[u64; 2]>,
    counts: Counts,
    /// STEs the host refused.
    refused: u64,
    last_error: Option<String>,
    /// Bytes read from the vEVENTQ that do not make a whole record yet.
    partial: Vec<u8>,
}

/// The host's objects for one nested device and the trap's handling of the guest's
/// commands.
struct NestHost {
    ctx: Arc<Context>,
    dev_id: u32,
    viommu_id: u32,
    abort: u32,
    vsid: u32,
    mem: Mem,
    veventq: OwnedFd,
    st: Mutex<State>,
}

impl NestHost {
    fn note(st: &mut State, r: Result<()>) {
        if let Err(e) = r {
            st.last_error = Some(e.to_string());
        }
    }

    /// Sends the pending invalidations to the vIOMMU, as one call.
    fn flush(&self, st: &mut State) {
        if st.pending.is_empty() {
            return;
        }
        let cmds = std::mem::take(&mut st.pending);
        let mut done = 0;
        let r = self
            .ctx
            .hwpt_invalidate(self.viommu_id, Invalidation::ArmSmmuv3(&cmds), &mut done);
        st.counts.host_invalidations += 1;
        Self::note(st, r.map_err(Error::from));
    }

    /// Installs the guest's STE of the device as a nested HWPT; one the host refuses makes
    /// the device abort, with `C_BAD_STE` in the guest's event queue.
    /// A stream table without the device's entry (a two-level one whose level-2 table is
    /// not there yet) aborts its DMA too, as the vIOMMU would.
    fn install(&self, unit: &SmmuUnit<Mem>, st: &mut State) {
        let made = guest_ste(unit, &self.mem, self.vsid).map(|[w0, w1]| {
            let ste = [w0 & VSTE0, w1 & VSTE1];
            let data = HwptData::ArmSmmuv3 { ste };
            self.ctx
                .hwpt_alloc_with(self.dev_id, self.viommu_id, 0, data, 0)
        });
        let (target, refused) = match made {
            Some(Ok(h)) => (Some(h), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let r = self
            .ctx
            .device_replace(self.dev_id, target.unwrap_or(self.abort));
        Self::note(st, r.map(|_| ()).map_err(Error::from));
        if let Some(old) = std::mem::replace(&mut st.nested, target) {
            Self::note(st, self.ctx.destroy(old).map_err(Error::from));
        }
        if let Some(e) = refused {
            st.refused += 1;
            st.last_error = Some(Error::from(e).to_string());
            unit.inject_event(&Event::new(EventId::BadSte, self.vsid));
        }
    }

    /// Writes the events waiting in the vEVENTQ into the guest's event queue.
    fn deliver(&self, unit: &SmmuUnit<Mem>) {
        let mut st = self.st.lock();
        let mut buf = [0u8; 16 * VEVENT_SIZE];
        loop {
            // SAFETY: reads at most `buf.len()` bytes into `buf` from a descriptor owned here.
            let n =
                unsafe { libc::read(self.veventq.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            let Ok(n) = usize::try_from(n) else { break };
            if n == 0 {
                break;
            }
            st.partial.extend_from_slice(&buf[..n]);
        }
        let data = std::mem::take(&mut st.partial);
        let (records, used) = vevents(&data);
        for words in records {
            if let Ok(e) = Event::decode(words) {
                unit.inject_event(&e);
            }
        }
        st.partial = data.get(used..).unwrap_or(&[]).to_vec();
    }
}

/// The SMMUv3 event records of the whole vEVENTQ records at the start of `data` (a
/// lost-events header holds none), and the bytes they take.
fn vevents(data: &[u8]) -> (Vec<[u64; 4]>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(head) = data.get(at..at + VEVENT_HEADER_SIZE) {
        let flags = u32::from_ne_bytes([head[0], head[1], head[2], head[3]]);
        if flags & VEVENTQ_FLAG_LOST_EVENTS != 0 {
            at += VEVENT_HEADER_SIZE;
            continue;
        }
        let Some(rec) = data.get(at + VEVENT_HEADER_SIZE..at + VEVENT_SIZE) else {
            break;
        };
        let mut words = [0u64; 4];
        for (w, b) in words.iter_mut().zip(rec.chunks_exact(8)) {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            *w = u64::from_le_bytes(a);
        }
        out.push(words);
        at += VEVENT_SIZE;
    }
    (out, at)
}

impl CommandSink for NestHost {
    fn commands(&self, unit: &SmmuUnit<Mem>, cmds: &[[u64; 2]]) {
        let mut st = self.st.lock();
        for &c in cmds {
            match c[0] & 0xff {
                op::CFGI_STE | op::CFGI_STE_RANGE if names_stream(c, self.vsid) => {
                    self.flush(&mut st);
                    self.install(unit, &mut st);
                }
                op::TLBI_NH_ALL
                | op::TLBI_NH_ASID
                | op::TLBI_NH_VA
                | op::TLBI_NH_VAA
                | op::TLBI_NSNH_ALL => {
                    st.pending.push(c);
                    st.counts.guest_invalidations += 1;
                }
                op::CFGI_CD | op::CFGI_CD_ALL | op::ATC_INV if names_stream(c, self.vsid) => {
                    st.pending.push(c);
                    st.counts.guest_invalidations += 1;
                }
                op::SYNC => self.flush(&mut st),
                _ => {}
            }
        }
    }
}

/// Where the guest sees its device: its vSMMU StreamID, the vDEVICE's virtual ID.
const GUEST_RID: Rid = Rid::new(0, 0, 3, 0);

/// A VF assigned to a guest with an SMMUv3 vIOMMU, its translations nested: the guest's CD
/// table and stage 1 over the host's stage 2 of the guest's RAM.
pub struct SmmuNest {
    side: SmmuGuestDevice,
    host: Arc<NestHost>,
    /// The host kernel's side: its IOMMU core and the instance whose event interrupt
    /// hands the guest's events to the vEVENTQ.
    host_iommu: (Arc<softiommu_iommufd::Host>, InstanceId),
}

impl std::fmt::Debug for SmmuNest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmmuNest")
            .field("vsid", &self.host.vsid)
            .field("pasid", &self.side.pasid)
            .finish_non_exhaustive()
    }
}

impl SmmuNest {
    /// Function `slot` (0 or 1) of `rig`'s engine (an SMMUv3 host) assigned to `guest`
    /// behind an SMMUv3 vIOMMU (stage 1 only, as a vSMMU offers it), whose kernel keeps its
    /// vIOMMU tables in guest-physical `tables`. The VMM binds the function to a context of
    /// its own and makes the nesting parent over the guest's RAM, the vIOMMU, the vDEVICE
    /// and the vEVENTQ; the guest kernel attaches a paging domain at the RID, or at
    /// SubstreamID `pasid` of the device's CD table (column "vIOMMU with PASID"), and its
    /// engine driver brings WQ 0 up for it. Host refusals come back with their errno.
    pub fn new(
        rig: &HostRig,
        guest: &Guest,
        slot: usize,
        tables: (u64, u64),
        pasid: Option<u32>,
    ) -> Result<SmmuNest> {
        if rig.kind() != IommuKind::Smmuv3 {
            return Err(Error::Host("SMMUv3 nesting needs an SMMUv3 host".into()));
        }
        let ctx = rig.context();
        let dev = rig.vfio().open_device(rig.vf(slot)?)?;
        let dev_id = dev.bind_iommufd(&ctx)?;
        let ioas = ctx.ioas_alloc()?;
        guest.map_into(&ctx, ioas)?;
        let parent = ctx.hwpt_alloc(dev_id, ioas, HWPT_ALLOC_NEST_PARENT)?;
        let viommu_id = ctx.viommu_alloc(dev_id, parent, VIOMMU_TYPE_ARM_SMMUV3, 0)?;
        let vsid = u32::from(GUEST_RID.source_id());
        ctx.vdevice_alloc(viommu_id, dev_id, u64::from(vsid))?;
        let (_, fd) = ctx.veventq_alloc(viommu_id, VEVENTQ_TYPE_ARM_SMMUV3, VEVENTQ_DEPTH, 0)?;
        // SAFETY: the vEVENTQ's descriptor was just made for this caller, who owns it.
        let veventq = unsafe { OwnedFd::from_raw_fd(fd) };
        let data = HwptData::ArmSmmuv3 { ste: ABORT_VSTE };
        let abort = ctx.hwpt_alloc_with(dev_id, viommu_id, 0, data, 0)?;
        dev.attach_pt(abort)?;
        let host = Arc::new(NestHost {
            ctx,
            dev_id,
            viommu_id,
            abort,
            vsid,
            mem: guest.space(),
            veventq,
            st: Mutex::new(State::default()),
        });
        let params = SmmuParams {
            stage2: false,
            hyp: false,
            ..SmmuParams::full()
        };
        let sink = host.clone();
        let viommu = SmmuViommu::with_mmio(guest, params, tables, |unit| {
            Arc::new(CmdqTrap::new(unit, guest.space(), sink))
        })?;
        let side = SmmuGuestDevice::attach(guest, viommu, (GUEST_RID, pasid), dev)?;
        let host_iommu = (rig.host().clone(), rig.instance());
        Ok(SmmuNest {
            side,
            host,
            host_iommu,
        })
    }

    /// An mdev cannot be nested on SMMUv3: stage 2 is per stream, and the parent's one
    /// stream has the host's. The attempt is made through `rig`'s host as a VMM would make
    /// it (a new mdev's device file bound to a context, a nesting parent asked for it over
    /// `guest`'s RAM, then a vIOMMU over that parent) and the host's refusal is returned,
    /// with its errno (`EOPNOTSUPP`); the mdev is removed again.
    pub fn mdev(rig: &HostRig, guest: &Guest) -> Result<SmmuNest> {
        let name = rig.parent().create()?;
        let attempt = || -> Result<()> {
            let ctx = rig.context();
            let mdev = rig.parent().open(&name)?;
            let id = mdev.bind_iommufd(&ctx)?;
            let ioas = ctx.ioas_alloc()?;
            guest.map_into(&ctx, ioas)?;
            let parent = ctx.hwpt_alloc(id, ioas, HWPT_ALLOC_NEST_PARENT)?;
            ctx.viommu_alloc(id, parent, VIOMMU_TYPE_ARM_SMMUV3, 0)?;
            Ok(())
        };
        let r = attempt();
        // The attempt's mdev goes back, its file closed.
        rig.parent().remove(&name)?;
        r?;
        Err(Error::Host(
            "the host gave an mdev a nesting parent and a vIOMMU".into(),
        ))
    }

    /// The device as the guest kernel's IOMMU core knows it (in
    /// [`viommu().os()`](SmmuViommu::os)).
    pub fn device(&self) -> softiommu_core::DeviceId {
        self.side.device()
    }

    /// The guest's vIOMMU (its unit and the guest kernel's driver of it).
    pub fn viommu(&self) -> &SmmuViommu {
        &self.side.viommu
    }

    /// STEs of the guest's the host refused so far.
    pub fn refused_stes(&self) -> u64 {
        self.host.st.lock().refused
    }

    /// The last host call that failed, if any.
    pub fn last_error(&self) -> Option<String> {
        self.host.st.lock().last_error.clone()
    }
}

impl Assigned for SmmuNest {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Nest
    }

    fn guest(&self) -> &Guest {
        &self.side.guest
    }

    fn pasid(&self) -> Option<u32> {
        self.side.pasid
    }

    fn map(&mut self, iova: u64, gpa: u64, len: u64, write: bool) -> Result<()> {
        self.side.map(iova, gpa, len, write)
    }

    fn unmap(&mut self, iova: u64, len: u64) -> Result<()> {
        self.side.unmap(iova, len)
    }

    fn memmove(&mut self, src: u64, dst: u64, len: u32, cr: u64) -> Result<CompletionRecord> {
        self.side.memmove((src, dst, len), cr)
    }

    /// The host kernel's event interrupt is served first (in this process it runs when
    /// asked), then the VMM writes what its vEVENTQ holds into the guest's event queue,
    /// and the guest's driver drains that.
    fn faults(&mut self) -> Vec<GuestFault> {
        let (host, instance) = &self.host_iommu;
        let _ = host.iommu().event_interrupt(*instance);
        self.host.deliver(self.side.viommu.unit());
        self.side.faults()
    }

    fn counts(&self) -> Counts {
        self.host.st.lock().counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(flags: u32, seq: u32, words: Option<[u64; 4]>) -> Vec<u8> {
        let mut b = flags.to_ne_bytes().to_vec();
        b.extend_from_slice(&seq.to_ne_bytes());
        for w in words.into_iter().flatten() {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b
    }

    #[test]
    fn whole_records_are_taken_lost_headers_skipped_and_a_partial_one_kept() {
        let e1 = [0x10 | 0x18 << 32, 0, 0x7000_0000, 0];
        let e2 = [0x04 | 0x18 << 32, 0, 0, 0];
        let mut data = record(0, 0, Some(e1));
        data.extend(record(VEVENTQ_FLAG_LOST_EVENTS, 1, None));
        data.extend(record(0, 2, Some(e2)));
        let whole = data.len();
        data.extend(&record(0, 3, Some(e1))[..20]);
        assert_eq!(vevents(&data), (vec![e1, e2], whole));
        // Nothing whole: nothing taken.
        assert_eq!(vevents(&data[whole..]), (vec![], 0));
        assert_eq!(vevents(&[]), (vec![], 0));
    }
}

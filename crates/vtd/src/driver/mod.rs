//! The VT-d driver: puts one [`VtdUnit`] under the softiommu core, programming only its
//! registers (through MMIO) and the structures in memory it walks, as Linux's intel-iommu
//! does in scalable mode.
//!
//! - Bring-up ([`VtdDriver::new`]): CAP/ECAP read through MMIO, a scalable-mode root table
//!   latched with SRTP, a 256-bit invalidation queue enabled, then translation.
//! - Per device: a context entry (context tables allocated per bus half on demand), a PASID
//!   directory covering the PASID width, PASID tables allocated on demand. Requests without
//!   PASID use RID_PASID 0.
//! - Per (domain, unit): a domain ID, allocated on first attach and freed when the domain
//!   leaves the unit's last device.
//! - Every change of a PASID-table entry is followed by the software sequence of spec
//!   Table 28 through the invalidation queue, closed by a wait whose status write is polled.
//!
//! This module is the only code of the crate that knows the core.

mod entries;
mod hw;
mod queue;

use hw::Hw;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use softiommu_core::{
    CoreError, DeviceId, DeviceInfo, DmaFault, DmaFaultKind, DmaTranslation, Domain, DomainId,
    DomainKind, Family, HwTable, IoPageTable, IommuCaps, IommuDriver, Mem, NestedData,
    PageResponse, PagingRequest, Pasid, Result, TableAlloc, Target,
};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::Access;
use softiommu_pgtable::formats::any::AnyFormat;

use crate::desc::{
    CcGranularity, CcInv, CcInvQw0, IotlbGranularity, IotlbInv, IotlbInvQw0, IotlbInvQw1,
    PIotlbGranularity, PIotlbInv, PIotlbInvQw0, PageGroupResp, PageGroupRespQw0, PageGroupRespQw1,
    PcGranularity, PcInv, PcInvQw0, ResponseCode,
};
use crate::fault::FaultReason;
use crate::model::{Request, VtdUnit};
use crate::regs::{CAP_REG, Cap, ECAP_REG, Ecap, GCMD_REG, GSTS_REG, IQA_REG, IQT_REG, RTADDR_REG};
use crate::structs::{
    ContextEntry, ContextQw0, ContextQw1, Pgtt, ScalableRootEntry, root_entry_address,
};

/// GCMD/GSTS.TE.
const GCMD_TE: u32 = 1 << 31;
/// GCMD/GSTS.SRTP.
const GCMD_SRTP: u32 = 1 << 30;
/// GCMD/GSTS.QIE.
const GCMD_QIE: u32 = 1 << 26;
/// GSTS bits that are one-shot commands in GCMD, left out when GSTS is written back.
const GSTS_LEVELS: u32 = 0x96ff_ffff;
/// RTADDR.TTM = 01b (scalable mode).
const TTM_SCALABLE: u64 = 1 << 10;
/// IQA.DW: 256-bit descriptors.
const IQA_DW256: u64 = 1 << 11;
/// How many times a status bit is polled after a command.
const POLLS: u32 = 1000;
/// The domain ID of pass-through entries (Linux's FLPT_DEFAULT_DID); allocation starts
/// above it, and DID 0 is never used.
const IDENTITY_DID: u16 = 1;
/// PASID for requests without PASID: the context entries' RID_PASID.
const RID_PASID: u32 = 0;
/// Page-selective invalidations beyond this many chunks become domain-selective.
const MAX_PSI_CHUNKS: usize = 16;
/// Bytes of a scalable-mode context entry.
const CONTEXT_ENTRY_BYTES: u64 = 32;
/// Bytes of a PASID-table entry.
const PASID_ENTRY_BYTES: u64 = 64;

/// What one PASID-table entry of a device was programmed with.
#[derive(Debug, Clone, Copy)]
struct Programmed {
    /// The domain (None for identity).
    domain: Option<DomainId>,
    did: u16,
    pgtt: Pgtt,
    sva: bool,
}

/// A device under the driver.
#[derive(Debug)]
struct Dev {
    info: DeviceInfo,
    /// Address of its context entry.
    ctx_at: u64,
    /// Its PASID directory and its size in bytes.
    dir: u64,
    dir_bytes: u64,
    /// PASID tables by directory index.
    tables: HashMap<u32, u64>,
    /// Present PASID-table entries by PASID.
    entries: HashMap<u32, Programmed>,
    /// Device-TLB enabled in its context entry.
    ats: bool,
}

/// A domain's ID on this unit and where it is used.
#[derive(Debug)]
struct DidUse {
    did: u16,
    users: Vec<(DeviceId, u32)>,
}

/// Everything behind the driver's lock.
#[derive(Debug)]
struct State {
    root: u64,
    queue: queue::InvQueue,
    /// Context tables by (bus, upper half).
    ctx_tables: HashMap<(u8, bool), u64>,
    devices: HashMap<DeviceId, Dev>,
    dids: HashMap<DomainId, DidUse>,
    next_did: u16,
    free_dids: Vec<u16>,
}

/// The driver of one VT-d unit, implementing [`IommuDriver`] for the softiommu core.
pub struct VtdDriver<M: AddressSpace> {
    unit: Arc<VtdUnit<M>>,
    mem: Mem,
    alloc: TableAlloc,
    hw: Hw,
    state: Mutex<State>,
}

impl<M: AddressSpace> std::fmt::Debug for VtdDriver<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtdDriver")
            .field("hw", &self.hw)
            .finish_non_exhaustive()
    }
}

/// `[start, end)` as naturally aligned power-of-two runs of 4 KiB pages, each at most
/// 2^`max_am` pages: (address, AM) pairs.
fn psi_chunks(start: u64, end: u64, max_am: u8) -> Vec<(u64, u8)> {
    let mut out = Vec::new();
    let mut s = start & !0xfff;
    let e = end.saturating_add(0xfff) & !0xfff;
    while s < e {
        let mut am = 0u8;
        while am < max_am
            && am < 51
            && s & ((0x2000u64 << am) - 1) == 0
            && s.saturating_add(0x2000u64 << am) <= e
        {
            am += 1;
        }
        out.push((s, am));
        s = s.saturating_add(0x1000u64 << am);
        if s == u64::MAX {
            break;
        }
    }
    out
}

impl<M: AddressSpace + 'static> VtdDriver<M> {
    /// Brings `unit` up: reads CAP/ECAP, latches a new scalable-mode root table, enables a
    /// 256-bit invalidation queue and translation. Structures live in `mem`, their pages come
    /// from `alloc`. The host address width is taken as MGAW (at most 52).
    pub fn new(unit: Arc<VtdUnit<M>>, mem: Mem, alloc: TableAlloc) -> Result<VtdDriver<M>> {
        let mgaw = (Cap::from_bits(unit.mmio_read(CAP_REG, 8)).mgaw() + 1).min(52);
        Self::with_haw(unit, mem, alloc, mgaw)
    }

    /// [`new`](Self::new) with the host address width `haw` given by the platform.
    pub fn with_haw(
        unit: Arc<VtdUnit<M>>,
        mem: Mem,
        alloc: TableAlloc,
        haw: u8,
    ) -> Result<VtdDriver<M>> {
        let cap = Cap::from_bits(unit.mmio_read(CAP_REG, 8));
        let ecap = Ecap::from_bits(unit.mmio_read(ECAP_REG, 8));
        if !ecap.smts() {
            return Err(CoreError::NotSupported("scalable mode (ECAP.SMTS)"));
        }
        if !ecap.qi() {
            return Err(CoreError::NotSupported("queued invalidation (ECAP.QI)"));
        }
        let mgaw = cap.mgaw() + 1;
        let ss_levels = if ecap.ssts() {
            let supported = |l: u8| cap.sagaw() & (1 << (l - 2)) != 0;
            (3..=5u8)
                .rev()
                .find(|&l| supported(l) && 12 + 9 * l <= mgaw.max(39))
                .or_else(|| (3..=5u8).find(|&l| supported(l)))
        } else {
            None
        };
        let hw = Hw {
            cap,
            ecap,
            haw,
            mgaw,
            pasid_bits: if ecap.pasid() { ecap.pss() + 1 } else { 0 },
            ss_levels,
            did_bits: 4 + 2 * cap.nd(),
        };
        let root = alloc.alloc(4096)?;
        let iq = alloc.alloc(4096)?;
        let status = alloc.alloc(4096)?;
        let d = VtdDriver {
            unit,
            mem,
            alloc,
            hw,
            state: Mutex::new(State {
                root,
                queue: queue::InvQueue::new(iq, 4096, status),
                ctx_tables: HashMap::new(),
                devices: HashMap::new(),
                dids: HashMap::new(),
                next_did: IDENTITY_DID + 1,
                free_dids: Vec::new(),
            }),
        };
        d.bring_up()?;
        Ok(d)
    }

    /// The unit driven.
    pub fn unit(&self) -> &Arc<VtdUnit<M>> {
        &self.unit
    }

    /// The domain ID `domain` has on this unit, while it is attached here.
    pub fn domain_id_of(&self, domain: DomainId) -> Option<u16> {
        self.state.lock().dids.get(&domain).map(|u| u.did)
    }

    fn gsts(&self) -> u32 {
        self.unit.mmio_read(GSTS_REG, 4) as u32
    }

    /// A GCMD write as Linux builds it (GSTS levels with `bit` set), then GSTS polled.
    fn gcmd(&self, bit: u32, what: &str) -> Result<()> {
        let v = (self.gsts() & GSTS_LEVELS) | bit;
        self.unit.mmio_write(GCMD_REG, 4, u64::from(v));
        for _ in 0..POLLS {
            if self.gsts() & bit != 0 {
                return Ok(());
            }
            std::hint::spin_loop();
        }
        Err(CoreError::Driver(format!("{what} did not complete")))
    }

    fn bring_up(&self) -> Result<()> {
        let (root, iq) = {
            let st = self.state.lock();
            (st.root, st.queue.base)
        };
        self.unit.mmio_write(RTADDR_REG, 8, root | TTM_SCALABLE);
        self.gcmd(GCMD_SRTP, "SRTP")?;
        self.unit.mmio_write(IQT_REG, 8, 0);
        self.unit.mmio_write(IQA_REG, 8, iq | IQA_DW256);
        self.gcmd(GCMD_QIE, "QIE")?;
        // The root table changed: global context, PASID and IOTLB invalidation.
        self.run(
            &mut self.state.lock(),
            &[
                CcInv {
                    qw0: CcInvQw0::new().with_g(CcGranularity::Global),
                }
                .to_words(),
                PcInv {
                    qw0: PcInvQw0::new().with_g(PcGranularity::Global),
                }
                .to_words(),
                IotlbInv {
                    qw0: IotlbInvQw0::new().with_g(IotlbGranularity::Global),
                    qw1: IotlbInvQw1::new(),
                }
                .to_words(),
            ],
        )?;
        self.gcmd(GCMD_TE, "TE")
    }

    fn run(&self, st: &mut State, descs: &[[u64; 4]]) -> Result<()> {
        st.queue
            .run(&self.unit, &self.mem, descs)
            .map_err(CoreError::Driver)
    }

    /// The address of the context entry of `rid`, allocating its context table.
    fn context_entry(&self, st: &mut State, bus: u8, devfn: u8) -> Result<u64> {
        let upper = devfn >= 0x80;
        let table = match st.ctx_tables.get(&(bus, upper)) {
            Some(&t) => t,
            None => {
                let t = self.alloc.alloc(4096)?;
                let lower = st.ctx_tables.get(&(bus, false)).copied();
                let up = st.ctx_tables.get(&(bus, true)).copied();
                let e = if upper {
                    ScalableRootEntry::new(lower, Some(t))
                } else {
                    ScalableRootEntry::new(Some(t), up)
                };
                // A half that was not present cannot be cached: no invalidation.
                if let Err(err) = e.write(&*self.mem, root_entry_address(st.root, bus)) {
                    let _ = self.alloc.free(t, 4096);
                    return Err(err.into());
                }
                st.ctx_tables.insert((bus, upper), t);
                t
            }
        };
        Ok(table + u64::from(devfn & 0x7f) * CONTEXT_ENTRY_BYTES)
    }

    /// A domain ID for `domain`: the one it has here, or a free one (not yet recorded).
    fn did_for(&self, st: &State, domain: DomainId) -> Result<u16> {
        if let Some(u) = st.dids.get(&domain) {
            return Ok(u.did);
        }
        if let Some(&d) = st.free_dids.last() {
            return Ok(d);
        }
        let limit = 1u32 << self.hw.did_bits;
        if u32::from(st.next_did) < limit {
            Ok(st.next_did)
        } else {
            Err(CoreError::Driver("domain IDs exhausted".into()))
        }
    }

    fn did_take(st: &mut State, domain: DomainId, did: u16, user: (DeviceId, u32)) {
        if let Some(u) = st.dids.get_mut(&domain) {
            u.users.push(user);
            return;
        }
        if st.free_dids.last() == Some(&did) {
            st.free_dids.pop();
        } else if st.next_did == did {
            st.next_did += 1;
        }
        st.dids.insert(
            domain,
            DidUse {
                did,
                users: vec![user],
            },
        );
    }

    fn did_drop(st: &mut State, domain: DomainId, user: (DeviceId, u32)) {
        if let Some(u) = st.dids.get_mut(&domain) {
            u.users.retain(|x| *x != user);
            if u.users.is_empty() {
                let did = u.did;
                st.dids.remove(&domain);
                st.free_dids.push(did);
            }
        }
    }

    /// Programs `pasid` (RID_PASID for the RID) of `dev` to translate through `new`.
    fn set_target(&self, dev: &DeviceInfo, pasid: Pasid, new: Target<'_>) -> Result<()> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        if !st.devices.contains_key(&dev.id) {
            return Err(CoreError::NoDevice(dev.id));
        }
        if pasid != RID_PASID && u64::from(pasid) >> self.hw.pasid_bits != 0 {
            return Err(CoreError::Invalid("PASID beyond this unit's width"));
        }
        // Everything is checked and built before memory changes.
        let built = self.build(st, new)?;
        let Some(d) = st.devices.get_mut(&dev.id) else {
            return Err(CoreError::NoDevice(dev.id));
        };
        let old = d.entries.get(&pasid).copied();
        if built.is_none() && old.is_none() {
            return Ok(());
        }
        let at = self.pasid_entry_at(d, pasid)?;
        match &built {
            Some((e, _)) => e.write(&*self.mem, at)?,
            None => {
                // Present → not present: P goes first, the rest after.
                self.mem.store_u64(at, 0)?;
                for k in 1..8 {
                    self.mem.store_u64(at + 8 * k, 0)?;
                }
            }
        }
        let descs = match &old {
            Some(o) => Self::teardown_descs(d, pasid, o),
            None => Vec::new(),
        };
        match built {
            Some((_, p)) => d.entries.insert(pasid, p),
            None => d.entries.remove(&pasid),
        };
        let user = (dev.id, pasid);
        if let Some(o) = old.and_then(|o| o.domain) {
            Self::did_drop(st, o, user);
        }
        if let Some((_, p)) = built
            && let Some(dom) = p.domain
        {
            Self::did_take(st, dom, p.did, user);
        }
        if !descs.is_empty() {
            self.run(st, &descs)?;
        }
        Ok(())
    }

    /// A fault of the unit as the core sees it.
    fn dma_fault(&self, dev: &DeviceInfo, pasid: Option<Pasid>, reason: FaultReason) -> DmaFault {
        use FaultReason as R;
        let kind = match reason {
            R::Sss2 | R::Sfs2 => DmaFaultKind::NotPresent,
            R::Sgn2 | R::Sgn6 | R::Sgn7 => DmaFaultKind::Permission,
            R::Sgn1 | R::Sgn4 | R::Sgn5 => DmaFaultKind::AddressSize,
            R::Srt2 | R::Sct2 | R::Spd2 | R::Spt2 | R::Sct6 | R::Sct7 => DmaFaultKind::Blocked,
            _ => DmaFaultKind::BadConfig,
        };
        let mut recoverable = false;
        if dev.caps.pri
            && self.hw.ecap.prs()
            && matches!(kind, DmaFaultKind::NotPresent | DmaFaultKind::Permission)
        {
            let st = self.state.lock();
            let prog = st
                .devices
                .get(&dev.id)
                .and_then(|d| d.entries.get(&pasid.unwrap_or(RID_PASID)).copied());
            if let Some(p) = prog {
                recoverable =
                    p.pgtt == Pgtt::FirstStage && (kind == DmaFaultKind::NotPresent || p.sva);
            }
        }
        DmaFault { kind, recoverable }
    }
}

impl<M: AddressSpace + 'static> IommuDriver for VtdDriver<M> {
    fn caps(&self) -> IommuCaps {
        let h = &self.hw;
        let fs = h.ecap.fsts();
        let ss = h.ss_levels.is_some();
        let mut page_sizes = 0;
        let mut ia_bits = 0;
        if ss {
            page_sizes |= h.ss_sizes();
            ia_bits = (12 + 9 * h.ss_levels.unwrap_or(4)).min(h.mgaw.max(39));
        }
        if fs {
            page_sizes |= h.fs_sizes();
            ia_bits = ia_bits.max(48);
        }
        IommuCaps {
            family: Family::Vtd,
            page_sizes,
            ia_bits,
            oa_bits: h.haw,
            pasid_bits: h.pasid_bits,
            first_stage: fs,
            second_stage: ss,
            nesting: h.ecap.nest() && fs && ss,
            sva: fs && h.ecap.prs() && h.pasid_bits > 0,
            dirty_tracking: ss && h.ecap.ssads(),
            ats: h.ecap.dt(),
            pri: h.ecap.prs(),
        }
    }

    fn probe(&self, dev: &DeviceInfo) -> Result<()> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        if st.devices.contains_key(&dev.id) {
            return Err(CoreError::Busy("device probed twice"));
        }
        let (bus, devfn) = (dev.rid.bus, dev.rid.devfn);
        if st
            .devices
            .values()
            .any(|d| d.info.rid.source_id() == dev.rid.source_id())
        {
            return Err(CoreError::Busy("requester ID already probed"));
        }
        let ctx_at = self.context_entry(st, bus, devfn)?;
        // A directory for the whole PASID width: 2^(PDTS+7) entries of 64 PASIDs each.
        let bits = self.hw.pasid_bits.max(13);
        let pdts = (bits - 13).min(7);
        let dir_bytes = 8u64 << (pdts + 7);
        let dir = self.alloc.alloc(dir_bytes.max(4096))?;
        let ats = self.hw.ecap.dt() && dev.caps.ats;
        let ctx = ContextEntry {
            qw0: ContextQw0::new()
                .with_p(true)
                .with_dte(ats)
                .with_paside(self.hw.ecap.pasid() && dev.caps.pasid_bits > 0)
                // PRE needs DTE (SCT.4).
                .with_pre(ats && self.hw.ecap.prs() && dev.caps.pri)
                .with_pdts(pdts)
                .with_pasiddirptr(dir >> 12),
            qw1: ContextQw1::new().with_rid_pasid(RID_PASID),
            qw2: 0,
            qw3: 0,
        };
        if let Err(e) = ctx.write(&*self.mem, ctx_at) {
            let _ = self.alloc.free(dir, dir_bytes.max(4096));
            return Err(e.into());
        }
        st.devices.insert(
            dev.id,
            Dev {
                info: *dev,
                ctx_at,
                dir,
                dir_bytes,
                tables: HashMap::new(),
                entries: HashMap::new(),
                ats,
            },
        );
        Ok(())
    }

    fn release(&self, dev: &DeviceInfo) {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let Some(d) = st.devices.remove(&dev.id) else {
            return;
        };
        // The context entry goes not present, then Table 28's context-entry sequence:
        // device-selective cc, domain-selective pc and iotlb per DID, device-TLB.
        let _ = self.mem.store_u64(d.ctx_at, 0);
        for k in 1..4 {
            let _ = self.mem.store_u64(d.ctx_at + 8 * k, 0);
        }
        let sid = d.info.rid.source_id();
        let mut descs = vec![
            CcInv {
                qw0: CcInvQw0::new().with_g(CcGranularity::Device).with_sid(sid),
            }
            .to_words(),
        ];
        let mut dids: Vec<u16> = d.entries.values().map(|p| p.did).collect();
        dids.sort_unstable();
        dids.dedup();
        for did in dids {
            descs.push(
                PcInv {
                    qw0: PcInvQw0::new().with_g(PcGranularity::Domain).with_did(did),
                }
                .to_words(),
            );
            descs.push(
                IotlbInv {
                    qw0: IotlbInvQw0::new()
                        .with_g(IotlbGranularity::Domain)
                        .with_did(did),
                    qw1: IotlbInvQw1::new(),
                }
                .to_words(),
            );
        }
        if d.ats {
            descs.push(Self::dev_tlb_all(&d, RID_PASID));
        }
        let ok = self.run(st, &descs).is_ok();
        for (&pasid, p) in &d.entries {
            if let Some(dom) = p.domain {
                Self::did_drop(st, dom, (dev.id, pasid));
            }
        }
        if ok {
            // Nothing walks them any more.
            for &t in d.tables.values() {
                let _ = self.alloc.free(t, 4096);
            }
            let _ = self.alloc.free(d.dir, d.dir_bytes.max(4096));
        }
    }

    fn alloc_table(&self, req: &PagingRequest, alloc: &TableAlloc) -> Result<Box<dyn IoPageTable>> {
        let format = if req.pasid && !req.nest_parent && !req.dirty_tracking && self.hw.ecap.fsts()
        {
            self.hw.fs_format()?
        } else {
            if req.dirty_tracking && !self.hw.ecap.ssads() {
                return Err(CoreError::NotSupported("second-stage dirty tracking"));
            }
            self.hw.ss_format(req.dirty_tracking)?
        };
        Ok(Box::new(HwTable::new(format, alloc.clone())?))
    }

    fn check_domain(&self, domain: &Domain) -> std::result::Result<(), &'static str> {
        let table_format = |d: &Domain| -> std::result::Result<AnyFormat, &'static str> {
            d.with_table(|t| t.format().cloned())
                .map_err(|_| "not a paging domain")?
                .ok_or("a table the hardware cannot walk")
        };
        match domain.kind() {
            DomainKind::Paging(_) => {
                let f = table_format(domain)?;
                if matches!(f, AnyFormat::X86(_)) {
                    self.hw.check_fs(&f).map(|_| ())
                } else {
                    self.hw.check_ss(&f).map(|_| ())
                }
            }
            DomainKind::Sva(mm) => self.hw.check_fs(mm.format()).map(|_| ()),
            DomainKind::Nested(n) => match &n.data {
                NestedData::Stage1 { format, .. } => {
                    if !self.hw.ecap.nest() {
                        return Err("no nesting");
                    }
                    self.hw.check_fs(format)?;
                    let parent = table_format(&n.parent)?;
                    self.hw.check_ss(&parent).map(|_| ())
                }
                NestedData::PasidTable { .. } => Err(
                    "a user-owned PASID table is the SMMUv3 model; VT-d nests one stage-1 table",
                ),
            },
            DomainKind::Blocked => Ok(()),
            DomainKind::Identity => {
                if self.hw.ecap.pt() {
                    Ok(())
                } else {
                    Err("no pass-through")
                }
            }
        }
    }

    fn set_rid(&self, dev: &DeviceInfo, new: Target<'_>, _old: Target<'_>) -> Result<()> {
        self.set_target(dev, RID_PASID, new)
    }

    fn set_pasid(
        &self,
        dev: &DeviceInfo,
        pasid: Pasid,
        new: Target<'_>,
        _old: Target<'_>,
    ) -> Result<()> {
        if pasid == RID_PASID {
            return Err(CoreError::Invalid("PASID 0 is the RID's (RID_PASID)"));
        }
        self.set_target(dev, pasid, new)
    }

    fn flush(&self, domain: &Domain, range: Option<(u64, u64)>, tables_freed: bool) {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let Some(u) = st.dids.get(&domain.id()) else {
            return;
        };
        let did = u.did;
        let users = u.users.clone();
        let ih = !tables_freed;
        let first_stage = match domain.kind() {
            DomainKind::Paging(_) => domain
                .with_table(|t| matches!(t.format(), Some(AnyFormat::X86(_))))
                .unwrap_or(false),
            DomainKind::Sva(_) => true,
            _ => false,
        };
        let nested = matches!(domain.kind(), DomainKind::Nested(_));
        let chunks = match range {
            Some((s, e)) if !nested && s < e => {
                let max_am = if first_stage { 51 } else { self.hw.cap.mamv() };
                let c = psi_chunks(s, e, max_am);
                (c.len() <= MAX_PSI_CHUNKS && (first_stage || self.hw.cap.psi())).then_some(c)
            }
            _ => None,
        };
        let mut descs = Vec::new();
        if first_stage {
            for &(_, pasid) in &users {
                match &chunks {
                    Some(c) => {
                        for &(addr, am) in c {
                            descs.push(
                                PIotlbInv {
                                    qw0: PIotlbInvQw0::new()
                                        .with_g(PIotlbGranularity::Page)
                                        .with_did(did)
                                        .with_pasid(pasid),
                                    qw1: IotlbInvQw1::new()
                                        .with_am(am)
                                        .with_ih(ih)
                                        .with_addr(addr >> 12),
                                }
                                .to_words(),
                            );
                        }
                    }
                    None => descs.push(
                        PIotlbInv {
                            qw0: PIotlbInvQw0::new()
                                .with_g(PIotlbGranularity::Pasid)
                                .with_did(did)
                                .with_pasid(pasid),
                            qw1: IotlbInvQw1::new(),
                        }
                        .to_words(),
                    ),
                }
            }
        } else {
            match &chunks {
                Some(c) => {
                    for &(addr, am) in c {
                        descs.push(
                            IotlbInv {
                                qw0: IotlbInvQw0::new()
                                    .with_g(IotlbGranularity::Page)
                                    .with_did(did),
                                qw1: IotlbInvQw1::new()
                                    .with_am(am)
                                    .with_ih(ih)
                                    .with_addr(addr >> 12),
                            }
                            .to_words(),
                        );
                    }
                }
                None => descs.push(
                    IotlbInv {
                        qw0: IotlbInvQw0::new()
                            .with_g(IotlbGranularity::Domain)
                            .with_did(did),
                        qw1: IotlbInvQw1::new(),
                    }
                    .to_words(),
                ),
            }
        }
        for &(dev, pasid) in &users {
            if let Some(d) = st.devices.get(&dev)
                && d.ats
            {
                descs.push(Self::dev_tlb_all(d, pasid));
            }
        }
        // The trait gives flush no way to fail; a queue error was recovered from already.
        let _ = self.run(st, &descs);
    }

    fn page_response(&self, dev: &DeviceInfo, resp: &PageResponse) {
        if !self.hw.ecap.prs() {
            return;
        }
        let rc = match resp.code {
            softiommu_core::ResponseCode::Success => ResponseCode::Success,
            softiommu_core::ResponseCode::Invalid => ResponseCode::InvalidRequest,
            softiommu_core::ResponseCode::Failure => ResponseCode::Failure,
        };
        let d = PageGroupResp {
            qw0: PageGroupRespQw0::new()
                .with_pp(resp.pasid.is_some())
                .with_rc(rc)
                .with_rid(dev.rid.source_id())
                .with_pasid(resp.pasid.unwrap_or(0)),
            qw1: PageGroupRespQw1::new().with_prgi(resp.group & 0x1ff),
        };
        let mut st = self.state.lock();
        let _ = self.run(&mut st, &[d.to_words()]);
    }

    fn dma(
        &self,
        dev: &DeviceInfo,
        pasid: Option<Pasid>,
        iova: u64,
        access: Access,
    ) -> std::result::Result<DmaTranslation, DmaFault> {
        let req = Request {
            sid: dev.rid.source_id(),
            pasid,
            addr: iova,
            access,
        };
        match self.unit.translate(req) {
            Ok(t) => Ok(DmaTranslation {
                pa: t.pa,
                len: t.len,
            }),
            Err(f) => Err(self.dma_fault(dev, pasid, f.reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::psi_chunks;

    #[test]
    fn psi_chunks_are_aligned_powers_of_two() {
        assert_eq!(psi_chunks(0x1000, 0x2000, 9), vec![(0x1000, 0)]);
        assert_eq!(psi_chunks(0, 0x4000, 9), vec![(0, 2)]);
        assert_eq!(
            psi_chunks(0x1000, 0x5000, 9),
            vec![(0x1000, 0), (0x2000, 1), (0x4000, 0)]
        );
        assert_eq!(
            psi_chunks(0, 0x10000, 2),
            vec![(0, 2), (0x4000, 2), (0x8000, 2), (0xc000, 2)]
        );
    }
}

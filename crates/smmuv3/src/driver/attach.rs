//! Attaching: what a RID or a PASID is programmed with, the ASIDs and VMIDs domains take on
//! this SMMU, the STE a device's state makes, and the order in which CDs and the STE change.

use std::collections::HashMap;

use softiommu_core::{
    CoreError, DeviceId, DeviceInfo, Domain, DomainId, DomainKind, NestedData, Result, Target,
};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::arm_s2::ArmS2;

use crate::cd::Cd;
use crate::cmd::{ATC_INV_ALL, AtcInv, Command, TlbiNhAsid, TlbiS12Vmall};
use crate::ste::{Eats, S1Dss, S1Fmt, Ste, SteConfig};

use super::cdtab::{CdTable, stage1_cd};
use super::strtab::{EntryKind, Used};
use super::{Dev, SmmuDriver, State};

/// What a RID or a PASID translates through, as programmed.
#[derive(Debug, Clone, Copy)]
pub(super) enum Programmed {
    /// Nothing (STE abort, or S1DSS terminate; an invalid CD at a PASID).
    Blocked,
    /// Output = input (STE bypass, or S1DSS bypass).
    Identity,
    /// A stage-1 table in a CD: a paging domain, or an SVA address space.
    S1 { domain: DomainId, sva: bool, cd: Cd },
    /// A stage-2 or nested domain, which the STE describes whole (RID only).
    Ste { domain: DomainId, ste: Ste },
}

impl Programmed {
    pub(super) fn domain(&self) -> Option<DomainId> {
        match self {
            Programmed::S1 { domain, .. } | Programmed::Ste { domain, .. } => Some(*domain),
            _ => None,
        }
    }

    fn cd(&self) -> Option<Cd> {
        match self {
            Programmed::S1 { cd, .. } => Some(*cd),
            _ => None,
        }
    }

    /// A nested STE: the user's CD table claims every SubstreamID.
    pub(super) fn claims(&self) -> bool {
        matches!(self, Programmed::Ste { ste, .. } if ste.dw0.config() == SteConfig::Nested)
    }
}

/// IDs (ASIDs or VMIDs) of domains on this SMMU, with how many places use each. ID 0 is
/// never handed out (Linux reserves it).
#[derive(Debug)]
pub(super) struct IdPool {
    limit: u32,
    next: u32,
    free: Vec<u16>,
    by_domain: HashMap<DomainId, (u16, u32)>,
}

impl IdPool {
    pub(super) fn new(bits: u8) -> IdPool {
        IdPool {
            limit: 1 << bits,
            next: 1,
            free: Vec::new(),
            by_domain: HashMap::new(),
        }
    }

    pub(super) fn get(&self, d: DomainId) -> Option<u16> {
        self.by_domain.get(&d).map(|u| u.0)
    }

    /// `d`'s ID, taken for one more user.
    fn take(&mut self, d: DomainId, what: &'static str) -> Result<u16> {
        if let Some(u) = self.by_domain.get_mut(&d) {
            u.1 += 1;
            return Ok(u.0);
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None if self.next < self.limit => {
                self.next += 1;
                (self.next - 1) as u16
            }
            None => return Err(CoreError::Exhausted(what)),
        };
        self.by_domain.insert(d, (id, 1));
        Ok(id)
    }

    /// One user of `d` fewer; the ID when that was the last (it is free again).
    fn put(&mut self, d: DomainId) -> Option<u16> {
        let u = self.by_domain.get_mut(&d)?;
        u.1 -= 1;
        if u.1 > 0 {
            return None;
        }
        let id = u.0;
        self.by_domain.remove(&d);
        self.free.push(id);
        Some(id)
    }
}

/// The (root, format) of a paging domain's table.
fn table_of(d: &Domain) -> Result<(u64, AnyFormat)> {
    d.with_table(|t| Some((t.root()?, t.format()?.clone())))?
        .ok_or(CoreError::Invalid("a table the SMMU cannot walk"))
}

impl SmmuDriver {
    /// The stage-2 fields of an STE for `f` at `root`, tagged `vmid`, as Linux's
    /// `arm_smmu_make_s2_domain_ste` writes them: the table walks inner and outer write-back
    /// cacheable and inner shareable (as the driver allocates tables), faults recorded, and
    /// S2PTW, so that a stage-1 walk or CD fetch that stage 2 maps to Device memory faults
    /// instead of reading a device.
    fn with_s2(ste: Ste, f: &ArmS2, root: u64, vmid: u16) -> Ste {
        let mut s = ste.with_s2_table(f, root, vmid);
        s.dw2 = s
            .dw2
            .with_s2ir0(1)
            .with_s2or0(1)
            .with_s2sh0(3)
            .with_s2ptw(true);
        s
    }

    /// What `new` is programmed as at the RID (`pasid` None) or a PASID, with the ID it needs
    /// taken. Everything that can refuse is checked here, before anything changes.
    fn build(&self, st: &mut State, pasid: Option<u32>, new: Target<'_>) -> Result<Programmed> {
        let domain = match new {
            Target::Blocked => return Ok(Programmed::Blocked),
            Target::Identity if pasid.is_none() => return Ok(Programmed::Identity),
            Target::Identity => {
                return Err(CoreError::Invalid("identity is not attachable at a PASID"));
            }
            Target::Domain(d) => d,
        };
        let id = domain.id();
        match domain.kind() {
            DomainKind::Paging(_) => {
                let (root, format) = table_of(domain)?;
                if let Ok(f) = self.hw.check_s1(&format) {
                    let asid = st.asids.take(id, "ASIDs")?;
                    let cd = stage1_cd(&f, root, asid, true);
                    return Ok(Programmed::S1 {
                        domain: id,
                        sva: false,
                        cd,
                    });
                }
                let f = self.hw.check_s2(&format).map_err(CoreError::NotSupported)?;
                if pasid.is_some() {
                    return Err(CoreError::Invalid(
                        "a stage-2 domain is not attachable at a PASID",
                    ));
                }
                let vmid = st.vmids.take(id, "VMIDs")?;
                let ste = Self::with_s2(Ste::with_config(SteConfig::S2Translate), &f, root, vmid);
                Ok(Programmed::Ste { domain: id, ste })
            }
            DomainKind::Sva(mm) => {
                if pasid.is_none() {
                    return Err(CoreError::Invalid("an SVA domain is attached at a PASID"));
                }
                let f = self
                    .hw
                    .check_s1(mm.format())
                    .map_err(CoreError::NotSupported)?;
                let asid = st.asids.take(id, "ASIDs")?;
                let cd = stage1_cd(&f, mm.root(), asid, true);
                Ok(Programmed::S1 {
                    domain: id,
                    sva: true,
                    cd,
                })
            }
            DomainKind::Nested(n) => {
                let NestedData::PasidTable {
                    root, entries, ats, ..
                } = &n.data
                else {
                    return Err(CoreError::NotSupported(
                        "SMMUv3 nests a user's whole CD table, not one stage-1 table",
                    ));
                };
                if pasid.is_some() {
                    return Err(CoreError::Invalid("a user CD table is attached at the RID"));
                }
                if *entries == 0 {
                    return Err(CoreError::Invalid("an empty CD table"));
                }
                let eats = Self::nested_eats(*ats)?;
                let s1cdmax = (31 - entries.leading_zeros()).min(u32::from(self.hw.ssid_bits()));
                let (s2root, s2format) = table_of(&n.parent)?;
                let f = self
                    .hw
                    .check_s2(&s2format)
                    .map_err(CoreError::NotSupported)?;
                let vmid = st.vmids.take(id, "VMIDs")?;
                let mut ste = Ste::with_config(SteConfig::Nested).with_s1_context_ptr(*root);
                ste.dw0 = ste
                    .dw0
                    .with_s1fmt(S1Fmt::Linear)
                    .with_s1cdmax(s1cdmax as u8);
                // Events of a user's stream may be merged (MEV), as Linux asks for every
                // nested STE: a guest must not flood the host's event queue.
                ste.dw1 = ste
                    .dw1
                    .with_s1dss(S1Dss::Substream0)
                    .with_s1cir(1)
                    .with_s1cor(1)
                    .with_s1csh(3)
                    .with_mev(true)
                    .with_eats(eats);
                Ok(Programmed::Ste {
                    domain: id,
                    ste: Self::with_s2(ste, &f, s2root, vmid),
                })
            }
            DomainKind::Blocked => Ok(Programmed::Blocked),
            DomainKind::Identity if pasid.is_none() => Ok(Programmed::Identity),
            DomainKind::Identity => {
                Err(CoreError::Invalid("identity is not attachable at a PASID"))
            }
        }
    }

    /// The EATS a user's nested STE asks for (its vSTE's EATS field, as Linux takes it):
    /// none, or full ATS; split-stage ATS and the reserved value are refused.
    fn nested_eats(ats: u8) -> Result<Eats> {
        match Eats::from_bits(ats) {
            _ if ats > 3 => Err(CoreError::Invalid("EATS is a 2-bit field")),
            e @ (Eats::Disabled | Eats::Full) => Ok(e),
            Eats::Split => Err(CoreError::NotSupported("split-stage ATS in a nested STE")),
            Eats::Dpt => Err(CoreError::Invalid("a reserved EATS in a nested STE")),
        }
    }

    /// Gives back the ID `p` took; returns the invalidation its TLB entries need when the ID
    /// is free again.
    fn release(st: &mut State, p: &Programmed) -> Option<Command> {
        match p {
            Programmed::S1 { domain, .. } => st.asids.put(*domain).map(|asid| {
                let mut c = TlbiNhAsid::new();
                c.dw0 = c.dw0.with_asid(asid);
                Command::TlbiNhAsid(c)
            }),
            Programmed::Ste { domain, .. } => st.vmids.put(*domain).map(|vmid| {
                let mut c = TlbiS12Vmall::new();
                c.dw0 = c.dw0.with_vmid(vmid);
                Command::TlbiS12Vmall(c)
            }),
            _ => None,
        }
    }

    /// The STE `d`'s state makes.
    fn ste_for(&self, d: &Dev) -> Ste {
        if let Programmed::Ste { ste, .. } = d.rid {
            let mut s = ste;
            if d.ats && ste.dw0.config() == SteConfig::S2Translate {
                s.dw1 = s.dw1.with_eats(Eats::Full);
            }
            if !d.ats {
                // A user's nested STE asked for ATS the device or the SMMU does not have: off,
                // as Linux leaves it.
                s.dw1 = s.dw1.with_eats(Eats::Disabled);
            }
            return s;
        }
        let cd_table = matches!(d.rid, Programmed::S1 { .. }) || !d.pasids.is_empty();
        let Some(t) = d.cd.as_ref().filter(|_| cd_table) else {
            return match d.rid {
                Programmed::Identity => Ste::with_config(SteConfig::Bypass),
                _ => Ste::with_config(SteConfig::Abort),
            };
        };
        let mut s = Ste::with_config(SteConfig::S1Translate).with_s1_context_ptr(t.base);
        s.dw0 = s.dw0.with_s1fmt(t.fmt).with_s1cdmax(t.s1cdmax);
        let s1dss = match d.rid {
            Programmed::S1 { .. } => S1Dss::Substream0,
            Programmed::Identity => S1Dss::Bypass,
            _ => S1Dss::Terminate,
        };
        // No master here is stall-enabled (PCI devices never are): on an SMMU whose faults
        // can stall, S1STALLD keeps stage-1 faults of this stream terminating.
        s.dw1 = s
            .dw1
            .with_s1dss(s1dss)
            .with_s1cir(1)
            .with_s1cor(1)
            .with_s1csh(3)
            .with_s1stalld(self.hw.stalls());
        if d.ats {
            s.dw1 = s.dw1.with_eats(Eats::Full);
        }
        s
    }

    /// Writes CD `ssid` of device `id` (`None`: not valid), making its CD table first.
    fn write_cd(&self, st: &mut State, id: DeviceId, ssid: u32, cd: Option<Cd>) -> Result<()> {
        let Some(d) = st.devices.get_mut(&id) else {
            return Err(CoreError::NoDevice(id));
        };
        if d.cd.is_none() {
            if cd.is_none() {
                return Ok(());
            }
            d.cd = Some(CdTable::new(&self.alloc, d.ssid_bits, self.hw.idr0.cd2l())?);
        }
        let sid = d.sid;
        let Some(t) = d.cd.as_mut() else {
            return Ok(());
        };
        let Some(at) = t.cd_at(&self.mem, &self.alloc, ssid, cd.is_some())? else {
            return Ok(());
        };
        let old = t.cds.get(&ssid).copied().unwrap_or_default();
        let new = cd.unwrap_or_default();
        match cd {
            Some(c) => t.cds.insert(ssid, c),
            None => t.cds.remove(&ssid),
        };
        let used = (Used::cd(&old), Used::cd(&new));
        let words = (old.to_words(), new.to_words());
        self.write_entry(st, EntryKind::Cd(sid, ssid), at, words, used)
    }

    /// Points the RID (`pasid` None) or a PASID of `dev` at `new`.
    ///
    /// Everything that can refuse is checked before memory changes; once made, the change
    /// stands, and a refused invalidation is recorded in
    /// [`command_errors`](SmmuDriver::command_errors), not returned.
    pub(super) fn set_target(
        &self,
        dev: &DeviceInfo,
        pasid: Option<u32>,
        new: Target<'_>,
    ) -> Result<()> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let Some(d) = st.devices.get(&dev.id) else {
            return Err(CoreError::NoDevice(dev.id));
        };
        if let Some(p) = pasid
            && (p == 0 || u64::from(p) >> d.ssid_bits != 0)
        {
            return Err(CoreError::Invalid(
                "PASID outside the device's SubstreamIDs",
            ));
        }
        let (rid_is_ste, has_pasids) = (
            matches!(d.rid, Programmed::Ste { .. }),
            !d.pasids.is_empty(),
        );
        let built = self.build(st, pasid, new)?;
        let refuse = match (pasid, &built) {
            (None, Programmed::Ste { .. }) if has_pasids => Some(CoreError::Busy(
                "PASIDs are attached; the STE cannot leave the CD table",
            )),
            (Some(_), Programmed::S1 { .. }) if rid_is_ste => Some(CoreError::Invalid(
                "PASIDs need the RID's STE to use the device's CD table",
            )),
            _ => None,
        };
        if let Some(e) = refuse {
            let _ = Self::release(st, &built);
            return Err(e);
        }
        let r = self.program(st, dev.id, pasid, built);
        if r.is_err() {
            let _ = Self::release(st, &built);
        }
        r
    }

    /// Carries out an attach `set_target` has checked.
    fn program(
        &self,
        st: &mut State,
        id: DeviceId,
        pasid: Option<u32>,
        new: Programmed,
    ) -> Result<()> {
        let Some(d) = st.devices.get(&id) else {
            return Err(CoreError::NoDevice(id));
        };
        let old = match pasid {
            None => d.rid,
            Some(p) => d.pasids.get(&p).copied().unwrap_or(Programmed::Blocked),
        };
        let ssid = pasid.unwrap_or(0);
        let adding_cd = new.cd();
        // A CD that becomes valid is written before the STE that uses it.
        if adding_cd.is_some() {
            self.write_cd(st, id, ssid, adding_cd)?;
        }
        let Some(d) = st.devices.get_mut(&id) else {
            return Err(CoreError::NoDevice(id));
        };
        match (pasid, new) {
            (None, n) => d.rid = n,
            (Some(p), Programmed::Blocked) => {
                d.pasids.remove(&p);
            }
            (Some(p), n) => {
                d.pasids.insert(p, n);
            }
        }
        let ste = self.ste_for(d);
        let (sid, ats) = (d.sid, d.ats);
        self.write_ste(st, id, ste)?;
        // A CD no longer used goes after the STE stopped using it.
        if adding_cd.is_none() && old.cd().is_some() {
            self.write_cd(st, id, ssid, None)?;
        }
        let mut inv: Vec<Command> = Self::release(st, &old).into_iter().collect();
        if ats && old.domain().is_some() {
            inv.push(Self::atc_inv(sid, pasid));
        }
        if !inv.is_empty() {
            let _ = self.run_invalidations(st, &inv);
        }
        Ok(())
    }

    /// `CMD_ATC_INV` of everything `sid` (at `pasid`) caches.
    pub(super) fn atc_inv(sid: u32, pasid: Option<u32>) -> Command {
        let mut c = AtcInv::new();
        c.dw0 = c.dw0.with_sid(sid);
        if let Some(p) = pasid {
            c.dw0 = c.dw0.with_ssv(true).with_ssid(p);
        }
        c.dw1 = c.dw1.with_size(ATC_INV_ALL);
        Command::AtcInv(c)
    }

    /// Gives back everything device `d` held (release).
    pub(super) fn release_dev(&self, st: &mut State, d: &Dev) -> Vec<Command> {
        let mut inv: Vec<Command> = Self::release(st, &d.rid).into_iter().collect();
        for p in d.pasids.values() {
            inv.extend(Self::release(st, p));
        }
        inv
    }
}

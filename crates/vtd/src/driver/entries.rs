//! The PASID-table entries the driver writes for each target, and the invalidations that
//! follow a change (spec Table 28).

use softiommu_core::{CoreError, Domain, DomainKind, NestedData, Pasid, Result, Target};
use softiommu_mem::AddressSpace;
use softiommu_pgtable::formats::any::AnyFormat;

use crate::desc::{
    DevTlbInv, DevTlbInvQw0, DevTlbInvQw1, PDevTlbInv, PDevTlbInvQw0, PDevTlbInvQw1, PcGranularity,
    PcInv, PcInvQw0,
};
use crate::structs::{
    Fspm, PasidDirEntry, PasidEntry, PasidQw0, PasidQw1, PasidQw2, Pgtt, pasid_dir_index,
    pasid_table_index,
};

use super::flush::{iotlb, p_iotlb};
use super::{Dev, IDENTITY_DID, PASID_ENTRY_BYTES, Programmed, RID_PASID, State, VtdDriver};

/// A PASID-selective pc_inv_dsc of `pasid` within `did`.
fn pc_pasid(did: u16, pasid: u32) -> [u64; 4] {
    PcInv {
        qw0: PcInvQw0::new()
            .with_g(PcGranularity::Pasid)
            .with_did(did)
            .with_pasid(pasid),
    }
    .to_words()
}

impl<M: AddressSpace + 'static> VtdDriver<M> {
    /// The complete PASID-table entry for `target`, and what it programs. `Ok(None)` for
    /// blocked. Nothing is changed.
    pub(super) fn build(
        &self,
        st: &State,
        target: Target<'_>,
    ) -> Result<Option<(PasidEntry, Programmed)>> {
        let d = match target {
            Target::Blocked => return Ok(None),
            Target::Identity => {
                if !self.hw.ecap.pt() {
                    return Err(CoreError::NotSupported("pass-through (ECAP.PT)"));
                }
                let e = PasidEntry {
                    qw0: PasidQw0::new()
                        .with_p(true)
                        .with_aw(self.hw.agaw())
                        .with_pgtt(Pgtt::PassThrough),
                    qw1: PasidQw1::new()
                        .with_did(IDENTITY_DID)
                        .with_pwsnp(self.hw.pwsnp()),
                    ..PasidEntry::from_words([0; 8])
                };
                let p = Programmed {
                    domain: None,
                    did: IDENTITY_DID,
                    pgtt: Pgtt::PassThrough,
                    sva: false,
                };
                return Ok(Some((e, p)));
            }
            Target::Domain(d) => d,
        };
        let did = self.did_for(st, d.id())?;
        let bad = |why: &'static str| CoreError::Incompatible {
            instance: softiommu_core::InstanceId(u32::MAX),
            domain: d.id(),
            why,
        };
        let mut e = PasidEntry::from_words([0; 8]);
        e.qw1 = PasidQw1::new().with_did(did).with_pwsnp(self.hw.pwsnp());
        let fs = |e: &mut PasidEntry, format: &AnyFormat, root: u64| -> Result<()> {
            let levels = self.hw.check_fs(format).map_err(bad)?;
            let fspm = if levels == 5 {
                Fspm::FiveLevel
            } else {
                Fspm::FourLevel
            };
            e.qw2 = PasidQw2::new().with_fspm(fspm).with_fsptptr(root >> 12);
            // Linux's AW for a first-stage entry; a nested entry's second stage sets its own.
            e.qw0 = e.qw0.with_aw(self.hw.agaw());
            Ok(())
        };
        let ss = |e: &mut PasidEntry, dom: &Domain| -> Result<()> {
            let (format, root) = dom.with_table(|t| (t.format().cloned(), t.root()))?;
            let (Some(format), Some(root)) = (format, root) else {
                return Err(bad("a table the hardware cannot walk"));
            };
            let c = self.hw.check_ss(&format).map_err(bad)?;
            e.qw0 = e
                .qw0
                .with_aw(c.levels - 2)
                .with_ssade(c.ad)
                .with_ssptptr(root >> 12);
            Ok(())
        };
        let (pgtt, sva) = match d.kind() {
            DomainKind::Paging(_) => {
                let (format, root) = d.with_table(|t| (t.format().cloned(), t.root()))?;
                let (Some(format), Some(root)) = (format, root) else {
                    return Err(bad("a table the hardware cannot walk"));
                };
                if matches!(format, AnyFormat::X86(_)) {
                    fs(&mut e, &format, root)?;
                    (Pgtt::FirstStage, false)
                } else {
                    ss(&mut e, d)?;
                    (Pgtt::SecondStage, false)
                }
            }
            DomainKind::Sva(mm) => {
                fs(&mut e, mm.format(), mm.root())?;
                (Pgtt::FirstStage, true)
            }
            DomainKind::Nested(n) => match &n.data {
                NestedData::Stage1 { format, root } => {
                    if !self.hw.ecap.nest() {
                        return Err(CoreError::NotSupported("nesting (ECAP.NEST)"));
                    }
                    fs(&mut e, format, *root)?;
                    ss(&mut e, &n.parent)?;
                    (Pgtt::Nested, false)
                }
                NestedData::PasidTable { .. } => {
                    return Err(CoreError::NotSupported(
                        "a user-owned PASID table (the SMMUv3 model); VT-d nests one stage-1 table",
                    ));
                }
            },
            DomainKind::Blocked => return Ok(None),
            DomainKind::Identity => return self.build(st, Target::Identity),
        };
        // A domain whose user takes its I/O page faults (a fault queue) needs page requests
        // as an SVA domain does.
        let sva = sva || d.fault_handler().is_some();
        e.qw0 = e.qw0.with_p(true).with_pgtt(pgtt);
        let p = Programmed {
            domain: Some(d.id()),
            did,
            pgtt,
            sva,
        };
        Ok(Some((e, p)))
    }

    /// The address of `pasid`'s entry in `dev`'s PASID table, allocating the table.
    pub(super) fn pasid_entry_at(&self, dev: &mut Dev, pasid: Pasid) -> Result<u64> {
        let idx = pasid_dir_index(pasid);
        if u64::from(idx) * 8 >= dev.dir_bytes {
            return Err(CoreError::Invalid("PASID beyond the PASID directory"));
        }
        let table = match dev.tables.get(&idx) {
            Some(&t) => t,
            None => {
                let t = self.alloc.alloc(4096)?;
                let de = PasidDirEntry::new().with_p(true).with_smptblptr(t >> 12);
                if let Err(err) = de.write(&*self.mem, dev.dir + u64::from(idx) * 8) {
                    let _ = self.alloc.free(t, 4096);
                    return Err(err.into());
                }
                dev.tables.insert(idx, t);
                t
            }
        };
        Ok(table + u64::from(pasid_table_index(pasid)) * PASID_ENTRY_BYTES)
    }

    /// The descriptors that invalidate what the unit caches of `old` at `pasid` of the
    /// device (Table 28, as Linux sends them: PASID-selective pc, then p_iotlb
    /// PASID-selective for a first-stage or pass-through entry or iotlb DSI for one that
    /// walks a second stage, then the device-TLB).
    pub(super) fn teardown_descs(&self, dev: &Dev, pasid: u32, old: &Programmed) -> Vec<[u64; 4]> {
        let mut v = vec![pc_pasid(old.did, pasid)];
        v.push(if old.pgtt.uses_second_stage() {
            iotlb(&self.hw, old.did, None, false)
        } else {
            p_iotlb(old.did, pasid, None, false)
        });
        if dev.ats {
            v.push(Self::dev_tlb_all(dev, pasid));
        }
        v
    }

    /// What a newly present entry at `pasid` owes, as Linux sends it: in caching mode, where
    /// the unit may have cached the entry not present, a PASID-selective pc and p_iotlb;
    /// otherwise nothing (the unit caches no not-present entry).
    pub(super) fn setup_descs(&self, pasid: u32, new: &Programmed) -> Vec<[u64; 4]> {
        if !self.hw.cap.cm() {
            return Vec::new();
        }
        vec![
            pc_pasid(new.did, pasid),
            p_iotlb(new.did, pasid, None, false),
        ]
    }

    /// A device-TLB invalidation of everything the device caches for `pasid`.
    pub(super) fn dev_tlb_all(dev: &Dev, pasid: u32) -> [u64; 4] {
        let sid = dev.info.rid.source_id();
        // S=1 with every address bit below 63 set: the whole address space.
        let all = (1u64 << 51) - 1;
        if pasid == RID_PASID {
            DevTlbInv {
                qw0: DevTlbInvQw0::new().with_sid(sid),
                qw1: DevTlbInvQw1::new().with_s(true).with_addr(all),
            }
            .to_words()
        } else {
            PDevTlbInv {
                qw0: PDevTlbInvQw0::new().with_sid(sid).with_pasid(pasid),
                qw1: PDevTlbInvQw1::new().with_s(true).with_addr(all),
            }
            .to_words()
        }
    }
}

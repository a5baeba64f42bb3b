//! The invalidations that follow a change of a domain's tables, as Linux's
//! `arm_smmu_tlb_inv_range_domain` builds them: by address (a range per command with
//! IDR3.RIL, else one command per granule) where the range is small enough, by ASID or VMID
//! otherwise, then — once those are complete — the ATCs of the devices using the domain.

use softiommu_core::{Domain, DomainKind, Result};
use softiommu_pgtable::formats::any::AnyFormat;
use softiommu_pgtable::formats::arm::Granule;

use crate::cmd::{
    CfgiCdAll, Command, TlbiDw0, TlbiDw1, TlbiNhAsid, TlbiNhVa, TlbiS2Ipa, TlbiS12Vmall,
};

use crate::ste::Eats;

use super::{SmmuDriver, State};

/// Invalidations by address beyond this many commands become ASID- or VMID-wide.
const MAX_TLBI_OPS: usize = 64;

/// The `TG` field of a range invalidation for `g`.
fn tg(g: Granule) -> u8 {
    match g {
        Granule::K4 => 1,
        Granule::K16 => 2,
        Granule::K64 => 3,
    }
}

/// The (DW0, DW1) pairs of invalidations by address covering `[start, end)` in a table of
/// granule `g`: ranges of (NUM+1)·2^SCALE granules with `ril` (TTL 0, never NUM = SCALE = 0),
/// else one per granule; `None` when that takes more than [`MAX_TLBI_OPS`] commands.
pub(super) fn by_address(
    start: u64,
    end: u64,
    g: Granule,
    ril: bool,
    leaf: bool,
) -> Option<Vec<(TlbiDw0, TlbiDw1)>> {
    let shift = g.shift();
    let mut addr = start >> shift << shift;
    let last = end.checked_add(g.size() - 1)? >> shift << shift;
    let mut pages = (last.saturating_sub(addr)) >> shift;
    if ril && pages & 31 == 1 {
        // A range of NUM = SCALE = 0 without a level is illegal: one more granule makes the
        // first command cover two or more (as Linux does).
        pages += 1;
    }
    let mut out = Vec::new();
    while pages > 0 {
        if out.len() == MAX_TLBI_OPS {
            return None;
        }
        let dw1 = TlbiDw1::new().with_leaf(leaf).with_addr(addr >> 12);
        if ril {
            let scale = pages.trailing_zeros().min(31);
            let num = (pages >> scale) & 31;
            let dw0 = TlbiDw0::new()
                .with_num((num - 1) as u8)
                .with_scale(scale as u8);
            out.push((dw0, dw1.with_tg(tg(g))));
            addr += num << (scale + u32::from(shift));
            pages -= num << scale;
        } else {
            out.push((TlbiDw0::new(), dw1));
            addr += g.size();
            pages -= 1;
        }
    }
    Some(out)
}

impl SmmuDriver {
    /// Submits `cmds`, invalidations of TLBs and ATCs: the TLBs' first, completed by their
    /// `CMD_SYNC`, then the ATCs' — an ATS Translation Request arriving in between would
    /// otherwise refill an ATC from a TLB entry about to go.
    pub(super) fn run_invalidations(&self, st: &mut State, cmds: &[Command]) -> Result<()> {
        let (atc, tlb): (Vec<Command>, Vec<Command>) =
            cmds.iter().partition(|c| matches!(c, Command::AtcInv(_)));
        let first = if tlb.is_empty() {
            Ok(())
        } else {
            self.run(st, &tlb)
        };
        let second = if atc.is_empty() {
            Ok(())
        } else {
            self.run(st, &atc)
        };
        first.and(second)
    }

    /// The commands that invalidate what this SMMU and the devices behind it cache of
    /// `domain` for `range` (all of it with `None`); none when the domain is not used here.
    pub(super) fn flush_cmds(
        &self,
        st: &State,
        domain: &Domain,
        range: Option<(u64, u64)>,
        tables_freed: bool,
    ) -> Vec<Command> {
        let id = domain.id();
        let (asid, vmid) = (st.asids.get(id), st.vmids.get(id));
        let leaf = !tables_freed;
        let ril = self.hw.idr3.ril();
        let granule_of = |f: Option<&AnyFormat>| match f {
            Some(AnyFormat::ArmS1(f)) => Some(f.config().granule),
            Some(AnyFormat::ArmS2(f)) => Some(f.config().granule),
            _ => None,
        };
        let granule = match domain.kind() {
            DomainKind::Sva(mm) => granule_of(Some(mm.format())),
            _ => domain.with_table(|t| granule_of(t.format())).ok().flatten(),
        };
        let ops = match (range, granule) {
            (Some((s, e)), Some(g)) if s < e => by_address(s, e, g, ril, leaf),
            _ => None,
        };
        let mut cmds = Vec::new();
        if let Some(asid) = asid {
            match &ops {
                Some(ops) => cmds.extend(ops.iter().map(|&(dw0, dw1)| {
                    let mut c = TlbiNhVa::new();
                    c.dw0 = dw0.with_opcode(TlbiNhVa::OPCODE).with_asid(asid);
                    c.dw1 = dw1;
                    Command::TlbiNhVa(c)
                })),
                None => {
                    let mut c = TlbiNhAsid::new();
                    c.dw0 = c.dw0.with_asid(asid);
                    cmds.push(Command::TlbiNhAsid(c));
                }
            }
        }
        if let Some(vmid) = vmid {
            let nested = matches!(domain.kind(), DomainKind::Nested(_));
            if nested {
                // The user's CD table may have changed too.
                for d in st.devices.values().filter(|d| d.rid.domain() == Some(id)) {
                    let mut c = CfgiCdAll::new();
                    c.dw0 = c.dw0.with_sid(d.sid);
                    cmds.push(Command::CfgiCdAll(c));
                }
            }
            match (&ops, nested) {
                (Some(ops), false) => cmds.extend(ops.iter().map(|&(dw0, dw1)| {
                    let mut c = TlbiS2Ipa::new();
                    c.dw0 = dw0.with_opcode(TlbiS2Ipa::OPCODE).with_vmid(vmid);
                    c.dw1 = dw1;
                    Command::TlbiS2Ipa(c)
                })),
                _ => {
                    let mut c = TlbiS12Vmall::new();
                    c.dw0 = c.dw0.with_vmid(vmid);
                    cmds.push(Command::TlbiS12Vmall(c));
                }
            }
        }
        if asid.is_none() && vmid.is_none() {
            return cmds;
        }
        // The ATCs of devices whose STE lets them use ATS (a nested STE only where its user
        // asked for it).
        for d in st
            .devices
            .values()
            .filter(|d| d.ats && d.ste.dw1.eats() == Eats::Full)
        {
            if d.rid.domain() == Some(id) {
                cmds.push(Self::atc_inv(d.sid, None));
            }
            for (&p, prog) in &d.pasids {
                if prog.domain() == Some(id) {
                    cmds.push(Self::atc_inv(d.sid, Some(p)));
                }
            }
        }
        cmds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The granules `[start, end)` touches.
    fn granules(start: u64, end: u64, g: Granule) -> std::ops::Range<u64> {
        (start >> g.shift())..end.div_ceil(g.size())
    }

    proptest! {
        #[test]
        fn invalidations_cover_the_range_and_at_most_one_granule_more(
            start in 0u64..1 << 30,
            len in 1u64..1 << 22,
            ril: bool,
            gi in 0usize..3,
        ) {
            let g = [Granule::K4, Granule::K16, Granule::K64][gi];
            let end = start + len;
            let Some(ops) = by_address(start, end, g, ril, true) else {
                // Only ranges too long for the command budget are left to an ASID-wide one.
                prop_assert!(!ril || granules(start, end, g).count() > MAX_TLBI_OPS);
                return Ok(());
            };
            let mut covered = Vec::new();
            for (dw0, dw1) in ops {
                let first = dw1.address() >> g.shift();
                let n = if ril {
                    prop_assert_eq!(dw1.tg(), tg(g));
                    prop_assert!((dw0.num(), dw0.scale()) != (0, 0));
                    (u64::from(dw0.num()) + 1) << dw0.scale()
                } else {
                    1
                };
                covered.extend(first..first + n);
            }
            let want: Vec<u64> = granules(start, end, g).collect();
            prop_assert!(want.iter().all(|p| covered.contains(p)));
            prop_assert!(covered.len() <= want.len() + 1);
        }
    }

    #[test]
    fn ranges_cover_exactly_what_was_asked() {
        // 16 pages of 4 KiB: one range command of NUM=0, SCALE=4 with RIL.
        let r = by_address(0x10000, 0x20000, Granule::K4, true, true).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].0.num(), r[0].0.scale(), r[0].1.tg()), (0, 4, 1));
        // 3 pages: NUM=2, SCALE=0.
        let r = by_address(0x3000, 0x6000, Granule::K4, true, false).unwrap();
        assert_eq!((r.len(), r[0].0.num(), r[0].0.scale()), (1, 2, 0));
        // 1 or 33 pages: one more, so that no command has NUM = SCALE = 0.
        let r = by_address(0x3000, 0x4000, Granule::K4, true, false).unwrap();
        assert_eq!((r.len(), r[0].0.num(), r[0].0.scale()), (1, 0, 1));
        let r = by_address(0, 33 << 12, Granule::K4, true, false).unwrap();
        assert!(r.iter().all(|(d0, _)| (d0.num(), d0.scale()) != (0, 0)));
        // Without RIL, one per page.
        let r = by_address(0x3000, 0x6000, Granule::K4, false, true).unwrap();
        let addrs: Vec<u64> = r.iter().map(|x| x.1.address()).collect();
        assert_eq!(addrs, vec![0x3000, 0x4000, 0x5000]);
        // Too many: none.
        assert!(by_address(0, 1 << 30, Granule::K4, false, true).is_none());
    }
}

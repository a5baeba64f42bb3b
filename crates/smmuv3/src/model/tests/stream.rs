//! The stream configurations stage-1 misses start from: kept until a configuration
//! invalidation reaches their stream, and never the source of an event.

use softiommu_pgtable::Prot;

use super::*;
use crate::cd::L1Cd;
use crate::ste::S1Fmt;

use InvalidationScope as S;

const VA: u64 = 0x4000_0000;
const OLD: u64 = 0x100_0000;
const NEW: u64 = 0x180_0000;

/// A rig whose stream `SID` (substreams on, through a two-level CD table, when `ssid`) reads
/// VA at OLD, and the CD it uses, ready to be pointed at a table that maps VA at NEW.
fn warm(ssid: Option<u32>) -> (Rig, u64, PageTable<ArmS1, Mem>) {
    let rig = Rig::new();
    let mut old = rig.s1();
    old.map(VA, OLD, 0x1000, Prot::RW).unwrap();
    let mut new = rig.s1();
    new.map(VA, NEW, 0x1000, Prot::RW).unwrap();
    let cd = match ssid {
        None => rig.s1_stream(SID, &old, 1),
        Some(s) => {
            let (l1, leaf) = (rig.page(), rig.page());
            L1Cd::for_table(leaf).write(&*rig.mem, l1).unwrap();
            let cd = leaf + u64::from(s) * 64;
            rig.set_cd(cd, &cd_for(old.format(), old.root(), 1));
            let mut ste = s1_ste(l1);
            ste.dw0 = ste.dw0.with_s1cdmax(8).with_s1fmt(S1Fmt::TwoLevel4K);
            rig.set_ste(SID, &ste);
            cd
        }
    };
    // Two misses: the first resolves the STE and CD, the second starts from what it kept.
    assert_eq!(read(&rig, ssid), Ok(OLD));
    rig.unit.invalidate(S::NsnhAll);
    assert_eq!(read(&rig, ssid), Ok(OLD));
    (rig, cd, new)
}

fn read(rig: &Rig, ssid: Option<u32>) -> Result<u64, Fault> {
    rig.translate(SID, ssid, VA, Access::READ).map(|t| t.pa)
}

/// The CD at `cd` now points at `new` (same ASID), and the TLB is emptied: a miss that
/// still reads OLD used the configuration kept from before.
fn change_cd(rig: &Rig, cd: u64, new: &PageTable<ArmS1, Mem>) {
    rig.set_cd(cd, &cd_for(new.format(), new.root(), 1));
    rig.unit.invalidate(S::NsnhAll);
}

#[test]
fn a_changed_cd_is_seen_after_each_configuration_invalidation_and_not_before() {
    let scopes = [
        (
            None,
            S::Ste {
                sid: SID,
                leaf: true,
            },
        ),
        (
            None,
            S::Ste {
                sid: SID,
                leaf: false,
            },
        ),
        (
            None,
            S::SteRange {
                sid: SID & !3,
                range: 1,
            },
        ),
        (
            None,
            S::Cd {
                sid: SID,
                ssid: 0,
                leaf: true,
            },
        ),
        (None, S::CdAll { sid: SID }),
        (None, S::All),
        (
            Some(3),
            S::Cd {
                sid: SID,
                ssid: 3,
                leaf: true,
            },
        ),
        (Some(3), S::CdAll { sid: SID }),
        (
            Some(3),
            S::Ste {
                sid: SID,
                leaf: true,
            },
        ),
    ];
    for (ssid, scope) in scopes {
        let (rig, cd, new) = warm(ssid);
        change_cd(&rig, cd, &new);
        assert_eq!(read(&rig, ssid), Ok(OLD), "{scope:?}: before");
        rig.unit.invalidate(scope);
        assert_eq!(read(&rig, ssid), Ok(NEW), "{scope:?}: after");
    }
}

#[test]
fn invalidations_of_other_streams_and_substreams_keep_the_configuration() {
    for (ssid, scope) in [
        (
            None,
            S::Ste {
                sid: SID + 1,
                leaf: true,
            },
        ),
        (None, S::CdAll { sid: SID + 1 }),
        (
            Some(3),
            S::Cd {
                sid: SID,
                ssid: 4,
                leaf: true,
            },
        ),
        (Some(3), S::NhAll { vmid: 0 }),
    ] {
        let (rig, cd, new) = warm(ssid);
        change_cd(&rig, cd, &new);
        rig.unit.invalidate(scope);
        assert_eq!(read(&rig, ssid), Ok(OLD), "{scope:?}");
    }
}

#[test]
fn a_fault_after_a_kept_configuration_carries_every_field() {
    let (rig, _, _) = warm(None);
    let unmapped = VA + 0x20_0000;
    let e = rig.read_event(SID, None, unmapped);
    assert_eq!((e.id, e.sid, e.addr), (EventId::Translation, SID, unmapped));
    assert!(!e.s2 && e.rnw);
    // A write to a read-only page: a Permission fault, and the read still hits.
    let write = rig.translate(SID, None, VA, Access::WRITE);
    assert!(write.is_ok());
    let mut ro = rig.s1();
    ro.map(VA, OLD, 0x1000, Prot::READ).unwrap();
    let at = rig.s1_stream(SID + 1, &ro, 2);
    assert!(at != 0);
    assert_eq!(rig.read(SID + 1, VA), Ok(OLD));
    rig.unit.invalidate(S::NsnhAll);
    let e = event(rig.translate(SID + 1, None, VA, Access::WRITE));
    assert_eq!(
        (e.id, e.sid, e.addr, e.rnw),
        (EventId::Permission, SID + 1, VA, false)
    );
}

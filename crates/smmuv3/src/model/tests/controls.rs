//! The CD and STE controls of a translation: fault recording, stalls and termination,
//! privilege, PAN and WXN, hardware Access flag and dirty updates, AFFD.

use softiommu_pgtable::Prot;

use super::configs::identity_s2;
use super::events::leaf_at;
use super::*;
use crate::ste::Eats;

const READ: Access = Access::READ;
const WRITE: Access = Access::WRITE;

/// A stage-1 stream at `SID` whose CD `edit` changed, over a table mapping 0x4000_0000 to
/// 0x100_0000 read-write (user), 0x4000_1000 to 0x100_1000 read-write privileged-only, and
/// 0x4000_2000 to 0x100_2000 read-only and not executable.
fn stream(
    caps: ModelCaps,
    cfg: ArmS1Config,
    edit: impl Fn(Cd) -> Cd,
) -> (Rig, PageTable<ArmS1, Mem>) {
    let rig = Rig::with_caps(caps);
    let mut t = rig.s1_with(cfg);
    t.map(0x4000_0000, 0x100_0000, 0x1000, Prot::RW).unwrap();
    t.map(0x4000_1000, 0x100_1000, 0x1000, Prot::RW | Prot::PRIV)
        .unwrap();
    t.map(0x4000_2000, 0x100_2000, 0x1000, Prot::READ | Prot::NOEXEC)
        .unwrap();
    let at = rig.page();
    rig.set_cd(at, &edit(cd_for(t.format(), t.root(), 1)));
    rig.set_ste(SID, &s1_ste(at));
    (rig, t)
}

fn plain(edit: impl Fn(Cd) -> Cd) -> (Rig, PageTable<ArmS1, Mem>) {
    stream(ModelCaps::default(), ArmS1Config::default(), edit)
}

#[test]
fn cd_r_s_and_a_decide_recording_stalling_and_termination() {
    let (rig, _t) = plain(|mut cd| {
        cd.dw0 = cd.dw0.with_r(false);
        cd
    });
    let f = rig.translate(SID, None, 0x5000_0000, READ).unwrap_err();
    assert_eq!(f.id(), Some(EventId::Translation));
    assert!(!f.record && f.abort && f.stalled().is_none());
    // Configuration errors are recorded whatever R says.
    assert!(rig.translate(SID, Some(1), 0, READ).unwrap_err().record);
    // S=1: the request stalls, the event is recorded with Stall and a fresh STAG.
    let (rig, _t) = plain(|mut cd| {
        cd.dw0 = cd.dw0.with_r(false).with_s(true);
        cd
    });
    let a = rig.translate(SID, None, 0x5000_0000, READ).unwrap_err();
    let b = rig.translate(SID, None, 0x5000_0000, READ).unwrap_err();
    assert!(a.record && a.stalled().is_some() && a.stalled() != b.stalled());
    let w = a.event.unwrap().encode();
    assert_ne!(w[1] & (1 << 31), 0, "Stall");
    // A=0 (where terminating as RAZ/WI is supported): no abort for the device.
    let raz = ModelCaps {
        term_abort: false,
        ..ModelCaps::default()
    };
    let (rig, _t) = stream(raz, ArmS1Config::default(), |mut cd| {
        cd.dw0 = cd.dw0.with_a(false);
        cd
    });
    let f = rig.translate(SID, None, 0x5000_0000, WRITE).unwrap_err();
    assert!(f.record && !f.abort);
}

#[test]
fn ste_s2r_and_s2s_decide_for_stage2_faults() {
    let rig = Rig::new();
    let s2 = identity_s2(&rig);
    let mut ste = with_s2(
        Ste::with_config(SteConfig::S2Translate),
        s2.format(),
        s2.root(),
        1,
    );
    ste.dw2 = ste.dw2.with_s2r(false);
    rig.set_ste(SID, &ste);
    let f = rig.translate(SID, None, 0x8000_0000, READ).unwrap_err();
    assert!(!f.record && f.event.unwrap().s2);
    ste.dw2 = ste.dw2.with_s2s(true);
    rig.set_ste(SID + 1, &ste);
    let f = rig.translate(SID + 1, None, 0x8000_0000, READ).unwrap_err();
    assert!(f.record && f.stalled().is_some());
    // A translation request never stalls and is not recorded.
    let tr = Request {
        kind: RequestKind::TranslationRequest,
        ..Request::new(SID + 1, None, 0x8000_0000, READ)
    };
    let mut full = ste;
    full.dw1 = full.dw1.with_eats(Eats::Full);
    full.dw2 = full.dw2.with_s2s(false);
    rig.set_ste(SID + 1, &full);
    rig.unit.invalidate(InvalidationScope::All);
    let f = rig.unit.translate(tr).unwrap_err();
    assert!(!f.record && f.stalled().is_none());
    assert_eq!(
        rig.unit
            .translate(Request { addr: 0x1000, ..tr })
            .unwrap()
            .pa,
        0x1000
    );
}

#[test]
fn privilege_pan_and_wxn_refine_stage1_rights() {
    let (rig, _t) = plain(|cd| cd);
    let privileged = READ.privileged();
    assert_eq!(
        id(rig.translate(SID, None, 0x4000_1000, READ)),
        EventId::Permission
    );
    assert_eq!(
        rig.translate(SID, None, 0x4000_1000, privileged)
            .unwrap()
            .pa,
        0x100_1000
    );
    // User-writable pages never execute for privileged requests; user ones may.
    let pfetch = FETCH.privileged();
    assert_eq!(
        id(rig.translate(SID, None, 0x4000_0000, pfetch)),
        EventId::Permission
    );
    assert!(rig.translate(SID, None, 0x4000_0000, FETCH).is_ok());
    assert_eq!(
        id(rig.translate(SID, None, 0x4000_2000, FETCH)),
        EventId::Permission
    );
    assert!(rig.translate(SID, None, 0x4000_0000, privileged).is_ok());
    // PAN: privileged data accesses to user-accessible pages fault, even on a TLB hit.
    let (rig, _t) = plain(|mut cd| {
        cd.dw0 = cd.dw0.with_pan(true);
        cd
    });
    assert!(rig.translate(SID, None, 0x4000_0000, READ).is_ok());
    assert_eq!(
        id(rig.translate(SID, None, 0x4000_0000, privileged)),
        EventId::Permission
    );
    assert!(rig.translate(SID, None, 0x4000_1000, privileged).is_ok());
    // WXN: writable pages do not execute.
    let (rig, _t) = plain(|mut cd| {
        cd.dw0 = cd.dw0.with_wxn(true);
        cd
    });
    assert_eq!(
        id(rig.translate(SID, None, 0x4000_0000, FETCH)),
        EventId::Permission
    );
}

#[test]
fn hardware_updates_set_the_access_flag_and_dirty_state() {
    let cfg = ArmS1Config {
        ha: true,
        hd: true,
        ..ArmS1Config::default()
    };
    let (rig, t) = stream(ModelCaps::default(), cfg, |cd| cd);
    let leaf = leaf_at(&t, 0x4000_0000);
    let clean = rig.mem.load_u64(leaf).unwrap();
    assert_ne!(clean & (1 << 7), 0, "written clean: AP[2] set, DBM set");
    rig.mem.store_u64(leaf, clean & !(1 << 10)).unwrap();
    assert!(rig.translate(SID, None, 0x4000_0000, READ).is_ok());
    let read = rig.mem.load_u64(leaf).unwrap();
    assert_ne!(read & (1 << 10), 0, "AF set by the walk");
    assert_ne!(read & (1 << 7), 0, "still clean");
    // A write after a cached read walks again to mark the page dirty.
    assert!(rig.translate(SID, None, 0x4000_0000, WRITE).is_ok());
    assert_eq!(rig.mem.load_u64(leaf).unwrap() & (1 << 7), 0, "dirty");
    // Stage 2: S2HA/S2HD set AF and S2AP[1].
    let rig = Rig::new();
    let mut s2 = rig.s2_with(ArmS2Config {
        ha: true,
        hd: true,
        ..ArmS2Config::auto(Granule::K4, 40, 48).unwrap()
    });
    s2.map(0x8000_0000, 0x300_0000, 0x1000, Prot::RW).unwrap();
    let leaf = leaf_at(&s2, 0x8000_0000);
    let clean = rig.mem.load_u64(leaf).unwrap();
    rig.mem.store_u64(leaf, clean & !(1 << 10)).unwrap();
    let ste = with_s2(
        Ste::with_config(SteConfig::S2Translate),
        s2.format(),
        s2.root(),
        1,
    );
    rig.set_ste(SID, &ste);
    assert!(rig.translate(SID, None, 0x8000_0000, WRITE).is_ok());
    let v = rig.mem.load_u64(leaf).unwrap();
    assert_ne!(v & (1 << 10), 0);
    assert_ne!(v & (1 << 7), 0, "S2AP[1] set: dirty");
}

#[test]
fn affd_reads_a_clear_access_flag_as_set() {
    let (rig, t) = plain(|mut cd| {
        cd.dw0 = cd.dw0.with_affd(true);
        cd
    });
    let leaf = leaf_at(&t, 0x4000_0000);
    let pte = rig.mem.load_u64(leaf).unwrap();
    rig.mem.store_u64(leaf, pte & !(1 << 10)).unwrap();
    assert_eq!(rig.read(SID, 0x4000_0000), Ok(0x100_0000));
    assert_eq!(
        rig.mem.load_u64(leaf).unwrap() & (1 << 10),
        0,
        "not updated"
    );
}

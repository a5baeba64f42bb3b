//! Nested translation: faults at each stage and in each class, HTTU through stage 2, S2PTW.

use softiommu_pgtable::Prot;

use super::configs::identity_s2;
use super::events::leaf_at;
use super::*;
use crate::event::EventClass;
use crate::ste::S1Dss;

const READ: Access = Access::READ;

/// A nested stream at `SID` (VMID 4, ASID 9): the identity stage 2 of
/// [`identity_s2`], a stage-1 table mapping VA 0x1_0000_0000 to IPA 0x1000_1000 (PA
/// 0x200_1000) read-write and VA 0x1_0000_1000 to IPA 0x3000_0000 (not mapped at stage 2).
struct Nest {
    rig: Rig,
    s1: PageTable<ArmS1, Mem>,
    s2: PageTable<ArmS2, Mem>,
    cd: u64,
    ste: Ste,
}

impl Nest {
    fn new() -> Nest {
        Nest::with_s1(ArmS1Config::default())
    }

    fn with_s1(cfg: ArmS1Config) -> Nest {
        let rig = Rig::new();
        let s2 = identity_s2(&rig);
        let mut s1 = rig.s1_with(cfg);
        s1.map(0x1_0000_0000, 0x1000_1000, 0x1000, Prot::RW)
            .unwrap();
        s1.map(0x1_0000_1000, 0x3000_0000, 0x1000, Prot::RW)
            .unwrap();
        let cd = rig.page();
        rig.set_cd(cd, &cd_for(s1.format(), s1.root(), 9));
        let ste = nested_ste(cd, &s2, 4);
        rig.set_ste(SID, &ste);
        Nest {
            rig,
            s1,
            s2,
            cd,
            ste,
        }
    }

    fn event(&self, addr: u64, access: Access) -> Event {
        event(self.rig.translate(SID, None, addr, access))
    }
}

#[test]
fn a_stage2_fault_on_the_cd_fetch_is_class_cd() {
    let mut n = Nest::new();
    n.s2.unmap(n.cd, 0x1000).unwrap();
    let e = n.event(0x1_0000_0000, READ);
    assert_eq!(
        (e.id, e.s2, e.class, e.ipa, e.addr),
        (
            EventId::Translation,
            true,
            EventClass::Cd,
            n.cd,
            0x1_0000_0000
        )
    );
}

#[test]
fn a_stage2_fault_on_a_stage1_table_is_class_tt() {
    let mut n = Nest::new();
    n.s2.unmap(n.s1.root(), 0x1000).unwrap();
    let e = n.event(0x1_0000_0000, READ);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::Translation, true, EventClass::Tt)
    );
    // The IPA of the level-0 descriptor: entry 0 of the root.
    assert_eq!(e.ipa, n.s1.root());
    assert!(e.tt_read, "the descriptor access was a read");
}

#[test]
fn a_stage2_fault_on_the_stage1_output_is_class_in() {
    let n = Nest::new();
    let e = n.event(0x1_0000_1234, Access::WRITE);
    assert_eq!(
        (e.id, e.s2, e.class, e.ipa),
        (EventId::Translation, true, EventClass::In, 0x3000_0234)
    );
    assert_eq!(e.encode()[3], 0x3000_0000, "IPA[55:12] in DW3");
    // Stage-2 faults follow STE.S2R.
    let mut ste = n.ste;
    ste.dw2 = ste.dw2.with_s2r(false);
    n.rig.set_ste(SID, &ste);
    n.rig.unit.invalidate(InvalidationScope::All);
    let f = n.rig.translate(SID, None, 0x1_0000_1234, READ).unwrap_err();
    assert!(!f.record && f.abort);
}

#[test]
fn a_stage1_fault_under_nesting_is_stage1() {
    let n = Nest::new();
    let e = n.event(0x1_0000_5000, READ);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::Translation, false, EventClass::In)
    );
    // An unprivileged fetch from the read-write page is allowed at both stages.
    let t = n.rig.translate(SID, None, 0x1_0000_0000, FETCH).unwrap();
    assert_eq!(t.pa, 0x200_1000);
}

#[test]
fn a_stage1_access_flag_update_needs_stage2_write_rights() {
    let mut n = Nest::with_s1(ArmS1Config {
        ha: true,
        ..ArmS1Config::default()
    });
    let leaf = leaf_at(&n.s1, 0x1_0000_0000);
    let pte = n.rig.mem.load_u64(leaf).unwrap();
    n.rig.mem.store_u64(leaf, pte & !(1 << 10)).unwrap();
    // The leaf table is read-only at stage 2.
    let table = leaf & !0xfff;
    n.s2.unmap(table, 0x1000).unwrap();
    n.s2.map(table, table, 0x1000, Prot::READ).unwrap();
    let e = n.event(0x1_0000_0000, READ);
    assert_eq!(
        (e.id, e.s2, e.class, e.tt_read),
        (EventId::Permission, true, EventClass::Tt, false)
    );
    assert_eq!(e.ipa, leaf);
    assert_eq!(e.encode()[1] & (1 << 44), 0, "TTRnW=0: the write faulted");
    // Writable again: the walk sets AF through stage 2.
    n.s2.unmap(table, 0x1000).unwrap();
    n.s2.map(table, table, 0x1000, Prot::RW).unwrap();
    n.rig
        .unit
        .invalidate(InvalidationScope::S12Vmall { vmid: 4 });
    assert_eq!(n.rig.read(SID, 0x1_0000_0000), Ok(0x200_1000));
    assert_ne!(n.rig.mem.load_u64(leaf).unwrap() & (1 << 10), 0);
}

#[test]
fn s2ptw_refuses_stage1_walks_to_device_memory() {
    let mut n = Nest::new();
    let root = n.s1.root();
    n.s2.unmap(root, 0x1000).unwrap();
    n.s2.map(root, root, 0x1000, Prot::RW | Prot::MMIO).unwrap();
    assert_eq!(
        n.rig.read(SID, 0x1_0000_0000),
        Ok(0x200_1000),
        "allowed without S2PTW"
    );
    let mut ste = n.ste;
    ste.dw2 = ste.dw2.with_s2ptw(true);
    n.rig.set_ste(SID, &ste);
    n.rig.unit.invalidate(InvalidationScope::All);
    n.rig.unit.invalidate(InvalidationScope::NsnhAll);
    let e = n.event(0x1_0000_0000, READ);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::Permission, true, EventClass::Tt)
    );
}

#[test]
fn walk_aborts_at_either_stage_are_f_walk_eabt() {
    // Stage 2's own table is not in memory: the first walk (the CD fetch) aborts.
    let n = Nest::new();
    let mut ste = n.ste.with_s2ttb(1 << 40);
    ste.dw2 = ste.dw2.with_s2t0sz(24).with_s2sl0(1);
    n.rig.set_ste(SID, &ste);
    n.rig.unit.invalidate(InvalidationScope::All);
    let e = n.event(0x1_0000_0000, READ);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::WalkEabt, true, EventClass::Cd)
    );
    assert_eq!(e.fetch_addr >> 12, 1 << 28);
    // A stage-1 table whose IPA stage 2 maps to no memory: stage 1, CLASS=TT, the PA.
    let mut n = Nest::new();
    let root = n.s1.root();
    n.s2.unmap(root, 0x1000).unwrap();
    n.s2.map(root, 1 << 40, 0x1000, Prot::RW).unwrap();
    let e = n.event(0x1_0000_0000, READ);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::WalkEabt, false, EventClass::Tt)
    );
    assert_eq!(e.fetch_addr, 1 << 40);
}

#[test]
fn s1dss_bypass_under_nesting_leaves_stage2_alone() {
    let n = Nest::new();
    let table = n.rig.page();
    n.rig
        .set_cd(table + 64, &cd_for(n.s1.format(), n.s1.root(), 9));
    let mut ste = n.ste.with_s1_context_ptr(table);
    ste.dw0 = ste.dw0.with_s1cdmax(4);
    ste.dw1 = ste.dw1.with_s1dss(S1Dss::Bypass);
    n.rig.set_ste(SID, &ste);
    n.rig.unit.invalidate(InvalidationScope::All);
    // Without a substream: IPA = input, through stage 2 only.
    assert_eq!(n.rig.read(SID, 0x1000_2345), Ok(0x200_2345));
    // With SubstreamID 1: both stages.
    let t = n.rig.translate(SID, Some(1), 0x1_0000_0010, READ).unwrap();
    assert_eq!(t.pa, 0x200_1010);
}

#[test]
fn translation_requests_get_the_stage1_output_under_split_stage_ats() {
    let n = Nest::new();
    let mut ste = n.ste;
    ste.dw1 = ste.dw1.with_eats(crate::ste::Eats::Split);
    n.rig.set_ste(SID, &ste);
    n.rig.unit.invalidate(InvalidationScope::All);
    let tr = Request {
        kind: RequestKind::TranslationRequest,
        ..Request::new(SID, None, 0x1_0000_0040, READ)
    };
    // Split stage needs CR0.ATSCHK; without it EATS behaves as 00.
    assert_eq!(id(n.rig.unit.translate(tr)), EventId::BadAtsTreq);
    n.rig.unit.set_ats_check(true);
    assert_eq!(n.rig.unit.translate(tr).unwrap().pa, 0x1000_1040);
    // Translated traffic then carries IPAs through stage 2.
    let t = Request {
        kind: RequestKind::Translated,
        ..tr
    };
    let out = n.rig.unit.translate(Request {
        addr: 0x1000_1040,
        ..t
    });
    assert_eq!(out.unwrap().pa, 0x200_1040);
    // A translation request's fault is answered, not recorded.
    let f = n
        .rig
        .unit
        .translate(Request {
            addr: 0x1_0000_7000,
            ..tr
        })
        .unwrap_err();
    assert_eq!(f.id(), Some(EventId::Translation));
    assert!(!f.record);
}

#[test]
fn stage2_faults_of_each_kind_on_the_stage1_output() {
    let mut n = Nest::new();
    // Read-only at stage 2: a write is a stage-2 permission fault on the output.
    n.s2.unmap(0x1000_1000, 0x1000).unwrap();
    n.s2.map(0x1000_1000, 0x200_1000, 0x1000, Prot::READ)
        .unwrap();
    let e = n.event(0x1_0000_0000, Access::WRITE);
    assert_eq!(
        (e.id, e.s2, e.class, e.ipa),
        (EventId::Permission, true, EventClass::In, 0x1000_1000)
    );
    // AF clear at stage 2 without S2HA or S2AFFD: an access flag fault.
    let leaf = leaf_at(&n.s2, 0x1000_1000);
    let pte = n.rig.mem.load_u64(leaf).unwrap();
    n.rig.mem.store_u64(leaf, pte & !(1 << 10)).unwrap();
    n.rig
        .unit
        .invalidate(InvalidationScope::S12Vmall { vmid: 4 });
    assert_eq!(n.event(0x1_0000_0000, READ).id, EventId::Access);
    // S2AFFD reads it as set.
    let mut ste = n.ste;
    ste.dw2 = ste.dw2.with_s2affd(true);
    n.rig.set_ste(SID, &ste);
    n.rig.unit.invalidate(InvalidationScope::All);
    assert_eq!(n.rig.read(SID, 0x1_0000_0000), Ok(0x200_1000));
    // An output beyond the effective S2PS (32 bits here): a stage-2 address size fault.
    n.s2.map(0x3000_0000, 0x1_0000_0000, 0x1000, Prot::RW)
        .unwrap();
    ste.dw2 = ste.dw2.with_s2ps(0);
    n.rig.set_ste(SID, &ste);
    n.rig.unit.invalidate(InvalidationScope::All);
    n.rig
        .unit
        .invalidate(InvalidationScope::S12Vmall { vmid: 4 });
    let e = n.event(0x1_0000_1000, READ);
    assert_eq!(
        (e.id, e.s2, e.class),
        (EventId::AddrSize, true, EventClass::In)
    );
}

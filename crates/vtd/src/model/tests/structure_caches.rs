//! The structure caches (context, PASID, and the steer cache derived from both) against a
//! model of what the specification lets each hold: an entry stays until an invalidation that
//! reaches it, whatever software wrote to memory since.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

/// Output page of address 0 through each of the two second-stage tables.
const OUT: [u64; 2] = [0x10_0000, 0x20_0000];
/// Another source ID on the same bus (its context entry is not present).
const OTHER_SID: u16 = SID + 1;

/// Where the context entry of `SID` is.
fn context_at(rig: &Rig) -> u64 {
    let root =
        ScalableRootEntry::read(&*rig.mem, rig.unit_root() + u64::from(SID >> 8) * 16).unwrap();
    root.context_entry_address(SID as u8).unwrap()
}

fn set_paside(rig: &Rig, on: bool) {
    let at = context_at(rig);
    let mut c = ContextEntry::read(&*rig.mem, at).unwrap();
    c.qw0 = c.qw0.with_paside(on);
    c.write(&*rig.mem, at).unwrap();
}

/// One step of a scenario.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Software writes PASID entry `pasid`: second stage through table `table` (none: not
    /// present), domain `did`.
    SetPasid {
        pasid: u32,
        table: Option<usize>,
        did: u16,
    },
    /// Software turns the context entry's PASIDE on or off.
    SetPaside(bool),
    /// Context-cache invalidation: one source ID, or all.
    InvalidateContext(Option<u16>),
    /// PASID-cache invalidation: all, a domain, or a domain's PASID.
    InvalidatePasid(Option<u16>, Option<u32>),
    /// A read of address 0 with or without PASID 8 (the IOTLB emptied first, so that the
    /// structure caches answer).
    Translate(Option<u32>),
}

fn op() -> impl Strategy<Value = Op> {
    let pasid = prop_oneof![Just(0u32), Just(8u32)];
    let did = prop_oneof![Just(4u16), Just(5u16)];
    prop_oneof![
        (pasid.clone(), proptest::option::of(0usize..2), did.clone())
            .prop_map(|(pasid, table, did)| Op::SetPasid { pasid, table, did }),
        any::<bool>().prop_map(Op::SetPaside),
        proptest::option::of(prop_oneof![Just(SID), Just(OTHER_SID)])
            .prop_map(Op::InvalidateContext),
        (proptest::option::of(did), proptest::option::of(pasid))
            .prop_map(|(d, p)| Op::InvalidatePasid(d, p)),
        proptest::option::of(Just(8u32)).prop_map(Op::Translate),
    ]
}

/// What the specification lets the caches hold: the context entry of `SID` and the PASID
/// entries by PASID, each from the time it was read until an invalidation reached it.
#[derive(Default)]
struct Reference {
    /// PASIDE of the cached context entry.
    context: Option<bool>,
    /// (table, domain) of each cached PASID entry.
    pasid: HashMap<u32, (usize, u16)>,
}

impl Reference {
    fn translate(
        &mut self,
        memory_paside: bool,
        memory: &HashMap<u32, Option<(usize, u16)>>,
        pasid: Option<u32>,
    ) -> Result<u64, FaultReason> {
        let paside = *self.context.get_or_insert(memory_paside);
        if pasid.is_some() && !paside {
            return Err(FaultReason::Sct6);
        }
        let p = pasid.unwrap_or(0);
        let (table, _) = match self.pasid.get(&p) {
            Some(e) => *e,
            None => {
                let e = memory.get(&p).copied().flatten().ok_or(FaultReason::Spt2)?;
                self.pasid.insert(p, e);
                e
            }
        };
        Ok(OUT[table])
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn structure_caches_hold_what_was_not_invalidated(ops in proptest::collection::vec(op(), 1..40)) {
        let rig = Rig::new();
        let tables: Vec<_> = OUT
            .iter()
            .map(|&out| {
                let mut t = rig.ss_table(false);
                t.map(0, out, 0x1000, Prot::RW).unwrap();
                t
            })
            .collect();
        let mut memory: HashMap<u32, Option<(usize, u16)>> = HashMap::new();
        let mut memory_paside = true;
        let mut reference = Reference::default();
        for op in ops {
            match op {
                Op::SetPasid { pasid, table, did } => {
                    let e = match table {
                        Some(t) => ss_entry(tables[t].root(), did),
                        None => PasidEntry::default(),
                    };
                    rig.set_pasid(pasid, e);
                    memory.insert(pasid, table.map(|t| (t, did)));
                }
                Op::SetPaside(on) => {
                    set_paside(&rig, on);
                    memory_paside = on;
                }
                Op::InvalidateContext(sid) => {
                    rig.unit.caches().invalidate_context(sid);
                    if sid.is_none_or(|s| s == SID) {
                        reference.context = None;
                    }
                }
                Op::InvalidatePasid(did, pasid) => {
                    rig.unit.caches().invalidate_pasid(did, pasid);
                    reference.pasid.retain(|p, (_, d)| {
                        !(did.is_none_or(|x| x == *d) && pasid.is_none_or(|x| x == *p))
                    });
                }
                Op::Translate(pasid) => {
                    rig.unit.caches().invalidate_iotlb(IotlbScope::Global);
                    let got = rig
                        .unit
                        .translate(req(pasid, 0, Access::READ))
                        .map(|t| t.pa)
                        .map_err(|f| f.reason);
                    let want = reference.translate(memory_paside, &memory, pasid);
                    prop_assert_eq!(got, want, "after {:?}", op);
                }
            }
        }
    }
}

#[test]
fn a_root_table_pointer_drops_every_cached_structure() {
    let rig = Rig::new();
    let mut ss = rig.ss_table(false);
    ss.map(0, OUT[0], 0x1000, Prot::RW).unwrap();
    rig.set_pasid(8, ss_entry(ss.root(), 4));
    let read = || rig.unit.translate(req(Some(8), 0, Access::READ));
    assert_eq!(read().unwrap().pa, OUT[0]);
    // The entry goes away in memory; the caches keep it until SRTP is written again.
    rig.set_pasid(8, PasidEntry::default());
    rig.unit.caches().invalidate_iotlb(IotlbScope::Global);
    assert_eq!(read().unwrap().pa, OUT[0]);
    rig.unit.set_root_table(rig.unit_root());
    assert_eq!(reason(read()), FaultReason::Spt2);
}

#[test]
fn a_cached_read_leaves_a_write_to_walk_and_set_dirty() {
    let rig = Rig::new();
    let mut fs = rig.fs_table();
    fs.map(0x40_0000, 0x80_0000, 0x1000, Prot::RW).unwrap();
    rig.set_pasid(5, fs_entry(fs.root(), 9, false));
    let leaf = fs.trace(0x40_0000).last().unwrap().entry_pa;
    let clear_dirty = || {
        let v = rig.mem.load_u64(leaf).unwrap();
        rig.mem.store_u64(leaf, v & !0x40).unwrap();
    };
    let dirty = || rig.mem.load_u64(leaf).unwrap() & 0x40 != 0;
    clear_dirty();
    let t = rig
        .unit
        .translate(req(Some(5), 0x40_0010, Access::READ))
        .unwrap();
    assert_eq!(t.pa, 0x80_0010);
    assert!(
        t.perm.allows(Access::WRITE),
        "the translation grants writes"
    );
    assert!(!dirty(), "a read leaves Dirty clear");
    // The IOTLB entry of the read may not serve the write: it walks and sets Dirty.
    let t = rig.unit.translate(req(Some(5), 0x40_0020, Access::WRITE));
    assert_eq!(t.unwrap().pa, 0x80_0020);
    assert!(dirty());
    // Now a write hits: Dirty cleared behind the IOTLB's back is not set again.
    clear_dirty();
    rig.unit
        .translate(req(Some(5), 0x40_0030, Access::WRITE))
        .unwrap();
    assert!(!dirty(), "the second write hit the IOTLB");
}

use proptest::prelude::*;
use softiommu_mem::{AddressSpace, RamArena};

use crate::formats::arm::{
    AF, DBM, Granule, S1_AP_RDONLY, S1_AP_TABLE_NO_EL0, S1_AP_TABLE_RDONLY, S1_AP_UNPRIV, S1_PXN,
    S1_PXN_TABLE, S1_UXN, S1_UXN_TABLE,
};
use crate::formats::arm_s1::{ArmS1, ArmS1Config};
use crate::prot::Access;
use crate::walk;

/// Tables of a walk: one per level, at 64 KiB × (level + 1) (aligned for every granule).
const TABLES: u64 = 0x1_0000;

/// Memory holding one chain of tables whose entries for `va` are `ptes`.
fn chain(ptes: &[u64], va: u64, f: &ArmS1) -> RamArena {
    let mem = RamArena::new(0, 1 << 20).unwrap();
    for (i, pte) in ptes.iter().enumerate() {
        let at = TABLES * (i as u64 + 1) + f.geo.index(i, va) as u64 * 8;
        mem.store_u64(at, *pte).unwrap();
    }
    mem
}

/// A descriptor for level `i` of `depth`: a table pointing at the next table, or a leaf
/// (page or block), or raw bits, with the attribute bits `attrs`.
fn pte(kind: u8, i: usize, depth: usize, attrs: u64, raw: u64) -> u64 {
    let next = TABLES * (i as u64 + 2);
    match kind % 4 {
        0 if i + 1 < depth => next | 0b11 | attrs,
        0 | 1 => 0x40_0000_0000 | if i + 1 == depth { 0b11 } else { 0b01 } | attrs,
        2 => raw,
        _ => next | 0b11 | attrs,
    }
}

fn attrs() -> impl Strategy<Value = u64> {
    let bits = [
        AF,
        DBM,
        S1_AP_RDONLY,
        S1_AP_UNPRIV,
        S1_PXN,
        S1_UXN,
        S1_PXN_TABLE,
        S1_UXN_TABLE,
        S1_AP_TABLE_NO_EL0,
        S1_AP_TABLE_RDONLY,
        1 << 47,
    ];
    proptest::collection::vec(any::<bool>(), bits.len()).prop_map(move |on| {
        on.iter()
            .zip(bits)
            .filter(|(o, _)| **o)
            .fold(0, |a, (_, b)| a | b)
    })
}

fn access() -> impl Strategy<Value = Access> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(write, exec, privileged)| Access {
        write,
        exec: exec && !write,
        privileged,
    })
}

proptest! {
    /// The specialised walk answers as the shared walker does over the same format —
    /// result or fault — and leaves the same descriptors behind.
    #[test]
    fn matches_the_shared_walker(
        granule in prop_oneof![Just(Granule::K4), Just(Granule::K16), Just(Granule::K64)],
        ia in prop_oneof![Just(48u8), Just(39), Just(30)],
        oa in prop_oneof![Just(48u8), Just(36)],
        ha: bool, hd: bool,
        kinds in proptest::collection::vec(0u8..4, 4),
        attrs in proptest::collection::vec(attrs(), 4),
        raws in proptest::collection::vec(any::<u64>(), 4),
        va in any::<u64>(),
        access in access(),
    ) {
        let f = ArmS1::new(ArmS1Config {
            granule,
            ia_bits: ia,
            oa_bits: oa,
            ha,
            hd,
        })
        .unwrap();
        let depth = f.geo.depth();
        let va = va & ((1u64 << ia) - 1);
        let ptes: Vec<u64> = (0..depth)
            .map(|i| pte(kinds[i], i, depth, attrs[i], raws[i]))
            .collect();
        let (a, b) = (chain(&ptes, va, &f), chain(&ptes, va, &f));
        let root = TABLES;
        let want = walk::translate(&f, &a, root, va, access);
        let got = f.translate(&b, root, va, access, false);
        prop_assert_eq!(got, want);
        for i in 0..depth {
            let at = TABLES * (i as u64 + 1) + f.geo.index(i, va) as u64 * 8;
            prop_assert_eq!(b.load_u64(at).unwrap(), a.load_u64(at).unwrap());
        }
    }
}

#[test]
fn affd_lets_a_leaf_without_the_access_flag_through() {
    let f = ArmS1::new(ArmS1Config::default()).unwrap();
    let va = 0x1234_5000;
    let ptes: Vec<u64> = (0..4).map(|i| pte(0, i, 4, S1_AP_UNPRIV, 0)).collect();
    let mem = chain(&ptes, va, &f);
    let fault = f
        .translate(&mem, TABLES, va, Access::READ, false)
        .unwrap_err();
    assert_eq!(fault.kind, walk::FaultKind::AccessFlag);
    assert_eq!((fault.level, fault.number), (3, 3));
    let t = f.translate(&mem, TABLES, va, Access::READ, true).unwrap();
    assert_eq!(
        (t.pa, t.page_size, t.level),
        (0x40_0000_0000 | (va & 0xfff), 0x1000, 3)
    );
}

proptest! {
    /// The rights the walk looks up are those the descriptors' bits give, level by level.
    #[test]
    fn looked_up_rights_are_the_descriptors_rights(above: u64, pte: u64, hd: bool) {
        let f = ArmS1::new(ArmS1Config { ha: true, hd, ..ArmS1Config::default() }).unwrap();
        let want = super::super::table_perm(above) & f.leaf_perm(pte);
        prop_assert_eq!(f.walk_perm(above, pte), want);
    }
}

/// Memory whose first compare-and-exchange finds the entry already changed to `now` by
/// someone else.
struct Racing {
    mem: RamArena,
    now: std::sync::Mutex<Option<u64>>,
}

impl AddressSpace for Racing {
    fn words(
        &self,
        pa: u64,
        count: usize,
    ) -> softiommu_mem::Result<&[std::sync::atomic::AtomicU64]> {
        self.mem.words(pa, count)
    }
    fn read(&self, pa: u64, buf: &mut [u8]) -> softiommu_mem::Result<()> {
        self.mem.read(pa, buf)
    }
    fn write(&self, pa: u64, buf: &[u8]) -> softiommu_mem::Result<()> {
        self.mem.write(pa, buf)
    }
    fn cmpxchg_u64(
        &self,
        pa: u64,
        current: u64,
        new: u64,
    ) -> softiommu_mem::Result<Result<u64, u64>> {
        if let Some(now) = self.now.lock().unwrap().take() {
            self.mem.store_u64(pa, now)?;
        }
        self.mem.cmpxchg_u64(pa, current, new)
    }
}

proptest! {
    /// A leaf changed under the walk's Access flag update — to another leaf, a table, or
    /// anything — is looked at again as the shared walker looks at it.
    #[test]
    fn a_raced_update_is_walked_as_the_shared_walker_walks_it(
        kind in 0u8..4, attrs in attrs(), raw: u64, write: bool,
    ) {
        let f = ArmS1::new(ArmS1Config { ha: true, hd: true, ..ArmS1Config::default() })
            .unwrap();
        let va = 0x1234_5000;
        // Level 2 holds a block without AF: the walk must set it, and loses the race to `now`.
        let mut ptes: Vec<u64> = (0..2).map(|i| pte(0, i, 4, 0, 0)).collect();
        ptes.push(0x4000_0000 | 0b01 | S1_AP_UNPRIV);
        ptes.push(pte(1, 3, 4, AF | S1_AP_UNPRIV, 0));
        let now = pte(kind, 2, 4, attrs, raw);
        let racing = || Racing { mem: chain(&ptes, va, &f), now: std::sync::Mutex::new(Some(now)) };
        let access = if write { Access::WRITE } else { Access::READ };
        let (a, b) = (racing(), racing());
        let want = walk::translate(&f, &a, TABLES, va, access);
        let got = f.translate(&b, TABLES, va, access, false);
        prop_assert_eq!(got, want);
    }
}

//! The access flag, and the Accessed and Dirty bits a walk writes back.

use super::*;

/// A read-only leaf with AF cleared by hand: without HA any access faults with AccessFlag,
/// a write too (AF comes before permission); with HA a read sets AF in memory.
fn access_flag<F: Format>(fmt: F, with_ha: F, shape: &Shape, page: u64) {
    let granule = 1u64 << shape.shifts[shape.depth() - 1];
    let last = shape.depth() - 1;
    let af = 1u64 << 10;
    let mut t = table(fmt);
    t.map(page, PA_BASE, granule, Prot::READ).unwrap();
    let leaf = leaf_entry(&t, page);
    let v = load(&t, leaf);
    assert_ne!(v & af, 0, "map sets AF");
    store(&t, leaf, v & !af);
    for access in [WRITE, READ, WRITE.privileged()] {
        assert_fault(&t, shape, page, access, FaultKind::AccessFlag, last, leaf);
    }
    assert_eq!(load(&t, leaf), v & !af, "no HA: AF stays clear");

    let mut t = table(with_ha);
    t.map(page, PA_BASE, granule, Prot::READ).unwrap();
    let leaf = leaf_entry(&t, page);
    let v = load(&t, leaf);
    store(&t, leaf, v & !af);
    // The write is still refused, by permission.
    assert_fault(&t, shape, page, WRITE, FaultKind::Permission, last, leaf);
    let tr = ok(&t, page + 8, READ);
    assert_eq!(tr.pa, PA_BASE + 8);
    assert_eq!(load(&t, leaf), v, "HA sets AF");
    assert_eq!(tr.pte, v);
}

#[test]
fn arm_leaf_without_access_flag_faults_before_permission_unless_hardware_sets_it() {
    for g in [Granule::K4, Granule::K16, Granule::K64] {
        let (shape, page) = match g {
            Granule::K4 => (ARM_4K_48, 0x2a5b_3c4d_5000),
            Granule::K16 => (ARM_16K_48, 0x2a5b_3c4d_4000),
            Granule::K64 => (ARM_64K_48, 0x2a5b_3c4d_0000),
        };
        let f = s1(g);
        let ha = s1_hw(&f, true, false);
        access_flag(f, ha, &shape, page);
    }
    for (f, shape, page) in [
        (s2_4k(), S2_4K_40, 0xab_3c4d_5000),
        (s2_16k(), S2_16K_47, 0x2a5b_3c4d_4000),
        (s2_64k(), S2_64K_42, 0x2b_3c4d_0000),
    ] {
        let ha = s2_hw(&f, true, false);
        access_flag(f, ha, &shape, page);
    }
}

// ---------------------------------------------------------------------------------------------
// Accessed and Dirty.

#[test]
fn x86_walk_sets_accessed_in_every_entry_and_dirty_in_the_leaf_only_on_write() {
    const A: u64 = 1 << 5;
    const D: u64 = 1 << 6;
    for levels in [4, 5] {
        let mut t = table(x86_with(X86Config {
            levels,
            dirty_tracking: true,
            ..X86Config::default()
        }));
        let page = 0x2a5b_3c4d_5000;
        let block = 0x2a5b_3c60_0000;
        t.map(page, PA_BASE, K4, Prot::RW).unwrap();
        t.map(block, PA_BASE + M2, M2, Prot::RW).unwrap();
        for iova in [page, block] {
            let p = path(&t, iova);
            let (leaf, tables) = p.split_last().unwrap();
            assert_eq!(load(&t, *leaf) & D, 0, "dirty tracking: leaves start clean");
            for &e in &p {
                let v = load(&t, e);
                store(&t, e, v & !A);
            }
            ok(&t, iova + 8, READ);
            for &e in &p {
                assert_ne!(load(&t, e) & A, 0, "A at {e:#x} after a read");
                assert_eq!(load(&t, e) & D, 0, "no D at {e:#x} after a read");
            }
            let tr = ok(&t, iova + 8, WRITE);
            assert_ne!(load(&t, *leaf) & D, 0, "D in the leaf after a write");
            assert_eq!(tr.pte, load(&t, *leaf));
            for &e in tables {
                assert_eq!(load(&t, e) & D, 0, "no D in a non-leaf entry");
                assert_ne!(load(&t, e) & A, 0);
            }
        }
        // A refused write sets no D.
        let ro = 0x2a5b_3c4d_6000;
        t.map(ro, PA_BASE + K4, K4, Prot::READ).unwrap();
        let leaf = leaf_entry(&t, ro);
        assert!(t.translate(ro, WRITE).is_err());
        assert_eq!(load(&t, leaf) & D, 0);
    }
}

#[test]
fn vtd_walk_sets_accessed_and_dirty_only_with_ad() {
    const A: u64 = 1 << 8;
    const D: u64 = 1 << 9;
    for levels in [3, 4, 5] {
        for ad in [true, false] {
            let mut t = table(vtd_with(VtdSsConfig {
                levels,
                ad,
                ..VtdSsConfig::default()
            }));
            let page = 0x5b_3c4d_5000;
            let block = 0x5b_3c60_0000;
            t.map(page, PA_BASE, K4, Prot::RW).unwrap();
            t.map(block, PA_BASE + M2, M2, Prot::RW).unwrap();
            for e in path(&t, page).into_iter().chain(path(&t, block)) {
                assert_eq!(load(&t, e) & (A | D), 0, "map writes no A or D");
            }
            for iova in [page, block] {
                let p = path(&t, iova);
                let before: Vec<u64> = loads(&t, &p);
                ok(&t, iova + 8, READ);
                for (&e, &v) in p.iter().zip(&before) {
                    let want = if ad { v | A } else { v };
                    assert_eq!(load(&t, e), want, "levels {levels} ad {ad} after a read");
                }
                ok(&t, iova + 8, WRITE);
                let last = p.len() - 1;
                for (k, (&e, &v)) in p.iter().zip(&before).enumerate() {
                    let want = match (ad, k == last) {
                        (false, _) => v,
                        (true, false) => v | A,
                        (true, true) => v | A | D,
                    };
                    assert_eq!(load(&t, e), want, "levels {levels} ad {ad} after a write");
                }
            }
        }
    }
}

#[test]
fn arm_s1_with_ha_and_hd_starts_writable_clean_and_a_write_clears_ap2() {
    const AP2: u64 = 1 << 7;
    const DBM: u64 = 1 << 51;
    for (g, shape, page, block) in [
        (Granule::K4, ARM_4K_48, 0x2a5b_3c4d_5000u64, M2),
        (Granule::K16, ARM_16K_48, 0x2a5b_3c4d_4000, M32),
        (Granule::K64, ARM_64K_48, 0x2a5b_3c4d_0000, M512),
    ] {
        let mut t = table(s1_hw(&s1(g), true, true));
        let granule = 1u64 << shape.shifts[shape.depth() - 1];
        t.map(page, PA_BASE, granule, Prot::RW).unwrap();
        t.map(block * 5, PA_BASE + block, block, Prot::RW).unwrap();
        for iova in [page, block * 5] {
            let p = path(&t, iova);
            let before: Vec<u64> = loads(&t, &p);
            let leaf = *before.last().unwrap();
            assert_eq!(
                leaf & (AP2 | DBM),
                AP2 | DBM,
                "writable-clean: AP[2] = 1, DBM = 1"
            );
            ok(&t, iova, READ);
            let now: Vec<u64> = loads(&t, &p);
            assert_eq!(now, before, "a read changes nothing");
            let tr = ok(&t, iova, WRITE);
            let now: Vec<u64> = loads(&t, &p);
            let last = p.len() - 1;
            assert_eq!(now[..last], before[..last], "tables are not touched");
            assert_eq!(now[last], leaf & !AP2, "a write clears AP[2] only");
            assert_eq!(tr.pte, leaf & !AP2);
        }
        // A read-only mapping has no DBM: a write faults and changes nothing.
        let ro = page + granule;
        t.map(ro, PA_BASE + granule, granule, Prot::READ).unwrap();
        let leaf = leaf_entry(&t, ro);
        let v = load(&t, leaf);
        assert_eq!(v & (AP2 | DBM), AP2);
        let last = shape.depth() - 1;
        assert_fault(&t, &shape, ro, WRITE, FaultKind::Permission, last, leaf);
        assert_eq!(load(&t, leaf), v);
    }
}

#[test]
fn arm_s2_with_ha_and_hd_a_write_sets_s2ap_write() {
    const S2AP_W: u64 = 1 << 7;
    const S2AP_R: u64 = 1 << 6;
    const DBM: u64 = 1 << 51;
    for (f, shape, page, block) in [
        (s2_4k(), S2_4K_40, 0xab_3c4d_5000u64, M2),
        (s2_16k(), S2_16K_47, 0x2a5b_3c4d_4000, M32),
        (s2_64k(), S2_64K_42, 0x2b_3c4d_0000, M512),
    ] {
        let mut t = table(s2_hw(&f, true, true));
        let granule = 1u64 << shape.shifts[shape.depth() - 1];
        t.map(page, PA_BASE, granule, Prot::RW).unwrap();
        t.map(block * 5, PA_BASE + block, block, Prot::RW).unwrap();
        for iova in [page, block * 5] {
            let p = path(&t, iova);
            let before: Vec<u64> = loads(&t, &p);
            let leaf = *before.last().unwrap();
            assert_eq!(leaf & (S2AP_R | S2AP_W | DBM), S2AP_R | DBM);
            ok(&t, iova, READ);
            let now: Vec<u64> = loads(&t, &p);
            assert_eq!(now, before, "a read changes nothing");
            let tr = ok(&t, iova, WRITE);
            let now: Vec<u64> = loads(&t, &p);
            let last = p.len() - 1;
            assert_eq!(now[..last], before[..last], "tables are not touched");
            assert_eq!(now[last], leaf | S2AP_W, "a write sets S2AP[1] only");
            assert_eq!(tr.pte, leaf | S2AP_W);
        }
    }
}

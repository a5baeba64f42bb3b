//! Permission faults: read-only, privileged-only and no-execute leaves, and the restrictions
//! table descriptors carry.

use super::*;

/// A read-only page and a read-only block refuse a write at the leaf, and allow a read.
fn read_only_refuses_write<F: Format>(fmt: F, shape: &Shape, sizes: &[(u64, u8)]) {
    let mut t = table(fmt);
    for &(size, number) in sizes {
        let iova = size * 5;
        t.map(iova, PA_BASE + size * 3, size, Prot::READ).unwrap();
        let leaf = leaf_entry(&t, iova);
        let before = load(&t, leaf);
        assert_fault(
            &t,
            shape,
            iova + 8,
            WRITE,
            FaultKind::Permission,
            shape.at(number),
            leaf,
        );
        assert_eq!(load(&t, leaf), before, "a refused write changes nothing");
        assert_eq!(ok(&t, iova + 8, READ).pa, PA_BASE + size * 3 + 8);
    }
}

#[test]
fn a_write_to_a_read_only_mapping_faults_with_permission_at_the_leaf() {
    read_only_refuses_write(x86(4), &X86_4, X86_SIZES);
    read_only_refuses_write(x86(5), &X86_5, X86_SIZES);
    read_only_refuses_write(vtd(3), &VTD_3, X86_SIZES);
    read_only_refuses_write(vtd(4), &VTD_4, X86_SIZES);
    read_only_refuses_write(vtd(5), &VTD_5, X86_SIZES);
    read_only_refuses_write(s1(Granule::K4), &ARM_4K_48, ARM_4K_SIZES);
    read_only_refuses_write(s1(Granule::K16), &ARM_16K_48, ARM_16K_SIZES);
    read_only_refuses_write(s1(Granule::K64), &ARM_64K_48, ARM_64K_SIZES);
    read_only_refuses_write(s2_4k(), &S2_4K_40, ARM_4K_SIZES);
    read_only_refuses_write(s2_16k(), &S2_16K_47, ARM_16K_SIZES);
    read_only_refuses_write(s2_64k(), &S2_64K_42, ARM_64K_SIZES);
}

/// A `PRIV` page refuses unprivileged reads and writes and allows privileged ones.
fn priv_refuses_unprivileged<F: Format>(fmt: F, shape: &Shape, page: u64) {
    let mut t = table(fmt);
    let granule = 1u64 << shape.shifts[shape.depth() - 1];
    t.map(page, PA_BASE, granule, Prot::RW | Prot::PRIV)
        .unwrap();
    let leaf = leaf_entry(&t, page);
    let last = shape.depth() - 1;
    for access in [READ, WRITE] {
        assert_fault(&t, shape, page, access, FaultKind::Permission, last, leaf);
        assert_eq!(ok(&t, page + 8, access.privileged()).pa, PA_BASE + 8);
    }
}

#[test]
fn an_unprivileged_access_to_a_priv_mapping_faults_where_the_format_has_a_privilege_bit() {
    // x86 U/S = 0 in the leaf; Arm stage 1 AP[1] = 0.
    priv_refuses_unprivileged(x86(4), &X86_4, 0x2a5b_3c4d_5000);
    priv_refuses_unprivileged(x86(5), &X86_5, 0xab_2a5b_3c4d_5000);
    priv_refuses_unprivileged(s1(Granule::K4), &ARM_4K_48, 0x2a5b_3c4d_5000);
    priv_refuses_unprivileged(s1(Granule::K16), &ARM_16K_48, 0x2a5b_3c4d_4000);
    priv_refuses_unprivileged(s1(Granule::K64), &ARM_64K_48, 0x2a5b_3c4d_0000);
}

#[test]
fn x86_user_supervisor_is_anded_across_levels() {
    // A.9: a user request needs U/S = 1 at every level.
    let mut t = table(x86(4));
    let page = 0x2a5b_3c4d_5000;
    t.map(page, PA_BASE, K4, Prot::RW).unwrap();
    let p = path(&t, page);
    for level in 0..3 {
        let v = load(&t, p[level]);
        assert_ne!(v & 1 << 2, 0, "tables are written with U/S");
        with_entry(&t, p[level], v & !(1 << 2), || {
            assert_fault(&t, &X86_4, page, READ, FaultKind::Permission, 3, p[3]);
            assert_eq!(ok(&t, page, READ.privileged()).pa, PA_BASE);
        });
    }
}

/// A `NOEXEC` page refuses instruction fetches, privileged or not, and allows data reads; a
/// page without it allows fetches.
fn noexec_refuses_fetch<F: Format>(fmt: F, shape: &Shape, page: u64) {
    let mut t = table(fmt);
    let granule = 1u64 << shape.shifts[shape.depth() - 1];
    let last = shape.depth() - 1;
    t.map(page, PA_BASE, granule, Prot::RW | Prot::NOEXEC)
        .unwrap();
    let leaf = leaf_entry(&t, page);
    for fetch in [FETCH, FETCH.privileged()] {
        assert_fault(&t, shape, page, fetch, FaultKind::Permission, last, leaf);
    }
    assert_eq!(ok(&t, page, READ).pa, PA_BASE);
    let exec = page + granule;
    t.map(exec, PA_BASE + granule, granule, Prot::RW).unwrap();
    for fetch in [FETCH, FETCH.privileged()] {
        assert_eq!(ok(&t, exec + 4, fetch).pa, PA_BASE + granule + 4);
    }
}

#[test]
fn an_instruction_fetch_to_a_noexec_mapping_faults_where_the_format_has_execute_control() {
    // Arm stage 1 UXN/PXN (bits 54/53), Arm stage 2 XN (bit 54).
    noexec_refuses_fetch(s1(Granule::K4), &ARM_4K_48, 0x2a5b_3c4d_5000);
    noexec_refuses_fetch(s1(Granule::K16), &ARM_16K_48, 0x2a5b_3c4d_4000);
    noexec_refuses_fetch(s1(Granule::K64), &ARM_64K_48, 0x2a5b_3c4d_0000);
    noexec_refuses_fetch(s2_4k(), &S2_4K_40, 0xab_3c4d_5000);
    noexec_refuses_fetch(s2_16k(), &S2_16K_47, 0x2a5b_3c4d_4000);
    noexec_refuses_fetch(s2_64k(), &S2_64K_42, 0x2b_3c4d_0000);
}

#[test]
fn arm_s1_uxn_and_pxn_are_separate() {
    // Bit 54 alone forbids unprivileged fetches; bit 53 alone privileged ones.
    let mut t = table(s1(Granule::K4));
    let page = 0x2a5b_3c4d_5000;
    t.map(page, PA_BASE, K4, Prot::RW).unwrap();
    let leaf = leaf_entry(&t, page);
    let v = load(&t, leaf);
    with_entry(&t, leaf, v | 1 << 54, || {
        assert_fault(&t, &ARM_4K_48, page, FETCH, FaultKind::Permission, 3, leaf);
        assert!(t.translate(page, FETCH.privileged()).is_ok());
    });
    with_entry(&t, leaf, v | 1 << 53, || {
        assert!(t.translate(page, FETCH).is_ok());
        let privileged = FETCH.privileged();
        assert_fault(
            &t,
            &ARM_4K_48,
            page,
            privileged,
            FaultKind::Permission,
            3,
            leaf,
        );
    });
}

#[test]
fn x86_privileged_write_to_a_read_only_page_passes_without_wpe_and_faults_with_it() {
    for levels in [4, 5] {
        let shape = if levels == 4 { X86_4 } else { X86_5 };
        let page = 0x2a5b_3c4d_5000;
        let cfg = |wpe| X86Config {
            levels,
            wpe,
            ..X86Config::default()
        };
        let mut off = table(x86_with(cfg(false)));
        off.map(page, PA_BASE, K4, Prot::READ).unwrap();
        assert_eq!(ok(&off, page + 8, WRITE.privileged()).pa, PA_BASE + 8);
        let mut on = table(x86_with(cfg(true)));
        on.map(page, PA_BASE, K4, Prot::READ).unwrap();
        let leaf = leaf_entry(&on, page);
        let last = shape.depth() - 1;
        let w = WRITE.privileged();
        assert_fault(&on, &shape, page, w, FaultKind::Permission, last, leaf);
        assert!(on.translate(page, READ.privileged()).is_ok());
        // R/W is ANDed across levels too: clearing it in the top entry makes the supervisor
        // write fault only with WPE.
        let mut rw = table(x86_with(cfg(true)));
        rw.map(page, PA_BASE, K4, Prot::RW).unwrap();
        off.unmap(page, K4).unwrap();
        off.map(page, PA_BASE, K4, Prot::RW).unwrap();
        for t in [&rw, &off] {
            let p = path(t, page);
            let top = load(t, p[0]);
            with_entry(t, p[0], top & !(1 << 1), || {
                let leaf = p[last];
                assert_fault(t, &shape, page, WRITE, FaultKind::Permission, last, leaf);
                let wpe = t.format().config().wpe;
                assert_eq!(t.translate(page, w).is_ok(), !wpe, "wpe {wpe}");
            });
        }
    }
}

/// With the APTable, UXNTable and PXNTable bits of the table descriptor at `level` set by hand,
/// a page below that allows everything is restricted as C.1 says.
fn ap_table_restricts<F: Format>(fmt: F, shape: &Shape, page: u64, level: usize) {
    let mut t = table(fmt);
    let granule = 1u64 << shape.shifts[shape.depth() - 1];
    let last = shape.depth() - 1;
    t.map(page, PA_BASE, granule, Prot::RW).unwrap();
    let p = path(&t, page);
    let (desc, leaf) = (p[level], p[last]);
    let v = load(&t, desc);
    let perm = FaultKind::Permission;
    // APTable = 10 (bit 62): no writes below, at any privilege.
    with_entry(&t, desc, v | 0b10 << 61, || {
        assert_fault(&t, shape, page, WRITE, perm, last, leaf);
        assert_fault(&t, shape, page, WRITE.privileged(), perm, last, leaf);
        assert!(t.translate(page, READ).is_ok());
        assert!(t.translate(page, READ.privileged()).is_ok());
    });
    // APTable = 01 (bit 61): no EL0 (unprivileged) access below.
    with_entry(&t, desc, v | 0b01 << 61, || {
        assert_fault(&t, shape, page, READ, perm, last, leaf);
        assert_fault(&t, shape, page, WRITE, perm, last, leaf);
        assert!(t.translate(page, READ.privileged()).is_ok());
        assert!(t.translate(page, WRITE.privileged()).is_ok());
    });
    // APTable = 11: read-only, privileged only.
    with_entry(&t, desc, v | 0b11 << 61, || {
        assert_fault(&t, shape, page, READ, perm, last, leaf);
        assert_fault(&t, shape, page, WRITE.privileged(), perm, last, leaf);
        assert!(t.translate(page, READ.privileged()).is_ok());
    });
    // UXNTable (bit 60) and PXNTable (bit 59).
    with_entry(&t, desc, v | 1 << 60, || {
        assert_fault(&t, shape, page, FETCH, perm, last, leaf);
        assert!(t.translate(page, FETCH.privileged()).is_ok());
    });
    with_entry(&t, desc, v | 1 << 59, || {
        assert_fault(&t, shape, page, FETCH.privileged(), perm, last, leaf);
        assert!(t.translate(page, FETCH).is_ok());
    });
    // Nothing set: everything allowed.
    for access in [READ, WRITE, FETCH, WRITE.privileged(), FETCH.privileged()] {
        assert!(t.translate(page, access).is_ok(), "{access:?}");
    }
}

#[test]
fn arm_s1_ap_table_in_a_table_descriptor_restricts_what_is_below() {
    ap_table_restricts(s1(Granule::K4), &ARM_4K_48, 0x2a5b_3c4d_5000, 0);
    ap_table_restricts(s1(Granule::K4), &ARM_4K_48, 0x2a5b_3c4d_5000, 2);
    ap_table_restricts(s1(Granule::K16), &ARM_16K_48, 0x2a5b_3c4d_4000, 1);
    ap_table_restricts(s1(Granule::K64), &ARM_64K_48, 0x2a5b_3c4d_0000, 0);
}

#[test]
fn arm_s2_table_descriptors_carry_no_attributes() {
    // C.1: bits 63:59 of a stage-2 table descriptor are ignored.
    let mut t = table(s2_4k());
    let page = 0xab_3c4d_5000;
    t.map(page, PA_BASE, K4, Prot::RW).unwrap();
    let p = path(&t, page);
    let v = load(&t, p[0]);
    with_entry(&t, p[0], v | 0b11111 << 59, || {
        for access in [READ, WRITE, FETCH] {
            assert_eq!(ok(&t, page, access).pa, PA_BASE);
        }
    });
}

#[test]
fn vtd_write_only_leaf_refuses_a_read() {
    for (levels, shape) in [(3, VTD_3), (4, VTD_4), (5, VTD_5)] {
        let mut t = table(vtd(levels));
        let page = 0x5b_3c4d_5000;
        t.map(page, PA_BASE, K4, Prot::WRITE).unwrap();
        let leaf = leaf_entry(&t, page);
        assert_eq!(load(&t, leaf) & 0b11, 0b10, "R = 0, W = 1");
        let last = shape.depth() - 1;
        assert_fault(&t, &shape, page, READ, FaultKind::Permission, last, leaf);
        assert_fault(&t, &shape, page, FETCH, FaultKind::Permission, last, leaf);
        assert_eq!(ok(&t, page + 8, WRITE).pa, PA_BASE + 8);
        // R and W are ANDed over the levels: W = 0 in the root entry refuses the write.
        let root = path(&t, page)[0];
        let v = load(&t, root);
        with_entry(&t, root, v & !(1 << 1), || {
            assert_fault(&t, &shape, page, WRITE, FaultKind::Permission, last, leaf);
        });
    }
}

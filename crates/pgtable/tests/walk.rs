//! The hardware walk, `walk::translate`, for every format: x86-64 4/5-level, VT-d second stage
//! 3/4/5-level, Arm stage 1 (4K/16K/64K) and Arm stage 2 (4K concatenated, 16K, 64K).
//!
//! Each test shows one behaviour of the specification (`reference/hw-formats.md` A.9 and Part C):
//! where a walk ends, which fault it takes and at which level, and what it writes back.
//! Malformed entries are written by hand into the table's memory.

// Tests unwrap freely (the workspace's `unwrap_used` lint is for library code).
#![allow(clippy::unwrap_used)]

mod common;

use common::fixture::*;
use softiommu_mem::{AddressSpace, MemError, RamArena};
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::ArmS1Config;
use softiommu_pgtable::formats::arm_s2::ArmS2Config;
use softiommu_pgtable::formats::vtd_ss::VtdSsConfig;
use softiommu_pgtable::formats::x86::X86Config;
use softiommu_pgtable::{Access, FaultKind, Format, Prot, Translation, WalkFault, walk};

const K4: u64 = 1 << 12;
const K16: u64 = 1 << 14;
const K64: u64 = 1 << 16;
const M2: u64 = 1 << 21;
const M32: u64 = 1 << 25;
const M512: u64 = 1 << 29;
const G1: u64 = 1 << 30;

const READ: Access = Access::READ;
const WRITE: Access = Access::WRITE;
/// An unprivileged instruction fetch.
const FETCH: Access = Access {
    write: false,
    exec: true,
    privileged: false,
};

/// Page and block sizes of each configuration with the level number that maps them.
const X86_SIZES: &[(u64, u8)] = &[(K4, 1), (M2, 2), (G1, 3)];
const ARM_4K_SIZES: &[(u64, u8)] = &[(K4, 3), (M2, 2), (G1, 1)];
const ARM_16K_SIZES: &[(u64, u8)] = &[(K16, 3), (M32, 2)];
const ARM_64K_SIZES: &[(u64, u8)] = &[(K64, 3), (M512, 2)];

/// The format, its depth and granule, for failure messages.
fn name<F: Format>(t: &Table<F>) -> String {
    let geo = t.format().geometry();
    let (depth, granule) = (geo.depth(), geo.granule() >> 10);
    format!("{} {depth}-level {granule}K", t.format().name())
}

/// The walk's result for an access that must succeed.
fn ok<F: Format>(t: &Table<F>, iova: u64, access: Access) -> Translation {
    t.translate(iova, access)
        .unwrap_or_else(|f| panic!("{}: {iova:#x} {access:?} faulted: {f:?}", name(t)))
}

/// The walk's fault for an access that must fault.
fn fault<F: Format>(t: &Table<F>, iova: u64, access: Access) -> WalkFault {
    match t.translate(iova, access) {
        Ok(tr) => panic!("{}: {iova:#x} {access:?} translated: {tr:?}", name(t)),
        Err(f) => f,
    }
}

/// Asserts that `access` to `iova` faults with `kind` at `level` of `shape`, on the entry at
/// `entry`.
fn assert_fault<F: Format>(
    t: &Table<F>,
    shape: &Shape,
    iova: u64,
    access: Access,
    kind: FaultKind,
    level: usize,
    entry: u64,
) {
    let f = fault(t, iova, access);
    let want = WalkFault {
        kind,
        level,
        number: shape.numbers[level],
        entry,
    };
    assert_eq!(f, want, "{}: {iova:#x} {access:?}", name(t));
}

/// Stores `value` at `pa`, runs `check`, and puts the old value back.
fn with_entry<F: Format>(t: &Table<F>, pa: u64, value: u64, check: impl FnOnce()) {
    let old = load(t, pa);
    store(t, pa, value);
    check();
    store(t, pa, old);
}

/// The table at `level` on the walk of `iova` (the entry's address less index × 8).
fn table_at<F: Format>(t: &Table<F>, shape: &Shape, level: usize, iova: u64) -> u64 {
    path(t, iova)[level] - shape.index(level, iova) * 8
}

// ---------------------------------------------------------------------------------------------
// Pages and blocks translate.

/// Maps one leaf of each size (at `size` × 5, to `PA_BASE` + `size` × 3) and translates reads
/// and writes inside, at and just past each.
fn pages_and_blocks_translate<F: Format>(fmt: F, shape: &Shape, sizes: &[(u64, u8)]) {
    let mut t = table(fmt);
    for &(size, _) in sizes {
        t.map(size * 5, PA_BASE + size * 3, size, Prot::RW).unwrap();
    }
    for &(size, number) in sizes {
        let (iova, pa) = (size * 5, PA_BASE + size * 3);
        let off = size / 2 + 0x18;
        for access in [READ, WRITE] {
            let tr = ok(&t, iova + off, access);
            assert_eq!(tr.pa, pa + off, "{} size {size:#x}", name(&t));
            assert_eq!(tr.page_size, size, "{}", name(&t));
            assert_eq!(tr.level, shape.at(number), "{} size {size:#x}", name(&t));
            assert_eq!(tr.pte, load(&t, leaf_entry(&t, iova)));
        }
        assert_eq!(ok(&t, iova, READ).pa, pa);
        assert_eq!(ok(&t, iova + size - 1, READ).pa, pa + size - 1);
        assert_eq!(fault(&t, iova + size, READ).kind, FaultKind::Translation);
        assert_eq!(fault(&t, iova - 1, READ).kind, FaultKind::Translation);
    }
}

#[test]
fn a_mapped_page_or_block_translates_to_its_output_address_and_size() {
    pages_and_blocks_translate(x86(4), &X86_4, X86_SIZES);
    pages_and_blocks_translate(x86(5), &X86_5, X86_SIZES);
    pages_and_blocks_translate(vtd(3), &VTD_3, X86_SIZES);
    pages_and_blocks_translate(vtd(4), &VTD_4, X86_SIZES);
    pages_and_blocks_translate(vtd(5), &VTD_5, X86_SIZES);
    pages_and_blocks_translate(s1(Granule::K4), &ARM_4K_48, ARM_4K_SIZES);
    pages_and_blocks_translate(s1(Granule::K16), &ARM_16K_48, ARM_16K_SIZES);
    pages_and_blocks_translate(s1(Granule::K64), &ARM_64K_48, ARM_64K_SIZES);
    pages_and_blocks_translate(s2_4k(), &S2_4K_40, ARM_4K_SIZES);
    pages_and_blocks_translate(s2_16k(), &S2_16K_47, ARM_16K_SIZES);
    pages_and_blocks_translate(s2_64k(), &S2_64K_42, ARM_64K_SIZES);
}

#[test]
fn arm_s2_concatenated_root_is_indexed_by_ipa_bits_39_to_30() {
    // 40-bit IPA from L1: two 4K tables side by side; IPA bit 39 picks the second (C.5).
    let mut t = table(s2_4k());
    assert_eq!(t.format().geometry().root_bytes(), 2 * K4);
    let low = 0x12_3456_7000u64; // bit 39 clear: first table
    let high = low | 1 << 39; // bit 39 set: second table
    t.map(low, PA_BASE, K4, Prot::RW).unwrap();
    t.map(high, PA_BASE + K4, K4, Prot::RW).unwrap();
    let l1 = (low >> 30) & 0x1ff;
    assert_eq!(path(&t, low)[0], t.root() + l1 * 8);
    assert_eq!(path(&t, high)[0], t.root() + 4096 + l1 * 8);
    assert_eq!(ok(&t, low + 8, READ).pa, PA_BASE + 8);
    assert_eq!(ok(&t, high + 8, READ).pa, PA_BASE + K4 + 8);
    // The top of the 40-bit range is in the second table's last entry.
    let top = (1u64 << 40) - K4;
    t.map(top, PA_BASE + 2 * K4, K4, Prot::READ).unwrap();
    assert_eq!(path(&t, top)[0], t.root() + 2 * 4096 - 8);
    assert_eq!(ok(&t, top + 0xff8, READ).pa, PA_BASE + 2 * K4 + 0xff8);
}

// ---------------------------------------------------------------------------------------------
// Translation faults.

/// With an empty table the root entry faults; with `page` mapped, an address that leaves its
/// path at level `l` faults at level `l`, on that entry of the table the path has there.
fn translation_faults_where_the_walk_finds_nothing<F: Format>(fmt: F, shape: &Shape, page: u64) {
    let mut t = table(fmt);
    let root_entry = t.root() + shape.index(0, page) * 8;
    for access in [READ, WRITE] {
        assert_fault(
            &t,
            shape,
            page,
            access,
            FaultKind::Translation,
            0,
            root_entry,
        );
    }
    let granule = 1u64 << shape.shifts[shape.depth() - 1];
    t.map(page, PA_BASE, granule, Prot::RW).unwrap();
    assert_eq!(path(&t, page).len(), shape.depth());
    for level in 0..shape.depth() {
        let other = page ^ (1 << shape.shifts[level]);
        let entry = table_at(&t, shape, level, page) + shape.index(level, other) * 8;
        assert_fault(&t, shape, other, READ, FaultKind::Translation, level, entry);
    }
    assert_eq!(ok(&t, page + 0x10, READ).pa, PA_BASE + 0x10);
}

#[test]
fn an_unmapped_address_faults_with_translation_at_the_first_missing_level() {
    translation_faults_where_the_walk_finds_nothing(x86(4), &X86_4, 0x2a5b_3c4d_5000);
    translation_faults_where_the_walk_finds_nothing(x86(5), &X86_5, 0xab_2a5b_3c4d_5000);
    translation_faults_where_the_walk_finds_nothing(vtd(3), &VTD_3, 0x5b_3c4d_5000);
    translation_faults_where_the_walk_finds_nothing(vtd(4), &VTD_4, 0x2a5b_3c4d_5000);
    translation_faults_where_the_walk_finds_nothing(vtd(5), &VTD_5, 0xab_2a5b_3c4d_5000);
    translation_faults_where_the_walk_finds_nothing(s1(Granule::K4), &ARM_4K_48, 0x2a5b_3c4d_5000);
    translation_faults_where_the_walk_finds_nothing(
        s1(Granule::K16),
        &ARM_16K_48,
        0x2a5b_3c4d_4000,
    );
    translation_faults_where_the_walk_finds_nothing(
        s1(Granule::K64),
        &ARM_64K_48,
        0x2a5b_3c4d_0000,
    );
    translation_faults_where_the_walk_finds_nothing(s2_4k(), &S2_4K_40, 0xab_3c4d_5000);
    translation_faults_where_the_walk_finds_nothing(s2_4k_l0(), &S2_4K_48, 0x2a5b_3c4d_5000);
    translation_faults_where_the_walk_finds_nothing(s2_16k(), &S2_16K_47, 0x2a5b_3c4d_4000);
    translation_faults_where_the_walk_finds_nothing(s2_64k(), &S2_64K_42, 0x2b_3c4d_0000);
}

// ---------------------------------------------------------------------------------------------
// Permission faults.

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

// ---------------------------------------------------------------------------------------------
// Reserved bits.

#[test]
fn x86_reserved_bits_fault_at_the_level_of_the_entry() {
    for (levels, shape) in [(4u8, X86_4), (5, X86_5)] {
        let mut t = table(x86(levels)); // HAW 48
        let page = 0x2a5b_3c4d_5000;
        let block = 0x2a5b_3c60_0000; // 2M, same PD as the page
        let huge = 0x2a5b_4000_0000; // 1G
        t.map(page, PA_BASE, K4, Prot::RW).unwrap();
        t.map(block, PA_BASE + M2, M2, Prot::RW).unwrap();
        t.map(huge, PA_BASE + G1, G1, Prot::RW).unwrap();
        let p = path(&t, page);
        let rsvd = |iova: u64, entry: u64, bits: u64, number: u8| {
            let v = load(&t, entry);
            with_entry(&t, entry, v | bits, || {
                let level = shape.at(number);
                assert_fault(&t, &shape, iova, READ, FaultKind::Reserved, level, entry);
            });
        };
        // Bits 51:HAW of every entry.
        rsvd(page, p[shape.at(1)], 1 << 48, 1);
        rsvd(page, p[shape.at(1)], 1 << 51, 1);
        rsvd(page, p[shape.at(2)], 1 << 50, 2);
        rsvd(page, p[shape.at(3)], 1 << 49, 3);
        rsvd(page, p[shape.at(4)], 1 << 48, 4);
        // PS in a PML4E (and a PML5E).
        rsvd(page, p[shape.at(4)], 1 << 7, 4);
        if levels == 5 {
            rsvd(page, p[shape.at(5)], 1 << 7, 5);
        }
        // Address bits below a large page's alignment: 2M 20:13, 1G 29:13.
        rsvd(block, leaf_entry(&t, block), 1 << 13, 2);
        rsvd(block, leaf_entry(&t, block), 1 << 20, 2);
        rsvd(huge, leaf_entry(&t, huge), 1 << 21, 3);
        rsvd(huge, leaf_entry(&t, huge), 1 << 29, 3);
        // Bits 63:52 are ignored (63 was XD in rev 3.x), at every level.
        for &e in &p {
            let v = load(&t, e);
            with_entry(&t, e, v | 0xfff << 52, || {
                assert_eq!(ok(&t, page + 8, WRITE).pa, PA_BASE + 8);
            });
        }
        // PAT (bit 12) in a 2M leaf is not address.
        let e = leaf_entry(&t, block);
        let v = load(&t, e);
        with_entry(&t, e, v | 1 << 12, || {
            assert_eq!(ok(&t, block + 0x1234, READ).pa, PA_BASE + M2 + 0x1234);
        });
    }
}

#[test]
fn x86_1g_leaf_is_reserved_without_1g_pages() {
    let cfg = X86Config {
        pages_1g: false,
        ..X86Config::default()
    };
    let mut t = table(x86_with(cfg));
    let page = 0x2a5b_3c4d_5000;
    t.map(page, PA_BASE, K4, Prot::RW).unwrap();
    let pdpe = path(&t, page)[1];
    // P | R/W | U/S | A | D | PS, 1G-aligned address.
    with_entry(&t, pdpe, PA_BASE | 0b110_0111 | 1 << 7, || {
        assert_fault(&t, &X86_4, page, READ, FaultKind::Reserved, 1, pdpe);
    });
}

#[test]
fn vtd_reserved_bits_fault_at_the_level_of_the_entry() {
    for (levels, shape) in [(3u8, VTD_3), (4, VTD_4), (5, VTD_5)] {
        for snoop_ctl in [false, true] {
            let mut t = table(vtd_with(VtdSsConfig {
                levels,
                snoop_ctl,
                ..VtdSsConfig::default()
            }));
            let page = 0x5b_3c4d_5000;
            let block = 0x5b_3c60_0000;
            t.map(page, PA_BASE, K4, Prot::RW).unwrap();
            t.map(block, PA_BASE + M2, M2, Prot::RW).unwrap();
            let p = path(&t, page);
            let rsvd = |iova: u64, entry: u64, bits: u64, number: u8| {
                let v = load(&t, entry);
                with_entry(&t, entry, v | bits, || {
                    let level = shape.at(number);
                    let kind = FaultKind::Reserved;
                    assert_fault(&t, &shape, iova, READ, kind, level, entry);
                });
            };
            let snp = 1u64 << 11;
            let leaf = p[shape.at(1)];
            let block_leaf = leaf_entry(&t, block);
            if snoop_ctl {
                // SNP is a leaf attribute with snoop control.
                for (iova, e) in [(page, leaf), (block, block_leaf)] {
                    let v = load(&t, e);
                    with_entry(&t, e, v | snp, || assert!(t.translate(iova, READ).is_ok()));
                }
            } else {
                // Without it SNP is reserved.
                rsvd(page, leaf, snp, 1);
                rsvd(block, block_leaf, snp, 2);
            }
            // SNP in a non-leaf entry is reserved either way.
            for number in 2..=levels {
                rsvd(page, p[shape.at(number)], snp, number);
            }
            // Bits 51:HAW (HAW 48) at every level.
            for number in 1..=levels {
                rsvd(page, p[shape.at(number)], 1 << 48, number);
                rsvd(page, p[shape.at(number)], 1 << 51, number);
            }
            // PS in an SS-PML4E or SS-PML5E; address bits below a 2M page's alignment.
            for number in 4..=levels {
                rsvd(page, p[shape.at(number)], 1 << 7, number);
            }
            rsvd(block, block_leaf, 1 << 12, 2);
            rsvd(block, block_leaf, 1 << 20, 2);
        }
    }
}

/// A `01` descriptor at level 3 is reserved (C.1).
fn block_descriptor_at_level_3_is_reserved<F: Format>(fmt: F, shape: &Shape, page: u64) {
    let mut t = table(fmt);
    let granule = 1u64 << shape.shifts[shape.depth() - 1];
    t.map(page, PA_BASE, granule, Prot::RW).unwrap();
    let leaf = leaf_entry(&t, page);
    let v = load(&t, leaf);
    assert_eq!(v & 0b11, 0b11, "a page is 11");
    with_entry(&t, leaf, v & !0b10, || {
        let last = shape.at(3);
        assert_fault(&t, shape, page, READ, FaultKind::Reserved, last, leaf);
    });
}

#[test]
fn arm_block_descriptor_at_level_3_is_reserved() {
    block_descriptor_at_level_3_is_reserved(s1(Granule::K4), &ARM_4K_48, 0x2a5b_3c4d_5000);
    block_descriptor_at_level_3_is_reserved(s1(Granule::K16), &ARM_16K_48, 0x2a5b_3c4d_4000);
    block_descriptor_at_level_3_is_reserved(s1(Granule::K64), &ARM_64K_48, 0x2a5b_3c4d_0000);
    block_descriptor_at_level_3_is_reserved(s2_4k(), &S2_4K_40, 0xab_3c4d_5000);
    block_descriptor_at_level_3_is_reserved(s2_16k(), &S2_16K_47, 0x2a5b_3c4d_4000);
    block_descriptor_at_level_3_is_reserved(s2_64k(), &S2_64K_42, 0x2b_3c4d_0000);
}

/// A block descriptor (`01`, AF set, address 0) at Arm level `number`, where the granule allows
/// none, is reserved. The entry is written next to the path of a mapped page.
fn block_where_none_is_allowed<F: Format>(fmt: F, shape: &Shape, page: u64, number: u8) {
    let mut t = table(fmt);
    let granule = 1u64 << shape.shifts[shape.depth() - 1];
    t.map(page, PA_BASE, granule, Prot::RW).unwrap();
    let level = shape.at(number);
    let other = page ^ (1 << shape.shifts[level]);
    let entry = table_at(&t, shape, level, page) + shape.index(level, other) * 8;
    assert_eq!(load(&t, entry), 0);
    with_entry(&t, entry, 1 << 10 | 0b01, || {
        assert_fault(&t, shape, other, READ, FaultKind::Reserved, level, entry);
    });
}

#[test]
fn arm_block_at_a_level_where_the_granule_allows_none_is_reserved() {
    // 4K: L0; 16K: L0 and L1; 64K: L1 (C.4).
    block_where_none_is_allowed(s1(Granule::K4), &ARM_4K_48, 0x2a5b_3c4d_5000, 0);
    block_where_none_is_allowed(s1(Granule::K16), &ARM_16K_48, 0x2a5b_3c4d_4000, 0);
    block_where_none_is_allowed(s1(Granule::K16), &ARM_16K_48, 0x2a5b_3c4d_4000, 1);
    block_where_none_is_allowed(s1(Granule::K64), &ARM_64K_48, 0x2a5b_3c4d_0000, 1);
    block_where_none_is_allowed(s2_4k_l0(), &S2_4K_48, 0x2a5b_3c4d_5000, 0);
    block_where_none_is_allowed(s2_16k(), &S2_16K_47, 0x2a5b_3c4d_4000, 1);
}

// ---------------------------------------------------------------------------------------------
// Address size and input range.

/// With a 40-bit output width, a leaf or table address at bit 44 faults with AddressSize at that
/// entry; AF and permission faults come first (C.5, fault priority).
fn output_above_oa<F: Format>(fmt: F, shape: &Shape, page: u64, block: (u64, u8)) {
    assert_eq!(fmt.geometry().oa_bits(), 40);
    let mut t = table(fmt);
    let granule = 1u64 << shape.shifts[shape.depth() - 1];
    t.map(page, PA_BASE >> 4, granule, Prot::READ).unwrap();
    t.map(block.0 * 5, 0, block.0, Prot::RW).unwrap();
    let high = 1u64 << 44;
    let p = path(&t, page);
    let last = shape.depth() - 1;
    let leaf = p[last];
    let v = load(&t, leaf);
    let size = FaultKind::AddressSize;
    with_entry(&t, leaf, v | high, || {
        assert_fault(&t, shape, page, READ, size, last, leaf);
        // Permission before address size.
        assert_fault(&t, shape, page, WRITE, FaultKind::Permission, last, leaf);
    });
    with_entry(&t, leaf, (v | high) & !(1 << 10), || {
        // Access flag before both.
        assert_fault(&t, shape, page, WRITE, FaultKind::AccessFlag, last, leaf);
    });
    let bl = leaf_entry(&t, block.0 * 5);
    let bv = load(&t, bl);
    with_entry(&t, bl, bv | high, || {
        let level = shape.at(block.1);
        assert_fault(&t, shape, block.0 * 5, WRITE, size, level, bl);
    });
    // A table descriptor pointing above the output width.
    for (level, &entry) in p[..last].iter().enumerate() {
        let tv = load(&t, entry);
        with_entry(&t, entry, tv | high, || {
            assert_fault(&t, shape, page, READ, size, level, entry);
        });
    }
    assert!(t.translate(page, READ).is_ok());
}

#[test]
fn arm_output_address_above_oa_bits_faults_with_address_size() {
    let s1_40 = |granule| {
        s1_with(ArmS1Config {
            granule,
            oa_bits: 40,
            ..ArmS1Config::default()
        })
    };
    let s2_40 = |f: softiommu_pgtable::formats::arm_s2::ArmS2| {
        s2_with(ArmS2Config {
            oa_bits: 40,
            ..*f.config()
        })
    };
    output_above_oa(s1_40(Granule::K4), &ARM_4K_48, 0x2a5b_3c4d_5000, (M2, 2));
    output_above_oa(s1_40(Granule::K16), &ARM_16K_48, 0x2a5b_3c4d_4000, (M32, 2));
    output_above_oa(
        s1_40(Granule::K64),
        &ARM_64K_48,
        0x2a5b_3c4d_0000,
        (M512, 2),
    );
    output_above_oa(s2_40(s2_4k()), &S2_4K_40, 0xab_3c4d_5000, (G1, 1));
    output_above_oa(s2_40(s2_16k()), &S2_16K_47, 0x2a5b_3c4d_4000, (M32, 2));
    output_above_oa(s2_40(s2_64k()), &S2_64K_42, 0x2b_3c4d_0000, (M512, 2));
}

#[test]
fn x86_non_canonical_input_faults_and_the_upper_half_walks_by_its_low_bits() {
    // 4-level: 48-bit canonical (bits 63:47 equal).
    let mut t = table(x86(4));
    t.map(0x5000, PA_BASE, K4, Prot::RW).unwrap();
    let root_entry = t.root(); // PML4 index 0
    for bad in [
        0x0000_8000_0000_0000u64,
        0x0001_0000_0000_5000,
        0x8000_0000_0000_5000,
        0xfff7_8000_0000_5000,
        0x7fff_ffff_ffff_f000,
    ] {
        for access in [READ, WRITE] {
            let f = fault(&t, bad, access);
            assert_eq!(
                (f.kind, f.level, f.number),
                (FaultKind::Input, 0, 4),
                "{bad:#x}"
            );
        }
    }
    // The upper half indexes PML4 entries 256..512 by bits 47:39: give entry 256 the same
    // table as entry 0, and 0xffff_8000_0000_5000 walks the same entries below the root.
    let upper = 0xffff_8000_0000_5000u64;
    assert_fault(
        &t,
        &X86_4,
        upper,
        READ,
        FaultKind::Translation,
        0,
        t.root() + 256 * 8,
    );
    store(&t, t.root() + 256 * 8, load(&t, root_entry));
    let low = path(&t, 0x5000);
    let high = path(&t, upper);
    assert_eq!(high[0], t.root() + 256 * 8);
    assert_eq!(high[1..], low[1..]);
    assert_eq!(ok(&t, upper + 0x123, READ).pa, PA_BASE + 0x123);
    assert_eq!(ok(&t, upper + 0x123, WRITE).pa, PA_BASE + 0x123);
    store(&t, t.root() + 256 * 8, 0);

    // 5-level: 57-bit canonical (bits 63:56 equal).
    let mut t = table(x86(5));
    t.map(0x5000, PA_BASE, K4, Prot::RW).unwrap();
    for bad in [
        0x0100_0000_0000_0000u64,
        0x8000_0000_0000_5000,
        0xfe00_0000_0000_5000,
    ] {
        let f = fault(&t, bad, READ);
        assert_eq!(
            (f.kind, f.level, f.number),
            (FaultKind::Input, 0, 5),
            "{bad:#x}"
        );
    }
    // Canonical with 57 bits although not with 48.
    let f = fault(&t, 0x0000_8000_0000_0000, READ);
    assert_eq!(f.kind, FaultKind::Translation);
    let upper = 0xff00_0000_0000_5000u64;
    store(&t, t.root() + 256 * 8, load(&t, t.root()));
    let low = path(&t, 0x5000);
    let high = path(&t, upper);
    assert_eq!(high[0], t.root() + 256 * 8);
    assert_eq!(high[1..], low[1..]);
    assert_eq!(ok(&t, upper + 0x10, READ).pa, PA_BASE + 0x10);
}

/// An address at or above 2^`ia` faults with Input at the root; the last page below it walks.
fn input_range<F: Format>(fmt: F, ia: u32) {
    let mut t = table(fmt);
    let root = t.format().geometry().levels()[0].number;
    let granule = t.format().geometry().granule();
    let top = (1u64 << ia) - granule;
    t.map(top, PA_BASE, granule, Prot::RW).unwrap();
    assert_eq!(ok(&t, top + granule - 1, READ).pa, PA_BASE + granule - 1);
    for bad in [1u64 << ia, (1u64 << ia) + top, 1 << 63, u64::MAX] {
        let f = fault(&t, bad, READ);
        assert_eq!(
            (f.kind, f.level, f.number),
            (FaultKind::Input, 0, root),
            "{bad:#x}"
        );
    }
}

#[test]
fn an_input_address_at_or_above_the_input_width_faults_with_input() {
    input_range(vtd(3), 39);
    input_range(vtd(4), 48);
    input_range(vtd(5), 57);
    input_range(s1(Granule::K4), 48);
    input_range(s1(Granule::K16), 48);
    input_range(s1(Granule::K64), 48);
    input_range(
        s1_with(ArmS1Config {
            ia_bits: 39,
            ..ArmS1Config::default()
        }),
        39,
    );
    input_range(s2_4k(), 40);
    input_range(s2_16k(), 47);
    input_range(s2_64k(), 42);
}

// ---------------------------------------------------------------------------------------------
// Access flag.

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
                let before: Vec<u64> = p.iter().map(|&e| load(&t, e)).collect();
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
            let before: Vec<u64> = p.iter().map(|&e| load(&t, e)).collect();
            let leaf = *before.last().unwrap();
            assert_eq!(
                leaf & (AP2 | DBM),
                AP2 | DBM,
                "writable-clean: AP[2] = 1, DBM = 1"
            );
            ok(&t, iova, READ);
            let now: Vec<u64> = p.iter().map(|&e| load(&t, e)).collect();
            assert_eq!(now, before, "a read changes nothing");
            let tr = ok(&t, iova, WRITE);
            let now: Vec<u64> = p.iter().map(|&e| load(&t, e)).collect();
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
            let before: Vec<u64> = p.iter().map(|&e| load(&t, e)).collect();
            let leaf = *before.last().unwrap();
            assert_eq!(leaf & (S2AP_R | S2AP_W | DBM), S2AP_R | DBM);
            ok(&t, iova, READ);
            let now: Vec<u64> = p.iter().map(|&e| load(&t, e)).collect();
            assert_eq!(now, before, "a read changes nothing");
            let tr = ok(&t, iova, WRITE);
            let now: Vec<u64> = p.iter().map(|&e| load(&t, e)).collect();
            let last = p.len() - 1;
            assert_eq!(now[..last], before[..last], "tables are not touched");
            assert_eq!(now[last], leaf | S2AP_W, "a write sets S2AP[1] only");
            assert_eq!(tr.pte, leaf | S2AP_W);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fetch faults.

/// A root outside the memory faults with Fetch on the root entry; a table pointer to memory
/// that is not there faults with Fetch one level down.
fn fetch_fault<F: Format>(fmt: F, shape: &Shape, page: u64) {
    let mem = RamArena::new(0, ARENA).unwrap();
    let root = 1u64 << 36; // 64 GiB: within every output width, not in the arena
    let entry = root + shape.index(0, page) * 8;
    let f = walk::translate(&fmt, &mem, root, page, READ).unwrap_err();
    let want = WalkFault {
        kind: FaultKind::Fetch(MemError::OutOfRange {
            addr: entry,
            len: 8,
        }),
        level: 0,
        number: shape.numbers[0],
        entry,
    };
    assert_eq!(f, want, "{}", fmt.name());
    assert!(walk::trace(&fmt, &mem, root, page).is_empty());

    let mut t = table(fmt);
    let granule = 1u64 << shape.shifts[shape.depth() - 1];
    t.map(page, PA_BASE, granule, Prot::RW).unwrap();
    let p = path(&t, page);
    let v = load(&t, p[0]);
    let next = t.format().table(root, 0);
    assert_eq!(
        next & !v & 0xfff,
        0,
        "same flags as the table entry map wrote"
    );
    with_entry(&t, p[0], next, || {
        let entry = root + shape.index(1, page) * 8;
        let kind = FaultKind::Fetch(MemError::OutOfRange {
            addr: entry,
            len: 8,
        });
        assert_fault(&t, shape, page, READ, kind, 1, entry);
        assert_eq!(path(&t, page), vec![p[0]]);
    });
}

#[test]
fn a_table_outside_memory_faults_with_fetch() {
    fetch_fault(x86(4), &X86_4, 0x2a5b_3c4d_5000);
    fetch_fault(x86(5), &X86_5, 0xab_2a5b_3c4d_5000);
    fetch_fault(vtd(3), &VTD_3, 0x5b_3c4d_5000);
    fetch_fault(vtd(4), &VTD_4, 0x2a5b_3c4d_5000);
    fetch_fault(vtd(5), &VTD_5, 0xab_2a5b_3c4d_5000);
    fetch_fault(s1(Granule::K4), &ARM_4K_48, 0x2a5b_3c4d_5000);
    fetch_fault(s1(Granule::K16), &ARM_16K_48, 0x2a5b_3c4d_4000);
    fetch_fault(s1(Granule::K64), &ARM_64K_48, 0x2a5b_3c4d_0000);
    fetch_fault(s2_4k(), &S2_4K_40, 0xab_3c4d_5000);
    fetch_fault(s2_16k(), &S2_16K_47, 0x2a5b_3c4d_4000);
    fetch_fault(s2_64k(), &S2_64K_42, 0x2b_3c4d_0000);
}

#[test]
fn translate_and_the_free_function_agree() {
    // `PageTable::translate` is the walk at the table's root in the table's memory.
    let mut t = table(vtd(4));
    t.map(0x5000, PA_BASE, K4, Prot::RW).unwrap();
    let mem: &dyn AddressSpace = &**t.mem();
    for iova in [0x5000u64, 0x5ff8, 0x6000] {
        assert_eq!(
            t.translate(iova, READ),
            walk::translate(t.format(), mem, t.root(), iova, READ)
        );
    }
}

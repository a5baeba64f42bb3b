//! Tables built by `map` match hand-built bytes: for each format and granule, map pages and
//! blocks, then check every entry the walk reads against the value built by hand from the field
//! positions of `reference/hw-formats.md` (A.9 for x86 and VT-d, Part C for Arm).
//!
//! Each expected value is written as its address OR-ed with its fields, one field per term, so
//! that it can be checked against the specification's tables. The next table's address is the
//! following entry's address less its index × 8, the index taken from the IOVA bits the
//! specification names for that level ([`Shape`]).

// Tests unwrap freely (the workspace's `unwrap_used` lint is for library code).
#![allow(clippy::unwrap_used)]

mod common;

use common::fixture::*;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::vtd_ss::VtdSsConfig;
use softiommu_pgtable::formats::x86::X86Config;
use softiommu_pgtable::{Format, Prot};

/// Maps `[iova, iova + size)` to `pa` with `prot` and checks the walk to it: the root entry at
/// the root plus its index × 8, every table entry equal to the next table's address OR
/// `table_fields`, and the leaf (at level number `leaf_number`) equal to `leaf`.
#[allow(clippy::too_many_arguments)]
fn check<F: Format>(
    t: &mut Table<F>,
    shape: &Shape,
    iova: u64,
    pa: u64,
    size: u64,
    prot: Prot,
    table_fields: u64,
    leaf_number: u8,
    leaf: u64,
) {
    t.map(iova, pa, size, prot).unwrap();
    verify(t, shape, iova, table_fields, leaf_number, leaf);
}

/// Checks the walk to `iova` as [`check`] does, without mapping anything.
fn verify<F: Format>(
    t: &Table<F>,
    shape: &Shape,
    iova: u64,
    table_fields: u64,
    leaf_number: u8,
    leaf: u64,
) {
    let what = format!("{} {iova:#x}", t.format().name());
    let steps = t.trace(iova);
    assert_eq!(steps.len(), shape.at(leaf_number) + 1, "{what}: depth");
    assert_eq!(
        steps[0].entry_pa,
        t.root() + shape.index(0, iova) * 8,
        "{what}: root entry"
    );
    let table_size = t.format().geometry().granule();
    for k in 0..steps.len() - 1 {
        let next = steps[k + 1].entry_pa - shape.index(k + 1, iova) * 8;
        assert_eq!(next % table_size, 0, "{what}: table alignment");
        assert!(next < ARENA, "{what}: table in table memory");
        assert_eq!(
            steps[k].raw,
            next | table_fields,
            "{what}: level {} is {:#x}, want {:#x}",
            shape.numbers[k],
            steps[k].raw,
            next | table_fields
        );
        assert_eq!(steps[k].number, shape.numbers[k]);
    }
    let last = steps.last().unwrap();
    assert_eq!(
        last.raw, leaf,
        "{what}: leaf is {:#x}, want {leaf:#x}",
        last.raw
    );
    assert_eq!(last.number, leaf_number);
}

/// The IOVA whose index at each level of `shape` is `idx`.
fn iova_of(shape: &Shape, idx: &[u64]) -> u64 {
    let iova = idx
        .iter()
        .zip(shape.shifts)
        .map(|(&i, &s)| i << s)
        .fold(0, |a, b| a | b);
    for (k, &i) in idx.iter().enumerate() {
        assert_eq!(shape.index(k, iova), i, "index {k} fits its field");
    }
    iova
}

// ---------------------------------------------------------------------------------------------
// x86-64 (A.9, first-stage entries).

/// Present, bit 0.
const X86_P: u64 = 1 << 0;
/// Read/write, bit 1.
const X86_RW: u64 = 1 << 1;
/// User/supervisor, bit 2.
const X86_US: u64 = 1 << 2;
/// Accessed, bit 5.
const X86_A: u64 = 1 << 5;
/// Dirty, bit 6 (leaves).
const X86_D: u64 = 1 << 6;
/// Page size, bit 7 (PDPE and PDE leaves).
const X86_PS: u64 = 1 << 7;

fn x86_bytes(levels: u8, shape: &Shape, top: &[u64]) {
    // Tables: P | R/W | U/S | A, so that the leaf alone decides.
    let nonleaf = X86_P | X86_RW | X86_US | X86_A;
    let mut t = table(x86(levels));
    // 4K page, read/write, user: Linux presets A and D.
    let page = iova_of(shape, &[top, &[0x13c, 0x0f7, 0x1a2]].concat());
    let pa = 0x0000_0012_3456_7000;
    let leaf = pa | X86_P | X86_RW | X86_US | X86_A | X86_D;
    check(&mut t, shape, page, pa, 1 << 12, Prot::RW, nonleaf, 1, leaf);
    // 2M block in the same page directory: PS too.
    let block = iova_of(shape, &[top, &[0x13c, 0x0f8]].concat());
    let pa = 0x0000_0008_4020_0000;
    let leaf = pa | X86_P | X86_RW | X86_US | X86_A | X86_D | X86_PS;
    check(
        &mut t,
        shape,
        block,
        pa,
        1 << 21,
        Prot::RW,
        nonleaf,
        2,
        leaf,
    );
    // 1G block.
    let huge = iova_of(shape, &[top, &[0x13d]].concat());
    let pa = 0x0000_0040_c000_0000;
    let leaf = pa | X86_P | X86_RW | X86_US | X86_A | X86_D | X86_PS;
    check(&mut t, shape, huge, pa, 1 << 30, Prot::RW, nonleaf, 3, leaf);
    // 4K page, read-only, supervisor only: P | A (no R/W, no U/S, no D).
    let ro = iova_of(shape, &[top, &[0x13c, 0x0f7, 0x1a3]].concat());
    let pa = 0x0000_0012_3456_8000;
    let prot = Prot::READ | Prot::PRIV;
    check(
        &mut t,
        shape,
        ro,
        pa,
        1 << 12,
        prot,
        nonleaf,
        1,
        pa | X86_P | X86_A,
    );

    // With dirty tracking, writable leaves start clean: no D.
    let mut t = table(x86_with(X86Config {
        levels,
        dirty_tracking: true,
        ..X86Config::default()
    }));
    let pa = 0x0000_0012_3456_7000;
    let leaf = pa | X86_P | X86_RW | X86_US | X86_A;
    check(&mut t, shape, page, pa, 1 << 12, Prot::RW, nonleaf, 1, leaf);
    let pa = 0x0000_0008_4020_0000;
    let leaf = pa | X86_P | X86_RW | X86_US | X86_A | X86_PS;
    check(
        &mut t,
        shape,
        block,
        pa,
        1 << 21,
        Prot::RW,
        nonleaf,
        2,
        leaf,
    );
}

#[test]
fn x86_tables_built_by_map_match_hand_built_bytes() {
    // PML4 (and PML5) indices below 256: the lower half.
    x86_bytes(4, &X86_4, &[0x0a5]);
    x86_bytes(5, &X86_5, &[0x07f, 0x1a5]);
}

// ---------------------------------------------------------------------------------------------
// VT-d second stage (A.9, second-stage entries).

/// Read, bit 0.
const SS_R: u64 = 1 << 0;
/// Write, bit 1.
const SS_W: u64 = 1 << 1;
/// Page size, bit 7 (1G and 2M leaves).
const SS_PS: u64 = 1 << 7;
/// Snoop, bit 11 (leaves, with snoop control).
const SS_SNP: u64 = 1 << 11;

fn vtd_bytes(levels: u8, shape: &Shape, top: &[u64]) {
    // Non-leaf: the next table's address | R | W.
    let nonleaf = SS_R | SS_W;
    let mut t = table(vtd(levels));
    // 4K leaf, read/write: pa | R | W.
    let page = iova_of(shape, &[top, &[0x0f7, 0x1a2]].concat());
    let pa = 0x0000_0012_3456_7000;
    check(
        &mut t,
        shape,
        page,
        pa,
        1 << 12,
        Prot::RW,
        nonleaf,
        1,
        pa | SS_R | SS_W,
    );
    // 2M leaf: adds PS.
    let block = iova_of(shape, &[top, &[0x0f8]].concat());
    let pa = 0x0000_0008_4020_0000;
    let leaf = pa | SS_R | SS_W | SS_PS;
    check(
        &mut t,
        shape,
        block,
        pa,
        1 << 21,
        Prot::RW,
        nonleaf,
        2,
        leaf,
    );
    // 1G leaf (one level up from the 2M one's table).
    let mut idx = top.to_vec();
    *idx.last_mut().unwrap() += 1;
    let huge = iova_of(shape, &idx);
    let pa = 0x0000_0040_c000_0000;
    let leaf = pa | SS_R | SS_W | SS_PS;
    check(&mut t, shape, huge, pa, 1 << 30, Prot::RW, nonleaf, 3, leaf);
    // 4K leaf, read-only and snooped: pa | R | SNP.
    let snooped = iova_of(shape, &[top, &[0x0f7, 0x1a3]].concat());
    let pa = 0x0000_0012_3456_8000;
    let prot = Prot::READ | Prot::CACHE;
    check(
        &mut t,
        shape,
        snooped,
        pa,
        1 << 12,
        prot,
        nonleaf,
        1,
        pa | SS_R | SS_SNP,
    );
    // 4K leaf, write-only: pa | W.
    let wo = iova_of(shape, &[top, &[0x0f7, 0x1a4]].concat());
    let pa = 0x0000_0012_3456_9000;
    check(
        &mut t,
        shape,
        wo,
        pa,
        1 << 12,
        Prot::WRITE,
        nonleaf,
        1,
        pa | SS_W,
    );

    // Without snoop control there is no SNP; with A/D tracking nothing is preset.
    let mut t = table(vtd_with(VtdSsConfig {
        levels,
        snoop_ctl: false,
        ad: true,
        ..VtdSsConfig::default()
    }));
    let pa = 0x0000_0012_3456_8000;
    check(
        &mut t,
        shape,
        snooped,
        pa,
        1 << 12,
        prot,
        nonleaf,
        1,
        pa | SS_R,
    );
    let pa = 0x0000_0008_4020_0000;
    let leaf = pa | SS_R | SS_W | SS_PS;
    check(
        &mut t,
        shape,
        block,
        pa,
        1 << 21,
        Prot::RW,
        nonleaf,
        2,
        leaf,
    );
}

#[test]
fn vtd_tables_built_by_map_match_hand_built_bytes() {
    vtd_bytes(3, &VTD_3, &[0x13c]);
    vtd_bytes(4, &VTD_4, &[0x1a5, 0x13c]);
    vtd_bytes(5, &VTD_5, &[0x1ff, 0x0a5, 0x13c]);
}

// ---------------------------------------------------------------------------------------------
// Arm stage 1 (C.1, C.2).

/// Descriptor type, bits 1:0: table (levels 0-2) or page (level 3).
const ARM_TABLE: u64 = 0b11;
const ARM_PAGE: u64 = 0b11;
/// Descriptor type, bits 1:0: block (levels 1-2).
const ARM_BLOCK: u64 = 0b01;
/// AttrIndx, bits 4:2: MAIR index 1 (Normal write-back) and 2 (Device-nGnRE).
const S1_ATTR_CACHE: u64 = 1 << 2;
const S1_ATTR_DEVICE: u64 = 2 << 2;
/// AP[1], bit 6: unprivileged access allowed.
const S1_AP1: u64 = 1 << 6;
/// AP[2], bit 7: read-only.
const S1_AP2: u64 = 1 << 7;
/// SH, bits 9:8: inner shareable (11).
const SH_INNER: u64 = 0b11 << 8;
/// AF, bit 10.
const AF: u64 = 1 << 10;
/// nG, bit 11.
const S1_NG: u64 = 1 << 11;
/// DBM, bit 51.
const DBM: u64 = 1 << 51;
/// PXN, bit 53; UXN, bit 54.
const S1_PXN: u64 = 1 << 53;
const S1_UXN: u64 = 1 << 54;

/// Stage 1 with `granule`: pages at the indices `top` then `page_idx`, a block at `top` then
/// `block_idx`.
fn s1_bytes(granule: Granule, shape: &Shape, top: &[u64], page_idx: &[u64], block_idx: &[u64]) {
    let page_size = 1u64 << shape.shifts[shape.depth() - 1];
    let block_size = 1u64 << shape.shifts[shape.depth() - 2];
    let mut t = table(s1(granule));
    let page = iova_of(shape, &[top, page_idx].concat());
    let block = iova_of(shape, &[top, block_idx].concat());
    // Page, read/write, cacheable.
    let pa = 0x0000_0012_3450_0000;
    let prot = Prot::RW | Prot::CACHE;
    let leaf = pa | ARM_PAGE | S1_ATTR_CACHE | S1_AP1 | SH_INNER | AF | S1_NG;
    check(&mut t, shape, page, pa, page_size, prot, ARM_TABLE, 3, leaf);
    // Block, read/write, cacheable.
    let pa = 0x0000_0080_0000_0000;
    let leaf = pa | ARM_BLOCK | S1_ATTR_CACHE | S1_AP1 | SH_INNER | AF | S1_NG;
    check(
        &mut t, shape, block, pa, block_size, prot, ARM_TABLE, 2, leaf,
    );
    // Page, read-only, privileged only, device, no execution: AttrIndx 2, AP = 10, PXN, UXN.
    let ro = page + page_size;
    let pa = 0x0000_0012_3460_0000;
    let prot = Prot::READ | Prot::PRIV | Prot::MMIO | Prot::NOEXEC;
    let leaf = pa | ARM_PAGE | S1_ATTR_DEVICE | S1_AP2 | SH_INNER | AF | S1_NG | S1_PXN | S1_UXN;
    check(&mut t, shape, ro, pa, page_size, prot, ARM_TABLE, 3, leaf);
    // Page, read/write, Normal non-cacheable: AttrIndx 0.
    let nc = page + 2 * page_size;
    let pa = 0x0000_0012_3470_0000;
    let leaf = pa | ARM_PAGE | S1_AP1 | SH_INNER | AF | S1_NG;
    check(
        &mut t,
        shape,
        nc,
        pa,
        page_size,
        Prot::RW,
        ARM_TABLE,
        3,
        leaf,
    );

    // With HA and HD, writable is written clean: AP[2] and DBM.
    let mut t = table(s1_hw(&s1(granule), true, true));
    let pa = 0x0000_0012_3450_0000;
    let leaf = pa | ARM_PAGE | S1_AP1 | S1_AP2 | SH_INNER | AF | S1_NG | DBM;
    check(
        &mut t,
        shape,
        page,
        pa,
        page_size,
        Prot::RW,
        ARM_TABLE,
        3,
        leaf,
    );
}

#[test]
fn arm_s1_tables_built_by_map_match_hand_built_bytes() {
    // 4K: L0 47:39, L1 38:30, L2 29:21, L3 20:12.
    s1_bytes(
        Granule::K4,
        &ARM_4K_48,
        &[0x1a5, 0x13c],
        &[0x0f7, 0x1a2],
        &[0x0f8],
    );
    // 16K: L0 47, L1 46:36, L2 35:25, L3 24:14.
    s1_bytes(
        Granule::K16,
        &ARM_16K_48,
        &[1, 0x5a3],
        &[0x2f7, 0x6a2],
        &[0x2f8],
    );
    // 64K: L1 47:42, L2 41:29, L3 28:16.
    s1_bytes(
        Granule::K64,
        &ARM_64K_48,
        &[0x2b],
        &[0x1a3c, 0x0f7a],
        &[0x1a3d],
    );
}

#[test]
fn arm_s1_4k_1g_block_matches_hand_built_bytes() {
    let mut t = table(s1(Granule::K4));
    let iova = iova_of(&ARM_4K_48, &[0x1a5, 0x13d]);
    let pa = 0x0000_0040_c000_0000;
    let leaf = pa | ARM_BLOCK | S1_ATTR_CACHE | S1_AP1 | SH_INNER | AF | S1_NG;
    let prot = Prot::RW | Prot::CACHE;
    check(
        &mut t,
        &ARM_4K_48,
        iova,
        pa,
        1 << 30,
        prot,
        ARM_TABLE,
        1,
        leaf,
    );
}

// ---------------------------------------------------------------------------------------------
// Arm stage 2 (C.1, C.3).

/// MemAttr, bits 5:2: 0xF Normal write-back, 0x5 Normal non-cacheable, 0x1 Device-nGnRE.
const S2_WB: u64 = 0xf << 2;
const S2_NC: u64 = 0x5 << 2;
const S2_DEVICE: u64 = 0x1 << 2;
/// S2AP, bits 7:6: bit 6 read, bit 7 write.
const S2AP_R: u64 = 1 << 6;
const S2AP_W: u64 = 1 << 7;
/// XN, bit 54.
const S2_XN: u64 = 1 << 54;

fn s2_bytes<F: Format>(
    fmt: F,
    with_hd: F,
    shape: &Shape,
    top: &[u64],
    page_idx: &[u64],
    block_idx: &[u64],
) {
    let page_size = 1u64 << shape.shifts[shape.depth() - 1];
    let block_size = 1u64 << shape.shifts[shape.depth() - 2];
    let mut t = table(fmt);
    let page = iova_of(shape, &[top, page_idx].concat());
    let block = iova_of(shape, &[top, block_idx].concat());
    // Page, read/write, write-back.
    let pa = 0x0000_0012_3450_0000;
    let prot = Prot::RW | Prot::CACHE;
    let leaf = pa | ARM_PAGE | S2_WB | S2AP_R | S2AP_W | SH_INNER | AF;
    check(&mut t, shape, page, pa, page_size, prot, ARM_TABLE, 3, leaf);
    // Block, read/write, write-back.
    let pa = 0x0000_0080_0000_0000;
    let leaf = pa | ARM_BLOCK | S2_WB | S2AP_R | S2AP_W | SH_INNER | AF;
    check(
        &mut t, shape, block, pa, block_size, prot, ARM_TABLE, 2, leaf,
    );
    // Page, read-only, non-cacheable.
    let ro = page + page_size;
    let pa = 0x0000_0012_3460_0000;
    let leaf = pa | ARM_PAGE | S2_NC | S2AP_R | SH_INNER | AF;
    check(
        &mut t,
        shape,
        ro,
        pa,
        page_size,
        Prot::READ,
        ARM_TABLE,
        3,
        leaf,
    );
    // Page, read/write device memory, no execution.
    let dev = page + 2 * page_size;
    let pa = 0x0000_0012_3470_0000;
    let prot = Prot::RW | Prot::MMIO | Prot::NOEXEC;
    let leaf = pa | ARM_PAGE | S2_DEVICE | S2AP_R | S2AP_W | SH_INNER | AF | S2_XN;
    check(&mut t, shape, dev, pa, page_size, prot, ARM_TABLE, 3, leaf);
    // Page, write-only: S2AP = 10.
    let wo = page + 3 * page_size;
    let pa = 0x0000_0012_3480_0000;
    let leaf = pa | ARM_PAGE | S2_NC | S2AP_W | SH_INNER | AF;
    check(
        &mut t,
        shape,
        wo,
        pa,
        page_size,
        Prot::WRITE,
        ARM_TABLE,
        3,
        leaf,
    );

    // With HA and HD, writable is written clean: S2AP[1] clear, DBM set.
    let mut t = table(with_hd);
    let pa = 0x0000_0012_3450_0000;
    let prot = Prot::RW | Prot::CACHE;
    let leaf = pa | ARM_PAGE | S2_WB | S2AP_R | SH_INNER | AF | DBM;
    check(&mut t, shape, page, pa, page_size, prot, ARM_TABLE, 3, leaf);
}

#[test]
fn arm_s2_tables_built_by_map_match_hand_built_bytes() {
    // 4K from L1 with two concatenated tables: L1 39:30 (10 bits), L2 29:21, L3 20:12. Index
    // 0x2a5 ≥ 512 lies in the second table.
    let f = s2_4k();
    let hd = s2_hw(&f, true, true);
    s2_bytes(f, hd, &S2_4K_40, &[0x2a5], &[0x0f7, 0x1a2], &[0x0f8]);
    // 4K from L0: L0 47:39 above that.
    let f = s2_4k_l0();
    let hd = s2_hw(&f, true, true);
    s2_bytes(f, hd, &S2_4K_48, &[0x1a5, 0x13c], &[0x0f7, 0x1a2], &[0x0f8]);
    // 16K from L1: L1 46:36, L2 35:25, L3 24:14.
    let f = s2_16k();
    let hd = s2_hw(&f, true, true);
    s2_bytes(f, hd, &S2_16K_47, &[0x5a3], &[0x2f7, 0x6a2], &[0x2f8]);
    // 64K from L2: L2 41:29, L3 28:16.
    let f = s2_64k();
    let hd = s2_hw(&f, true, true);
    s2_bytes(f, hd, &S2_64K_42, &[], &[0x1a3c, 0x0f7a], &[0x1a3d]);
}

#[test]
fn arm_s2_4k_concatenated_root_entry_is_in_the_second_table() {
    // IPA bit 39 set: root index ≥ 512, 8 bytes each, past the first 4K table.
    let mut t = table(s2_4k());
    let iova = 0x0000_00a9_4000_0000; // L1 index 0x2a5, a 1G block
    assert_eq!((iova >> 30) & 0x3ff, 0x2a5);
    let pa = 0x0000_0040_c000_0000;
    t.map(iova, pa, 1 << 30, Prot::RW | Prot::CACHE).unwrap();
    let steps = t.trace(iova);
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].entry_pa, t.root() + 0x2a5 * 8);
    assert!(steps[0].entry_pa >= t.root() + 4096);
    let leaf = pa | ARM_BLOCK | S2_WB | S2AP_R | S2AP_W | SH_INNER | AF;
    assert_eq!(steps[0].raw, leaf);
}

// ---------------------------------------------------------------------------------------------
// Split blocks.

/// Maps a block of `size` at `iova` to `pa`, unmaps its last `small` bytes (which splits it),
/// and checks the first two entries that replace it against `first` and `first` + `small`.
#[allow(clippy::too_many_arguments)]
fn check_split<F: Format>(
    fmt: F,
    shape: &Shape,
    iova: u64,
    pa: u64,
    size: u64,
    small: u64,
    table_fields: u64,
    number: u8,
    first: u64,
) {
    let mut t = table(fmt);
    t.map(iova, pa, size, Prot::RW | Prot::CACHE).unwrap();
    assert_eq!(t.unmap(iova + size - small, small).unwrap(), small);
    verify(&t, shape, iova, table_fields, number, first);
    verify(&t, shape, iova + small, table_fields, number, first + small);
    assert_eq!(t.trace(iova + size - small).last().unwrap().raw, 0);
}

#[test]
fn split_blocks_match_hand_built_bytes() {
    let (k4, m2, g1) = (1u64 << 12, 1u64 << 21, 1u64 << 30);
    // x86: a 2M block becomes 4K pages without PS; a 1G block becomes 2M blocks with PS.
    let x86_leaf = X86_P | X86_RW | X86_US | X86_A | X86_D;
    let nonleaf = X86_P | X86_RW | X86_US | X86_A;
    let pa = 0x0000_0008_4020_0000;
    check_split(
        x86(4),
        &X86_4,
        0x20_0000,
        pa,
        m2,
        k4,
        nonleaf,
        1,
        pa | x86_leaf,
    );
    let pa = 0x0000_0040_c000_0000;
    let leaf = pa | x86_leaf | X86_PS;
    check_split(x86(4), &X86_4, 0x4000_0000, pa, g1, m2, nonleaf, 2, leaf);
    // VT-d: the same, R | W.
    let pa = 0x0000_0008_4020_0000;
    let leaf = pa | SS_R | SS_W | SS_SNP;
    check_split(vtd(4), &VTD_4, 0x20_0000, pa, m2, k4, SS_R | SS_W, 1, leaf);
    let pa = 0x0000_0040_c000_0000;
    let leaf = pa | SS_R | SS_W | SS_PS | SS_SNP;
    check_split(
        vtd(4),
        &VTD_4,
        0x4000_0000,
        pa,
        g1,
        m2,
        SS_R | SS_W,
        2,
        leaf,
    );
    // Arm stage 1: a 2M block becomes pages (11); a 1G block becomes 2M blocks (01).
    let attrs = S1_ATTR_CACHE | S1_AP1 | SH_INNER | AF | S1_NG;
    let pa = 0x0000_0008_4020_0000;
    let leaf = pa | ARM_PAGE | attrs;
    check_split(
        s1(Granule::K4),
        &ARM_4K_48,
        0x20_0000,
        pa,
        m2,
        k4,
        ARM_TABLE,
        3,
        leaf,
    );
    let pa = 0x0000_0040_c000_0000;
    let leaf = pa | ARM_BLOCK | attrs;
    check_split(
        s1(Granule::K4),
        &ARM_4K_48,
        0x4000_0000,
        pa,
        g1,
        m2,
        ARM_TABLE,
        2,
        leaf,
    );
    let (k64, m512) = (1u64 << 16, 1u64 << 29);
    let pa = 0x0000_0080_0000_0000;
    let leaf = pa | ARM_PAGE | attrs;
    let f = s1(Granule::K64);
    check_split(
        f,
        &ARM_64K_48,
        0x2000_0000,
        pa,
        m512,
        k64,
        ARM_TABLE,
        3,
        leaf,
    );
    // Arm stage 2.
    let attrs = S2_WB | S2AP_R | S2AP_W | SH_INNER | AF;
    let pa = 0x0000_0008_4020_0000;
    let leaf = pa | ARM_PAGE | attrs;
    check_split(
        s2_4k(),
        &S2_4K_40,
        0x20_0000,
        pa,
        m2,
        k4,
        ARM_TABLE,
        3,
        leaf,
    );
    let (k16, m32) = (1u64 << 14, 1u64 << 25);
    let pa = 0x0000_0008_4200_0000;
    let leaf = pa | ARM_PAGE | attrs;
    check_split(
        s2_16k(),
        &S2_16K_47,
        0x200_0000,
        pa,
        m32,
        k16,
        ARM_TABLE,
        3,
        leaf,
    );
}

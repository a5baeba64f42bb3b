//! Pages and blocks translate; an address the walk finds nothing for faults with Translation,
//! and a table outside memory with Fetch.

use super::*;

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

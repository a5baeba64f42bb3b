//! Reserved bits and descriptors a format does not allow fault at the level of the entry.

use super::*;

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

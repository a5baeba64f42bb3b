//! Output addresses above the output width, and input addresses outside the input range.

use super::*;

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

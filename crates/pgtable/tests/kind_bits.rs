//! Each format's `kind_bits` keeps its promise: validity, and whether an entry links a table,
//! at every level, read from those bits alone give the same answers as the whole entry (the
//! table editor sorts runs of entries by them).

#![allow(clippy::unwrap_used)]

mod common;

use common::fixture::*;
use proptest::prelude::*;
use softiommu_pgtable::Format;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::vtd_ss::VtdSsConfig;
use softiommu_pgtable::formats::x86::X86Config;

fn holds<F: Format>(fmt: &F, pte: u64) -> Result<(), TestCaseError> {
    let kept = pte & fmt.kind_bits();
    prop_assert_eq!(fmt.is_valid(pte), fmt.is_valid(kept), "{:#x}", pte);
    for level in 0..fmt.geometry().depth() {
        prop_assert_eq!(
            fmt.next_table(pte, level).is_some(),
            fmt.next_table(kept, level).is_some(),
            "{:#x} at level {}",
            pte,
            level
        );
    }
    Ok(())
}

/// Entries at random, and entries with only the low byte at random over a valid-looking rest.
fn pte() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (any::<u8>(), any::<u64>()).prop_map(|(b, hi)| (hi & !0xff) | u64::from(b)),
        any::<u8>().prop_map(u64::from)
    ]
}

proptest! {
    #[test]
    fn kind_bits_decide_validity_and_links(pte in pte()) {
        for levels in [4, 5] {
            holds(&x86(levels), pte)?;
            holds(&x86_with(X86Config { levels, pages_1g: false, ..X86Config::default() }), pte)?;
        }
        for levels in [3, 4, 5] {
            holds(&vtd(levels), pte)?;
            holds(
                &vtd_with(VtdSsConfig {
                    levels,
                    haw: 39,
                    pages_2m: false,
                    pages_1g: false,
                    ad: true,
                    ..VtdSsConfig::default()
                }),
                pte,
            )?;
        }
        for granule in [Granule::K4, Granule::K16, Granule::K64] {
            holds(&s1(granule), pte)?;
        }
        for f in [s2_4k(), s2_4k_l0(), s2_16k(), s2_64k()] {
            holds(&f, pte)?;
        }
    }
}

#[test]
fn the_formats_keep_their_kinds_in_the_low_byte() {
    assert_eq!(x86(4).kind_bits() & !0xff, 0);
    assert_eq!(vtd(4).kind_bits() & !0xff, 0);
    assert_eq!(s1(Granule::K4).kind_bits() & !0xff, 0);
    assert_eq!(s2_4k().kind_bits() & !0xff, 0);
}

//! Random map/unmap/lookup sequences against a `BTreeMap` model, for every format and granule.

mod common;

use proptest::prelude::*;
use softiommu_pgtable::formats::arm::Granule;
use softiommu_pgtable::formats::arm_s1::{ArmS1, ArmS1Config};
use softiommu_pgtable::formats::arm_s2::{ArmS2, ArmS2Config};
use softiommu_pgtable::formats::vtd_ss::{VtdSs, VtdSsConfig};
use softiommu_pgtable::formats::x86::{X86, X86Config};

const CASES: u32 = 100;
const OPS: usize = 100;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn x86_4level(ops in prop::collection::vec(common::op(), OPS)) {
        common::run(X86::new(X86Config::default()).unwrap(), &ops);
    }

    #[test]
    fn x86_5level_no_1g(ops in prop::collection::vec(common::op(), OPS)) {
        let cfg = X86Config { levels: 5, pages_1g: false, haw: 52, ..X86Config::default() };
        common::run(X86::new(cfg).unwrap(), &ops);
    }

    #[test]
    fn vtd_ss_4level(ops in prop::collection::vec(common::op(), OPS)) {
        common::run(VtdSs::new(VtdSsConfig::default()).unwrap(), &ops);
    }

    #[test]
    fn vtd_ss_3level_2m_only(ops in prop::collection::vec(common::op(), OPS)) {
        let cfg = VtdSsConfig { levels: 3, pages_1g: false, haw: 39, ..VtdSsConfig::default() };
        common::run(VtdSs::new(cfg).unwrap(), &ops);
    }

    #[test]
    fn vtd_ss_5level_4k_only(ops in prop::collection::vec(common::op(), OPS)) {
        let cfg = VtdSsConfig { levels: 5, pages_1g: false, pages_2m: false, haw: 52, ..VtdSsConfig::default() };
        common::run(VtdSs::new(cfg).unwrap(), &ops);
    }

    #[test]
    fn arm_s1_k4(ops in prop::collection::vec(common::op(), OPS)) {
        let cfg = ArmS1Config { granule: Granule::K4, ia_bits: 48, ..ArmS1Config::default() };
        common::run(ArmS1::new(cfg).unwrap(), &ops);
    }

    #[test]
    fn arm_s1_k16(ops in prop::collection::vec(common::op(), OPS)) {
        let cfg = ArmS1Config { granule: Granule::K16, ia_bits: 47, ..ArmS1Config::default() };
        common::run(ArmS1::new(cfg).unwrap(), &ops);
    }

    #[test]
    fn arm_s1_k64(ops in prop::collection::vec(common::op(), OPS)) {
        let cfg = ArmS1Config { granule: Granule::K64, ia_bits: 42, ..ArmS1Config::default() };
        common::run(ArmS1::new(cfg).unwrap(), &ops);
    }

    #[test]
    fn arm_s2_k4_concatenated(ops in prop::collection::vec(common::op(), OPS)) {
        let cfg = ArmS2Config::auto(Granule::K4, 40, 48).unwrap();
        common::run(ArmS2::new(cfg).unwrap(), &ops);
    }

    #[test]
    fn arm_s2_k16_concatenated(ops in prop::collection::vec(common::op(), OPS)) {
        let cfg = ArmS2Config::auto(Granule::K16, 39, 48).unwrap();
        common::run(ArmS2::new(cfg).unwrap(), &ops);
    }

    #[test]
    fn arm_s2_k64_concatenated(ops in prop::collection::vec(common::op(), OPS)) {
        let cfg = ArmS2Config::auto(Granule::K64, 44, 48).unwrap();
        common::run(ArmS2::new(cfg).unwrap(), &ops);
    }
}

#[test]
fn stage2_model_configs_really_concatenate() {
    for (g, ia, tables) in [
        (Granule::K4, 40, 2),
        (Granule::K16, 39, 8),
        (Granule::K64, 44, 4),
    ] {
        let f = ArmS2::new(ArmS2Config::auto(g, ia, 48).unwrap()).unwrap();
        assert_eq!(f.concatenated(), tables, "{g:?} {ia}");
    }
}

//! Random map/unmap/lookup sequences against a `BTreeMap` model, for every format and granule.

mod common;

use proptest::prelude::*;
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
}

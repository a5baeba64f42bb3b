//! Every stored input of the page-table fuzz targets (seed corpus and past findings) runs
//! through the targets' bodies on stable.

use softiommu_mem::fuzz::replay;
use softiommu_pgtable::fuzz;

#[test]
fn pgtable_walk_inputs_pass() {
    let ran = replay(env!("CARGO_MANIFEST_DIR"), "pgtable_walk", fuzz::walk);
    assert!(ran > 0, "no stored inputs for pgtable_walk");
}

#[test]
fn pgtable_ops_inputs_pass() {
    let ran = replay(env!("CARGO_MANIFEST_DIR"), "pgtable_ops", fuzz::ops);
    assert!(ran > 0, "no stored inputs for pgtable_ops");
}

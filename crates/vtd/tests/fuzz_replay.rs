//! Every stored input of the vtd fuzz targets (seed corpus and past findings) runs
//! through the targets' bodies on stable.

use softiommu_mem::fuzz::replay;

#[test]
fn vtd_unit_inputs_pass() {
    let ran = replay(
        env!("CARGO_MANIFEST_DIR"),
        "vtd_unit",
        softiommu_vtd::fuzz::unit,
    );
    assert!(ran > 0, "no stored inputs for vtd_unit");
}

#[test]
fn core_api_vtd_inputs_pass() {
    let ran = replay(
        env!("CARGO_MANIFEST_DIR"),
        "core_api_vtd",
        softiommu_vtd::fuzz::api,
    );
    assert!(ran > 0, "no stored inputs for core_api_vtd");
}

//! Every stored input of the smmuv3 fuzz targets (seed corpus and past findings) runs
//! through the targets' bodies on stable.

use softiommu_mem::fuzz::replay;

#[test]
fn smmuv3_unit_inputs_pass() {
    let ran = replay(
        env!("CARGO_MANIFEST_DIR"),
        "smmuv3_unit",
        softiommu_smmuv3::fuzz::unit,
    );
    assert!(ran > 0, "no stored inputs for smmuv3_unit");
}

#[test]
fn core_api_smmuv3_inputs_pass() {
    let ran = replay(
        env!("CARGO_MANIFEST_DIR"),
        "core_api_smmuv3",
        softiommu_smmuv3::fuzz::api,
    );
    assert!(ran > 0, "no stored inputs for core_api_smmuv3");
}

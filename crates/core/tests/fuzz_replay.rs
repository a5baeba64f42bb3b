//! Every stored input of the core fuzz target (seed corpus and past findings) runs
//! through the target's body on stable.

use softiommu_mem::fuzz::replay;

#[test]
fn core_api_ref_inputs_pass() {
    let ran = replay(
        env!("CARGO_MANIFEST_DIR"),
        "core_api_ref",
        softiommu_core::fuzz::reference,
    );
    assert!(ran > 0, "no stored inputs for core_api_ref");
}

//! Every stored input of the `mem_spaces` fuzz target (seed corpus and past findings) runs
//! through the target's body on stable.

use softiommu_mem::fuzz;

#[test]
fn mem_spaces_inputs_pass() {
    let ran = fuzz::replay(env!("CARGO_MANIFEST_DIR"), "mem_spaces", fuzz::spaces);
    assert!(ran > 0, "no stored inputs for mem_spaces");
}

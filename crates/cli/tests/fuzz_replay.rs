//! Every stored input of the parser fuzz target (seed corpus and past findings) runs
//! through the target's body on stable.

use softiommu_mem::fuzz::replay;

#[test]
fn cli_parse_inputs_pass() {
    let ran = replay(
        env!("CARGO_MANIFEST_DIR"),
        "cli_parse",
        softiommu_cli::fuzz::parsers,
    );
    assert!(ran > 0, "no stored inputs for cli_parse");
}
